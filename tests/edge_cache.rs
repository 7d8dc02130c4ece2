//! The response cache end to end: a real Consul agent, instances whose tags
//! ask for caching (and whose answers say how, through `X-Reply-*` headers),
//! and Portico in front.

mod common;
#[path = "common/edge.rs"]
mod edge_shop;

use std::time::Duration;

use common::Portico;
use edge_shop::{edge, json_of, OPS_KEY};

#[tokio::test]
async fn responses_are_cached_by_cache_control_and_marked_hit_or_miss() {
    let e = edge(&[("catalog", &["portico.cache=true"])], &[]).await;
    let (p, backend) = (&e.portico, &e.backends[0]);
    let get = |path: &'static str, cc: &'static str| p.http.get(p.url(path)).header("x-reply-cache-control", cc).send();
    let first = get("/catalog/items", "max-age=60").await.expect("answer");
    assert_eq!(first.headers()["x-cache"], "MISS");
    let first_body = json_of(first).await;
    let second = get("/catalog/items", "max-age=60").await.expect("answer");
    assert_eq!(second.headers()["x-cache"], "HIT");
    assert!(second.headers().contains_key("age"));
    assert_eq!(json_of(second).await, first_body, "the stored answer, byte for byte");
    assert_eq!(backend.requests(), 1);

    // no-store and private answers are never served from the cache.
    for cc in ["no-store", "private, max-age=60"] {
        let before = backend.requests();
        for _ in 0..2 {
            let r = p.http.get(p.url("/catalog/me")).header("x-reply-cache-control", cc).send().await.expect("answer");
            assert_eq!(r.headers()["x-cache"], "MISS", "{cc}");
        }
        assert_eq!(backend.requests(), before + 2, "{cc}");
    }
    // A request with credentials does not get the shared copy, and is not stored.
    let with_auth = p
        .http
        .get(p.url("/catalog/items"))
        .header("authorization", "Bearer someone")
        .header("x-reply-cache-control", "max-age=60")
        .send()
        .await
        .expect("answer");
    assert_eq!(with_auth.headers()["x-cache"], "MISS");
    let again = get("/catalog/items", "max-age=60").await.expect("answer");
    assert_eq!(json_of(again).await, first_body, "the anonymous copy is untouched");
}

#[tokio::test]
async fn one_hundred_concurrent_misses_make_one_upstream_request() {
    let e = edge(&[("catalog", &["portico.cache=30s"])], &[]).await;
    let p = &e.portico;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let (http, url) = (p.http.clone(), p.url("/catalog/slow/300"));
        tasks.spawn(async move {
            let r = http.get(url).send().await.expect("answer");
            assert_eq!(r.status(), 200);
            (r.headers()["x-cache"].to_str().expect("ascii").to_string(), r.text().await.expect("body"))
        });
    }
    let answers: Vec<(String, String)> = tasks.join_all().await;
    assert_eq!(e.backends[0].requests(), 1, "coalesced into one fetch");
    let misses = answers.iter().filter(|(verdict, _)| verdict == "MISS").count();
    assert_eq!(misses, 1, "the leader's answer is the one MISS");
    assert!(answers.iter().all(|(_, body)| body == &answers[0].1), "everyone got the same body");
}

