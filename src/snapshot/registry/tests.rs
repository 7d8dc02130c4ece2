use super::*;

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
