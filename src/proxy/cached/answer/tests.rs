use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::*;
use crate::cache::control::StaleRules;
use crate::cache::Freshness;

fn stored(pairs: &[(HeaderName, &'static str)]) -> Arc<Stored> {
    let headers: HeaderMap = pairs.iter().map(|(n, v)| (n.clone(), HeaderValue::from_static(v))).collect();
    Arc::new(Stored {
        targeted: crate::cache::control::has_targeted(&headers),
        status: StatusCode::OK,
        headers,
        body: Bytes::from_static(b"list"),
        stored_at: Instant::now(),
        freshness: Freshness {
            lifetime: Duration::from_secs(60),
            initial_age: Duration::ZERO,
            public: false,
            stale: StaleRules::default(),
        },
        vary: Box::new([]),
    })
}

fn request(pairs: &[(HeaderName, &'static str)]) -> HeaderMap {
    pairs.iter().map(|(n, v)| (n.clone(), HeaderValue::from_static(v))).collect()
}

#[test]
fn a_matching_if_none_match_gets_304_from_the_cache() {
    let entry = stored(&[(header::ETAG, "W/\"v1\""), (header::CACHE_CONTROL, "max-age=60")]);
    let hit = answer(&entry, &request(&[(header::IF_NONE_MATCH, "\"v0\", \"v1\"")]), false, "HIT");
    assert_eq!(hit.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(hit.headers()[header::ETAG], "W/\"v1\"");
    assert_eq!(hit.headers()["x-cache"], "HIT");
    let other = answer(&entry, &request(&[(header::IF_NONE_MATCH, "\"v2\"")]), false, "HIT");
    assert_eq!(other.status(), StatusCode::OK);
    let any = answer(&entry, &request(&[(header::IF_NONE_MATCH, "*")]), false, "HIT");
    assert_eq!(any.status(), StatusCode::NOT_MODIFIED);
}

#[test]
fn if_modified_since_is_read_against_last_modified() {
    let entry = stored(&[(header::LAST_MODIFIED, "Thu, 26 Nov 2026 10:00:00 GMT")]);
    let same = request(&[(header::IF_MODIFIED_SINCE, "Thu, 26 Nov 2026 10:00:00 GMT")]);
    assert_eq!(answer(&entry, &same, false, "HIT").status(), StatusCode::NOT_MODIFIED);
    let older = request(&[(header::IF_MODIFIED_SINCE, "Thu, 26 Nov 2026 09:00:00 GMT")]);
    assert_eq!(answer(&entry, &older, false, "HIT").status(), StatusCode::OK);
}

#[test]
fn revalidation_sends_the_validators_and_a_304_refreshes_the_headers() {
    let entry = stored(&[
        (header::ETAG, "\"v1\""),
        (header::LAST_MODIFIED, "Thu, 26 Nov 2026 10:00:00 GMT"),
        (header::CACHE_CONTROL, "max-age=1"),
        (header::CONTENT_LENGTH, "4"),
    ]);
    let mut conditional = HeaderMap::new();
    add_preconditions(&entry, &mut conditional);
    assert_eq!(conditional[header::IF_NONE_MATCH], "\"v1\"");
    assert_eq!(conditional[header::IF_MODIFIED_SINCE], "Thu, 26 Nov 2026 10:00:00 GMT");
    let not_modified = request(&[(header::CACHE_CONTROL, "max-age=300"), (header::CONTENT_LENGTH, "0")]);
    let merged = refreshed_headers(&entry.headers, &not_modified);
    assert_eq!(merged[header::CACHE_CONTROL], "max-age=300", "the 304's fields replace the stored ones");
    assert_eq!(merged[header::CONTENT_LENGTH], "4", "framing stays with the stored body");
    assert_eq!(merged[header::ETAG], "\"v1\"");
}

#[test]
fn targeted_fields_are_not_sent_to_the_client() {
    let entry = stored(&[
        (header::CACHE_CONTROL, "max-age=5"),
        (crate::cache::control::PORTICO_CACHE_CONTROL.clone(), "max-age=600"),
    ]);
    let hit = answer(&entry, &HeaderMap::new(), false, "HIT");
    assert!(!hit.headers().contains_key("portico-cache-control"));
    assert_eq!(hit.headers()[header::CACHE_CONTROL], "max-age=5");
}
