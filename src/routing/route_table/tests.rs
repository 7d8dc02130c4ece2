use super::*;
use proptest::prelude::*;

/// A route for the tests: host pattern text, prefix, and whether it has a matcher
/// (a matcher here accepts only requests flagged `canary`).
#[derive(Debug, Clone)]
struct R {
    host: &'static str,
    prefix: &'static str,
    matcher: bool,
}

fn key(r: &R) -> String {
    format!("{}{}{}", r.host, r.prefix, if r.matcher { " [canary]" } else { "" })
}

fn table(routes: &[R]) -> RouteTable<R> {
    let mut seen = std::collections::HashSet::new();
    RouteTable::new(
        routes
            .iter()
            .filter(|r| seen.insert(key(r)))
            .map(|r| Placed {
                host: HostPattern::parse(r.host).unwrap(),
                prefix: r.prefix.to_string(),
                key: key(r).into(),
                matchers: usize::from(r.matcher),
                value: r.clone(),
            })
            .collect(),
    )
}

fn find(t: &RouteTable<R>, host: &str, path: &str, canary: bool) -> Option<String> {
    t.find(Some(host), path, |_| canary).map(key)
}

#[test]
fn exact_host_beats_wildcard_beats_any_whatever_the_path_length() {
    let t = table(&[
        R { host: "", prefix: "/api/v1", matcher: false },
        R { host: "*.example.com", prefix: "/api", matcher: false },
        R { host: "shop.example.com", prefix: "/", matcher: false },
    ]);
    assert_eq!(find(&t, "shop.example.com", "/api/v1/x", false).as_deref(), Some("shop.example.com/"));
    assert_eq!(find(&t, "blog.example.com", "/api/v1/x", false).as_deref(), Some("*.example.com/api"));
    assert_eq!(find(&t, "blog.example.com", "/other", false), None);
    assert_eq!(find(&t, "other.org", "/api/v1/x", false).as_deref(), Some("/api/v1"));
    assert_eq!(find(&t, "example.com", "/api/v1", false).as_deref(), Some("/api/v1"));
}

#[test]
fn a_failed_matcher_falls_through_to_the_next_candidate() {
    let t = table(&[
        R { host: "", prefix: "/cart", matcher: true },
        R { host: "", prefix: "/cart", matcher: false },
        R { host: "shop.example.com", prefix: "/cart/beta", matcher: true },
    ]);
    assert_eq!(
        find(&t, "shop.example.com", "/cart/beta/1", true).as_deref(),
        Some("shop.example.com/cart/beta [canary]")
    );
    assert_eq!(find(&t, "shop.example.com", "/cart/beta/1", false).as_deref(), Some("/cart"));
    assert_eq!(find(&t, "x", "/cart", true).as_deref(), Some("/cart [canary]"));
    assert_eq!(t.len(), 3);
    assert!(t.get("/cart [canary]").is_some());
}

#[test]
fn a_table_without_hosts_ignores_the_host() {
    let t = table(&[R { host: "", prefix: "/a", matcher: false }]);
    assert!(!t.has_hosts());
    assert_eq!(t.find(None, "/a/b", |_| false).map(key).as_deref(), Some("/a"), "no matcher: accept is not asked");
}

const HOSTS: [&str; 5] = ["", "a.example.com", "*.example.com", "*.a.example.com", "b.example.com"];
const PREFIXES: [&str; 5] = ["/", "/a", "/a/b", "/b", "/a/b/c"];
const REQUEST_HOSTS: [&str; 5] = ["a.example.com", "x.a.example.com", "b.example.com", "example.com", "other.org"];
const PATHS: [&str; 6] = ["/", "/a", "/a/b", "/a/bc", "/a/b/c/d", "/b/x"];

fn segment_prefix(prefix: &str, path: &str) -> bool {
    prefix == "/" || path == prefix || path.starts_with(&format!("{prefix}/"))
}

/// The naive reference: every route that fits, ranked by host specificity,
/// wildcard length, prefix length, then matchers first.
fn reference(routes: &[R], host: &str, path: &str, canary: bool) -> Option<String> {
    routes
        .iter()
        .filter(|r| HostPattern::parse(r.host).unwrap().matches(Some(host)))
        .filter(|r| segment_prefix(r.prefix, path) && (!r.matcher || canary))
        .max_by_key(|r| {
            let pattern = HostPattern::parse(r.host).unwrap();
            (pattern.rank(), r.host.len(), r.prefix.len(), r.matcher)
        })
        .map(key)
}

proptest! {
    #[test]
    fn agrees_with_the_naive_reference(
        picks in proptest::collection::vec((0..HOSTS.len(), 0..PREFIXES.len(), any::<bool>()), 0..12),
        host in 0..REQUEST_HOSTS.len(),
        path in 0..PATHS.len(),
        canary in any::<bool>(),
    ) {
        let routes: Vec<R> = picks.iter().map(|&(h, p, m)| R { host: HOSTS[h], prefix: PREFIXES[p], matcher: m }).collect();
        let t = table(&routes);
        prop_assert_eq!(
            find(&t, REQUEST_HOSTS[host], PATHS[path], canary),
            reference(&routes, REQUEST_HOSTS[host], PATHS[path], canary)
        );
    }
}
