//! `[cluster]` and its flags: how this replica makes itself known to the
//! others through Consul (see [`crate::replicas`]).

use std::time::Duration;

use serde::Deserialize;

use super::{invalid, parse_duration, Cli, ConfigError};
use crate::replicas::ClusterSettings;

/// `[cluster]` in the TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    /// Register in Consul as a replica (default true).
    pub register: Option<bool>,
    /// The Consul service name replicas register under (default `portico`).
    pub service: Option<String>,
    /// The address other hosts reach this replica at.
    pub advertise: Option<String>,
    /// How often Consul checks `/healthz` (default 2s).
    pub check_interval: Option<String>,
    /// How long a cluster-wide purge waits for the other replicas' acknowledgements (default 2s).
    pub purge_wait: Option<String>,
}

impl ClusterSection {
    /// The settings, flags over file over defaults.
    pub fn merge(self, cli: &Cli) -> Result<ClusterSettings, ConfigError> {
        let mut settings = ClusterSettings::default();
        if let Some(register) = cli.register.or(self.register) {
            settings.register = register;
        }
        if let Some(service) = self.service {
            let valid = !service.is_empty() && service.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !valid {
                return Err(invalid("cluster service", &service, "letters, digits and -"));
            }
            settings.service = service;
        }
        if let Some(advertise) = cli.advertise.clone().or(self.advertise) {
            let ip = advertise.parse().map_err(|_| invalid("--advertise", &advertise, "an IP address"))?;
            settings.advertise = Some(ip);
        }
        if let Some(interval) = &self.check_interval {
            settings.check_interval = parse_duration("cluster check_interval", interval)?.max(Duration::from_secs(1));
        }
        if let Some(wait) = &self.purge_wait {
            settings.purge_wait = parse_duration("cluster purge_wait", wait)?;
        }
        Ok(settings)
    }
}
