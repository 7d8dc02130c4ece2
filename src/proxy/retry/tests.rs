use super::*;

#[test]
fn the_budget_allows_a_share_of_traffic() {
    let budget = RetryBudget::new(0.2, 5);
    let spent = (0..5).filter(|_| budget.withdraw()).count();
    assert_eq!(spent, 5, "the reserve");
    assert!(!budget.withdraw(), "then nothing until requests come");
    for _ in 0..100 {
        budget.deposit();
    }
    let spent = (0..100).filter(|_| budget.withdraw()).count();
    assert_eq!(spent, 5, "capped at the reserve: a burst cannot bank unlimited retries");
    for _ in 0..10 {
        budget.deposit();
    }
    assert_eq!((0..10).filter(|_| budget.withdraw()).count(), 2, "20% of 10 requests");
}

#[test]
fn a_zero_budget_never_retries_after_the_reserve() {
    let budget = RetryBudget::new(0.0, 1);
    assert!(budget.withdraw());
    for _ in 0..1000 {
        budget.deposit();
    }
    assert!(!budget.withdraw());
}

#[test]
fn what_may_be_retried() {
    assert!(may_retry(Failure::Connect, &Method::POST, true), "nothing was sent");
    assert!(!may_retry(Failure::Connect, &Method::POST, false), "the body is gone");
    assert!(may_retry(Failure::NoResponse, &Method::GET, true));
    assert!(may_retry(Failure::NoResponse, &Method::PUT, true));
    assert!(!may_retry(Failure::NoResponse, &Method::POST, true), "the instance may have acted");
    assert!(!may_retry(Failure::Other, &Method::GET, true));
}
