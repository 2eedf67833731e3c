//! System fields (`#effects`): the engine's own fields in a user's table.
//! Engine code writes and reads them like any field (rows writes, WAL,
//! flush, compaction, reopen); users can neither create, write, import nor
//! see them, and a deleted row loses them like every other field.

use std::path::Path;

use segdb_engine::insight::InsightOptions;
use segdb_engine::write::{parse_batch, RowsChange, RowsWrite};
use segdb_engine::{
    is_system_name, DayRange, EngineError, Expr, FieldDef, FieldKind, ImportFormat, ImportOptions,
    Schema, Store, MAX_FIELDS,
};

const EFFECTS: &str = "#effects";
const ROWS: u32 = 50;

fn store(dir: &Path) -> Store {
    let s = Store::open(dir).unwrap();
    let schema = Schema {
        fields: vec![
            FieldDef::new("city", FieldKind::Enum),
            FieldDef::new("effect", FieldKind::Set),
        ],
    };
    s.create_table("users", &schema).unwrap();
    let mut csv = String::from("user_id,city,effect\n");
    for i in 0..ROWS {
        csv.push_str(&format!("u{i},c{},e{}\n", i % 3, i % 2));
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

fn clicked(value: &str) -> Expr {
    Expr::Value {
        field: EFFECTS.into(),
        value: value.into(),
    }
}

fn count(s: &Store, e: &Expr) -> u64 {
    s.table("users").unwrap().count(e).unwrap()
}

fn rows(s: &Store, e: &Expr) -> Vec<u32> {
    s.table("users").unwrap().rows(e).unwrap()
}

fn add(s: &Store, rows: Vec<u32>, value: &str) {
    s.write_rows(
        "users",
        &RowsWrite {
            rows,
            change: RowsChange::AddValue {
                field: EFFECTS.into(),
                value: value.into(),
            },
            idempotency_key: None,
        },
    )
    .unwrap();
}

fn row_of(s: &Store, id: &str) -> u32 {
    s.table("users").unwrap().row_of(id).unwrap().unwrap()
}

#[test]
fn system_names_are_those_beginning_with_a_hash() {
    assert!(is_system_name("#effects"));
    assert!(FieldDef::new("#effects", FieldKind::Set).is_system());
    assert!(!is_system_name("effects"));
    assert!(!FieldDef::new("effects", FieldKind::Set).is_system());
}

#[test]
fn users_cannot_create_a_system_field() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let err = s
        .add_field("users", FieldDef::new(EFFECTS, FieldKind::Set))
        .unwrap_err();
    assert!(matches!(err, EngineError::InvalidSchema(_)), "{err}");
    assert!(err.to_string().contains("reserved"), "{err}");
    let schema = Schema {
        fields: vec![FieldDef::new("#x", FieldKind::Int)],
    };
    let err = s.create_table("other", &schema).unwrap_err();
    assert!(err.to_string().contains("reserved"), "{err}");
    assert!(s.table("other").is_err());
    assert!(s.table("users").unwrap().schema().field(EFFECTS).is_none());
}

#[test]
fn ensure_system_field_adds_once_checks_the_kind_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = store(dir.path());
        s.ensure_system_field("users", EFFECTS, FieldKind::Set)
            .unwrap();
        // Again: nothing changes.
        let gen = s.table("users").unwrap().schema().clone();
        s.ensure_system_field("users", EFFECTS, FieldKind::Set)
            .unwrap();
        assert_eq!(*s.table("users").unwrap().schema(), gen);
        let names: Vec<String> = gen.fields.iter().map(|f| f.name.clone()).collect();
        assert_eq!(names, ["city", "effect", EFFECTS]);
        // Another kind, a user's name, a bad name, an unknown table.
        let err = s
            .ensure_system_field("users", EFFECTS, FieldKind::Enum)
            .unwrap_err();
        assert!(err.to_string().contains("is SET, not ENUM"), "{err}");
        for bad in ["effects", "city", "#", "#1x", "#a-b", "##a"] {
            let err = s
                .ensure_system_field("users", bad, FieldKind::Set)
                .unwrap_err();
            assert!(matches!(err, EngineError::InvalidSchema(_)), "{bad}: {err}");
        }
        assert!(matches!(
            s.ensure_system_field("nope", EFFECTS, FieldKind::Set),
            Err(EngineError::UnknownTable(_))
        ));
        // A user may still not add one of that name.
        assert!(s
            .add_field("users", FieldDef::new(EFFECTS, FieldKind::Set))
            .is_err());
    }
    let s = Store::open(dir.path()).unwrap();
    let t = s.table("users").unwrap();
    assert_eq!(t.schema().field(EFFECTS).unwrap().kind, FieldKind::Set);
    assert!(s
        .ensure_system_field("users", EFFECTS, FieldKind::Event)
        .is_err());
}

