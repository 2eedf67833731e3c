//! Segments: defined, uploaded, exported, dropped.

use serde_json::json;

use super::*;

#[test]
fn segments_defined_uploaded_and_exported() {
    let (_dir, store, data) = generated(3000);
    let server = Server::start(&store, Settings::default());
    let c = server.client(None);
    let want: Vec<&str> = data
        .rows()
        .filter(|r| r.get("city") == "c000" && r.is("is_owner"))
        .map(|r| r.id())
        .collect();

    // A dynamic segment from a definition.
    let r = put(
        &c,
        "/v1/segments/owners0",
        "application/json",
        &json!({"definition": "SELECT FROM users WHERE city = 'c000' AND is_owner"}).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["kind"], json!("dynamic"));
    assert_eq!(
        count(&c, "SELECT COUNT(*) FROM users WHERE IN SEGMENT owners0"),
        want.len() as u64
    );
    // Exported as streamed CSV, paged, and as portable Roaring bytes.
    let r = get(&c, "/v1/segments/owners0/ids");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), format!("user_id\n{}\n", want.join("\n")));
    let r = get(&c, "/v1/segments/owners0/ids?offset=1&limit=2");
    assert_eq!(r.text(), format!("user_id\n{}\n", want[1..3].join("\n")));
    let r = c
        .request(
            "GET",
            "/v1/segments/owners0/ids",
            &[("accept", "application/x-roaring")],
            None,
        )
        .unwrap();
    assert_eq!(r.content_type.as_deref(), Some("application/x-roaring"));
    let bitmap = roaring::RoaringBitmap::deserialize_from(&r.body[..]).unwrap();
    let want_rows: Vec<u32> = data
        .rows()
        .enumerate()
        .filter(|(_, r)| r.get("city") == "c000" && r.is("is_owner"))
        .map(|(i, _)| i as u32)
        .collect();
    assert_eq!(bitmap.iter().collect::<Vec<u32>>(), want_rows);

    // A snapshot from an uploaded id list: unknown ids are reported.
    let r = put(
        &c,
        "/v1/segments/picked?table=users",
        "text/csv",
        "user_id,score\nu000000003,1\nnobody,2\nu000000001,3\nu000000003,4\n\"u000000010\",5\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(
        (v["kind"].clone(), v["rows"].clone()),
        (json!("snapshot"), json!(3))
    );
    assert_eq!(
        (v["unknown_ids"].clone(), v["unknown"].clone()),
        (json!(1), json!(["nobody"]))
    );
    let r = get(&c, "/v1/segments/picked/ids");
    assert_eq!(r.text(), "user_id\nu000000001\nu000000003\nu000000010\n");
    // A list longer than a lookup batch (4,096): every id and two unknown
    // ones after each, in order.
    let mut list = String::new();
    for i in 0..3000 {
        list.push_str(&format!("u{i:09}\nghost{i}a\nghost{i}b\n"));
    }
    let r = put(&c, "/v1/segments/bulk?table=users", "text/plain", &list);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(
        (v["rows"].clone(), v["unknown_ids"].clone()),
        (json!(3000), json!(6000))
    );
    let first_unknown: Vec<String> = (0..50)
        .flat_map(|i| [format!("ghost{i}a"), format!("ghost{i}b")])
        .collect();
    assert_eq!(v["unknown"], json!(first_unknown));
    assert_eq!(
        count(&c, "SELECT COUNT(*) FROM users WHERE IN SEGMENT bulk"),
        3000
    );
    let r = c.request("DELETE", "/v1/segments/bulk", &[], None).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());

    // Plain text, one id per line, replaces it.
    let r = put(
        &c,
        "/v1/segments/picked",
        "text/plain",
        "u000000002\n\nu000000004\n",
    );
    assert_eq!(r.json()["rows"], json!(2), "{}", r.text());
    assert_eq!(
        count(
            &c,
            "SELECT COUNT(*) FROM users WHERE IN SEGMENT picked OR IN SEGMENT owners0"
        ),
        want.len() as u64 + 2
            - want
                .iter()
                .filter(|i| ["u000000002", "u000000004"].contains(i))
                .count() as u64
    );

    // A profile names the segments its row is in.
    let member = want[0];
    let v = get(&c, &format!("/v1/tables/users/profiles/{member}")).json();
    assert_eq!(
        v["segments"],
        json!([{"name": "owners0", "kind": "dynamic"}]),
        "{v}"
    );
    let v = get(&c, "/v1/tables/users/profiles/u000000002").json();
    let mut names: Vec<&str> = v["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    names.retain(|n| *n != "owners0");
    assert_eq!(names, ["picked"]);
    let v = c
        .query(&format!("CALL profile('users', '{member}')"))
        .unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(
        rows.last().unwrap(),
        &json!(["owners0", "SEGMENT", "dynamic"])
    );
    assert!(rows.contains(&json!(["city", "ENUM", "c000"])), "{v}");
    assert!(c.query("CALL profile('users', 'nobody')").is_err());

    // `as_of` as the HTTP profile's: the same EVENT counts, over the days
    // of the generated data (which end on 2026-11-22, before today), for a
    // row with searches that week.
    let v = c
        .query("SELECT user_id FROM users WHERE count(search, last 7 days) > 0 LIMIT 1 AS OF '2026-11-22'")
        .unwrap();
    let member = v["rows"][0][0].as_str().unwrap().to_owned();
    let http = get(
        &c,
        &format!("/v1/tables/users/profiles/{member}?days=7&as_of=2026-11-22"),
    )
    .json();
    let v = c
        .query(&format!(
            "CALL profile('users', '{member}', days => 7, as_of => '2026-11-22')"
        ))
        .unwrap();
    let search = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r[0] == "search")
        .unwrap()[2]
        .clone();
    assert_eq!(search, http["fields"]["search"], "{v} {http}");
    assert!(search["total"].as_u64().unwrap() > 0, "{v}");
    let e = c
        .query(&format!(
            "CALL profile('users', '{member}', as_of => 'soon')"
        ))
        .unwrap_err();
    assert!(
        e.to_string().contains("as_of => 'soon' is not a date"),
        "{e}"
    );

    // Listing, and dropping.
    let v = get(&c, "/v1/segments").json();
    let names: Vec<&str> = v["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["owners0", "picked"]);
    // A segment another one uses cannot go.
    let r = put(
        &c,
        "/v1/segments/both",
        "application/json",
        &json!({"definition": "SELECT FROM users WHERE IN SEGMENT picked", "snapshot": true})
            .to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["rows"], json!(2));
    let dyn_user = put(
        &c,
        "/v1/segments/uses_owners",
        "application/json",
        &json!({"definition": "SELECT FROM users WHERE IN SEGMENT owners0"}).to_string(),
    );
    assert_eq!(dyn_user.status, 200);
    let r = c
        .request("DELETE", "/v1/segments/owners0", &[], None)
        .unwrap();
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (409, json!("in_use"))
    );
    assert_eq!(
        c.request("DELETE", "/v1/segments/uses_owners", &[], None)
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        c.request("DELETE", "/v1/segments/owners0", &[], None)
            .unwrap()
            .status,
        200
    );

    // Mistakes.
    let r = put(
        &c,
        "/v1/segments/bad",
        "application/json",
        &json!({"definition": "SELECT FROM users WHERE cty = 'x'"}).to_string(),
    );
    assert_eq!(r.status, 400);
    let e = &r.json()["error"];
    assert_eq!(
        (e["code"].clone(), e["line"].clone(), e["column"].clone()),
        (json!("unknown_field"), json!(1), json!(25)),
        "{e}"
    );
    // A definition is one statement: what follows a `;` is refused, not
    // run, and nothing changes.
    let r = put(
        &c,
        "/v1/segments/sneaky",
        "application/json",
        &json!({"definition": "SELECT FROM users WHERE is_owner; DROP TABLE users"}).to_string(),
    );
    let e = &r.json()["error"];
    assert_eq!(
        (r.status, e["code"].clone(), e["column"].clone()),
        (400, json!("syntax_error"), json!(35)),
        "{e}"
    );
    assert_eq!(get(&c, "/v1/segments/sneaky/ids").status, 404);
    assert!(count(&c, "SELECT COUNT(*) FROM users") > 0);
    assert_eq!(
        put(&c, "/v1/segments/bad", "application/json", "{}").json()["error"]["code"],
        json!("bad_json")
    );
    assert_eq!(
        put(&c, "/v1/segments/bad?table=nope", "text/plain", "u1\n").status,
        404
    );
    let r = get(&c, "/v1/segments/nope/ids");
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (404, json!("unknown_segment"))
    );
    assert_eq!(get(&c, "/v1/segments/picked/ids?limit=many").status, 400);
    assert_eq!(
        c.request("DELETE", "/v1/segments/nope", &[], None)
            .unwrap()
            .status,
        404
    );
}

