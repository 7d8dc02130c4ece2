use super::*;

#[test]
fn route_handles_count_by_instance_and_class() {
    let metrics = Metrics::default();
    let route = metrics.route("/web", &["web-1", "web-2"]);
    route.record(Some(0), 200, 0.01);
    route.record(Some(0), 204, 0.01);
    route.record(Some(1), 502, 0.01);
    route.record(None, 503, 0.0);
    route.upstream_error(UpstreamErrorKind::Connect);
    let text = metrics.render(&Snapshot::default(), &Statuses::default());
    assert!(text.contains(r#"portico_requests_total{route="/web",instance="web-1",class="2xx"} 2"#), "{text}");
    assert!(text.contains(r#"portico_requests_total{route="/web",instance="web-2",class="5xx"} 1"#), "{text}");
    assert!(text.contains(r#"portico_requests_total{route="/web",instance="none",class="5xx"} 1"#), "{text}");
    assert!(text.contains(r#"portico_upstream_errors_total{route="/web",kind="connect"} 1"#), "{text}");
    assert!(text.contains(r#"portico_request_duration_seconds_count{route="/web"} 4"#), "{text}");
}

#[test]
fn departed_instances_lose_their_series() {
    let metrics = Metrics::default();
    metrics.route("/web", &["gone-1"]).record(Some(0), 200, 0.0);
    metrics.retain(&Snapshot::default());
    let text = metrics.render(&Snapshot::default(), &Statuses::default());
    assert!(!text.contains("gone-1"), "{text}");
}

#[test]
fn odd_status_codes_land_in_a_class() {
    let metrics = Metrics::default();
    let route = metrics.route("/x", &["a"]);
    route.record(Some(0), 99, 0.0);
    route.record(Some(0), 999, 0.0);
    let text = metrics.render(&Snapshot::default(), &Statuses::default());
    assert!(text.contains(r#"class="1xx"} 1"#) && text.contains(r#"class="5xx"} 1"#), "{text}");
}
