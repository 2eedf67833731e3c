//! Import errors (line, column, reason; abort changes nothing; skip counts),
//! updates, and damaged files giving clear errors.

use segdb_engine::{
    Expr, FieldDef, FieldKind, ImportFormat, ImportOptions, OnError, Schema, Store,
};
use segdb_storage_format::bitmap::RoaringView;
use segdb_storage_format::block_file::BlockKey;
use segdb_storage_format::part::{Part, TAG_VALUE};

fn schema() -> Schema {
    Schema {
        fields: vec![
            FieldDef::new("city", FieldKind::Enum),
            FieldDef::new("age", FieldKind::Int),
            FieldDef::new("owner", FieldKind::Bool),
            FieldDef::new("tags", FieldKind::Set),
            FieldDef::new("search", FieldKind::Event),
        ],
    }
}

fn store(dir: &std::path::Path) -> Store {
    let s = Store::open(dir).unwrap();
    s.create_table("users", &schema()).unwrap();
    s.import(
        "users",
        ImportFormat::Csv,
        "user_id,city,age,owner,tags\nu1,c1,30,1,a|b\nu2,c2,-4,0,\nu3,,,,b\n".as_bytes(),
        &ImportOptions::default(),
    )
    .unwrap();
    s
}

fn city(s: &Store, v: &str) -> u64 {
    let e = Expr::Value {
        field: "city".into(),
        value: v.into(),
    };
    s.table("users").unwrap().count(&e).unwrap()
}

#[test]
fn a_bad_line_aborts_with_line_column_and_reason_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let opts = ImportOptions {
        source_name: "more.csv".into(),
        // u4 is written out as a dictionary part before line 3 fails.
        ids_in_memory: 1,
        ..ImportOptions::default()
    };
    let err = s
        .import(
            "users",
            ImportFormat::Csv,
            "user_id,city,age\nu4,c1,5\nu5,c1,old\n".as_bytes(),
            &opts,
        )
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "more.csv: line 3, column `age`: `old` is not a 64-bit integer"
    );
    assert_eq!(s.table("users").unwrap().num_rows(), 3);
    assert_eq!(city(&s, "c1"), 1);
    // Nothing was left behind: reopening sees the same, and no stray files.
    drop(s);
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.table("users").unwrap().num_rows(), 3);
    let files = std::fs::read_dir(dir.path().join("users")).unwrap().count();
    assert_eq!(files, 2, "one part and one dictionary part");
}

#[test]
fn header_errors_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let err = s
        .import(
            "users",
            ImportFormat::Csv,
            "user_id,cty\nu1,c1\n".as_bytes(),
            &ImportOptions::default(),
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 1")
            && err.contains("unknown field `cty`")
            && err.contains("did you mean `city`?"),
        "{err}"
    );
    let err = s
        .import(
            "users",
            ImportFormat::Events,
            "user_id,event,day,count\nu1,search,2026-13-01,1\n".as_bytes(),
            &ImportOptions::default(),
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2, column `day`"), "{err}");
    let err = s
        .import(
            "users",
            ImportFormat::JsonLines,
            "{\"user_id\":\"u1\",\"age\":\"x\"}\n".as_bytes(),
            &ImportOptions::default(),
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 1, column `age`"), "{err}");
}

#[test]
fn skip_counts_and_lists_bad_lines_and_applies_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let opts = ImportOptions {
        on_error: OnError::Skip,
        ..ImportOptions::default()
    };
    let r = s
        .import(
            "users",
            ImportFormat::Csv,
            "user_id,city,owner\nu4,c1,1\nu5,c1,maybe\nu6,\"c9\n".as_bytes(),
            &opts,
        )
        .unwrap();
    assert_eq!((r.lines, r.applied, r.skipped), (3, 1, 2));
    assert_eq!(r.errors.len(), 2);
    assert!(r.errors[0].contains("line 3"), "{:?}", r.errors);
    assert_eq!(city(&s, "c1"), 2);
    assert_eq!(s.table("users").unwrap().num_rows(), 4);
}

