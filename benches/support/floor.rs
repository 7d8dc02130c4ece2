//! The floor: a minimal hyper proxy with none of Portico's logic, so every
//! benchmark run shows what hyper and tokio cost on their own next to
//! Portico, nginx and HAProxy. It is laid out as Portico is (one
//! single-threaded runtime per proxy thread, each accepting on the shared
//! listening socket), serves HTTP/1.1 with hyper's server, and forwards each
//! request unchanged to the next of its upstreams in turn through
//! hyper-util's pooled client (keep-alive, one pool per thread). No routing,
//! no header rewrite, no metrics, no timeouts, no retries.

use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{Either, Empty};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

type Body = Either<Incoming, Empty<Bytes>>;

/// Serves `listener` on `threads` threads, forwarding to `upstreams` in turn.
/// The threads run until the process ends.
pub fn serve(listener: std::net::TcpListener, upstreams: Vec<SocketAddr>, threads: usize) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let upstreams: Arc<[String]> = upstreams.iter().map(|a| format!("http://{a}")).collect();
    for _ in 0..threads.max(1) {
        let (listener, upstreams) = (listener.try_clone()?, Arc::clone(&upstreams));
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(accept(listener, upstreams));
        });
    }
    Ok(())
}

async fn accept(listener: std::net::TcpListener, upstreams: Arc<[String]>) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
    let client: Client<HttpConnector, Incoming> = Client::builder(TokioExecutor::new()).build_http();
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        let (client, upstreams) = (client.clone(), Arc::clone(&upstreams));
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |request| forward(client.clone(), Arc::clone(&upstreams), request));
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

thread_local! {
    static NEXT: Cell<usize> = const { Cell::new(0) };
}

async fn forward(
    client: Client<HttpConnector, Incoming>,
    upstreams: Arc<[String]>,
    mut request: Request<Incoming>,
) -> Result<Response<Body>, std::convert::Infallible> {
    let turn = NEXT.with(|next| next.replace(next.get().wrapping_add(1)));
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let Ok(uri) = format!("{}{path}", upstreams[turn % upstreams.len()]).parse() else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    *request.uri_mut() = uri;
    Ok(match client.request(request).await {
        Ok(response) => response.map(Either::Left),
        Err(_) => status(StatusCode::BAD_GATEWAY),
    })
}

fn status(code: StatusCode) -> Response<Body> {
    let mut response = Response::new(Either::Right(Empty::new()));
    *response.status_mut() = code;
    response
}
