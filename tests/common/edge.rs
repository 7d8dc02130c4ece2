//! A shop in miniature for the edge-policy tests: a real Consul agent, one
//! backend per service registered with the tags a test asks for, and Portico
//! in front with an API key and an HS256 secret configured.
#![allow(dead_code)]

use std::time::Duration;

use jsonwebtoken::{encode, EncodingKey, Header};
use portico::auth::JwtSettings;
use portico_testkit::consul::ttl_service;
use portico_testkit::{Backend, ConsulAgent};
use serde_json::{json, Value};

use crate::common::{config, Portico};

pub const SECRET: &str = "edge-test-secret-0123456789abcdef-0123";
pub const OPS_KEY: &str = "ops-key-0123456789abcdef";

/// One backend per service, each registered with `tags` under `/name`.
pub struct Edge {
    /// Kept so the agent lives as long as the test.
    pub consul: ConsulAgent,
    pub backends: Vec<Backend>,
    pub portico: Portico,
}

pub async fn edge(services: &[(&str, &[&str])], trusted: &[&str]) -> Edge {
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
    let mut config = config(&consul.addr());
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
    Edge { consul, backends, portico }
}

pub fn token(sub: &str, exp_offset: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;
    let claims = json!({"sub": sub, "exp": now + exp_offset});
    encode(&Header::default(), &claims, &EncodingKey::from_secret(SECRET.as_bytes())).expect("encode")
}

pub async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("json body")
}
