//! Heap allocations per plain proxied request: Portico (in this process,
//! routes from a real Consul agent) against the floor (a minimal hyper
//! proxy, `support/floor.rs`), counted by a global allocator that counts.
//!
//! The client and the three backends are written on raw sockets so that
//! they allocate nothing per request: everything counted while requests flow
//! is the proxy's (checked by the `direct` row, client to backend with no
//! proxy, which must show 0). Requests go one at a time over one keep-alive
//! connection: 2,000 to warm up, then 20,000 counted.
//!
//! `cargo bench --bench request_cost` (needs `CONSUL_BIN`, as the tests do).
//! Prints a markdown table; the figures are exact counts, not timings, so
//! they repeat from run to run (within the odd background task).

#[path = "support/floor.rs"]
mod floor;

use std::alloc::{GlobalAlloc, Layout};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use portico::config::{Cli, FileConfig};
use portico::{Config, Listeners};
use portico_testkit::consul::ttl_service;
use portico_testkit::ConsulAgent;

/// mimalloc (Portico's allocator), counting each allocation and its bytes.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call unchanged to mimalloc; only counts on the way.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        mimalloc::MiMalloc.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        mimalloc::MiMalloc.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        mimalloc::MiMalloc.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        mimalloc::MiMalloc.dealloc(ptr, layout)
    }
}

fn count(bytes: usize) {
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    BYTES.fetch_add(bytes as u64, Ordering::Relaxed);
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const WARM_UP: u64 = 2_000;
const COUNTED: u64 = 20_000;
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: request-cost\r\nAccept: */*\r\n\r\n";

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let backends: Vec<SocketAddr> = (0..3).map(|_| raw_backend()).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let portico = runtime.block_on(start_portico(&backends));
    let floor = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        floor::serve(listener, backends.clone(), 1).expect("floor");
        addr
    };
    println!("| path | allocations per request | bytes allocated per request |");
    println!("|---|---|---|");
    for (name, addr) in
        [("direct (client to backend, no proxy)", backends[0]), ("floor", floor), ("portico", portico.0)]
    {
        let (allocations, bytes) = measure(addr);
        println!("| {name} | {allocations:.2} | {bytes:.0} |");
    }
    drop(portico);
}

/// Allocations and bytes per request over [`COUNTED`] requests after [`WARM_UP`].
fn measure(addr: SocketAddr) -> (f64, f64) {
    let mut connection = RawClient::connect(addr);
    for _ in 0..WARM_UP {
        connection.request();
    }
    let (a0, b0) = (ALLOCATIONS.load(Ordering::Relaxed), BYTES.load(Ordering::Relaxed));
    for _ in 0..COUNTED {
        connection.request();
    }
    let (a1, b1) = (ALLOCATIONS.load(Ordering::Relaxed), BYTES.load(Ordering::Relaxed));
    ((a1 - a0) as f64 / COUNTED as f64, (b1 - b0) as f64 / COUNTED as f64)
}

/// One keep-alive connection with a fixed buffer: no allocation per request.
struct RawClient {
    stream: TcpStream,
    buffer: [u8; 4096],
}

impl RawClient {
    fn connect(addr: SocketAddr) -> RawClient {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        RawClient { stream, buffer: [0; 4096] }
    }

    /// Sends the request and reads a response whose body is `ok`.
    fn request(&mut self) {
        self.stream.write_all(REQUEST).expect("send");
        let mut filled = 0;
        loop {
            let n = self.stream.read(&mut self.buffer[filled..]).expect("read");
            assert!(n > 0, "the proxy closed the connection");
            filled += n;
            let head_end = self.buffer[..filled].windows(4).position(|w| w == b"\r\n\r\n");
            if let Some(end) = head_end {
                if filled >= end + 4 + 2 {
                    assert!(
                        self.buffer.starts_with(b"HTTP/1.1 200"),
                        "{}",
                        String::from_utf8_lossy(&self.buffer[..filled])
                    );
                    return;
                }
            }
        }
    }
}

/// A backend answering every request on a connection with [`RESPONSE`], one
/// thread per connection, with no allocation per request.
fn raw_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer_each(stream));
        }
    });
    addr
}

fn answer_each(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let (mut buffer, mut filled) = ([0u8; 8192], 0);
    loop {
        let Ok(n) = stream.read(&mut buffer[filled..]) else { return };
        if n == 0 {
            return;
        }
        filled += n;
        while let Some(end) = buffer[..filled].windows(4).position(|w| w == b"\r\n\r\n") {
            if stream.write_all(RESPONSE).is_err() {
                return;
            }
            buffer.copy_within(end + 4..filled, 0);
            filled -= end + 4;
        }
    }
}

/// Portico in this process, one proxy thread, routing `/` to the three
/// backends (registered in a real Consul agent); its address, and what keeps it up.
async fn start_portico(backends: &[SocketAddr]) -> (SocketAddr, ConsulAgent, tokio_util::sync::CancellationToken) {
    let consul = ConsulAgent::start().await;
    for (i, backend) in backends.iter().enumerate() {
        let id = format!("bench-{i}");
        consul.register(&ttl_service("bench", &id, backend.port(), &["portico.route=/"])).await;
    }
    let cli = Cli {
        consul: Some(consul.addr()),
        register: Some(false),
        access_log: Some(false),
        threads: Some(1),
        ..Cli::default()
    };
    let config = Config::merge(cli, FileConfig::default()).expect("config");
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = proxy.local_addr().expect("addr");
    let stop = tokio_util::sync::CancellationToken::new();
    let reload = std::sync::Arc::new(tokio::sync::Notify::new());
    tokio::spawn(portico::run_with_reload(config, Listeners { proxy, admin, tls: None }, stop.clone(), reload));
    let client = reqwest::Client::new();
    for _ in 0..500 {
        let routed = client.get(format!("http://{addr}/")).send().await.is_ok_and(|r| r.status() == 200);
        if routed {
            return (addr, consul, stop);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("portico never routed / to the backends");
}
