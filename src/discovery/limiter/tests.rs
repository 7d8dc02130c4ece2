use tokio::time::Instant;

use super::*;

#[tokio::test(start_paused = true)]
async fn burst_then_rate() {
    let mut bucket = TokenBucket::new(2.0, 3);
    let start = Instant::now();
    for _ in 0..3 {
        bucket.acquire().await;
    }
    assert_eq!(start.elapsed(), Duration::ZERO, "the burst is free");
    bucket.acquire().await;
    assert_eq!(start.elapsed(), Duration::from_millis(500));
    bucket.acquire().await;
    assert_eq!(start.elapsed(), Duration::from_millis(1000));
}

#[tokio::test(start_paused = true)]
async fn idle_time_refills_up_to_the_burst_only() {
    let mut bucket = TokenBucket::new(10.0, 2);
    bucket.acquire().await;
    bucket.acquire().await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    let start = Instant::now();
    bucket.acquire().await;
    bucket.acquire().await;
    assert_eq!(start.elapsed(), Duration::ZERO);
    bucket.acquire().await;
    assert_eq!(start.elapsed(), Duration::from_millis(100));
}

#[tokio::test(start_paused = true)]
async fn a_hundred_requests_take_their_time() {
    let mut bucket = TokenBucket::new(20.0, 20);
    let start = Instant::now();
    for _ in 0..100 {
        bucket.acquire().await;
    }
    // 20 free, then 80 at 20/s.
    assert_eq!(start.elapsed().as_millis(), 4000);
}
