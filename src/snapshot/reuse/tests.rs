use super::*;
use crate::consul::Instance;
use crate::discovery::Update;
use crate::metrics::Metrics;
use crate::snapshot::build::{build_reusing, View};

fn instance(id: &str, port: u16) -> Instance {
    Instance {
        id: id.into(),
        node: "node-1".into(),
        address: "127.0.0.1".into(),
        port,
        weight: 1,
        meta: Default::default(),
        tags: Vec::new(),
    }
}

fn catalog(services: &[(&str, &str)]) -> Update {
    Update::Catalog(services.iter().map(|(s, tag)| (s.to_string(), vec![tag.to_string()])).collect())
}

fn instances(service: &str, list: Vec<Instance>) -> Update {
    Update::Instances { service: service.into(), instances: list }
}

/// Applies `updates` and builds from `previous`, as the builder does.
fn next(view: &mut View, updates: Vec<Update>, previous: &Snapshot, old: &StateRegistry) -> (Snapshot, StateRegistry) {
    for update in updates {
        view.apply(update);
    }
    let reuse = match view.take_dirty() {
        Some(dirty) => Reuse::from(previous, dirty),
        None => Reuse::default(),
    };
    let built =
        build_reusing(&view.effective(), &[], old.clone(), previous.generation + 1, &Metrics::default(), &reuse);
    (built.snapshot, built.registry)
}

fn route<'a>(snapshot: &'a Snapshot, prefix: &str) -> &'a Arc<Route> {
    snapshot.route(prefix).expect("route")
}

#[test]
fn only_the_changed_service_s_route_is_rebuilt() {
    let mut view = View::default();
    let routed = catalog(&[("a", "portico.route=/a"), ("b", "portico.route=/b")]);
    let start = vec![routed, instances("a", vec![instance("a-1", 1)]), instances("b", vec![instance("b-1", 2)])];
    let (first, registry) = next(&mut view, start, &Snapshot::default(), &StateRegistry::default());
    let _held = route(&first, "/a").upstream.endpoints[0].state.begin();

    let (second, registry) =
        next(&mut view, vec![instances("b", vec![instance("b-1", 2), instance("b-2", 3)])], &first, &registry);
    assert!(Arc::ptr_eq(route(&first, "/a"), route(&second, "/a")), "/a did not change: reused whole");
    assert!(!Arc::ptr_eq(route(&first, "/b"), route(&second, "/b")));
    assert_eq!(route(&second, "/b").upstream.endpoints.len(), 2, "the change is in");
    assert_eq!(registry.instances(), 3, "the reused route's instance state is still tracked");

    let (third, _) = next(&mut view, vec![instances("b", vec![instance("b-1", 2)])], &second, &registry);
    let a = &route(&third, "/a").upstream.endpoints[0];
    assert_eq!(a.state.in_flight(), 1, "state carried through two reuses");
}

#[test]
fn a_tag_change_a_refusal_or_a_reset_rebuilds() {
    let mut view = View::default();
    let start = vec![catalog(&[("a", "portico.route=/a")]), instances("a", vec![instance("a-1", 1)])];
    let (first, registry) = next(&mut view, start, &Snapshot::default(), &StateRegistry::default());
    let (second, registry) = next(&mut view, vec![catalog(&[("a", "portico.route=/a")])], &first, &registry);
    assert!(Arc::ptr_eq(route(&first, "/a"), route(&second, "/a")), "same tags: reused");

    let retagged = catalog(&[("a", "portico.route=/a"), ("a2", "portico.route=/z")]);
    let (third, registry) = next(&mut view, vec![retagged], &second, &registry);
    assert!(Arc::ptr_eq(route(&second, "/a"), route(&third, "/a")), "another service's tags changed");

    let moved = catalog(&[("a", "portico.route=/a"), ("a2", "portico.route=/a")]);
    let (fourth, registry) = next(&mut view, vec![moved], &third, &registry);
    assert!(Arc::ptr_eq(route(&third, "/a"), route(&fourth, "/a")), "a wins the conflict, unchanged");
    assert!(fourth.rejected.iter().any(|r| r.source == "a2"), "the loser is still reported");

    let (fifth, _) = next(&mut view, vec![Update::Reset], &fourth, &registry);
    assert!(!Arc::ptr_eq(route(&fourth, "/a"), route(&fifth, "/a")), "after a reset everything is rebuilt");
}
