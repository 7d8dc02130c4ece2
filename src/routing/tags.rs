//! `portico.*` Consul tags: how a service declares its routes and options.
//!
//! A malformed tag disables only itself: the parser returns what it could
//! accept plus a list of rejections, which `/admin/routes` reports. What an
//! option means is [`super::options`]' business, shared with the TOML file;
//! this module knows the tag syntax and that an option is set once.
//!
//! | tag                          | meaning                                   |
//! |------------------------------|-------------------------------------------|
//! | `portico.route=/prefix`      | route the prefix to this service (repeatable) |
//! | `portico.route=host/prefix`  | the same, for one host or `*.domain` only  |
//! | `portico.match=method:GET,POST` / `header:Name[=value]` | conditions; a request failing them falls through (repeatable) |
//! | `portico.request-header=set:N=v` / `add:N=v` / `remove:N` | rewrite request headers (repeatable) |
//! | `portico.response-header=…`  | rewrite response headers, same syntax (repeatable) |
//! | `portico.canary=5%`          | on canary instances: their share of the route's traffic |
//! | `portico.canary-tag=TAG`     | instances carrying TAG are canaries too    |
//! | `portico.canary-abort=10%\|off` | abort margin over the stable 5xx rate (default 10%) |
//! | `portico.canary-window=60s`  | window of the abort rule (default 60s)     |
//! | `portico.canary-min-requests=N` | canary requests before a verdict (default 20) |
//! | `portico.strip-prefix=true`  | remove the prefix before forwarding       |
//! | `portico.lb=rr\|wrr\|p2c\|hash:KEY` | balancing policy; KEY: `header=N`, `cookie=N`, `ip`, `path` |
//! | `portico.max-body=BYTES`     | largest request body accepted (413 over)  |
//! | `portico.auth=jwt\|api-key\|any` | credentials required (401 without)      |
//! | `portico.rate-limit=N/s\|m\|h` | requests per client per period (429 over) |
//! | `portico.rate-burst=N`       | requests a client may send at once (default N) |
//! | `portico.cache=true\|false\|30s` | cache GET/HEAD; a duration is the TTL when the response names none |
//! | `portico.allow-encoded=slash,semicolon` | encoded characters this route accepts in paths (repeatable; default none: 400) |

use std::collections::HashMap;

use super::host::HostPattern;
use super::options::{OptionsBuilder, RouteOptions, REPEATABLE};
use crate::routing::path::normalize;

/// The namespace every Portico tag starts with.
pub const TAG_PREFIX: &str = "portico.";

/// Everything a service's tags declare.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declarations {
    /// (host, normalized prefix) of every route, sorted and unique.
    pub routes: Vec<(HostPattern, String)>,
    /// Options for all of them.
    pub options: RouteOptions,
    /// Tags that were refused, with the reason.
    pub rejected: Vec<(String, String)>,
}

/// True when a service carries at least one route tag.
pub fn has_route(tags: &[String]) -> bool {
    tags.iter().any(|t| t.starts_with("portico.route="))
}

/// Parses all `portico.*` tags of one service; other tags are ignored.
pub fn parse_tags(tags: &[String]) -> Declarations {
    let mut out = Declarations::default();
    let mut options = OptionsBuilder::default();
    let mut seen: HashMap<&str, &str> = HashMap::new();
    let mut sorted: Vec<&String> = tags.iter().filter(|t| t.starts_with(TAG_PREFIX)).collect();
    sorted.sort();
    sorted.dedup();
    for tag in sorted {
        let result = match tag[TAG_PREFIX.len()..].split_once('=') {
            Some(("route", value)) => parse_route(value).map(|r| out.routes.push(r)),
            Some((key, value)) if REPEATABLE.contains(&key) => options.set(key, value),
            Some((key, value)) => once(seen.entry(key).or_default(), value).and_then(|_| options.set(key, value)),
            None => Err("expected portico.<option>=<value>".to_string()),
        };
        if let Err(reason) = result {
            out.rejected.push((tag.clone(), reason));
        }
    }
    out.options = options.finish();
    out.routes.sort();
    out.routes.dedup();
    out
}

/// Lets an option be set once; a second, different value is a conflict. Tags
/// are visited in sorted order, so the winner is deterministic.
fn once<'a>(seen: &mut &'a str, value: &'a str) -> Result<(), String> {
    match *seen {
        "" => {
            *seen = value;
            Ok(())
        }
        first if first != value => Err(format!("conflicts with {first:?}, which is used")),
        _ => Ok(()),
    }
}

/// Parses a route: `/prefix`, `host/prefix` or `*.domain/prefix` (a whole
/// host is `host/`).
pub fn parse_route(value: &str) -> Result<(HostPattern, String), String> {
    let slash = value.find('/').ok_or_else(|| format!("route {value:?} must be /prefix or host/prefix"))?;
    let (host, prefix) = value.split_at(slash);
    Ok((HostPattern::parse(host)?, parse_prefix(prefix)?))
}

/// Validates a route prefix: absolute, already normalized, no query or
/// fragment. A trailing slash is dropped (`/api/` routes like `/api`).
pub fn parse_prefix(value: &str) -> Result<String, String> {
    if !value.starts_with('/') {
        return Err(format!("prefix {value:?} must start with '/'"));
    }
    if value.contains(['?', '#', '%']) || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("prefix {value:?} may not contain '?', '#', '%', spaces or control characters"));
    }
    let trimmed = if value.len() > 1 { value.trim_end_matches('/') } else { value };
    let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
    match normalize(trimmed) {
        Ok(n) if n == trimmed => Ok(trimmed.to_string()),
        _ => Err(format!("prefix {value:?} is not a normalized path")),
    }
}

#[cfg(test)]
mod tests;
