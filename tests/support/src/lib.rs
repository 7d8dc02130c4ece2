//! Test harness shared by every Portico test that needs the outside world:
//!
//! - [`consul`]: a real, isolated `consul agent -dev` on free ports, which
//!   can be stopped and restarted mid-test and is killed when dropped;
//! - [`catalog`]: thousands of instances written into that agent's catalog in seconds;
//! - [`backend`]: small in-process HTTP services that say who answered;
//! - [`fake_consul`]: a scripted Consul, only for faults a real agent cannot be made to show;
//! - [`grpc`]: a real gRPC server and client (tonic) for the test `Echo` service;
//! - [`node`]: a Node.js `http` server as an origin nobody here wrote;
//! - [`ports`]: free loopback ports that no other test in this process gets.
//!
//! Everything binds loopback only and cleans up after itself.

pub mod backend;
pub mod catalog;
pub mod consul;
pub mod fake_consul;
pub mod grpc;
pub mod node;
pub mod ports;

pub use backend::Backend;
pub use consul::ConsulAgent;
