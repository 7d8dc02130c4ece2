//! Authentication and rate limits end to end: a real Consul agent, instances
//! whose tags ask for them, and Portico in front.

mod common;
#[path = "common/edge.rs"]
mod edge_shop;

use edge_shop::{edge, json_of, token, OPS_KEY};
use serde_json::Value;

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
async fn an_authenticated_client_is_limited_by_identity_not_address() {
    let e = edge(&[("search", &["portico.auth=any", "portico.rate-limit=2/m"])], &[]).await;
    let p = &e.portico;
    let routes = p.routes().await;
    let route = &routes["routes"][0];
    assert_eq!((route["auth"].as_str(), route["rate_limit"]["count"].as_u64()), (Some("any"), Some(2)));
    assert_eq!(route["rate_limit"]["period_secs"], 60);
    let as_user = |sub: &str| p.http.get(p.url("/search")).bearer_auth(token(sub, 300)).send();
    let alice: Vec<u16> = [as_user("alice").await, as_user("alice").await, as_user("alice").await]
        .into_iter()
        .map(|r| r.expect("answer").status().as_u16())
        .collect();
    assert_eq!(alice, vec![200, 200, 429]);
    let bob = as_user("bob").await.expect("answer");
    assert_eq!(bob.status(), 200, "same address, another identity, another bucket");
}
