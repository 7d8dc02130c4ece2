use std::time::Duration;

use crate::balance::Policy;
use crate::routing::host::HostPattern;
use crate::routing::options::{AuthScheme, CacheSpec, RateSpec};

use super::*;

fn tags(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn routes_and_options_are_read() {
    let d = parse_tags(&tags(&[
        "v1",
        "portico.route=/products",
        "portico.route=/catalog/",
        "portico.strip-prefix=true",
        "portico.lb=p2c",
    ]));
    assert_eq!(d.routes, vec![(HostPattern::Any, "/catalog".into()), (HostPattern::Any, "/products".into())]);
    assert!(d.options.strip_prefix);
    assert_eq!(d.options.policy, Policy::PowerOfTwo);
    assert!(d.rejected.is_empty());
}

#[test]
fn a_bad_tag_disables_only_itself() {
    let d = parse_tags(&tags(&[
        "portico.route=/ok",
        "portico.route=relative",
        "portico.route=/a/../b",
        "portico.lb=fastest",
        "portico.colour=blue",
        "portico.route",
    ]));
    assert_eq!(d.routes, vec![(HostPattern::Any, "/ok".into())]);
    assert_eq!(d.options, RouteOptions::default());
    let refused: Vec<&str> = d.rejected.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(refused.len(), 5, "{:?}", d.rejected);
    assert!(refused.contains(&"portico.lb=fastest"));
}

#[test]
fn conflicting_options_keep_the_first_in_sorted_order() {
    let d = parse_tags(&tags(&["portico.lb=wrr", "portico.lb=p2c", "portico.route=/x"]));
    assert_eq!(d.options.policy, Policy::PowerOfTwo);
    assert_eq!(d.rejected.len(), 1);
    assert_eq!(d.rejected[0].0, "portico.lb=wrr");
}

#[test]
fn prefixes_must_be_clean() {
    assert_eq!(parse_prefix("/").as_deref(), Ok("/"));
    assert_eq!(parse_prefix("/a/").as_deref(), Ok("/a"));
    for bad in ["", "a", "/a?x", "/a#b", "/a//b", "/a/./b", "/a%2Fb", "/a b"] {
        assert!(parse_prefix(bad).is_err(), "{bad}");
    }
}

#[test]
fn route_tag_detection() {
    assert!(has_route(&tags(&["x", "portico.route=/a"])));
    assert!(!has_route(&tags(&["portico.lb=rr"])));
}

mod fuzz {
    //! Property tests standing in for cargo-fuzz (which needs a nightly
    //! toolchain): arbitrary tags never panic, and what is accepted is sound.
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_tags_never_panic(tags in proptest::collection::vec("(portico\\.)?[a-z-]{0,12}(=.{0,20})?", 0..8)) {
            let d = parse_tags(&tags);
            for (_, prefix) in &d.routes {
                prop_assert!(prefix.starts_with('/'));
                let normal = crate::routing::path::normalize(prefix).expect("valid").into_owned();
                prop_assert_eq!(&normal, prefix);
            }
            let ours = tags.iter().filter(|t| t.starts_with(TAG_PREFIX)).collect::<std::collections::BTreeSet<_>>().len();
            prop_assert!(d.rejected.len() <= ours);
        }

        #[test]
        fn any_route_tag_is_accepted_or_rejected_never_lost(value in ".{0,30}") {
            let tag = format!("portico.route={value}");
            let d = parse_tags(std::slice::from_ref(&tag));
            prop_assert_eq!(d.routes.len() + d.rejected.len(), 1);
        }
    }
}

#[test]
fn edge_policy_tags_are_read_and_bad_ones_refused() {
    let d = parse_tags(&tags(&[
        "portico.route=/search",
        "portico.auth=jwt",
        "portico.rate-limit=20/s",
        "portico.rate-burst=40",
        "portico.cache=15s",
    ]));
    assert_eq!(d.options.auth, Some(AuthScheme::Jwt));
    assert_eq!(
        d.options.rate,
        Some(RateSpec { count: 20, period: Duration::from_secs(1), burst: 40, per_replica: false })
    );
    assert_eq!(d.options.cache, Some(CacheSpec { default_ttl: Duration::from_secs(15), ..CacheSpec::default() }));
    assert!(d.options.has_policies());
    let bad = parse_tags(&tags(&[
        "portico.route=/x",
        "portico.auth=basic",
        "portico.rate-limit=0/s",
        "portico.rate-limit=5/fortnight",
        "portico.rate-burst=-1",
        "portico.cache=sometimes",
    ]));
    assert_eq!(bad.rejected.len(), 5, "{:?}", bad.rejected);
    assert!(!bad.options.has_policies(), "a refused policy tag applies nothing");
    assert_eq!(parse_tags(&tags(&["portico.route=/x", "portico.cache=false"])).options.cache, None);
    assert_eq!(RateSpec::parse("100/m").map(|r| r.period), Ok(Duration::from_secs(60)));
}

#[test]
fn allow_encoded_tags_add_up_and_a_bad_name_is_rejected_alone() {
    let tags: Vec<String> = [
        "portico.route=/f",
        "portico.allow-encoded=slash",
        "portico.allow-encoded=null,semicolon",
        "portico.allow-encoded=tilde",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let d = parse_tags(&tags);
    assert_eq!(d.options.allow_encoded.names(), vec!["slash", "null", "semicolon"]);
    assert_eq!(d.rejected.len(), 1);
    assert!(d.rejected[0].0.contains("tilde"), "{:?}", d.rejected);
}
