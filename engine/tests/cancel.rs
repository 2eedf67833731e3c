//! Cooperative cancellation: an evaluation inside a cancelled or expired
//! scope stops with an error naming why; outside it, nothing changes.

use std::time::Duration;

use segdb_engine::{
    Cancel, EngineError, Expr, FieldDef, FieldKind, ImportFormat, ImportOptions, Schema, Store,
};

#[test]
fn cancelled_and_expired_scopes_stop_evaluation() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let schema = Schema {
        fields: vec![FieldDef::new("city", FieldKind::Enum)],
    };
    store.create_table("t", &schema).unwrap();
    let mut csv = String::from("user_id,city\n");
    for i in 0..70_000 {
        csv.push_str(&format!("u{i},c{}\n", i % 3));
    }
    store
        .import(
            "t",
            ImportFormat::Csv,
            csv.as_bytes(),
            &ImportOptions::default(),
        )
        .unwrap();
    let t = store.table("t").unwrap();
    let e = Expr::Value {
        field: "city".into(),
        value: "c1".into(),
    };
    assert_eq!(t.count(&e).unwrap(), 23_333);

    let live = Cancel::with_timeout(Duration::from_secs(3600));
    assert_eq!(live.scope(|| t.count(&e)).unwrap(), 23_333);

    let stopped = Cancel::new();
    stopped.cancel();
    assert!(matches!(
        stopped.scope(|| t.count(&e)),
        Err(EngineError::Cancelled)
    ));
    assert!(matches!(
        stopped.scope(|| t.rows_range(&e, 0, Some(5))),
        Err(EngineError::Cancelled)
    ));
    assert!(matches!(
        stopped.scope(|| t.group_count(&e, "city")),
        Err(EngineError::Cancelled)
    ));
    // One row's chunk: `eval` gives up early inside a stopped scope, and
    // that must be an error, never a (meaningless) yes or no.
    assert!(t.row_matches(1, &e).unwrap());
    assert!(matches!(
        stopped.scope(|| t.row_matches(1, &e)),
        Err(EngineError::Cancelled)
    ));

    let expired = Cancel::with_timeout(Duration::ZERO);
    match expired.scope(|| t.rows(&e)) {
        Err(EngineError::Timeout { limit_ms: 0 }) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    // The scope ends with its closure: the same thread evaluates freely again.
    assert_eq!(t.count(&e).unwrap(), 23_333);
    // Scopes nest; the inner one wins while it lasts.
    live.scope(|| {
        assert!(stopped.scope(|| t.count(&e)).is_err());
        assert_eq!(t.count(&e).unwrap(), 23_333);
    });
}
