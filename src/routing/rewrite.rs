//! Header rewriting per route: `portico.request-header=set:X-Env=prod`,
//! `add:Name=value`, `remove:Name` (and `portico.response-header=…` alike).
//!
//! Rules are applied in a fixed order whatever order the tags came in:
//! every `remove`, then every `set` (replacing all values), then every
//! `add` (appending one). Headers that frame the message or the connection
//! (`Content-Length`, `Transfer-Encoding`, `Connection`, ...) cannot be
//! rewritten: the proxy owns them.

use http::{HeaderMap, HeaderName, HeaderValue};

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Rule {
    Remove(HeaderName),
    Set(HeaderName, HeaderValue),
    Add(HeaderName, HeaderValue),
}

/// The rules for one direction of one route.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct HeaderRules {
    /// Sorted: removes, then sets, then adds. A boxed slice: two words, as
    /// most routes have none.
    rules: Box<[Rule]>,
}

const OWNED_BY_PROXY: [&str; 9] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
    "host",
];

impl HeaderRules {
    /// Adds `set:Name=value`, `add:Name=value` or `remove:Name`.
    pub fn add(&mut self, spec: &str) -> Result<(), String> {
        let bad = || format!("expected set:Name=value, add:Name=value or remove:Name, got {spec:?}");
        let (action, rest) = spec.split_once(':').ok_or_else(bad)?;
        let rule = match action {
            "remove" => Rule::Remove(name(rest)?),
            "set" | "add" => {
                let (n, v) = rest.split_once('=').ok_or_else(bad)?;
                let value = HeaderValue::from_str(v).map_err(|_| format!("{v:?} is not a header value"))?;
                if action == "set" {
                    Rule::Set(name(n)?, value)
                } else {
                    Rule::Add(name(n)?, value)
                }
            }
            _ => return Err(bad()),
        };
        let mut rules = std::mem::take(&mut self.rules).into_vec();
        rules.push(rule);
        rules.sort_by_key(|r| match r {
            Rule::Remove(_) => 0,
            Rule::Set(..) => 1,
            Rule::Add(..) => 2,
        });
        rules.dedup();
        self.rules = rules.into_boxed_slice();
        Ok(())
    }

    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Applies every rule to `headers`.
    pub fn apply(&self, headers: &mut HeaderMap) {
        for rule in self.rules.iter() {
            match rule {
                Rule::Remove(name) => {
                    headers.remove(name);
                }
                Rule::Set(name, value) => {
                    headers.insert(name.clone(), value.clone());
                }
                Rule::Add(name, value) => {
                    headers.append(name.clone(), value.clone());
                }
            }
        }
    }

    /// The rules as declared, for `/admin/routes`.
    pub fn describe(&self) -> Vec<String> {
        let text = |v: &HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned();
        self.rules
            .iter()
            .map(|r| match r {
                Rule::Remove(n) => format!("remove:{n}"),
                Rule::Set(n, v) => format!("set:{n}={}", text(v)),
                Rule::Add(n, v) => format!("add:{n}={}", text(v)),
            })
            .collect()
    }
}

fn name(text: &str) -> Result<HeaderName, String> {
    let name = HeaderName::from_bytes(text.trim().as_bytes()).map_err(|_| format!("{text:?} is not a header name"))?;
    if OWNED_BY_PROXY.contains(&name.as_str()) {
        return Err(format!("{name} is managed by the proxy and cannot be rewritten"));
    }
    Ok(name)
}

#[cfg(test)]
mod tests;
