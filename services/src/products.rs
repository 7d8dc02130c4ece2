//! Products: the catalog and its stock.
//!
//! | request | answer |
//! |---|---|
//! | `GET /products` | every product |
//! | `GET /products/<id>` | one product, 404 if unknown |
//! | `POST /products` | create (201; 409 if the ID exists) |
//! | `PUT /products/<id>` | create or replace |
//! | `POST /products/<id>/reserve` `{"quantity": n}` | take stock; 409 when short |
//! | `POST /products/<id>/release` `{"quantity": n}` | give stock back |
//! | `GET /products/changes?index=N` | long-polls like a Consul blocking query: `{"index", "products"}` once the catalog changed after N |
//!
//! Stock changes are check-and-set writes, so concurrent reservations on any
//! number of instances never oversell.

use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::http::{error, json, query_param, read_json, segments, Body, Handler};
use crate::lifecycle::Context;
use crate::model::{check_id, check_quantity, seed, Product};
use crate::store::{Change, Store, UpdateError};

const PREFIX: &str = "shop/products/";

/// The Products service.
pub struct Products {
    store: Store,
    max_body: usize,
    /// Cancelled at shutdown: open long polls answer at once instead of holding the drain up.
    stop: CancellationToken,
}

#[derive(Deserialize)]
struct Quantity {
    quantity: i64,
}

impl Products {
    /// Seeds the catalog if it is empty, then serves it.
    pub async fn new(context: Context) -> Products {
        let products = Products { store: context.store, max_body: context.args.max_body, stop: context.stop };
        products.seed().await;
        products
    }

