//! Free loopback ports for processes that must be told their port up front
//! (a Consul agent). They are drawn from 15000–29999, below Linux's
//! ephemeral range (32768+), so a socket the OS numbers itself (any bind to
//! port 0, any outgoing connection) cannot take one between the check here
//! and the agent's bind. A process-wide set makes sure two tests running in
//! parallel never get the same one.

use std::collections::HashSet;
use std::net::{TcpListener, UdpSocket};
use std::sync::{Mutex, OnceLock};

fn handed_out() -> &'static Mutex<HashSet<u16>> {
    static SET: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    SET.get_or_init(Mutex::default)
}

/// A port free for both TCP and UDP on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    for _ in 0..1000 {
        let port = 15_000 + (random_u32() % 15_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_err() || UdpSocket::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        let mut set = handed_out().lock().unwrap_or_else(|e| e.into_inner());
        if set.insert(port) {
            return port;
        }
    }
    panic!("no free port found on 127.0.0.1");
}

/// A random number without another dependency: std's randomly keyed hasher
/// over the clock (the keys differ per process and per call).
fn random_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    hasher.finish() as u32
}
