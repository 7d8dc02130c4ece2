//! A Node.js `http` server as an origin: a real server nobody here wrote,
//! with its own defaults (keep-alive timeout, header handling).

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running `node` process serving HTTP on a loopback port; killed when dropped.
pub struct NodeOrigin {
    pub child: Child,
    pub port: u16,
}

impl NodeOrigin {
    /// Starts `node` with `handler`, a JavaScript `(req, res) => …` function.
    /// `None` when Node.js is not installed (CI requires it: see [`NodeOrigin::required`]).
    pub async fn start(handler: &str) -> Option<NodeOrigin> {
        let server = format!(
            "const http = require('http'); const s = http.createServer({handler});\
             s.listen(0, '127.0.0.1', () => console.log(s.address().port));"
        );
        let mut child =
            Command::new("node").args(["-e", &server]).stdout(Stdio::piped()).kill_on_drop(true).spawn().ok()?;
        let stdout = child.stdout.take()?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).await.ok()?;
        let port = line.trim().parse().ok()?;
        Some(NodeOrigin { child, port })
    }

    /// Like [`NodeOrigin::start`], but in CI a missing `node` is a failure;
    /// elsewhere the caller skips with a message.
    pub async fn required(handler: &str) -> Option<NodeOrigin> {
        let origin = NodeOrigin::start(handler).await;
        if origin.is_none() {
            assert!(std::env::var("CI").is_err(), "node is required in CI");
            eprintln!("skipped: node is not installed");
        }
        origin
    }
}
