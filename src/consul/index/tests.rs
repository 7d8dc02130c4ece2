use super::*;
use reqwest::header::HeaderValue;

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_static(v));
    }
    h
}

#[test]
fn the_reply_index_is_sent_back() {
    assert_eq!(next_index(0, 42), 42);
    assert_eq!(next_index(42, 42), 42, "a timeout keeps the index");
    assert_eq!(next_index(42, 57), 57);
}

#[test]
fn a_backwards_index_restarts_the_loop() {
    assert!(went_backwards(500, 12));
    assert_eq!(next_index(500, 12), 1, "reset to 0, then never below 1");
}

#[test]
fn zero_is_never_waited_on() {
    assert_eq!(next_index(0, 0), 1);
    assert_eq!(next_index(7, 0), 1);
}

#[test]
fn index_header_is_lenient() {
    assert_eq!(reply_index(&headers(&[("x-consul-index", "123")])), 123);
    assert_eq!(reply_index(&headers(&[("x-consul-index", "abc")])), 0);
    assert_eq!(reply_index(&headers(&[])), 0);
}

#[test]
fn known_leader_false_is_ignored_on_streaming() {
    let streaming = headers(&[("x-consul-knownleader", "false"), ("x-consul-query-backend", "streaming")]);
    assert!(!leader_missing(&streaming));
    let blocking = headers(&[("x-consul-knownleader", "false"), ("x-consul-query-backend", "blocking-query")]);
    assert!(leader_missing(&blocking));
    assert!(!leader_missing(&headers(&[("x-consul-knownleader", "true")])));
}