/// A body of several statements is checked whole before any runs (issue
/// 19, item 4): a mistake in a later statement leaves the earlier ones
/// unrun, and a statement may use what an earlier one makes.
#[test]
fn a_batch_with_a_mistake_runs_nothing() {
    let (_dir, store, _data) = generated(500);
    let server = Server::start(&store, Settings::default());
    let c = server.client(None);
    let r = post(
        &c,
        "/v1/query",
        "text/plain",
        "CREATE SEGMENT tmp1 AS SELECT FROM users WHERE age > 30;\nSELECT COUNT(*) FROM usr;",
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let e = &r.json()["error"];
    assert_eq!(e["code"], json!("unknown_table"), "{e}");
    assert_eq!(e["line"], json!(2), "{e}");
    assert!(e["message"].as_str().unwrap().contains("usr"), "{e}");
    let r = post(&c, "/v1/query", "text/plain", "SHOW SEGMENTS");
    assert!(!r.text().contains("tmp1"), "{}", r.text());
    // Later statements see what earlier ones make: tables, fields,
    // segments (dynamic and snapshot), and not what they drop.
    let r = post(
        &c,
        "/v1/query",
        "text/plain",
        "CREATE TABLE t2 (kind ENUM);\n\
         ALTER TABLE t2 ADD score INT;\n\
         SELECT COUNT(*) FROM t2 WHERE score > 3 AND kind = 'a';\n\
         CREATE SEGMENT old AS SELECT FROM users WHERE age > 30;\n\
         CREATE SEGMENT frozen SNAPSHOT AS SELECT FROM users WHERE IN SEGMENT old;\n\
         SELECT COUNT(*) FROM users WHERE IN SEGMENT frozen AND NOT IN SEGMENT old;",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["rows"], json!([[0]]));
    let r = post(
        &c,
        "/v1/query",
        "text/plain",
        "DROP SEGMENT frozen; SELECT COUNT(*) FROM users WHERE IN SEGMENT frozen;",
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], json!("unknown_segment"));
    let r = post(&c, "/v1/query", "text/plain", "SHOW SEGMENTS");
    assert!(r.text().contains("frozen"), "{}", r.text());
    let r = post(
        &c,
        "/v1/query",
        "text/plain",
        "DROP TABLE t2; SELECT COUNT(*) FROM t2;",
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(count(&c, "SELECT COUNT(*) FROM t2"), 0);
}

/// An error at run time, after a statement that changed something, says
/// which statements took effect (issue 19, item 4).
#[test]
fn a_batch_failing_at_run_time_says_what_took_effect() {
    let (_dir, store, _data) = generated(500);
    let server = Server::start(
        &store,
        Settings {
            max_answer_rows: Some(100),
            ..Settings::default()
        },
    );
    let c = server.client(None);
    let r = post(
        &c,
        "/v1/query",
        "text/plain",
        "CREATE SEGMENT young AS SELECT FROM users WHERE age < 30;\n\
         SELECT COUNT(*) FROM users;\n\
         DROP SEGMENT young;\n\
         SELECT user_id FROM users;\n\
         CREATE SEGMENT never AS SELECT FROM users WHERE age > 1;",
    );
    assert!(r.status >= 400 && r.status < 500, "{}", r.text());
    let hint = r.json()["error"]["hint"].as_str().unwrap_or("").to_owned();
    assert!(
        hint.contains(
            "statements 1 (CREATE SEGMENT) and 3 (DROP SEGMENT) ran before this one and took effect; nothing after it ran"
        ),
        "{}",
        r.text()
    );
    let r = post(&c, "/v1/query", "text/plain", "SHOW SEGMENTS");
    assert!(
        !r.text().contains("never") && !r.text().contains("young"),
        "{}",
        r.text()
    );
}
