//! The plain request on Portico's own HTTP/1.1 path (`src/proxy/plain.rs`):
//! it answers exactly as the hyper path does, against a real Node.js origin
//! and origins scripted for the framings Node will not produce; a
//! connection moves to hyper at its first other request; pipelined requests
//! keep their order; a broken answer cuts only its own client connection;
//! and an idle connection closes at shutdown.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{config, Portico};
use portico_testkit::consul::ttl_service;
use portico_testkit::node::NodeOrigin;
use portico_testkit::ConsulAgent;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// A status, the headers (lower-case names, sorted, without `date`), and the body.
type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// A request to send through both paths: method, path, extra headers.
type Case = (reqwest::Method, &'static str, Vec<(&'static str, &'static str)>);

const NODE_ORIGIN: &str = r#"(req, res) => {
    const u = req.url;
    if (u.startsWith('/n/length')) { res.setHeader('Content-Length', '5'); res.setHeader('X-Custom', 'a'); res.end('hello'); }
    else if (u.startsWith('/n/chunked')) { res.setHeader('Trailer', 'X-Sum'); res.write('ab'); res.write('cd'); res.addTrailers({ 'X-Sum': '4' }); res.end('e'); }
    else if (u.startsWith('/n/empty')) { res.statusCode = 204; res.end(); }
    else if (u.startsWith('/n/etag')) { res.statusCode = 304; res.setHeader('ETag', '"v1"'); res.end(); }
    else if (u.startsWith('/n/hints')) { res.writeEarlyHints({ link: '</a.css>; rel=preload' }); res.end('after hints'); }
    else if (u.startsWith('/n/big')) { res.end(Buffer.alloc(300000, 120)); }
    else if (u.startsWith('/n/missing')) { res.statusCode = 404; res.statusMessage = 'Gone Fishing'; res.end('nope'); }
    else { res.setHeader('Content-Type', 'application/json'); res.end(JSON.stringify({ url: u, headers: req.headers })); }
}"#;

