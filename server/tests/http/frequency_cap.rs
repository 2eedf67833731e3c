//! The table-wide frequency cap over HTTP (issue 13, item 4):
//! `GET/PUT/DELETE /v1/tables/{table}/frequency_cap`. Readers read it,
//! only an admin sets or removes it, bad bodies and unknown tables are
//! 4xx naming what is wrong, each change is audited, it survives a
//! restart, and a run started under it skips the users at the cap
//! (`campaigns.rs` has two campaigns starting together under it).

use serde_json::{json, Value};

use super::campaigns::{settings, status, ANN, READER, ROOT};
use super::*;

const PATH: &str = "/v1/tables/users/frequency_cap";

fn read(s: &Server) -> Value {
    status(&get(&s.client(Some(READER)), PATH), 200)
}

fn set(s: &Server, token: &str, body: &str) -> RawResponse {
    put(&s.client(Some(token)), PATH, "application/json", body)
}

fn remove(s: &Server, token: &str) -> RawResponse {
    s.client(Some(token))
        .request("DELETE", PATH, &[], None)
        .unwrap()
}

#[test]
fn the_table_cap_is_read_by_readers_set_by_admins_audited_and_kept() {
    let (_dir, store, _data) = generated(200);
    let s = Server::start(&store, settings());
    assert_eq!(read(&s), json!({"table": "users", "cap": null}));

    // Roles: a writer and a reader may not set or remove it.
    for token in [ANN, READER] {
        let e = status(&set(&s, token, r#"{"max": 1, "days": 7}"#), 403);
        assert_eq!(e["error"]["code"], "forbidden", "{e}");
        status(&remove(&s, token), 403);
    }
    // Bad bodies name what is wrong, and change nothing.
    let e = status(&set(&s, ROOT, r#"{"max": 1, "day": 7}"#), 400);
    assert_eq!(e["error"]["code"], "bad_json");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("day"),
        "{e}"
    );
    let e = status(&set(&s, ROOT, r#"{"max": 0, "days": 7}"#), 400);
    assert!(
        e["error"]["message"].as_str().unwrap().contains("cap.max"),
        "{e}"
    );
    let e = status(&set(&s, ROOT, "max=1"), 400);
    assert!(
        e["error"]["hint"].as_str().unwrap().contains("\"days\""),
        "{e}"
    );
    assert_eq!(read(&s)["cap"], Value::Null);
    // An unknown table is a 404, not a 500.
    let r = put(
        &s.client(Some(ROOT)),
        "/v1/tables/nope/frequency_cap",
        "application/json",
        r#"{"max": 1, "days": 7}"#,
    );
    let e = status(&r, 404);
    assert_eq!(e["error"]["code"], "unknown_table", "{e}");
    let r = get(&s.client(Some(READER)), "/v1/tables/nope/frequency_cap");
    status(&r, 404);

    // An admin sets it; readers see it; the change is audited.
    let c = status(&set(&s, ROOT, r#"{"max": 2, "days": 7}"#), 200);
    assert_eq!(c, json!({"table": "users", "cap": {"max": 2, "days": 7}}));
    assert_eq!(read(&s), c);
    let r = get(&s.client(Some(ROOT)), "/v1/audit?action=campaign");
    let entries = status(&r, 200)["entries"].as_array().unwrap().clone();
    let e = entries
        .iter()
        .find(|e| e["detail"]["transition"] == "frequency_cap" && e["status"] == 200)
        .unwrap_or_else(|| panic!("no audit entry: {entries:?}"));
    assert_eq!(e["principal"], "root", "{e}");
    assert_eq!(e["outcome"], "ok", "{e}");
    assert_eq!(e["target"], json!({"table": "users"}));
    assert_eq!(e["detail"]["to"], json!({"max": 2, "days": 7}), "{e}");

    // It survives a restart; then an admin removes it.
    drop(s);
    let s = Server::start(&store, settings());
    assert_eq!(read(&s)["cap"], json!({"max": 2, "days": 7}));
    let c = status(&remove(&s, ROOT), 200);
    assert_eq!(c["cap"], Value::Null);
    assert_eq!(read(&s)["cap"], Value::Null);
}
