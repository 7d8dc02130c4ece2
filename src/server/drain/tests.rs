use std::time::Duration;

use super::*;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A keep-alive HTTP/1.1 connection served through `watcher`; the client end.
fn served(watcher: Watcher) -> (tokio::io::DuplexStream, tokio::task::JoinHandle<()>) {
    let (client, server) = tokio::io::duplex(4096);
    let service = service_fn(|_| async { Ok::<_, std::convert::Infallible>(http::Response::new(String::from("ok"))) });
    let connection = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(server), service);
    let watched = watcher.watch(connection);
    (client, tokio::spawn(async move { drop(watched.await) }))
}

/// Starts `drain`'s shutdown in a task of its own, and lets it begin.
async fn shutting_down(drain: &Drain) -> tokio::task::JoinHandle<()> {
    let drain = drain.clone();
    let shutdown = tokio::spawn(async move { drain.shutdown().await });
    tokio::task::yield_now().await;
    shutdown
}

#[tokio::test]
async fn shutdown_closes_an_idle_keep_alive_connection_and_waits_for_it() {
    let drain = Drain::default();
    let (mut client, task) = served(drain.watcher());
    client.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await.expect("write");
    let mut answer = [0u8; 512];
    let n = client.read(&mut answer).await.expect("read");
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer[..n]));
    tokio::time::timeout(Duration::from_secs(5), drain.shutdown()).await.expect("drained");
    assert!(task.is_finished() || tokio::time::timeout(Duration::from_secs(1), task).await.is_ok());
    let rest = client.read(&mut answer).await.expect("read");
    assert_eq!(rest, 0, "the idle connection is closed");
}

#[tokio::test]
async fn shutdown_waits_for_a_connection_accepted_but_not_yet_served() {
    let drain = Drain::default();
    let watcher = drain.watcher();
    let shutdown = shutting_down(&drain).await;
    assert!(!shutdown.is_finished(), "a connection is still counted");
    drop(watcher);
    tokio::time::timeout(Duration::from_secs(5), shutdown).await.expect("drained").expect("task");
}

#[tokio::test]
async fn a_connection_that_starts_after_shutdown_began_is_closed_and_waited_for() {
    let drain = Drain::default();
    let watcher = drain.watcher();
    let shutdown = shutting_down(&drain).await;
    let (mut client, task) = served(watcher);
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut answer)).await.expect("closed").expect("read");
    assert!(answer.is_empty(), "no request was in flight: {}", String::from_utf8_lossy(&answer));
    tokio::time::timeout(Duration::from_secs(5), shutdown).await.expect("drained").expect("task");
    task.await.expect("task");
}