#[tokio::test]
async fn the_admin_api_purges_by_route_and_by_key() {
    let e = edge(&[("catalog", &["portico.cache=60s"])], &[]).await;
    let (p, backend) = (&e.portico, &e.backends[0]);
    for path in ["/catalog/a", "/catalog/b?page=2", "/catalog/a", "/catalog/b?page=2"] {
        p.get(path).await;
    }
    assert_eq!(backend.requests(), 2);
    let admin = |query: &str| format!("http://{}/admin/cache{query}", p.admin);
    let one = p.http.delete(admin("?key=%2Fcatalog%2Fb%3Fpage%3D2")).send().await.expect("admin");
    assert_eq!(json_of(one).await["purged"], 1);
    assert_eq!(p.get("/catalog/b?page=2").await.headers()["x-cache"], "MISS");
    assert_eq!(p.get("/catalog/a").await.headers()["x-cache"], "HIT");
    let all = p.http.delete(admin("?route=/catalog")).send().await.expect("admin");
    assert_eq!(json_of(all).await["purged"], 2);
    assert_eq!(p.get("/catalog/a").await.headers()["x-cache"], "MISS");
    let stats = json_of(p.http.get(admin("")).send().await.expect("admin")).await;
    assert_eq!(stats["entries"], 1);
    let bad = p.http.delete(admin("?colour=blue")).send().await.expect("admin");
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn a_key_whose_answer_is_uncacheable_stops_queueing_requests() {
    let e = edge(&[("catalog", &["portico.cache=true"])], &[]).await;
    let p = &e.portico;
    let in_flight = || async {
        let stats = p.http.get(format!("http://{}/admin/cache", p.admin)).send().await.expect("admin");
        json_of(stats).await["in_flight"].as_u64().expect("count")
    };
    let burst = |n: usize| {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..n {
            let request = p.http.get(p.url("/catalog/slow/1000")).header("x-reply-cache-control", "no-store");
            tasks.spawn(async move { request.send().await.expect("answer").status().as_u16() });
        }
        tasks
    };
    let first = burst(5);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while in_flight().await != 1 || e.backends[0].requests() != 1 {
        assert!(std::time::Instant::now() < deadline, "the first misses never queued behind one fetch");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(first.join_all().await.iter().all(|s| *s == 200));
    assert_eq!(e.backends[0].requests(), 5, "each waiter fetched in turn once the answer proved uncacheable");
    let second = burst(5);
    // Known uncacheable: all five go straight upstream at once. Each takes 1 s
    // at the instance, so queued one behind another they would need 4 s more.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while e.backends[0].requests() < 10 {
        assert!(std::time::Instant::now() < deadline, "the second burst was queued");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(in_flight().await, 0, "known uncacheable: straight upstream, nobody waits");
    assert!(second.join_all().await.iter().all(|s| *s == 200));
    assert_eq!(e.backends[0].requests(), 10);
}

#[tokio::test]
async fn a_304_to_a_conditional_request_does_not_spoil_the_key() {
    let e = edge(&[("catalog", &["portico.cache=true"])], &[]).await;
    let p = &e.portico;
    let conditional = p
        .http
        .get(p.url("/catalog/items"))
        .header("if-none-match", "\"v1\"")
        .header("x-reply-status", "304")
        .send()
        .await
        .expect("answer");
    assert_eq!(conditional.status(), 304);
    let verdicts = plain_verdicts(p, 2).await;
    assert_eq!(verdicts, vec!["MISS", "HIT"], "the plain GET after a 304 is stored as usual");
}

/// `X-Cache` of `n` plain GETs of `/catalog/items` (max-age=60), one after another.
async fn plain_verdicts(p: &Portico, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        let r = p.http.get(p.url("/catalog/items")).header("x-reply-cache-control", "max-age=60").send().await;
        out.push(r.expect("answer").headers()["x-cache"].to_str().expect("ascii").to_string());
    }
    out
}

#[tokio::test]
async fn on_an_authenticated_cached_route_only_public_answers_are_shared() {
    let e = edge(&[("reports", &["portico.auth=api-key", "portico.cache=true"])], &[]).await;
    let p = &e.portico;
    let get = |cc: &'static str| {
        p.http.get(p.url("/reports/daily")).header("x-api-key", OPS_KEY).header("x-reply-cache-control", cc).send()
    };
    let verdict = |r: reqwest::Response| r.headers()["x-cache"].to_str().expect("ascii").to_string();
    let private =
        [verdict(get("max-age=60").await.expect("answer")), verdict(get("max-age=60").await.expect("answer"))];
    assert_eq!(private, ["MISS", "MISS"], "an answer to a keyed request is not shared unless public");
    let public = [
        verdict(get("public, max-age=60").await.expect("answer")),
        verdict(get("public, max-age=60").await.expect("answer")),
    ];
    assert_eq!(public, ["MISS", "HIT"]);
}

#[tokio::test]
async fn head_is_answered_from_a_stored_get_without_a_body() {
    let e = edge(&[("catalog", &["portico.cache=60s"])], &[]).await;
    let p = &e.portico;
    assert_eq!(p.get("/catalog/items").await.headers()["x-cache"], "MISS");
    let head = p.http.head(p.url("/catalog/items")).send().await.expect("answer");
    assert_eq!((head.status().as_u16(), head.headers()["x-cache"].to_str().ok()), (200, Some("HIT")));
    assert!(head.bytes().await.expect("body").is_empty());
    assert_eq!(e.backends[0].requests(), 1);
}

/// On HTTP/2 the host is the `:authority`; two hosts never share an entry.
#[tokio::test]
async fn over_http2_entries_are_keyed_by_the_authority() {
    use bytes::Bytes;
    use http_body_util::Empty;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let e = edge(&[("catalog", &["portico.cache=true"])], &[]).await;
    let (p, backend) = (&e.portico, &e.backends[0]);
    let stream = tokio::net::TcpStream::connect(p.addr).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.expect("h2c");
    tokio::spawn(connection);
    let mut verdicts = Vec::new();
    for host in ["a.test", "b.test", "a.test"] {
        let request = http::Request::get(format!("http://{host}/catalog/items"))
            .header("x-reply-cache-control", "max-age=60")
            .body(Empty::<Bytes>::new())
            .expect("request");
        let response = sender.send_request(request).await.expect("response");
        assert_eq!(response.status(), 200);
        verdicts.push(response.headers()["x-cache"].to_str().expect("ascii").to_string());
    }
    assert_eq!(verdicts, ["MISS", "MISS", "HIT"], "b.test must not get a.test's copy");
    assert_eq!(backend.requests(), 2);
}
