//! A small store written by format version 1 is kept in
//! `tests/compat/v1/` and must be read, with the same answers, by every
//! later build. `SEGDB_BLESS=1` writes the fixture again (only when the
//! format version changes: then add a new directory, keep the old one).

use std::path::{Path, PathBuf};

use segdb_engine::{
    CmpOp, DayRange, Expr, FieldDef, FieldKind, ImportFormat, ImportOptions, Schema, Store,
};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("compat/v1")
}

fn write_fixture(dir: &Path) {
    let schema = Schema {
        fields: vec![
            FieldDef::new("city", FieldKind::Enum),
            FieldDef::new("tags", FieldKind::Set),
            FieldDef::new("owner", FieldKind::Bool),
            FieldDef::new("age", FieldKind::Int),
            FieldDef::new("search", FieldKind::Event),
            FieldDef {
                name: "phone".into(),
                kind: FieldKind::Text,
                sensitive: true,
                category: None,
                closed: false,
                catalog: Default::default(),
            },
        ],
    };
    let store = Store::open(dir).unwrap();
    store.create_table("users", &schema).unwrap();
    let mut csv = String::from("user_id,city,tags,owner,age,phone\n");
    for i in 0..3000 {
        let city = ["c0", "c1", "c2"][i % 3];
        let tags = ["a", "a|b", "", "c"][i % 4];
        let owner = ["1", "0", ""][i % 3];
        let age = if i % 5 == 0 {
            String::new()
        } else {
            (i as i64 % 90 - 20).to_string()
        };
        csv.push_str(&format!("u{i},{city},{tags},{owner},{age},+1-555-{i:04}\n"));
    }
    store
        .import(
            "users",
            ImportFormat::Csv,
            csv.as_bytes(),
            &ImportOptions::default(),
        )
        .unwrap();
    let mut ev = String::from("user_id,event,day,count\n");
    for i in (0..3000).step_by(7) {
        ev.push_str(&format!(
            "u{i},search,2026-11-{:02},{}\n",
            10 + i % 13,
            1 + i % 6
        ));
    }
    store
        .import(
            "users",
            ImportFormat::Events,
            ev.as_bytes(),
            &ImportOptions::default(),
        )
        .unwrap();
}

#[test]
fn version_1_store_is_read_with_the_same_answers() {
    let dir = fixture();
    if std::env::var_os("SEGDB_BLESS").is_some() {
        let _ = std::fs::remove_dir_all(&dir);
        write_fixture(&dir);
    }
    let copy = copy_of_fixture();
    let store = Store::open(copy.path()).unwrap();
    let t = store.table("users").unwrap();
    assert_eq!(t.num_rows(), 3000);
    let c0 = Expr::Value {
        field: "city".into(),
        value: "c0".into(),
    };
    assert_eq!(t.count(&c0).unwrap(), 1000);
    assert_eq!(
        t.count(&Expr::Value {
            field: "tags".into(),
            value: "a".into()
        })
        .unwrap(),
        1500
    );
    assert_eq!(
        t.count(&Expr::Bool {
            field: "owner".into(),
            value: false
        })
        .unwrap(),
        1000
    );
    assert_eq!(
        t.count(&Expr::Not(Box::new(Expr::NotNull {
            field: "age".into()
        })))
        .unwrap(),
        600
    );
    let neg = Expr::IntCmp {
        field: "age".into(),
        op: CmpOp::Lt,
        value: 0,
    };
    assert_eq!(
        t.count(&neg).unwrap(),
        (0..3000).filter(|i| i % 5 != 0 && i % 90 < 20).count() as u64
    );
    let stats = t.int_stats(&Expr::All, "age").unwrap();
    let ages: Vec<i64> = (0..3000)
        .filter(|i| i % 5 != 0)
        .map(|i| i as i64 % 90 - 20)
        .collect();
    assert_eq!(
        (stats.min, stats.max, stats.count, stats.sum),
        (
            ages.iter().min().copied(),
            ages.iter().max().copied(),
            2400,
            ages.iter().map(|&a| i128::from(a)).sum()
        )
    );
    let first = segdb_engine::date::parse_iso_day("2026-11-10").unwrap();
    let window = DayRange {
        first,
        last: first + 12,
    };
    let e = Expr::EventCount {
        field: "search".into(),
        days: window,
        op: CmpOp::Ge,
        n: 4,
    };
    let want = (0..3000).step_by(7).filter(|i| 1 + i % 6 >= 4).count() as u64;
    assert_eq!(t.count(&e).unwrap(), want);
    assert_eq!(t.ids(&c0, 0, Some(2)).unwrap(), ["u0", "u3"]);
    assert_eq!(t.row_of("u2999").unwrap(), Some(2999));
    assert_eq!(t.part(0).unwrap().text(5, 42).unwrap(), Some("+1-555-0042"));
}

