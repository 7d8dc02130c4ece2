use super::*;

#[test]
fn route_handles_count_by_instance_and_class() {
    let metrics = Metrics::default();
    let route = metrics.route("/web", &[("n1", "web-1"), ("n2", "web-2")]);
    route.record(Some(0), 200, 0.01);
    route.record(Some(0), 204, 0.01);
    route.record(Some(1), 502, 0.01);
    route.record(None, 503, 0.0);
    route.upstream_error(UpstreamErrorKind::Connect);
    let text = metrics.render();
    assert!(
        text.contains(r#"portico_requests_total{route="/web",instance="web-1",node="n1",class="2xx"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"portico_requests_total{route="/web",instance="web-2",node="n2",class="5xx"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"portico_requests_total{route="/web",instance="none",node="",class="5xx"} 1"#), "{text}");
    assert!(text.contains(r#"portico_upstream_errors_total{route="/web",kind="connect"} 1"#), "{text}");
    assert!(text.contains(r#"portico_request_duration_seconds_count{route="/web"} 4"#), "{text}");
}

#[test]
fn departed_instances_lose_their_series() {
    let metrics = Metrics::default();
    metrics.route("/web", &[("n1", "gone-1")]).record(Some(0), 200, 0.0);
    metrics.retain(|_| false, |_, _, _| false);
    let text = metrics.render();
    assert!(!text.contains("gone-1"), "{text}");
}

#[test]
fn odd_status_codes_land_in_a_class() {
    let metrics = Metrics::default();
    let route = metrics.route("/x", &[("n1", "a")]);
    route.record(Some(0), 99, 0.0);
    route.record(Some(0), 999, 0.0);
    let text = metrics.render();
    assert!(text.contains(r#"class="1xx"} 1"#) && text.contains(r#"class="5xx"} 1"#), "{text}");
}

#[test]
fn a_removed_route_loses_every_series() {
    let metrics = Metrics::default();
    let gone = metrics.route("/gone", &[("n1", "gone-1")]).with_edge(Some(metrics.edge("/gone")));
    gone.record(Some(0), 200, 0.01);
    gone.upstream_error(UpstreamErrorKind::Timeout);
    gone.retried();
    gone.ejected();
    gone.edge(EdgeOutcome::CacheHit);
    let before = metrics.render();
    assert!(before.contains(r#"route="/gone""#), "{before}");
    metrics.retain(|_| false, |_, _, _| false);
    let after = metrics.render();
    let left: Vec<&str> = after.lines().filter(|l| l.contains("/gone")).collect();
    assert!(left.is_empty(), "series of a removed route remain: {left:#?}");
}

#[test]
fn a_route_without_traffic_exports_no_series() {
    let metrics = Metrics::default();
    let quiet = metrics.route("/quiet", &[("n1", "q-1"), ("n2", "q-2")]);
    let text = metrics.render();
    assert!(!text.contains("/quiet"), "ten thousand idle routes would export nothing: {text}");
    quiet.record(Some(1), 200, 0.01);
    let text = metrics.render();
    assert!(
        text.contains(r#"portico_requests_total{route="/quiet",instance="q-2",node="n2",class="2xx"} 1"#),
        "{text}"
    );
    assert!(!text.contains("q-1"), "only the instance that served gets series: {text}");
}

#[test]
fn an_instance_that_leaves_a_route_that_stays_loses_only_its_series() {
    let metrics = Metrics::default();
    let route = metrics.route("/web", &[("n1", "stays"), ("n1", "leaves")]);
    route.record(Some(0), 200, 0.0);
    route.record(Some(1), 200, 0.0);
    metrics.retain(|prefix| prefix == "/web", |_, _, id| id == "stays");
    let text = metrics.render();
    assert!(text.contains(r#"instance="stays""#), "{text}");
    assert!(!text.contains(r#"instance="leaves""#), "{text}");
    assert!(text.contains(r#"portico_request_duration_seconds_count{route="/web"} 2"#), "{text}");
}
