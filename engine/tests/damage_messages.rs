//! Damage reads in people's words (issue 11, item 10): a damaged block is
//! named by table, field, what the block holds and shard, never as a
//! `BlockKey { field: 10, tag: 5, .. }`, wherever the error surfaces.

use segdb_engine::{CmpOp, DayRange, Expr, FieldDef, FieldKind, ImportFormat, ImportOptions};
use segdb_engine::{Schema, Store};
use segdb_storage_format::block_file::BlockKey;
use segdb_storage_format::part::{Part, TAG_INT_SLICE, TAG_VALUE};

/// A store with `users(city ENUM, ltv INT)`; `ltv` takes 7 bits.
fn store(dir: &std::path::Path) -> Store {
    let s = Store::open(dir).unwrap();
    let schema = Schema {
        fields: vec![
            FieldDef::new("city", FieldKind::Enum),
            FieldDef::new("ltv", FieldKind::Int),
        ],
    };
    s.create_table("users", &schema).unwrap();
    s.import(
        "users",
        ImportFormat::Csv,
        "user_id,city,ltv\nu1,paris,100\nu2,rome,37\nu3,paris,0\n".as_bytes(),
        &ImportOptions::default(),
    )
    .unwrap();
    s
}

/// Flips a byte in the middle of the block `key` of the table's one part;
/// returns the part's path, the block's offset and its length.
fn damage(dir: &std::path::Path, key: BlockKey) -> (std::path::PathBuf, u64, u32) {
    let tdir = dir.join("users");
    let path = std::fs::read_dir(&tdir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("part-")
        })
        .unwrap();
    let part = Part::open_mapped(&path).unwrap();
    let file = part.files().next().unwrap();
    let entry = file.entry(file.find(key).expect("the block"));
    drop(part);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[(entry.offset + u64::from(entry.len) / 2) as usize] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    (path, entry.offset, entry.len)
}

#[test]
fn a_damaged_bit_slice_is_named_by_table_field_slice_and_shard() {
    let dir = tempfile::tempdir().unwrap();
    drop(store(dir.path()));
    let (path, offset, len) = damage(dir.path(), BlockKey::new(1, TAG_INT_SLICE, 5, 0));
    let s = Store::open(dir.path()).unwrap();
    let t = s.table("users").unwrap();
    let want = format!(
        "corrupt file {} at offset {offset}: checksum mismatch ({len} bytes) in table `users`, \
         field `ltv`, bit slice 5, shard 0",
        path.display()
    );
    let query = Expr::IntCmp {
        field: "ltv".into(),
        op: CmpOp::Gt,
        value: 50,
    };
    let err = t.count(&query).unwrap_err().to_string();
    assert_eq!(err, want);
    let day = segdb_engine::date::parse_iso_day("2026-11-22").unwrap();
    let window = DayRange {
        first: day,
        last: day,
    };
    let err = t.profile("u1", window).unwrap_err().to_string();
    assert!(err.contains("field `ltv`, bit slice 5, shard 0"), "{err}");
    assert!(!err.contains("BlockKey"), "{err}");
}

#[test]
fn a_damaged_value_block_names_the_value() {
    let dir = tempfile::tempdir().unwrap();
    drop(store(dir.path()));
    damage(dir.path(), BlockKey::new(0, TAG_VALUE, 1, 0));
    let s = Store::open(dir.path()).unwrap();
    let query = Expr::Value {
        field: "city".into(),
        value: "rome".into(),
    };
    let err = s
        .table("users")
        .unwrap()
        .count(&query)
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with("in table `users`, field `city`, rows of value `rome`, shard 0"),
        "{err}"
    );
}
