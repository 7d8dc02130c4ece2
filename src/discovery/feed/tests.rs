use std::time::Duration;

use super::*;
use crate::consul::ConsulSettings;

fn feed() -> Feed {
    let settings = ConsulSettings::default();
    let discovery = Discovery {
        client: Client::new(&settings).expect("client"),
        settings,
        updates: tokio::sync::mpsc::channel(8).0,
        statuses: Default::default(),
    };
    Feed {
        discovery,
        followed: BTreeSet::new(),
        dirty: BTreeSet::new(),
        paused_until: None,
        backoff: super::super::backoff::Backoff::new(Duration::from_millis(100), Duration::from_secs(1)),
        rows: None,
        resynced_at: 7,
    }
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn row(service: &str, status: &str, modify: u64) -> CheckRow {
    CheckRow {
        node: "n1".into(),
        check_id: format!("{service}-1"),
        service_name: service.into(),
        status: status.into(),
        create_index: 1,
        modify_index: modify,
    }
}

#[test]
fn newly_followed_services_are_read_at_once_and_dropped_ones_never() {
    let mut feed = feed();
    feed.take_followed(&set(&["a", "b"]));
    assert_eq!(feed.dirty, set(&["a", "b"]));
    feed.dirty.clear();
    feed.take_followed(&set(&["b", "c"]));
    assert_eq!(feed.dirty, set(&["c"]), "b was read already; a is no longer followed");
}

#[test]
fn only_followed_services_whose_checks_moved_are_read() {
    let mut feed = feed();
    feed.take_followed(&set(&["a", "b"]));
    feed.dirty.clear();
    feed.checks_changed(vec![row("a", "passing", 5), row("b", "passing", 5), row("z", "passing", 5)]);
    assert!(feed.dirty.is_empty(), "the first reply is a baseline: followed services are read anyway");
    feed.checks_changed(vec![row("a", "critical", 9), row("b", "passing", 5), row("z", "critical", 9)]);
    assert_eq!(feed.dirty, set(&["a"]), "z has a watch of its own");
}

#[test]
fn a_resync_reads_everything_only_when_the_catalog_moved() {
    let mut feed = feed();
    feed.take_followed(&set(&["a", "b"]));
    feed.dirty.clear();
    feed.resync_if_catalog_moved(7);
    assert!(feed.dirty.is_empty(), "an idle catalog costs nothing");
    feed.resync_if_catalog_moved(8);
    assert_eq!(feed.dirty, set(&["a", "b"]));
    feed.dirty.clear();
    feed.resync_if_catalog_moved(8);
    assert!(feed.dirty.is_empty(), "once per move");
}
