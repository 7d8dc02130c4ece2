//! Request matchers of a route: a method list and header conditions
//! (`portico.match=method:GET,POST`, `portico.match=header:X-Canary=1`,
//! `portico.match=header:X-Debug` for presence). Every condition must hold;
//! a request that matches a route's host and path but not its matchers falls
//! through to the next candidate route.

use std::fmt;

use http::{HeaderMap, HeaderName, HeaderValue, Method};

/// One header condition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HeaderMatch {
    /// The header is present (any value).
    Present(HeaderName),
    /// One of the header's values is exactly this.
    Equals(HeaderName, HeaderValue),
}

/// The conditions of a route beyond host and path; empty matches everything.
/// One pointer wide: most routes have none, and route options are copied
/// for every route of every build.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Matchers {
    conditions: Option<Box<Conditions>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
struct Conditions {
    /// Allowed methods, sorted; empty: any.
    methods: Vec<Method>,
    /// Header conditions, sorted.
    headers: Vec<HeaderMatch>,
}

/// Why a request did not match, for `/admin/explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    Method(String),
    HeaderMissing(String),
    HeaderDiffers(String),
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Method(allowed) => write!(f, "method is not one of {allowed}"),
            Mismatch::HeaderMissing(name) => write!(f, "header {name} is missing"),
            Mismatch::HeaderDiffers(cond) => write!(f, "header does not satisfy {cond}"),
        }
    }
}

impl Matchers {
    /// Adds `method:GET,POST` or `header:Name[=value]`.
    pub fn add(&mut self, spec: &str) -> Result<(), String> {
        match spec.split_once(':') {
            Some(("method", list)) => self.add_methods(list),
            Some(("header", cond)) => self.add_header(cond),
            _ => Err(format!("expected method:GET,POST or header:Name[=value], got {spec:?}")),
        }
    }

    fn conditions(&mut self) -> &mut Conditions {
        self.conditions.get_or_insert_with(Box::default)
    }

    fn add_methods(&mut self, list: &str) -> Result<(), String> {
        for name in list.split(',').map(str::trim) {
            let token = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphabetic());
            let method = Method::from_bytes(name.to_ascii_uppercase().as_bytes())
                .ok()
                .filter(|_| token)
                .ok_or_else(|| format!("{name:?} is not an HTTP method"))?;
            self.conditions().methods.push(method);
        }
        let methods = &mut self.conditions().methods;
        methods.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        methods.dedup();
        Ok(())
    }

    fn add_header(&mut self, cond: &str) -> Result<(), String> {
        let (name, value) = match cond.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (cond, None),
        };
        let name =
            HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| format!("{name:?} is not a header name"))?;
        let condition = match value {
            None => HeaderMatch::Present(name),
            Some(v) => {
                HeaderMatch::Equals(name, HeaderValue::from_str(v).map_err(|_| format!("{v:?} is not a header value"))?)
            }
        };
        let headers = &mut self.conditions().headers;
        headers.push(condition);
        headers.sort_by_key(describe);
        headers.dedup();
        Ok(())
    }

    /// True when there is no condition.
    pub fn is_empty(&self) -> bool {
        self.conditions.is_none()
    }

    /// Number of conditions: a route with more is tried first.
    pub fn count(&self) -> usize {
        self.conditions.as_ref().map_or(0, |c| usize::from(!c.methods.is_empty()) + c.headers.len())
    }

    /// True when the request satisfies every condition.
    pub fn accept(&self, method: &Method, headers: &HeaderMap) -> bool {
        self.mismatch(method, headers).is_none()
    }

    /// The first condition the request fails, if any.
    pub fn mismatch(&self, method: &Method, headers: &HeaderMap) -> Option<Mismatch> {
        let conditions = self.conditions.as_deref()?;
        if !conditions.methods.is_empty() && !conditions.methods.contains(method) {
            return Some(Mismatch::Method(conditions.method_list()));
        }
        conditions.headers.iter().find_map(|cond| match cond {
            HeaderMatch::Present(name) => {
                (!headers.contains_key(name)).then(|| Mismatch::HeaderMissing(name.to_string()))
            }
            HeaderMatch::Equals(name, value) => match headers.get_all(name).iter().any(|v| v == value) {
                true => None,
                false if !headers.contains_key(name) => Some(Mismatch::HeaderMissing(name.to_string())),
                false => Some(Mismatch::HeaderDiffers(describe(cond))),
            },
        })
    }
}

impl Conditions {
    fn method_list(&self) -> String {
        self.methods.iter().map(Method::as_str).collect::<Vec<_>>().join(",")
    }
}

fn describe(cond: &HeaderMatch) -> String {
    match cond {
        HeaderMatch::Present(name) => format!("header:{name}"),
        HeaderMatch::Equals(name, value) => format!("header:{name}={}", String::from_utf8_lossy(value.as_bytes())),
    }
}

/// The canonical spelling, part of a route's key: `method:GET,POST header:x-canary=1`.
impl fmt::Display for Matchers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(conditions) = &self.conditions else { return Ok(()) };
        let mut parts = Vec::new();
        if !conditions.methods.is_empty() {
            parts.push(format!("method:{}", conditions.method_list()));
        }
        parts.extend(conditions.headers.iter().map(describe));
        f.write_str(&parts.join(" "))
    }
}

#[cfg(test)]
mod tests;
