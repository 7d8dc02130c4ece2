use super::*;

#[test]
fn one_key_spelling_per_option_whichever_the_source() {
    let mut from_tags = OptionsBuilder::default();
    let mut from_toml = OptionsBuilder::default();
    for (tag_key, toml_key, value) in [
        ("strip-prefix", "strip_prefix", "true"),
        ("lb", "lb", "p2c"),
        ("max-body", "max_body", "1024"),
        ("auth", "auth", "jwt"),
        ("rate-burst", "rate_burst", "7"),
        ("rate-limit", "rate_limit", "10/s"),
        ("cache", "cache", "30s"),
        ("allow-encoded", "allow_encoded", "slash"),
    ] {
        from_tags.set(tag_key, value).expect("valid tag option");
        from_toml.set(toml_key, value).expect("valid file option");
    }
    let (a, b) = (from_tags.finish(), from_toml.finish());
    assert_eq!(a, b);
    assert_eq!(a.rate.map(|r| (r.count, r.burst)), Some((10, 7)), "the burst applies whichever comes first");
    assert_eq!(a.policy, Policy::PowerOfTwo);
    assert_eq!(a.cache, Some(CacheSpec { default_ttl: Duration::from_secs(30), ..CacheSpec::default() }));
}

#[test]
fn bad_values_and_unknown_keys_are_named() {
    let mut options = OptionsBuilder::default();
    assert!(options.set("rate-limit", "0/s").expect_err("zero").contains("0/s"));
    assert!(options.set("rate-burst", "0").expect_err("zero").contains("N > 0"));
    assert!(options.set("colour", "blue").expect_err("unknown").contains("colour"));
    assert!(options.set("max_body", "lots").expect_err("not a number").contains("lots"));
}
