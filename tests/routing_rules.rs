//! Host routing, matchers, header rewriting and consistent hashing, declared
//! by Consul tags on a real agent and checked with real clients (reqwest and
//! curl, which speaks HTTP/2 with prior knowledge).

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::Portico;
use portico_testkit::consul::ttl_service;
use portico_testkit::{Backend, ConsulAgent};
use serde_json::Value;

/// One backend per (service, instance ID), registered with its tags; Portico in front.
async fn shop(instances: &[(&str, &str, &[&str])]) -> (ConsulAgent, Vec<Backend>, Portico) {
    let consul = ConsulAgent::start().await;
    let mut backends = Vec::new();
    for (service, id, tags) in instances {
        let backend = Backend::start(id).await;
        consul.register(&ttl_service(service, id, backend.port(), tags)).await;
        backends.push(backend);
    }
    let portico = Portico::for_consul(&consul.addr()).await;
    (consul, backends, portico)
}

/// Who answered `path` for `Host: host` (and extra headers), or the status.
async fn who(portico: &Portico, method: reqwest::Method, host: &str, path: &str, headers: &[(&str, &str)]) -> String {
    let mut request = portico.http.request(method, portico.url(path)).header("host", host);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("portico answers");
    match response.status().as_u16() {
        200 => response.headers().get("x-instance-id").and_then(|v| v.to_str().ok()).unwrap_or("?").to_string(),
        status => status.to_string(),
    }
}

#[tokio::test]
async fn the_most_specific_host_wins_before_the_longest_path() {
    let (_consul, _backends, portico) = shop(&[
        ("shop", "shop-1", &["portico.route=shop.example.com/", "portico.route=shop.example.com/api"]),
        ("blog", "blog-1", &["portico.route=*.example.com/"]),
        ("api", "api-1", &["portico.route=/api/v1"]),
    ])
    .await;
    portico.wait_instances("shop.example.com/api", &["shop-1"], Duration::from_secs(5)).await;
    portico.wait_instances("*.example.com/", &["blog-1"], Duration::from_secs(5)).await;
    portico.wait_instances("/api/v1", &["api-1"], Duration::from_secs(5)).await;
    let get = reqwest::Method::GET;
    let cases = [
        ("shop.example.com", "/api/v1/x", "shop-1"),
        ("SHOP.Example.com:8080", "/anything", "shop-1"),
        ("shop.example.com.", "/", "shop-1"),
        ("www.example.com", "/api/v1/x", "blog-1"),
        ("a.b.example.com", "/", "blog-1"),
        ("example.com", "/api/v1/x", "api-1"),
        ("other.org", "/api/v1", "api-1"),
        ("other.org", "/", "404"),
    ];
    for (host, path, expected) in cases {
        assert_eq!(who(&portico, get.clone(), host, path, &[]).await, expected, "Host: {host}, path {path}");
    }
    let routes = portico.routes().await;
    let shop = routes["routes"].as_array().unwrap().iter().find(|r| r["key"] == "shop.example.com/api").cloned();
    assert_eq!(shop.map(|r| r["host"].clone()), Some(Value::from("shop.example.com")));
}

/// curl with HTTP/2 prior knowledge sends `:authority`, no `Host`.
#[tokio::test]
async fn http2_routes_by_authority() {
    let (_consul, _backends, portico) =
        shop(&[("shop", "shop-1", &["portico.route=shop.example.com/"]), ("other", "other-1", &["portico.route=/"])])
            .await;
    portico.wait_instances("shop.example.com/", &["shop-1"], Duration::from_secs(5)).await;
    portico.wait_instances("/", &["other-1"], Duration::from_secs(5)).await;
    let port = portico.addr.port();
    let output = tokio::process::Command::new("curl")
        .args(["-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-D", "-", "--resolve"])
        .arg(format!("shop.example.com:{port}:127.0.0.1"))
        .arg(format!("http://shop.example.com:{port}/x"))
        .output()
        .await
        .expect("curl runs");
    let head = String::from_utf8_lossy(&output.stdout).to_ascii_lowercase();
    assert!(head.starts_with("http/2 200"), "{head}");
    assert!(head.contains("x-instance-id: shop-1"), "{head}");
}

#[tokio::test]
async fn a_request_that_fails_a_matcher_falls_through_to_the_next_route() {
    let (_consul, _backends, portico) = shop(&[
        ("beta", "beta-1", &["portico.route=/cart", "portico.match=header:X-Canary=1", "portico.match=method:GET"]),
        ("cart", "cart-1", &["portico.route=/cart"]),
    ])
    .await;
    portico.wait_instances("/cart [method:GET header:x-canary=1]", &["beta-1"], Duration::from_secs(5)).await;
    portico.wait_instances("/cart", &["cart-1"], Duration::from_secs(5)).await;
    let (get, post) = (reqwest::Method::GET, reqwest::Method::POST);
    assert_eq!(who(&portico, get.clone(), "h", "/cart/1", &[("x-canary", "1")]).await, "beta-1");
    assert_eq!(who(&portico, get.clone(), "h", "/cart/1", &[("x-canary", "2")]).await, "cart-1");
    assert_eq!(who(&portico, get.clone(), "h", "/cart/1", &[]).await, "cart-1");
    assert_eq!(who(&portico, post, "h", "/cart/1", &[("x-canary", "1")]).await, "cart-1");
}

