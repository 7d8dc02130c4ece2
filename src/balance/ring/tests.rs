use super::*;

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("node-{}/api-{i}", i % 3)).collect()
}

fn owners(ring: &Ring, keys: usize, accept: impl Fn(usize) -> bool + Copy) -> Vec<usize> {
    (0..keys).map(|k| ring.pick(stable_hash(format!("user-{k}").as_bytes()), accept).unwrap()).collect()
}

#[test]
fn adding_one_instance_to_ten_moves_about_one_eleventh_of_the_keys() {
    let ten = names(10);
    let eleven = names(11);
    let before = owners(&Ring::new(ten.iter().map(|n| (n.as_str(), 1))), 100_000, |_| true);
    let after = owners(&Ring::new(eleven.iter().map(|n| (n.as_str(), 1))), 100_000, |_| true);
    let moved = before.iter().zip(&after).filter(|(a, b)| a != b).count();
    assert!(after.iter().zip(&before).all(|(a, b)| a == b || *a == 10), "a key moved between old instances");
    let share = moved as f64 / 100_000.0;
    assert!((0.06..=0.12).contains(&share), "moved {share:.4} of the keys, expected about 1/11 (0.0909)");
}

#[test]
fn a_skipped_instance_sends_its_keys_elsewhere_and_no_other_key_moves() {
    let ten = names(10);
    let ring = Ring::new(ten.iter().map(|n| (n.as_str(), 1)));
    let all = owners(&ring, 100_000, |_| true);
    let without_3 = owners(&ring, 100_000, |i| i != 3);
    for (a, b) in all.iter().zip(&without_3) {
        if *a == 3 {
            assert_ne!(*b, 3);
        } else {
            assert_eq!(a, b, "a key of a healthy instance moved");
        }
    }
}

#[test]
fn keys_spread_evenly_and_by_weight() {
    let ten = names(10);
    let counts = |ring: &Ring| {
        let mut c = [0usize; 10];
        owners(ring, 100_000, |_| true).into_iter().for_each(|i| c[i] += 1);
        c
    };
    let even = counts(&Ring::new(ten.iter().map(|n| (n.as_str(), 1))));
    assert!(even.iter().all(|c| (7_000..13_000).contains(c)), "{even:?}");
    let weighted = counts(&Ring::new(ten.iter().enumerate().map(|(i, n)| (n.as_str(), if i == 0 { 3 } else { 1 }))));
    assert!(weighted[0] > 2 * weighted[1..].iter().max().copied().unwrap_or(0), "{weighted:?}");
}

#[test]
fn the_hash_is_fixed_so_every_replica_agrees() {
    // Pinned values: a change here moves every client of every hash route.
    assert_eq!(stable_hash(b""), 0xefd0_1f60_ba99_2926);
    assert_eq!(stable_hash(b"portico"), 0xad85_3247_3b57_70da);
    let ring = Ring::new([("n1/a", 1), ("n2/b", 1)]);
    assert!(ring.pick(0, |_| false).is_none());
    assert!(Ring::new([]).is_empty());
}
