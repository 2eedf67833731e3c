//! Attribution against a model: random effect streams (repeats, ids the
//! table does not have, users never sent to, times before a run started,
//! lines naming their run) written in batches with flushes between; the
//! effects field's values and the tallies read back equal what the model
//! counts.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use roaring::RoaringBitmap;
use segdb_engine::{Expr, FieldKind, Store};

use super::*;
use crate::testutil;

const ROWS: u32 = 60;
const ID: u64 = 9;

/// Two runs: run 1 started at 1000 sent to rows 0..30 (variants by row
/// parity), run 2 started at 5000 sent to rows 20..50 (variants by row
/// % 3 == 0); rows 50..60 were never sent to.
fn runs() -> Vec<RunGroups> {
    let r1: RoaringBitmap = (0..30).collect();
    let r2: RoaringBitmap = (20..50).collect();
    vec![
        RunGroups {
            number: 1,
            started_at: 1_000,
            variants: vec![
                r1.iter().filter(|r| r % 2 == 0).collect(),
                r1.iter().filter(|r| r % 2 == 1).collect(),
            ],
            sent: r1,
        },
        RunGroups {
            number: 2,
            started_at: 5_000,
            variants: vec![
                r2.iter().filter(|r| r % 3 == 0).collect(),
                r2.iter().filter(|r| r % 3 != 0).collect(),
            ],
            sent: r2,
        },
    ]
}

#[derive(Default)]
struct Model {
    who: BTreeMap<String, BTreeSet<u32>>,
    tallies: BTreeMap<String, BTreeMap<Day, u64>>,
}

impl Model {
    /// The rule, written plainly: the named run, else the newest run
    /// started by `at` that sent to the row.
    fn apply(&mut self, runs: &[RunGroups], row: Option<u32>, l: &EffectLine) {
        let run = match (row, l.run) {
            (Some(x), Some(n)) => runs.iter().find(|r| r.number == n && r.sent.contains(x)),
            (Some(x), None) => {
                let mut best = None;
                for r in runs {
                    if r.started_at <= l.at && r.sent.contains(x) {
                        best = Some(r);
                    }
                }
                best
            }
            (None, _) => None,
        };
        let key = match (run, row) {
            (Some(r), Some(x)) => {
                let v = r.variants.iter().position(|v| v.contains(x)).unwrap();
                self.who
                    .entry(effect_value(ID, r.number, l.effect))
                    .or_default()
                    .insert(x);
                tally_key(ID, r.number, v, l.effect)
            }
            _ => unattributed_key(ID, l.effect),
        };
        *self
            .tallies
            .entry(key)
            .or_default()
            .entry(day_of(l.at))
            .or_default() += 1;
    }
}

fn line() -> impl Strategy<Value = (u32, usize, i64, Option<u32>)> {
    (
        0..ROWS + 5,
        0..Effect::ALL.len(),
        0i64..4 * 86_400,
        prop_oneof![6 => Just(None), 1 => Just(Some(1)), 1 => Just(Some(2))],
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn effects_read_back_as_the_model_counts(
        batches in prop::collection::vec(prop::collection::vec(line(), 0..40), 1..6)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store: Store = testutil::store(dir.path(), ROWS);
        store.ensure_system_field("users", EFFECTS_FIELD, FieldKind::Set).unwrap();
        let runs = runs();
        let mut model = Model::default();
        for (b, batch) in batches.iter().enumerate() {
            let lines: Vec<EffectLine> = batch
                .iter()
                .map(|&(u, e, at, run)| EffectLine {
                    id: format!("u{u}"),
                    effect: Effect::ALL[e],
                    at,
                    run,
                })
                .collect();
            let t = store.table("users").unwrap();
            for l in &lines {
                model.apply(&runs, t.row_of(&l.id).unwrap(), l);
            }
            let intake = attribute(&t, ID, &runs, &lines, Some(format!("b{b}"))).unwrap().unwrap();
            prop_assert_eq!(intake.attributed + intake.unattributed, lines.len() as u64);
            store.write_tallied("users", &intake.write).unwrap();
            // A retry is acknowledged, not counted again.
            if !intake.write.adds.is_empty() || !intake.write.tallies.is_empty() {
                prop_assert!(store.write_tallied("users", &intake.write).unwrap().duplicate);
            }
            if b % 2 == 1 {
                store.flush().unwrap();
            }
        }
        let t = store.table("users").unwrap();
        for run in [1, 2] {
            for e in Effect::ALL {
                let value = effect_value(ID, run, e);
                let rows: BTreeSet<u32> = t
                    .rows(&Expr::Value { field: EFFECTS_FIELD.into(), value: value.clone() })
                    .unwrap()
                    .into_iter()
                    .collect();
                prop_assert_eq!(&rows, &model.who.get(&value).cloned().unwrap_or_default());
            }
        }
        prop_assert_eq!(t.tallies().with_prefix(&format!("{ID}/")), model.tallies);
    }
}

#[test]
fn lines_are_checked_and_the_bad_one_is_named() {
    let good = r#"{"id": "u1", "effect": "clicked", "at": "2026-12-03T10:00:00Z"}"#;
    let ok = parse_lines(&format!("{good}\n\n{good}\n")).unwrap();
    assert_eq!(ok.len(), 2);
    assert_eq!(ok[0].effect, Effect::Clicked);
    assert_eq!(
        day_of(ok[0].at),
        segdb_engine::date::parse_iso_day("2026-12-03").unwrap()
    );
    for (bad, what) in [
        (
            r#"{"id": "u1", "effect": "bounced", "at": "2026-12-03T10:00:00Z"}"#,
            "unknown effect `bounced`",
        ),
        (
            r#"{"id": "u1", "effect": "clicked", "at": "yesterday"}"#,
            "RFC 3339",
        ),
        (
            r#"{"id": "", "effect": "clicked", "at": "2026-12-03T10:00:00Z"}"#,
            "`id` is empty",
        ),
        (r#"{"id": "u1", "effect": "clicked"}"#, "missing field `at`"),
        (
            r#"{"id": "u1", "effect": "clicked", "at": "2026-12-03T10:00:00Z", "x": 1}"#,
            "unknown field `x`",
        ),
        ("not json", "a line is"),
    ] {
        let e = parse_lines(&format!("{good}\n{good}\n{bad}\n{good}")).unwrap_err();
        assert_eq!(e.line, 3, "{bad}");
        assert!(e.message.contains(what), "{} should say {what}", e.message);
    }
}

#[test]
fn a_line_naming_a_run_the_campaign_lacks_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = testutil::store(dir.path(), 10);
    let t = store.table("users").unwrap();
    let line = EffectLine {
        id: "u1".into(),
        effect: Effect::Opened,
        at: 9_000,
        run: Some(3),
    };
    let e = attribute(&t, ID, &runs(), &[line.clone(), line], None)
        .unwrap()
        .unwrap_err();
    assert_eq!(e.line, 1);
    assert!(
        e.message.contains("no run 3; its runs are 1, 2"),
        "{}",
        e.message
    );
}
