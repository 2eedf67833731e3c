//! Id lists in and out: `text/plain` is one id per line exactly as given,
//! CSV is RFC 4180 (quotes, doubled quotes, quoted line breaks, a BOM,
//! CRLF), and what segdb exports as CSV it reads back.

use serde_json::json;

use super::*;

/// Ids a CSV writer must quote or keep whole: commas, quotes, line breaks,
/// leading and trailing spaces, non-ASCII.
const AWKWARD: &[&str] = &[
    "with,comma",
    "with \"quote\"",
    "two\nlines",
    "crlf\r\ninside",
    "bare\rcr",
    " lead",
    "trail ",
    "  both  ",
    "\"",
    ",",
    "ünïcødé ✓",
    "日本語",
    "plain",
];

/// Ids that a reader splitting on commas, trimming or dropping quotes
/// would take instead of the awkward ones.
const DECOYS: &[&str] = &[
    "with", "comma", "quote", "two", "lines", "lead", "trail", "both", "sp", "a",
];

/// A server on a fresh store with table `t`: the awkward ids in city `x`
/// (in that order), the decoys in city `y`.
fn awkward_store() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("store"), Settings::default());
    let c = server.client(None);
    c.query("CREATE TABLE t (city ENUM)").unwrap();
    let mut batch = String::new();
    for (ids, city) in [(AWKWARD, "x"), (DECOYS, "y")] {
        for id in ids {
            batch.push_str(&json!({"id": id, "set": {"city": city}}).to_string());
            batch.push('\n');
        }
    }
    let r = post(&c, "/v1/tables/t/ingest", "application/x-ndjson", &batch);
    assert_eq!(r.status, 200, "{}", r.text());
    (dir, server)
}

/// Uploads `body` as the snapshot segment `name` of `t`: the answer.
fn upload(c: &Client, name: &str, content_type: &str, body: &str) -> Value {
    let r = put(
        c,
        &format!("/v1/segments/{name}?table=t"),
        content_type,
        body,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// The number of rows of city `city` in segment `name`.
fn in_segment(c: &Client, name: &str, city: &str) -> u64 {
    count(
        c,
        &format!("SELECT COUNT(*) FROM t WHERE IN SEGMENT {name} AND city = '{city}'"),
    )
}

#[test]
fn plain_text_is_one_id_per_line_exactly_as_given() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("store"), Settings::default());
    let c = server.client(None);
    c.query("CREATE TABLE t (city ENUM)").unwrap();
    let batch: String = [("a,b", "x"), (" sp ", "x"), ("a", "y"), ("sp", "y")]
        .iter()
        .map(|(id, city)| format!("{}\n", json!({"id": id, "set": {"city": city}})))
        .collect();
    let r = post(&c, "/v1/tables/t/ingest", "application/x-ndjson", &batch);
    assert_eq!(r.status, 200, "{}", r.text());

    // The repro: the ids are `a,b` and ` sp `, not `a` and `sp`.
    let v = upload(&c, "x", "text/plain", "a,b\n sp \n");
    assert_eq!(
        (v["rows"].clone(), v["unknown_ids"].clone()),
        (json!(2), json!(0)),
        "{v}"
    );
    assert_eq!(in_segment(&c, "x", "x"), 2);
    assert_eq!(in_segment(&c, "x", "y"), 0);
    // CRLF line ends, a BOM, an empty line and a last line without a
    // line end: still exactly these two ids.
    let v = upload(&c, "x", "text/plain", "\u{feff}a,b\r\n\r\n sp ");
    assert_eq!(
        (v["rows"].clone(), v["unknown"].clone()),
        (json!(2), json!([]))
    );
    assert_eq!(in_segment(&c, "x", "x"), 2);
    // A quote is part of the id, not CSV quoting.
    let v = upload(&c, "x", "text/plain", "\"a\"\nsp\n");
    assert_eq!(
        (v["rows"].clone(), v["unknown"].clone()),
        (json!(1), json!(["\"a\""]))
    );
    assert_eq!(in_segment(&c, "x", "y"), 1);
}

