//! Closing idle upstream connections nobody will use: those idle longer than
//! `pool_idle_timeout`, and those their instance closed. Nothing polls an idle
//! connection, so this is how they are noticed between requests.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::snapshot::Shared;

/// Every `max_age / 2` (at least each second), closes the idle connections of
/// the current snapshot's instances (draining ones too) that have been idle
/// `max_age` or that their instance closed, until `stop`. (An instance that
/// has left and has nothing in flight is dropped from the next snapshot, and
/// its idle connections close with it.)
pub async fn run(snapshot: Shared, max_age: Duration, stop: CancellationToken) {
    let mut ticker = tokio::time::interval((max_age / 2).max(Duration::from_secs(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.cancelled() => return,
        }
        let current = snapshot.load();
        let serving = current.routes().into_iter().flat_map(|r| r.upstream.endpoints.iter().map(|e| &e.connections));
        for idle in serving.chain(current.draining.iter().map(|d| &d.connections)) {
            idle.sweep(max_age);
        }
    }
}
