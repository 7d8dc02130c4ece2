use super::*;
use crate::http1::response;

fn request(raw: &[u8], forwarding: &Forwarding<'_>) -> String {
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut parsed = httparse::Request::new(&mut headers);
    parsed.parse(raw).expect("valid");
    let mut out = Vec::new();
    request_head(&mut out, false, ("/p", Some("q=1")), parsed.headers, forwarding);
    String::from_utf8(out).expect("text")
}

#[test]
fn the_request_loses_hop_by_hop_and_gains_forwarding_headers() {
    let raw = b"GET /x HTTP/1.1\r\nHost: shop\r\nConnection: keep-alive\r\nKeep-Alive: 5\r\nProxy-Authorization: x\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\nX-Auth-Subject: admin\r\nX-Request-Id: bad id\r\nAccept: */*\r\n\r\n";
    let forwarding = Forwarding {
        client: "10.0.0.7".parse().unwrap(),
        prior_for: Some("1.2.3.4"),
        proto: "http",
        host: "shop",
        new_request_id: Some(b"0000abcd-000000000001"),
    };
    assert_eq!(
        request(raw, &forwarding),
        "GET /p?q=1 HTTP/1.1\r\nHost: shop\r\nAccept: */*\r\nx-forwarded-for: 1.2.3.4, 10.0.0.7\r\n\
         x-forwarded-proto: http\r\nx-forwarded-host: shop\r\nx-request-id: 0000abcd-000000000001\r\n\r\n"
    );
}

#[test]
fn a_kept_request_id_and_an_ipv6_client_are_written_as_they_are() {
    let raw = b"GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: mine\r\n\r\n";
    let forwarding =
        Forwarding { client: "::1".parse().unwrap(), prior_for: None, proto: "http", host: "a", new_request_id: None };
    let written = request(raw, &forwarding);
    assert!(written.contains("X-Request-Id: mine\r\n"), "{written}");
    assert!(written.contains("x-forwarded-for: ::1\r\n"), "{written}");
}

fn answer(raw: &[u8], chunk: bool) -> String {
    let mut headers = response::header_room();
    let head = response::parse(raw, &mut headers, false).expect("valid").expect("whole");
    let mut out = Vec::new();
    let answering = Answering { request_id: b"rid", date: Some(b"Thu, 01 Jan 1970 00:00:00 GMT"), chunk };
    response_head(&mut out, &head, &answering);
    String::from_utf8(out).expect("text")
}

#[test]
fn the_answer_loses_hop_by_hop_headers_and_those_connection_names() {
    let raw = b"HTTP/1.1 200 Fine\r\nConnection: keep-alive, X-Trace\r\nX-Trace: 1\r\nKeep-Alive: timeout=5\r\nX-Request-Id: theirs\r\nContent-Length: 2\r\nDate: Mon, 30 Nov 2026 07:00:00 GMT\r\n\r\n";
    assert_eq!(
        answer(raw, false),
        "HTTP/1.1 200 Fine\r\nContent-Length: 2\r\nDate: Mon, 30 Nov 2026 07:00:00 GMT\r\nx-request-id: rid\r\n\r\n"
    );
}

#[test]
fn an_undated_answer_is_dated_and_a_re_chunked_one_says_so() {
    let written = answer(b"HTTP/1.1 404 \r\n\r\n", true);
    assert_eq!(
        written,
        "HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\nx-request-id: rid\r\ndate: Thu, 01 Jan 1970 00:00:00 GMT\r\n\r\n"
    );
}

#[test]
fn an_interim_answer_is_passed_on_bare() {
    let written = answer(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n", false);
    assert_eq!(written, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n");
}