#[test]
fn system_fields_count_towards_max_fields() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    let schema = Schema {
        fields: (0..MAX_FIELDS)
            .map(|i| FieldDef::new(format!("f{i}"), FieldKind::Bool))
            .collect(),
    };
    s.create_table("full", &schema).unwrap();
    let err = s
        .ensure_system_field("full", EFFECTS, FieldKind::Set)
        .unwrap_err();
    assert!(err.to_string().contains("at most"), "{err}");
}

#[test]
fn engine_writes_and_reads_a_system_field_through_flush_reopen_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let even: Vec<u32> = (0..ROWS).step_by(2).collect();
    let fives: Vec<u32> = (0..ROWS).step_by(5).collect();
    let any = Expr::AnyValue {
        field: EFFECTS.into(),
        values: vec!["7/1/clicked".into(), "7/1/converted".into()],
    };
    let both: Vec<u32> = (0..ROWS).filter(|r| r % 2 == 0 || r % 5 == 0).collect();
    {
        let s = store(dir.path());
        s.ensure_system_field("users", EFFECTS, FieldKind::Set)
            .unwrap();
        // A value the field has never held: no rows, not an error.
        assert_eq!(count(&s, &clicked("7/1/clicked")), 0);
        add(&s, even.clone(), "7/1/clicked");
        assert_eq!(rows(&s, &clicked("7/1/clicked")), even);
        // Still none for a value never written, with others in the delta.
        assert_eq!(count(&s, &clicked("9/9/clicked")), 0);
        s.flush().unwrap();
        assert_eq!(rows(&s, &clicked("7/1/clicked")), even);
        add(&s, fives.clone(), "7/1/converted");
        assert_eq!(rows(&s, &any), both);
    }
    // The second write is replayed from the WAL.
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(rows(&s, &clicked("7/1/clicked")), even);
    assert_eq!(rows(&s, &clicked("7/1/converted")), fives);
    s.flush().unwrap();
    // A third layer, then compaction merges them.
    add(&s, vec![1, 3], "7/2/clicked");
    s.flush().unwrap();
    let merged = s.compact("users").unwrap();
    assert!(!merged.is_empty());
    assert_eq!(rows(&s, &clicked("7/1/clicked")), even);
    assert_eq!(rows(&s, &any), both);
    assert_eq!(rows(&s, &clicked("7/2/clicked")), vec![1, 3]);
    assert_eq!(count(&s, &clicked("9/9/clicked")), 0);
    // The user's fields are as imported.
    let c0 = Expr::Value {
        field: "city".into(),
        value: "c0".into(),
    };
    assert_eq!(count(&s, &c0), u64::from(ROWS.div_ceil(3)));
    drop(s);
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(rows(&s, &clicked("7/2/clicked")), vec![1, 3]);
    assert_eq!(rows(&s, &any), both);
}

#[test]
fn an_import_of_other_columns_keeps_system_values() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    s.ensure_system_field("users", EFFECTS, FieldKind::Set)
        .unwrap();
    add(&s, vec![0, 1, 2], "7/1/clicked");
    s.import(
        "users",
        ImportFormat::Csv,
        "user_id,city\nu0,c9\nu1,c9\nnew,c9\n".as_bytes(),
        &ImportOptions::default(),
    )
    .unwrap();
    assert_eq!(rows(&s, &clicked("7/1/clicked")), vec![0, 1, 2]);
}