/// A copy of the fixture: opening may clean up, and the fixture must not
/// change.
fn copy_of_fixture() -> tempfile::TempDir {
    let dir = fixture();
    let copy = tempfile::tempdir().unwrap();
    let mut files = 0;
    for entry in walk(&dir) {
        let rel = entry.strip_prefix(&dir).unwrap();
        let to = copy.path().join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &to).unwrap();
        files += 1;
    }
    assert!(files >= 3, "fixture missing: run with SEGDB_BLESS=1 once");
    copy
}

/// The versions of the table's dictionary part files, by name.
fn dictionary_versions(dir: &Path) -> Vec<(String, u32)> {
    let mut out: Vec<(String, u32)> = walk(&dir.join("users"))
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("ids-"))
        .map(|p| {
            let d = segdb_storage_format::dictionary::DictionaryPart::open_mapped(&p).unwrap();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                d.version(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Every row's id and every id's row, through the table.
fn id_answers(t: &segdb_engine::Table) -> Vec<(u32, String, Option<u32>)> {
    (0..t.num_rows() as u32)
        .map(|r| {
            let id = t.id_of(r).unwrap().unwrap();
            let back = t.row_of(&id).unwrap();
            (r, id, back)
        })
        .collect()
}

/// The version 1 dictionary part of an old store is read as it is, and
/// the next import rewrites it as version 2 (committed with the import;
/// the old file removed), with the same answers.
#[test]
fn version_1_dictionary_is_rewritten_as_version_2_by_the_next_import() {
    let copy = copy_of_fixture();
    assert_eq!(
        dictionary_versions(copy.path()),
        [("ids-00000001.seg".to_owned(), 1)]
    );
    let store = Store::open(copy.path()).unwrap();
    let t = store.table("users").unwrap();
    let before = id_answers(&t);
    assert_eq!(before.len(), 3000);
    assert!(before
        .iter()
        .all(|(r, id, back)| *id == format!("u{r}") && *back == Some(*r)));
    assert_eq!(t.row_of("u3000").unwrap(), None);
    let count_c0 = |t: &segdb_engine::Table| {
        t.count(&Expr::Value {
            field: "city".into(),
            value: "c0".into(),
        })
        .unwrap()
    };
    assert_eq!(count_c0(&t), 1000);
    drop(t);

    // One existing id updated, two new ones.
    let csv = "user_id,city\nu1,c0\nu3000,c0\nu3001,c1\n";
    store
        .import(
            "users",
            ImportFormat::Csv,
            csv.as_bytes(),
            &ImportOptions::default(),
        )
        .unwrap();
    let versions = dictionary_versions(copy.path());
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert!(versions
        .iter()
        .all(|(name, v)| *v == 2 && name != "ids-00000001.seg"));
    let check = |store: &Store| {
        let t = store.table("users").unwrap();
        assert_eq!(t.num_rows(), 3002);
        let after = id_answers(&t);
        assert_eq!(after[..3000], before[..]);
        assert_eq!(after[3000], (3000, "u3000".to_owned(), Some(3000)));
        assert_eq!(after[3001], (3001, "u3001".to_owned(), Some(3001)));
        assert_eq!(t.row_of("u3002").unwrap(), None);
        assert_eq!(count_c0(&t), 1002);
    };
    check(&store);
    drop(store);
    let store = Store::open(copy.path()).unwrap();
    check(&store);
    assert_eq!(dictionary_versions(copy.path()), versions);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
