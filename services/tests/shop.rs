//! The shop end to end: a real Consul agent, Portico, and the four services
//! as real processes, talking to each other only through Portico.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Portico;
use portico_testkit::ConsulAgent;
use serde_json::{json, Value};

/// One service process; killed when dropped.
struct Instance {
    child: Child,
}

impl Instance {
    fn start(bin: &str, consul: &ConsulAgent, portico: &Portico) -> Instance {
        let child = Command::new(bin)
            .env("SHOP_LISTEN", "127.0.0.1:0")
            .env("CONSUL_HTTP_ADDR", consul.addr())
            .env("PORTICO_URL", format!("http://{}", portico.addr))
            .env("SHOP_DRAIN", "300ms")
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        Instance { child }
    }

    /// SIGTERM, then wait for a clean exit.
    fn terminate(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "exit status {status}");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("instance {pid} ignored SIGTERM");
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const PRODUCTS: &str = env!("CARGO_BIN_EXE_products");
const CART: &str = env!("CARGO_BIN_EXE_cart");
const CHECKOUT: &str = env!("CARGO_BIN_EXE_checkout");
const SEARCH: &str = env!("CARGO_BIN_EXE_search");

/// Checkout wants credentials; the shop tests use this key unless a test says otherwise.
const API_KEY: &str = "shop-tests-key-0123456789";
const JWT_SECRET: &str = "shop-tests-jwt-secret-0123456789abcdef";

struct Shop {
    consul: ConsulAgent,
    portico: Portico,
    instances: Vec<Instance>,
}

impl Shop {
    async fn start() -> Shop {
        let consul = ConsulAgent::start().await;
        let mut config = common::config(&consul.addr());
        config.edge.auth.api_keys = vec![("shop-tests".into(), API_KEY.into())];
        config.edge.auth.jwt =
            Some(portico::auth::JwtSettings { hs256_secret: Some(JWT_SECRET.into()), ..Default::default() });
        let portico = Portico::start(config).await;
        let instances =
            [PRODUCTS, CART, CHECKOUT, SEARCH].iter().map(|b| Instance::start(b, &consul, &portico)).collect();
        let shop = Shop { consul, portico, instances };
        for prefix in ["/products", "/cart", "/checkout", "/search"] {
            shop.wait_count(prefix, 1).await;
        }
        shop
    }

