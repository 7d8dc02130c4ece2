use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use super::*;

fn spec(count: u32, burst: u32) -> RateSpec {
    RateSpec { count, period: Duration::from_secs(1), burst, per_replica: false }
}

fn ip(n: u32) -> ClientKey {
    ClientKey::Ip(IpAddr::V4(Ipv4Addr::from(n)))
}

#[tokio::test(start_paused = true)]
async fn a_burst_is_allowed_then_refused_until_the_bucket_refills() {
    let limiters = Limiters::new(1000);
    let route: Arc<str> = "/search".into();
    let decisions: Vec<Decision> = (0..6).map(|_| limiters.check(&route, spec(5, 5), ip(1))).collect();
    let remaining: Vec<u32> = decisions.iter().map(|d| d.remaining).collect();
    assert_eq!(remaining, vec![4, 3, 2, 1, 0, 0]);
    assert!(decisions[..5].iter().all(|d| d.allowed));
    assert!(!decisions[5].allowed);
    assert_eq!(decisions[5].reset_secs, 1, "one request frees up after 200 ms, rounded up");
    assert!(limiters.check(&route, spec(5, 5), ip(2)).allowed, "another client has its own bucket");
    tokio::time::advance(Duration::from_millis(199)).await;
    assert!(!limiters.check(&route, spec(5, 5), ip(1)).allowed);
    tokio::time::advance(Duration::from_millis(2)).await;
    assert!(limiters.check(&route, spec(5, 5), ip(1)).allowed, "one request back after 1/5 s");
}

#[tokio::test(start_paused = true)]
async fn routes_with_the_same_limit_count_separately() {
    let limiters = Limiters::new(1000);
    let (a, b): (Arc<str>, Arc<str>) = ("/a".into(), "/b".into());
    assert!(limiters.check(&a, spec(1, 1), ip(1)).allowed);
    assert!(!limiters.check(&a, spec(1, 1), ip(1)).allowed);
    assert!(limiters.check(&b, spec(1, 1), ip(1)).allowed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limit_holds_under_concurrency() {
    let limiters = Arc::new(Limiters::new(1000));
    let route: Arc<str> = "/r".into();
    let per_hour = RateSpec { count: 100, period: Duration::from_secs(3600), burst: 100, per_replica: false };
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (limiters, route) = (Arc::clone(&limiters), Arc::clone(&route));
            tokio::spawn(async move { (0..500).filter(|_| limiters.check(&route, per_hour, ip(7)).allowed).count() })
        })
        .collect();
    let mut allowed = 0;
    for task in tasks {
        allowed += task.await.expect("task");
    }
    assert_eq!(allowed, 100, "4,000 concurrent requests, exactly the burst of 100 allowed");
}

#[tokio::test(start_paused = true)]
async fn idle_clients_are_swept_so_memory_stays_bounded() {
    let limiters = Limiters::new(1_000_000);
    let route: Arc<str> = "/search".into();
    for n in 0..1_000_000 {
        limiters.check(&route, spec(10, 10), ip(n));
    }
    assert_eq!(limiters.clients(), 1_000_000);
    limiters.sweep();
    assert_eq!(limiters.clients(), 1_000_000, "all still inside their refill window");
    tokio::time::advance(Duration::from_millis(200)).await;
    limiters.check(&route, spec(10, 10), ip(5)); // one client stays active
    limiters.sweep();
    assert_eq!(limiters.clients(), 1, "refilled buckets are forgotten, the active one kept");
}

#[tokio::test(start_paused = true)]
async fn a_flood_of_new_addresses_forgets_the_least_recent_not_the_limited_client() {
    let limiters = Limiters::new(1000);
    let route: Arc<str> = "/r".into();
    let abuser = ip(1_000_000);
    assert!(limiters.check(&route, spec(1, 1), abuser.clone()).allowed);
    tokio::time::advance(Duration::from_millis(1)).await;
    for n in 0..5000 {
        limiters.check(&route, spec(1, 1), ip(n));
        tokio::time::advance(Duration::from_micros(1)).await;
    }
    assert!(!limiters.check(&route, spec(1, 1), abuser.clone()).allowed, "held to its limit");
    limiters.sweep();
    assert_eq!(limiters.clients(), 1000, "bounded to max_clients, not emptied");
    assert!(!limiters.check(&route, spec(1, 1), abuser).allowed, "the flood did not wipe the abuser's limit");
    assert!(limiters.check(&route, spec(1, 1), ip(0)).allowed, "the least recent flood address was forgotten");
    assert!(!limiters.check(&route, spec(1, 1), ip(4999)).allowed, "the most recent one is remembered");
}

