use super::*;
use crate::consul::ConsulSettings;

fn client(address: &str) -> Client {
    Client::new(&ConsulSettings { address: address.into(), ..ConsulSettings::default() }).expect("client")
}

#[test]
fn over_http1_a_slot_is_a_connection_and_the_feed_keeps_its_share() {
    let lanes = Lanes::new(client("http://127.0.0.1:8500"), 10);
    let leases: Vec<Lease> = std::iter::from_fn(|| lanes.lease()).take(100).collect();
    assert_eq!(leases.len(), 10 - RESERVED_HTTP1, "the feed's and the idle pool's connections are kept back");
    assert_eq!(lanes.connections(true), 10, "with the feed running, the budget is used exactly");
    drop(leases);
    assert_eq!(lanes.connections(false), crate::consul::HTTP1_IDLE_CONNECTIONS, "at most the idle pool");
    assert!(lanes.lease().is_some(), "a dropped lease frees its slot");
}

#[test]
fn over_http2_slots_are_streams_spread_over_connections_opened_as_needed() {
    let lanes = Lanes::new(client("https://127.0.0.1:8501"), 3);
    let first: Vec<Lease> = std::iter::from_fn(|| lanes.lease()).take(STREAMS_PER_CONNECTION).collect();
    assert_eq!(lanes.connections(false), 1, "one connection carries {STREAMS_PER_CONNECTION} watches");
    let rest: Vec<Lease> = std::iter::from_fn(|| lanes.lease()).take(10_000).collect();
    assert_eq!(first.len() + rest.len(), 3 * STREAMS_PER_CONNECTION, "three connections, full");
    assert_eq!(lanes.connections(false), 3);
    drop(rest);
    let again = lanes.lease().expect("a freed stream is handed out again");
    assert_eq!(lanes.connections(false), 3, "lanes stay open for reuse");
    assert_ne!(again.lane, 0, "the least loaded lane is chosen");
}

#[test]
fn http2_can_be_turned_off_for_an_https_agent() {
    let settings =
        ConsulSettings { address: "https://127.0.0.1:8501".into(), http2: false, ..ConsulSettings::default() };
    let lanes = Lanes::new(Client::new(&settings).expect("client"), 8);
    let leases: Vec<Lease> = std::iter::from_fn(|| lanes.lease()).take(100).collect();
    assert_eq!(leases.len(), 8 - RESERVED_HTTP1);
}
