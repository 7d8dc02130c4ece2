use super::*;

fn catalog(services: &[&str]) -> Update {
    Update::Catalog(services.iter().map(|s| (s.to_string(), vec![format!("portico.route=/{s}")])).collect())
}

fn instances(service: &str, ids: &[&str]) -> Update {
    let list = ids
        .iter()
        .map(|id| Instance {
            id: id.to_string(),
            node: "node-1".into(),
            address: "127.0.0.1".into(),
            port: 1,
            weight: 1,
            meta: Default::default(),
            tags: Vec::new(),
        })
        .collect();
    Update::Instances { service: service.into(), instances: list }
}

fn ids(view: &View, service: &str) -> Vec<String> {
    view.effective().instances.get(service).map(|i| i.iter().map(|x| x.id.clone()).collect()).unwrap_or_default()
}

#[tokio::test(start_paused = true)]
async fn a_reset_holds_routes_and_instances_for_the_grace_period() {
    let mut view = View::new(Duration::from_secs(10));
    view.apply(catalog(&["web", "api"]));
    view.apply(instances("web", &["web-1", "web-2"]));
    view.apply(instances("api", &["api-1"]));

    view.apply(Update::Reset);
    view.apply(catalog(&["web"]));
    view.apply(instances("web", &[]));
    view.apply(Update::Removed("api".into()));
    let effective = view.effective();
    assert!(effective.catalog.as_ref().is_some_and(|c| c.contains_key("api")), "api keeps its route");
    assert_eq!(ids(&view, "web"), vec!["web-1", "web-2"], "an empty passing set does not empty the route");
    assert_eq!(ids(&view, "api"), vec!["api-1"]);

    view.apply(instances("web", &["web-3"]));
    assert_eq!(ids(&view, "web"), vec!["web-3"], "what Consul reports wins at once");

    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(view.release_expired());
    assert!(!view.effective().catalog.as_ref().is_some_and(|c| c.contains_key("api")), "then Consul's word is final");
    assert!(ids(&view, "api").is_empty());
}

#[test]
fn without_a_grace_period_a_reset_changes_nothing() {
    let mut view = View::default();
    view.apply(catalog(&["web"]));
    view.apply(instances("web", &["web-1"]));
    view.apply(Update::Reset);
    view.apply(instances("web", &[]));
    assert!(ids(&view, "web").is_empty());
    assert!(view.held_until().is_none());
}

#[tokio::test(start_paused = true)]
async fn a_second_reset_during_a_hold_keeps_what_was_held() {
    let mut view = View::new(Duration::from_secs(10));
    view.apply(catalog(&["web"]));
    view.apply(instances("web", &["web-1"]));
    // The health watch reconnects first and reports the reset...
    view.apply(Update::Reset);
    view.apply(instances("web", &[]));
    // ...then the catalog watch does too.
    view.apply(Update::Reset);
    view.apply(catalog(&[]));
    assert_eq!(ids(&view, "web"), vec!["web-1"]);
    assert!(view.effective().catalog.as_ref().is_some_and(|c| c.contains_key("web")));
}

#[test]
fn tags_are_parsed_when_they_change_and_forgotten_when_the_service_goes() {
    let mut view = View::new(Duration::ZERO);
    let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    let v1 = tags(&["portico.route=/a", "portico.lb=p2c"]);
    view.apply(Update::Catalog([("a".to_string(), v1.clone())].into_iter().collect()));
    assert_eq!(view.declarations("a", &v1).map(|d| d.routes.len()), Some(1));
    let v2 = tags(&["portico.route=/a", "portico.route=/b"]);
    view.apply(Update::Catalog([("a".to_string(), v2.clone())].into_iter().collect()));
    assert!(view.declarations("a", &v1).is_none(), "old tags are not answered for");
    assert_eq!(view.declarations("a", &v2).map(|d| d.routes.len()), Some(2));
    view.apply(Update::Catalog(Default::default()));
    assert!(view.declarations("a", &v2).is_none());
}

#[tokio::test(start_paused = true)]
async fn a_routed_service_is_pending_until_its_health_is_read_even_with_no_instance() {
    let mut view = View::new(Duration::ZERO);
    assert_eq!(view.pending(), 0);
    view.apply(catalog(&["web", "api"]));
    assert_eq!(view.pending(), 2, "the catalog alone does not make a replica ready");
    view.apply(instances("web", &["web-1"]));
    view.apply(instances("api", &[]));
    assert_eq!(view.pending(), 0, "an empty health reply is still a reply");
    assert!(view.catalog_at.is_some());
}
