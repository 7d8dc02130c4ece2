//! `/admin/dashboard`: one self-contained page (no CDN, no build step,
//! compiled into the binary) fed by server-sent events from `/admin/events`,
//! four per second, each the current [`crate::traffic::TrafficView`].

use bytes::Bytes;
use http::{header, HeaderValue, Response};
use tokio::sync::mpsc;

use crate::server::Body;
use crate::traffic::Traffic;

const PAGE: &str = include_str!("dashboard.html");

/// The HTML page.
pub fn page() -> Response<Body> {
    let mut response = Response::new(Body::full(PAGE));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A `text/event-stream` that sends the traffic view at every tick until the
/// client goes away.
pub fn events(traffic: &Traffic) -> Response<Body> {
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let mut views = traffic.subscribe();
    tokio::spawn(async move {
        loop {
            let view = views.borrow_and_update().clone();
            let Ok(json) = serde_json::to_string(&*view) else { return };
            if tx.send(Bytes::from(format!("data: {json}\n\n"))).await.is_err() {
                return; // the client went away
            }
            if views.changed().await.is_err() {
                return;
            }
        }
    });
    let mut response = Response::new(Body::Channel(rx));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
