use super::*;

#[test]
fn shares_parse_in_basis_points() {
    assert_eq!(Share::parse("5%").map(Share::basis_points), Ok(500));
    assert_eq!(Share::parse("0.5%").map(Share::basis_points), Ok(50));
    assert_eq!(Share::parse("12.25%").map(Share::basis_points), Ok(1225));
    assert_eq!(Share::parse("100%").map(Share::basis_points), Ok(10_000));
    for bad in ["5", "101%", "-1%", "1.234%", "%", "x%", ".5%", "99999999999%"] {
        assert!(Share::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(Share::from_basis_points(50).to_string(), "0.50%");
    assert_eq!(Share::from_basis_points(500).to_string(), "5%");
}

#[test]
fn a_share_is_a_share_of_clients_not_of_instances() {
    let share = Share::parse("5%").unwrap();
    let canary = (0..100_000u32)
        .filter(|k| Side::of(bucket_of(format!("client-{k}").as_bytes()), share) == Side::Canary)
        .count();
    assert!((4_500..5_500).contains(&canary), "{canary} of 100000 clients on the canary");
}

#[test]
fn raising_the_share_never_moves_a_canary_client_back() {
    let (low, high) = (Share::parse("5%").unwrap(), Share::parse("20%").unwrap());
    for k in 0..10_000u32 {
        let bucket = bucket_of(&k.to_be_bytes());
        if Side::of(bucket, low) == Side::Canary {
            assert_eq!(Side::of(bucket, high), Side::Canary);
        }
    }
}

#[test]
fn canary_instances_are_known_by_their_own_tags() {
    let spec = CanarySpec { tag: Some("canary".into()), ..CanarySpec::default() };
    assert!(spec.is_canary(&["portico.canary=5%".to_string()]));
    assert!(spec.is_canary(&["canary".to_string()]));
    assert!(!spec.is_canary(&["portico.route=/x".to_string(), "canaryish".to_string()]));
    assert_eq!(parse_bucket("42"), Some(42));
    assert_eq!(parse_bucket("10000"), None);
    assert_eq!(parse_bucket("x"), None);
}
