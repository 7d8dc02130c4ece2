use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::*;

/// Replies from a script; once it runs out, replies forever with `repeat`
/// (if any) or hangs.
struct Script {
    replies: VecDeque<Result<Reply<&'static str>, Error>>,
    repeat: Option<Reply<&'static str>>,
    sent: Arc<Mutex<Vec<u64>>>,
}

impl Source for Script {
    type Item = &'static str;
    async fn fetch(&mut self, index: u64) -> Result<Reply<&'static str>, Error> {
        self.sent.lock().expect("test lock").push(index);
        if let Some(next) = self.replies.pop_front() {
            return next;
        }
        match &self.repeat {
            Some(r) => Ok(r.clone()),
            None => std::future::pending().await,
        }
    }
}

fn ok(index: u64, body: &'static str) -> Result<Reply<&'static str>, Error> {
    Ok(Reply { index, body, filtered: false })
}

fn down() -> Result<Reply<&'static str>, Error> {
    Err(Error::Transport("connection refused".into()))
}

fn watch(replies: Vec<Result<Reply<&'static str>, Error>>) -> (Watch<Script>, Arc<Mutex<Vec<u64>>>) {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let script = Script { replies: replies.into(), repeat: None, sent: Arc::clone(&sent) };
    (Watch::new("test", script, &ConsulSettings::default(), Arc::default()), sent)
}

fn sent(s: &Arc<Mutex<Vec<u64>>>) -> Vec<u64> {
    s.lock().expect("test lock").clone()
}

#[tokio::test(start_paused = true)]
async fn the_index_is_sent_back_and_timeouts_are_absorbed() {
    let (mut w, s) = watch(vec![ok(5, "a"), ok(5, "a"), ok(5, "a"), ok(9, "b")]);
    assert_eq!(w.next_change().await, "a");
    assert_eq!(w.next_change().await, "b");
    assert_eq!(sent(&s), vec![0, 5, 5, 5]);
    assert_eq!(w.index(), 9);
}

#[tokio::test(start_paused = true)]
async fn a_backwards_index_restarts_from_scratch() {
    let (mut w, s) = watch(vec![ok(900, "a"), ok(4, "b"), ok(6, "c")]);
    assert_eq!(w.next_change().await, "a");
    assert_eq!(w.next_change().await, "b", "the reset reply is still data");
    assert_eq!(w.next_change().await, "c");
    assert_eq!(sent(&s), vec![0, 900, 1]);
}

#[tokio::test(start_paused = true)]
async fn a_zero_index_becomes_one() {
    let (mut w, s) = watch(vec![ok(0, "a"), ok(0, "b")]);
    w.next_change().await;
    w.next_change().await;
    assert_eq!(sent(&s), vec![0, 1]);
}

#[tokio::test(start_paused = true)]
async fn errors_back_off_reset_the_index_and_retry_forever() {
    let mut replies = vec![ok(50, "a")];
    replies.extend((0..12).map(|_| down()));
    replies.push(ok(60, "a"));
    replies.push(ok(61, "b"));
    let (mut w, s) = watch(replies);
    assert_eq!(w.next_change().await, "a");
    let start = Instant::now();
    assert_eq!(w.next_change().await, "b", "the same body after an outage is not a change");
    let waited = start.elapsed();
    // Ceilings 0.1, 0.2, ... capped at 10 s; each delay is at least half its ceiling.
    let min: f64 = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0, 10.0, 10.0, 10.0].iter().map(|c| c / 2.0).sum();
    assert!(waited >= Duration::from_secs_f64(min), "waited {waited:?}");
    let indices = sent(&s);
    assert_eq!(indices[1], 50);
    assert!(indices[2..14].iter().all(|&i| i == 0), "{indices:?}");
    assert_eq!(indices[14], 60);
}

#[tokio::test(start_paused = true)]
async fn a_consul_that_answers_at_once_is_not_hammered() {
    let sent_log = Arc::new(Mutex::new(Vec::new()));
    let script = Script {
        replies: VecDeque::new(),
        repeat: Some(Reply { index: 7, body: "same", filtered: false }),
        sent: Arc::clone(&sent_log),
    };
    let settings = ConsulSettings { rate: 5.0, burst: 3, ..ConsulSettings::default() };
    let mut w = Watch::new("test", script, &settings, Arc::default());
    let first = w.next_change().await;
    assert_eq!(first, "same");
    let waited = tokio::time::timeout(Duration::from_secs(10), w.next_change()).await;
    assert!(waited.is_err(), "an unchanged body is never returned");
    let requests = sent(&sent_log).len();
    // 3 at once, then 5 per second for 10 s.
    assert!((52..=54).contains(&requests), "{requests} requests in 10 s");
}

#[tokio::test(start_paused = true)]
async fn a_reset_is_noticed_even_across_an_outage() {
    let (mut w, _) = watch(vec![ok(900, "a"), down(), down(), ok(5, "b"), ok(7, "c")]);
    assert_eq!(w.next_change().await, "a");
    assert!(!w.take_reset());
    assert_eq!(w.next_change().await, "b");
    assert!(w.take_reset(), "index 5 after 900: Consul's state was reset");
    assert!(!w.take_reset(), "reported once");
    assert_eq!(w.next_change().await, "c");
    assert!(!w.take_reset(), "7 after 5 is normal growth");
}
