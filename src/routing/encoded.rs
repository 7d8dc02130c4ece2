//! Percent-encoded characters in a path that front and back ends read
//! differently (`%2F` as a separator, `%00` as the end of a string, `%3B` as
//! a matrix parameter, ...). Normalization keeps them as data, but an
//! instance behind Portico may decode them and see another path than the one
//! that was routed, so by default a request carrying one is refused (400), as
//! Traefik does. A route can allow them one class at a time
//! (`portico.allow-encoded=slash,semicolon`).

/// A set of encoded-character classes, as bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct EncodedChars(u8);

/// Each class: its name in tags and config, and its escape (upper-case hex).
const CLASSES: [(&str, &[u8; 2]); 7] = [
    ("slash", b"2F"),
    ("backslash", b"5C"),
    ("null", b"00"),
    ("semicolon", b"3B"),
    ("percent", b"25"),
    ("question", b"3F"),
    ("hash", b"23"),
];

impl EncodedChars {
    /// No class.
    pub const NONE: EncodedChars = EncodedChars(0);

    /// The classes present in `path`, which must be normalized (escapes of
    /// reserved characters in upper-case hex). A path without `%` costs one scan.
    pub fn found_in(path: &str) -> EncodedChars {
        let bytes = path.as_bytes();
        let mut found = 0u8;
        let mut i = 0;
        while let Some(at) = bytes[i..].iter().position(|b| *b == b'%') {
            let start = i + at + 1;
            if let Some(hex) = bytes.get(start..start + 2) {
                for (bit, (_, escape)) in CLASSES.iter().enumerate() {
                    if hex.eq_ignore_ascii_case(&escape[..]) {
                        found |= 1 << bit;
                    }
                }
            }
            i = start;
        }
        EncodedChars(found)
    }

    /// Every class in `a` or `b`.
    pub fn union(a: EncodedChars, b: EncodedChars) -> EncodedChars {
        EncodedChars(a.0 | b.0)
    }

    /// The classes of `self` not in `allowed`.
    pub fn outside(self, allowed: EncodedChars) -> EncodedChars {
        EncodedChars(self.0 & !allowed.0)
    }

    /// True when no class is in the set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The escape of the first class in the set (`%2F`), for an error message.
    pub fn first_escape(self) -> Option<&'static str> {
        const ESCAPES: [&str; 7] = ["%2F", "%5C", "%00", "%3B", "%25", "%3F", "%23"];
        (0..CLASSES.len()).find(|bit| self.0 & (1 << bit) != 0).map(|bit| ESCAPES[bit])
    }

    /// The class names in the set, for `/admin/routes`.
    pub fn names(self) -> Vec<&'static str> {
        CLASSES.iter().enumerate().filter(|(bit, _)| self.0 & (1 << bit) != 0).map(|(_, (name, _))| *name).collect()
    }

    /// Parses a comma-separated list of class names (`slash,semicolon`).
    pub fn parse(list: &str) -> Result<EncodedChars, String> {
        list.split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .try_fold(EncodedChars::NONE, |set, name| Self::parse_one(name).map(|one| EncodedChars::union(set, one)))
    }

    /// Parses one class name.
    pub fn parse_one(name: &str) -> Result<EncodedChars, String> {
        match CLASSES.iter().position(|(n, _)| *n == name) {
            Some(bit) => Ok(EncodedChars(1 << bit)),
            None => {
                let known: Vec<&str> = CLASSES.iter().map(|(n, _)| *n).collect();
                Err(format!("unknown encoded character {name:?}; expected one of {}", known.join(", ")))
            }
        }
    }
}

#[cfg(test)]
mod tests;
