use http_body_util::BodyExt;

use super::*;

async fn body_json(response: Response<ProxyBody>) -> serde_json::Value {
    let bytes = response.into_body().collect().await.expect("full body").to_bytes();
    serde_json::from_slice(&bytes).expect("json")
}

#[tokio::test]
async fn no_instance_is_503_with_retry_after() {
    let id = HeaderValue::from_static("req-1");
    let response = ProxyError::NoInstance { service: "cart".into() }.into_response(Some(&id), 2);
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    assert_eq!(response.headers()["x-request-id"], "req-1");
    let json = body_json(response).await;
    assert_eq!(json["error"], "no live instance");
    assert_eq!(json["service"], "cart");
    assert_eq!(json["request_id"], "req-1");
}

#[tokio::test]
async fn each_error_has_its_status() {
    let cases = [
        (ProxyError::NoRoute, 404),
        (ProxyError::BadPath(PathError::BadEscape), 400),
        (ProxyError::MethodNotAllowed, 405),
        (ProxyError::Upstream { instance: "a".into(), detail: "reset".into() }, 502),
        (ProxyError::Timeout { instance: "a".into() }, 504),
    ];
    for (error, status) in cases {
        let response = error.into_response(None, 1);
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let json = body_json(response).await;
        assert_eq!(json["status"], status);
        assert!(json["error"].is_string());
    }
}