    /// Writes the seed products that do not exist yet; create-only writes
    /// make this safe when several instances start at once.
    async fn seed(&self) {
        for attempt in 0..50u32 {
            match self.store.list::<Product>(PREFIX, 0, Duration::ZERO).await {
                Ok((existing, _)) if !existing.is_empty() => return,
                Ok(_) => {
                    for product in seed() {
                        let _ = self.store.put_if(&key(&product.id), &product, 0).await;
                    }
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, attempt, "cannot read the catalog yet; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    async fn list(&self) -> Response<Body> {
        match self.store.list::<Product>(PREFIX, 0, Duration::ZERO).await {
            Ok((products, _)) => cacheable(json(StatusCode::OK, &products), LIST_CACHE_CONTROL),
            Err(e) => unavailable(e),
        }
    }

    async fn changes(&self, request: &Request<Incoming>) -> Response<Body> {
        let index = query_param(request, "index").and_then(|v| v.parse().ok()).unwrap_or(0u64);
        let wait = query_param(request, "wait")
            .and_then(|v| humantime::parse_duration(&v).ok())
            .unwrap_or(Duration::from_secs(30))
            .min(Duration::from_secs(50));
        let listed = tokio::select! {
            listed = self.store.list::<Product>(PREFIX, index, wait) => listed,
            _ = self.stop.cancelled() => self.store.list::<Product>(PREFIX, 0, Duration::ZERO).await,
        };
        match listed {
            Ok((products, index)) => {
                cacheable(json(StatusCode::OK, &json!({ "index": index, "products": products })), "no-store")
            }
            Err(e) => unavailable(e),
        }
    }

    async fn get(&self, id: &str) -> Response<Body> {
        if check_id("product id", id).is_err() {
            return error(StatusCode::NOT_FOUND, format!("unknown product {id:?}"));
        }
        match self.store.get::<Product>(&key(id)).await {
            Ok(Some(p)) => cacheable(json(StatusCode::OK, &p.value), ITEM_CACHE_CONTROL),
            Ok(None) => error(StatusCode::NOT_FOUND, format!("unknown product {id:?}")),
            Err(e) => unavailable(e),
        }
    }

    async fn save(&self, request: Request<Incoming>, path_id: Option<&str>) -> Response<Body> {
        let mut product: Product = match read_json(request, self.max_body).await {
            Ok(p) => p,
            Err(response) => return response,
        };
        if let Some(id) = path_id {
            if product.id.is_empty() {
                product.id = id.to_string();
            } else if product.id != id {
                return error(StatusCode::BAD_REQUEST, "the body's id differs from the path's");
            }
        }
        if let Err(why) = check_id("product id", &product.id).and(reserved(&product.id)) {
            return error(StatusCode::BAD_REQUEST, why);
        }
        if product.name.trim().is_empty() {
            return error(StatusCode::BAD_REQUEST, "name must not be empty");
        }
        let create_only = path_id.is_none();
        let result = self
            .store
            .update::<Product, StatusCode>(&key(&product.id), |current| match (current, create_only) {
                (Some(_), true) => Change::Abort(StatusCode::CONFLICT),
                _ => Change::Write(product.clone()),
            })
            .await;
        match result {
            Ok(p) => about(json(if create_only { StatusCode::CREATED } else { StatusCode::OK }, &p), &p.id),
            Err(UpdateError::Aborted(_)) => error(StatusCode::CONFLICT, format!("product {:?} exists", product.id)),
            Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        }
    }

    async fn adjust(&self, request: Request<Incoming>, id: &str, reserve: bool) -> Response<Body> {
        if check_id("product id", id).is_err() {
            return error(StatusCode::NOT_FOUND, format!("unknown product {id:?}"));
        }
        let quantity = match read_json::<Quantity>(request, self.max_body).await {
            Ok(q) => match check_quantity(q.quantity) {
                Ok(q) => q,
                Err(why) => return error(StatusCode::BAD_REQUEST, why),
            },
            Err(response) => return response,
        };
        let result = self
            .store
            .update::<Product, (StatusCode, u64)>(&key(id), |current| {
                let Some(mut product) = current else { return Change::Abort((StatusCode::NOT_FOUND, 0)) };
                if reserve && product.stock < quantity {
                    return Change::Abort((StatusCode::CONFLICT, product.stock));
                }
                product.stock = if reserve { product.stock - quantity } else { product.stock.saturating_add(quantity) };
                Change::Write(product)
            })
            .await;
        match result {
            Ok(product) => about(json(StatusCode::OK, &product), id),
            Err(UpdateError::Aborted((StatusCode::NOT_FOUND, _))) => {
                error(StatusCode::NOT_FOUND, format!("unknown product {id:?}"))
            }
            Err(UpdateError::Aborted((status, available))) => json(
                status,
                &json!({"error": "insufficient stock", "product_id": id, "requested": quantity, "available": available}),
            ),
            Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        }
    }
}

impl Handler for Products {
    async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        let path = request.uri().path().to_string();
        let method = request.method().clone();
        match (method, segments(&path).as_slice()) {
            (Method::GET, ["health"]) => json(StatusCode::OK, &json!({"status": "ok"})),
            (Method::GET, ["products"]) => self.list().await,
            (Method::GET, ["products", "changes"]) => self.changes(&request).await,
            (Method::GET, ["products", id]) => self.get(id).await,
            (Method::POST, ["products"]) => self.save(request, None).await,
            (Method::PUT, ["products", id]) => self.save(request, Some(id)).await,
            (Method::POST, ["products", id, "reserve"]) => self.adjust(request, id, true).await,
            (Method::POST, ["products", id, "release"]) => self.adjust(request, id, false).await,
            _ => error(StatusCode::NOT_FOUND, format!("no such endpoint: {path}")),
        }
    }
}

fn key(id: &str) -> String {
    format!("{PREFIX}{id}")
}

fn reserved(id: &str) -> Result<(), String> {
    if id == "changes" {
        Err("\"changes\" is a reserved name".into())
    } else {
        Ok(())
    }
}

fn unavailable(e: impl std::fmt::Display) -> Response<Body> {
    error(StatusCode::SERVICE_UNAVAILABLE, format!("state store unavailable: {e}"))
}

/// The product list may be served from Portico's cache for two seconds: a
/// list that is at most that stale is fine, stock is checked again at checkout.
/// A product created with `POST /products` drops it from the cache at once
/// (the request's own URI, RFC 9111 §4.4).
const LIST_CACHE_CONTROL: &str = "max-age=2";

/// A product may be served from Portico's cache for ten seconds: every
/// write to it answers with the product and `Content-Location` naming it,
/// which makes Portico drop its stored copy (RFC 9111 §4.4).
const ITEM_CACHE_CONTROL: &str = "max-age=10";

/// Says that `response`'s body is the product `id` (RFC 9110 §8.7).
fn about(mut response: Response<Body>, id: &str) -> Response<Body> {
    if let Ok(location) = http::HeaderValue::from_str(&format!("/products/{id}")) {
        response.headers_mut().insert(http::header::CONTENT_LOCATION, location);
    }
    response
}

fn cacheable(mut response: Response<Body>, cache_control: &'static str) -> Response<Body> {
    response.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static(cache_control));
    response
}
