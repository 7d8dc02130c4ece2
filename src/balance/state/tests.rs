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

#[test]
fn surviving_instances_keep_their_state() {
    let old = StateRegistry::default();
    let mut first = StateRegistry::default();
    let kept = old.carry_instance(&mut first, "web-1");
    let gone = old.carry_instance(&mut first, "web-2");
    let _guard = kept.begin();

    let mut second = StateRegistry::default();
    let again = first.carry_instance(&mut second, "web-1");
    assert!(Arc::ptr_eq(&kept, &again));
    assert_eq!(again.in_flight(), 1);
    assert_eq!(second.instances(), 1);
    assert_eq!(Arc::strong_count(&gone), 2, "web-2 is only in `first` now");
}

#[test]
fn cursors_are_shared_per_service() {
    let old = StateRegistry::default();
    let mut next = StateRegistry::default();
    let a = old.carry_cursor(&mut next, "web");
    let b = old.carry_cursor(&mut next, "web");
    assert!(Arc::ptr_eq(&a, &b));
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