#[tokio::test(start_paused = true)]
async fn ipv6_clients_are_counted_per_64_by_default() {
    let limiters = Limiters::new(1000);
    let route: Arc<str> = "/r".into();
    let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
    let same_net: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
    let other_net: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
    assert!(limiters.check(&route, spec(1, 1), limiters.ip_key(a)).allowed);
    assert!(!limiters.check(&route, spec(1, 1), limiters.ip_key(same_net)).allowed, "same /64, same bucket");
    assert!(limiters.check(&route, spec(1, 1), limiters.ip_key(other_net)).allowed);
    let per_address = Limiters::new(1000).with_ipv6_prefix(128);
    assert!(per_address.check(&route, spec(1, 1), per_address.ip_key(a)).allowed);
    assert!(per_address.check(&route, spec(1, 1), per_address.ip_key(same_net)).allowed, "configured: per address");
    let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
    assert_eq!(limiters.ip_key(mapped), ClientKey::Ip("192.0.2.7".parse().expect("ip")), "IPv4-mapped counts as IPv4");
}

#[test]
fn headers_report_limit_remaining_reset_and_policy() {
    let decision = Decision {
        allowed: true,
        limit: 20,
        remaining: 7,
        reset_secs: 3,
        spec: RateSpec { count: 10, period: Duration::from_secs(1), burst: 20, per_replica: false },
    };
    let mut headers = HeaderMap::new();
    decision.write_headers(&mut headers);
    assert_eq!(headers["ratelimit-limit"], "20");
    assert_eq!(headers["ratelimit-remaining"], "7");
    assert_eq!(headers["ratelimit-reset"], "3");
    assert_eq!(headers["ratelimit-policy"], "10;w=1;burst=20");
}

#[test]
fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let trusted = TrustedProxies::parse(&["10.0.0.0/8".into(), "::1".into()]).expect("parse");
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-for", "203.0.113.9, 198.51.100.4, 10.1.2.3".parse().expect("v"));
    let proxy: IpAddr = "10.0.0.1".parse().expect("ip");
    let stranger: IpAddr = "192.0.2.1".parse().expect("ip");
    assert_eq!(
        trusted.client_ip(proxy, &headers),
        "198.51.100.4".parse::<IpAddr>().expect("ip"),
        "rightmost untrusted hop"
    );
    assert_eq!(trusted.client_ip(stranger, &headers), stranger, "an untrusted peer cannot choose its key");
    headers.insert("x-forwarded-for", "garbage".parse().expect("v"));
    assert_eq!(trusted.client_ip(proxy, &headers), proxy);
    assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
    assert!(trusted.contains("::ffff:10.9.9.9".parse().expect("ip")), "v4-mapped addresses match v4 networks");
}

#[tokio::test(start_paused = true)]
async fn a_cluster_wide_limit_costs_one_cell_per_live_replica_and_keeps_its_state_when_they_change() {
    let replicas = Arc::new(AtomicU32::new(3));
    let limiters = Limiters::new(1000).with_replicas(Arc::clone(&replicas));
    let route: Arc<str> = "/limited".into();
    let per_minute = RateSpec { count: 60, period: Duration::from_secs(60), burst: 60, per_replica: false };
    let allowed = |n| (0..n).filter(|_| limiters.check(&route, per_minute, ip(1)).allowed).count();
    assert_eq!(allowed(30), 20, "a third of 60 on each of three replicas");
    replicas.store(2, Ordering::Relaxed);
    assert_eq!(allowed(5), 0, "one replica fewer is no fresh allowance");
    tokio::time::advance(Duration::from_secs(4)).await;
    assert_eq!(allowed(5), 2, "4 cells refilled, 2 per request now");
    let per_replica = RateSpec { per_replica: true, ..per_minute };
    assert_eq!((0..70).filter(|_| limiters.check(&route, per_replica, ip(2)).allowed).count(), 60);
    replicas.store(100, Ordering::Relaxed);
    let small = RateSpec { count: 10, period: Duration::from_secs(1), burst: 10, per_replica: false };
    assert_eq!(
        (0..5).filter(|_| limiters.check(&route, small, ip(3)).allowed).count(),
        1,
        "more replicas than the burst"
    );
}
