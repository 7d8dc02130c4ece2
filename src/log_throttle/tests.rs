use super::*;

#[tokio::test(start_paused = true)]
async fn one_line_per_interval_with_the_count_of_what_was_held_back() {
    let throttle = LogThrottle::new(Duration::from_secs(1));
    assert_eq!(throttle.admit(), Some(0), "the first line goes out");
    let held = (0..999).filter(|_| throttle.admit().is_none()).count();
    assert_eq!(held, 999, "the rest of a burst is held back");
    tokio::time::advance(Duration::from_millis(999)).await;
    assert_eq!(throttle.admit(), None);
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(throttle.admit(), Some(1000), "the next line says how many were suppressed");
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(throttle.admit(), Some(0));
}
