//! Logging set-up, one way for every binary of the workspace (the gateway and
//! the shop's services): to stderr, level from `RUST_LOG` (default `info`),
//! as human-readable lines or one JSON object per line. Colours only when
//! stderr is a terminal: `docker compose logs`, journald and files get
//! plain text, not escape codes.

/// Starts logging; `format` is `json` or anything else for plain lines.
pub fn init(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
