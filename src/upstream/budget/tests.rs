use super::*;

#[test]
fn the_budget_allows_a_share_of_traffic() {
    let (budget, policy) = (RetryBudget::default(), BudgetPolicy::new(0.2, 5));
    let spent = (0..5).filter(|_| budget.withdraw(&policy)).count();
    assert_eq!(spent, 5, "the reserve");
    assert!(!budget.withdraw(&policy), "then nothing until requests come");
    for _ in 0..100 {
        budget.deposit(&policy);
    }
    let spent = (0..100).filter(|_| budget.withdraw(&policy)).count();
    assert_eq!(spent, 5, "capped at the reserve: a burst cannot bank unlimited retries");
    for _ in 0..10 {
        budget.deposit(&policy);
    }
    assert_eq!((0..10).filter(|_| budget.withdraw(&policy)).count(), 2, "20% of 10 requests");
}

#[test]
fn a_zero_budget_never_retries_after_the_reserve() {
    let (budget, policy) = (RetryBudget::default(), BudgetPolicy::new(0.0, 1));
    assert!(budget.withdraw(&policy));
    for _ in 0..1000 {
        budget.deposit(&policy);
    }
    assert!(!budget.withdraw(&policy));
}

#[test]
fn two_listeners_drawing_on_one_route_share_its_budget() {
    let (route, policy) = (RetryBudget::default(), BudgetPolicy::new(0.0, 2));
    let (plain, tls) = (&route, &route);
    assert!(plain.withdraw(&policy));
    assert!(tls.withdraw(&policy));
    assert!(!plain.withdraw(&policy) && !tls.withdraw(&policy), "the reserve is the route's, not each listener's");
}
