//! Checkout: turns a cart into an order.
//!
//! | request | answer |
//! |---|---|
//! | `POST /checkout` `{"cart_id"}` | 201 with the order; 409 when a product is short; 400 for an empty cart |
//! | `GET /checkout/orders/<id>` | the order |
//!
//! Portico requires credentials on this route (`portico.auth=any`) and passes
//! the identity in `X-Auth-Subject`, recorded as the order's `customer`.
//!
//! All or nothing: every line is reserved in Products (through Portico); if
//! one fails, what was already reserved is released before answering.

use std::time::{SystemTime, UNIX_EPOCH};

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::gateway::{CallError, Gateway};
use crate::http::{error, json, read_json, segments, Body, Handler};
use crate::lifecycle::Context;
use crate::model::{check_id, total, Cart, Line, Order};
use crate::store::Store;

/// The Checkout service.
pub struct Checkout {
    store: Store,
    gateway: Gateway,
    max_body: usize,
}

#[derive(Deserialize)]
struct Start {
    cart_id: String,
}

impl Checkout {
    pub async fn new(context: Context) -> Checkout {
        Checkout { store: context.store, gateway: context.gateway, max_body: context.args.max_body }
    }

    async fn checkout(&self, request: Request<Incoming>) -> Response<Body> {
        let customer = request.headers().get("x-auth-subject").and_then(|v| v.to_str().ok()).map(str::to_string);
        let start: Start = match read_json(request, self.max_body).await {
            Ok(s) => s,
            Err(response) => return response,
        };
        if let Err(why) = check_id("cart id", &start.cart_id) {
            return error(StatusCode::BAD_REQUEST, why);
        }
        let cart: Cart = match self.gateway.get(&format!("/cart/{}", start.cart_id)).await {
            Ok(cart) => cart,
            Err(e) => return error(StatusCode::BAD_GATEWAY, format!("cart unavailable: {e}")),
        };
        if cart.items.is_empty() {
            return error(StatusCode::BAD_REQUEST, "the cart is empty");
        }
        if let Err(response) = self.reserve_all(&cart.items).await {
            return response;
        }
        let order = Order {
            id: order_id(),
            cart_id: cart.id.clone(),
            total_cents: total(&cart.items),
            items: cart.items,
            created_at: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            customer,
        };
        match self.store.put_if(&order_key(&order.id), &order, 0).await {
            Ok(true) => {}
            _ => {
                self.release(&order.items).await;
                return error(StatusCode::SERVICE_UNAVAILABLE, "could not record the order; nothing was charged");
            }
        }
        if let Err(e) = self.gateway.delete(&format!("/cart/{}", cart.id)).await {
            tracing::warn!(error = %e, cart = %cart.id, "order placed but the cart was not cleared");
        }
        json(StatusCode::CREATED, &order)
    }

    /// Reserves every line, or none: on the first failure, releases the rest.
    async fn reserve_all(&self, lines: &[Line]) -> Result<(), Response<Body>> {
        for (done, line) in lines.iter().enumerate() {
            let path = format!("/products/{}/reserve", line.product_id);
            if let Err(e) = self.gateway.post::<_, Value>(&path, &json!({"quantity": line.quantity})).await {
                self.release(&lines[..done]).await;
                return Err(reservation_failed(line, &e));
            }
        }
        Ok(())
    }

    async fn release(&self, lines: &[Line]) {
        for line in lines {
            let path = format!("/products/{}/release", line.product_id);
            if let Err(e) = self.gateway.post::<_, Value>(&path, &json!({"quantity": line.quantity})).await {
                tracing::error!(error = %e, product = %line.product_id, quantity = line.quantity, "release failed");
            }
        }
    }

    async fn order(&self, id: &str) -> Response<Body> {
        if check_id("order id", id).is_err() {
            return error(StatusCode::NOT_FOUND, format!("unknown order {id:?}"));
        }
        match self.store.get::<Order>(&order_key(id)).await {
            Ok(Some(order)) => json(StatusCode::OK, &order.value),
            Ok(None) => error(StatusCode::NOT_FOUND, format!("unknown order {id:?}")),
            Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        }
    }
}

impl Handler for Checkout {
    async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        let path = request.uri().path().to_string();
        let method = request.method().clone();
        match (method, segments(&path).as_slice()) {
            (Method::GET, ["health"]) => json(StatusCode::OK, &json!({"status": "ok"})),
            (Method::POST, ["checkout"]) => self.checkout(request).await,
            (Method::GET, ["checkout", "orders", id]) => self.order(id).await,
            _ => error(StatusCode::NOT_FOUND, format!("no such endpoint: {path}")),
        }
    }
}

fn reservation_failed(line: &Line, e: &CallError) -> Response<Body> {
    match e.status() {
        Some(StatusCode::CONFLICT) => json(
            StatusCode::CONFLICT,
            &json!({"error": "insufficient stock", "product_id": line.product_id, "requested": line.quantity}),
        ),
        Some(StatusCode::NOT_FOUND) => {
            error(StatusCode::CONFLICT, format!("product {:?} no longer exists", line.product_id))
        }
        _ => error(StatusCode::BAD_GATEWAY, format!("products unavailable: {e}")),
    }
}

fn order_id() -> String {
    let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    format!("{millis:x}-{:08x}", fastrand::u32(..))
}

fn order_key(id: &str) -> String {
    format!("shop/orders/{id}")
}
