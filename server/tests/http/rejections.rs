//! Every error answer has the API's JSON shape, `{"error": {"code",
//! "message", …}}`, including the ones axum makes itself: a method a route
//! does not take, a path that is not UTF-8, a bad query string.

use super::*;

/// The status and the parsed body of a raw request; panics unless the
/// body is the JSON error shape.
fn json_error(addr: SocketAddr, request: &str) -> (u16, Value, String) {
    let (status, answer) = exchange(addr, request.as_bytes());
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{request:?} answered without JSON:\n{answer}"
    );
    let v: Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("{request:?}: the body is not JSON ({e}):\n{answer}"));
    assert!(
        v["error"]["code"].is_string() && v["error"]["message"].is_string(),
        "{request:?}: not the error shape: {v}"
    );
    (status, v, head.to_owned())
}

#[test]
fn axum_rejections_come_out_in_the_json_error_shape() {
    let (_dir, store, _data) = generated(300);
    let server = Server::start(&store, Settings::default());
    let a = server.addr;
    let req = |line: &str| format!("{line} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

    // A method the route does not take: 405, which methods it takes.
    let (status, v, head) = json_error(a, &req("DELETE /v1/tables"));
    assert_eq!(status, 405);
    assert_eq!(v["error"]["code"], json!("method_not_allowed"));
    assert!(
        v["error"]["message"].as_str().unwrap().contains("DELETE"),
        "{v}"
    );
    assert!(head.to_ascii_lowercase().contains("allow: get"), "{head}");
    let (status, v, _) = json_error(a, &req("PATCH /v1/query"));
    assert_eq!(status, 405);
    assert_eq!(v["error"]["code"], json!("method_not_allowed"));
    assert!(
        v["error"]["message"].as_str().unwrap().contains("PATCH"),
        "{v}"
    );

    // Path parameters that are not UTF-8.
    for path in [
        "/v1/tables/%FF",
        "/v1/tables/users/profiles/%C3%28",
        "/v1/segments/%FF/ids",
        "/v1/tables/%FF/ingest",
    ] {
        let method = if path.ends_with("ingest") {
            "POST"
        } else {
            "GET"
        };
        let (status, v, _) = json_error(a, &req(&format!("{method} {path}")));
        assert_eq!(status, 400, "{path}: {v}");
        assert_eq!(v["error"]["code"], json!("bad_request"), "{path}");
    }

    // Query strings that are not numbers or not UTF-8.
    for q in ["limit=abc", "limit=%FF", "offset=-1&limit=%"] {
        let (status, v, _) = json_error(a, &req(&format!("GET /v1/segments/none/ids?{q}")));
        assert!(status == 400 || status == 404, "{q}: {status} {v}");
    }

    // Bodies: bad JSON, no content type, an unknown route.
    let body = "{not json";
    let (status, _, _) = json_error(
        a,
        &format!(
            "POST /v1/insight HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert_eq!(status, 400);
    let (status, _, _) = json_error(
        a,
        &format!(
            "POST /v1/insight HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert_eq!(status, 400);
    let (status, v, _) = json_error(a, &req("GET /v2/nothing"));
    assert_eq!(status, 404);
    assert_eq!(v["error"]["code"], json!("no_route"));
}
