use std::future::poll_fn;
use std::task::Poll;

use super::*;

/// Polls `timer` once as a waiting stream would.
async fn stalled(timer: &mut IdleTimer) -> bool {
    poll_fn(|cx| Poll::Ready(timer.stalled(cx))).await
}

#[tokio::test(start_paused = true)]
async fn a_gap_longer_than_the_limit_stalls() {
    let mut timer = IdleTimer::new(Duration::from_secs(60));
    assert!(!stalled(&mut timer).await);
    tokio::time::advance(Duration::from_secs(59)).await;
    assert!(!stalled(&mut timer).await, "59 s without progress is not a stall");
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(stalled(&mut timer).await, "60 s is");
}

#[tokio::test(start_paused = true)]
async fn progress_starts_a_new_gap() {
    let mut timer = IdleTimer::new(Duration::from_secs(60));
    assert!(!stalled(&mut timer).await);
    tokio::time::advance(Duration::from_secs(50)).await;
    timer.progress();
    assert!(!stalled(&mut timer).await);
    tokio::time::advance(Duration::from_secs(50)).await;
    assert!(!stalled(&mut timer).await, "100 s in all, but only 50 s since the last frame");
    tokio::time::advance(Duration::from_secs(10)).await;
    assert!(stalled(&mut timer).await);
}

#[tokio::test(start_paused = true)]
async fn a_zero_limit_never_stalls() {
    let mut timer = IdleTimer::new(Duration::ZERO);
    assert!(!stalled(&mut timer).await);
    tokio::time::advance(Duration::from_secs(3600)).await;
    assert!(!stalled(&mut timer).await);
}
