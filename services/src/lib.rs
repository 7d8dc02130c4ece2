//! The sample shop behind Portico: four small services that register in
//! Consul, answer through the gateway, and keep every piece of shared state in
//! Consul's KV store, so any instance can serve any request and scaling or
//! stopping one never loses data.
//!
//! # Layout
//! - [`config`]: flags and environment shared by every service.
//! - [`consul`]: the agent API the services use: registration and KV with check-and-set.
//! - [`store`]: typed JSON documents on top of the KV store.
//! - [`gateway`]: calls to sibling services, always through Portico.
//! - [`http`]: the server loop (every response carries `X-Instance-Id`), JSON
//!   responses and bounded JSON bodies.
//! - [`lifecycle`]: bind, register, serve; on SIGTERM deregister, drain, stop.
//! - [`model`]: products, carts, orders, and input validation.
//! - [`products`], [`cart`], [`checkout`], [`search`]: the four services.

pub mod cart;
pub mod checkout;
pub mod config;
pub mod consul;
pub mod gateway;
pub mod http;
pub mod lifecycle;
pub mod model;
pub mod products;
pub mod search;
pub mod store;
