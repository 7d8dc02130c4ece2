use super::*;

fn balancer(policy: Policy, weights: &[u32]) -> Balancer {
    Balancer::new(policy, weights, Arc::default())
}

#[test]
fn round_robin_visits_each_in_turn() {
    let b = balancer(Policy::RoundRobin, &[1, 1, 1]);
    let picks: Vec<_> = (0..6).filter_map(|_| b.pick(3, |_| 0)).collect();
    assert_eq!(picks, vec![0, 1, 2, 0, 1, 2]);
}

#[test]
fn no_candidate_no_pick() {
    for policy in [Policy::RoundRobin, Policy::WeightedRoundRobin, Policy::PowerOfTwo] {
        assert_eq!(balancer(policy, &[]).pick(0, |_| 0), None);
        assert_eq!(balancer(policy, &[7]).pick(1, |_| 0), Some(0));
    }
}

#[test]
fn weighted_distribution_matches_weights() {
    let b = balancer(Policy::WeightedRoundRobin, &[5, 3, 2]);
    let mut counts = [0usize; 3];
    for _ in 0..1000 {
        counts[b.pick(3, |_| 0).expect("candidates")] += 1;
    }
    assert_eq!(counts, [500, 300, 200]);
}

#[test]
fn power_of_two_prefers_the_less_loaded() {
    let b = balancer(Policy::PowerOfTwo, &[1, 1]);
    let load = [10, 0];
    for _ in 0..100 {
        assert_eq!(b.pick(2, |i| load[i]), Some(1));
    }
}

#[test]
fn power_of_two_never_picks_the_busiest_of_three() {
    let b = balancer(Policy::PowerOfTwo, &[1, 1, 1]);
    let load = [5, 100, 5];
    for _ in 0..200 {
        assert_ne!(b.pick(3, |i| load[i]), Some(1));
    }
}

#[test]
fn policy_names_round_trip() {
    for p in [Policy::RoundRobin, Policy::WeightedRoundRobin, Policy::PowerOfTwo] {
        assert_eq!(p.to_string().parse::<Policy>(), Ok(p));
    }
    assert!("fastest".parse::<Policy>().is_err());
}
