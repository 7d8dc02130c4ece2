use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body::Body;
use http_body_util::Full;
use hyper::service::service_fn;
use tokio::net::TcpListener;

use super::*;

/// An instance that answers `ok` and counts the connections it accepted;
/// with `close`, every response ends its connection.
async fn instance(close: bool) -> (Authority, Arc<AtomicUsize>) {
    instance_saying(close, None).await
}

/// Like [`instance`], every answer carrying `Keep-Alive: <keep_alive>` if given.
async fn instance_saying(close: bool, keep_alive: Option<&'static str>) -> (Authority, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let authority: Authority = listener.local_addr().expect("addr").to_string().parse().expect("authority");
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let service = service_fn(move |_req| async move {
                let mut response = http::Response::new(Full::new(Bytes::from("ok")));
                if let Some(value) = keep_alive {
                    response.headers_mut().insert("keep-alive", http::HeaderValue::from_static(value));
                }
                Ok::<_, Infallible>(response)
            });
            let server = hyper::server::conn::http1::Builder::new()
                .keep_alive(!close)
                .serve_connection(TokioIo::new(stream), service);
            tokio::spawn(server);
        }
    });
    (authority, accepted)
}

fn get(authority: &Authority) -> Request<Outbound> {
    let mut request = Request::new(Outbound::Full(None));
    *request.uri_mut() = "/".parse().expect("uri");
    request.headers_mut().insert(http::header::HOST, authority.as_str().parse().expect("host"));
    request
}

/// One exchange, the body read to its end while the connection is driven.
async fn fetch(conn: Box<Connection>, authority: &Authority) -> (String, Box<Connection>) {
    let (response, mut conn) = conn.send(get(authority)).await.expect("response");
    let mut body = response.into_body();
    let mut text = Vec::new();
    poll_fn(|cx| loop {
        conn.poll_drive(cx);
        match Pin::new(&mut body).poll_frame(cx) {
            Poll::Ready(Some(frame)) => text.extend_from_slice(&frame.expect("frame").into_data().unwrap_or_default()),
            Poll::Ready(None) => return Poll::Ready(()),
            Poll::Pending => return Poll::Pending,
        }
    })
    .await;
    (String::from_utf8(text).expect("utf-8"), conn)
}

const AGE: Duration = Duration::from_secs(30);

/// An idle queue holding one connection to `authority` after one exchange.
async fn one_idle(authority: &Authority) -> Connections {
    let idle = Connections::default();
    let conn = connect(authority, None, Duration::from_secs(2), Duration::from_secs(60)).await.expect("connect");
    let (_, conn) = fetch(conn, authority).await;
    idle.put(conn);
    idle
}

async fn take_or_connect(idle: &Connections, authority: &Authority) -> Box<Connection> {
    match idle.take(authority, None, AGE) {
        Some(conn) => conn,
        None => connect(authority, None, Duration::from_secs(2), Duration::from_secs(60)).await.expect("connect"),
    }
}

/// `rounds` requests one after another through an idle queue: how many
/// connections the instance accepted, and how many were idle after each.
async fn one_after_another(close: bool, rounds: usize) -> (usize, Vec<usize>) {
    let (authority, accepted) = instance(close).await;
    let idle = Connections::default();
    let mut idle_after = Vec::new();
    for _ in 0..rounds {
        let conn = take_or_connect(&idle, &authority).await;
        let (text, conn) = fetch(conn, &authority).await;
        assert_eq!(text, "ok");
        idle.put(conn);
        idle_after.push(idle.len());
    }
    (accepted.load(Ordering::SeqCst), idle_after)
}

#[tokio::test]
async fn sequential_requests_share_one_connection() {
    let (accepted, idle_after) = one_after_another(false, 5).await;
    assert_eq!(idle_after, [1; 5], "the connection went back after each clean exchange");
    assert_eq!(accepted, 1);
}

#[tokio::test]
async fn a_connection_the_instance_closes_is_not_kept() {
    let (accepted, idle_after) = one_after_another(true, 3).await;
    assert_eq!(idle_after, [0; 3], "a `Connection: close` answer ends the connection");
    assert_eq!(accepted, 3);
}

#[tokio::test]
async fn a_connection_is_only_taken_for_its_own_address() {
    let (a, _) = instance(false).await;
    let (b, _) = instance(false).await;
    let idle = Connections::default();
    let (_, conn) =
        fetch(connect(&a, None, Duration::from_secs(2), Duration::from_secs(60)).await.expect("connect"), &a).await;
    idle.put(conn);
    assert!(idle.take(&b, None, AGE).is_none(), "an instance that moved gets a new connection");
    assert!(idle.is_empty(), "the connection to the old address was closed");
}

#[tokio::test]
async fn idle_connections_close_after_their_age() {
    let (authority, _) = instance(false).await;
    let idle = one_idle(&authority).await;
    tokio::time::pause();
    tokio::time::advance(AGE - Duration::from_secs(1)).await;
    idle.sweep(AGE);
    assert_eq!(idle.len(), 1, "still young enough");
    tokio::time::advance(Duration::from_secs(1)).await;
    idle.sweep(AGE);
    assert!(idle.is_empty(), "idle for the whole age");
}

#[tokio::test]
async fn connecting_to_nothing_fails_fast() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let authority: Authority = listener.local_addr().expect("addr").to_string().parse().expect("authority");
    drop(listener);
    let error =
        connect(&authority, None, Duration::from_secs(2), Duration::from_secs(60)).await.expect_err("nothing listens");
    assert!(matches!(error, ConnectError::Io(_)), "{error:?}");
}

#[test]
fn the_keep_alive_timeout_is_read_from_the_header() {
    let mut headers = http::HeaderMap::new();
    assert_eq!(keep_alive_timeout(&headers), None);
    headers.insert("keep-alive", "timeout=5".parse().expect("value"));
    assert_eq!(keep_alive_timeout(&headers), Some(Duration::from_secs(5)));
    headers.insert("keep-alive", "max=100, timeout=15".parse().expect("value"));
    assert_eq!(keep_alive_timeout(&headers), Some(Duration::from_secs(15)));
    headers.insert("keep-alive", "timeout=soon".parse().expect("value"));
    assert_eq!(keep_alive_timeout(&headers), None);
}

#[tokio::test]
async fn an_idle_connection_is_given_up_before_the_instance_closes_it() {
    // Says it closes idle connections after 5 s, as Node.js does.
    let (authority, _) = instance_saying(false, Some("timeout=5")).await;
    let idle = one_idle(&authority).await;
    tokio::time::pause();
    tokio::time::advance(Duration::from_millis(3900)).await;
    let conn = idle.take(&authority, None, AGE).expect("idle 3.9 s of the instance's 5: still used");
    let (_, conn) = fetch(conn, &authority).await;
    idle.put(conn);
    tokio::time::advance(Duration::from_secs(4)).await;
    assert!(idle.take(&authority, None, AGE).is_none(), "idle 4 s: within a second of the instance's close, not used");
    assert!(idle.is_empty());
}

#[tokio::test]
async fn an_idle_plain_connection_is_never_taken_for_an_https_request() {
    let (authority, _) = instance(false).await;
    let idle = one_idle(&authority).await;
    assert!(idle.take(&authority, Some(0), AGE).is_none(), "a TLS request never rides a plain connection");
    assert!(one_idle(&authority).await.take(&authority, None, AGE).is_some());
}
