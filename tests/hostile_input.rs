//! Malformed and hostile requests over raw TCP: each gets the right status
//! (or a closed connection), nothing bad reaches an instance, and a normal
//! request succeeds right after each one. Hostile HTTP/2 instances too: a
//! stream reset, a refused stream, a flood of response headers.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::one_web_instance as setup;

/// A closed connection, in the expectations below.
const CLOSED: u16 = 0;

/// Sends `request` and returns the status of the first response, or CLOSED.
async fn status_of(addr: SocketAddr, request: &[u8]) -> u16 {
    let Ok(mut stream) = TcpStream::connect(addr).await else { return CLOSED };
    if stream.write_all(request).await.is_err() {
        return CLOSED;
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(5);
    while !buf.windows(2).any(|w| w == b"\r\n") {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            Ok(_) => return CLOSED,
            Err(_) => {
                panic!("no answer within 5 s to {:?}", String::from_utf8_lossy(&request[..request.len().min(80)]))
            }
        }
    }
    let line = String::from_utf8_lossy(&buf);
    line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(CLOSED)
}

fn cases() -> Vec<(&'static str, Vec<u8>, &'static [u16])> {
    let mut c: Vec<(&'static str, Vec<u8>, &'static [u16])> = vec![
        ("garbage request line", b"GARBAGE\r\n\r\n".to_vec(), &[400]),
        ("method only", b"GET\r\n\r\n".to_vec(), &[400]),
        ("unknown HTTP version", b"GET /web HTTP/9.9\r\nHost: x\r\n\r\n".to_vec(), &[400, 505]),
        ("invalid method token", b"G@T /web HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), &[400]),
        ("NUL in method", b"G\0T /web HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), &[400]),
        ("space in header name", b"GET /web HTTP/1.1\r\nHost: x\r\nBad Header: x\r\n\r\n".to_vec(), &[400]),
        ("header without colon", b"GET /web HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n".to_vec(), &[400]),
        ("NUL in header name", b"GET /web HTTP/1.1\r\nHost: x\r\nX\0Y: z\r\n\r\n".to_vec(), &[400]),
        ("NUL in header value", b"GET /web HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n".to_vec(), &[400]),
        ("DEL in header value", b"GET /web HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n".to_vec(), &[400]),
        ("obsolete line folding", b"GET /web HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n".to_vec(), &[400]),
        ("non-UTF-8 byte in path", b"GET /web/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), &[400]),
        ("NUL in path", b"GET /web/\0 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), &[400]),
        ("space in path", b"GET /web/a b HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), &[400]),
        ("invalid percent-encoding", b"GET /web/%zz HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), &[400]),
        ("truncated percent-encoding", b"GET /web/%2 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), &[400]),
        ("dot-segment traversal", b"GET /web/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), &[404]),
        ("encoded traversal", b"GET /web/%2e%2e/%2E%2E/admin HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), &[404]),
        ("encoded slash is not a separator", b"GET /web%2Fx HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), &[404]),
        ("backslash traversal", b"GET /web\\..\\admin HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), &[400, 404]),
        ("asterisk-form outside OPTIONS", b"GET * HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), &[400]),
        ("OPTIONS *", b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), &[400]),
        ("CONNECT tunnel", b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n".to_vec(), &[400, 405]),
        ("absolute-form, routed by path only", b"GET http://evil.example/web HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), &[200]),
        ("absolute-form, unknown path", b"GET http://evil.example/admin HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), &[404]),
        ("duplicate slashes", b"GET //web//x HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), &[200]),
        ("HTTP/1.0", b"GET /web HTTP/1.0\r\n\r\n".to_vec(), &[200]),
        ("lower-case method is an extension method", b"get /web HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), &[200]),
        ("two different Content-Lengths", b"POST /web HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!".to_vec(), &[400]),
        ("non-numeric Content-Length", b"POST /web HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n".to_vec(), &[400]),
        ("negative Content-Length", b"POST /web HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n".to_vec(), &[400]),
        ("signed Content-Length", b"POST /web HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello".to_vec(), &[400]),
        ("Content-Length overflow", b"POST /web HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n".to_vec(), &[400]),
        ("non-chunked final transfer coding", b"POST /web HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n".to_vec(), &[400, 501]),
        ("chunked on HTTP/1.0", b"POST /web HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(), &[400]),
        ("bad chunk size", b"POST /web HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n".to_vec(), &[400, CLOSED]),
        ("chunk size overflow", b"POST /web HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nx\r\n0\r\n\r\n".to_vec(), &[400, CLOSED]),
        ("chunk longer than declared", b"POST /web HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n".to_vec(), &[400, CLOSED]),
        ("pipelined requests", b"GET /web HTTP/1.1\r\nHost: x\r\n\r\nGET /web HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), &[200]),
        ("Expect: 100-continue", b"POST /web HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi".to_vec(), &[100, 200]),
        // RFC 9112 §3.2: the target host must be there, once, and well formed.
        ("HTTP/1.1 without Host", b"GET /web HTTP/1.1\r\n\r\n".to_vec(), &[400]),
        ("two Host lines", b"GET /web HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n".to_vec(), &[400]),
        ("two equal Host lines", b"GET /web HTTP/1.1\r\nHost: a.test\r\nHost: a.test\r\n\r\n".to_vec(), &[400]),
        ("Host with user info", b"GET /web HTTP/1.1\r\nHost: user@evil.test\r\n\r\n".to_vec(), &[400]),
        ("Host with a path", b"GET /web HTTP/1.1\r\nHost: a.test/admin\r\n\r\n".to_vec(), &[400]),
        ("Host with a bad port", b"GET /web HTTP/1.1\r\nHost: a.test:http\r\n\r\n".to_vec(), &[400]),
        ("empty Host", b"GET /web HTTP/1.1\r\nHost:\r\n\r\n".to_vec(), &[400]),
        ("absolute-form without Host", b"GET http://a.test/web HTTP/1.1\r\n\r\n".to_vec(), &[400]),
        // Encoded characters that front and back ends read differently.
        ("encoded slash in a routed path", b"GET /web/..%2fnope HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), &[400]),
        ("encoded backslash", b"GET /web/a%5Cb HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), &[400]),
        ("encoded NUL", b"GET /web/a%00.json HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), &[400]),
        ("encoded semicolon", b"GET /web/a%3Bjsessionid=1 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), &[400]),
        ("double encoding", b"GET /web/a%252F HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), &[400]),
        ("encoded question mark", b"GET /web/a%3Fadmin=1 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), &[400]),
        ("encoded hash", b"GET /web/a%23frag HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), &[400]),
        ("harmless escape", b"GET /web/caf%C3%A9 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), &[200]),
    ];
    let mut long_uri = b"GET /web/".to_vec();
    long_uri.extend(std::iter::repeat_n(b'a', 70 * 1024));
    long_uri.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\n\r\n");
    c.push(("70 KiB URI", long_uri, &[414, 431, 400]));
    let mut big_headers = b"GET /web HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..80 {
        big_headers.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "v".repeat(1024)).as_bytes());
    }
    big_headers.extend_from_slice(b"\r\n");
    c.push(("80 KiB of headers", big_headers, &[431]));
    let mut many_headers = b"GET /web HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..150 {
        many_headers.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
    }
    many_headers.extend_from_slice(b"\r\n");
    c.push(("150 headers", many_headers, &[431]));
    c
}

#[tokio::test]
async fn every_hostile_request_is_refused_cleanly_and_service_goes_on() {
    let (_consul, backend, portico) = setup(|c| c.proxy.header_read_timeout = Duration::from_secs(1)).await;

    let cases = cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut failures = Vec::new();
    for (name, request, expected) in &cases {
        let before = backend.requests();
        let got = status_of(portico.addr, request).await;
        println!("{name:45} -> {}", if got == CLOSED { "closed".to_string() } else { got.to_string() });
        if !expected.contains(&got) {
            failures.push(format!("{name}: got {got}, expected one of {expected:?}"));
        }
        let forwarded = backend.requests() - before;
        if (got >= 400 || got == CLOSED) && forwarded != 0 {
            failures.push(format!("{name}: refused with {got} but {forwarded} request(s) reached the instance"));
        }
        match portico.who("/web").await {
            Ok(id) if id == "web-1" => {}
            other => failures.push(format!("{name}: the next normal request failed: {other:?}")),
        }
    }
    println!("{} hostile requests sent", cases.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn slowloris_is_cut_off_and_a_thousand_idle_connections_do_not_starve_others() {
    let (_consul, _backend, portico) = setup(|c| c.proxy.header_read_timeout = Duration::from_secs(1)).await;

    let mut slow = TcpStream::connect(portico.addr).await.expect("connect");
    slow.write_all(b"GET /web HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.expect("write");
    let started = Instant::now();
    let mut buf = [0u8; 256];
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read(&mut buf)).await.expect("cut off in time");
    let answer = String::from_utf8_lossy(&buf[..read.unwrap_or(0)]).to_string();
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");
    println!("slowloris connection closed after {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(3));

    let mut idle = Vec::new();
    for _ in 0..1000 {
        idle.push(TcpStream::connect(portico.addr).await.expect("connect"));
    }
    for _ in 0..20 {
        assert_eq!(portico.who("/web").await.as_deref(), Ok("web-1"), "served while 1000 connections idle");
    }
    drop(idle);
}

#[tokio::test]
async fn connections_over_the_limit_are_refused_without_disturbing_others() {
    let (_consul, _backend, portico) = setup(|c| c.proxy.max_connections = 10).await;

    let mut held = Vec::new();
    for _ in 0..10 {
        let mut s = TcpStream::connect(portico.addr).await.expect("connect");
        s.write_all(b"GET /web HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
        let mut buf = [0u8; 12];
        s.read_exact(&mut buf).await.expect("answered");
        assert!(buf.starts_with(b"HTTP/1.1 200"));
        held.push(s);
    }
    assert_eq!(status_of(portico.addr, b"GET /web HTTP/1.1\r\nHost: x\r\n\r\n").await, 503, "the eleventh is refused");
    let first = held.first_mut().expect("held");
    first.write_all(b"GET /web HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
    let mut buf = [0u8; 12];
    first.read_exact(&mut buf).await.expect("still served");
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    while status_of(portico.addr, b"GET /web HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await != 200 {
        assert!(Instant::now() < deadline, "slots come back when connections close");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_after_the_header_timeout() {
    let (_consul, _backend, portico) = setup(|c| c.proxy.header_read_timeout = Duration::from_secs(1)).await;
    let mut stream = TcpStream::connect(portico.addr).await.expect("connect");
    stream.write_all(b"GET /web HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
    let mut buf = vec![0u8; 8192];
    let n = stream.read(&mut buf).await.expect("response");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let idle_since = Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "an idle keep-alive connection must not stay open forever");
    println!("idle keep-alive connection closed after {:?}", idle_since.elapsed());
}

/// Reads one whole response (head and Content-Length body) and whether the
/// server closed the connection after it.
async fn exchange(addr: SocketAddr, request: &[u8]) -> (String, bool) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(3), stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&buf).into_owned(), closed)
}

/// RFC 9112 §6.1: with both headers, `Transfer-Encoding` wins and the
/// connection closes after the response. hyper drops `Content-Length` while
/// parsing and offers no hook that shows both, so Portico cannot refuse the
/// pair as nginx and HAProxy do; this pins the safe behaviour it has instead.
#[tokio::test]
async fn content_length_with_transfer_encoding_is_read_as_chunked_and_the_connection_closed() {
    let (_consul, backend, portico) = setup(|_| {}).await;
    let smuggle = b"POST /web HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /web/smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    let (answer, closed) = exchange(portico.addr, smuggle).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("hello"), "the body was read by its chunks: {answer}");
    assert!(answer.to_ascii_lowercase().contains("connection: close"), "{answer}");
    assert!(closed, "the connection closes after the response");
    assert_eq!(answer.matches("HTTP/1.1").count(), 1, "the bytes after the body were not read as a request");
    assert_eq!(backend.requests(), 1);
}

/// `Expect: 100-continue`: Portico sends the `100` itself when it starts
/// reading the body, and the instance never sees the expectation.
#[tokio::test]
async fn expect_100_continue_is_answered_by_portico_and_not_forwarded() {
    let (_consul, _backend, portico) = setup(|_| {}).await;
    let mut stream = TcpStream::connect(portico.addr).await.expect("connect");
    let head = b"PUT /web/doc HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
    stream.write_all(head).await.expect("write head");
    let mut buf = [0u8; 64];
    let n =
        tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await.expect("100 in time").expect("read");
    assert!(buf[..n].starts_with(b"HTTP/1.1 100"), "{:?}", String::from_utf8_lossy(&buf[..n]));
    stream.write_all(b"hello").await.expect("write body");
    let mut rest = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut rest)).await.expect("answer").expect("read");
    let answer = String::from_utf8_lossy(&rest[..n]);
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("hello"), "{answer}");

    let seen: serde_json::Value = portico
        .http
        .get(portico.url("/web/headers"))
        .header("expect", "100-continue")
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("json");
    assert!(seen["headers"].get("expect").is_none(), "the expectation reached the instance: {seen}");
}

// HTTP/2 instances that misbehave (`portico.proto=h2c`), scripted with the
// h2 crate since no real server does these on demand.

/// Counts the `/refuse-once` requests, so only the first is refused.
static REFUSED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Serves HTTP/2: `/reset` is reset before any answer, `/refuse-once` is
/// refused (REFUSED_STREAM) the first time, `/huge` answers with a 1 MB
/// header block, anything else `ok`.
async fn rude_h2_instance() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut conn) = h2::server::handshake(socket).await else { return };
                while let Some(Ok((request, mut respond))) = conn.accept().await {
                    answer_rudely(request.uri().path(), &mut respond);
                }
            });
        }
    });
    port
}

fn answer_rudely(path: &str, respond: &mut h2::server::SendResponse<bytes::Bytes>) {
    use std::sync::atomic::Ordering;
    let mut head = http::Response::builder().header("x-instance-id", "rude-1");
    match path {
        "/rude/reset" => return respond.send_reset(h2::Reason::INTERNAL_ERROR),
        "/rude/refuse-once" if REFUSED.fetch_add(1, Ordering::SeqCst) == 0 => {
            return respond.send_reset(h2::Reason::REFUSED_STREAM)
        }
        "/rude/huge" => {
            for i in 0..1000 {
                head = head.header(format!("x-filler-{i}"), "v".repeat(1000));
            }
        }
        _ => {}
    }
    let Ok(mut body) = respond.send_response(head.body(()).expect("response"), false) else { return };
    let _ = body.send_data(bytes::Bytes::from_static(b"ok"), true);
}

#[tokio::test]
async fn an_http2_instance_that_resets_refuses_or_floods_headers_is_contained() {
    let consul = portico_testkit::ConsulAgent::start().await;
    let port = rude_h2_instance().await;
    let tags = ["portico.route=/rude", "portico.proto=h2c"];
    consul.register(&portico_testkit::consul::ttl_service("rude", "rude-1", port, &tags)).await;
    let portico = common::Portico::for_consul(&consul.addr()).await;
    portico.wait_instances("/rude", &["rude-1"], Duration::from_secs(5)).await;

    let reset = portico.get("/rude/reset").await;
    assert_eq!(reset.status(), 502, "a stream reset before any answer");
    assert_eq!(portico.get("/rude/fine").await.status(), 200, "the connection serves on");

    // A refused stream was not processed: it goes out again, even a POST.
    let refused = portico.http.post(portico.url("/rude/refuse-once")).body("order").send().await.expect("response");
    assert_eq!(refused.status(), 200);
    assert_eq!(REFUSED.load(std::sync::atomic::Ordering::SeqCst), 2);

    let started = Instant::now();
    assert_eq!(portico.get("/rude/huge").await.status(), 502, "a header block over the limit");
    assert!(started.elapsed() < Duration::from_secs(2));
    for _ in 0..5 {
        assert_eq!(portico.get("/rude/fine").await.text().await.expect("body"), "ok");
    }
}
