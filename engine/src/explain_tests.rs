//! Estimates against real counts on a small table: exact for single stored
//! bitmaps, bounds for AND, OR, NOT and EVENT windows, labels as written.

use super::*;
use crate::date::parse_iso_day;
use crate::expr::DayRange;
use crate::plan::estimate::seek;
use crate::schema::{FieldDef, Schema};
use crate::{ImportFormat, ImportOptions, Store};
use segdb_storage_format::part::TAG_INT_SLICE;

const ROWS: u64 = 3_000;

fn schema() -> Schema {
    Schema {
        fields: vec![
            FieldDef::new("city", FieldKind::Enum),
            FieldDef::new("tags", FieldKind::Set),
            FieldDef::new("age", FieldKind::Int),
            FieldDef::new("owner", FieldKind::Bool),
            FieldDef::new("level", FieldKind::Int),
            FieldDef::new("search", FieldKind::Event),
        ],
    }
}

/// A deterministic pseudo-random number from a row and a salt.
fn mix(i: u64, salt: u64) -> u64 {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 29)
}

fn store(dir: &std::path::Path) -> Store {
    let s = Store::open(dir).unwrap();
    s.create_table("users", &schema()).unwrap();
    let mut csv = String::from("user_id,city,tags,age,owner,level\n");
    let mut events = String::from("user_id,event,day,count\n");
    for i in 0..ROWS {
        let city = ["c0", "c0", "c0", "c1", "c1", "c2", ""][(mix(i, 1) % 7) as usize];
        let tags: Vec<&str> = ["a", "b", "c", "it's"]
            .into_iter()
            .enumerate()
            .filter(|(j, _)| {
                let roll = mix(i, 10 + *j as u64) % (j + 2) as u64;
                roll == 0
            })
            .map(|(_, t)| t)
            .collect();
        // Ages uniform in 20..52 (32 values: 5 bits), some null.
        let age = match mix(i, 2) % 10 {
            0 => String::new(),
            _ => (20 + mix(i, 3) % 32).to_string(),
        };
        let owner = ["1", "0", "0", ""][(mix(i, 4) % 4) as usize];
        csv.push_str(&format!("u{i},{city},{},{age},{owner},7\n", tags.join("|")));
        for day in 15..=21 {
            let roll = mix(i, 100 + day) % 5;
            if roll == 0 {
                let n = 1 + mix(i, 200 + day) % 4;
                events.push_str(&format!("u{i},search,2026-11-{day},{n}\n"));
            }
        }
    }
    let opts = ImportOptions::default();
    s.import("users", ImportFormat::Csv, csv.as_bytes(), &opts)
        .unwrap();
    s.import("users", ImportFormat::Events, events.as_bytes(), &opts)
        .unwrap();
    s
}

fn value(field: &str, v: &str) -> Expr {
    Expr::Value {
        field: field.into(),
        value: v.into(),
    }
}

fn week() -> DayRange {
    DayRange {
        first: parse_iso_day("2026-11-16").unwrap(),
        last: parse_iso_day("2026-11-22").unwrap(),
    }
}

fn event(op: CmpOp, n: i64) -> Expr {
    Expr::EventCount {
        field: "search".into(),
        days: week(),
        op,
        n,
    }
}

fn int(op: CmpOp, value: i64) -> Expr {
    Expr::IntCmp {
        field: "age".into(),
        op,
        value,
    }
}

fn owner() -> Expr {
    Expr::Bool {
        field: "owner".into(),
        value: true,
    }
}

