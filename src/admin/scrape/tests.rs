use std::sync::Arc;

use arc_swap::ArcSwap;

use super::StateGauges;
use crate::discovery::Statuses;
use crate::metrics::Metrics;
use crate::snapshot::Snapshot;

#[test]
fn state_gauges_are_read_at_scrape_time_and_a_stopped_watch_is_forgotten() {
    let statuses = Statuses::default();
    let snapshot = Arc::new(ArcSwap::from_pointee(Snapshot { generation: 7, ..Snapshot::default() }));
    let gauges = StateGauges { snapshot: Arc::clone(&snapshot), statuses: statuses.clone() };
    let metrics = Metrics::default().with_collector(Box::new(gauges));
    statuses.add("health:gone").ok(42);
    let before = metrics.render();
    assert!(before.contains("portico_snapshot_generation 7"), "{before}");
    assert!(before.contains(r#"portico_consul_watch_index{watch="health:gone"} 42"#), "{before}");
    assert!(before.contains(r#"portico_consul_requests_total{watch="health:gone",result="ok"} 1"#), "{before}");
    statuses.remove("health:gone");
    snapshot.store(Arc::new(Snapshot { generation: 8, ..Snapshot::default() }));
    let after = metrics.render();
    assert!(!after.contains("health:gone"), "{after}");
    assert!(after.contains("portico_snapshot_generation 8"), "{after}");
}
