//! The web console's files (`GET /`, `GET /console/{asset}`), served
//! without a token, and `GET /v1/whoami`. The pages themselves are tested
//! in a browser (server/tests/console).

use super::*;

/// A header's value in a raw HTTP answer.
fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    let head = answer.split("\r\n\r\n").next().unwrap();
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn console_files_need_no_token_and_the_api_still_does() {
    let (_dir, store, _data) = generated(200);
    let tokens = ["ana:read:r-secret", "ops:admin:a-secret"]
        .iter()
        .map(|t| parse_token(t).unwrap())
        .collect();
    let server = Server::start(
        &store,
        Settings {
            tokens,
            ..Settings::default()
        },
    );
    let anon = server.client(None);
    let page = get(&anon, "/");
    assert_eq!(page.status, 200, "{}", page.text());
    assert_eq!(
        page.content_type.as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert!(page.text().contains("/console/app.js"), "{}", page.text());
    for (asset, ty) in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("query.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
    ] {
        let r = get(&anon, &format!("/console/{asset}"));
        assert_eq!(r.status, 200, "{asset}");
        assert_eq!(r.content_type.as_deref(), Some(ty), "{asset}");
    }
    // Unknown files: 404 in the API's error shape.
    for path in ["/console/nope.js", "/console/", "/console/../Cargo.toml"] {
        let r = get(&anon, path);
        assert_eq!(r.status, 404, "{path}: {}", r.text());
        assert!(
            r.json()["error"]["code"].is_string(),
            "{path}: {}",
            r.text()
        );
    }
    assert_eq!(
        get(&anon, "/console/nope.js").json()["error"]["code"],
        "unknown_asset"
    );
    // The data still needs a token.
    assert_eq!(get(&anon, "/v1/whoami").status, 401);
    assert_eq!(get(&anon, "/v1/tables").status, 401);
    // ETag and revalidation.
    let (code, answer) = exchange(
        server.addr,
        b"GET /console/app.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(code, 200);
    let etag = header(&answer, "etag").expect("an ETag").to_owned();
    assert_eq!(header(&answer, "cache-control"), Some("no-cache"));
    let (code, answer) = exchange(
        server.addr,
        format!(
            "GET /console/app.js HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(code, 304, "{answer}");
    assert_eq!(header(&answer, "etag"), Some(etag.as_str()));
    let (code, _) = exchange(
        server.addr,
        b"GET /console/app.js HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"other\"\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(code, 200);
    // The page's policy: scripts from this server only (no inline
    // script, none from elsewhere), no framing; and the page has no
    // inline script for it to block.
    let (code, answer) = exchange(
        server.addr,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(code, 200);
    let policy = header(&answer, "content-security-policy").expect("a policy");
    let directive = |name: &str| {
        policy
            .split(';')
            .map(str::trim)
            .find(|d| d.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} in {policy}"))
            .to_owned()
    };
    assert_eq!(directive("script-src"), "script-src 'self'");
    assert_eq!(directive("frame-ancestors"), "frame-ancestors 'none'");
    assert_eq!(directive("object-src"), "object-src 'none'");
    assert!(
        !answer.contains("<script>"),
        "an inline script in the page: {answer}"
    );
    assert_eq!(header(&answer, "x-content-type-options"), Some("nosniff"));
    // Another method on a console file: 405 as on any route.
    let r = post(&anon, "/console/app.js", "text/plain", "x");
    assert_eq!(r.status, 405, "{}", r.text());
}

#[test]
fn whoami_names_the_principal_and_its_limits() {
    let (_dir, store, _data) = generated(200);
    let server = Server::start(&store, Settings::default());
    // No tokens: a loopback client is the admin `local`.
    let me = get(&server.client(None), "/v1/whoami").json();
    assert_eq!(
        me,
        json!({"name": "local", "role": "admin", "allowed_fields": null, "allowed_categories": null})
    );
    // An API key limited to some fields.
    let r = post(
        &server.client(None),
        "/v1/keys",
        "application/json",
        r#"{"name": "geo-reader", "role": "read", "allowed_fields": ["city"], "allowed_categories": ["geo"]}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let secret = r.json()["secret"].as_str().unwrap().to_owned();
    let me = get(&server.client(Some(&secret)), "/v1/whoami").json();
    assert_eq!(
        me,
        json!({"name": "geo-reader", "role": "read", "allowed_fields": ["city"], "allowed_categories": ["geo"]})
    );
    assert_eq!(get(&server.client(Some("wrong")), "/v1/whoami").status, 401);
}
