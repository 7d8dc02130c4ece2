//! The life of one instance: bind, register with the local Consul agent,
//! serve; on SIGTERM or SIGINT deregister *first*, keep serving through a
//! drain period so the gateway can stop sending (it follows Consul within
//! milliseconds) and in-flight requests finish, then stop.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::ServiceArgs;
use crate::consul::Consul;
use crate::gateway::Gateway;
use crate::http::{serve, Handler};
use crate::store::Store;

/// What a service gets to build its handler.
#[derive(Clone)]
pub struct Context {
    /// The Consul service ID, also sent as `X-Instance-Id`.
    pub instance_id: String,
    /// Shared state.
    pub store: Store,
    /// Calls to sibling services through Portico.
    pub gateway: Gateway,
    /// Cancelled when the instance stops; background tasks watch it.
    pub stop: CancellationToken,
    /// The service's settings.
    pub args: ServiceArgs,
}

/// Runs service `name` until SIGTERM/SIGINT. `make` builds its handler.
pub async fn run<H, F, Fut>(name: &str, args: ServiceArgs, make: F) -> Result<(), String>
where
    H: Handler,
    F: FnOnce(Context) -> Fut,
    Fut: Future<Output = H>,
{
    let consul = Consul::new(&args.consul_url(), args.consul_token.as_deref()).map_err(|e| e.to_string())?;
    let listener =
        TcpListener::bind(args.listen).await.map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let advertise = advertise_ip(&args, local);
    let instance_id = format!("{name}-{}-{}", host_name(advertise), local.port());
    let header = HeaderValue::from_str(&instance_id).map_err(|_| format!("bad instance id {instance_id}"))?;
    let stop = CancellationToken::new();
    let context = Context {
        instance_id: instance_id.clone(),
        store: Store::new(consul.clone()),
        gateway: Gateway::new(&args.portico_url()).map_err(|e| format!("cannot build the HTTP client: {e}"))?,
        stop: stop.clone(),
        args: args.clone(),
    };
    let handler = Arc::new(make(context).await);
    let failing = crate::http::Failing::new(args.fail_rate);
    let server = tokio::spawn(serve(listener, handler, header, failing, stop.clone()));
    let registration = registration(name, &instance_id, SocketAddr::new(advertise, local.port()), &args);
    tracing::info!(%instance_id, listen = %local, %advertise, "serving; registering with consul");
    register_with_retry(&consul, &registration, &stop).await;

    wait_for_signal().await;
    tracing::info!(%instance_id, "stopping: deregistering first");
    if let Err(error) = consul.deregister(&instance_id).await {
        tracing::warn!(%error, "deregistration failed; consul will reap the instance when its check fails");
    }
    tokio::time::sleep(args.drain).await;
    stop.cancel();
    if let Err(error) = server.await {
        tracing::error!(%error, "the server task ended abnormally");
    }
    tracing::info!(%instance_id, "stopped");
    Ok(())
}

/// The Consul registration of one instance: route tag and HTTP health check.
pub fn registration(name: &str, id: &str, addr: SocketAddr, args: &ServiceArgs) -> Value {
    let interval = format!("{}ms", args.check_interval.as_millis().max(1000));
    json!({
        "ID": id,
        "Name": name,
        "Tags": tags(name).into_iter().chain(args.tags.iter().filter(|t| !t.is_empty()).cloned()).collect::<Vec<_>>(),
        "Address": addr.ip().to_string(),
        "Port": addr.port(),
        "Meta": { "version": args.version },
        "Check": {
            "CheckID": format!("{id}-http"),
            "Name": format!("{name} /health"),
            "HTTP": format!("http://{addr}/health"),
            "Interval": interval,
            "Timeout": "1s",
            // Registered only once the listener serves, so it may take traffic at once.
            "Status": "passing",
            "DeregisterCriticalServiceAfter": "1m"
        }
    })
}

/// The route tag, plus the edge policies each shop service asks Portico for:
/// checkout wants a JWT or an API key, the product list is cached (for as
/// long as its `Cache-Control` says) and is also the whole of the host
/// `catalog.localhost` (host routing), search is rate limited per client.
pub fn tags(name: &str) -> Vec<String> {
    let policies: &[&str] = match name {
        "checkout" => &["portico.auth=any"],
        "products" => &["portico.cache=true", "portico.route=catalog.localhost/"],
        "search" => &["portico.rate-limit=50/s", "portico.rate-burst=100"],
        _ => &[],
    };
    let mut tags = vec![format!("portico.route=/{name}")];
    tags.extend(policies.iter().map(|t| t.to_string()));
    tags
}

async fn register_with_retry(consul: &Consul, registration: &Value, stop: &CancellationToken) {
    let mut delay = Duration::from_millis(100);
    loop {
        match consul.register(registration).await {
            Ok(()) => return,
            Err(error) => tracing::warn!(%error, retry_in = ?delay, "consul registration failed; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.cancelled() => return,
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// The address Consul should send traffic to: the flag, else the listen
/// address, else the local address of the interface that reaches Consul
/// (in a container, the container's own address).
fn advertise_ip(args: &ServiceArgs, local: SocketAddr) -> IpAddr {
    args.advertise.unwrap_or_else(|| portico::replicas::reachable_ip(local.ip(), None, &args.consul_url()))
}

fn host_name(fallback: IpAddr) -> String {
    let raw =
        std::env::var("HOSTNAME").ok().or_else(|| std::fs::read_to_string("/etc/hostname").ok()).unwrap_or_default();
    let cleaned: String = raw.trim().chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    if cleaned.is_empty() {
        fallback.to_string().replace([':', '.'], "-")
    } else {
        cleaned
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            tracing::error!("cannot install signal handlers; stopping on Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The whole `main` of a service binary: logging, flags, [`run`], exit code.
pub async fn main<H, F, Fut>(name: &str, make: F) -> std::process::ExitCode
where
    H: Handler,
    F: FnOnce(Context) -> Fut,
    Fut: Future<Output = H>,
{
    portico::logging::init("pretty");
    let args = <ServiceArgs as clap::Parser>::parse();
    match run(name, args, make).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{name}: {error}");
            std::process::ExitCode::from(2)
        }
    }
}