#[tokio::test]
async fn header_rules_rewrite_what_the_instance_and_the_client_see() {
    let (_consul, _backends, portico) = shop(&[(
        "web",
        "web-1",
        &[
            "portico.route=/web",
            "portico.request-header=set:X-Env=prod",
            "portico.request-header=remove:X-Debug",
            "portico.request-header=add:X-Reply-Trace=portico",
            "portico.response-header=set:X-Served-By=portico",
            "portico.response-header=remove:X-Secret",
        ],
    )])
    .await;
    portico.wait_instances("/web", &["web-1"], Duration::from_secs(5)).await;
    let response = portico
        .http
        .get(portico.url("/web/x"))
        .header("x-env", "dev")
        .header("x-debug", "1")
        .header("x-reply-trace", "client")
        .header("x-reply-x-secret", "leak")
        .send()
        .await
        .expect("answer");
    assert_eq!(response.headers().get("x-served-by").map(|v| v.as_bytes()), Some(&b"portico"[..]));
    assert!(response.headers().get("x-secret").is_none(), "the response rule removed X-Secret");
    // The instance echoes every `X-Reply-Trace` value it got as `Trace`: add appends.
    let traces: Vec<&[u8]> = response.headers().get_all("trace").iter().map(|v| v.as_bytes()).collect();
    assert_eq!(traces, [&b"client"[..], &b"portico"[..]]);
    let body: Value = response.json().await.expect("json");
    let seen = &body["headers"];
    assert_eq!(seen["x-env"], "prod");
    assert!(seen.get("x-debug").is_none(), "{seen}");
    let routes = portico.routes().await;
    let rules = &routes["routes"][0]["request_headers"];
    assert_eq!(rules, &serde_json::json!(["remove:x-debug", "set:x-env=prod", "add:x-reply-trace=portico"]));
}

#[tokio::test]
async fn a_hash_route_keeps_a_key_on_its_instance_and_moves_only_a_departed_instances_keys() {
    let tags: &[&str] = &["portico.route=/cart", "portico.lb=hash:header=X-User"];
    let (consul, _backends, portico) =
        shop(&[("cart", "cart-1", tags), ("cart", "cart-2", tags), ("cart", "cart-3", tags)]).await;
    portico.wait_instances("/cart", &["cart-1", "cart-2", "cart-3"], Duration::from_secs(5)).await;
    let get = reqwest::Method::GET;
    let mut owner: HashMap<String, String> = HashMap::new();
    for user in 0..60 {
        let name = format!("user-{user}");
        let first = who(&portico, get.clone(), "h", "/cart", &[("x-user", &name)]).await;
        for _ in 0..3 {
            assert_eq!(who(&portico, get.clone(), "h", "/cart", &[("x-user", &name)]).await, first, "{name} moved");
        }
        owner.insert(name, first);
    }
    let used: HashSet<&String> = owner.values().collect();
    assert_eq!(used.len(), 3, "60 users spread over all three instances: {used:?}");
    consul.deregister("cart-2").await;
    portico.wait_instances("/cart", &["cart-1", "cart-3"], Duration::from_secs(5)).await;
    for (name, before) in &owner {
        let now = who(&portico, get.clone(), "h", "/cart", &[("x-user", name)]).await;
        match before.as_str() {
            "cart-2" => assert_ne!(now, "cart-2"),
            _ => assert_eq!(&now, before, "{name} moved though its instance stayed"),
        }
    }
}

#[tokio::test]
async fn explain_says_which_route_matched_why_others_did_not_and_what_consul_excluded() {
    let (consul, _backends, portico) = shop(&[
        ("beta", "beta-1", &["portico.route=/cart", "portico.match=header:X-Canary=1"]),
        ("cart", "cart-1", &["portico.route=/cart"]),
        ("cart", "cart-2", &["portico.route=/cart"]),
        ("shop", "shop-1", &["portico.route=shop.example.com/"]),
    ])
    .await;
    consul.ttl("cart-2-ttl", "fail").await;
    portico.wait_instances("/cart", &["cart-1"], Duration::from_secs(5)).await;
    let url = format!("http://{}/admin/explain?host=www.example.com&path=/cart/7&method=GET", portico.admin);
    let answer: Value = portico.http.get(url).send().await.expect("explain").json().await.expect("json");
    assert_eq!(answer["matched"]["route"], "/cart", "{answer}");
    let verdicts: Vec<(&str, &str)> = answer["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .map(|c| (c["route"].as_str().unwrap_or(""), c["verdict"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("/cart [header:x-canary=1]", "matchers not met: header x-canary is missing"),
            ("/cart", "matched"),
            ("shop.example.com/", "host www.example.com is not shop.example.com"),
        ]
    );
    assert_eq!(answer["instances"][0]["id"], "cart-1");
    assert_eq!(answer["instances"][0]["state"], "serving");
    let excluded = &answer["excluded_by_consul"][0];
    assert_eq!(excluded["id"], "cart-2", "{answer}");
    assert_eq!(excluded["checks"][0]["status"], "critical");
    let bad = format!("http://{}/admin/explain?path=/a%zz", portico.admin);
    assert_eq!(portico.http.get(bad).send().await.expect("answer").status(), 400);
}
