//! The floor as a process of its own, for `scripts/bench.sh` (its `floor`
//! target) and `scripts/bench-count.sh`: a minimal hyper proxy with none of
//! Portico's logic (see `support/floor.rs`).
//!
//! `cargo bench --bench floor -- --listen 127.0.0.1:28084 --upstream 127.0.0.1:28101 [--upstream ...] [--threads N]`
//!
//! Run with no `--listen` (as a plain `cargo bench` does), it says how to use it and exits.

#[path = "support/floor.rs"]
mod floor;

use std::net::SocketAddr;

/// The allocator Portico runs with, so the two differ only in their code.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| args.windows(2).filter(|w| w[0] == flag).map(|w| w[1].clone()).collect::<Vec<_>>();
    let Some(listen) = value("--listen").pop() else {
        println!("floor: a minimal hyper proxy for scripts/bench.sh; give it --listen ADDR --upstream ADDR...");
        return;
    };
    let upstreams: Vec<SocketAddr> = value("--upstream").iter().filter_map(|a| a.parse().ok()).collect();
    let threads = value("--threads").pop().and_then(|n| n.parse().ok()).unwrap_or_else(num_threads);
    if upstreams.is_empty() {
        eprintln!("floor: no valid --upstream given");
        std::process::exit(2);
    }
    let listener = match std::net::TcpListener::bind(&listen) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("floor: cannot listen on {listen}: {error}");
            std::process::exit(2);
        }
    };
    if let Err(error) = floor::serve(listener, upstreams, threads) {
        eprintln!("floor: {error}");
        std::process::exit(2);
    }
    loop {
        std::thread::park();
    }
}

fn num_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
