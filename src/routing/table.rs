//! Longest-prefix matching on whole path segments.
//!
//! A prefix `/products` matches `/products`, `/products/` and `/products/42`,
//! never `/productsx`. Lookup walks the path's segment boundaries from the
//! longest candidate down, one hash probe each, so its cost depends on the
//! depth of the path, not on the number of routes.

use std::collections::HashMap;

/// An immutable map from normalized prefixes to values.
#[derive(Debug, Clone)]
pub struct PrefixTable<T> {
    /// Prefix → value.
    map: HashMap<Box<str>, T>,
    /// Length of the longest prefix: longer candidates are skipped unprobed.
    longest: usize,
}

impl<T> Default for PrefixTable<T> {
    fn default() -> Self {
        PrefixTable { map: HashMap::new(), longest: 0 }
    }
}

impl<T> FromIterator<(String, T)> for PrefixTable<T> {
    fn from_iter<I: IntoIterator<Item = (String, T)>>(iter: I) -> Self {
        let map: HashMap<Box<str>, T> = iter.into_iter().map(|(k, v)| (k.into_boxed_str(), v)).collect();
        let longest = map.keys().map(|k| k.len()).max().unwrap_or(0);
        PrefixTable { map, longest }
    }
}

impl<T> PrefixTable<T> {
    /// The value of the longest prefix of `path` that ends on a segment
    /// boundary, with that prefix. `path` must be normalized.
    pub fn lookup<'a>(&'a self, path: &str) -> Option<(&'a str, &'a T)> {
        self.find_map(path, |key, value| Some((key, value)))
    }

    /// The first `Some` that `f` returns for the prefixes of `path`, longest
    /// first: [`PrefixTable::candidates`] as a plain loop, for the request path.
    pub fn find_map<'a, R>(&'a self, path: &str, mut f: impl FnMut(&'a str, &'a T) -> Option<R>) -> Option<R> {
        if self.map.is_empty() {
            return None;
        }
        let mut candidate = self.shorten_to_longest(path);
        loop {
            if let Some((key, value)) = self.map.get_key_value(candidate) {
                if let Some(found) = f(key, value) {
                    return Some(found);
                }
            }
            match candidate.rfind('/') {
                Some(0) if candidate.len() > 1 => candidate = "/",
                Some(pos) if pos > 0 => candidate = &candidate[..pos],
                _ => return None,
            }
        }
    }

    /// Every prefix of `path` in the table (on segment boundaries), longest first.
    pub fn candidates<'a, 'p>(&'a self, path: &'p str) -> impl Iterator<Item = (&'a str, &'a T)> + 'p
    where
        'a: 'p,
    {
        let mut next = (!self.map.is_empty()).then(|| self.shorten_to_longest(path));
        std::iter::from_fn(move || loop {
            let candidate = next?;
            next = match candidate.rfind('/') {
                Some(0) if candidate.len() > 1 => Some("/"),
                Some(pos) if pos > 0 => Some(&candidate[..pos]),
                _ => None,
            };
            if let Some((key, value)) = self.map.get_key_value(candidate) {
                return Some((&**key, value));
            }
        })
    }

    /// Cuts `path` at the last segment boundary that fits the longest prefix.
    fn shorten_to_longest<'p>(&self, path: &'p str) -> &'p str {
        if path.len() <= self.longest {
            return path;
        }
        let bytes = path.as_bytes();
        if bytes.get(self.longest) == Some(&b'/') {
            return &path[..self.longest];
        }
        match path[..self.longest].rfind('/') {
            Some(0) | None => "/",
            Some(pos) => &path[..pos],
        }
    }

    /// The value of exactly `prefix`, if it is one of the prefixes.
    pub fn get(&self, prefix: &str) -> Option<&T> {
        self.map.get(prefix)
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when there is no prefix.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// All entries, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &T)> {
        self.map.iter().map(|(k, v)| (k.as_ref(), v))
    }
}

#[cfg(test)]
mod tests;
