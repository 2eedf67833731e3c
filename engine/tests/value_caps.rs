//! The caps that keep what a client writes (and so the manifest, which
//! lists every field and value) bounded: `max_field_values` distinct values
//! per field and values per SET line, on ingest and import alike, and
//! `MAX_FIELDS` fields per table. Each refusal names the line and the field
//! and changes nothing.

use segdb_engine::write::{parse_batch, parse_batch_for};
use segdb_engine::{
    EngineError, FieldDef, FieldKind, ImportFormat, ImportOptions, LiveOptions, Schema, Store,
    MAX_FIELDS,
};

fn store(dir: &std::path::Path, max_field_values: u32) -> Store {
    let s = Store::open_with(
        dir,
        LiveOptions {
            max_field_values,
            ..LiveOptions::default()
        },
    )
    .unwrap();
    let schema = Schema {
        fields: vec![
            FieldDef::new("tags", FieldKind::Set),
            FieldDef::new("city", FieldKind::Enum),
        ],
    };
    s.create_table("t", &schema).unwrap();
    s
}

fn bad_input(e: EngineError) -> (u64, String, String) {
    match e {
        EngineError::BadInput {
            line,
            column,
            reason,
            ..
        } => (line, column, reason),
        other => panic!("expected BadInput, got {other:?}"),
    }
}

fn ingest(s: &Store, text: &str) -> Result<(), EngineError> {
    let t = s.table("t")?;
    let batch = parse_batch_for(&t, text, s.max_field_values())?;
    s.ingest("t", batch).map(|_| ())
}

#[test]
fn ingest_stops_at_max_field_values() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), 4);
    ingest(
        &s,
        "{\"id\":\"a\",\"add\":{\"tags\":[\"x1\",\"x2\",\"x3\"]}}\n",
    )
    .unwrap();
    // Known values are always fine; the fourth new one is too, the fifth is
    // not: on line 3, in field `tags`.
    let e = ingest(
        &s,
        "{\"id\":\"b\",\"add\":{\"tags\":[\"x1\",\"x2\"]}}\n\
         {\"id\":\"b\",\"add\":{\"tags\":[\"x4\"]}}\n\
         {\"id\":\"c\",\"add\":{\"tags\":[\"x5\"]}}\n",
    )
    .unwrap_err();
    let (line, column, reason) = bad_input(e);
    assert_eq!((line, column.as_str()), (3, "tags"), "{reason}");
    assert!(reason.contains("more than 4 distinct values"), "{reason}");
    // Nothing of that batch was applied.
    let t = s.table("t").unwrap();
    assert_eq!(t.field_values("tags").len(), 3);
    assert_eq!(t.num_rows(), 1);
    // One line listing more values than a field may have.
    let e = ingest(
        &s,
        "{\"id\":\"d\",\"add\":{\"tags\":[\"x1\",\"x1\",\"x1\",\"x1\",\"x1\"]}}\n",
    )
    .unwrap_err();
    let (line, column, reason) = bad_input(e);
    assert_eq!((line, column.as_str()), (1, "tags"), "{reason}");
    // ENUM values count the same way.
    let e = ingest(
        &s,
        &(1..=5)
            .map(|i| format!("{{\"id\":\"e{i}\",\"set\":{{\"city\":\"c{i}\"}}}}\n"))
            .collect::<String>(),
    )
    .unwrap_err();
    assert_eq!(bad_input(e).0, 5);
    // Removing values that do not exist adds none.
    ingest(&s, "{\"id\":\"a\",\"remove\":{\"tags\":[\"y1\",\"y2\"]}}\n").unwrap();
}

#[test]
fn import_stops_at_max_field_values() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), 4);
    let opts = ImportOptions {
        source_name: "in.csv".into(),
        ..ImportOptions::default()
    };
    let csv = "user_id,city,tags\na,c1,x1|x2\nb,c2,x3\nc,c3,x4\nd,c4,x5\ne,c5,x1\n";
    let e = s
        .import("t", ImportFormat::Csv, csv.as_bytes(), &opts)
        .unwrap_err();
    let (line, column, reason) = bad_input(e);
    // Line 5 brings `x5`, the fifth value of `tags`.
    assert_eq!((line, column.as_str()), (5, "tags"), "{reason}");
    let t = s.table("t").unwrap();
    assert_eq!((t.num_rows(), t.field_values("tags").len()), (0, 0));
    // JSON lines: a SET of five values in one line.
    let e = s
        .import(
            "t",
            ImportFormat::JsonLines,
            "{\"user_id\":\"a\",\"tags\":[\"1\",\"2\",\"3\",\"4\",\"5\"]}\n".as_bytes(),
            &opts,
        )
        .unwrap_err();
    let (line, column, _) = bad_input(e);
    assert_eq!((line, column.as_str()), (1, "tags"));
    // Under the cap, it imports.
    s.import(
        "t",
        ImportFormat::Csv,
        "user_id,tags\na,x1|x2\nb,x3|x4\n".as_bytes(),
        &opts,
    )
    .unwrap();
    assert_eq!(s.table("t").unwrap().field_values("tags").len(), 4);
}

#[test]
fn a_table_has_at_most_max_fields() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    let wide = |n: usize| Schema {
        fields: (0..n)
            .map(|i| FieldDef::new(format!("f{i}"), FieldKind::Int))
            .collect(),
    };
    let e = s.create_table("w", &wide(MAX_FIELDS + 1)).unwrap_err();
    assert!(matches!(e, EngineError::InvalidSchema(_)), "{e}");
    s.create_table("w", &wide(MAX_FIELDS)).unwrap();
    let e = s
        .add_field("w", FieldDef::new("one_more", FieldKind::Int))
        .unwrap_err();
    assert!(e.to_string().contains("1024"), "{e}");
    assert_eq!(s.table("w").unwrap().schema().fields.len(), MAX_FIELDS);
}

#[test]
fn the_store_holds_the_cap_across_batches_checked_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), 4);
    let t = s.table("t").unwrap();
    // Two batches checked against the same snapshot each pass on their own.
    let a = "{\"id\":\"a\",\"add\":{\"tags\":[\"x1\",\"x2\",\"x3\"]}}\n";
    let b = "{\"id\":\"b\",\"add\":{\"tags\":[\"y1\",\"y2\",\"y3\"]}}\n";
    let batch_a = parse_batch_for(&t, a, 4).unwrap();
    let batch_b = parse_batch_for(&t, b, 4).unwrap();
    s.ingest("t", batch_a).unwrap();
    // The store checks again against the latest snapshot: refused, and
    // nothing of it applied.
    let e = s.ingest("t", batch_b).unwrap_err();
    assert!(matches!(e, EngineError::InvalidArgument(_)), "{e}");
    assert!(e.to_string().contains("max_field_values (4)"), "{e}");
    let t = s.table("t").unwrap();
    assert_eq!((t.num_rows(), t.field_values("tags").len()), (1, 3));
    // A batch parsed without the table's values is held to it too; one of
    // known values passes.
    let e = s
        .ingest("t", parse_batch(t.schema(), b).unwrap())
        .unwrap_err();
    assert!(matches!(e, EngineError::InvalidArgument(_)), "{e}");
    let known = "{\"id\":\"c\",\"add\":{\"tags\":[\"x1\",\"x3\"]}}\n";
    s.ingest("t", parse_batch(t.schema(), known).unwrap())
        .unwrap();
}
