//! Edge policies end to end: a real Consul agent, instances whose tags ask
//! for authentication, a rate limit or caching, and Portico in front.

mod common;

use std::time::Duration;

use common::Portico;
use jsonwebtoken::{encode, EncodingKey, Header};
use portico::auth::JwtSettings;
use portico_testkit::consul::ttl_service;
use portico_testkit::{Backend, ConsulAgent};
use serde_json::{json, Value};

const SECRET: &str = "edge-test-secret-0123456789abcdef-0123";
const OPS_KEY: &str = "ops-key-0123456789abcdef";

/// One backend per service, each registered with `tags` under `/name`.
struct Edge {
    _consul: ConsulAgent,
    backends: Vec<Backend>,
    portico: Portico,
}

async fn edge(services: &[(&str, &[&str])], trusted: &[&str]) -> Edge {
    let consul = ConsulAgent::start().await;
    let mut backends = Vec::new();
    for (name, extra) in services {
        let backend = Backend::start(&format!("{name}-1")).await;
        let mut tags = vec![format!("portico.route=/{name}")];
        tags.extend(extra.iter().map(|t| t.to_string()));
        let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
        consul.register(&ttl_service(name, &format!("{name}-1"), backend.port(), &tags)).await;
        backends.push(backend);
    }
    let mut config = common::config(&consul.addr());
    config.edge.auth.api_keys = vec![("ops".into(), OPS_KEY.into())];
    config.edge.auth.jwt = Some(JwtSettings { hs256_secret: Some(SECRET.into()), ..JwtSettings::default() });
    config.edge.trusted_proxies =
        portico::ratelimit::TrustedProxies::parse(&trusted.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("cidr");
    let portico = Portico::start(config).await;
    for (name, _) in services {
        let id = format!("{name}-1");
        portico.wait_instances(&format!("/{name}"), &[id.as_str()], Duration::from_secs(5)).await;
    }
    Edge { _consul: consul, backends, portico }
}

fn token(sub: &str, exp_offset: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;
    let claims = json!({"sub": sub, "exp": now + exp_offset});
    encode(&Header::default(), &claims, &EncodingKey::from_secret(SECRET.as_bytes())).expect("encode")
}

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("json body")
}

#[tokio::test]
async fn missing_or_bad_credentials_get_401_that_names_the_failed_check() {
    let e = edge(&[("orders", &["portico.auth=any"])], &[]).await;
    let p = &e.portico;
    let missing = p.get("/orders").await;
    assert_eq!(missing.status(), 401);
    let challenges: Vec<&str> =
        missing.headers().get_all("www-authenticate").iter().filter_map(|v| v.to_str().ok()).collect();
    assert_eq!(challenges, vec!["Bearer realm=\"portico\"", "ApiKey realm=\"portico\", header=\"x-api-key\""]);
    let body = json_of(missing).await;
    assert_eq!((body["error"].as_str(), body["reason"].as_str()), (Some("unauthorized"), Some("missing credentials")));

    let expired = token("alice", -120);
    let response = p.http.get(p.url("/orders")).bearer_auth(&expired).send().await.expect("answer");
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().expect("ascii").to_string();
    assert!(challenge.contains("error=\"invalid_token\"") && challenge.contains("token expired"), "{challenge}");
    let text = response.text().await.expect("body");
    assert!(text.contains("\"reason\":\"token expired\""), "{text}");
    assert!(!text.contains(&expired) && !challenge.contains(&expired), "the token is never echoed");

    let wrong_key =
        p.http.get(p.url("/orders")).header("x-api-key", "ops-key-guessed-000000").send().await.expect("answer");
    assert_eq!(wrong_key.status(), 401);
    let text = wrong_key.text().await.expect("body");
    assert!(text.contains("unknown API key") && !text.contains("guessed"), "{text}");
    assert_eq!(e.backends[0].requests(), 0, "nothing unauthenticated reached the instance");
}

#[tokio::test]
async fn the_identity_goes_upstream_and_a_forged_subject_is_stripped() {
    let e = edge(&[("orders", &["portico.auth=any"]), ("plain", &[])], &[]).await;
    let p = &e.portico;
    let by_jwt = p
        .http
        .get(p.url("/orders"))
        .bearer_auth(token("alice", 300))
        .header("x-auth-subject", "admin")
        .send()
        .await
        .expect("answer");
    assert_eq!(by_jwt.status(), 200);
    assert_eq!(json_of(by_jwt).await["headers"]["x-auth-subject"], "alice");
    let by_key = p.http.get(p.url("/orders")).header("x-api-key", OPS_KEY).send().await.expect("answer");
    let seen = json_of(by_key).await;
    assert_eq!(seen["headers"]["x-auth-subject"], "ops");
    assert_eq!(seen["headers"]["x-api-key"], Value::Null, "the key itself stays at the gateway");
    let forged = p.http.get(p.url("/plain")).header("x-auth-subject", "admin").send().await.expect("answer");
    assert_eq!(forged.status(), 200);
    assert_eq!(json_of(forged).await["headers"]["x-auth-subject"], Value::Null, "stripped on every route");
}

#[tokio::test]
async fn over_the_limit_gets_429_with_retry_after_and_ratelimit_headers() {
    let e = edge(&[("search", &["portico.rate-limit=3/m"])], &["127.0.0.1"]).await;
    let p = &e.portico;
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let r = p.get("/search?q=mill").await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["ratelimit-limit"], "3");
        remaining.push(r.headers()["ratelimit-remaining"].to_str().expect("ascii").to_string());
    }
    assert_eq!(remaining, vec!["2", "1", "0"]);
    let refused = p.get("/search?q=mill").await;
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=20).contains(&retry_after), "one request frees up within 20 s at 3/min: {retry_after}");
    assert_eq!(refused.headers()["ratelimit-remaining"], "0");
    assert_eq!(refused.headers()["ratelimit-reset"].to_str().ok(), Some(retry_after.to_string().as_str()));
    let body = json_of(refused).await;
    assert_eq!((body["error"].as_str(), body["status"].as_u64()), (Some("rate limit exceeded"), Some(429)));
    assert_eq!(e.backends[0].requests(), 3, "the refused request never reached the instance");
    // Behind a trusted proxy, each forwarded client has its own bucket.
    let other = p.http.get(p.url("/search")).header("x-forwarded-for", "198.51.100.7").send().await.expect("answer");
    assert_eq!(other.status(), 200);
    let metrics =
        p.http.get(format!("http://{}/metrics", p.admin)).send().await.expect("admin").text().await.expect("text");
    for line in [
        r#"portico_edge_decisions_total{route="/search",policy="rate_limit",outcome="allowed"} 4"#,
        r#"portico_edge_decisions_total{route="/search",policy="rate_limit",outcome="limited"} 1"#,
    ] {
        assert!(metrics.contains(line), "missing {line}");
    }
}

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
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(in_flight().await, 1, "the first misses wait for one fetch");
    assert!(first.join_all().await.iter().all(|s| *s == 200));
    let second = burst(5);
    tokio::time::sleep(Duration::from_millis(300)).await;
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
    let private = [verdict(get("max-age=60").await.expect("answer")), verdict(get("max-age=60").await.expect("answer"))];
    assert_eq!(private, ["MISS", "MISS"], "an answer to a keyed request is not shared unless public");
    let public = [
        verdict(get("public, max-age=60").await.expect("answer")),
        verdict(get("public, max-age=60").await.expect("answer")),
    ];
    assert_eq!(public, ["MISS", "HIT"]);
}
