//! Many instances written straight into a real agent's catalog, the way
//! a large datacenter's catalog fills up, without one agent per node: nodes
//! and services are set through `/v1/txn` in batches, so thousands of
//! instances take seconds. Nothing owns these nodes, so the agent's
//! anti-entropy leaves them alone; checks change only when a test says so.

use serde_json::{json, Value};

use crate::consul::ConsulAgent;

/// Operations per transaction (Consul accepts up to 128).
const OPS_PER_TXN: usize = 64;

/// Transactions in flight at once.
const PARALLEL_TXNS: usize = 8;

/// One instance in the catalog, with one check of its own.
#[derive(Debug, Clone)]
pub struct CatalogInstance {
    pub node: String,
    pub service: String,
    pub id: String,
    pub port: u16,
    pub tags: Vec<String>,
    /// `passing`, `warning` or `critical`.
    pub status: &'static str,
}

impl CatalogInstance {
    /// Instance `i` of routed service `svc-<s>` on node `node-<i>`, passing, routed at `/svc-<s>`.
    pub fn routed(s: usize, i: usize, port: u16) -> CatalogInstance {
        CatalogInstance {
            node: format!("node-{i}"),
            service: format!("svc-{s}"),
            id: format!("svc-{s}-{i}"),
            port,
            tags: vec![format!("portico.route=/svc-{s}")],
            status: "passing",
        }
    }

    fn service_op(&self) -> Value {
        json!({ "Service": { "Verb": "set", "Node": self.node, "Service": {
            "ID": self.id, "Service": self.service, "Address": "127.0.0.1", "Port": self.port, "Tags": self.tags,
        } } })
    }

    fn check_op(&self) -> Value {
        json!({ "Check": { "Verb": "set", "Check": {
            "Node": self.node, "CheckID": self.id, "Name": "alive", "Status": self.status, "ServiceID": self.id,
        } } })
    }
}

impl ConsulAgent {
    /// Writes `instances` (and their nodes) into the catalog.
    pub async fn catalog_register(&self, instances: &[CatalogInstance]) {
        let mut nodes: Vec<&str> = instances.iter().map(|i| i.node.as_str()).collect();
        nodes.sort_unstable();
        nodes.dedup();
        let node_ops: Vec<Value> = nodes
            .iter()
            .map(|n| json!({ "Node": { "Verb": "set", "Node": { "Node": n, "Address": "127.0.0.1" } } }))
            .collect();
        self.txns(&node_ops).await;
        let ops: Vec<Value> = instances.iter().flat_map(|i| [i.service_op(), i.check_op()]).collect();
        self.txns(&ops).await;
    }

    /// Applies `ops` in transactions, [`PARALLEL_TXNS`] at a time.
    async fn txns(&self, ops: &[Value]) {
        let batches: Vec<Value> = ops.chunks(OPS_PER_TXN).map(|b| Value::Array(b.to_vec())).collect();
        for wave in batches.chunks(PARALLEL_TXNS) {
            let mut running = tokio::task::JoinSet::new();
            for batch in wave {
                let request = self.authorized(self.http.put(format!("{}/v1/txn", self.addr()))).json(batch);
                running.spawn(async move {
                    let response = request.send().await.expect("consul answers");
                    let status = response.status();
                    assert!(
                        status.is_success(),
                        "transaction: {status}: {}",
                        response.text().await.unwrap_or_default()
                    );
                });
            }
            while let Some(done) = running.join_next().await {
                done.expect("transaction task");
            }
        }
    }

    /// Sets the status of a catalog instance's check.
    pub async fn catalog_check(&self, instance: &CatalogInstance, status: &'static str) {
        let changed = CatalogInstance { status, ..instance.clone() };
        self.txn(&[changed.check_op()]).await;
    }

    /// Rewrites a catalog instance's service (address, port, tags) and nothing else.
    pub async fn catalog_update_service(&self, instance: &CatalogInstance) {
        self.txn(&[instance.service_op()]).await;
    }

    /// Removes a catalog instance (its check goes with it).
    pub async fn catalog_deregister(&self, instance: &CatalogInstance) {
        let op = json!({ "Service": { "Verb": "delete", "Node": instance.node, "Service": { "ID": instance.id, "Service": instance.service } } });
        self.txn(&[op]).await;
    }

    async fn txn(&self, ops: &[Value]) {
        self.put_json("/v1/txn", &Value::Array(ops.to_vec())).await.expect("consul transaction");
    }
}