async fn answer(portico: &Portico, method: reqwest::Method, path: &str, extra: &[(&str, &str)]) -> Answer {
    let mut request = portico.http.request(method, portico.url(path)).header("host", "shop.test");
    request = request.header("x-request-id", "compare-1");
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("answer");
    let status = response.status().as_u16();
    let mut headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(name, _)| name.as_str() != "date")
        .map(|(name, value)| (name.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    headers.sort();
    (status, headers, response.bytes().await.expect("body").to_vec())
}

#[tokio::test]
async fn the_fast_path_answers_as_the_hyper_path_does() {
    let Some(node) = NodeOrigin::required(NODE_ORIGIN).await else { return };
    let consul = ConsulAgent::start().await;
    consul.register(&ttl_service("node", "node-1", node.port, &["portico.route=/n"])).await;
    let fast = Portico::start(config(&consul.addr())).await;
    let mut without = config(&consul.addr());
    without.proxy.fast_path = false;
    let hyper = Portico::start(without).await;
    for portico in [&fast, &hyper] {
        portico.wait_instances("/n", &["node-1"], Duration::from_secs(5)).await;
    }
    let get = reqwest::Method::GET;
    let cases: Vec<Case> = vec![
        (get.clone(), "/n/length", vec![]),
        (reqwest::Method::HEAD, "/n/length", vec![]),
        (get.clone(), "/n/chunked", vec![]),
        (get.clone(), "/n/empty", vec![]),
        (get.clone(), "/n/etag", vec![("if-none-match", "\"v1\"")]),
        (get.clone(), "/n/hints", vec![]),
        (get.clone(), "/n/big", vec![]),
        (get.clone(), "/n/missing", vec![]),
        (get.clone(), "/n/./a/../echo?x=1&y=%20", vec![("x-forwarded-for", "10.1.2.3"), ("accept", "text/plain")]),
        (get.clone(), "/n/echo", vec![("x-forwarded-host", "evil"), ("x-auth-subject", "admin"), ("keep-alive", "1")]),
    ];
    for (method, path, extra) in cases {
        let through_fast = answer(&fast, method.clone(), path, &extra).await;
        let through_hyper = answer(&hyper, method.clone(), path, &extra).await;
        assert_eq!(through_fast.0, through_hyper.0, "{method} {path}: status");
        assert_eq!(through_fast.1, through_hyper.1, "{method} {path}: headers");
        // The echo lists the headers the instance saw in the order they came
        // (which may differ between the paths): compared as JSON objects.
        let as_json = |body: &[u8]| serde_json::from_slice::<serde_json::Value>(body).ok();
        match (as_json(&through_fast.2), as_json(&through_hyper.2)) {
            (Some(fast), Some(hyper)) => assert_eq!(fast, hyper, "{method} {path}: what the instance saw"),
            _ => assert_eq!(through_fast.2, through_hyper.2, "{method} {path}: body"),
        }
    }
    // Which path answered shows in the spelling of header names: the fast
    // path passes the instance's on, hyper's lower-cases them.
    for (portico, spelled) in [(&fast, "\r\nX-Custom: a\r\n"), (&hyper, "\r\nx-custom: a\r\n")] {
        let mut reader = BufReader::new(TcpStream::connect(portico.addr).await.expect("connect"));
        reader.get_mut().write_all(b"GET /n/length HTTP/1.1\r\nHost: shop\r\n\r\n").await.expect("send");
        let mut head = String::new();
        while !head.ends_with("\r\n\r\n") {
            assert!(reader.read_line(&mut head).await.expect("read") > 0, "closed early: {head}");
        }
        assert!(head.contains(spelled), "{spelled:?} in {head}");
    }
    let echoed = answer(&fast, get, "/n/echo", &[("x-forwarded-for", "10.1.2.3")]).await;
    let seen: serde_json::Value = serde_json::from_slice(&echoed.2).expect("json");
    assert_eq!(seen["headers"]["x-forwarded-for"], "10.1.2.3, 127.0.0.1");
    assert_eq!(seen["headers"]["x-forwarded-host"], "shop.test");
    assert_eq!(seen["headers"]["x-request-id"], "compare-1");
}

/// Reads one response from `reader`: status, lower-case headers, body
/// (by `Content-Length`, chunked, or none for a `HEAD`).
async fn read_response(reader: &mut BufReader<TcpStream>, head_only: bool) -> Option<Answer> {
    let mut line = String::new();
    reader.read_line(&mut line).await.ok().filter(|n| *n > 0)?;
    let status = line.split(' ').nth(1)?.parse().ok()?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).await.ok().filter(|n| *n > 0)?;
        let Some((name, value)) = line.trim_end().split_once(':') else { break };
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if head_only {
    } else if let Some(length) = header("content-length") {
        body.resize(length.parse().ok()?, 0);
        reader.read_exact(&mut body).await.ok()?;
    } else if header("transfer-encoding").is_some() {
        loop {
            line.clear();
            reader.read_line(&mut line).await.ok().filter(|n| *n > 0)?;
            let size = usize::from_str_radix(line.trim_end().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0u8; size + 2];
            reader.read_exact(&mut chunk).await.ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    Some((status, headers, body))
}

fn header<'a>(answer: &'a Answer, name: &str) -> Option<&'a str> {
    answer.1.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn a_connection_moves_to_hyper_at_its_first_other_request_and_keeps_one_upstream_connection() {
    let (_consul, backend, portico) = common::one_web_instance(|_| {}).await;
    let stream = TcpStream::connect(portico.addr).await.expect("connect");
    let mut reader = BufReader::new(stream);
    let requests: [&[u8]; 4] = [
        b"GET /web/one HTTP/1.1\r\nHost: shop\r\n\r\n",
        b"POST /web/echo HTTP/1.1\r\nHost: shop\r\nContent-Length: 5\r\n\r\nhello",
        b"GET /web/two HTTP/1.1\r\nHost: shop\r\n\r\n",
        b"HEAD /web/three HTTP/1.1\r\nHost: shop\r\n\r\n",
    ];
    let mut answers = Vec::new();
    for (i, request) in requests.iter().enumerate() {
        reader.get_mut().write_all(request).await.expect("send");
        answers.push(read_response(&mut reader, i == 3).await.expect("an answer"));
    }
    assert!(answers.iter().all(|a| a.0 == 200), "{answers:?}");
    assert!(String::from_utf8_lossy(&answers[0].2).contains("\"path\":\"/web/one\""));
    assert_eq!(answers[1].2, b"hello");
    assert!(String::from_utf8_lossy(&answers[2].2).contains("\"path\":\"/web/two\""));
    assert_eq!(backend.requests(), 4);
    assert_eq!(backend.connections(), 1, "both paths share the connection to the instance");
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let (_consul, _backend, portico) = common::one_web_instance(|_| {}).await;
    let mut stream = TcpStream::connect(portico.addr).await.expect("connect");
    let mut pipelined = Vec::new();
    for n in 1..=3 {
        pipelined.extend_from_slice(format!("GET /web/{n} HTTP/1.1\r\nHost: shop\r\n\r\n").as_bytes());
    }
    stream.write_all(&pipelined).await.expect("send");
    let mut reader = BufReader::new(stream);
    for n in 1..=3 {
        let answer = read_response(&mut reader, false).await.expect("an answer");
        let body = String::from_utf8_lossy(&answer.2);
        assert!(body.contains(&format!("\"path\":\"/web/{n}\"")), "answer {n}: {body}");
        assert!(header(&answer, "x-request-id").is_some());
    }
}

/// An origin that reads a request head and writes `reply`; with `close`,
/// it then closes the connection. Counts the connections it accepted.
async fn scripted_origin(reply: &'static [u8], close: bool) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                loop {
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    head.clear();
                    if stream.write_all(reply).await.is_err() || close {
                        return;
                    }
                }
            });
        }
    });
    (port, accepted)
}

