//! Which TLS settings reach which instances: `[upstream_tls]` for every TLS
//! route (`https`, `h2`, `grpcs`), and named profiles
//! (`[upstream_tls.profiles.NAME]`) for the routes that say
//! `portico.upstream-tls=NAME`: a service behind its own CA, one that wants
//! another client certificate, or another server name.

use std::collections::{BTreeMap, HashMap};

use super::stream::UpstreamTls;
use crate::client_tls::ClientTls;

/// The default settings and the named ones, loaded once at start.
#[derive(Debug)]
pub struct TlsProfiles {
    default: UpstreamTls,
    named: HashMap<Box<str>, UpstreamTls>,
}

impl TlsProfiles {
    /// Loads every CA bundle and certificate; an error names the profile and the file.
    pub fn new(default: &ClientTls, named: &BTreeMap<String, ClientTls>) -> Result<TlsProfiles, String> {
        let mut profiles = TlsProfiles { default: UpstreamTls::new(default, 0)?, named: HashMap::new() };
        for (id, (name, settings)) in (1..).zip(named) {
            let tls = UpstreamTls::new(settings, id).map_err(|e| format!("profile {name:?}: {e}"))?;
            profiles.named.insert(name.as_str().into(), tls);
        }
        Ok(profiles)
    }

    /// The settings for a route naming `profile` (the default for `None`);
    /// `None` when no profile has that name.
    pub fn get(&self, profile: Option<&str>) -> Option<&UpstreamTls> {
        match profile {
            None => Some(&self.default),
            Some(name) => self.named.get(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_get_their_profile_or_the_default_and_each_has_its_own_identity() {
        let named = BTreeMap::from([("billing".to_string(), ClientTls::default())]);
        let profiles = TlsProfiles::new(&ClientTls::default(), &named).expect("loads");
        let default = profiles.get(None).expect("default").id();
        let billing = profiles.get(Some("billing")).expect("billing").id();
        assert_ne!(default, billing, "connections made with one are not reused for the other");
        assert!(profiles.get(Some("nope")).is_none());
    }

    #[test]
    fn an_unreadable_file_names_the_profile() {
        let broken = ClientTls { ca_file: Some("/nonexistent/ca.pem".into()), ..ClientTls::default() };
        let named = BTreeMap::from([("billing".to_string(), broken)]);
        let error = TlsProfiles::new(&ClientTls::default(), &named).expect_err("no such file");
        assert!(error.contains("\"billing\"") && error.contains("/nonexistent/ca.pem"), "{error}");
    }
}