#[test]
fn updates_replace_only_the_given_columns_and_events_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    s.import(
        "users",
        ImportFormat::JsonLines,
        "{\"user_id\":\"u1\",\"city\":\"c2\"}\n{\"user_id\":\"u3\",\"tags\":null}\n".as_bytes(),
        &ImportOptions::default(),
    )
    .unwrap();
    let ev = "user_id,event,day,count\nu1,search,2026-11-20,2\nu1,search,2026-11-21,3\n";
    s.import(
        "users",
        ImportFormat::Events,
        ev.as_bytes(),
        &ImportOptions::default(),
    )
    .unwrap();
    s.import(
        "users",
        ImportFormat::Events,
        ev.as_bytes(),
        &ImportOptions::default(),
    )
    .unwrap();
    let t = s.table("users").unwrap();
    assert_eq!(city(&s, "c2"), 2);
    assert_eq!(city(&s, "c1"), 0);
    let age30 = Expr::IntCmp {
        field: "age".into(),
        op: segdb_engine::CmpOp::Eq,
        value: 30,
    };
    assert_eq!(t.count(&age30).unwrap(), 1, "age of u1 kept");
    assert_eq!(
        t.count(&Expr::NotNull {
            field: "tags".into()
        })
        .unwrap(),
        1
    );
    let day = segdb_engine::date::parse_iso_day("2026-11-20").unwrap();
    let window = segdb_engine::DayRange {
        first: day,
        last: day + 1,
    };
    let ten = Expr::EventCount {
        field: "search".into(),
        days: window,
        op: segdb_engine::CmpOp::Eq,
        n: 10,
    };
    assert_eq!(t.rows(&ten).unwrap(), vec![0]);
}

#[test]
fn a_bitmap_cut_out_of_a_part_is_read_by_the_roaring_crate() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let t = s.table("users").unwrap();
    let part: &Part = t.part(0).unwrap();
    let vid = t.value_dict(3).id("b").unwrap();
    let i = part.find(BlockKey::new(3, TAG_VALUE, vid, 0)).unwrap();
    let bytes = part.block(i).unwrap();
    let theirs = roaring::RoaringBitmap::deserialize_from(bytes).unwrap();
    assert_eq!(theirs.iter().collect::<Vec<_>>(), vec![0, 2]);
    assert_eq!(RoaringView::new(bytes).unwrap().to_vec(), vec![0, 2]);
}

#[test]
fn damaged_files_give_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let t = s.table("users").unwrap();
    let part_path = t.part(0).unwrap().path().to_path_buf();
    drop(t);
    drop(s);
    let good = std::fs::read(&part_path).unwrap();
    // Truncated: open fails, naming the part.
    std::fs::write(&part_path, &good[..good.len() - 5]).unwrap();
    let err = Store::open(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains(&*part_path.to_string_lossy()) && err.contains("offset"),
        "{err}"
    );
    // A flipped bit inside a bitmap: open succeeds, the first query that
    // reads the block reports it.
    let mut b = good.clone();
    b[20] ^= 0x01;
    std::fs::write(&part_path, &b).unwrap();
    let s = Store::open(dir.path()).unwrap();
    let errs: Vec<String> = ["c1", "c2"]
        .iter()
        .map(|v| {
            let e = Expr::And(vec![
                Expr::Value {
                    field: "city".into(),
                    value: (*v).into(),
                },
                Expr::NotNull {
                    field: "age".into(),
                },
                Expr::NotNull {
                    field: "city".into(),
                },
                Expr::Bool {
                    field: "owner".into(),
                    value: true,
                },
                Expr::NotNull {
                    field: "tags".into(),
                },
            ]);
            s.table("users")
                .unwrap()
                .count(&e)
                .map(|_| String::new())
                .unwrap_or_else(|e| e.to_string())
        })
        .collect();
    assert!(
        errs.iter().any(|e| e.contains("checksum mismatch")),
        "{errs:?}"
    );
    drop(s);
    // A damaged manifest.
    std::fs::write(&part_path, &good).unwrap();
    let m = dir.path().join("MANIFEST");
    let mut mb = std::fs::read(&m).unwrap();
    let last = mb.len() - 2;
    mb[last] ^= 0x20;
    std::fs::write(&m, &mb).unwrap();
    let err = Store::open(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("MANIFEST") && err.contains("checksum"),
        "{err}"
    );
}