async fn portico_for(routes: &[(&str, u16)]) -> (ConsulAgent, Portico) {
    let consul = ConsulAgent::start().await;
    for (name, port) in routes {
        consul.register(&ttl_service(name, &format!("{name}-1"), *port, &[&format!("portico.route=/{name}")])).await;
    }
    let mut config = config(&consul.addr());
    config.proxy.max_retries = 0;
    let portico = Portico::start(config).await;
    for (name, _) in routes {
        portico.wait_instances(&format!("/{name}"), &[&format!("{name}-1")], Duration::from_secs(5)).await;
    }
    (consul, portico)
}

#[tokio::test]
async fn an_answer_that_ends_with_its_connection_reaches_the_client_chunked_and_keeps_it_open() {
    let (port, accepted) = scripted_origin(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", true).await;
    let (_consul, portico) = portico_for(&[("closing", port)]).await;
    let mut reader = BufReader::new(TcpStream::connect(portico.addr).await.expect("connect"));
    for _ in 0..2 {
        reader.get_mut().write_all(b"GET /closing/x HTTP/1.1\r\nHost: shop\r\n\r\n").await.expect("send");
        let answer = read_response(&mut reader, false).await.expect("an answer on the same connection");
        assert_eq!(answer.0, 200);
        assert_eq!(header(&answer, "transfer-encoding"), Some("chunked"));
        assert_eq!(header(&answer, "connection"), None, "the instance's Connection is its own");
        assert_eq!(answer.2, b"until the end");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 2, "a connection that ended is not reused");
}

#[tokio::test]
async fn a_broken_chunked_answer_cuts_only_its_own_client_connection() {
    let (bad, _) =
        scripted_origin(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", false).await;
    let (good, _) = scripted_origin(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false).await;
    let (_consul, portico) = portico_for(&[("bad", bad), ("good", good)]).await;
    let mut cut = TcpStream::connect(portico.addr).await.expect("connect");
    cut.write_all(b"GET /bad/x HTTP/1.1\r\nHost: shop\r\n\r\n").await.expect("send");
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), cut.read_to_end(&mut received)).await;
    assert!(read.is_ok(), "the client's connection is closed, not left hanging");
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(!text.ends_with("0\r\n\r\n"), "the client never sees a complete body: {text}");
    assert_eq!(portico.get("/good/x").await.text().await.expect("body"), "ok");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_closes_at_shutdown() {
    let (_consul, _backend, portico) = common::one_web_instance(|_| {}).await;
    let mut reader = BufReader::new(TcpStream::connect(portico.addr).await.expect("connect"));
    reader.get_mut().write_all(b"GET /web/a HTTP/1.1\r\nHost: shop\r\n\r\n").await.expect("send");
    assert_eq!(read_response(&mut reader, false).await.expect("an answer").0, 200);
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(5), portico.shutdown())
        .await
        .expect("shutdown does not wait for idle clients");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(1), reader.read_to_end(&mut rest)).await;
    assert!(matches!(closed, Ok(Ok(0))), "the idle connection is closed: {closed:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn a_broken_answer_head_is_a_502_on_both_paths_and_service_goes_on() {
    let mut oversized = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..2000 {
        oversized.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "y".repeat(40)).as_bytes());
    }
    oversized.extend_from_slice(b"Content-Length: 2\r\n\r\nok");
    let oversized: &'static [u8] = oversized.leak();
    let replies: [(&str, &'static [u8]); 5] = [
        ("lengths", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok"),
        ("garbage", b"nonsense\r\n\r\n"),
        ("switch", b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"),
        ("folded", b"HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 2\r\n\r\nok"),
        ("oversized", oversized),
    ];
    let mut routes = Vec::new();
    for (name, reply) in replies {
        routes.push((name, scripted_origin(reply, false).await.0));
    }
    let (good, _) = scripted_origin(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false).await;
    routes.push(("good", good));
    let (consul, fast) = portico_for(&routes).await;
    let mut without = config(&consul.addr());
    (without.proxy.fast_path, without.proxy.max_retries) = (false, 0);
    let hyper = Portico::start(without).await;
    for (name, _) in &routes {
        hyper.wait_instances(&format!("/{name}"), &[&format!("{name}-1")], Duration::from_secs(5)).await;
    }
    for (name, _) in replies {
        for (path, portico) in [("fast", &fast), ("hyper", &hyper)] {
            let response = portico.get(&format!("/{name}/x")).await;
            assert_eq!(response.status(), 502, "{path} path, {name}");
            let body: serde_json::Value = response.json().await.expect("a JSON error");
            assert_eq!(body["instance"], format!("{name}-1"), "{path} path, {name}: {body}");
        }
    }
    assert_eq!(fast.get("/good/x").await.text().await.expect("body"), "ok");
}
