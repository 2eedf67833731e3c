//! One open of a store at a time: a second `Store::open`, in this process
//! or another, is refused with an error naming the holder, and the store
//! opens again once the first is dropped.

use segdb_engine::{EngineError, FieldDef, FieldKind, Schema, Store};

#[test]
fn a_second_open_in_the_same_process_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = Store::open(dir.path()).unwrap();
    first
        .create_table(
            "t",
            &Schema {
                fields: vec![FieldDef::new("city", FieldKind::Enum)],
            },
        )
        .unwrap();
    let err = Store::open(dir.path()).expect_err("a second open of a locked store");
    let text = err.to_string();
    assert!(
        matches!(&err, EngineError::StoreLocked { holder, .. }
            if holder.starts_with(&format!("process {}", std::process::id()))),
        "{err:?}"
    );
    assert!(text.contains("POST /v1/tables/{t}/import"), "{text}");
    assert!(text.contains(&dir.path().display().to_string()), "{text}");
    // The refused open changed nothing.
    assert_eq!(first.table_names(), ["t"]);
    drop(first);
    let again = Store::open(dir.path()).unwrap();
    assert_eq!(again.table_names(), ["t"]);
}