#[test]
fn single_stored_bitmaps_are_exact() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let t = s.table("users").unwrap();
    let exprs = [
        value("city", "c0"),
        value("city", "c1"),
        value("city", "c2"),
        value("tags", "a"),
        value("tags", "it's"),
        Expr::NotNull {
            field: "city".into(),
        },
        Expr::NotNull {
            field: "age".into(),
        },
        owner(),
        Expr::Rows(vec![5, 1, 5, 99_999]),
        Expr::RowSet(crate::RowSet::new(
            "sent(spring) run 1",
            "users",
            vec![7, 2, 7, 99_999],
        )),
        Expr::All,
        Expr::Nothing,
        value("city", "nowhere"),
    ];
    for e in &exprs {
        let plan = t.explain(e).unwrap();
        assert!(plan.children.is_empty(), "{e:?}: {plan:?}");
        assert_eq!(plan.estimated_rows, t.count(e).unwrap(), "{e:?}: {plan:?}");
    }
    // NOT of an exact estimate is exact too.
    let e = Expr::Not(Box::new(value("city", "c0")));
    assert_eq!(t.explain(&e).unwrap().estimated_rows, t.count(&e).unwrap());
    // An INT field holding one value: its only slice-free range is exact.
    for (op, v) in [(CmpOp::Eq, 7), (CmpOp::Ge, 7), (CmpOp::Lt, 7)] {
        let e = Expr::IntCmp {
            field: "level".into(),
            op,
            value: v,
        };
        assert_eq!(t.explain(&e).unwrap().estimated_rows, t.count(&e).unwrap());
    }
}

#[test]
fn and_or_not_bounds_hold() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let t = s.table("users").unwrap();
    let exprs = [
        Expr::And(vec![value("city", "c0"), value("tags", "a"), owner()]),
        Expr::Or(vec![value("city", "c0"), value("tags", "a"), owner()]),
        Expr::Or(vec![
            value("city", "c0"),
            value("city", "c1"),
            value("city", "c2"),
            Expr::Not(Box::new(owner())),
        ]),
        Expr::And(vec![
            Expr::Or(vec![value("tags", "b"), value("tags", "c")]),
            Expr::Not(Box::new(value("city", "c1"))),
        ]),
        Expr::AllValues {
            field: "tags".into(),
            values: vec!["a".into(), "b".into()],
        },
        Expr::NoneOfValues {
            field: "city".into(),
            values: vec!["c0".into()],
        },
        Expr::Bool {
            field: "owner".into(),
            value: false,
        },
    ];
    for e in &exprs {
        let plan = t.explain(e).unwrap();
        assert_eq!(t.estimate(e).unwrap(), plan.estimated_rows);
        let actual = t.count(e).unwrap();
        assert!(
            plan.estimated_rows >= actual && plan.estimated_rows <= ROWS,
            "{e:?}: estimate {} < actual {actual}",
            plan.estimated_rows
        );
        // Every operand's estimate bounds what the node says.
        match plan.label.as_str() {
            "AND" => {
                let least = plan.children.iter().map(|c| c.estimated_rows).min();
                assert_eq!(Some(plan.estimated_rows), least);
            }
            "OR" => {
                let sum: u64 = plan.children.iter().map(|c| c.estimated_rows).sum();
                assert_eq!(plan.estimated_rows, sum.min(ROWS));
            }
            _ => {}
        }
    }
}

/// Upper bounds are never below the count, where estimates may be (an INT
/// range's is a guess, so is a NOT of one): what an export reserves.
#[test]
fn upper_bounds_hold_where_estimates_guess() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let t = s.table("users").unwrap();
    let not = |e: Expr| Expr::Not(Box::new(e));
    let mut exprs = vec![
        Expr::And(vec![value("city", "c0"), event(CmpOp::Gt, 3)]),
        Expr::Or(vec![value("city", "c1"), event(CmpOp::Eq, 0)]),
        not(event(CmpOp::Gt, 0)),
        Expr::And(vec![value("tags", "a"), not(value("city", "c0"))]),
        Expr::Bool {
            field: "owner".into(),
            value: false,
        },
    ];
    for v in [19, 20, 25, 30, 36, 51, 52] {
        for op in [
            CmpOp::Lt,
            CmpOp::Le,
            CmpOp::Eq,
            CmpOp::Ne,
            CmpOp::Ge,
            CmpOp::Gt,
        ] {
            exprs.push(int(op, v));
            exprs.push(not(int(op, v)));
            exprs.push(Expr::And(vec![owner(), int(op, v)]));
        }
    }
    let mut below = 0;
    for e in &exprs {
        let bound = t.upper_bound(e).unwrap();
        let actual = t.count(e).unwrap();
        assert!(
            bound >= actual && bound <= ROWS,
            "{e:?}: bound {bound}, actual {actual}"
        );
        below += usize::from(t.estimate(e).unwrap() < actual);
    }
    // Where the estimates guess, some guess low: a bound is not an estimate.
    assert!(below > 0);
    // A range past every value is empty; AND takes the least bound.
    assert_eq!(t.upper_bound(&int(CmpOp::Gt, 1_000)).unwrap(), 0);
    let city = t.count(&value("city", "c2")).unwrap();
    let both = Expr::And(vec![value("city", "c2"), int(CmpOp::Ge, 20)]);
    assert_eq!(t.upper_bound(&both).unwrap(), city);
}

