//! The state gauges of `/metrics`, read at scrape time from the snapshot in
//! force and the Consul watches: where those parts meet, so that neither the
//! metrics module nor the request path knows about them.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::discovery::Statuses;
use crate::metrics::{labels, Labels};
use crate::snapshot::{Shared, Snapshot};

/// Reads the snapshot and the watches on every scrape.
#[derive(Debug)]
pub struct StateGauges {
    pub snapshot: Shared,
    pub statuses: Statuses,
}

impl Collector for StateGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        self.encode_snapshot(&mut encoder)?;
        self.encode_watches(&mut encoder)
    }
}

impl StateGauges {
    fn encode_snapshot(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let snapshot = self.snapshot.load();
        let in_flight = Family::<Labels, Gauge>::default();
        let mut instances = 0;
        for route in snapshot.routes() {
            for e in route.upstream.endpoints.iter() {
                instances += 1;
                in_flight.get_or_create(&labels(&route.key, &e.node, &e.id)).set(e.state.in_flight() as i64);
            }
        }
        write(encoder, "instance_in_flight", "Requests in flight per instance", &in_flight)?;
        self.encode_canaries(encoder, &snapshot)?;
        let gauges = [
            ("snapshot_generation", "Generation of the routing snapshot in force", snapshot.generation as i64),
            ("routes", "Routes in the snapshot", snapshot.table.len() as i64),
            ("instances", "Instances in the snapshot", instances),
            ("rejected_declarations", "Route declarations refused", snapshot.rejected.len() as i64),
        ];
        for (name, help, value) in gauges {
            let gauge = Gauge::<i64>::default();
            gauge.set(value);
            write(encoder, name, help, &gauge)?;
        }
        Ok(())
    }

    /// Per route with a canary: the share in force and whether it was aborted.
    fn encode_canaries(&self, encoder: &mut DescriptorEncoder, snapshot: &Snapshot) -> fmt::Result {
        let share = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        let aborted = Family::<Labels, Gauge>::default();
        for route in snapshot.table.iter() {
            if let Some(canary) = &route.canary {
                let labels = vec![("route", route.key.to_string())];
                share.get_or_create(&labels).set(canary.effective().ratio());
                aborted.get_or_create(&labels).set(i64::from(canary.health.is_aborted()));
            }
        }
        write(encoder, "canary_share", "Share of the route's traffic sent to its canary now (0 once aborted)", &share)?;
        write(encoder, "canary_aborted", "1 when the route's canary was aborted for its 5xx rate", &aborted)
    }

    fn encode_watches(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let staleness = Gauge::<f64, AtomicU64>::default();
        staleness.set(self.statuses.staleness());
        let help = "Seconds since discovery was last in sync (0 = in sync)";
        write(encoder, "discovery_staleness_seconds", help, &staleness)?;
        let (index, filtered) = (Family::<Labels, Gauge>::default(), Family::<Labels, Gauge>::default());
        let requests = Family::<Labels, Counter>::default();
        for (watch, report) in self.statuses.reports() {
            let by_watch = vec![("watch", watch.clone())];
            index.get_or_create(&by_watch).set(report.index as i64);
            filtered.get_or_create(&by_watch).set(i64::from(report.acl_filtered));
            let errors = report.errors - report.denied;
            for (result, value) in [("ok", report.replies), ("error", errors), ("denied", report.denied)] {
                let counter = requests.get_or_create(&vec![("watch", watch.clone()), ("result", result.into())]);
                counter.inner().store(value, Ordering::Relaxed);
            }
        }
        let help = "Consul queries by watch and result (ok, error, denied: the ACL token was refused)";
        write(encoder, "consul_requests", help, &requests)?;
        let read = Counter::<u64, AtomicU64>::default();
        read.inner().store(self.statuses.read_bytes(), Ordering::Relaxed);
        write(encoder, "consul_read_bytes", "Body bytes read from the Consul agent", &read)?;
        if let Some(budget) = self.statuses.budget() {
            let gauges = [
                ("consul_connections", "Connections to the Consul agent in use", budget.connections),
                (
                    "consul_connections_max",
                    "Most connections Portico opens to the Consul agent",
                    budget.max_connections,
                ),
                (
                    "consul_feed_services",
                    "Routed services followed through the shared feed on every check",
                    budget.followed_by_feed,
                ),
            ];
            for (name, help, value) in gauges {
                let gauge = Gauge::<i64>::default();
                gauge.set(value as i64);
                write(encoder, name, help, &gauge)?;
            }
        }
        write(encoder, "consul_watch_index", "Last X-Consul-Index per watch", &index)?;
        let help = "1 when the watch's last reply was filtered by ACLs (the token cannot read everything)";
        write(encoder, "consul_acl_filtered", help, &filtered)
    }
}

fn write(encoder: &mut DescriptorEncoder, name: &str, help: &str, metric: &impl EncodeMetric) -> fmt::Result {
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

#[cfg(test)]
mod tests;
