//! Wiring: starts discovery, the snapshot builder and both listeners, and
//! stops them in order when asked.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use crate::admin::scrape::StateGauges;
use crate::admin::Admin;
use crate::auth::{ApiKeys, Authenticator, JwtVerifier};
use crate::cache::ResponseCache;
use crate::config::Config;
use crate::consul::Client;
use crate::discovery::{Discovery, Statuses};
use crate::metrics::Metrics;
use crate::proxy::{idle_sweep, Gateway, Policies};
use crate::ratelimit::Limiters;
use crate::replicas::registration::Listening;
use crate::replicas::{Cluster, Membership, Replicas};
use crate::server::workers::Workers;
use crate::server::{serve, serve_tls, ServerSettings};
use crate::snapshot::builder::Builder;
use crate::snapshot::{Shared, Snapshot};
use crate::tls::Certificates;
use crate::traffic::Traffic;
use crate::upstream::TlsProfiles;

/// The sockets Portico serves, bound by the caller (tests bind port 0).
pub struct Listeners {
    pub proxy: TcpListener,
    pub admin: TcpListener,
    /// The HTTPS listener, when TLS is configured.
    pub tls: Option<TcpListener>,
}

/// Why Portico could not start; the message names the flag or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Consul(#[from] crate::consul::Error),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    #[error("cannot start the proxy threads: {0}")]
    Threads(std::io::Error),
    #[error("[upstream_tls]: {0}")]
    UpstreamTls(String),
}

impl Listeners {
    /// Binds the configured addresses.
    pub async fn bind(config: &Config) -> std::io::Result<Listeners> {
        let proxy = TcpListener::bind(config.listen).await.map_err(|e| named(e, "--listen", config.listen))?;
        let admin = TcpListener::bind(config.admin_listen)
            .await
            .map_err(|e| named(e, "--admin-listen", config.admin_listen))?;
        let tls = match &config.edge.tls {
            Some(tls) => Some(TcpListener::bind(tls.listen).await.map_err(|e| named(e, "--tls-listen", tls.listen))?),
            None => None,
        };
        Ok(Listeners { proxy, admin, tls })
    }
}

fn named(e: std::io::Error, flag: &str, addr: std::net::SocketAddr) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("cannot bind {flag} {addr}: {e}"))
}

/// Runs Portico until `stop` is cancelled, then drains in-flight requests.
pub async fn run(config: Config, listeners: Listeners, stop: CancellationToken) -> Result<(), StartError> {
    run_with_reload(config, listeners, stop, Arc::new(Notify::new())).await
}

