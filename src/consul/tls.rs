//! TLS to the Consul agent, configured the way Consul's own CLI is
//! (`CONSUL_CACERT`, `CONSUL_CAPATH`, `CONSUL_CLIENT_CERT` + `_KEY`,
//! `CONSUL_TLS_SERVER_NAME`, `CONSUL_HTTP_SSL_VERIFY`), so an operator's
//! existing environment works unchanged ([`crate::client_tls`] does the
//! work). A file that cannot be read or parsed is a start-up error that names
//! it; a certificate the agent's does not chain to shows in the watch's error
//! ("invalid peer certificate: UnknownIssuer").

use rustls::ClientConfig;

use super::ConsulTls;
use super::{Error, Transport};

/// The rustls client configuration for an agent's HTTPS API, offering by
/// ALPN only the protocol the client will speak.
pub fn client_config(settings: &ConsulTls, transport: Transport) -> Result<ClientConfig, Error> {
    let alpn: &[&[u8]] = match transport {
        Transport::Http1 => &[b"http/1.1"],
        Transport::Http2 => &[b"h2"],
    };
    crate::client_tls::client_config(settings, alpn, "the Consul agent's").map_err(Error::Setup)
}

#[cfg(test)]
mod tests;
