use super::*;
use crate::consul::Instance;
use crate::discovery::Update;
use crate::metrics::Metrics;

fn instance(id: &str, port: u16, weight: u32) -> Instance {
    Instance {
        id: id.into(),
        node: "node-1".into(),
        address: "127.0.0.1".into(),
        port,
        weight,
        meta: Default::default(),
        tags: Vec::new(),
    }
}

fn view(catalog: &[(&str, &[&str])], instances: &[(&str, Vec<Instance>)]) -> View {
    let mut view = View::default();
    view.catalog = Some(
        catalog.iter().map(|(name, tags)| (name.to_string(), tags.iter().map(|t| t.to_string()).collect())).collect(),
    );
    view.instances = instances.iter().map(|(s, i)| (s.to_string(), i.clone())).collect();
    view
}

fn served_by(snapshot: &Snapshot, path: &str) -> Option<String> {
    snapshot.route(path).map(|r| r.service.to_string())
}

#[test]
fn tagged_services_are_routed_to_their_instances() {
    let v = view(
        &[("web", &["portico.route=/web", "portico.route=/site"]), ("db", &["primary"])],
        &[("web", vec![instance("web-1", 8001, 1), instance("web-2", 8002, 1)])],
    );
    let (s, registry) = build(&v, &[], &StateRegistry::default(), 1, &Metrics::default());
    assert_eq!(served_by(&s, "/web/index.html").as_deref(), Some("web"));
    assert_eq!(served_by(&s, "/site").as_deref(), Some("web"));
    assert_eq!(served_by(&s, "/db"), None);
    let route = s.route("/web").expect("route");
    assert_eq!(route.upstream.endpoints.len(), 2);
    assert_eq!(route.upstream.endpoints[0].authority.as_str(), "127.0.0.1:8001");
    assert_eq!(registry.instances(), 2);
    assert!(s.synced);
}

#[test]
fn a_route_without_instances_is_still_a_route() {
    let v = view(&[("web", &["portico.route=/web"])], &[]);
    let (s, _) = build(&v, &[], &StateRegistry::default(), 1, &Metrics::default());
    let route = s.route("/web").expect("route known");
    assert!(route.upstream.pick().is_none());
}

#[test]
fn conflicts_have_a_deterministic_winner_and_are_reported() {
    let v = view(&[("beta", &["portico.route=/shared"]), ("alpha", &["portico.route=/shared"])], &[]);
    let (s, _) = build(&v, &[], &StateRegistry::default(), 1, &Metrics::default());
    assert_eq!(served_by(&s, "/shared").as_deref(), Some("alpha"));
    assert_eq!(s.rejected.len(), 1);
    assert_eq!(s.rejected[0].source, "beta");
    assert!(s.rejected[0].reason.contains("alpha"), "{:?}", s.rejected);
}

#[test]
fn static_routes_beat_tags() {
    let v = view(&[("tagged", &["portico.route=/x"])], &[]);
    let statics = vec![crate::routing::StaticRoute {
        host: Default::default(),
        prefix: "/x".into(),
        service: "pinned".into(),
        options: crate::routing::options::RouteOptions::default(),
    }];
    let (s, _) = build(&v, &statics, &StateRegistry::default(), 1, &Metrics::default());
    assert_eq!(served_by(&s, "/x").as_deref(), Some("pinned"));
    assert_eq!(s.route("/x").map(|r| r.origin), Some(Origin::Config));
    assert_eq!(s.rejected[0].source, "tagged");
}

#[test]
fn malformed_tags_are_reported_and_the_rest_still_routes() {
    let v = view(&[("web", &["portico.route=/ok", "portico.route=bad", "portico.lb=magic"])], &[]);
    let (s, _) = build(&v, &[], &StateRegistry::default(), 1, &Metrics::default());
    assert!(s.route("/ok").is_some());
    assert_eq!(s.rejected.len(), 2, "{:?}", s.rejected);
}

#[test]
fn instance_state_survives_a_rebuild() {
    let v1 = view(&[("web", &["portico.route=/web"])], &[("web", vec![instance("web-1", 8001, 1)])]);
    let (s1, r1) = build(&v1, &[], &StateRegistry::default(), 1, &Metrics::default());
    let endpoint = &s1.route("/web").expect("route").upstream.endpoints[0];
    let _in_flight = endpoint.state.begin();

    let v2 = view(
        &[("web", &["portico.route=/web"])],
        &[("web", vec![instance("web-1", 8001, 1), instance("web-2", 8002, 1)])],
    );
    let (s2, _) = build(&v2, &[], &r1, 2, &Metrics::default());
    let again = &s2.route("/web").expect("route").upstream.endpoints[0];
    assert_eq!(&*again.id, "web-1");
    assert_eq!(again.state.in_flight(), 1);
    assert!(Arc::ptr_eq(&endpoint.state, &again.state));
}

