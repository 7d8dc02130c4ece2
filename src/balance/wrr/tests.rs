use super::*;

fn counts(schedule: &[u32], n: usize) -> Vec<usize> {
    let mut c = vec![0; n];
    for &i in schedule {
        c[i as usize] += 1;
    }
    c
}

#[test]
fn classic_nginx_sequence() {
    // nginx's documented example: weights 5, 1, 1 give a a b a c a a.
    assert_eq!(&*smooth_schedule(&[5, 1, 1]), &[0, 0, 1, 0, 2, 0, 0]);
}

#[test]
fn shares_match_weights() {
    let s = smooth_schedule(&[10, 3, 1]);
    assert_eq!(counts(&s, 3), vec![10, 3, 1]);
}

#[test]
fn zero_weight_still_gets_a_turn() {
    let s = smooth_schedule(&[0, 2]);
    assert_eq!(counts(&s, 2), vec![1, 2]);
}

#[test]
fn huge_weights_are_scaled_not_dropped() {
    let s = smooth_schedule(&[65535, 65535, 1]);
    assert!(s.len() as u64 <= MAX_SCHEDULE + 3);
    let c = counts(&s, 3);
    assert_eq!(c[0], c[1]);
    assert!(c[2] >= 1);
}

#[test]
fn empty_weights_give_an_empty_schedule() {
    assert!(smooth_schedule(&[]).is_empty());
}