#[test]
fn int_ranges_are_bounded_and_close_for_uniform_values() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let t = s.table("users").unwrap();
    let not_null = t
        .count(&Expr::NotNull {
            field: "age".into(),
        })
        .unwrap();
    let everything = int(CmpOp::Le, i64::MAX);
    assert_eq!(t.explain(&everything).unwrap().estimated_rows, not_null);
    for e in [
        Expr::IntBetween {
            field: "age".into(),
            lo: 25,
            hi: 35,
        },
        int(CmpOp::Lt, 36),
        int(CmpOp::Ge, 36),
        int(CmpOp::Eq, 30),
        int(CmpOp::Ne, 30),
    ] {
        let estimate = t.explain(&e).unwrap().estimated_rows;
        let actual = t.count(&e).unwrap();
        assert!(estimate <= not_null);
        let error = estimate.abs_diff(actual) as f64 / actual.max(1) as f64;
        assert!(error < 0.25, "{e:?}: estimate {estimate}, actual {actual}");
    }
    // Outside the values, nothing.
    for e in [
        int(CmpOp::Lt, 20),
        int(CmpOp::Gt, 1_000),
        int(CmpOp::Lt, i64::MIN),
    ] {
        assert_eq!(t.explain(&e).unwrap().estimated_rows, 0, "{e:?}");
    }
}

#[test]
fn event_windows_are_upper_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let t = s.table("users").unwrap();
    for (op, n) in [
        (CmpOp::Gt, 0),
        (CmpOp::Gt, 3),
        (CmpOp::Ge, 10),
        (CmpOp::Eq, 0),
        (CmpOp::Le, 0),
        (CmpOp::Lt, 2),
        (CmpOp::Eq, 2),
        (CmpOp::Ne, 0),
        (CmpOp::Ne, 3),
    ] {
        let e = event(op, n);
        let estimate = t.explain(&e).unwrap().estimated_rows;
        let actual = t.count(&e).unwrap();
        assert!(
            estimate >= actual && estimate <= ROWS,
            "{op:?} {n}: estimate {estimate} < actual {actual}"
        );
    }
    assert_eq!(t.explain(&event(CmpOp::Lt, 0)).unwrap().estimated_rows, 0);
    // A window without events.
    let empty = Expr::EventCount {
        field: "search".into(),
        days: DayRange { first: 0, last: 10 },
        op: CmpOp::Gt,
        n: 0,
    };
    assert_eq!(t.explain(&empty).unwrap().estimated_rows, 0);
}

