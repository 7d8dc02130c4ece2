use std::convert::Infallible;
use std::sync::atomic::AtomicUsize;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::*;

/// An HTTP/2 instance announcing `max_streams` that answers each request
/// once `gate` lets it, counting the connections it accepted.
async fn instance(max_streams: Option<u32>, gate: Arc<Semaphore>) -> (Authority, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let authority: Authority = listener.local_addr().expect("addr").to_string().parse().expect("authority");
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let gate = Arc::clone(&gate);
            let service = service_fn(move |_req| {
                let gate = Arc::clone(&gate);
                async move {
                    gate.acquire().await.expect("gate").forget();
                    Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from("ok"))))
                }
            });
            let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
            builder.max_concurrent_streams(max_streams);
            tokio::spawn(builder.serve_connection(TokioIo::new(stream), service));
        }
    });
    (authority, accepted)
}

fn dial() -> Dial<'static> {
    Dial { tls: None, connect_timeout: Duration::from_secs(2), body_idle: Duration::ZERO }
}

fn get(authority: &Authority) -> Request<Outbound> {
    let mut request = Request::new(Outbound::Full(None));
    *request.uri_mut() = format!("http://{authority}/").parse().expect("uri");
    *request.version_mut() = http::Version::HTTP_2;
    request
}

/// Sends `n` requests at once, holds them until all are in flight, then
/// lets them finish; the bodies read.
async fn burst(lanes: &Arc<Lanes>, authority: &Authority, gate: &Semaphore, n: usize) {
    let mut calls = Vec::new();
    for _ in 0..n {
        let (lanes, authority) = (Arc::clone(lanes), authority.clone());
        calls.push(tokio::spawn(async move {
            let mut stream = lanes.lease(&authority, dial()).await.expect("lease");
            let response = stream.send(get(&authority)).await.expect("response");
            response.into_body().collect().await.expect("body").to_bytes()
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    gate.add_permits(n);
    for call in calls {
        assert_eq!(call.await.expect("task"), "ok");
    }
}

#[tokio::test]
async fn many_requests_share_one_connection() {
    let gate = Arc::new(Semaphore::new(0));
    let (authority, accepted) = instance(None, Arc::clone(&gate)).await;
    let lanes = Arc::new(Lanes::default());
    burst(&lanes, &authority, &gate, 40).await;
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "40 concurrent requests, one connection");
    burst(&lanes, &authority, &gate, 40).await;
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "and it is reused");
}

#[tokio::test]
async fn the_instance_stream_limit_opens_more_connections() {
    let gate = Arc::new(Semaphore::new(0));
    let (authority, accepted) = instance(Some(3), Arc::clone(&gate)).await;
    let lanes = Arc::new(Lanes::default());
    // The first connection learns the limit with its first response.
    burst(&lanes, &authority, &gate, 1).await;
    burst(&lanes, &authority, &gate, 9).await;
    assert_eq!(accepted.load(Ordering::SeqCst), 3, "9 streams at 3 per connection");
    assert_eq!(lanes.open(), 3);
    // Past CONNECTIONS_PER_LANE, streams wait on the open connections.
    burst(&lanes, &authority, &gate, 30).await;
    assert_eq!(accepted.load(Ordering::SeqCst), CONNECTIONS_PER_LANE);
}

#[tokio::test]
async fn a_refused_connection_fails_the_waiting_requests_at_once() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let authority: Authority = listener.local_addr().expect("addr").to_string().parse().expect("authority");
    drop(listener);
    let lanes = Arc::new(Lanes::default());
    let started = std::time::Instant::now();
    let attempts: Vec<_> = (0..20)
        .map(|_| {
            let (lanes, authority) = (Arc::clone(&lanes), authority.clone());
            tokio::spawn(async move { lanes.lease(&authority, dial()).await.is_err() })
        })
        .collect();
    for attempt in attempts {
        assert!(attempt.await.expect("task"));
    }
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn idle_connections_are_swept() {
    let gate = Arc::new(Semaphore::new(0));
    let (authority, _) = instance(None, Arc::clone(&gate)).await;
    let lanes = Arc::new(Lanes::default());
    burst(&lanes, &authority, &gate, 2).await;
    assert_eq!(lanes.open(), 1);
    lanes.sweep(Duration::from_secs(60));
    assert_eq!(lanes.open(), 1, "not idle for long");
    lanes.sweep(Duration::ZERO);
    assert_eq!(lanes.open(), 0);
}
