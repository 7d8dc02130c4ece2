use super::*;
use crate::balance::Policy;

fn cli(args: &[&str]) -> Cli {
    let mut argv = vec!["portico"];
    argv.extend_from_slice(args);
    Cli::try_parse_from(argv).expect("flags parse")
}

#[test]
fn defaults_follow_the_contract() {
    let config = Config::merge(Cli::default(), FileConfig::default()).expect("valid");
    assert_eq!(config.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(config.admin_listen.to_string(), "127.0.0.1:9090");
    assert_eq!(config.consul.address, "http://127.0.0.1:8500");
    assert!(config.consul.token.is_none());
}

#[test]
fn flags_override_the_file() {
    let file = FileConfig::parse(
        r#"
        listen = "127.0.0.1:7000"
        [consul]
        address = "http://10.0.0.1:8500"
        wait = "30s"
        [[route]]
        prefix = "/a"
        service = "alpha"
        strip_prefix = true
        lb = "wrr"
        "#,
    )
    .expect("file parses");
    let config =
        Config::merge(cli(&["--listen", "127.0.0.1:7001", "--route", "/b=beta", "--consul", "127.0.0.1:18500"]), file)
            .expect("valid");
    assert_eq!(config.listen.to_string(), "127.0.0.1:7001");
    assert_eq!(config.consul.address, "http://127.0.0.1:18500");
    assert_eq!(config.consul.wait, Duration::from_secs(30));
    assert_eq!(config.routes.len(), 2);
    assert_eq!(config.routes[0].prefix, "/a");
    assert!(config.routes[0].options.strip_prefix);
    assert_eq!(config.routes[0].options.policy, Policy::WeightedRoundRobin);
    assert_eq!(config.routes[1].service, "beta");
}

#[test]
fn bad_values_are_named_in_the_error() {
    let err = Config::merge(cli(&["--route", "products"]), FileConfig::default()).unwrap_err();
    assert!(err.to_string().contains("PREFIX=SERVICE"), "{err}");
    let err = Config::merge(cli(&["--listen", "nowhere"]), FileConfig::default()).unwrap_err();
    assert!(err.to_string().contains("--listen"), "{err}");
    let err = Config::merge(cli(&["--route", "/a/../b=svc"]), FileConfig::default()).unwrap_err();
    assert!(err.to_string().contains("/a/../b"), "{err}");
}

#[test]
fn unknown_file_keys_are_refused() {
    let err = FileConfig::parse("lisen = \"x\"").unwrap_err();
    assert!(err.contains("lisen"), "{err}");
    let file = FileConfig::parse("[consul]\nwait = \"forever\"").expect("syntax ok");
    let err = Config::merge(cli(&[]), file).unwrap_err();
    assert!(err.to_string().contains("consul.wait"), "{err}");
}

#[test]
fn empty_token_means_no_token() {
    let config = Config::merge(cli(&["--consul-token", ""]), FileConfig::default()).expect("valid");
    assert!(config.consul.token.is_none());
}

#[test]
fn edge_sections_and_route_policies_are_read_from_the_file() {
    let file = FileConfig::parse(
        r#"
        [proxy]
        trusted_proxies = ["10.0.0.0/8"]
        [tls]
        listen = "127.0.0.1:8443"
        redirect_http = true
        [[tls.certificate]]
        cert = "site.crt"
        key = "site.key"
        [auth]
        api_key_header = "x-shop-key"
        [[auth.api_key]]
        identity = "ops"
        key = "ops-key-0123456789abcdef"
        [auth.jwt]
        issuer = "https://id.example"
        audience = "shop"
        leeway = "10s"
        public_key_files = ["jwt.pem"]
        [rate_limit]
        max_clients = 5000
        sweep_interval = "2s"
        [cache]
        max_bytes = 1048576
        [[route]]
        prefix = "/checkout"
        service = "checkout"
        auth = "any"
        rate_limit = "10/s"
        rate_burst = 20
        cache = "30s"
        "#,
    )
    .expect("file parses");
    let config = Config::merge(cli(&[]), file).expect("valid");
    let tls = config.edge.tls.as_ref().expect("tls");
    assert_eq!((tls.listen.port(), tls.redirect_http, tls.certificates.len()), (8443, true, 1));
    assert_eq!(config.edge.auth.api_key_header, "x-shop-key");
    assert_eq!(config.edge.auth.api_keys, vec![("ops".to_string(), "ops-key-0123456789abcdef".to_string())]);
    let jwt = config.edge.auth.jwt.as_ref().expect("jwt");
    assert_eq!((jwt.leeway, jwt.audience.as_deref()), (Duration::from_secs(10), Some("shop")));
    assert_eq!(config.edge.rate_limit.max_clients, 5000);
    assert_eq!(config.edge.cache.max_bytes, 1048576);
    assert!(config.edge.trusted_proxies.contains("10.1.2.3".parse().expect("ip")));
    let options = &config.routes[0].options;
    assert_eq!(options.auth, Some(crate::routing::options::AuthScheme::Any));
    assert_eq!(options.rate.map(|r| (r.count, r.burst)), Some((10, 20)));
    assert_eq!(options.cache.map(|c| c.default_ttl), Some(Duration::from_secs(30)));
}

#[test]
fn tls_flags_must_come_in_pairs_with_a_listener() {
    let err = Config::merge(cli(&["--tls-cert", "a.crt"]), FileConfig::default()).unwrap_err();
    assert!(err.to_string().contains("--tls-key"), "{err}");
    let err = Config::merge(cli(&["--tls-cert", "a.crt", "--tls-key", "a.key"]), FileConfig::default()).unwrap_err();
    assert!(err.to_string().contains("--tls-listen"), "{err}");
    let err = Config::merge(cli(&["--tls-listen", "127.0.0.1:8443"]), FileConfig::default()).unwrap_err();
    assert!(err.to_string().contains("--tls-cert"), "{err}");
    let err = Config::merge(cli(&["--https-redirect", "true"]), FileConfig::default()).unwrap_err();
    assert!(err.to_string().contains("--tls-listen"), "{err}");
}

#[test]
fn api_keys_from_the_environment_form_are_parsed_without_echoing_them() {
    let config =
        Config::merge(cli(&["--api-keys", "ops=k-0123456789abcdef, ci=k-fedcba9876543210"]), FileConfig::default())
            .expect("valid");
    assert_eq!(config.edge.auth.api_keys.len(), 2);
    let err = Config::merge(cli(&["--api-keys", "secret-without-identity"]), FileConfig::default()).unwrap_err();
    assert!(!err.to_string().contains("secret-without-identity"), "{err}");
    let err = FileConfig::parse("[[route]]\nprefix = \"/a\"\nservice = \"a\"\nrate_limit = \"fast\"")
        .map(|f| Config::merge(cli(&[]), f));
    let message = match err {
        Ok(Err(e)) => e.to_string(),
        other => format!("{other:?}"),
    };
    assert!(message.contains("rate_limit") && message.contains("fast"), "{message}");
}

#[test]
fn proxy_threads_default_to_the_cores_and_never_to_zero() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let default = Config::merge(Cli::default(), FileConfig::default()).expect("valid");
    assert_eq!(default.proxy.threads, cores);
    let file = FileConfig::parse("[proxy]\nthreads = 3\n").expect("file parses");
    assert_eq!(Config::merge(Cli::default(), file).expect("valid").proxy.threads, 3);
    let file = FileConfig::parse("[proxy]\nthreads = 3\n").expect("file parses");
    assert_eq!(Config::merge(cli(&["--threads", "5"]), file).expect("valid").proxy.threads, 5);
    assert_eq!(Config::merge(cli(&["--threads", "0"]), FileConfig::default()).expect("valid").proxy.threads, 1);
}

