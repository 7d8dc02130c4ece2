use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use super::*;
use crate::consul::Instance;
use crate::snapshot::Snapshot;

fn instances(n: u16) -> Update {
    let list = (0..n)
        .map(|i| Instance {
            id: format!("web-{i}"),
            node: "node-1".into(),
            address: "127.0.0.1".into(),
            port: 9000 + i,
            weight: 1,
            meta: Default::default(),
            tags: Vec::new(),
        })
        .collect();
    Update::Instances { service: "web".into(), instances: list }
}

fn catalog() -> Update {
    Update::Catalog([("web".to_string(), vec!["portico.route=/web".to_string()])].into_iter().collect())
}

#[tokio::test(start_paused = true)]
async fn an_isolated_update_is_published_at_once() {
    let shared: Shared = Arc::new(ArcSwap::from_pointee(Snapshot::default()));
    let builder = Builder::new(Vec::new(), shared.clone(), Duration::from_millis(50), Arc::default());
    assert_eq!(shared.load().generation, 1);
    let (tx, rx) = mpsc::channel(16);
    let task = tokio::spawn(builder.run(rx));
    let start = Instant::now();
    tx.send(catalog()).await.expect("builder alive");
    while shared.load().generation < 2 {
        tokio::task::yield_now().await;
    }
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert!(shared.load().route("/web").is_some());
    drop(tx);
    task.await.expect("builder ends when discovery does");
}

#[tokio::test(start_paused = true)]
async fn a_flapping_burst_is_coalesced() {
    let shared: Shared = Arc::new(ArcSwap::from_pointee(Snapshot::default()));
    let builder = Builder::new(Vec::new(), shared.clone(), Duration::from_millis(5), Arc::default());
    let (tx, rx) = mpsc::channel(1024);
    let task = tokio::spawn(builder.run(rx));
    tx.send(catalog()).await.expect("alive");
    // 200 flaps, one per millisecond (the timer's resolution).
    let start = Instant::now();
    for i in 0..200u16 {
        tx.send(instances(1 + i % 2)).await.expect("alive");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let generation = shared.load().generation;
    // Generation 1 at start, then at most one build per 5 ms.
    let allowed = 2 + start.elapsed().as_millis() as u64 / 5;
    assert!(generation <= allowed, "{generation} builds for 200 flaps, allowed {allowed}");
    assert!(generation >= 10, "updates keep flowing during a flap storm: {generation}");
    let last = shared.load();
    assert_eq!(last.route("/web").expect("route").upstream.endpoints.len(), 2, "the last state wins");
    drop(tx);
    task.await.expect("clean end");
}

#[tokio::test(start_paused = true)]
async fn unchanged_updates_build_nothing() {
    let shared: Shared = Arc::new(ArcSwap::from_pointee(Snapshot::default()));
    let builder = Builder::new(Vec::new(), shared.clone(), Duration::from_millis(1), Arc::default());
    let (tx, rx) = mpsc::channel(16);
    let task = tokio::spawn(builder.run(rx));
    tx.send(instances(2)).await.expect("alive");
    tokio::time::sleep(Duration::from_millis(10)).await;
    let before = shared.load().generation;
    for _ in 0..5 {
        tx.send(instances(2)).await.expect("alive");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(shared.load().generation, before);
    drop(tx);
    task.await.expect("clean end");
}

#[tokio::test(start_paused = true)]
async fn a_reset_is_held_for_the_grace_period_then_released_by_the_timer() {
    let shared: Shared = Arc::new(ArcSwap::from_pointee(Snapshot::default()));
    let grace = Duration::from_secs(15);
    let builder = Builder::holding(Vec::new(), shared.clone(), Duration::from_millis(1), Arc::default(), grace);
    let (tx, rx) = mpsc::channel(16);
    let task = tokio::spawn(builder.run(rx));
    let count = |s: &Shared| s.load().route("/web").map_or(0, |r| r.upstream.endpoints.len());
    tx.send(catalog()).await.expect("alive");
    tx.send(instances(2)).await.expect("alive");
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(count(&shared), 2);

    tx.send(Update::Reset).await.expect("alive");
    tx.send(Update::Instances { service: "web".into(), instances: Vec::new() }).await.expect("alive");
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(count(&shared), 2, "held");
    tokio::time::sleep(grace).await;
    assert_eq!(count(&shared), 0, "released when the grace period ends, with no further update");
    drop(tx);
    task.await.expect("clean end");
}