/// Like [`run`]; each notification of `reload` re-reads certificates and JWT keys (SIGHUP in `main`).
pub async fn run_with_reload(
    config: Config,
    listeners: Listeners,
    stop: CancellationToken,
    reload: Arc<Notify>,
) -> Result<(), StartError> {
    // `requested` is the caller's stop; everything here follows `stop`, which
    // comes `drain_delay` later, while `/healthz` already answers 503.
    let (requested, stop, draining) = (stop, CancellationToken::new(), CancellationToken::new());
    tokio::spawn(drain_delay(requested, draining.clone(), stop.clone(), config.proxy.drain_delay));
    let _stop_on_return = stop.clone().drop_guard();
    let certificates = match &config.edge.tls {
        Some(tls) => Some(Certificates::load(tls.certificates.clone())?),
        None => None,
    };
    let acceptor = certificates.as_ref().map(|c| c.acceptor()).transpose()?;
    let replicas = Replicas::default();
    let policies = Arc::new(policies(&config, &replicas)?);
    let upstream_tls =
        TlsProfiles::new(&config.upstream_tls, &config.upstream_tls_profiles).map_err(StartError::UpstreamTls)?;
    let control = ControlPlane::start(&config, stop.clone())?;
    tokio::spawn(Arc::clone(&policies.limiters).run_sweeper(config.edge.rate_limit.sweep_interval, stop.clone()));
    tokio::spawn(reload_on(reload, Arc::clone(&policies), certificates.clone(), stop.clone()));
    tokio::spawn(idle_sweep::run(control.shared.clone(), config.proxy.pool_idle_timeout, stop.clone()));
    let workers = Arc::new(Workers::start(config.proxy.threads).map_err(StartError::Threads)?);
    let admin_server = ServerSettings {
        header_read_timeout: config.proxy.header_read_timeout,
        grace: config.proxy.shutdown_grace,
        max_connections: config.proxy.max_connections,
        max_header_bytes: config.proxy.max_header_bytes,
        workers: None,
    };
    let server = ServerSettings { workers: Some(Arc::clone(&workers)), ..admin_server.clone() };
    // One gateway for every public listener: plain requests are redirected
    // to HTTPS when asked, TLS ones never are.
    let mut gateway = Gateway::new(control.shared.clone(), config.proxy.clone(), Arc::clone(&policies))
        .with_certificates(certificates.clone())
        .with_upstream_tls(upstream_tls);
    if let Some(port) = https_redirect(&config, &listeners) {
        gateway = gateway.redirect_to_https(port);
    }
    let gateway = gateway.into_shared();
    let listening = Listening {
        proxy: listeners.proxy.local_addr().unwrap_or(config.listen),
        admin: listeners.admin.local_addr().unwrap_or(config.admin_listen),
    };
    tracing::info!(listen = %addr(&listeners.proxy), admin = %addr(&listeners.admin), consul = %config.consul.address, "portico started");
    let mut servers = vec![tokio::spawn(serve(listeners.proxy, Arc::clone(&gateway), server.clone(), stop.clone()))];
    if let (Some(listener), Some(acceptor)) = (listeners.tls, acceptor) {
        tracing::info!(tls_listen = %addr(&listener), "HTTPS listener started");
        servers.push(tokio::spawn(serve_tls(listener, gateway, server.clone(), acceptor, stop.clone())));
    }
    let membership = Membership {
        client: control.consul.fresh()?,
        consul_address: config.consul.address.clone(),
        listening,
        cache: Arc::clone(&policies.cache),
    };
    let cluster = Cluster::start(&config.cluster, replicas, membership, draining.clone(), stop.clone())?;
    let admin = Arc::new(control.admin(config.admin_token.clone(), policies, &stop, draining).with_cluster(cluster));
    servers.push(tokio::spawn(serve(listeners.admin, admin, admin_server, stop.clone())));
    drop(server);
    for server in servers {
        if let Err(error) = server.await {
            tracing::error!(%error, "a listener's task ended abnormally");
        }
    }
    // Joins the proxy threads, off the async threads.
    if let Err(error) = tokio::task::spawn_blocking(move || drop(workers)).await {
        tracing::error!(%error, "the proxy threads did not stop cleanly");
    }
    control.stop().await;
    tracing::info!("portico stopped");
    Ok(())
}

/// The HTTPS port plain requests are redirected to, when that is asked for.
fn https_redirect(config: &Config, listeners: &Listeners) -> Option<u16> {
    match (&config.edge.tls, &listeners.tls) {
        (Some(tls), Some(listener)) if tls.redirect_http => {
            Some(listener.local_addr().map_or(tls.listen.port(), |a| a.port()))
        }
        _ => None,
    }
}

/// Discovery, the snapshot builder and what they publish.
struct ControlPlane {
    shared: Shared,
    statuses: Statuses,
    metrics: Arc<Metrics>,
    /// A client of its own for the admin listener's occasional reads.
    consul: Client,
    builder: tokio::task::JoinHandle<()>,
    discovery: tokio::task::JoinHandle<()>,
}