/// Ids that are not a counter (a hash index) are looked up a block at a
/// time by an import: existing ids keep their rows (set, cleared and
/// counted again), new ones get rows in order, an id twice in a file is
/// one row, and a bad line is skipped without a row.
#[test]
fn an_import_of_existing_and_new_ids_reuses_and_creates_rows() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.create_table("users", &schema()).unwrap();
    // 6,000 ids in no order: a hash index.
    let ids: Vec<String> = (0..6000u64)
        .map(|i| format!("id-{:x}", (i * 7919 + 13) % 6007))
        .collect();
    let mut csv = String::from("user_id,city,age\n");
    for (i, id) in ids.iter().enumerate() {
        csv.push_str(&format!("{id},c{},{i}\n", i % 3));
    }
    let opts = ImportOptions::default();
    s.import("users", ImportFormat::Csv, csv.as_bytes(), &opts)
        .unwrap();
    let t = s.table("users").unwrap();
    assert!(t.looks_up_in_batches());
    let before: Vec<u32> = ids
        .iter()
        .map(|id| t.row_of(id).unwrap().unwrap())
        .collect();

    // Every third id moves to city cx, then 500 new ids, each twice, then
    // the first 100 ids again, and a bad line.
    let mut csv = String::from("user_id,city,age\n");
    for id in ids.iter().step_by(3) {
        csv.push_str(&format!("{id},cx,\n"));
    }
    for i in 0..500 {
        csv.push_str(&format!("new-{i},cn,1\nnew-{i},cn,2\n"));
    }
    for id in &ids[..100] {
        csv.push_str(&format!("{id},cy,\n"));
    }
    csv.push_str("id-zz,c1,notanumber\n");
    let skip = ImportOptions {
        on_error: OnError::Skip,
        ..ImportOptions::default()
    };
    let r = s
        .import("users", ImportFormat::Csv, csv.as_bytes(), &skip)
        .unwrap();
    assert_eq!((r.new_rows, r.skipped, r.num_rows), (500, 1, 6500));
    let t = s.table("users").unwrap();
    for (id, row) in ids.iter().zip(&before) {
        assert_eq!(t.row_of(id).unwrap(), Some(*row), "{id}");
    }
    for i in 0..500u32 {
        assert_eq!(t.row_of(&format!("new-{i}")).unwrap(), Some(6000 + i));
    }
    assert_eq!(t.row_of("id-zz").unwrap(), None);
    let cx = (0..6000).step_by(3).filter(|i| *i >= 100).count() as u64;
    assert_eq!(
        (city(&s, "cx"), city(&s, "cy"), city(&s, "cn")),
        (cx, 100, 500)
    );
    assert_eq!(city(&s, "c0"), 0);
    assert_eq!(
        city(&s, "c1"),
        (0..6000)
            .filter(|&i: &usize| i % 3 == 1 && i >= 100)
            .count() as u64
    );

    // Events for existing and new ids add up on their rows.
    let mut ev = String::from("user_id,event,day,count\n");
    for id in ids.iter().take(50).chain(["new-7".to_string()].iter()) {
        ev.push_str(&format!(
            "{id},search,2026-11-20,2\n{id},search,2026-11-20,3\n"
        ));
    }
    let r = s
        .import("users", ImportFormat::Events, ev.as_bytes(), &opts)
        .unwrap();
    assert_eq!(r.new_rows, 0);
    let t = s.table("users").unwrap();
    let day = segdb_engine::date::parse_iso_day("2026-11-20").unwrap();
    let five = Expr::EventCount {
        field: "search".into(),
        days: segdb_engine::DayRange {
            first: day,
            last: day,
        },
        op: segdb_engine::CmpOp::Eq,
        n: 5,
    };
    let mut want: Vec<u32> = before[..50].iter().copied().chain([6007]).collect();
    want.sort_unstable();
    assert_eq!(t.rows(&five).unwrap(), want);
}
