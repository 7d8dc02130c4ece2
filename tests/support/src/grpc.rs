//! A real gRPC server and client (tonic, over its own HTTP/2 stack): the
//! test service `portico.test.Echo` with a unary, a server-streaming and a
//! client-streaming method. Each instance names itself in every reply, can be
//! told to fail with a status (sent in trailers) or to wait, and shuts down
//! gracefully (HTTP/2 GOAWAY, in-flight calls finish) when asked.

// `tonic::Status` is large, and it is what the generated trait returns.
#![allow(clippy::result_large_err)]

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::{Stream, StreamExt};
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status, Streaming};

/// What a call asks of the instance.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EchoRequest {
    #[prost(string, tag = "1")]
    pub message: String,
    /// Replies a server stream sends.
    #[prost(uint32, tag = "2")]
    pub count: u32,
    /// Non-zero: the call ends with this gRPC status code instead.
    #[prost(int32, tag = "3")]
    pub fail_code: i32,
    /// Waits this long before answering.
    #[prost(uint64, tag = "4")]
    pub delay_ms: u64,
}

/// What the instance answers.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EchoReply {
    #[prost(string, tag = "1")]
    pub message: String,
    /// The instance's ID.
    #[prost(string, tag = "2")]
    pub instance: String,
}

include!(concat!(env!("OUT_DIR"), "/portico.test.Echo.rs"));

pub use echo_client::EchoClient;
use echo_server::{Echo, EchoServer};

/// The service behind one instance.
struct EchoService {
    id: String,
    calls: Arc<AtomicUsize>,
}

impl EchoService {
    fn reply(&self, message: String) -> EchoReply {
        EchoReply { message, instance: self.id.clone() }
    }

    async fn act(&self, request: &EchoRequest) -> Result<(), Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if request.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(request.delay_ms)).await;
        }
        match request.fail_code {
            0 => Ok(()),
            code => Err(Status::new(code.into(), format!("asked to fail by {}", self.id))),
        }
    }
}

type ReplyStream = Pin<Box<dyn Stream<Item = Result<EchoReply, Status>> + Send>>;

#[tonic::async_trait]
impl Echo for EchoService {
    async fn unary(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        let request = request.into_inner();
        self.act(&request).await?;
        Ok(Response::new(self.reply(request.message)))
    }

    type ServerStreamStream = ReplyStream;

    async fn server_stream(&self, request: Request<EchoRequest>) -> Result<Response<ReplyStream>, Status> {
        let request = request.into_inner();
        self.act(&request).await?;
        let replies: Vec<_> = (0..request.count).map(|n| Ok(self.reply(format!("{} {n}", request.message)))).collect();
        Ok(Response::new(Box::pin(tokio_stream::iter(replies))))
    }

    async fn client_stream(&self, request: Request<Streaming<EchoRequest>>) -> Result<Response<EchoReply>, Status> {
        let mut stream = request.into_inner();
        let mut joined = Vec::new();
        while let Some(part) = stream.next().await {
            let part = part?;
            self.act(&part).await?;
            joined.push(part.message);
        }
        Ok(Response::new(self.reply(joined.join(","))))
    }
}

/// A running gRPC instance on a loopback port; stopped when dropped.
pub struct GrpcInstance {
    pub addr: SocketAddr,
    pub id: String,
    /// Calls it has taken.
    pub calls: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl GrpcInstance {
    /// Serves gRPC over plain HTTP/2 (h2c).
    pub async fn start(id: &str) -> GrpcInstance {
        GrpcInstance::serve(id, "127.0.0.1:0", None).await
    }

    /// Serves gRPC over h2c on `addr` (the benchmark's backends).
    pub async fn start_at(id: &str, addr: &str) -> GrpcInstance {
        GrpcInstance::serve(id, addr, None).await
    }

    /// Serves gRPC over TLS with this PEM certificate and key.
    pub async fn start_tls(id: &str, cert_pem: &[u8], key_pem: &[u8]) -> GrpcInstance {
        GrpcInstance::serve(id, "127.0.0.1:0", Some(Identity::from_pem(cert_pem, key_pem))).await
    }

    async fn serve(id: &str, addr: &str, identity: Option<Identity>) -> GrpcInstance {
        let listener = TcpListener::bind(addr).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let calls = Arc::new(AtomicUsize::new(0));
        let service = EchoService { id: id.to_string(), calls: Arc::clone(&calls) };
        let (stop, stopped) = oneshot::channel::<()>();
        let mut builder = Server::builder();
        if let Some(identity) = identity {
            builder = builder.tls_config(ServerTlsConfig::new().identity(identity)).expect("tls config");
        }
        let server = builder.add_service(EchoServer::new(service));
        let task = tokio::spawn(async move {
            let incoming = TcpListenerStream::new(listener);
            let _ = server.serve_with_incoming_shutdown(incoming, async { drop(stopped.await) }).await;
        });
        GrpcInstance { addr, id: id.to_string(), calls, stop: Some(stop), task: Some(task) }
    }

    /// Graceful shutdown: GOAWAY on every connection, in-flight calls
    /// finish, then the listener closes. Returns once it has.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for GrpcInstance {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A request message saying `message`.
pub fn say(message: &str) -> EchoRequest {
    EchoRequest { message: message.to_string(), ..EchoRequest::default() }
}
