use super::*;

fn spec() -> CanarySpec {
    CanarySpec { share: Some(Share::parse("10%").unwrap()), ..CanarySpec::default() }
}

fn feed(health: &CanaryHealth, side: Side, requests: u32, errors: u32, now_ms: u64) -> Option<Abort> {
    // Errors spread evenly over the requests, as real traffic has them.
    let mut abort = None;
    for i in 0..requests {
        let error = (i + 1) * errors / requests != i * errors / requests;
        abort = abort.or(health.record(side, error, now_ms, &spec()));
    }
    abort
}

#[test]
fn a_canary_failing_well_beyond_the_stable_side_is_aborted() {
    let health = CanaryHealth::default();
    assert!(feed(&health, Side::Stable, 200, 2, 1_000).is_none());
    let abort = feed(&health, Side::Canary, 30, 15, 1_000).expect("aborted");
    assert!(health.is_aborted());
    assert_eq!(health.effective(Share::parse("10%").unwrap()), Share::default());
    assert!(abort.reason.contains("exceeds the stable side"), "{}", abort.reason);
    assert_eq!(health.abort().map(|a| a.at_ms), Some(1_000));
}

#[test]
fn no_verdict_before_enough_canary_requests_or_within_the_margin() {
    let health = CanaryHealth::default();
    assert!(feed(&health, Side::Canary, 10, 10, 1_000).is_none(), "10 requests are too few to judge");
    let health = CanaryHealth::default();
    feed(&health, Side::Stable, 100, 20, 1_000);
    assert!(feed(&health, Side::Canary, 100, 25, 1_000).is_none(), "25% against 20% is inside a 10% margin");
    assert!(!health.is_aborted());
}

#[test]
fn old_failures_leave_the_window() {
    let health = CanaryHealth::default();
    feed(&health, Side::Canary, 19, 19, 1_000);
    let later = 1_000 + 70_000;
    assert_eq!(health.rates(later, spec().window).canary_requests, 0);
    assert!(feed(&health, Side::Canary, 19, 0, later).is_none());
    assert!(health.record(Side::Canary, true, later, &spec()).is_none(), "1 failure in 20 is 5%");
}

#[test]
fn abort_off_never_aborts() {
    let health = CanaryHealth::default();
    let off = CanarySpec { abort_margin: None, ..spec() };
    for _ in 0..100 {
        assert!(health.record(Side::Canary, true, 1_000, &off).is_none());
    }
}
