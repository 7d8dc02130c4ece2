//! Wiring: starts discovery, the snapshot builder and both listeners, and
//! stops them in order when asked.

use std::collections::BTreeSet;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::admin::Admin;
use crate::config::Config;
use crate::consul::Client;
use crate::discovery::{Discovery, Statuses};
use crate::metrics::Metrics;
use crate::proxy::server::{serve, Handler, ServerSettings};
use crate::proxy::{Gateway, ProxyBody};
use crate::snapshot::builder::Builder;
use crate::snapshot::{Shared, Snapshot};
use crate::traffic::Traffic;

/// The two sockets Portico serves, bound by the caller (tests bind port 0).
pub struct Listeners {
    pub proxy: TcpListener,
    pub admin: TcpListener,
}

impl Listeners {
    /// Binds the configured addresses.
    pub async fn bind(config: &Config) -> std::io::Result<Listeners> {
        let proxy = TcpListener::bind(config.listen).await.map_err(|e| named(e, "--listen", config.listen))?;
        let admin = TcpListener::bind(config.admin_listen)
            .await
            .map_err(|e| named(e, "--admin-listen", config.admin_listen))?;
        Ok(Listeners { proxy, admin })
    }
}

fn named(e: std::io::Error, flag: &str, addr: std::net::SocketAddr) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("cannot bind {flag} {addr}: {e}"))
}

impl Handler for Gateway {
    async fn call(
        &self,
        request: http::Request<hyper::body::Incoming>,
        client: std::net::SocketAddr,
    ) -> http::Response<ProxyBody> {
        self.handle(request, client).await
    }
}

/// Runs Portico until `stop` is cancelled, then drains in-flight requests.
pub async fn run(config: Config, listeners: Listeners, stop: CancellationToken) -> Result<(), crate::consul::Error> {
    let client = Client::new(&config.consul)?;
    let shared: Shared = Arc::new(ArcSwap::from_pointee(Snapshot::default()));
    let statuses = Statuses::default();
    let (tx, rx) = mpsc::channel(1024);
    let metrics = Arc::new(Metrics::default());
    let builder = Builder::holding(
        config.routes.clone(),
        shared.clone(),
        config.consul.coalesce,
        metrics.clone(),
        config.consul.reset_grace,
    );
    let builder = tokio::spawn(builder.run(rx));
    let pinned: BTreeSet<String> = config.routes.iter().map(|r| r.service.clone()).collect();
    let discovery = Discovery { client, settings: config.consul.clone(), updates: tx, statuses: statuses.clone() };
    let discovery = tokio::spawn(discovery.run(pinned, stop.clone()));

    let server = ServerSettings {
        header_read_timeout: config.proxy.header_read_timeout,
        grace: config.proxy.shutdown_grace,
        max_connections: config.proxy.max_connections,
        max_header_bytes: config.proxy.max_header_bytes,
    };
    let gateway = Arc::new(Gateway::new(shared.clone(), config.proxy.clone()));
    let traffic = Traffic::default();
    tokio::spawn(traffic.clone().run(shared.clone(), stop.clone()));
    let admin = Arc::new(Admin { snapshot: shared, statuses, metrics, traffic, token: config.admin_token.clone() });
    tracing::info!(listen = %addr(&listeners.proxy), admin = %addr(&listeners.admin), consul = %config.consul.address, "portico started");
    let public = tokio::spawn(serve(listeners.proxy, gateway, server.clone(), stop.clone()));
    let admin = tokio::spawn(serve(listeners.admin, admin, server, stop.clone()));
    let _ = public.await;
    let _ = admin.await;
    let _ = discovery.await;
    builder.abort();
    tracing::info!("portico stopped");
    Ok(())
}

fn addr(listener: &TcpListener) -> String {
    listener.local_addr().map(|a| a.to_string()).unwrap_or_default()
}
