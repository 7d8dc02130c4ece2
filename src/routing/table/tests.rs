use super::*;
use proptest::prelude::*;

fn table(prefixes: &[&str]) -> PrefixTable<String> {
    prefixes.iter().map(|p| (p.to_string(), p.to_string())).collect()
}

fn hit(t: &PrefixTable<String>, path: &str) -> Option<String> {
    t.lookup(path).map(|(_, v)| v.clone())
}

#[test]
fn matches_whole_segments_only() {
    let t = table(&["/products", "/products/special", "/cart"]);
    assert_eq!(hit(&t, "/products").as_deref(), Some("/products"));
    assert_eq!(hit(&t, "/products/").as_deref(), Some("/products"));
    assert_eq!(hit(&t, "/products/42").as_deref(), Some("/products"));
    assert_eq!(hit(&t, "/products/special/1").as_deref(), Some("/products/special"));
    assert_eq!(hit(&t, "/productsx"), None);
    assert_eq!(hit(&t, "/"), None);
    assert_eq!(hit(&t, "/other/products"), None);
}

#[test]
fn root_route_catches_the_rest() {
    let t = table(&["/", "/api"]);
    assert_eq!(hit(&t, "/anything/deep").as_deref(), Some("/"));
    assert_eq!(hit(&t, "/api/v1").as_deref(), Some("/api"));
    assert_eq!(hit(&t, "/").as_deref(), Some("/"));
}

#[test]
fn long_paths_are_cut_to_the_longest_prefix_first() {
    let t = table(&["/a", "/abc/def"]);
    let long = format!("/abc/def/{}", "x/".repeat(1000));
    assert_eq!(hit(&t, &long).as_deref(), Some("/abc/def"));
    assert_eq!(hit(&t, "/abcdefgh/ij").as_deref(), None);
    assert_eq!(hit(&t, "/a/bcdefgh/ij").as_deref(), Some("/a"));
}

#[test]
fn empty_table_matches_nothing() {
    let t = table(&[]);
    assert_eq!(hit(&t, "/x"), None);
    assert!(t.is_empty());
}

/// Reference: the longest prefix p with path == p or path starts with p + "/".
fn naive(prefixes: &[String], path: &str) -> Option<String> {
    prefixes
        .iter()
        .filter(|p| p.as_str() == "/" || path == p.as_str() || path.starts_with(&format!("{p}/")))
        .max_by_key(|p| p.len())
        .cloned()
}

proptest! {
    #[test]
    fn agrees_with_a_naive_scan(
        prefixes in proptest::collection::vec("(/[ab]{1,2}){1,3}|/", 0..8),
        path in "(/[ab]{0,2}){1,5}",
    ) {
        let t: PrefixTable<String> = prefixes.iter().map(|p| (p.clone(), p.clone())).collect();
        let path = crate::routing::path::normalize(&path).expect("valid").into_owned();
        prop_assert_eq!(hit(&t, &path), naive(&prefixes, &path));
    }
}

#[test]
fn get_finds_only_an_exact_prefix() {
    let t = table(&["/products", "/"]);
    assert!(t.get("/products").is_some());
    assert!(t.get("/products/42").is_none(), "no longest-prefix match here");
    assert!(t.get("/cart").is_none());
}
