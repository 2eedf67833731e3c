//! EVENT counts at the per-day limit (`MAX_DAY_COUNT`, 2^32 - 1): what is
//! stored is exactly what WHERE finds, in the live delta and after a flush,
//! for window sums past 32 bits; a write or an import that would take a
//! day's count past the limit is refused, naming where, and changes nothing.

use segdb_engine::date::{parse_iso_day, Day};
use segdb_engine::write::parse_batch;
use segdb_engine::{
    CmpOp, DayRange, EngineError, Expr, FieldDef, FieldKind, ImportFormat, ImportOptions,
    ProfileValue, Schema, Store, MAX_DAY_COUNT,
};

fn day(s: &str) -> Day {
    parse_iso_day(s).unwrap()
}

fn new_store(dir: &std::path::Path) -> Store {
    let s = Store::open(dir).unwrap();
    s.create_table(
        "t",
        &Schema {
            fields: vec![
                FieldDef::new("city", FieldKind::Enum),
                FieldDef::new("ev", FieldKind::Event),
            ],
        },
    )
    .unwrap();
    s
}

fn ingest(s: &Store, text: &str) -> Result<(), EngineError> {
    let t = s.table("t").unwrap();
    let batch = parse_batch(t.schema(), text)?;
    s.ingest("t", batch).map(|_| ())
}

fn event(id: &str, d: &str, count: u64) -> String {
    format!("{{\"id\":\"{id}\",\"event\":\"ev\",\"day\":\"{d}\",\"count\":{count}}}\n")
}

const WINDOW: DayRange = DayRange {
    first: 20_595, // 2026-05-22
    last: 20_597,
};

/// Each row's total over `WINDOW` as its profile shows it.
fn profile_totals(s: &Store, ids: &[&str]) -> Vec<u64> {
    let t = s.table("t").unwrap();
    ids.iter()
        .map(|id| match t.profile(id, WINDOW).unwrap() {
            None => 0,
            Some(p) => match &p.fields[1].1 {
                ProfileValue::Events(days) => days.iter().map(|d| d.1).sum(),
                other => panic!("{other:?}"),
            },
        })
        .collect()
}

/// `count(ev, WINDOW) op n` for n around every boundary, against the
/// profiles' totals.
fn check_where_finds_what_is_stored(s: &Store, ids: &[&str], when: &str) {
    let totals = profile_totals(s, ids);
    let t = s.table("t").unwrap();
    let max = i64::from(u32::MAX);
    let mut ns: Vec<i64> = vec![0, 1, 254, 255, 256];
    for b in [max, 2 * max, 3 * max] {
        ns.extend(b - 2..=b + 2);
    }
    for n in ns {
        for op in [CmpOp::Gt, CmpOp::Ge, CmpOp::Eq, CmpOp::Le, CmpOp::Lt] {
            let e = Expr::EventCount {
                field: "ev".into(),
                days: WINDOW,
                op,
                n,
            };
            let want = totals
                .iter()
                .filter(|&&c| op.holds(i128::from(c), i128::from(n)))
                .count() as u64;
            assert_eq!(
                t.count(&e).unwrap(),
                want,
                "{when}: count(ev) {op:?} {n}, totals {totals:?}"
            );
        }
    }
}

#[test]
fn window_sums_past_32_bits_are_found_as_stored() {
    let dir = tempfile::tempdir().unwrap();
    let s = new_store(dir.path());
    assert_eq!(day("2026-05-22"), WINDOW.first);
    let m = MAX_DAY_COUNT;
    let mut text = String::new();
    // a: three days at the limit (3 * (2^32 - 1)); b: the limit once; c:
    // the limit, reached in two steps, plus one more day; d: one event.
    for d in ["2026-05-22", "2026-05-23", "2026-05-24"] {
        text += &event("a", d, m);
    }
    text += &event("b", "2026-05-23", m);
    text += &event("c", "2026-05-22", m - 5);
    text += &event("c", "2026-05-22", 5);
    text += &event("c", "2026-05-24", 2);
    text += &event("d", "2026-05-24", 1);
    ingest(&s, &text).unwrap();
    let ids = ["a", "b", "c", "d"];
    assert_eq!(profile_totals(&s, &ids), [3 * m, m, m + 2, 1]);
    check_where_finds_what_is_stored(&s, &ids, "live delta");
    s.flush().unwrap();
    check_where_finds_what_is_stored(&s, &ids, "flushed");
}

#[test]
fn a_day_count_past_the_limit_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = new_store(dir.path());
    let m = MAX_DAY_COUNT;
    // One count past the limit: the line is named.
    let e = ingest(&s, &format!("\n{}", event("a", "2026-05-22", m + 1))).unwrap_err();
    assert!(
        matches!(&e, EngineError::BadInput { line: 2, column, .. } if column == "count"),
        "{e}"
    );
    assert!(
        e.to_string().contains("past the limit of 4294967295"),
        "{e}"
    );
    ingest(&s, &event("a", "2026-05-22", m)).unwrap();
    // Adding to a stored count, alone or within a batch.
    for text in [
        event("a", "2026-05-22", 1),
        event("b", "2026-05-22", 1) + &event("a", "2026-05-23", 7) + &event("a", "2026-05-22", 1),
        event("z", "2026-05-22", m - 1) + &event("z", "2026-05-22", 2),
    ] {
        let e = ingest(&s, &text).unwrap_err();
        assert!(matches!(&e, EngineError::BadInput { .. }), "{e}");
        assert!(e.to_string().contains("past the limit"), "{e}");
    }
    // Nothing of the refused batches was applied.
    assert_eq!(s.table("t").unwrap().num_rows(), 1);
    assert_eq!(profile_totals(&s, &["a", "b", "z"]), [m, 0, 0]);
    // A clear earlier in the batch starts the day from zero.
    ingest(
        &s,
        &("{\"id\":\"a\",\"clear\":[\"ev\"]}\n".to_owned() + &event("a", "2026-05-22", m)),
    )
    .unwrap();
    assert_eq!(profile_totals(&s, &["a"]), [m]);

    // Imports: a line past the limit is a bad line; lines (or a line and
    // the stored count) that add up past it fail the import, naming the
    // day, and nothing of it is visible.
    let events = |text: &str| {
        s.import(
            "t",
            ImportFormat::Events,
            format!("user_id,event,day,count\n{text}").as_bytes(),
            &ImportOptions::default(),
        )
    };
    let e = events(&format!("x,ev,2026-05-22,{}\n", m + 1)).unwrap_err();
    assert!(
        e.to_string().contains("line 2, column `count`")
            && e.to_string().contains("past the limit"),
        "{e}"
    );
    for text in [
        format!("x,ev,2026-05-22,{m}\nx,ev,2026-05-22,1\n"),
        "a,ev,2026-05-22,1\n".to_owned(),
    ] {
        let e = events(&text).unwrap_err();
        assert!(
            e.to_string().contains("2026-05-22") && e.to_string().contains("past the limit"),
            "{e}"
        );
    }
    s.flush().unwrap();
    let e = events("a,ev,2026-05-22,1\n").unwrap_err();
    assert!(e.to_string().contains("past the limit"), "{e}");
    assert_eq!(s.table("t").unwrap().num_rows(), 1);
    assert_eq!(profile_totals(&s, &["a", "x"]), [m, 0]);
    events(&format!("x,ev,2026-05-22,{m}\na,ev,2026-05-23,{m}\n")).unwrap();
    assert_eq!(profile_totals(&s, &["a", "x"]), [2 * m, m]);
}