#[test]
fn labels_show_the_compiled_plan() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let t = s.table("users").unwrap();
    let e = Expr::And(vec![
        Expr::Not(Box::new(owner())),
        value("city", "c0"),
        Expr::IntBetween {
            field: "age".into(),
            lo: 25,
            hi: 35,
        },
        Expr::Or(vec![value("tags", "it's"), event(CmpOp::Gt, 3)]),
        Expr::did("search", week()),
        Expr::Rows(vec![1, 2]),
        int(CmpOp::Ne, 30),
    ]);
    let mut lines = Vec::new();
    t.explain(&e)
        .unwrap()
        .walk(&mut |depth, n| lines.push(format!("{}{}", "  ".repeat(depth), n.label)));
    // The AND's operands run cheapest kind first (stored bitmaps and id
    // lists, then INT ranges and ORs, then EVENT windows), smallest
    // estimate first within a kind, the NOT last.
    assert_eq!(
        lines,
        [
            "AND",
            "  user_id IN (2 ids)",
            "  city = 'c0'",
            "  age BETWEEN 25 AND 35",
            "  OR",
            "    age <= 29",
            "    age >= 31",
            "  OR",
            "    tags HAS 'it''s'",
            "    count(search, 2026-11-16..2026-11-22) > 3",
            "  did(search, 2026-11-16..2026-11-22)",
            "  NOT",
            "    owner = true",
        ]
    );
    let tree = t.explain(&e).unwrap();
    let middle: Vec<u64> = tree.children[2..5]
        .iter()
        .map(|c| c.estimated_rows)
        .collect();
    assert!(middle.windows(2).all(|w| w[0] <= w[1]), "{middle:?}");
    let folded = Expr::And(vec![value("city", "nowhere"), owner()]);
    assert_eq!(t.explain(&folded).unwrap().label, "NOTHING");
}

#[test]
fn an_empty_table_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    let t = s.create_table("t", &schema()).unwrap();
    for e in [
        value("city", "c0"),
        int(CmpOp::Gt, 3),
        event(CmpOp::Eq, 0),
        Expr::All,
    ] {
        assert_eq!(t.explain(&e).unwrap().estimated_rows, 0, "{e:?}");
    }
    assert!(t.explain(&value("nope", "x")).is_err());
    assert!(t.explain(&int(CmpOp::Gt, 3)).is_ok());
    let wrong_kind = Expr::IntCmp {
        field: "city".into(),
        op: CmpOp::Gt,
        value: 3,
    };
    assert!(t.explain(&wrong_kind).is_err());
}

#[test]
fn every_leaf_of_a_wide_plan_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let t = s.table("users").unwrap();
    // Leaves in no particular key order, some absent from the part.
    let leaves = vec![
        value("tags", "c"),
        value("city", "c2"),
        owner(),
        value("tags", "a"),
        value("city", "c0"),
        Expr::NotNull {
            field: "level".into(),
        },
        value("tags", "it's"),
        Expr::NotNull {
            field: "city".into(),
        },
    ];
    let plan = t.explain(&Expr::Or(leaves.clone())).unwrap();
    assert_eq!(plan.children.len(), leaves.len());
    for (child, e) in plan.children.iter().zip(&leaves) {
        assert_eq!(child.estimated_rows, t.count(e).unwrap(), "{e:?}");
    }
}

#[test]
fn seek_finds_what_lower_bound_finds() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let t = s.table("users").unwrap();
    let f = t.part(0).unwrap();
    let n = f.num_blocks();
    let mut keys: Vec<BlockKey> = (0..n).map(|i| f.key(i)).collect();
    keys.push(BlockKey::new(0, 0, 0, 0));
    keys.push(BlockKey::new(u32::MAX, 0, 0, 0));
    keys.push(BlockKey::new(2, TAG_INT_SLICE, 99, 0));
    for key in keys {
        let want = f.lower_bound(key);
        for from in [0, want / 2, want.saturating_sub(1), want] {
            assert_eq!(seek(f, from, key), want, "{key:?} from {from}");
        }
    }
}

#[test]
fn a_row_set_is_shown_by_its_label_and_refused_on_another_table() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let t = s.table("users").unwrap();
    let set = Expr::RowSet(crate::RowSet::new(
        "in_variant(spring, 'a') run 3",
        "users",
        vec![3, 1],
    ));
    let plan = t.explain(&set).unwrap();
    assert_eq!(plan.label, "in_variant(spring, 'a') run 3");
    assert_eq!(plan.estimated_rows, 2);
    assert_eq!(t.rows(&set).unwrap(), vec![1, 3]);
    let other = Expr::RowSet(crate::RowSet::new("sent(x) run 1", "houses", vec![1]));
    let err = t.count(&other).unwrap_err().to_string();
    assert!(err.contains("holds rows of table `houses`"), "{err}");
}
