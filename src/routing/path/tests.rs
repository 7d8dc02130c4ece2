use super::*;
use proptest::prelude::*;

fn n(path: &str) -> String {
    normalize(path).expect("valid path").into_owned()
}

#[test]
fn normal_paths_are_borrowed() {
    for p in ["/", "/products", "/products/42", "/a/b/", "/a.b/c..d/.e"] {
        assert!(matches!(normalize(p), Ok(Cow::Borrowed(_))), "{p}");
    }
}

#[test]
fn dot_segments_and_slashes_are_resolved() {
    assert_eq!(n("/products/../admin"), "/admin");
    assert_eq!(n("/products/./42"), "/products/42");
    assert_eq!(n("//products///42"), "/products/42");
    assert_eq!(n("/../../etc/passwd"), "/etc/passwd");
    assert_eq!(n("/a/b/.."), "/a/");
    assert_eq!(n("/a/."), "/a/");
    assert_eq!(n(""), "/");
}

#[test]
fn encoded_dots_cannot_hide_a_dot_segment() {
    assert_eq!(n("/products/%2e%2e/admin"), "/admin");
    assert_eq!(n("/products/%2E./admin"), "/admin");
    assert_eq!(n("/%70roducts"), "/products");
}

#[test]
fn encoded_slashes_stay_data() {
    assert_eq!(n("/products%2fadmin"), "/products%2Fadmin");
    assert_eq!(n("/a%2F..%2Fb"), "/a%2F..%2Fb");
}

#[test]
fn bad_escapes_are_refused() {
    for p in ["/a%", "/a%2", "/a%zz", "/a%2g/b"] {
        assert_eq!(normalize(p), Err(PathError::BadEscape), "{p}");
    }
    assert_eq!(normalize("products"), Err(PathError::NotAbsolute));
    assert_eq!(normalize("*"), Err(PathError::NotAbsolute));
}

proptest! {
    #[test]
    fn normalizing_is_idempotent(path in "/[a-z./%0-9A-F]{0,40}") {
        if let Ok(once) = normalize(&path) {
            let twice = normalize(&once).expect("normal output stays valid");
            prop_assert_eq!(once.as_ref(), twice.as_ref());
        }
    }

    #[test]
    fn output_has_no_dot_segments_or_empty_segments(path in "/[a-z./%0-9A-F]{0,40}") {
        if let Ok(out) = normalize(&path) {
            prop_assert!(out.starts_with('/'));
            prop_assert!(!out.contains("//"));
            let inner = out.trim_end_matches('/');
            for seg in inner.split('/').skip(1) {
                prop_assert!(seg != "." && seg != "..", "{} -> {}", path, out);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5000))]

    /// Stands in for a cargo-fuzz target: any string is normalized or refused, never a panic.
    #[test]
    fn arbitrary_input_never_panics(path in "\\PC{0,64}") {
        if let Ok(out) = normalize(&path) {
            prop_assert!(out.starts_with('/'));
        }
    }
}
