//! Recent traffic per instance, for the dashboard and `/admin/routes`.
//!
//! Four times a second a sampler reads every instance's request and failure
//! counters (plain atomics the request path bumps anyway), turns the deltas
//! into smoothed rates and each instance's share of its route, and publishes
//! the result. Nothing here touches the request path. It samples only while
//! someone looks (a dashboard connected, or `/admin/routes` read in the last
//! [`WATCHED_FOR`]): with ten thousand routes a sample is 30,000 instances,
//! which nobody should pay for four times a second while nobody looks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::canary::Side;
use crate::consul::instance_key;
use crate::snapshot::{Shared, Snapshot};
use crate::upstream::clock_ms;

/// How often traffic is sampled.
pub const TICK: Duration = Duration::from_millis(250);

/// After the last read of [`Traffic::latest`], sampling goes on this long.
pub const WATCHED_FOR: Duration = Duration::from_secs(30);

/// Weight of the newest sample in the moving average (≈ 1 s window at 4 Hz).
const SMOOTHING: f64 = 0.4;

/// The traffic picture at one tick.
#[derive(Debug, Default, Clone, Serialize)]
pub struct TrafficView {
    pub generation: u64,
    pub routes: Vec<RouteTraffic>,
    /// Instances that left Consul's passing set but still finish requests.
    pub draining: Vec<InstanceTraffic>,
}

/// One route's instances.
#[derive(Debug, Clone, Serialize)]
pub struct RouteTraffic {
    /// The route's key (host, prefix and matchers).
    pub key: String,
    pub prefix: String,
    pub service: String,
    pub instances: Vec<InstanceTraffic>,
    /// The canary release on this route, if any.
    pub canary: Option<CanaryTraffic>,
}

/// A route's canary as the dashboard shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CanaryTraffic {
    /// The share the tags declare, e.g. `5%`.
    pub share: String,
    /// The share in force (`0%` once aborted).
    pub effective: String,
    /// Why it was aborted, if it was: the dashboard's event.
    pub aborted: Option<String>,
}

/// One instance's recent traffic.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceTraffic {
    /// Consul service ID.
    pub id: String,
    /// The Consul node it runs on.
    pub node: String,
    /// `node/ID`: the instance's identity in the cluster.
    pub key: String,
    pub state: &'static str,
    pub rps: f64,
    pub error_rate: f64,
    /// Fraction of the route's recent requests this instance served.
    pub share: f64,
    pub in_flight: usize,
    /// True for a canary instance.
    pub canary: bool,
}

#[derive(Debug, Default, Clone, Copy)]
struct Rate {
    requests: u64,
    failures: u64,
    rps: f64,
    fps: f64,
}

/// Publishes a [`TrafficView`] every [`TICK`].
#[derive(Debug, Clone)]
pub struct Traffic {
    view: watch::Sender<Arc<TrafficView>>,
    /// When [`Traffic::latest`] was last called.
    read_at: Arc<Mutex<Option<tokio::time::Instant>>>,
}

impl Default for Traffic {
    fn default() -> Self {
        Traffic { view: watch::channel(Arc::default()).0, read_at: Arc::default() }
    }
}

impl Traffic {
    /// The latest view (empty when nobody looked for a while: sampling
    /// starts again now, and rates show from the next ticks).
    pub fn latest(&self) -> Arc<TrafficView> {
        *self.read_at.lock().unwrap_or_else(PoisonError::into_inner) = Some(tokio::time::Instant::now());
        self.view.borrow().clone()
    }

    /// True while a dashboard is connected or the view was read recently.
    fn watched(&self) -> bool {
        let read_at = *self.read_at.lock().unwrap_or_else(PoisonError::into_inner);
        self.view.receiver_count() > 0 || read_at.is_some_and(|at| at.elapsed() < WATCHED_FOR)
    }

    /// A receiver that wakes at every tick.
    pub fn subscribe(&self) -> watch::Receiver<Arc<TrafficView>> {
        self.view.subscribe()
    }

    /// Samples until `stop`.
    pub async fn run(self, snapshot: Shared, stop: CancellationToken) {
        let mut rates: HashMap<String, Rate> = HashMap::new();
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.cancelled() => return,
            }
            if !self.watched() {
                if !rates.is_empty() {
                    rates.clear();
                    self.view.send_replace(Arc::default());
                }
                continue;
            }
            let view = sample(&snapshot.load(), &mut rates);
            self.view.send_replace(Arc::new(view));
        }
    }
}

fn sample(snapshot: &Snapshot, rates: &mut HashMap<String, Rate>) -> TrafficView {
    let now = clock_ms();
    let mut next: HashMap<String, Rate> = HashMap::new();
    let mut measure = |id: &str, requests: u64, failures: u64| -> Rate {
        let rate = match (next.get(id), rates.get(id)) {
            (Some(done), _) => *done,
            (None, Some(old)) => advance(old, requests, failures),
            (None, None) => Rate { requests, failures, rps: 0.0, fps: 0.0 },
        };
        next.insert(id.to_string(), rate);
        rate
    };
    let routes = snapshot
        .routes()
        .into_iter()
        .map(|route| {
            let mut instances: Vec<InstanceTraffic> = route
                .upstream
                .endpoints
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let key = instance_key(&e.node, &e.id);
                    let rate = measure(&key, e.state.requests(), e.state.failures());
                    let mut instance = traffic((&e.node, &e.id), e.state_name(now), rate, e.state.in_flight());
                    instance.canary = route.upstream.side_of(i) == Side::Canary;
                    instance
                })
                .collect();
            let total: f64 = instances.iter().map(|i| i.rps).sum();
            for i in &mut instances {
                i.share = if total > 0.0 { i.rps / total } else { 0.0 };
            }
            let canary = route.canary.as_ref().map(|c| CanaryTraffic {
                share: c.share.to_string(),
                effective: c.effective().to_string(),
                aborted: c.health.abort().map(|a| a.reason),
            });
            RouteTraffic {
                key: route.key.to_string(),
                prefix: route.prefix.to_string(),
                service: route.service.to_string(),
                instances,
                canary,
            }
        })
        .collect();
    let draining = snapshot
        .draining
        .iter()
        .filter(|d| d.state.in_flight() > 0)
        .map(|d| {
            let rate = measure(&instance_key(&d.node, &d.id), d.state.requests(), d.state.failures());
            traffic((&d.node, &d.id), "draining", rate, d.state.in_flight())
        })
        .collect();
    *rates = next;
    TrafficView { generation: snapshot.generation, routes, draining }
}

fn advance(old: &Rate, requests: u64, failures: u64) -> Rate {
    let seconds = TICK.as_secs_f64();
    let rps = requests.saturating_sub(old.requests) as f64 / seconds;
    let fps = failures.saturating_sub(old.failures) as f64 / seconds;
    Rate {
        requests,
        failures,
        rps: SMOOTHING * rps + (1.0 - SMOOTHING) * old.rps,
        fps: SMOOTHING * fps + (1.0 - SMOOTHING) * old.fps,
    }
}

fn traffic((node, id): (&str, &str), state: &'static str, rate: Rate, in_flight: usize) -> InstanceTraffic {
    let round = |x: f64| (x * 100.0).round() / 100.0;
    InstanceTraffic {
        id: id.to_string(),
        node: node.to_string(),
        key: instance_key(node, id),
        state,
        rps: round(rate.rps),
        error_rate: if rate.rps > 0.0 { round((rate.fps / rate.rps).min(1.0)) } else { 0.0 },
        share: 0.0,
        in_flight,
        canary: false,
    }
}

#[cfg(test)]
mod tests;