#[test]
fn a_route_allows_encoded_characters_by_name_and_body_and_drain_timings_are_read() {
    let file = FileConfig::parse(
        "[proxy]\nbody_idle_timeout = \"5s\"\ndrain_delay = \"3s\"\n\
         [[route]]\nprefix = \"/files\"\nservice = \"files\"\nallow_encoded = [\"slash\", \"semicolon\"]\n",
    )
    .expect("file parses");
    let config = Config::merge(cli(&["--drain-delay", "7s"]), file).expect("valid");
    let allowed = config.routes[0].options.allow_encoded;
    assert_eq!(allowed.names(), vec!["slash", "semicolon"]);
    assert_eq!(config.proxy.body_idle_timeout, std::time::Duration::from_secs(5));
    assert_eq!(config.proxy.drain_delay, std::time::Duration::from_secs(7), "the flag wins over the file");
    let bad = FileConfig::parse("[[route]]\nprefix = \"/a\"\nservice = \"a\"\nallow_encoded = [\"tilde\"]\n")
        .expect("file parses");
    let err = Config::merge(cli(&[]), bad).expect_err("unknown class");
    assert!(err.to_string().contains("allow_encoded") && err.to_string().contains("tilde"), "{err}");
}

#[test]
fn consul_tls_token_file_and_datacenter_follow_consul_s_conventions() {
    let dir = tempfile::tempdir().expect("dir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "  file-token\n").expect("write");
    let token_arg = token_file.to_str().expect("utf-8");
    let config = Config::merge(
        cli(&[
            "--consul",
            "http://agent:8501",
            "--consul-ssl",
            "1",
            "--consul-token",
            "flag-token",
            "--consul-token-file",
            token_arg,
            "--consul-datacenter",
            "dc2",
            "--consul-cacert",
            "/etc/ca.pem",
            "--consul-tls-server-name",
            "server.dc1.consul",
            "--consul-ssl-verify",
            "false",
        ]),
        FileConfig::default(),
    )
    .expect("valid");
    assert_eq!(config.consul.address, "https://agent:8501", "CONSUL_HTTP_SSL turns http:// into https://");
    assert_eq!(config.consul.token.as_deref(), Some("file-token"), "the token file wins when not empty");
    assert_eq!(config.consul.datacenter.as_deref(), Some("dc2"));
    assert_eq!(config.consul.tls.ca_file.as_deref(), Some(std::path::Path::new("/etc/ca.pem")));
    assert_eq!(config.consul.tls.server_name.as_deref(), Some("server.dc1.consul"));
    assert!(!config.consul.tls.verify);

    let file = FileConfig::parse("[consul]\naddress = \"127.0.0.1:8501\"\nssl = true\ndatacenter = \"dc3\"\n")
        .expect("file parses");
    let config = Config::merge(cli(&[]), file).expect("valid");
    assert_eq!(config.consul.address, "https://127.0.0.1:8501");
    assert_eq!(config.consul.datacenter.as_deref(), Some("dc3"));

    let err = Config::merge(cli(&["--consul-client-cert", "/etc/c.pem"]), FileConfig::default()).unwrap_err();
    assert!(err.to_string().contains("key go together"), "{err}");
    let err = Config::merge(cli(&["--consul-token-file", "/nonexistent/token"]), FileConfig::default()).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/token"), "{err}");
}

#[test]
fn the_consul_connection_budget_is_set_by_flag_or_file_and_checked() {
    let config = Config::merge(cli(&[]), FileConfig::default()).expect("valid");
    assert_eq!((config.consul.max_connections, config.consul.http2), (100, true), "defaults");
    let file = FileConfig::parse("[consul]\nmax_connections = 40\nhttp2 = false\nresync = \"10s\"").expect("syntax");
    let config = Config::merge(cli(&[]), file).expect("valid");
    assert_eq!(config.consul.max_connections, 40);
    assert!(!config.consul.http2);
    assert_eq!(config.consul.resync, Duration::from_secs(10));
    let file = FileConfig::parse("[consul]\nmax_connections = 40").expect("syntax");
    let config = Config::merge(cli(&["--consul-max-connections", "150"]), file).expect("valid");
    assert_eq!(config.consul.max_connections, 150, "the flag wins");
    let file = FileConfig::parse("[consul]\nmax_connections = 3").expect("syntax");
    let err = Config::merge(cli(&[]), file).unwrap_err();
    assert!(err.to_string().contains("consul.max_connections"), "{err}");
    assert!(Cli::try_parse_from(["portico", "--consul-max-connections", "2"]).is_err(), "too few to work with");
}

#[test]
fn routes_take_a_host_matchers_header_rules_hashing_and_a_canary_from_file_and_flag() {
    let file = FileConfig::parse(
        "[[route]]\nprefix = \"/api\"\nservice = \"api\"\nhost = \"*.Example.com\"\n\
         match = [\"method:GET\", \"header:X-Canary=1\"]\nrequest_headers = [\"set:X-Env=prod\"]\n\
         response_headers = [\"remove:Server\"]\nlb = \"hash:cookie=session\"\ncanary = \"5%\"\n\
         canary_tag = \"canary\"\ncanary_abort = \"off\"\ncanary_window = \"30s\"\n",
    )
    .expect("file parses");
    let config = Config::merge(cli(&["--route", "shop.example.com/cart=cart"]), file).expect("valid");
    let api = config.routes.iter().find(|r| r.service == "api").expect("api route");
    assert_eq!(api.host.to_string(), "*.example.com");
    assert_eq!(api.options.matchers.to_string(), "method:GET header:x-canary=1");
    assert_eq!(api.options.request_headers.describe(), ["set:x-env=prod"]);
    assert_eq!(api.options.policy, Policy::Hash);
    assert_eq!(api.options.hash_key.as_ref().map(ToString::to_string).as_deref(), Some("cookie=session"));
    assert_eq!(api.options.canary().share.map(|s| s.basis_points()), Some(500));
    assert_eq!((api.options.canary().tag.as_deref(), api.options.canary().abort_margin), (Some("canary"), None));
    assert_eq!(api.options.canary().window, std::time::Duration::from_secs(30));
    let cart = config.routes.iter().find(|r| r.service == "cart").expect("flag route");
    assert_eq!((cart.host.to_string(), cart.prefix.as_str()), ("shop.example.com".to_string(), "/cart"));
    for (key, value) in [("host", "\"a b\""), ("match", "[\"cookie:x\"]"), ("canary", "\"120%\""), ("lb", "\"hash\"")] {
        let text = format!("[[route]]\nprefix = \"/a\"\nservice = \"a\"\n{key} = {value}\n");
        let err = Config::merge(cli(&[]), FileConfig::parse(&text).expect("syntax")).expect_err(key);
        assert!(err.to_string().contains(key), "{err}");
    }
}

#[test]
fn upstream_tls_and_the_route_protocol_are_read_and_checked() {
    let file = FileConfig::parse(
        "[upstream_tls]\nca_file = \"/etc/portico/instances-ca.pem\"\nserver_name = \"api.internal\"\n\
         [[route]]\nprefix = \"/secure\"\nservice = \"secure\"\nproto = \"https\"\n",
    )
    .expect("file parses");
    let config = Config::merge(cli(&[]), file).expect("valid");
    assert_eq!(config.upstream_tls.ca_file.as_deref(), Some(std::path::Path::new("/etc/portico/instances-ca.pem")));
    assert_eq!(config.upstream_tls.server_name.as_deref(), Some("api.internal"));
    assert!(config.upstream_tls.verify);
    assert_eq!(config.routes[0].options.proto, crate::routing::options::Proto::Https);
    let half = FileConfig::parse("[upstream_tls]\nclient_cert = \"/c.pem\"\n").expect("syntax");
    assert!(Config::merge(cli(&[]), half).expect_err("key missing").to_string().contains("client_key"));
    let grpc = FileConfig::parse("[[route]]\nprefix = \"/a\"\nservice = \"a\"\nproto = \"grpcs\"\n").expect("syntax");
    assert_eq!(Config::merge(cli(&[]), grpc).expect("valid").routes[0].options.proto.as_str(), "grpcs");
    let profiled = FileConfig::parse(
        "[upstream_tls.profiles.billing]\nca_file = \"/etc/billing-ca.pem\"\n\
         [[route]]\nprefix = \"/b\"\nservice = \"b\"\nproto = \"h2\"\nupstream_tls = \"billing\"\n",
    )
    .expect("syntax");
    let config = Config::merge(cli(&[]), profiled).expect("valid");
    assert_eq!(
        config.upstream_tls_profiles["billing"].ca_file.as_deref(),
        Some(std::path::Path::new("/etc/billing-ca.pem"))
    );
    assert_eq!(config.routes[0].options.upstream_tls.as_deref(), Some("billing"));
    let unknown =
        FileConfig::parse("[[route]]\nprefix = \"/b\"\nservice = \"b\"\nupstream_tls = \"billing\"\n").expect("syntax");
    let err = Config::merge(cli(&[]), unknown).expect_err("no such profile").to_string();
    assert!(err.contains("billing") && err.contains("profiles"), "{err}");
    let h3 = FileConfig::parse("[[route]]\nprefix = \"/a\"\nservice = \"a\"\nproto = \"h3\"\n").expect("syntax");
    let err = Config::merge(cli(&[]), h3).expect_err("unknown").to_string();
    assert!(err.contains("h2c") && err.contains("\"h3\""), "{err}");
}
