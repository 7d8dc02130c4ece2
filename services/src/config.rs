//! Flags shared by every shop service; each has an environment variable, so
//! docker-compose and the no-Docker demo configure them the same way.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clap::Parser;

/// Settings of one service instance.
#[derive(Debug, Clone, Parser)]
pub struct ServiceArgs {
    /// Address to listen on (port 0: any free port)
    #[arg(long, env = "SHOP_LISTEN", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Address registered in Consul [default: the listen address, or the interface that reaches Consul]
    #[arg(long, env = "SHOP_ADVERTISE")]
    pub advertise: Option<IpAddr>,
    /// Consul agent HTTP address
    #[arg(long, env = "CONSUL_HTTP_ADDR", default_value = "http://127.0.0.1:8500")]
    pub consul: String,
    /// Consul ACL token
    #[arg(long, env = "CONSUL_HTTP_TOKEN", hide_env_values = true)]
    pub consul_token: Option<String>,
    /// Portico's public URL, used to call sibling services
    #[arg(long, env = "PORTICO_URL", default_value = "http://127.0.0.1:8080")]
    pub portico: String,
    /// Interval of the Consul HTTP health check
    #[arg(long, env = "SHOP_CHECK_INTERVAL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub check_interval: Duration,
    /// After deregistering on SIGTERM, keep serving this long before stopping
    #[arg(long, env = "SHOP_DRAIN", default_value = "2s", value_parser = humantime::parse_duration)]
    pub drain: Duration,
    /// Largest request body accepted, in bytes
    #[arg(long, env = "SHOP_MAX_BODY", default_value_t = 64 * 1024)]
    pub max_body: usize,
    /// Extra Consul tags for this instance, comma-separated (e.g. `portico.canary=10%`)
    #[arg(long = "tag", env = "SHOP_TAGS", value_delimiter = ',')]
    pub tags: Vec<String>,
    /// The version registered in the instance's Consul meta (`version`)
    #[arg(long, env = "SHOP_VERSION", default_value = env!("CARGO_PKG_VERSION"))]
    pub version: String,
    /// Share of requests (0 to 1) answered with a 500, to show a failing release
    #[arg(long, env = "SHOP_FAIL_RATE", default_value_t = 0.0, value_parser = fail_rate)]
    pub fail_rate: f64,
}

fn fail_rate(value: &str) -> Result<f64, String> {
    value.parse::<f64>().ok().filter(|r| (0.0..=1.0).contains(r)).ok_or(format!("expected 0 to 1, got {value:?}"))
}

impl ServiceArgs {
    /// The Consul address with a scheme (`host:port` is accepted too).
    pub fn consul_url(&self) -> String {
        with_scheme(&self.consul)
    }

    /// Portico's URL with a scheme.
    pub fn portico_url(&self) -> String {
        with_scheme(&self.portico)
    }
}

fn with_scheme(addr: &str) -> String {
    let addr = addr.trim_end_matches('/');
    if addr.contains("://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    }
}