#[test]
fn weighted_routes_follow_consul_weights() {
    let v = view(
        &[("web", &["portico.route=/web", "portico.lb=wrr"])],
        &[("web", vec![instance("a", 1, 3), instance("b", 2, 1)])],
    );
    let (s, _) = build(&v, &[], &StateRegistry::default(), 1, &Metrics::default());
    let upstream = &s.route("/web").expect("route").upstream;
    let picks: Vec<&str> = (0..8).filter_map(|_| upstream.pick()).map(|(_, e)| &*e.id).collect();
    assert_eq!(picks.iter().filter(|id| **id == "a").count(), 6);
}

#[test]
fn bad_addresses_skip_only_that_instance() {
    let mut bad = instance("web-bad", 80, 1);
    bad.address = "not a host".into();
    let v = view(&[("web", &["portico.route=/web"])], &[("web", vec![bad, instance("web-1", 8001, 1)])]);
    let (s, _) = build(&v, &[], &StateRegistry::default(), 1, &Metrics::default());
    assert_eq!(s.route("/web").expect("route").upstream.endpoints.len(), 1);
    assert!(s.rejected.iter().any(|r| r.declaration.contains("web-bad")));
}

#[test]
fn untagged_catalog_changes_do_not_count_as_changes() {
    let mut v = View::default();
    let catalog = |extra: &str| -> crate::consul::Services {
        [("web".to_string(), vec!["portico.route=/web".to_string()]), (extra.to_string(), vec![])].into_iter().collect()
    };
    assert!(v.apply(Update::Catalog(catalog("db"))));
    assert!(!v.apply(Update::Catalog(catalog("cache"))));
    assert!(v.apply(Update::Instances { service: "web".into(), instances: vec![instance("w", 1, 1)] }));
    assert!(!v.apply(Update::Instances { service: "web".into(), instances: vec![instance("w", 1, 1)] }));
    assert!(v.apply(Update::Removed("web".into())));
}

#[tokio::test(start_paused = true)]
async fn failing_instances_are_ejected_but_never_more_than_the_allowed_share() {
    use crate::upstream::Ejection;
    let v = view(
        &[("web", &["portico.route=/web"])],
        &[("web", vec![instance("a", 1, 1), instance("b", 2, 1), instance("c", 3, 1), instance("d", 4, 1)])],
    );
    let (s, _) = build(&v, &[], &StateRegistry::default(), 1, &Metrics::default());
    let upstream = &s.route("/web").expect("route").upstream;
    let policy = Ejection { after_failures: 2, max_share: 0.5, ..Ejection::default() };
    for index in 0..3 {
        upstream.record_failure(index, &policy);
        upstream.record_failure(index, &policy);
    }
    let ejected: Vec<bool> = (0..4).map(|i| upstream.is_ejected(i)).collect();
    assert_eq!(ejected, vec![true, true, false, false], "two of four at most");
    for _ in 0..20 {
        let (i, _) = upstream.pick().expect("an instance");
        assert!(i >= 2, "ejected instances get no traffic");
    }
    let (i, _) = upstream.pick_avoiding(&[2, 3], std::time::Duration::ZERO).expect("fallback");
    assert!(i < 2, "with every healthy one tried, an ejected one beats failing");
    tokio::time::sleep(policy.base + std::time::Duration::from_millis(1)).await;
    assert!(!upstream.is_ejected(0), "the ejection expires");
}

#[test]
fn server_errors_count_toward_ejection_and_successes_reset_the_streak() {
    use crate::upstream::Ejection;
    let v = view(&[("web", &["portico.route=/web"])], &[("web", vec![instance("a", 1, 1), instance("b", 2, 1)])]);
    let (s, _) = build(&v, &[], &StateRegistry::default(), 1, &Metrics::default());
    let upstream = &s.route("/web").expect("route").upstream;
    let policy = Ejection { after_failures: 3, ..Ejection::default() };
    upstream.record_outcome(0, true, &policy);
    upstream.record_outcome(0, true, &policy);
    upstream.record_outcome(0, false, &policy);
    upstream.record_outcome(0, true, &policy);
    assert!(!upstream.is_ejected(0), "the success broke the streak");
    upstream.record_outcome(0, true, &policy);
    upstream.record_outcome(0, true, &policy);
    assert!(upstream.is_ejected(0), "three 5xx in a row");
}

