use super::*;

#[test]
fn what_may_be_retried() {
    assert!(may_retry(Failure::Connect, &Method::POST, true), "nothing was sent");
    assert!(!may_retry(Failure::Connect, &Method::POST, false), "the body is gone");
    assert!(may_retry(Failure::NoResponse, &Method::GET, true));
    assert!(may_retry(Failure::NoResponse, &Method::PUT, true));
    assert!(!may_retry(Failure::NoResponse, &Method::POST, true), "the instance may have acted");
    assert!(!may_retry(Failure::Other, &Method::GET, true));
}
