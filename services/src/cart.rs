//! Cart: what a shopper intends to buy.
//!
//! | request | answer |
//! |---|---|
//! | `GET /cart/<id>` | the cart (empty if new) |
//! | `POST /cart/<id>/items` `{"product_id", "quantity"}` | add; the product and its price are read from Products through Portico |
//! | `DELETE /cart/<id>/items/<product_id>` | remove a line |
//! | `DELETE /cart/<id>` | empty the cart |

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::json;

use crate::gateway::Gateway;
use crate::http::{error, json, read_json, segments, Body, Handler};
use crate::lifecycle::Context;
use crate::model::{check_id, check_quantity, Cart, Line, Product};
use crate::store::{Change, Store, UpdateError};

/// The Cart service.
pub struct Carts {
    store: Store,
    gateway: Gateway,
    max_body: usize,
}

#[derive(Deserialize)]
struct AddItem {
    product_id: String,
    quantity: i64,
}

impl Carts {
    pub async fn new(context: Context) -> Carts {
        Carts { store: context.store, gateway: context.gateway, max_body: context.args.max_body }
    }

    async fn view(&self, id: &str) -> Response<Body> {
        match self.store.get::<Cart>(&key(id)).await {
            Ok(Some(cart)) => json(StatusCode::OK, &cart.value),
            Ok(None) => json(StatusCode::OK, &Cart::empty(id)),
            Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        }
    }

    async fn add(&self, request: Request<Incoming>, id: &str) -> Response<Body> {
        let item: AddItem = match read_json(request, self.max_body).await {
            Ok(item) => item,
            Err(response) => return response,
        };
        let quantity = match check_id("product id", &item.product_id).and(check_quantity(item.quantity)) {
            Ok(q) => q,
            Err(why) => return error(StatusCode::BAD_REQUEST, why),
        };
        let product: Product = match self.gateway.get(&format!("/products/{}", item.product_id)).await {
            Ok(p) => p,
            Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => {
                return error(StatusCode::NOT_FOUND, format!("unknown product {:?}", item.product_id))
            }
            Err(e) => return error(StatusCode::BAD_GATEWAY, format!("products unavailable: {e}")),
        };
        let result = self
            .store
            .update::<Cart, ()>(&key(id), |current| {
                let mut cart = current.unwrap_or_else(|| Cart::empty(id));
                match cart.items.iter_mut().find(|l| l.product_id == product.id) {
                    Some(line) => {
                        line.quantity = line.quantity.saturating_add(quantity);
                        line.price_cents = product.price_cents;
                    }
                    None => cart.items.push(Line {
                        product_id: product.id.clone(),
                        name: product.name.clone(),
                        price_cents: product.price_cents,
                        quantity,
                    }),
                }
                Change::Write(cart.recount())
            })
            .await;
        respond(result)
    }

    async fn remove(&self, id: &str, product_id: &str) -> Response<Body> {
        let result = self
            .store
            .update::<Cart, ()>(&key(id), |current| {
                let mut cart = current.unwrap_or_else(|| Cart::empty(id));
                cart.items.retain(|l| l.product_id != product_id);
                Change::Write(cart.recount())
            })
            .await;
        respond(result)
    }

    async fn clear(&self, id: &str) -> Response<Body> {
        match self.store.delete(&key(id)).await {
            Ok(()) => json(StatusCode::OK, &json!({"id": id, "cleared": true})),
            Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        }
    }
}

impl Handler for Carts {
    async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        let path = request.uri().path().to_string();
        let method = request.method().clone();
        let parts = segments(&path);
        if let Some(id) = parts.get(1) {
            if let Err(why) = check_id("cart id", id) {
                return error(StatusCode::BAD_REQUEST, why);
            }
        }
        match (method, parts.as_slice()) {
            (Method::GET, ["health"]) => json(StatusCode::OK, &json!({"status": "ok"})),
            (Method::GET, ["cart", id]) => self.view(id).await,
            (Method::POST, ["cart", id, "items"]) => self.add(request, id).await,
            (Method::DELETE, ["cart", id, "items", product]) => self.remove(id, product).await,
            (Method::DELETE, ["cart", id]) => self.clear(id).await,
            _ => error(StatusCode::NOT_FOUND, format!("no such endpoint: {path}")),
        }
    }
}

fn respond(result: Result<Cart, UpdateError<()>>) -> Response<Body> {
    match result {
        Ok(cart) => json(StatusCode::OK, &cart),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

fn key(id: &str) -> String {
    format!("shop/carts/{id}")
}