#[test]
fn what_segdb_exports_as_csv_it_reads_back() {
    let (_dir, server) = awkward_store();
    let c = server.client(None);
    let r = put(
        &c,
        "/v1/segments/xs",
        "application/json",
        &json!({"definition": "SELECT FROM t WHERE city = 'x'"}).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let n = AWKWARD.len() as u64;

    // The export is RFC 4180: fields with `,` `"` CR or LF quoted, quotes
    // doubled, spaces kept (and quoted, for readers that trim).
    let export = get(&c, "/v1/segments/xs/ids");
    assert_eq!(export.status, 200);
    let want = "user_id\n\"with,comma\"\n\"with \"\"quote\"\"\"\n\"two\nlines\"\n\
                \"crlf\r\ninside\"\n\"bare\rcr\"\n\" lead\"\n\"trail \"\n\"  both  \"\n\
                \"\"\"\"\n\",\"\nünïcødé ✓\n日本語\nplain\n";
    assert_eq!(export.text(), want);

    // Each export uploads back as the same rows: the segment's, the
    // streamed query's and the buffered (multi-statement) query's.
    let csv = |body: &str| {
        let r = c
            .request(
                "POST",
                "/v1/query",
                &[("accept", "text/csv")],
                Some(body.as_bytes()),
            )
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        r.text()
    };
    let streamed = csv("SELECT user_id FROM t WHERE city = 'x'");
    let buffered = csv("SELECT COUNT(*) FROM t; SELECT user_id FROM t WHERE city = 'x'");
    assert_eq!(streamed, want);
    assert_eq!(buffered, want);
    for (name, body) in [
        ("back_export", export.text()),
        ("back_streamed", streamed),
        ("back_buffered", buffered),
        ("back_bom", format!("\u{feff}{want}")),
        ("back_crlf", want.replace("\"\n", "\"\r\n")),
    ] {
        let content_type = if name == "back_crlf" {
            "Text/CSV; charset=utf-8"
        } else {
            "text/csv"
        };
        let v = upload(&c, name, content_type, &body);
        assert_eq!(
            (v["rows"].clone(), v["unknown_ids"].clone()),
            (json!(n), json!(0)),
            "{name}: {v}"
        );
        assert_eq!(in_segment(&c, name, "x"), n, "{name}");
        assert_eq!(in_segment(&c, name, "y"), 0, "{name}");
    }

    // Without a `user_id` header the first column is taken, and the
    // first line is data.
    let v = upload(
        &c,
        "first_col",
        "text/csv",
        "\"with,comma\",1\n\" lead\",2\n",
    );
    assert_eq!(v["rows"], json!(2), "{v}");
    // With one, its column.
    let v = upload(
        &c,
        "id_col",
        "text/csv",
        "score,user_id\n1,\"two\nlines\"\n2,\"with \"\"quote\"\"\"\n",
    );
    assert_eq!(v["rows"], json!(2), "{v}");
    assert_eq!(in_segment(&c, "id_col", "x"), 2);
}

#[test]
fn a_bad_id_list_is_a_400_naming_the_line_and_changes_nothing() {
    let (_dir, server) = awkward_store();
    let c = server.client(None);
    let bad = |content_type: &str, body: &[u8], line: &str| {
        let r = c
            .request(
                "PUT",
                "/v1/segments/bad?table=t",
                &[("content-type", content_type)],
                Some(body),
            )
            .unwrap();
        assert_eq!(r.status, 400, "{}", r.text());
        let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.contains(line), "{message}");
        message
    };
    // An unterminated quote: the line where the field opens.
    let m = bad(
        "text/csv",
        b"user_id\nplain\n\"two\nlines\"\n\"open,1\nmore\n",
        "line 5",
    );
    assert!(m.contains("unterminated quote"), "{m}");
    bad("text/csv", b"user_id\n\"a\"b\n", "line 2");
    bad("text/csv", b"score,user_id\n1,plain\n2\n", "line 3");
    bad("text/plain", b"plain\n\xff\xfe\n", "line 2");
    let r = get(&c, "/v1/segments/bad/ids");
    assert_eq!(r.status, 404, "{}", r.text());
}

#[test]
fn import_reads_rfc_4180_csv() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("store"), Settings::default());
    let c = server.client(None);
    c.query("CREATE TABLE t (city ENUM, note TEXT)").unwrap();
    // A BOM, CRLF, quoted line breaks, doubled quotes, spaces kept.
    let r = post(
        &c,
        "/v1/tables/t/import",
        "text/csv",
        "\u{feff}user_id,city,note\r\n\"two\r\nlines\",x,\"a\nb\"\r\n\"q\"\"uote\",x,\r\n lead ,x,\"c,d\"\r\nplain,y,\r\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["new_rows"], json!(4), "{}", r.text());
    let r = put(
        &c,
        "/v1/segments/xs",
        "application/json",
        &json!({"definition": "SELECT FROM t WHERE city = 'x'"}).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        get(&c, "/v1/segments/xs/ids").text(),
        "user_id\n\"two\r\nlines\"\n\"q\"\"uote\"\n\" lead \"\n"
    );
    let p = get(&c, "/v1/tables/t/profiles/plain");
    assert_eq!(p.json()["fields"]["city"], json!("y"), "{}", p.text());

    // An unterminated quote rejects the import, naming its line; nothing
    // changes.
    let r = post(
        &c,
        "/v1/tables/t/import",
        "text/csv",
        "user_id,city\nn1,x\n\"n2,x\nn3,x\n",
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let m = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        m.contains("line 3") && m.contains("unterminated quote"),
        "{m}"
    );
    assert_eq!(count(&c, "SELECT COUNT(*) FROM t"), 4);
}
