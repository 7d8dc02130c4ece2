use super::*;

#[test]
fn delays_double_within_jitter_bounds_and_cap() {
    let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
    let expected_ceilings = [100, 200, 400, 800, 1600, 2000, 2000, 2000];
    for ceiling in expected_ceilings {
        let d = b.next_delay().as_millis() as u64;
        assert!(d >= ceiling / 2 && d <= ceiling, "delay {d} outside [{}, {ceiling}]", ceiling / 2);
    }
}

#[test]
fn reset_starts_over() {
    let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
    for _ in 0..10 {
        b.next_delay();
    }
    b.reset();
    assert!(b.next_delay() <= Duration::from_millis(100));
}

#[test]
fn retrying_forever_does_not_overflow() {
    let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
    for _ in 0..10_000 {
        assert!(b.next_delay() <= Duration::from_secs(30));
    }
}

#[test]
fn jitter_spreads_delays() {
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..50 {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(1));
        seen.insert(b.next_delay().as_millis());
    }
    assert!(seen.len() > 10, "delays should differ: {seen:?}");
}
