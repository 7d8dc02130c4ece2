//! Search: a local index of the catalog, kept current by following
//! Products' change feed through Portico (a long poll, like a Consul
//! blocking query), so a new or changed product is searchable at once.
//!
//! `GET /search?q=words` matches every word against name and description
//! (case-insensitive); only products in stock unless `all=true`.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use portico::discovery::backoff::Backoff;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::gateway::Gateway;
use crate::http::{error, json, query_param, segments, Body, Handler};
use crate::lifecycle::Context;
use crate::model::Product;

/// The Search service.
pub struct Search {
    index: Arc<RwLock<Vec<Product>>>,
}

#[derive(Deserialize)]
struct Changes {
    index: u64,
    products: Vec<Product>,
}

impl Search {
    /// Starts following the change feed in the background.
    pub async fn new(context: Context) -> Search {
        let index = Arc::new(RwLock::new(Vec::new()));
        tokio::spawn(follow(context.gateway, index.clone(), context.stop));
        Search { index }
    }

    fn search(&self, request: &Request<Incoming>) -> Response<Body> {
        let query = query_param(request, "q").unwrap_or_default().to_lowercase();
        let all = matches!(query_param(request, "all").as_deref(), Some("true" | "1" | "yes"));
        let words: Vec<&str> = query.split_whitespace().collect();
        let products = self.index.read().unwrap_or_else(|e| e.into_inner());
        let hits: Vec<&Product> = products
            .iter()
            .filter(|p| all || p.stock > 0)
            .filter(|p| {
                let text = format!("{} {}", p.name, p.description).to_lowercase();
                words.iter().all(|w| text.contains(w))
            })
            .collect();
        json(StatusCode::OK, &json!({ "query": query, "count": hits.len(), "results": hits }))
    }
}

impl Handler for Search {
    async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        let path = request.uri().path().to_string();
        match (request.method(), segments(&path).as_slice()) {
            (&Method::GET, ["health"]) => json(StatusCode::OK, &json!({"status": "ok"})),
            (&Method::GET, ["search"]) => self.search(&request),
            _ => error(StatusCode::NOT_FOUND, format!("no such endpoint: {path}")),
        }
    }
}

/// Long-polls `/products/changes` and swaps in each new catalog.
async fn follow(gateway: Gateway, index: Arc<RwLock<Vec<Product>>>, stop: CancellationToken) {
    let mut last = 0u64;
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        let path = format!("/products/changes?index={last}&wait=25s");
        let poll = gateway.get::<Changes>(&path);
        let result = tokio::select! {
            r = poll => r,
            _ = stop.cancelled() => return,
        };
        match result {
            Ok(changes) => {
                // Like Consul's own rule: an index that went backwards restarts from 0.
                last = if changes.index < last { 0 } else { changes.index };
                *index.write().unwrap_or_else(|e| e.into_inner()) = changes.products;
                backoff.reset();
            }
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, retry_in = ?delay, "change feed unavailable");
                tokio::time::sleep(delay).await;
                last = 0;
            }
        }
    }
}
