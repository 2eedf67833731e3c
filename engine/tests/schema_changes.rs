//! Schema changes: adding a field to a table with data, dropping a table.

use segdb_engine::{
    CmpOp, EngineError, Expr, FieldDef, FieldKind, ImportFormat, ImportOptions, Schema, Store,
};

fn store(dir: &std::path::Path) -> Store {
    let s = Store::open(dir).unwrap();
    let schema = Schema {
        fields: vec![
            FieldDef::new("city", FieldKind::Enum),
            FieldDef::new("age", FieldKind::Int),
        ],
    };
    s.create_table("users", &schema).unwrap();
    import(&s, "user_id,city,age\nu1,c1,30\nu2,c2,40\nu3,c1,\n");
    s
}

fn import(s: &Store, csv: &str) {
    s.import(
        "users",
        ImportFormat::Csv,
        csv.as_bytes(),
        &ImportOptions::default(),
    )
    .unwrap();
}

fn count(s: &Store, e: &Expr) -> u64 {
    s.table("users").unwrap().count(e).unwrap()
}

fn not_null(field: &str) -> Expr {
    Expr::NotNull {
        field: field.into(),
    }
}

#[test]
fn an_added_field_reads_as_null_until_written() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let files_before: Vec<_> = std::fs::read_dir(dir.path().join("users"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    s.add_field("users", FieldDef::new("score", FieldKind::Int))
        .unwrap();
    s.add_field("users", FieldDef::new("tags", FieldKind::Set))
        .unwrap();
    s.add_field("users", FieldDef::new("book", FieldKind::Event))
        .unwrap();
    let t = s
        .add_field(
            "users",
            FieldDef {
                name: "phone".into(),
                kind: FieldKind::Text,
                sensitive: true,
                category: Some("contact".into()),
                closed: false,
                catalog: Default::default(),
            },
        )
        .unwrap();
    let names: Vec<&str> = t.schema().fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["city", "age", "score", "tags", "book", "phone"]);
    assert!(t.schema().fields[5].sensitive);
    // No part was rewritten.
    let mut files_after: Vec<_> = std::fs::read_dir(dir.path().join("users"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    files_after.sort();
    let mut files_before = files_before;
    files_before.sort();
    assert_eq!(files_before, files_after);

    assert_eq!(count(&s, &not_null("score")), 0);
    assert_eq!(count(&s, &not_null("tags")), 0);
    let no_books = Expr::EventCount {
        field: "book".into(),
        days: segdb_engine::DayRange { first: 0, last: 30 },
        op: CmpOp::Eq,
        n: 0,
    };
    assert_eq!(count(&s, &no_books), 3);
    let high = Expr::IntCmp {
        field: "score".into(),
        op: CmpOp::Gt,
        value: 5,
    };
    assert_eq!(count(&s, &Expr::Not(Box::new(high.clone()))), 3);
    assert_eq!(
        s.table("users")
            .unwrap()
            .explain(&high)
            .unwrap()
            .estimated_rows,
        0
    );

    // An import writes the new fields for old and new rows; the old fields
    // keep their values.
    import(&s, "user_id,score,tags\nu2,9,a|b\nu4,3,b\n");
    assert_eq!(count(&s, &high), 1);
    assert_eq!(count(&s, &not_null("score")), 2);
    let b = Expr::Value {
        field: "tags".into(),
        value: "b".into(),
    };
    assert_eq!(count(&s, &b), 2);
    let c1 = Expr::Value {
        field: "city".into(),
        value: "c1".into(),
    };
    assert_eq!(count(&s, &c1), 2);
    assert_eq!(count(&s, &not_null("age")), 2);

    // The schema is in the manifest.
    drop(s);
    let s = Store::open(dir.path()).unwrap();
    let t = s.table("users").unwrap();
    assert_eq!(t.schema().fields.len(), 6);
    assert_eq!(t.field_values("tags"), ["a", "b"]);
    // SENSITIVE and the category are kept; a field without one has none.
    let phone = t.schema().field("phone").unwrap();
    assert!(phone.sensitive);
    assert_eq!(phone.category.as_deref(), Some("contact"));
    assert_eq!(t.schema().field("score").unwrap().category, None);
    assert_eq!(count(&s, &high), 1);
}

/// SENSITIVE is allowed on every kind, not only TEXT (an INT `income` can
/// be sensitive), and survives a reopen.
#[test]
fn every_kind_may_be_sensitive() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let kinds = [
        FieldKind::Enum,
        FieldKind::Set,
        FieldKind::Bool,
        FieldKind::Int,
        FieldKind::Event,
        FieldKind::Text,
    ];
    for (i, kind) in kinds.into_iter().enumerate() {
        let f = FieldDef {
            name: format!("secret_{i}"),
            kind,
            sensitive: true,
            category: Some("finance".into()),
            closed: false,
            catalog: Default::default(),
        };
        s.add_field("users", f).unwrap();
    }
    drop(s);
    let s = Store::open(dir.path()).unwrap();
    let t = s.table("users").unwrap();
    for (i, kind) in kinds.into_iter().enumerate() {
        let f = t.schema().field(&format!("secret_{i}")).unwrap();
        assert_eq!((f.kind, f.sensitive), (kind, true));
        assert_eq!(f.category.as_deref(), Some("finance"));
    }
}

#[test]
fn bad_added_fields_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let bad = [
        FieldDef::new("city", FieldKind::Set),
        FieldDef::new("user_id", FieldKind::Text),
        FieldDef::new("two words", FieldKind::Int),
        FieldDef::new("9lives", FieldKind::Int),
        FieldDef::new("", FieldKind::Int),
        FieldDef {
            name: "income".into(),
            kind: FieldKind::Int,
            sensitive: true,
            category: Some("two words".into()),
            closed: false,
            catalog: Default::default(),
        },
    ];
    for f in bad {
        let err = s.add_field("users", f.clone()).unwrap_err();
        assert!(matches!(err, EngineError::InvalidSchema(_)), "{f:?}: {err}");
    }
    let err = s
        .add_field("nope", FieldDef::new("a", FieldKind::Int))
        .unwrap_err();
    assert!(matches!(err, EngineError::UnknownTable(_)), "{err}");
    assert_eq!(s.table("users").unwrap().schema().fields.len(), 2);
}

