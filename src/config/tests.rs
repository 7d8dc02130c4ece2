use super::*;

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
