//! This replica's registration with its local Consul agent: a service
//! (`portico` by default) whose ID is unique per node and advertised
//! listener (`portico-<node>-<address>-<port>`: several replicas may share
//! one agent, as containers on one host do), with the proxy listener's
//! address and port,
//! the admin listener in its metadata, and an HTTP check on `/healthz`, so
//! Consul counts a replica only while it is ready (not before its first
//! sync, not while it drains). It is registered again if the agent loses it
//! (an agent restarted without its data, say), and removed when shutdown
//! begins, before the drain delay, so the others stop counting it first.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::{reachable_ip, ClusterSettings, Replicas};
use crate::consul::Client;

/// How often the agent is asked whether it still holds the registration.
const RECHECK: Duration = Duration::from_secs(5);

/// The listeners a replica registers.
#[derive(Debug, Clone, Copy)]
pub struct Listening {
    pub proxy: SocketAddr,
    pub admin: SocketAddr,
}

/// Registers this replica, keeps it registered, and deregisters it once
/// `shutdown` begins (or `stop`, whichever is first).
pub async fn run(
    client: Client,
    settings: ClusterSettings,
    consul_address: String,
    listening: Listening,
    replicas: Replicas,
    shutdown: CancellationToken,
) {
    let Some(node) = until_ok(&shutdown, || client.agent_node()).await else { return };
    let advertise = advertised(settings.advertise, listening.proxy.ip(), &consul_address);
    let admin_ip = reachable_ip(listening.admin.ip(), Some(advertise), &consul_address);
    if admin_ip.is_loopback() && !consul_is_local(&consul_address) {
        tracing::warn!(admin = %listening.admin, consul = %consul_address,
            "the admin listener is on loopback but the Consul agent is not local: its /healthz check will fail; \
             set --admin-listen to an address the agent reaches");
    }
    let proxy = SocketAddr::new(advertise, listening.proxy.port());
    let id = replica_id(&settings.service, &node, proxy);
    let body = registration(&id, &settings, proxy, admin_ip, listening);
    if until_ok(&shutdown, || client.register(&body)).await.is_none() {
        return;
    }
    tracing::info!(%id, service = %settings.service, "registered in Consul as a replica");
    replicas.set_this(id.clone());
    loop {
        tokio::select! {
            () = tokio::time::sleep(RECHECK) => {}
            () = shutdown.cancelled() => break,
        }
        if let Ok(false) = client.agent_has_service(&id).await {
            tracing::warn!(%id, "the Consul agent lost this replica's registration; registering again");
            if let Err(error) = client.register(&body).await {
                tracing::warn!(%error, "registering again failed; will retry");
            }
        }
    }
    match client.deregister(&id).await {
        Ok(()) => tracing::info!(%id, "deregistered from Consul; draining"),
        Err(error) => tracing::warn!(%error, "deregistration failed; Consul drops the replica when its check fails"),
    }
}

/// The service ID: the agent's node and the advertised listener, so that
/// replicas sharing one agent (containers on one host, each listening on
/// :8080) do not overwrite each other, and a restarted replica keeps its ID.
/// The address is written with `-` for `.` and `:`, as IDs go into URL paths.
fn replica_id(service: &str, node: &str, proxy: SocketAddr) -> String {
    let address: String =
        proxy.ip().to_string().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    format!("{service}-{node}-{address}-{}", proxy.port())
}

/// The registration: where clients reach this replica, and its check.
fn registration(
    id: &str,
    settings: &ClusterSettings,
    proxy: SocketAddr,
    admin_ip: IpAddr,
    listening: Listening,
) -> Value {
    let admin = SocketAddr::new(admin_ip, listening.admin.port());
    json!({
        "ID": id,
        "Name": settings.service,
        "Address": proxy.ip().to_string(),
        "Port": proxy.port(),
        "Meta": { "admin": admin.to_string(), "version": env!("CARGO_PKG_VERSION") },
        "Check": {
            "CheckID": format!("{id}-healthz"),
            "Name": "Portico readiness (/healthz)",
            "HTTP": format!("http://{admin}/healthz"),
            "Interval": format!("{}ms", settings.check_interval.as_millis()),
            "Timeout": "1s",
            "DeregisterCriticalServiceAfter": "1m"
        }
    })
}