    async fn wait_count(&self, prefix: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.portico.instances(prefix).await.len() != n {
            assert!(Instant::now() < deadline, "{prefix} never reached {n} instances");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.portico.http.request(method, self.portico.url(path));
        if path.starts_with("/checkout") {
            request = request.header("x-api-key", API_KEY);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("portico answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn stock(&self, id: &str) -> i64 {
        let (status, product) = self.get(&format!("/products/{id}")).await;
        assert_eq!(status, 200, "{product}");
        product["stock"].as_i64().expect("stock")
    }
}

#[tokio::test]
async fn browse_add_to_cart_and_check_out_once() {
    let shop = Shop::start().await;
    let (status, products) = shop.get("/products").await;
    assert_eq!(status, 200);
    assert!(products.as_array().map_or(0, |p| p.len()) >= 5, "seeded catalog: {products}");
    let before = shop.stock("grinder").await;

    let (status, cart) = shop.post("/cart/alice/items", json!({"product_id": "grinder", "quantity": 2})).await;
    assert_eq!(status, 200, "{cart}");
    assert_eq!(cart["total_cents"], 2 * 5400);

    let (status, order) = shop.post("/checkout", json!({"cart_id": "alice"})).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(shop.stock("grinder").await, before - 2, "stock drops exactly once");
    let (status, stored) = shop.get(&format!("/checkout/orders/{}", order["id"].as_str().expect("id"))).await;
    assert_eq!(status, 200);
    assert_eq!(stored["total_cents"], 10_800);

    let (_, cart) = shop.get("/cart/alice").await;
    assert_eq!(cart["items"], json!([]), "the cart is cleared");
    let (status, _) = shop.post("/checkout", json!({"cart_id": "alice"})).await;
    assert_eq!(status, 400, "an empty cart cannot be checked out");
    assert_eq!(shop.stock("grinder").await, before - 2);
}

#[tokio::test]
async fn twenty_concurrent_checkouts_for_ten_in_stock_sell_exactly_ten() {
    let shop = Arc::new(Shop::start().await);
    let product = json!({"id": "limited", "name": "Limited edition mug", "price_cents": 1500, "stock": 10});
    assert_eq!(shop.post("/products", product).await.0, 201);
    for i in 0..20 {
        let (status, _) =
            shop.post(&format!("/cart/buyer-{i}/items"), json!({"product_id": "limited", "quantity": 1})).await;
        assert_eq!(status, 200);
    }
    let attempts = (0..20).map(|i| {
        let shop = shop.clone();
        tokio::spawn(async move { shop.post("/checkout", json!({"cart_id": format!("buyer-{i}")})).await.0 })
    });
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.expect("task"));
    }
    let sold = statuses.iter().filter(|&&s| s == 201).count();
    let refused = statuses.iter().filter(|&&s| s == 409).count();
    println!("20 checkouts: {sold} sold, {refused} refused");
    assert_eq!((sold, refused), (10, 10), "{statuses:?}");
    assert_eq!(shop.stock("limited").await, 0);
}

#[tokio::test]
async fn a_new_product_is_searchable_within_a_second() {
    let shop = Shop::start().await;
    let (status, _) = shop.get("/search?q=espresso").await;
    assert_eq!(status, 200);
    let product = json!({"id": "aeropress", "name": "Aeropress", "description": "Compact zephyrine brewer", "price_cents": 3500, "stock": 4});
    let created = Instant::now();
    assert_eq!(shop.post("/products", product).await.0, 201);
    loop {
        let (_, hits) = shop.get("/search?q=Zephyrine%20brewer").await;
        if hits["count"] == 1 {
            break;
        }
        assert!(created.elapsed() < Duration::from_secs(1), "not searchable after 1 s: {hits}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!("searchable {:?} after creation", created.elapsed());
    let (_, hidden) = shop.get("/search?q=filter").await;
    assert_eq!(hidden["count"], 0, "out of stock is hidden by default");
    let (_, shown) = shop.get("/search?q=filter&all=true").await;
    assert_eq!(shown["count"], 1);
}

#[tokio::test]
async fn bad_input_gets_4xx_and_nothing_crashes() {
    let mut shop = Shop::start().await;
    let raw = |path: &str, body: &'static str| {
        let request = shop
            .portico
            .http
            .post(shop.portico.url(path))
            .header("content-type", "application/json")
            .header("x-api-key", API_KEY)
            .body(body);
        async move { request.send().await.expect("answer").status().as_u16() }
    };
    assert_eq!(raw("/cart/bob/items", "{not json").await, 400);
    assert_eq!(raw("/cart/bob/items", r#"{"product_id": "grinder", "quantity": 0}"#).await, 400);
    assert_eq!(raw("/cart/bob/items", r#"{"product_id": "grinder", "quantity": -3}"#).await, 400);
    assert_eq!(raw("/cart/bob/items", r#"{"product_id": "no-such-thing", "quantity": 1}"#).await, 404);
    assert_eq!(raw("/cart/Bad%20Id/items", r#"{"product_id": "grinder", "quantity": 1}"#).await, 400);
    assert_eq!(raw("/products/grinder/reserve", r#"{"quantity": 100000}"#).await, 409);
    assert_eq!(raw("/checkout", r#"{"cart": "x"}"#).await, 400);
    let huge = format!(r#"{{"id": "big", "name": "{}", "price_cents": 1, "stock": 1}}"#, "x".repeat(200_000));
    let status =
        shop.portico.http.post(shop.portico.url("/products")).body(huge).send().await.expect("answer").status();
    assert_eq!(status, 413);
    let (status, body) = shop.get("/checkout/orders/nope").await;
    assert_eq!(status, 404);
    assert!(body["error"].is_string());
    let (_, cart) = shop.get("/cart/bob").await;
    assert_eq!(cart["items"], json!([]), "nothing half-written");
    for instance in &mut shop.instances {
        assert!(instance.alive());
    }
}

#[tokio::test]
async fn scaling_products_up_spreads_traffic_and_down_loses_nothing() {
    let shop = Arc::new(Shop::start().await);
    let extras: Vec<Instance> = (0..2).map(|_| Instance::start(PRODUCTS, &shop.consul, &shop.portico)).collect();
    shop.wait_count("/products", 3).await;
    let mut seen = std::collections::BTreeSet::new();
    for visit in 0..9 {
        // A product page asked for afresh each time (a new query is a new
        // cache key): cached answers would all come from one instance.
        seen.insert(shop.portico.who(&format!("/products/kettle?visit={visit}")).await.expect("200"));
    }
    assert_eq!(seen.len(), 3, "three instances answer: {seen:?}");

    let (sent, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let load = {
        let (shop, sent, failed) = (shop.clone(), sent.clone(), failed.clone());
        tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(4);
            while Instant::now() < deadline && sent.load(Ordering::Relaxed) < 20_000 {
                let n = sent.fetch_add(1, Ordering::Relaxed);
                if shop.portico.who(&format!("/products/kettle?load={n}")).await.is_err() {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    while sent.load(Ordering::Relaxed) < 50 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for extra in extras {
        tokio::task::spawn_blocking(move || extra.terminate()).await.expect("terminated");
    }
    shop.wait_count("/products", 1).await;
    load.await.expect("load");
    let (sent, failed) = (sent.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    println!("scaled 3 -> 1 under load: sent {sent}, failed {failed}");
    assert!(sent > 100);
    assert_eq!(failed, 0);
}

#[tokio::test]
async fn checkout_wants_credentials_the_list_is_cached_and_search_is_rate_limited() {
    let shop = Shop::start().await;
    let p = &shop.portico;
    assert_eq!(shop.post("/cart/bob/items", json!({"product_id": "grinder", "quantity": 1})).await.0, 200);
    let anonymous = p.http.post(p.url("/checkout")).json(&json!({"cart_id": "bob"})).send().await.expect("answer");
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().contains_key("www-authenticate"));

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let claims = json!({"sub": "bob@example.com", "exp": now + 300});
    let key = jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes());
    let token = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).expect("token");
    let placed = p.http.post(p.url("/checkout")).bearer_auth(&token).json(&json!({"cart_id": "bob"})).send().await;
    let placed = placed.expect("answer");
    assert_eq!(placed.status(), 201);
    let order: Value = placed.json().await.expect("order");
    assert_eq!(order["customer"], "bob@example.com", "the identity reached the service");

    let verdicts: Vec<String> = cache_verdicts(p, &["/products", "/products"]).await;
    assert_eq!(verdicts, vec!["MISS", "HIT"]);

    let mut statuses = Vec::new();
    for _ in 0..120 {
        statuses.push(p.get("/search?q=mug").await.status().as_u16());
    }
    let limited = statuses.iter().filter(|&&s| s == 429).count();
    println!("search: {} of 120 rapid requests limited", limited);
    assert!(limited > 0 && statuses[..100].iter().all(|&s| s == 200), "burst of 100, then 429: {statuses:?}");
}

/// `X-Cache` of GETs sent one after another.
async fn cache_verdicts(p: &Portico, paths: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for path in paths {
        let response = p.get(path).await;
        out.push(response.headers().get("x-cache").and_then(|v| v.to_str().ok()).unwrap_or("-").to_string());
    }
    out
}

#[tokio::test]
async fn a_product_update_through_portico_drops_the_cached_item_and_a_new_product_the_list() {
    let shop = Shop::start().await;
    let (_, products) = shop.get("/products").await;
    let first = products[0]["id"].as_str().expect("an id").to_string();
    let item = format!("/products/{first}");
    let verdict = |r: &reqwest::Response| r.headers().get("x-cache").map(|v| v.to_str().unwrap_or("").to_string());
    shop.get(&item).await;
    let cached = shop.portico.http.get(shop.portico.url(&item)).send().await.expect("response");
    assert_eq!(verdict(&cached).as_deref(), Some("HIT"), "the item is cached");
    let mut renamed = products[0].clone();
    renamed["name"] = "Renamed through Portico".into();
    assert_eq!(shop.call(reqwest::Method::PUT, &item, Some(renamed)).await.0, 200);
    let after = shop.portico.http.get(shop.portico.url(&item)).send().await.expect("response");
    assert_eq!(verdict(&after).as_deref(), Some("MISS"), "the PUT dropped it");
    let body: Value = after.json().await.expect("json");
    assert_eq!(body["name"], "Renamed through Portico");

    let listed = shop.portico.http.get(shop.portico.url("/products")).send().await.expect("response");
    assert_eq!(verdict(&listed).as_deref(), Some("HIT"));
    let product = json!({"id": "cache-test", "name": "Fresh", "price_cents": 100, "stock": 1});
    assert_eq!(shop.post("/products", product).await.0, 201);
    let (_, list) = shop.get("/products").await;
    let ids: Vec<&str> = list.as_array().into_iter().flatten().filter_map(|p| p["id"].as_str()).collect();
    assert!(ids.contains(&"cache-test"), "the POST to /products dropped the cached list: {ids:?}");
}
