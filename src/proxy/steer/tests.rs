use std::sync::Arc;

use http::HeaderName;

use super::*;
use crate::canary::Share;
use crate::consul::Instance;
use crate::metrics::Metrics;
use crate::snapshot::build::{build, View};
use crate::snapshot::registry::StateRegistry;

fn instance(id: &str, tags: &[&str]) -> Instance {
    Instance {
        id: id.into(),
        node: "n1".into(),
        address: "127.0.0.1".into(),
        port: 9000,
        weight: 1,
        meta: Default::default(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
    }
}

/// A route on `/shop` whose service has 20 stable instances and one canary at `share`.
fn canary_route(share: &str, extra: &[&str]) -> Arc<crate::snapshot::Route> {
    let canary_tag = format!("portico.canary={share}");
    let mut service_tags = vec!["portico.route=/shop".to_string(), canary_tag.clone()];
    service_tags.extend(extra.iter().map(|t| t.to_string()));
    let mut view = View::default();
    view.catalog = Some([("shop".to_string(), service_tags)].into_iter().collect());
    let mut instances: Vec<Instance> =
        (0..20).map(|i| instance(&format!("stable-{i}"), &["portico.route=/shop"])).collect();
    instances.push(instance("canary-0", &["portico.route=/shop", &canary_tag]));
    view.instances.insert("shop".into(), instances);
    let (snapshot, _) = build(&view, &[], &StateRegistry::default(), 1, &Metrics::default());
    Arc::clone(snapshot.route("/shop").expect("route"))
}

fn request<'a>(headers: &'a HeaderMap, client: &str) -> Request<'a> {
    Request { headers, path: "/shop", client: client.parse().expect("ip"), tls: false }
}

#[test]
fn one_canary_among_twenty_gets_its_share_not_one_twenty_first() {
    let route = canary_route("5%", &[]);
    assert_eq!(route.canary.as_ref().map(|c| c.share), Some(Share::parse("5%").unwrap()));
    let empty = HeaderMap::new();
    let mut to_canary = 0;
    for i in 0..20_000u32 {
        let client = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
        let steering = steer(&route, &request(&empty, &client));
        let (index, endpoint) = route.upstream.choose(steering.choice, &[], std::time::Duration::ZERO).expect("pick");
        assert_eq!(index >= route.upstream.canary_from, &*endpoint.id == "canary-0");
        to_canary += usize::from(&*endpoint.id == "canary-0");
    }
    let share = to_canary as f64 / 20_000.0;
    assert!(
        (0.04..0.06).contains(&share),
        "canary got {share:.4}, expected 0.05 (not 1/21 = 0.048 by luck: see the 50% case)"
    );
    let half = canary_route("50%", &[]);
    let to_canary = (0..2_000u32)
        .filter(|i| steer(&half, &request(&empty, &format!("10.0.{}.{}", i >> 8, i & 255))).choice.side == Side::Canary)
        .count();
    assert!((900..1100).contains(&to_canary), "50% share sent {to_canary} of 2000 to the canary");
}

#[test]
fn a_client_keeps_its_side_by_identity_then_cookie_then_address() {
    let route = canary_route("50%", &[]);
    let empty = HeaderMap::new();
    let first = steer(&route, &request(&empty, "192.0.2.7"));
    let cookie = first.set_cookie.expect("the address-based side is written into a cookie");
    let value = cookie.to_str().unwrap().split(';').next().unwrap().to_string();
    assert!(value.starts_with("portico_canary="));
    let mut with_cookie = HeaderMap::new();
    with_cookie.insert(header::COOKIE, HeaderValue::from_str(&format!("a=b; {value}")).unwrap());
    for client in ["198.51.100.1", "203.0.113.9", "10.9.8.7"] {
        let again = steer(&route, &request(&with_cookie, client));
        assert_eq!(again.choice.side, first.choice.side, "the cookie wins over a new address");
        assert!(again.set_cookie.is_none());
    }
    let mut identified = with_cookie.clone();
    identified.insert(X_AUTH_SUBJECT.clone(), HeaderValue::from_static("alice"));
    let alice = steer(&route, &request(&identified, "10.0.0.1")).choice.side;
    assert_eq!(alice, Side::of(bucket_of(b"alice"), Share::parse("50%").unwrap()));
}

#[test]
fn an_aborted_canary_gets_nothing_and_is_never_a_fallback() {
    let route = canary_route("50%", &[]);
    let canary = route.canary.as_ref().expect("canary");
    for _ in 0..30 {
        canary.health.record(Side::Canary, true, 1_000, route.options.canary());
    }
    assert!(canary.health.is_aborted());
    let empty = HeaderMap::new();
    for i in 0..200u32 {
        let steering = steer(&route, &request(&empty, &format!("10.1.0.{}", i % 250)));
        assert_eq!(steering.choice.side, Side::Stable);
        assert!(!steering.choice.cross_over);
        assert!(steering.set_cookie.is_none());
    }
}

#[test]
fn hash_keys_come_from_header_cookie_address_or_path() {
    let headers: HeaderMap = [
        (HeaderName::from_static("x-user"), HeaderValue::from_static("u1")),
        (header::COOKIE, HeaderValue::from_static("session=s1")),
    ]
    .into_iter()
    .collect();
    let req = request(&headers, "10.0.0.1");
    let key = |spec: &str| hash_of(&HashKey::parse(spec).unwrap(), &req);
    assert_eq!(key("header=X-User"), Some(stable_hash(b"u1")));
    assert_eq!(key("cookie=session"), Some(stable_hash(b"s1")));
    assert_eq!(key("ip"), Some(stable_hash(b"10.0.0.1")));
    assert_eq!(key("path"), Some(stable_hash(b"/shop")));
    assert_eq!(key("header=X-Missing"), None);
}
