//! Imports over HTTP: all or nothing, limits, cut bodies.

use serde_json::json;

use super::*;

#[test]
fn imports_apply_all_or_nothing() {
    let (_dir, store, _data) = generated(500);
    let server = Server::start(
        &store,
        Settings {
            max_import_bytes: Some(2048),
            ..Settings::default()
        },
    );
    let c = server.client(None);
    let users = |c: &Client| count(c, "SELECT COUNT(*) FROM users");
    assert_eq!(users(&c), 500);

    // CSV: new rows and an update, visible to the next query.
    let r = post(
        &c,
        "/v1/tables/users/import",
        "text/csv",
        "user_id,city,age\nn1,c077,40\nn2,c077,41\nu000000001,c077,\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(
        (v["lines"].clone(), v["new_rows"].clone(), v["rows"].clone()),
        (json!(3), json!(2), json!(502))
    );
    assert_eq!(
        count(&c, "SELECT COUNT(*) FROM users WHERE city = 'c077'") as usize,
        3 + {
            // Rows of the generated data already in c077, other than u000000001.
            let v = c
                .query("SELECT user_id FROM users WHERE city = 'c077'")
                .unwrap();
            v["rows"].as_array().unwrap().len() - 3
        }
    );
    assert_eq!(
        count(
            &c,
            "SELECT COUNT(*) FROM users WHERE city = 'c077' AND age >= 40"
        ),
        2
    );

    // JSON lines, by Content-Type.
    let r = post(
        &c,
        "/v1/tables/users/import",
        "application/x-ndjson",
        "{\"user_id\":\"n3\",\"city\":\"c078\",\"interests\":[\"i01\",\"i02\"]}\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(count(&c, "SELECT COUNT(*) FROM users WHERE city = 'c078' AND interests HAS ALL ('i01', 'i02') AND user_id IN ('n3')"), 1);

    // Events.
    let r = post(
        &c,
        "/v1/tables/users/import?format=events",
        "text/csv",
        "user_id,event,day,count\nn1,search,2026-11-20,5\nn1,search,2026-11-21,2\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(count(&c, "SELECT COUNT(*) FROM users WHERE user_id IN ('n1') AND count(search, '2026-11-20'..'2026-11-21') = 7"), 1);

    // A bad line rejects the whole body: 400 naming the line, nothing changed.
    let before = users(&c);
    let r = post(
        &c,
        "/v1/tables/users/import",
        "text/csv",
        "user_id,age\nn10,5\nn11,old\n",
    );
    assert_eq!(r.status, 400);
    let e = &r.json()["error"];
    assert_eq!(e["code"], json!("bad_input"));
    assert!(e["message"].as_str().unwrap().contains("line 3"), "{e}");
    assert_eq!(users(&c), before);
    // Unless asked to skip bad lines.
    let r = post(
        &c,
        "/v1/tables/users/import?on_error=skip",
        "text/csv",
        "user_id,age\nn10,5\nn11,old\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        (r.json()["skipped"].clone(), r.json()["new_rows"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(users(&c), before + 1);
    let r = post(
        &c,
        "/v1/tables/users/import",
        "text/csv",
        "user_id,nope\nn12,1\n",
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        post(&c, "/v1/tables/users/import?format=xml", "text/csv", "").status,
        400
    );
    assert_eq!(
        post(&c, "/v1/tables/users/import?on_error=maybe", "text/csv", "").status,
        400
    );
    assert_eq!(
        post(&c, "/v1/tables/users/import?color=red", "text/csv", "").status,
        400
    );
    assert_eq!(
        post(&c, "/v1/tables/nope/import", "text/csv", "user_id\nx\n").status,
        404
    );

    // Past the import limit: 413, nothing changed.
    let mut body = String::from("user_id,city\n");
    for i in 0..200 {
        body.push_str(&format!("big{i},c001\n"));
    }
    let r = post(&c, "/v1/tables/users/import", "text/csv", &body);
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(users(&c), before + 1);
    // A body cut short: 400, nothing changed.
    let (code, text) = raw(
        server.addr,
        b"POST /v1/tables/users/import HTTP/1.1\r\nhost: x\r\ncontent-type: text/csv\r\ncontent-length: 500\r\n\r\nuser_id,city\ncut1,c001\ncut2,c0",
    );
    assert_eq!(code, 400, "{text}");
    assert_eq!(users(&c), before + 1);
    let m = get(&c, "/metrics").text();
    assert!(m.contains("segdb_imports_failed_total 4"), "{m}");
}