/// Where clients reach the proxy listener: `--advertise` when given, even
/// over a specific listen address (a host behind NAT), else the listener's
/// own. (The admin check keeps the admin listener's address when it has one.)
fn advertised(flag: Option<IpAddr>, bound: IpAddr, consul_address: &str) -> IpAddr {
    flag.unwrap_or_else(|| reachable_ip(bound, None, consul_address))
}

fn consul_is_local(address: &str) -> bool {
    let host = reqwest::Url::parse(address).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default();
    host == "localhost" || host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Runs `attempt` until it succeeds (backing off, logging each failure), or
/// `None` once `stop` is cancelled, or at once when the ACL token may not
/// do it (retrying would not help; the replica then runs on its own).
async fn until_ok<T, F, Fut>(stop: &CancellationToken, mut attempt: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, crate::consul::Error>>,
{
    let mut backoff = super::retry_backoff();
    loop {
        match attempt().await {
            Ok(value) => return Some(value),
            Err(error @ crate::consul::Error::Denied { .. }) => {
                tracing::error!(%error, "the ACL token may not register this replica (it needs service \"portico\" write, \
                    see the README); running as a lone gateway: limits and purges stay on this replica");
                return None;
            }
            Err(error) => tracing::warn!(%error, "cannot register this replica in Consul yet; retrying"),
        }
        tokio::select! {
            () = tokio::time::sleep(backoff.next_delay()) => {}
            () = stop.cancelled() => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registration_names_the_replica_its_listeners_and_its_check() {
        let listening =
            Listening { proxy: "0.0.0.0:8080".parse().expect("addr"), admin: "0.0.0.0:9090".parse().expect("addr") };
        let settings = ClusterSettings::default();
        let body = registration(
            "portico-n1-8080",
            &settings,
            "10.0.0.5:8080".parse().expect("addr"),
            "10.0.0.5".parse().expect("ip"),
            listening,
        );
        assert_eq!(body["Name"], "portico");
        assert_eq!(body["Address"], "10.0.0.5");
        assert_eq!(body["Port"], 8080);
        assert_eq!(body["Meta"]["admin"], "10.0.0.5:9090");
        assert_eq!(body["Check"]["HTTP"], "http://10.0.0.5:9090/healthz");
        assert_eq!(body["Check"]["Interval"], "2000ms");
    }

    #[test]
    fn replicas_sharing_an_agent_and_a_port_get_their_own_ids() {
        let (a, b) = ("172.22.0.6:8080".parse().expect("addr"), "172.22.0.7:8080".parse().expect("addr"));
        assert_eq!(replica_id("portico", "n1", a), "portico-n1-172-22-0-6-8080");
        assert_ne!(replica_id("portico", "n1", a), replica_id("portico", "n1", b));
        let v6 = "[2001:db8::1]:8080".parse().expect("addr");
        assert_eq!(replica_id("portico", "n1", v6), "portico-n1-2001-db8--1-8080");
    }

    #[test]
    fn the_advertise_flag_wins_over_a_specific_listen_address() {
        let (flag, bound): (IpAddr, IpAddr) = ("203.0.113.7".parse().expect("ip"), "10.0.0.5".parse().expect("ip"));
        assert_eq!(advertised(Some(flag), bound, "http://127.0.0.1:8500"), flag);
        assert_eq!(advertised(None, bound, "http://127.0.0.1:8500"), bound);
    }

    #[test]
    fn only_a_loopback_agent_is_local() {
        assert!(consul_is_local("http://127.0.0.1:8500"));
        assert!(consul_is_local("https://localhost:8501"));
        assert!(!consul_is_local("http://consul:8500"));
    }
}
