//! API keys over HTTP: made, used, listed without their secret, revoked,
//! expired, refused to non-admins, kept across a restart.

use serde_json::{json, Value};

use super::*;

const ROOT: &str = "root-s3cret";
const ANA: &str = "ana-s3cret";

fn settings() -> Settings {
    Settings {
        tokens: [format!("root:admin:{ROOT}"), format!("ana:read:{ANA}")]
            .iter()
            .map(|t| parse_token(t).unwrap())
            .collect(),
        ..Settings::default()
    }
}

fn create(server: &Server, token: Option<&str>, body: &str) -> RawResponse {
    post(&server.client(token), "/v1/keys", "application/json", body)
}

fn metric(server: &Server, line_start: &str) -> u64 {
    let m = get(&server.client(Some(ROOT)), "/metrics").text();
    m.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .unwrap_or_else(|| panic!("no `{line_start}` in\n{m}"))
        .trim()
        .parse()
        .unwrap()
}

fn error_code(r: &RawResponse) -> String {
    r.json()["error"]["code"].as_str().unwrap_or("").to_owned()
}

#[test]
fn keys_are_made_used_listed_without_secret_and_revoked() {
    let (_dir, store, _data) = generated(300);
    let server = Server::start(&store, settings());
    assert_eq!(metric(&server, "segdb_keys "), 0);

    let r = create(
        &server,
        Some(ROOT),
        r#"{"name": "exporter", "role": "read"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let made = r.json();
    let secret = made["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("segdb_") && secret.len() == 70, "{made}");
    assert_eq!(made["name"], "exporter");
    assert_eq!(made["role"], "read");
    assert_eq!(made["created_by"], "root");
    assert_eq!(made["expires_at"], Value::Null);
    assert_eq!(made["secret_hint"], json!(format!("…{}", &secret[66..])));
    assert_eq!(metric(&server, "segdb_keys "), 1);

    // The key works, with its role.
    let key = server.client(Some(&secret));
    assert_eq!(count(&key, "SELECT COUNT(*) FROM users"), 300);
    let r = post(&key, "/v1/tables/users/import", "text/csv", "user_id\nx1\n");
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(get(&key, "/v1/keys").status, 403);

    // Listed and shown, never with the secret or its hash.
    let list = get(&server.client(Some(ROOT)), "/v1/keys");
    assert_eq!(list.status, 200);
    let text = list.text();
    assert!(
        !text.contains(&secret[6..]) && !text.contains("sha256"),
        "{text}"
    );
    let keys = &list.json()["keys"];
    assert_eq!(keys.as_array().unwrap().len(), 1, "{text}");
    assert_eq!(keys[0]["name"], "exporter");
    assert_eq!(keys[0]["created_by"], "root");
    assert_eq!(keys[0]["expired"], false);
    assert!(keys[0].get("secret").is_none(), "{text}");
    let one = get(&server.client(Some(ROOT)), "/v1/keys/exporter");
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["name"], "exporter");
    assert!(!one.text().contains(&secret[6..]));
    let r = get(&server.client(Some(ROOT)), "/v1/keys/ana");
    assert_eq!((r.status, error_code(&r).as_str()), (404, "unknown_key"));
    assert!(r.text().contains("settings"), "{}", r.text());

    // An admin key may make keys; it is their creator.
    let r = create(&server, Some(ROOT), r#"{"name": "ops", "role": "admin"}"#);
    let ops = r.json()["secret"].as_str().unwrap().to_owned();
    let r = create(&server, Some(&ops), r#"{"name": "w1", "role": "write"}"#);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["created_by"], "ops");
    assert_ne!(r.json()["secret"], json!(secret));

    // Names are unique: keys, configured tokens, and `local`.
    for (name, what) in [
        ("exporter", "exists"),
        ("ana", "settings"),
        ("local", "loopback"),
    ] {
        let r = create(
            &server,
            Some(ROOT),
            &format!(r#"{{"name": "{name}", "role": "read"}}"#),
        );
        assert_eq!(
            (r.status, error_code(&r).as_str()),
            (409, "key_exists"),
            "{name}"
        );
        assert!(r.text().contains(what), "{name}: {}", r.text());
    }

    // Only admins manage keys; no token is 401.
    for (token, status) in [(Some(ANA), 403), (Some(&secret[..]), 403), (None, 401)] {
        let body = r#"{"name": "x", "role": "read"}"#;
        assert_eq!(create(&server, token, body).status, status);
        let c = server.client(token);
        assert_eq!(get(&c, "/v1/keys").status, status);
        assert_eq!(get(&c, "/v1/keys/exporter").status, status);
        let r = c.request("DELETE", "/v1/keys/exporter", &[], None).unwrap();
        assert_eq!(r.status, status);
    }

    // Revoked at once: the next request with its secret is 401.
    let failures = metric(&server, "segdb_auth_failures_total{reason=\"unknown\"}");
    let root = server.client(Some(ROOT));
    let r = root
        .request("DELETE", "/v1/keys/exporter", &[], None)
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["revoked"]["name"], "exporter");
    let r = get(&key, "/v1/tables");
    assert_eq!((r.status, error_code(&r).as_str()), (401, "unauthorized"));
    assert!(!r.text().contains(&secret[6..]));
    assert_eq!(
        metric(&server, "segdb_auth_failures_total{reason=\"unknown\"}"),
        failures + 1
    );
    let r = root
        .request("DELETE", "/v1/keys/exporter", &[], None)
        .unwrap();
    assert_eq!((r.status, error_code(&r).as_str()), (404, "unknown_key"));
    assert_eq!(metric(&server, "segdb_keys "), 2);
    // Its name is free again.
    let r = create(
        &server,
        Some(ROOT),
        r#"{"name": "exporter", "role": "read"}"#,
    );
    assert_eq!(r.status, 201);
}

#[test]
fn bad_key_requests_name_the_field() {
    let (_dir, store, _data) = generated(100);
    let server = Server::start(&store, settings());
    for (body, code, words) in [
        ("not json", "bad_json", "JSON"),
        ("[1]", "bad_parameter", "object"),
        (r#"{"role": "read"}"#, "bad_parameter", "`name` is missing"),
        (
            r#"{"name": 7, "role": "read"}"#,
            "bad_parameter",
            "`name` must be a string",
        ),
        (
            r#"{"name": "a b", "role": "read"}"#,
            "bad_parameter",
            "`name`",
        ),
        (r#"{"name": "", "role": "read"}"#, "bad_parameter", "`name`"),
        (r#"{"name": "x"}"#, "bad_parameter", "`role` is missing"),
        (
            r#"{"name": "x", "role": "root"}"#,
            "bad_parameter",
            "`role`: unknown role `root`",
        ),
        (
            r#"{"name": "x", "role": "read", "expires_at": "tomorrow"}"#,
            "bad_parameter",
            "`expires_at`",
        ),
        (
            r#"{"name": "x", "role": "read", "expires_at": "2026-12-31T00:00:00+02:00"}"#,
            "bad_parameter",
            "UTC",
        ),
        (
            r#"{"name": "x", "role": "read", "expires_at": "2001-01-01T00:00:00Z"}"#,
            "bad_parameter",
            "not in the future",
        ),
        (
            r#"{"name": "x", "role": "read", "allowed_fields": "age"}"#,
            "bad_parameter",
            "`allowed_fields` must be a list of strings",
        ),
        (
            r#"{"name": "x", "role": "read", "allowed_fields": ["age", 7]}"#,
            "bad_parameter",
            "`allowed_fields` must be a list of strings; it holds 7",
        ),
        (
            r#"{"name": "x", "role": "read", "allowed_fields": ["age", "two words"]}"#,
            "bad_parameter",
            "`allowed_fields`: `two words` is not a field name or `table.field`",
        ),
        (
            r#"{"name": "x", "role": "read", "allowed_categories": ["geo.city"]}"#,
            "bad_parameter",
            "`allowed_categories`: `geo.city` is not a category name",
        ),
        (
            r#"{"name": "x", "role": "admin", "allowed_categories": ["geo"]}"#,
            "bad_parameter",
            "an admin key is never limited",
        ),
        (
            r#"{"name": "x", "role": "read", "allowed": ["age"]}"#,
            "bad_parameter",
            "unknown field `allowed`",
        ),
    ] {
        let r = create(&server, Some(ROOT), body);
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert_eq!(error_code(&r), code, "{body}: {}", r.text());
        let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.contains(words), "{body}: {message}");
    }
    // Nothing was made.
    assert_eq!(
        get(&server.client(Some(ROOT)), "/v1/keys").json()["keys"],
        json!([])
    );
}

#[test]
fn an_expired_key_is_refused_as_expired() {
    let (_dir, store, _data) = generated(100);
    let server = Server::start(&store, settings());
    let r = create(
        &server,
        Some(ROOT),
        r#"{"name": "temp", "role": "read", "expires_at": "2100-01-01T00:00:00Z"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["expires_at"], "2100-01-01T00:00:00Z");
    let secret = r.json()["secret"].as_str().unwrap().to_owned();
    let key = server.client(Some(&secret));
    assert_eq!(get(&key, "/v1/tables").status, 200);
    // The key store's clock, one second before and at the expiry.
    let at = 4_102_444_800; // 2100-01-01T00:00:00Z
    server.state.keys.set_clock_for_tests(at - 1);
    assert_eq!(get(&key, "/v1/tables").status, 200);
    server.state.keys.set_clock_for_tests(at);
    let r = get(&key, "/v1/tables");
    assert_eq!((r.status, error_code(&r).as_str()), (401, "key_expired"));
    assert!(r.text().contains("temp") && r.text().contains("2100-01-01T00:00:00Z"));
    assert_eq!(
        metric(&server, "segdb_auth_failures_total{reason=\"expired\"}"),
        1
    );
    let list = get(&server.client(Some(ROOT)), "/v1/keys").json();
    assert_eq!(list["keys"][0]["expired"], true);
    // Configured tokens do not expire.
    assert_eq!(get(&server.client(Some(ANA)), "/v1/tables").status, 200);
    server.state.keys.set_clock_for_tests(0);
    assert_eq!(get(&key, "/v1/tables").status, 200);
}

#[test]
fn keys_survive_a_restart_and_revocations_too() {
    let (_dir, store, _data) = generated(100);
    let (kept, gone) = {
        let server = Server::start(&store, settings());
        let make = |name: &str| {
            let r = create(
                &server,
                Some(ROOT),
                &format!(r#"{{"name": "{name}", "role": "write"}}"#),
            );
            assert_eq!(r.status, 201, "{}", r.text());
            r.json()["secret"].as_str().unwrap().to_owned()
        };
        let kept = make("kept");
        let gone = make("gone");
        let r = server
            .client(Some(ROOT))
            .request("DELETE", "/v1/keys/gone", &[], None)
            .unwrap();
        assert_eq!(r.status, 200);
        (kept, gone)
    };
    // Only salted hashes are on disk.
    let file = std::fs::read_to_string(store.join("KEYS")).unwrap();
    assert!(
        !file.contains(&kept[6..]) && file.contains("sha256$"),
        "{file}"
    );
    let server = Server::start(&store, settings());
    let r = get(&server.client(Some(&kept)), "/v1/tables");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(get(&server.client(Some(&gone)), "/v1/tables").status, 401);
    let list = get(&server.client(Some(ROOT)), "/v1/keys").json();
    assert_eq!(list["keys"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["keys"][0]["name"], "kept");
    assert_eq!(list["keys"][0]["role"], "write");
    assert_eq!(metric(&server, "segdb_keys "), 1);
}

/// A server without configured tokens still serves loopback clients as
/// `local`; a key sent is checked, and remote-style refusals stay 401.
#[test]
fn keys_on_a_server_without_tokens() {
    let (_dir, store, _data) = generated(100);
    let server = Server::start(&store, Settings::default());
    let local = server.client(None);
    let r = create(&server, None, r#"{"name": "reader", "role": "read"}"#);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["created_by"], "local");
    let secret = r.json()["secret"].as_str().unwrap().to_owned();
    let reader = server.client(Some(&secret));
    assert_eq!(get(&reader, "/v1/tables").status, 200);
    assert_eq!(get(&reader, "/v1/keys").status, 403);
    assert_eq!(get(&server.client(Some("wrong")), "/v1/tables").status, 401);
    assert_eq!(get(&local, "/v1/keys").status, 200);
}

/// A damaged `KEYS` file stops the start, naming the file: keys are never
/// silently dropped (a revoked key must not come back, a made one must not
/// vanish).
#[test]
fn a_damaged_keys_file_stops_the_start() {
    let (_dir, store, _data) = generated(100);
    std::fs::write(
        store.join("KEYS"),
        "{\"version\": 1, \"keys\": [{\"name\": ",
    )
    .unwrap();
    let config = Settings {
        data: Some(store.clone()),
        ..Settings::default()
    }
    .resolve()
    .unwrap();
    let opened = http::ingest::open_store(&config, false).unwrap();
    let e = AppState::new(opened, config).err().unwrap();
    assert!(e.contains("KEYS") && e.contains("damaged"), "{e}");
}
