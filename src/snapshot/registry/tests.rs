use super::*;

#[test]
fn surviving_instances_keep_their_state() {
    let mut old = StateRegistry::default();
    let mut first = StateRegistry::default();
    let (kept, _) = first.carry_instance(&mut old, "web", "n/web-1");
    let (gone, _) = first.carry_instance(&mut old, "web", "n/web-2");
    assert!(first.finish(old).is_empty());
    let _guard = kept.begin();

    let mut second = StateRegistry::default();
    let (again, _) = second.carry_instance(&mut first, "web", "n/web-1");
    assert!(Arc::ptr_eq(&kept, &again));
    assert_eq!(again.in_flight(), 1);
    assert_eq!(second.instances(), 1);
    let departed = second.finish(first);
    assert_eq!(departed.len(), 1, "web-2 departed");
    assert!(Arc::ptr_eq(&departed[0].entry.0, &gone));
}

#[test]
fn a_kept_service_moves_whole_and_a_vanished_one_departs() {
    let mut old = StateRegistry::default();
    let mut first = StateRegistry::default();
    let cursor = first.carry_cursor(&mut old, "a");
    first.carry_instance(&mut old, "a", "n/a-1");
    first.carry_instance(&mut old, "b", "n/b-1");
    first.finish(old);

    let mut second = StateRegistry::default();
    second.keep_service(&mut first, "a");
    assert!(Arc::ptr_eq(&cursor, &second.carry_cursor(&mut first, "a")), "the same cursor");
    assert!(second.contains("n/a-1"));
    let departed = second.finish(first);
    assert_eq!(departed.iter().map(|d| d.key.as_str()).collect::<Vec<_>>(), ["n/b-1"], "b is gone");
}

#[test]
fn cursors_are_shared_per_service() {
    let mut old = StateRegistry::default();
    let mut next = StateRegistry::default();
    let a = next.carry_cursor(&mut old, "web");
    let b = next.carry_cursor(&mut old, "web");
    assert!(Arc::ptr_eq(&a, &b));
}
