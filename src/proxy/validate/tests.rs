use super::*;
use http::HeaderValue;

fn headers(hosts: &[&str]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for host in hosts {
        map.append(header::HOST, HeaderValue::from_str(host).expect("header value"));
    }
    map
}

#[test]
fn good_hosts_pass() {
    for host in ["example.com", "shop.example.com:8080", "127.0.0.1:80", "[::1]", "[::1]:8443", "localhost", "a_b-c"] {
        assert!(valid_host(host.as_bytes()), "{host}");
        assert!(check_host(Version::HTTP_11, &headers(&[host])).is_ok(), "{host}");
    }
}

#[test]
fn malformed_hosts_are_refused() {
    for host in [
        "",
        "a b",
        "user@example.com",
        "example.com/path",
        "ex\\ample",
        "host:80:90",
        "host:port",
        "[::1",
        "[]",
        "host:1234567",
        "a?b",
        "a#b",
        "[::1]x",
    ] {
        assert!(!valid_host(host.as_bytes()), "{host:?}");
    }
}

#[test]
fn missing_or_repeated_host_is_refused_on_http_1_1() {
    assert!(
        matches!(check_host(Version::HTTP_11, &headers(&[])), Err(ProxyError::BadHost(m)) if m.contains("required"))
    );
    assert!(
        matches!(check_host(Version::HTTP_11, &headers(&["a", "b"])), Err(ProxyError::BadHost(m)) if m.contains("more than one"))
    );
    assert!(matches!(check_host(Version::HTTP_11, &headers(&["a", "a"])), Err(ProxyError::BadHost(_))));
}

#[test]
fn http_1_0_and_http_2_may_leave_host_out() {
    assert!(check_host(Version::HTTP_10, &headers(&[])).is_ok());
    assert!(check_host(Version::HTTP_2, &headers(&[])).is_ok());
}
