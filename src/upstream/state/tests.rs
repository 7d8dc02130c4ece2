use super::*;

#[test]
fn in_flight_ends_when_the_guard_drops() {
    let s = Arc::new(InstanceState::default());
    let a = s.begin();
    let b = s.begin();
    assert_eq!(s.in_flight(), 2);
    drop(a);
    assert_eq!(s.in_flight(), 1);
    drop(b);
    assert_eq!(s.in_flight(), 0);
    assert_eq!(s.requests(), 2);
}

#[tokio::test(start_paused = true)]
async fn ejections_grow_and_expire() {
    let policy =
        Ejection { after_failures: 3, base: Duration::from_secs(1), max: Duration::from_secs(3), max_share: 1.0 };
    let s = InstanceState::default();
    assert!(!s.record_failure(3));
    assert!(!s.record_failure(3));
    assert!(s.record_failure(3), "the third failure in a row");
    assert_eq!(s.eject(clock_ms(), &policy), Duration::from_secs(1));
    assert!(s.is_ejected(clock_ms()));
    tokio::time::sleep(Duration::from_millis(1001)).await;
    assert!(!s.is_ejected(clock_ms()), "tried again after the ejection");
    assert!(s.record_failure(3), "still failing");
    assert_eq!(s.eject(clock_ms(), &policy), Duration::from_secs(2), "doubled");
    assert_eq!(s.eject(clock_ms(), &policy), Duration::from_secs(3), "capped");
    s.record_success();
    assert!(!s.record_failure(3), "a success ends the streak");
    assert_eq!(s.eject(clock_ms(), &policy), Duration::from_secs(1), "and the growth");
}

#[tokio::test(start_paused = true)]
async fn slow_start_ramps_from_a_tenth_to_full() {
    let s = InstanceState::default();
    let ramp = Duration::from_secs(10);
    assert_eq!(s.warmth(clock_ms(), Duration::ZERO), 1.0, "off by default");
    assert_eq!(s.warmth(clock_ms(), ramp), 0.1);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!((s.warmth(clock_ms(), ramp) - 0.5).abs() < 0.01);
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(s.warmth(clock_ms(), ramp), 1.0);
}
