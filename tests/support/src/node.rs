//! A Node.js `http` server as an origin: a real server nobody here wrote,
//! with its own defaults (keep-alive timeout, header handling).

use std::path::Path;
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
        NodeOrigin::script(&format!("const s = require('http').createServer({handler});")).await
    }

    /// An HTTPS origin (Node's `https`) with this certificate and key (PEM
    /// files); with `client_ca`, it requires a client certificate signed by it.
    pub async fn https(cert: &Path, key: &Path, client_ca: Option<&Path>, handler: &str) -> Option<NodeOrigin> {
        let read = |p: &Path| format!("fs.readFileSync({:?})", p.display().to_string());
        let mtls = match client_ca {
            Some(ca) => format!(", ca: {}, requestCert: true, rejectUnauthorized: true", read(ca)),
            None => String::new(),
        };
        let options = format!("{{ cert: {}, key: {}{mtls} }}", read(cert), read(key));
        NodeOrigin::script(&format!(
            "const fs = require('fs'); const s = require('https').createServer({options}, {handler});"
        ))
        .await
    }

    /// An HTTP/2 origin (Node's `http2`): with prior knowledge (h2c) when
    /// `tls` is `None`, else over TLS with this certificate and key (ALPN
    /// `h2` only). The handler may read `sessions`, the connections accepted so far.
    pub async fn http2(tls: Option<(&Path, &Path)>, handler: &str) -> Option<NodeOrigin> {
        let read = |p: &Path| format!("fs.readFileSync({:?})", p.display().to_string());
        let server = match tls {
            Some((cert, key)) => {
                format!("createSecureServer({{ cert: {}, key: {} }}, {handler})", read(cert), read(key))
            }
            None => format!("createServer({{}}, {handler})"),
        };
        NodeOrigin::script(&format!(
            "const fs = require('fs'); let sessions = 0; const s = require('http2').{server}; \
             s.on('session', () => sessions++);"
        ))
        .await
    }

    /// Runs `setup`, which defines a server `s`, and listens on a free loopback port.
    async fn script(setup: &str) -> Option<NodeOrigin> {
        let server = format!("{setup} s.listen(0, '127.0.0.1', () => console.log(s.address().port));");
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
        NodeOrigin::or_skip(NodeOrigin::start(handler).await)
    }

    /// `origin`, or (outside CI, where `node` is required) a message saying the test is skipped.
    pub fn or_skip(origin: Option<NodeOrigin>) -> Option<NodeOrigin> {
        if origin.is_none() {
            assert!(std::env::var("CI").is_err(), "node is required in CI");
            eprintln!("skipped: node is not installed");
        }
        origin
    }
}
