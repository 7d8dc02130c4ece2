//! Protocol switches (WebSocket and friends): once both sides have agreed to
//! `101 Switching Protocols`, bytes are copied both ways until either closes.
//! The instance stays in flight for as long as the tunnel is open.

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use crate::upstream::InFlight;

/// Joins the client and upstream connections in a background task.
pub fn tunnel(client: OnUpgrade, upstream: OnUpgrade, in_flight: InFlight) {
    tokio::spawn(async move {
        let (client, upstream) = match tokio::try_join!(client, upstream) {
            Ok(pair) => pair,
            Err(error) => {
                tracing::debug!(%error, "upgrade did not complete");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut upstream = TokioIo::new(upstream);
        if let Err(error) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            tracing::debug!(%error, "upgraded connection ended with an error");
        }
        drop(in_flight);
    });
}
