//! The bytes under an upstream connection: plain TCP, or TLS over it for
//! instances that serve HTTPS (`portico.proto=https`). One enum rather than
//! a boxed trait object, so a plain connection pays one branch per read or
//! write and no allocation.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::uri::Authority;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// A connection's byte stream.
#[derive(Debug)]
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// How HTTPS instances are reached: the trust and client certificate of
/// `[upstream_tls]`, and the name their certificates must carry when it is
/// not their address.
#[derive(Clone)]
pub struct UpstreamTls {
    /// Which settings these are ([`super::TlsProfiles`]): a connection is
    /// reused only by routes that reach the instance with the same ones.
    id: u32,
    /// Offers HTTP/1.1 by ALPN.
    http1: TlsConnector,
    /// Offers HTTP/2 by ALPN (`portico.proto=h2|grpcs`).
    http2: TlsConnector,
    server_name: Option<ServerName<'static>>,
}

impl std::fmt::Debug for UpstreamTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamTls").field("server_name", &self.server_name).finish()
    }
}

impl UpstreamTls {
    /// From the settings, known as `id`; a file that cannot be read is an error naming it.
    pub fn new(settings: &crate::client_tls::ClientTls, id: u32) -> Result<UpstreamTls, String> {
        // One configuration (CA files and the system store read once); the
        // HTTP/2 one differs only in what it offers by ALPN.
        let http1 = crate::client_tls::client_config(settings, &[b"http/1.1"], "instances'")?;
        let mut http2 = http1.clone();
        http2.alpn_protocols = vec![b"h2".to_vec()];
        let server_name = match &settings.server_name {
            Some(name) => Some(
                ServerName::try_from(name.clone()).map_err(|e| format!("[upstream_tls] server_name {name:?}: {e}"))?,
            ),
            None => None,
        };
        let (http1, http2) = (TlsConnector::from(Arc::new(http1)), TlsConnector::from(Arc::new(http2)));
        Ok(UpstreamTls { id, http1, http2, server_name })
    }

    /// Which settings these are.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The TLS handshake over `tcp` with the instance at `authority`; the
    /// name checked is the configured one, else the address's host (a DNS
    /// name, or an IP address checked against the certificate's IP names).
    /// With `http2`, the instance must accept HTTP/2 by ALPN (or choose none).
    pub async fn handshake(&self, tcp: TcpStream, authority: &Authority, http2: bool) -> io::Result<Stream> {
        let name = match &self.server_name {
            Some(name) => name.clone(),
            None => {
                let host = authority.host().trim_start_matches('[').trim_end_matches(']');
                ServerName::try_from(host.to_string()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?
            }
        };
        let connector = if http2 { &self.http2 } else { &self.http1 };
        let tls = connector.connect(name, tcp).await?;
        if let (true, Some(chosen)) = (http2, tls.get_ref().1.alpn_protocol()) {
            if chosen != b"h2" {
                let chosen = String::from_utf8_lossy(chosen);
                return Err(io::Error::other(format!("the instance chose {chosen:?} by ALPN, not HTTP/2 (h2)")));
            }
        }
        Ok(Stream::Tls(Box::new(tls)))
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