#[tokio::test(start_paused = true)]
async fn slow_start_gives_a_new_instance_a_growing_share() {
    use std::time::Duration;
    let ramp = Duration::from_secs(10);
    let v1 = view(&[("web", &["portico.route=/web"])], &[("web", vec![instance("old", 1, 1)])]);
    let (_, r1) = build(&v1, &[], &StateRegistry::default(), 1, &Metrics::default());
    tokio::time::sleep(Duration::from_secs(60)).await;
    let v2 = view(&[("web", &["portico.route=/web"])], &[("web", vec![instance("old", 1, 1), instance("new", 2, 1)])]);
    let (s, _) = build(&v2, &[], &r1, 2, &Metrics::default());
    let upstream = &s.route("/web").expect("route").upstream;
    let share_of_new = |n: usize| {
        (0..n).filter(|_| upstream.pick_avoiding(&[], ramp).is_some_and(|(_, e)| &*e.id == "new")).count() as f64
            / n as f64
    };
    let cold = share_of_new(4000);
    assert!(cold < 0.15, "a cold instance gets a small share: {cold}");
    tokio::time::sleep(ramp).await;
    let warm = share_of_new(4000);
    assert!((warm - 0.5).abs() < 0.05, "after the ramp, its full share: {warm}");
}

#[test]
fn the_same_prefix_on_different_hosts_is_no_conflict_but_the_same_host_and_prefix_is() {
    let v = view(
        &[
            ("shop", &["portico.route=shop.example.com/api"]),
            ("blog", &["portico.route=blog.example.com/api", "portico.route=/api"]),
            ("rival", &["portico.route=shop.example.com/api"]),
        ],
        &[],
    );
    let (s, _) = build(&v, &[], &StateRegistry::default(), 1, &Metrics::default());
    let mut keys: Vec<&str> = s.routes().iter().map(|r| &*r.key).collect();
    keys.sort();
    assert_eq!(keys, ["/api", "blog.example.com/api", "shop.example.com/api"]);
    assert_eq!(s.table.get("shop.example.com/api").map(|r| &*r.service), Some("rival"), "first by name wins");
    assert_eq!(s.rejected.len(), 1, "{:?}", s.rejected);
    assert_eq!(s.rejected[0].source, "shop");
    assert!(s.rejected[0].reason.contains("shop.example.com/api"), "{:?}", s.rejected);
}

#[test]
fn canary_instances_come_after_the_stable_ones_and_an_abort_outlives_their_absence() {
    let mut canary = instance("web-canary", 8009, 1);
    canary.tags = vec!["portico.canary=10%".into()];
    let tags: &[&str] = &["portico.route=/web", "portico.canary=10%"];
    let with_canary = view(&[("web", tags)], &[("web", vec![canary.clone(), instance("web-1", 8001, 1)])]);
    let (s, registry) = build(&with_canary, &[], &StateRegistry::default(), 1, &Metrics::default());
    let route = s.route("/web").expect("route");
    assert_eq!(route.upstream.canary_from, 1);
    assert_eq!(&*route.upstream.endpoints[1].id, "web-canary");
    let health = Arc::clone(&route.canary.as_ref().expect("canary").health);
    for _ in 0..30 {
        health.record(crate::canary::Side::Canary, true, 1_000, route.options.canary());
    }
    assert!(health.is_aborted());
    let without = view(&[("web", tags)], &[("web", vec![instance("web-1", 8001, 1)])]);
    let (s, registry) = build(&without, &[], &registry, 2, &Metrics::default());
    assert!(s.route("/web").expect("route").canary.is_none());
    let (s, registry) = build(&with_canary, &[], &registry, 3, &Metrics::default());
    assert!(s.route("/web").and_then(|r| r.canary.as_ref()).expect("canary back").health.is_aborted());
    canary.meta.insert("version".into(), "2".into());
    let new_version = view(&[("web", tags)], &[("web", vec![canary, instance("web-1", 8001, 1)])]);
    let (s, _) = build(&new_version, &[], &registry, 4, &Metrics::default());
    assert!(!s.route("/web").and_then(|r| r.canary.as_ref()).expect("canary").health.is_aborted());
}
