use super::*;
use crate::consul::Instance;
use crate::metrics::Metrics;
use crate::snapshot::build::{build, View};
use crate::snapshot::registry::StateRegistry;

fn snapshot(services: &[(&str, &[&str])]) -> Snapshot {
    let mut view = View::default();
    view.catalog =
        Some(services.iter().map(|(s, tags)| (s.to_string(), tags.iter().map(|t| t.to_string()).collect())).collect());
    for (service, _) in services {
        let instance = Instance {
            id: format!("{service}-1"),
            node: "n1".into(),
            address: "127.0.0.1".into(),
            port: 9000,
            weight: 1,
            meta: Default::default(),
            tags: Vec::new(),
        };
        view.instances.insert(service.to_string(), vec![instance]);
    }
    build(&view, &[], &StateRegistry::default(), 1, &Metrics::default()).0
}

fn verdicts(s: &Snapshot, query: &str) -> (Vec<(String, String)>, Option<String>) {
    let q = parse(query).expect("valid query");
    let (list, chosen) = candidates(s, &q);
    let list =
        list.iter().map(|v| (v["route"].as_str().unwrap().to_string(), v["verdict"].as_str().unwrap().to_string()));
    (list.collect(), chosen.map(|r| r.key.to_string()))
}

#[test]
fn says_which_route_matched_and_why_the_others_did_not() {
    let s = snapshot(&[
        ("beta", &["portico.route=/cart", "portico.match=header:X-Canary=1"]),
        ("cart", &["portico.route=/cart"]),
        ("shop", &["portico.route=shop.example.com/cart/special"]),
        ("root", &["portico.route=/"]),
    ]);
    let (list, chosen) = verdicts(&s, "host=Other.example.com:8080&path=/cart/special/1&method=post");
    assert_eq!(chosen.as_deref(), Some("/cart"));
    assert_eq!(
        list,
        [
            ("/cart [header:x-canary=1]".into(), "matchers not met: header x-canary is missing".into()),
            ("/cart".into(), "matched".into()),
            ("/".into(), "not tried: /cart matched first".into()),
            ("shop.example.com/cart/special".into(), "host other.example.com is not shop.example.com".into()),
        ]
    );
    let (_, chosen) = verdicts(&s, "host=shop.example.com&path=/cart/special&header=X-Canary:1");
    assert_eq!(chosen.as_deref(), Some("shop.example.com/cart/special"));
    let (_, chosen) = verdicts(&s, "path=/cart&header=X-Canary:1");
    assert_eq!(chosen.as_deref(), Some("/cart [header:x-canary=1]"));
}

#[test]
fn bad_questions_get_a_clear_error() {
    for bad in ["path=/a%zz", "method=G%20T", "header=NoColon", "colour=blue"] {
        assert!(parse(bad).is_err(), "{bad}");
    }
    assert!(parse("").is_ok());
}

#[test]
fn instances_report_canary_and_ejection() {
    let s = snapshot(&[("cart", &["portico.route=/cart"])]);
    let route = s.route("/cart").expect("route");
    let now = clock_ms();
    route.upstream.endpoints[0].state.eject(now, &crate::upstream::Ejection::default());
    let report = instances(route);
    assert_eq!(report[0]["state"], "ejected");
    assert!(report[0]["ejected_for_secs"].as_f64().unwrap() > 0.0);
}

#[test]
fn instances_of_the_service_still_draining_are_listed() {
    let mut s = snapshot(&[("cart", &["portico.route=/cart"]), ("web", &["portico.route=/web"])]);
    let state = std::sync::Arc::new(crate::upstream::InstanceState::default());
    let _in_flight = state.begin();
    let leaving = |id: &str, service: &str| crate::snapshot::Draining {
        id: id.into(),
        node: "n2".into(),
        service: service.into(),
        state: std::sync::Arc::clone(&state),
        connections: Default::default(),
    };
    s.draining = vec![leaving("cart-old", "cart"), leaving("web-old", "web")];
    let route = s.route("/cart").expect("route");
    let listed = draining(&s, route);
    assert_eq!(listed, serde_json::json!([{"id": "cart-old", "node": "n2", "state": "draining", "in_flight": 1}]));
}
