//! Segments through the library API, as the HTTP server will use it: a
//! snapshot uploaded as a list of ids (no text), bound and shown by the
//! language, exported through `bind_segment` and `CALL segment_ids`.

use segdb_engine::{date, ImportFormat, ImportOptions, SegmentDef, SegmentKind, Store};
use segdb_query_lang::{bind_segment, parse_and_bind, ExplainExpr, Statement};
use segdb_server::exec::{run, StoreCatalog};
use serde_json::json;

fn store(dir: &std::path::Path) -> Store {
    let s = Store::open(dir).unwrap();
    run(&s, "CREATE TABLE users (city ENUM, vip BOOL)").unwrap();
    let mut csv = String::from("user_id,city,vip\n");
    for i in 0..50 {
        csv.push_str(&format!("u{i:02},c{},{}\n", i % 4, u8::from(i % 5 == 0)));
    }
    s.import(
        "users",
        ImportFormat::Csv,
        csv.as_bytes(),
        &ImportOptions::default(),
    )
    .unwrap();
    s
}

#[test]
fn an_uploaded_id_list_is_a_snapshot_segment() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let t = s.table("users").unwrap();
    // What `PUT /v1/segments/{name}` with a list of ids does.
    let ids = ["u07", "u03", "u40", "u03", "u05", "nobody"];
    let mut rows: Vec<u32> = ids.iter().filter_map(|id| t.row_of(id).unwrap()).collect();
    rows.sort_unstable();
    rows.dedup();
    let info = s
        .create_segment(
            "uploaded",
            "users",
            SegmentDef::Snapshot { rows, text: None },
            false,
        )
        .unwrap();
    assert_eq!(info.kind, SegmentKind::Snapshot);
    assert_eq!(info.rows, Some(4));
    assert_eq!(info.text, None);

    // The language binds it to its stored rows, read in place.
    let today = date::today();
    let bound = parse_and_bind(
        "SELECT COUNT(*) FROM users WHERE IN SEGMENT uploaded AND NOT vip",
        &StoreCatalog::new(&s),
        today,
    )
    .unwrap();
    let Statement::Select(select) = &bound[0] else {
        panic!("{bound:?}")
    };
    assert_eq!(
        ExplainExpr(&select.filter).to_string(),
        "(AND (SNAPSHOT uploaded) (NOT (= vip true)))"
    );
    let answers = run(
        &s,
        "SELECT user_id FROM users WHERE IN SEGMENT uploaded AND NOT vip; \
         CALL segment_ids('uploaded'); SHOW SEGMENTS",
    )
    .unwrap();
    assert_eq!(answers[0].rows, [[json!("u03")], [json!("u07")]]);
    assert_eq!(
        answers[1].rows,
        [
            [json!("u03")],
            [json!("u05")],
            [json!("u07")],
            [json!("u40")]
        ]
    );
    assert_eq!(
        answers[2].rows,
        [[
            json!("uploaded"),
            json!("users"),
            json!("snapshot"),
            json!(null),
            json!(""),
            json!(4)
        ]]
    );

    // What `GET /v1/segments/{name}/ids` evaluates, for both kinds.
    run(
        &s,
        "CREATE SEGMENT c1 AS SELECT FROM users WHERE city = 'c1' AND NOT IN SEGMENT uploaded",
    )
    .unwrap();
    for (name, want) in [("uploaded", 4), ("c1", 13 - 1)] {
        let (table, expr) = bind_segment(name, &StoreCatalog::new(&s), today).unwrap();
        assert_eq!(table, "users");
        assert_eq!(
            s.table(&table).unwrap().count(&expr).unwrap(),
            want,
            "{name}"
        );
    }
    let err = bind_segment("c2", &StoreCatalog::new(&s), today).unwrap_err();
    assert_eq!(err.code(), "unknown_segment");
    assert_eq!(err.hint().as_deref(), Some("did you mean `c1`?"));
}
