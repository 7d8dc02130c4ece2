//! One HTTP/2 connection to an HTTPS agent, shared by many requests.
//!
//! Built on the `h2` crate directly rather than reqwest's pool or hyper's
//! client: a lane is exactly one connection (requests that arrive while it is
//! being opened wait for it instead of opening their own), and a blocking
//! query in flight costs one stream and one small future, with no task of
//! its own, which matters with thousands of them. A closed connection is
//! reopened by the next request; a ping every 15 s notices a dead one within
//! seconds instead of at the read timeout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use h2::client::SendRequest;
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_rustls::TlsConnector;

use super::{Answer, Error};

const PING_EVERY: Duration = Duration::from_secs(15);
const PONG_WITHIN: Duration = Duration::from_secs(10);

/// How to reach the agent: its address, TLS settings and headers.
#[derive(Debug)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub tls: Arc<rustls::ClientConfig>,
    pub headers: http::HeaderMap,
    pub connect_timeout: Duration,
}

/// One connection, opened on first use and reopened after it closes.
#[derive(Debug)]
pub struct Lane {
    target: Arc<Target>,
    open: Mutex<Option<Open>>,
}

/// An open connection: its request handle, and whether it has ended.
#[derive(Debug, Clone)]
struct Open {
    sender: SendRequest<Bytes>,
    closed: Arc<AtomicBool>,
}

impl Lane {
    pub fn new(target: Arc<Target>) -> Lane {
        Lane { target, open: Mutex::new(None) }
    }

    /// `GET url`, the whole exchange bounded by `timeout`.
    pub async fn get(&self, url: &reqwest::Url, timeout: Duration) -> Result<Answer, Error> {
        self.send(http::Method::GET, url, Bytes::new(), timeout).await
    }

    /// `method url` with `body`, the whole exchange bounded by `timeout`.
    pub async fn send(
        &self,
        method: http::Method,
        url: &reqwest::Url,
        body: Bytes,
        timeout: Duration,
    ) -> Result<Answer, Error> {
        match tokio::time::timeout(timeout, self.exchange(method, url, body)).await {
            Ok(answer) => answer,
            Err(_) => Err(Error::Transport(format!("no answer within {timeout:?}"))),
        }
    }

    async fn exchange(&self, method: http::Method, url: &reqwest::Url, body: Bytes) -> Result<Answer, Error> {
        let mut request = http::Request::builder()
            .method(method)
            .uri(url.as_str())
            .body(())
            .map_err(|e| Error::Setup(format!("request for {url}: {e}")))?;
        request.headers_mut().extend(self.target.headers.clone());
        let sender = self.sender().await?;
        let mut sender = sender.ready().await.map_err(|e| transport("connection", &e))?;
        let (response, mut outgoing) =
            sender.send_request(request, body.is_empty()).map_err(|e| transport("request", &e))?;
        if !body.is_empty() {
            outgoing.send_data(body, true).map_err(|e| transport("request body", &e))?;
        }
        let response = response.await.map_err(|e| transport("response", &e))?;
        let (parts, mut body) = response.into_parts();
        let mut bytes = BytesMut::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(|e| transport("body", &e))?;
            let _ = body.flow_control().release_capacity(chunk.len());
            bytes.extend_from_slice(&chunk);
        }
        Ok((parts.status, parts.headers, bytes.freeze()))
    }

    /// The open connection's sender, opening the connection when there is none.
    async fn sender(&self) -> Result<SendRequest<Bytes>, Error> {
        let mut slot = self.open.lock().await;
        if let Some(open) = slot.as_ref().filter(|o| !o.closed.load(Ordering::Relaxed)) {
            return Ok(open.sender.clone());
        }
        *slot = None;
        // Boxed: opening a connection is rare, and its future is large.
        let open = Box::pin(self.connect()).await?;
        let sender = open.sender.clone();
        *slot = Some(open);
        Ok(sender)
    }

    async fn connect(&self) -> Result<Open, Error> {
        let target = &self.target;
        let address = (target.host.as_str(), target.port);
        let tcp = tokio::time::timeout(target.connect_timeout, TcpStream::connect(address))
            .await
            .map_err(|_| Error::Transport(format!("connect to {}:{} timed out", target.host, target.port)))?
            .map_err(|e| Error::Transport(format!("connect to {}:{}: {e}", target.host, target.port)))?;
        let _ = tcp.set_nodelay(true);
        let name = rustls::pki_types::ServerName::try_from(target.host.clone())
            .map_err(|e| Error::Setup(format!("agent host {:?}: {e}", target.host)))?;
        let tls = TlsConnector::from(Arc::clone(&target.tls))
            .connect(name, tcp)
            .await
            .map_err(|e| Error::Transport(crate::error_chain::describe(&e)))?;
        if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Err(Error::Transport(
                "the agent's HTTPS listener did not agree to HTTP/2 (ALPN h2); set [consul] http2 = false".into(),
            ));
        }
        let (sender, mut connection) = h2::client::handshake(tls).await.map_err(|e| transport("handshake", &e))?;
        let closed = Arc::new(AtomicBool::new(false));
        let pings = connection.ping_pong();
        let ended = Arc::clone(&closed);
        tokio::spawn(async move {
            tokio::select! {
                result = &mut connection => if let Err(error) = result {
                    tracing::debug!(%error, "HTTP/2 connection to consul closed");
                },
                () = keep_alive(pings) => tracing::warn!("consul's HTTP/2 connection stopped answering pings; reopening"),
            }
            // Dropping the connection fails every stream still on it, so
            // their watches retry on a new one.
            ended.store(true, Ordering::Relaxed);
        });
        Ok(Open { sender, closed })
    }
}

/// Returns when the peer stops answering pings.
async fn keep_alive(pings: Option<h2::PingPong>) {
    let Some(mut pings) = pings else { return std::future::pending().await };
    loop {
        tokio::time::sleep(PING_EVERY).await;
        match tokio::time::timeout(PONG_WITHIN, pings.ping(h2::Ping::opaque())).await {
            Ok(Ok(_pong)) => {}
            _ => return,
        }
    }
}

fn transport(stage: &str, error: &(dyn std::error::Error + 'static)) -> Error {
    Error::Transport(format!("HTTP/2 {stage}: {}", crate::error_chain::describe(error)))
}
