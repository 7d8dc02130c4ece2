use super::*;

#[test]
fn each_class_is_found_in_either_case() {
    for (path, escape) in [
        ("/a/..%2fb", "%2F"),
        ("/a%5Cb", "%5C"),
        ("/a%00", "%00"),
        ("/a%3bjsessionid=1", "%3B"),
        ("/a%252F", "%25"),
        ("/a%3F", "%3F"),
        ("/a%23frag", "%23"),
    ] {
        let found = EncodedChars::found_in(path);
        assert_eq!(found.first_escape(), Some(escape), "{path}");
        assert!(!found.outside(EncodedChars::NONE).is_empty(), "{path}");
    }
}

#[test]
fn harmless_escapes_and_plain_paths_find_nothing() {
    for path in ["/", "/products/42", "/a%20b", "/caf%C3%A9", "/100%", "/a%2"] {
        assert!(EncodedChars::found_in(path).is_empty(), "{path}");
    }
}

#[test]
fn an_allowed_class_passes_and_the_others_still_count() {
    let allowed = EncodedChars::parse("slash, semicolon").expect("valid");
    assert_eq!(allowed.names(), vec!["slash", "semicolon"]);
    assert!(EncodedChars::found_in("/a%2Fb%3B").outside(allowed).is_empty());
    let left = EncodedChars::found_in("/a%2Fb%00").outside(allowed);
    assert_eq!(left.first_escape(), Some("%00"));
}

#[test]
fn unknown_names_are_refused_with_the_list() {
    let error = EncodedChars::parse("slash,tilde").expect_err("tilde is not a class");
    assert!(error.contains("tilde") && error.contains("backslash"), "{error}");
    assert_eq!(EncodedChars::parse("").expect("empty list"), EncodedChars::NONE);
}