#[test]
fn ingest_cannot_name_a_system_field_nor_is_it_suggested() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    s.ensure_system_field("users", EFFECTS, FieldKind::Set)
        .unwrap();
    let t = s.table("users").unwrap();
    for line in [
        r##"{"id":"u1","add":{"#effects":["7/1/clicked"]}}"##,
        r##"{"id":"u1","set":{"#effects":["7/1/clicked"]}}"##,
        r##"{"id":"u1","clear":["#effects"]}"##,
        r##"{"id":"u1","remove":{"#effects":["7/1/clicked"]}}"##,
    ] {
        let err = parse_batch(t.schema(), line).unwrap_err();
        let EngineError::BadInput { reason, hint, .. } = &err else {
            panic!("{line}: {err}");
        };
        assert_eq!(reason, "unknown field", "{line}: {err}");
        // A user field may be suggested, never the system one.
        assert_eq!(
            hint.as_deref(),
            Some("did you mean `effect`?"),
            "{line}: {err}"
        );
    }
    // `_effects` is one edit from `#effects` and two from `effect`: the
    // suggestion is the user's field.
    let err = parse_batch(t.schema(), r#"{"id":"u1","add":{"_effects":["x"]}}"#).unwrap_err();
    let EngineError::BadInput { hint, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(hint.as_deref(), Some("did you mean `effect`?"), "{err}");
    // The user's own fields still parse.
    parse_batch(t.schema(), r#"{"id":"u1","add":{"effect":["x"]}}"#).unwrap();
}

#[test]
fn import_cannot_name_a_system_field_nor_is_it_suggested() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    s.ensure_system_field("users", EFFECTS, FieldKind::Set)
        .unwrap();
    add(&s, vec![4], "7/1/clicked");
    let import = |format, text: &str| {
        s.import("users", format, text.as_bytes(), &ImportOptions::default())
            .unwrap_err()
    };
    for (format, text) in [
        (ImportFormat::Csv, "user_id,#effects\nu1,7/1/clicked\n"),
        (
            ImportFormat::JsonLines,
            "{\"user_id\":\"u1\",\"#effects\":[\"7/1/clicked\"]}\n",
        ),
    ] {
        let err = import(format, text);
        let EngineError::BadInput { reason, hint, .. } = &err else {
            panic!("{err}");
        };
        assert!(reason.contains("unknown field"), "{format:?}: {err}");
        assert_eq!(hint.as_deref(), Some("did you mean `effect`?"), "{err}");
    }
    for (format, text) in [
        (ImportFormat::Csv, "user_id,_effects\nu1,x\n"),
        (
            ImportFormat::JsonLines,
            "{\"user_id\":\"u1\",\"_effects\":[\"x\"]}\n",
        ),
    ] {
        let err = import(format, text);
        let EngineError::BadInput { hint, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!(hint.as_deref(), Some("did you mean `effect`?"), "{err}");
    }
    // Nothing changed.
    assert_eq!(rows(&s, &clicked("7/1/clicked")), vec![4]);
    assert_eq!(count(&s, &clicked("x")), 0);
}

#[test]
fn a_deleted_row_loses_its_system_values_too() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    s.ensure_system_field("users", EFFECTS, FieldKind::Set)
        .unwrap();
    add(&s, vec![0, 1, 2, 3], "7/1/clicked");
    s.flush().unwrap();
    let u1 = row_of(&s, "u1");
    let u2 = row_of(&s, "u2");
    let delete = |id: &str| {
        let t = s.table("users").unwrap();
        let b = parse_batch(t.schema(), &format!("{{\"id\":\"{id}\",\"delete\":true}}")).unwrap();
        s.ingest("users", b).unwrap();
    };
    // One deleted over flushed values, one over values still in the delta.
    delete("u1");
    add(&s, vec![5], "7/1/clicked");
    delete("u2");
    let left: Vec<u32> = [0, 1, 2, 3, 5]
        .into_iter()
        .filter(|r| *r != u1 && *r != u2)
        .collect();
    assert_eq!(rows(&s, &clicked("7/1/clicked")), left);
    s.flush().unwrap();
    assert_eq!(rows(&s, &clicked("7/1/clicked")), left);
    drop(s);
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(rows(&s, &clicked("7/1/clicked")), left);
}

#[test]
fn profiles_and_insight_with_no_field_list_leave_system_fields_out() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    s.ensure_system_field("users", EFFECTS, FieldKind::Set)
        .unwrap();
    add(&s, (0..ROWS).collect(), "7/1/clicked");
    let t = s.table("users").unwrap();
    let day = segdb_engine::date::parse_iso_day("2026-11-22").unwrap();
    let window = DayRange {
        first: day,
        last: day,
    };
    let p = t.profile("u1", window).unwrap().unwrap();
    let names: Vec<&str> = p.fields.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["city", "effect"]);
    let opts = InsightOptions {
        fields: Vec::new(),
        top: None,
        bucket_width: None,
        bucket_widths: Vec::new(),
        quantiles: Vec::new(),
        window,
    };
    let i = t.insight(&Expr::All, &opts).unwrap();
    let names: Vec<&str> = i.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(names, ["city", "effect"]);
}

/// Ensuring a system field while batches are ingested, from several
/// threads at once: every batch lands, the field is added once, and the
/// effects written right after it are all there, before and after a
/// reopen.
#[test]
fn ensuring_alongside_ingest_loses_nothing() {
    const BATCHES: u32 = 60;
    let dir = tempfile::tempdir().unwrap();
    {
        let s = store(dir.path());
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for i in 0..BATCHES {
                    let t = s.table("users").unwrap();
                    let line = format!("{{\"id\":\"n{i}\",\"set\":{{\"city\":\"c{}\"}}}}", i % 3);
                    s.ingest("users", parse_batch(t.schema(), &line).unwrap())
                        .unwrap();
                }
            });
            for _ in 0..3 {
                scope.spawn(|| {
                    s.ensure_system_field("users", EFFECTS, FieldKind::Set)
                        .unwrap();
                    add(&s, vec![7, 8], "7/1/clicked");
                });
            }
        });
        let t = s.table("users").unwrap();
        let systems = t.schema().fields.iter().filter(|f| f.is_system()).count();
        assert_eq!(systems, 1);
        assert_eq!(t.num_rows(), u64::from(ROWS + BATCHES));
        assert_eq!(rows(&s, &clicked("7/1/clicked")), vec![7, 8]);
    }
    let s = Store::open(dir.path()).unwrap();
    let t = s.table("users").unwrap();
    assert_eq!(t.num_rows(), u64::from(ROWS + BATCHES));
    for i in 0..BATCHES {
        assert!(t.row_of(&format!("n{i}")).unwrap().is_some(), "n{i}");
    }
    assert_eq!(rows(&s, &clicked("7/1/clicked")), vec![7, 8]);
}
