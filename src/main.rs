//! The `portico` binary: flags → config → [`portico::run_with_reload`],
//! stopped by SIGTERM or SIGINT; SIGHUP reloads certificates and JWT keys.

use std::sync::Arc;

use clap::Parser;
use portico::config::Cli;
use portico::{Config, Listeners};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// mimalloc rather than the system allocator: with ten thousand routed
/// services it hands freed memory back sooner and fragments less, for about a
/// quarter less resident memory (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    portico::logging::init(&cli.log_format);
    let config = match Config::load(cli) {
        Ok(config) => config,
        Err(error) => return fail(&error),
    };
    let listeners = match Listeners::bind(&config).await {
        Ok(listeners) => listeners,
        Err(error) => return fail(&error),
    };
    let stop = CancellationToken::new();
    tokio::spawn(stop_on_signal(stop.clone()));
    let reload = Arc::new(Notify::new());
    tokio::spawn(reload_on_sighup(Arc::clone(&reload)));
    match portico::run_with_reload(config, listeners, stop, reload).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

fn fail(error: &dyn std::fmt::Display) -> std::process::ExitCode {
    eprintln!("portico: {error}");
    std::process::ExitCode::from(2)
}

async fn stop_on_signal(stop: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: draining"),
        _ = int.recv() => tracing::info!("SIGINT: draining"),
    }
    stop.cancel();
}

async fn reload_on_sighup(reload: Arc<Notify>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::error!("cannot install the SIGHUP handler; reload is unavailable");
        return;
    };
    while hup.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading certificates and keys");
        reload.notify_one();
    }
}
