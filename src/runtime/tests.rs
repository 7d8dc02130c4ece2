use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::drain_delay;

#[tokio::test(start_paused = true)]
async fn a_stop_request_marks_draining_at_once_and_stops_after_the_delay() {
    let (requested, draining, stop) = (CancellationToken::new(), CancellationToken::new(), CancellationToken::new());
    let task = tokio::spawn(drain_delay(requested.clone(), draining.clone(), stop.clone(), Duration::from_secs(5)));
    tokio::time::advance(Duration::from_secs(60)).await;
    assert!(!draining.is_cancelled() && !stop.is_cancelled(), "nothing happens before a stop is asked for");
    requested.cancel();
    tokio::task::yield_now().await;
    assert!(draining.is_cancelled(), "readiness turns 503 at once");
    tokio::time::advance(Duration::from_millis(4999)).await;
    assert!(!stop.is_cancelled(), "still serving within the delay");
    tokio::time::advance(Duration::from_millis(1)).await;
    task.await.expect("drain task");
    assert!(stop.is_cancelled(), "the listeners stop after the delay");
}

#[tokio::test(start_paused = true)]
async fn without_a_delay_the_stop_is_immediate() {
    let (requested, draining, stop) = (CancellationToken::new(), CancellationToken::new(), CancellationToken::new());
    requested.cancel();
    drain_delay(requested, draining.clone(), stop.clone(), Duration::ZERO).await;
    assert!(draining.is_cancelled() && stop.is_cancelled());
}
