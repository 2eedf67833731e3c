//! New ENUM and SET values by ingest (issue 19, item 5): kept, and said in
//! the answer's `warnings`; refused, naming the line and the field, for a
//! field declared CLOSED, whose values come from imports.

use serde_json::json;

use super::*;

fn ingest(c: &Client, body: &str) -> RawResponse {
    c.request(
        "POST",
        "/v1/tables/shop/ingest",
        &[("content-type", "application/x-ndjson")],
        Some(body.as_bytes()),
    )
    .unwrap()
}

fn shop_count(c: &Client, filter: &str) -> u64 {
    count(c, &format!("SELECT COUNT(*) FROM shop WHERE {filter}"))
}

#[test]
fn new_values_are_warned_of_and_closed_fields_refuse_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    {
        let server = Server::start(&store, Settings::default());
        let c = server.client(None);
        c.query("CREATE TABLE shop (plan ENUM CLOSED, tags SET CLOSED, city ENUM)")
            .unwrap();
        // An import brings a closed field its values.
        let r = post(
            &c,
            "/v1/tables/shop/import",
            "text/csv",
            "user_id,plan,tags,city\nu1,basic,a|b,bj\nu2,gold,b,sh\n",
        );
        assert_eq!(r.status, 200, "{}", r.text());

        // An open field takes a new value, and the answer says so.
        let r = ingest(&c, "{\"id\":\"u1\",\"set\":{\"city\":\"nowhere\"}}\n{\"id\":\"u3\",\"set\":{\"city\":\"gz\",\"plan\":\"gold\"}}\n");
        assert_eq!(r.status, 200, "{}", r.text());
        let w = &r.json()["warnings"];
        assert_eq!(w.as_array().map(Vec::len), Some(1), "{}", r.text());
        assert_eq!(w[0]["code"], json!("new_values"));
        assert_eq!(
            w[0]["message"],
            json!("field `city` gets 2 new values: `gz`, `nowhere`")
        );
        assert_eq!(shop_count(&c, "city = 'nowhere'"), 1);
        // Values it knows: no warning.
        let r = ingest(&c, "{\"id\":\"u2\",\"set\":{\"city\":\"bj\",\"plan\":\"basic\"}}\n{\"id\":\"u2\",\"add\":{\"tags\":[\"a\"]}}\n");
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.json().get("warnings").is_none(), "{}", r.text());

        // A closed field refuses a value it does not have: 400 naming the
        // line and the key, a did-you-mean, and nothing of the batch done.
        let r = ingest(
            &c,
            "{\"id\":\"u1\",\"set\":{\"city\":\"xa\"}}\n{\"id\":\"u1\",\"set\":{\"plan\":\"gld\"}}\n",
        );
        assert_eq!(r.status, 400, "{}", r.text());
        let e = &r.json()["error"];
        assert_eq!(e["code"], json!("bad_input"), "{e}");
        assert_eq!(
            (e["line"].as_u64(), e["column"].as_u64()),
            (Some(2), Some(19)),
            "{e}"
        );
        assert_eq!(
            e["message"],
            json!("ingest batch: line 2, column `plan`: \"gld\" is not a value of `plan`, a CLOSED field: ingest adds no values to it")
        );
        assert_eq!(e["hint"], json!("did you mean `gold`?"));
        assert_eq!(shop_count(&c, "city = 'xa'"), 0);
        let r = ingest(&c, "{\"id\":\"u1\",\"add\":{\"tags\":[\"zzz\"]}}\n");
        assert_eq!(r.status, 400, "{}", r.text());
        assert!(r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`tags`, a CLOSED field"));
        // Imports still bring new values to it.
        let r = post(
            &c,
            "/v1/tables/shop/import",
            "text/csv",
            "user_id,plan\nu4,platinum\n",
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let r = ingest(&c, "{\"id\":\"u1\",\"set\":{\"plan\":\"platinum\"}}\n");
        assert_eq!(r.status, 200, "{}", r.text());
    }
    // CLOSED is part of the schema: kept across a restart, shown by SHOW
    // FIELDS and the tables API.
    let server = Server::start(&store, Settings::default());
    let c = server.client(None);
    let v = c.query("SHOW FIELDS FROM shop").unwrap();
    // The columns it had before the catalog's.
    let cut = |a: &Value| json!(a.as_array().unwrap()[..6]);
    assert_eq!(
        cut(&v["columns"]),
        json!(["field", "kind", "sensitive", "category", "values", "closed"])
    );
    let rows: Vec<Value> = v["rows"].as_array().unwrap().iter().map(cut).collect();
    assert_eq!(
        json!(rows),
        json!([
            ["plan", "ENUM", false, null, 3, true],
            ["tags", "SET", false, null, 2, true],
            ["city", "ENUM", false, null, 4, false]
        ])
    );
    let t = get(&c, "/v1/tables/shop").json();
    assert_eq!(t["fields"][0]["closed"], json!(true), "{t}");
    let r = ingest(&c, "{\"id\":\"u1\",\"set\":{\"plan\":\"other\"}}\n");
    assert_eq!(r.status, 400, "{}", r.text());
    // Only ENUM and SET fields can be closed.
    let r = post(
        &c,
        "/v1/query",
        "text/plain",
        "ALTER TABLE shop ADD n INT CLOSED",
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], json!("invalid_schema"));
}