#[test]
fn a_dropped_table_is_gone_and_can_be_created_again() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    s.create_table(
        "houses",
        &Schema {
            fields: vec![FieldDef::new("rooms", FieldKind::Int)],
        },
    )
    .unwrap();
    let snapshot = s.table("users").unwrap();
    s.drop_table("users").unwrap();
    assert_eq!(s.table_names(), ["houses"]);
    assert!(matches!(
        s.table("users"),
        Err(EngineError::UnknownTable(_))
    ));
    assert!(!dir.path().join("users").exists());
    // A reader's snapshot stays readable.
    assert_eq!(snapshot.count(&Expr::All).unwrap(), 3);
    assert_eq!(snapshot.count(&not_null("age")).unwrap(), 2);
    let err = s.drop_table("users").unwrap_err();
    assert!(matches!(err, EngineError::UnknownTable(_)), "{err}");

    drop(s);
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.table_names(), ["houses"]);
    // The name is free again, and the new table is empty.
    let schema = Schema {
        fields: vec![FieldDef::new("city", FieldKind::Enum)],
    };
    let t = s.create_table("users", &schema).unwrap();
    assert_eq!(t.num_rows(), 0);
    import(&s, "user_id,city\nu9,c9\n");
    assert_eq!(s.table("users").unwrap().num_rows(), 1);
    assert_eq!(s.table("users").unwrap().row_of("u1").unwrap(), None);
}