impl ControlPlane {
    /// Starts watching Consul and building snapshots.
    fn start(config: &Config, stop: CancellationToken) -> Result<ControlPlane, StartError> {
        let statuses = Statuses::default();
        let client = Client::counting(&config.consul, statuses.read_counter())?;
        let shared: Shared = Arc::new(ArcSwap::from_pointee(Snapshot::default()));
        let (tx, rx) = mpsc::channel(1024);
        let gauges = StateGauges { snapshot: shared.clone(), statuses: statuses.clone() };
        let metrics = Arc::new(Metrics::default().with_collector(Box::new(gauges)));
        let builder = Builder::holding(
            config.routes.clone(),
            shared.clone(),
            config.consul.coalesce,
            metrics.clone(),
            config.consul.reset_grace,
        );
        let builder = tokio::spawn(builder.run(rx));
        let pinned: BTreeSet<String> = config.routes.iter().map(|r| r.service.clone()).collect();
        let consul = client.fresh()?;
        let discovery = Discovery { client, settings: config.consul.clone(), updates: tx, statuses: statuses.clone() };
        let discovery = tokio::spawn(discovery.run(pinned, stop));
        Ok(ControlPlane { shared, statuses, metrics, consul, builder, discovery })
    }

    /// The admin endpoints over this control plane, with the traffic sampler running.
    fn admin(
        &self,
        token: Option<String>,
        policies: Arc<Policies>,
        stop: &CancellationToken,
        draining: CancellationToken,
    ) -> Admin {
        let traffic = Traffic::default();
        tokio::spawn(traffic.clone().run(self.shared.clone(), stop.clone()));
        let (snapshot, statuses, metrics) = (self.shared.clone(), self.statuses.clone(), self.metrics.clone());
        let consul = Some(self.consul.clone());
        Admin { snapshot, statuses, metrics, traffic, token, policies, draining, consul, cluster: Cluster::default() }
    }

    /// Waits for discovery to stop (it follows the stop token), then ends the builder.
    async fn stop(self) {
        if let Err(error) = self.discovery.await {
            tracing::error!(%error, "discovery's task ended abnormally");
        }
        self.builder.abort();
    }
}

/// The shared policy state, with keys loaded (a bad key file stops start-up).
fn policies(config: &Config, replicas: &Replicas) -> Result<Policies, StartError> {
    let auth = &config.edge.auth;
    let jwt = match &auth.jwt {
        Some(settings) => Some(JwtVerifier::new(settings.clone())?),
        None => None,
    };
    Ok(Policies {
        auth: Authenticator { api_keys: ApiKeys::new(&auth.api_key_header, &auth.api_keys)?, jwt },
        limiters: Arc::new(
            Limiters::new(config.edge.rate_limit.max_clients)
                .with_ipv6_prefix(config.edge.rate_limit.ipv6_prefix)
                .with_replicas(replicas.count_handle()),
        ),
        cache: Arc::new(ResponseCache::new(config.edge.cache)),
        trusted: config.edge.trusted_proxies.clone(),
    })
}

/// Re-reads certificates and JWT keys on each notification; a failure keeps
/// what is in use and is logged with the file at fault.
async fn reload_on(
    reload: Arc<Notify>,
    policies: Arc<Policies>,
    certificates: Option<Arc<Certificates>>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = reload.notified() => {}
            _ = stop.cancelled() => return,
        }
        if let Some(certificates) = &certificates {
            match certificates.reload() {
                Ok(()) => tracing::info!("TLS certificates reloaded"),
                Err(error) => tracing::error!(%error, "TLS reload failed; keeping the certificates in use"),
            }
        }
        match policies.auth.reload() {
            Ok(()) => tracing::info!("JWT keys reloaded"),
            Err(error) => tracing::error!(%error, "JWT key reload failed; keeping the keys in use"),
        }
    }
}

/// Once `requested`: marks `draining` (readiness turns 503), keeps serving
/// for `delay`, then cancels `stop`, which closes the listeners and drains.
async fn drain_delay(
    requested: CancellationToken,
    draining: CancellationToken,
    stop: CancellationToken,
    delay: Duration,
) {
    tokio::select! {
        _ = requested.cancelled() => {}
        _ = stop.cancelled() => return,
    }
    draining.cancel();
    if !delay.is_zero() {
        tracing::info!(?delay, "shutting down: /healthz answers 503; still serving during the drain delay");
        tokio::time::sleep(delay).await;
    }
    stop.cancel();
}

fn addr(listener: &TcpListener) -> String {
    listener.local_addr().map(|a| a.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests;
