//! `portico.*` Consul tags: how a service declares its routes and options.
//!
//! A malformed tag disables only itself: the parser returns what it could
//! accept plus a list of rejections, which `/admin/routes` reports.
//!
//! | tag                          | meaning                                   |
//! |------------------------------|-------------------------------------------|
//! | `portico.route=/prefix`      | route the prefix to this service (repeatable) |
//! | `portico.strip-prefix=true`  | remove the prefix before forwarding       |
//! | `portico.lb=rr\|wrr\|p2c`    | balancing policy                          |
//! | `portico.max-body=BYTES`     | largest request body accepted (413 over)  |

use crate::balance::Policy;
use crate::routing::path::normalize;

/// The namespace every Portico tag starts with.
pub const TAG_PREFIX: &str = "portico.";

/// Options that apply to every route a service declares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouteOptions {
    /// Remove the matched prefix from the forwarded path.
    pub strip_prefix: bool,
    /// How an instance is picked.
    pub policy: Policy,
    /// Largest request body accepted on this route (413 over it).
    pub max_body: Option<u64>,
}

/// Everything a service's tags declare.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declarations {
    /// Normalized route prefixes, sorted and unique.
    pub prefixes: Vec<String>,
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
    let mut seen_policy: Option<&str> = None;
    let mut seen_strip: Option<&str> = None;
    let mut seen_max_body: Option<&str> = None;
    let mut sorted: Vec<&String> = tags.iter().filter(|t| t.starts_with(TAG_PREFIX)).collect();
    sorted.sort();
    sorted.dedup();
    for tag in sorted {
        let result = match tag[TAG_PREFIX.len()..].split_once('=') {
            Some(("route", value)) => parse_prefix(value).map(|p| out.prefixes.push(p)),
            Some(("strip-prefix", value)) => {
                once(&mut seen_strip, value).and_then(|_| parse_bool(value)).map(|b| out.options.strip_prefix = b)
            }
            Some(("lb", value)) => {
                once(&mut seen_policy, value).and_then(|_| value.parse::<Policy>()).map(|p| out.options.policy = p)
            }
            Some(("max-body", value)) => once(&mut seen_max_body, value)
                .and_then(|_| value.parse::<u64>().map_err(|_| format!("expected a number of bytes, got {value:?}")))
                .map(|n| out.options.max_body = Some(n)),
            Some((key, _)) => Err(format!("unknown option {key:?}")),
            None => Err("expected portico.<option>=<value>".to_string()),
        };
        if let Err(reason) = result {
            out.rejected.push((tag.clone(), reason));
        }
    }
    out.prefixes.sort();
    out.prefixes.dedup();
    out
}

/// Lets an option be set once; a second, different value is a conflict. Tags
/// are visited in sorted order, so the winner is deterministic.
fn once<'a>(seen: &mut Option<&'a str>, value: &'a str) -> Result<(), String> {
    match seen {
        Some(first) if *first != value => Err(format!("conflicts with {first:?}, which is used")),
        _ => {
            *seen = Some(value);
            Ok(())
        }
    }
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("expected true or false, got {value:?}")),
    }
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
