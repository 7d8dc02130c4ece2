use super::*;
use crate::consul::Instance;
use crate::discovery::Update;
use crate::metrics::Metrics;
use crate::snapshot::build::{build, View};
use crate::snapshot::registry::StateRegistry;

fn snapshot(ids: &[&str]) -> Snapshot {
    let mut view = View::default();
    view.apply(Update::Catalog([("web".to_string(), vec!["portico.route=/web".to_string()])].into_iter().collect()));
    let instances = ids
        .iter()
        .enumerate()
        .map(|(i, id)| Instance {
            id: id.to_string(),
            node: "node-1".into(),
            address: "127.0.0.1".into(),
            port: 8000 + i as u16,
            weight: 1,
            meta: Default::default(),
            tags: Vec::new(),
        })
        .collect();
    view.apply(Update::Instances { service: "web".into(), instances });
    build(&view, &[], &StateRegistry::default(), 1, &Metrics::default()).0
}

#[test]
fn shares_follow_recent_requests() {
    let snap = snapshot(&["a", "b"]);
    let mut rates = HashMap::new();
    sample(&snap, &mut rates);
    let endpoints = &snap.route("/web").expect("route").upstream.endpoints;
    for _ in 0..30 {
        drop(endpoints[0].state.begin());
    }
    for _ in 0..10 {
        drop(endpoints[1].state.begin());
    }
    endpoints[1].state.record_failure(0);
    let view = sample(&snap, &mut rates);
    let inst = &view.routes[0].instances;
    assert_eq!(inst[0].id, "a");
    assert!((inst[0].share - 0.75).abs() < 1e-9, "{inst:?}");
    assert!((inst[1].share - 0.25).abs() < 1e-9, "{inst:?}");
    assert!(inst[0].rps > 0.0);
    assert!((inst[1].error_rate - 0.1).abs() < 1e-9, "{inst:?}");
}

#[test]
fn idle_routes_have_no_share() {
    let snap = snapshot(&["a"]);
    let mut rates = HashMap::new();
    sample(&snap, &mut rates);
    let view = sample(&snap, &mut rates);
    assert_eq!(view.routes[0].instances[0].share, 0.0);
    assert_eq!(view.routes[0].instances[0].rps, 0.0);
}

#[tokio::test(start_paused = true)]
async fn the_sampler_publishes_four_times_a_second() {
    let shared: Shared = Arc::new(arc_swap::ArcSwap::from_pointee(snapshot(&["a"])));
    let traffic = Traffic::default();
    let mut rx = traffic.subscribe();
    let stop = CancellationToken::new();
    let task = tokio::spawn(traffic.clone().run(shared, stop.clone()));
    let start = tokio::time::Instant::now();
    for _ in 0..5 {
        rx.changed().await.expect("sampler alive");
    }
    assert_eq!(start.elapsed(), Duration::from_millis(1000), "first tick at once, then every 250 ms");
    assert_eq!(rx.borrow().routes[0].prefix, "/web");
    stop.cancel();
    task.await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn nobody_looking_means_no_sampling() {
    let shared: crate::snapshot::Shared = Arc::new(arc_swap::ArcSwap::from_pointee(snapshot(&["a", "b"])));
    let (traffic, stop) = (Traffic::default(), CancellationToken::new());
    tokio::spawn(traffic.clone().run(shared, stop.clone()));
    tokio::time::sleep(TICK * 8).await;
    assert!(traffic.view.borrow().routes.is_empty(), "nobody looked: nothing sampled");
    assert!(traffic.latest().routes.is_empty(), "the first look finds nothing yet");
    tokio::time::sleep(TICK * 2).await;
    assert_eq!(traffic.latest().routes.len(), 1, "sampled once someone looked");
    tokio::time::sleep(WATCHED_FOR + TICK * 2).await;
    assert!(traffic.view.borrow().routes.is_empty(), "stops once nobody looks for {WATCHED_FOR:?}");
    let dashboard = traffic.subscribe();
    tokio::time::sleep(TICK * 2).await;
    assert_eq!(traffic.view.borrow().routes.len(), 1, "a connected dashboard keeps it sampling");
    drop(dashboard);
    stop.cancel();
}