#[test]
fn files_of_a_drop_cut_short_are_removed_when_the_name_is_reused() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    // As if the process died after the manifest was written: the table's
    // files are still there.
    let saved = dir.path().join("saved");
    std::fs::create_dir(&saved).unwrap();
    for e in std::fs::read_dir(dir.path().join("users")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), saved.join(e.file_name())).unwrap();
    }
    s.drop_table("users").unwrap();
    std::fs::rename(&saved, dir.path().join("users")).unwrap();
    let schema = Schema {
        fields: vec![FieldDef::new("city", FieldKind::Enum)],
    };
    s.create_table("users", &schema).unwrap();
    assert_eq!(
        std::fs::read_dir(dir.path().join("users")).unwrap().count(),
        0
    );
    drop(s);
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.table("users").unwrap().num_rows(), 0);
}

#[test]
fn tables_cannot_take_the_names_of_the_stores_own_files() {
    // A table's directory is the store directory joined with its name: a
    // table `wal` would mix its files with the write-ahead log's (and files
    // no manifest names are deleted at open), `segments` with the snapshot
    // files, `spool` with the server's import spool.
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let schema = Schema {
        fields: vec![FieldDef::new("a", FieldKind::Int)],
    };
    let before: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    for name in [
        "wal",
        "segments",
        "spool",
        "audit",
        "MANIFEST",
        "LOCK",
        "Idempotency",
        "KEYS",
        "WAL",
    ] {
        let err = s.create_table(name, &schema).unwrap_err();
        assert!(
            matches!(err, EngineError::InvalidSchema(_)),
            "{name}: {err}"
        );
        assert!(err.to_string().contains("reserved"), "{name}: {err}");
    }
    assert_eq!(s.table_names(), ["users"]);
    let after: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after);
    // Names that only contain them are fine.
    s.create_table("wal_events", &schema).unwrap();
}

#[test]
fn catalog_entries_are_set_kept_across_a_reopen_and_imports_stamp_what_they_write() {
    use segdb_engine::{CatalogChange, FieldSource};
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let field = |s: &Store, name: &str| {
        s.table("users")
            .unwrap()
            .schema()
            .field(name)
            .cloned()
            .unwrap()
    };
    let imported_at = field(&s, "age").catalog.last_written_ms;
    assert!(imported_at.is_some());
    s.set_field_catalog(
        "users",
        "city",
        &CatalogChange {
            description: Some("Where they live".into()),
            category: Some("geo".into()),
            owner: Some("crm".into()),
            source: Some(FieldSource::Predictive),
        },
    )
    .unwrap();
    // Only what is given changes; an empty string clears.
    s.set_field_catalog(
        "users",
        "city",
        &CatalogChange {
            owner: Some(String::new()),
            ..CatalogChange::default()
        },
    )
    .unwrap();
    // No field is made derived by hand; an unknown field is an error.
    let derived = CatalogChange {
        source: Some(FieldSource::Derived),
        ..CatalogChange::default()
    };
    assert!(s.set_field_catalog("users", "city", &derived).is_err());
    assert!(s
        .set_field_catalog("users", "nope", &CatalogChange::default())
        .is_err());
    // An import of `city` alone stamps `city`, not `age`.
    import(&s, "user_id,city\nu4,c3\n");
    let city_at = field(&s, "city").catalog.last_written_ms;
    assert!(city_at >= imported_at);
    drop(s);
    let s = Store::open(dir.path()).unwrap();
    let city = field(&s, "city");
    assert_eq!(city.catalog.description.as_deref(), Some("Where they live"));
    assert_eq!(city.category.as_deref(), Some("geo"));
    assert_eq!(city.catalog.owner, None);
    assert_eq!(city.catalog.source, FieldSource::Predictive);
    assert_eq!(city.catalog.last_written_ms, city_at);
    assert_eq!(field(&s, "age").catalog.last_written_ms, imported_at);
    // Coverage counts: 4 cities, 2 ages.
    let t = s.table("users").unwrap();
    assert_eq!(t.rows_with_value("city").unwrap(), 4);
    assert_eq!(t.rows_with_value("age").unwrap(), 2);
    assert_eq!(count(&s, &not_null("age")), 2);
}
