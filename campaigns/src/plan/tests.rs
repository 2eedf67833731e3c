//! Run planning against a naive per-user model, and the split's
//! statistics.

use std::collections::{BTreeSet, HashMap};

use proptest::prelude::*;

use super::*;

/// Rows spread so that audiences cross 65,536-row containers and 2^20-row
/// shards.
fn row_strategy() -> impl Strategy<Value = u32> {
    prop_oneof![
        0u32..200,
        65_530u32..65_545,
        (1u32 << 20) - 8..(1u32 << 20) + 8,
        (3u32 << 20)..(3u32 << 20) + 50,
    ]
}

#[derive(Debug, Clone)]
struct GenCampaign {
    priority: i32,
    kind: Kind,
    holdout: f64,
    weights: Vec<u32>,
    cap: Option<Cap>,
    own: Vec<(Day, Vec<u32>)>,
    audience: BTreeSet<u32>,
}

fn cap_strategy() -> impl Strategy<Value = Option<Cap>> {
    prop::option::of((1u32..4, 1u32..5).prop_map(|(max, days)| Cap { max, days }))
}

fn touches_strategy() -> impl Strategy<Value = Vec<(Day, Vec<u32>)>> {
    prop::collection::vec(
        (5i32..12, prop::collection::vec(row_strategy(), 0..40)),
        0..8,
    )
}

fn campaign_strategy() -> impl Strategy<Value = GenCampaign> {
    (
        -2i32..3,
        prop_oneof![4 => Just(Kind::Marketing), 1 => Just(Kind::Transactional)],
        prop_oneof![Just(0.0), Just(0.1), Just(0.3), Just(0.5)],
        prop::collection::vec(1u32..5, 1..4),
        cap_strategy(),
        touches_strategy(),
        prop::collection::btree_set(row_strategy(), 0..150),
    )
        .prop_map(
            |(priority, kind, holdout, weights, cap, own, audience)| GenCampaign {
                priority,
                kind,
                holdout,
                weights,
                cap: if kind == Kind::Marketing { cap } else { None },
                own,
                audience,
            },
        )
}

fn touches_of(adds: &[(Day, Vec<u32>)]) -> (Touches, HashMap<(Day, u32), u32>) {
    let mut t = Touches::new();
    let mut tally = HashMap::new();
    for (day, rows) in adds {
        // A row named twice in one add is one touch (a set of rows).
        let rows: RoaringBitmap = rows.iter().copied().collect();
        t.add(*day, &rows);
        for r in &rows {
            *tally.entry((*day, r)).or_insert(0) += 1;
        }
    }
    (t, tally)
}

fn in_window(tally: &HashMap<(Day, u32), u32>, row: u32, day: Day, days: u32) -> u32 {
    (day - (days as Day - 1)..=day)
        .map(|d| tally.get(&(d, row)).copied().unwrap_or(0))
        .sum()
}

/// The model's answer for one campaign.
#[derive(Debug, PartialEq)]
struct ModelRun {
    campaign: u64,
    holdout: BTreeSet<u32>,
    capped: BTreeSet<u32>,
    variants: Vec<BTreeSet<u32>>,
}

/// One user at a time: hold-out by the hash's high half, then the caps
/// (past touches in the window plus this batch's sends so far), then the
/// variant by a walk over the weights.
fn model(
    campaigns: &[GenCampaign],
    table_cap: Option<Cap>,
    table_tally: &HashMap<(Day, u32), u32>,
    day: Day,
) -> Vec<ModelRun> {
    let mut order: Vec<usize> = (0..campaigns.len()).collect();
    order.sort_by_key(|&i| (-campaigns[i].priority, i));
    let mut batch_sends: HashMap<u32, u32> = HashMap::new();
    let mut out = Vec::new();
    for i in order {
        let c = &campaigns[i];
        let id = i as u64 + 1;
        let (_, own_tally) = touches_of(&c.own);
        let mut run = ModelRun {
            campaign: id,
            holdout: BTreeSet::new(),
            capped: BTreeSet::new(),
            variants: vec![BTreeSet::new(); c.weights.len()],
        };
        let total: u64 = c.weights.iter().map(|&w| u64::from(w)).sum();
        for &row in &c.audience {
            let h = mix(id, row);
            if ((h >> 32) as f64) < c.holdout * 4_294_967_296.0 {
                run.holdout.insert(row);
                continue;
            }
            if c.kind == Kind::Marketing {
                let table_full = table_cap.is_some_and(|cap| {
                    in_window(table_tally, row, day, cap.days)
                        + batch_sends.get(&row).copied().unwrap_or(0)
                        >= cap.max
                });
                let own_full = c
                    .cap
                    .is_some_and(|cap| in_window(&own_tally, row, day, cap.days) >= cap.max);
                if table_full || own_full {
                    run.capped.insert(row);
                    continue;
                }
                *batch_sends.entry(row).or_insert(0) += 1;
            }
            let x = (u64::from(h as u32) * total) >> 32;
            let mut acc = 0;
            let mut v = 0;
            for (k, &w) in c.weights.iter().enumerate() {
                acc += u64::from(w);
                if x < acc {
                    v = k;
                    break;
                }
            }
            run.variants[v].insert(row);
        }
        out.push(run);
    }
    out
}

fn set(b: &RoaringBitmap) -> BTreeSet<u32> {
    b.iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Random campaigns with overlapping audiences, both caps and
    /// priorities plan exactly as the naive model does.
    #[test]
    fn plans_equal_a_per_user_model(
        campaigns in prop::collection::vec(campaign_strategy(), 1..6),
        table_cap in cap_strategy(),
        table_adds in touches_strategy(),
    ) {
        let day = 10;
        let (table_touches, table_tally) = touches_of(&table_adds);
        let owns: Vec<Touches> = campaigns.iter().map(|c| touches_of(&c.own).0).collect();
        let input: Vec<PlanCampaign<'_>> = campaigns
            .iter()
            .zip(&owns)
            .enumerate()
            .map(|(i, (c, own))| PlanCampaign {
                id: i as u64 + 1,
                priority: c.priority,
                kind: c.kind,
                holdout: c.holdout,
                weights: c.weights.clone(),
                cap: c.cap,
                own_touches: own,
                audience: c.audience.iter().copied().collect(),
            })
            .collect();
        let plans = plan_runs(input, table_cap, &table_touches, day);
        let expected = model(&campaigns, table_cap, &table_tally, day);
        let got: Vec<ModelRun> = plans
            .iter()
            .map(|p| ModelRun {
                campaign: p.campaign,
                holdout: set(&p.holdout),
                capped: set(&p.capped),
                variants: p.variants.iter().map(set).collect(),
            })
            .collect();
        prop_assert_eq!(got, expected);
        for p in &plans {
            // Every audience row is in exactly one group.
            let mut n = p.holdout.len() + p.capped.len();
            for v in &p.variants {
                n += v.len();
            }
            prop_assert_eq!(n, p.audience.len());
        }
    }
}

#[test]
fn a_higher_priority_campaign_takes_the_user_first() {
    // Both campaigns want rows 0..10; the cap allows one message; the
    // table has no past touches.
    let audience: RoaringBitmap = (0..10).collect();
    let none = Touches::new();
    let c = |id, priority| PlanCampaign {
        id,
        priority,
        kind: Kind::Marketing,
        holdout: 0.0,
        weights: vec![1],
        cap: None,
        own_touches: &none,
        audience: audience.clone(),
    };
    let cap = Some(Cap { max: 1, days: 7 });
    let plans = plan_runs(vec![c(1, 0), c(2, 5)], cap, &none, 100);
    assert_eq!(plans[0].campaign, 2);
    assert_eq!(plans[0].variants[0], audience);
    assert_eq!(plans[1].campaign, 1);
    assert_eq!(plans[1].capped, audience);
    assert!(plans[1].variants[0].is_empty());
    // A transactional campaign ignores the cap and adds no touch.
    let mut t = c(3, 9);
    t.kind = Kind::Transactional;
    let plans = plan_runs(vec![c(1, 0), t], cap, &none, 100);
    assert_eq!(plans[0].campaign, 3);
    assert_eq!(plans[0].variants[0], audience);
    assert_eq!(plans[1].variants[0], audience);
}

/// 100,000 users, weights 1:1:2 and a 10% hold-out: every group within 5
/// standard deviations of its expected size (deterministic: the hash is
/// fixed), the plan the same when made again, and another campaign's split
/// a different one.
#[test]
fn splits_fall_within_statistical_bounds() {
    let n = 100_000u32;
    let audience: RoaringBitmap = (0..n).map(|i| i * 37).collect();
    let none = Touches::new();
    let make = |id| PlanCampaign {
        id,
        priority: 0,
        kind: Kind::Marketing,
        holdout: 0.1,
        weights: vec![1, 1, 2],
        cap: None,
        own_touches: &none,
        audience: audience.clone(),
    };
    let plans = plan_runs(vec![make(7)], None, &none, 0);
    let p = &plans[0];
    let within = |count: u64, total: f64, share: f64| {
        let mean = total * share;
        let sigma = (total * share * (1.0 - share)).sqrt();
        assert!(
            (count as f64 - mean).abs() <= 5.0 * sigma,
            "{count} is not within 5 sigma of {mean} (sigma {sigma})"
        );
    };
    within(p.holdout.len(), f64::from(n), 0.1);
    let rest = f64::from(n) - p.holdout.len() as f64;
    within(p.variants[0].len(), rest, 0.25);
    within(p.variants[1].len(), rest, 0.25);
    within(p.variants[2].len(), rest, 0.5);
    assert_eq!(plan_runs(vec![make(7)], None, &none, 0), plans);
    let other = plan_runs(vec![make(8)], None, &none, 0);
    assert_ne!(other[0].variants, p.variants);
    // The hold-out and the variant of a row do not depend on each other:
    // the hold-out is a tenth of each variant's would-be rows too.
    for v in 0..3 {
        let would_be = (0..n)
            .map(|i| i * 37)
            .filter(|&r| pick(mix(7, r) as u32, &cumulative(&[1, 1, 2])) == v)
            .count() as f64;
        let held = p
            .holdout
            .iter()
            .filter(|&r| pick(mix(7, r) as u32, &cumulative(&[1, 1, 2])) == v)
            .count() as u64;
        within(held, would_be, 0.1);
    }
}

#[test]
fn assign_agrees_with_the_plan() {
    let audience: RoaringBitmap = (0..5000).collect();
    let none = Touches::new();
    let plans = plan_runs(
        vec![PlanCampaign {
            id: 3,
            priority: 0,
            kind: Kind::Marketing,
            holdout: 0.2,
            weights: vec![3, 1],
            cap: None,
            own_touches: &none,
            audience,
        }],
        None,
        &none,
        0,
    );
    for row in 0..5000 {
        match assign(3, row, 0.2, &[3, 1]) {
            None => assert!(plans[0].holdout.contains(row)),
            Some(v) => assert!(plans[0].variants[v].contains(row)),
        }
    }
}

/// Audiences dense enough for the split that hashes whole shards
/// (`plan/dense.rs`), with holes, partial shards and 1 to 9 variants
/// (9: the general path): every row lands where `assign` puts it, and
/// nowhere outside the audience.
#[test]
fn dense_shards_split_like_assign() {
    // Most of shard 0, a hole, all of shard 1 but a few rows, the start
    // of shard 2 (sparse), and every 3rd row of shard 3.
    let mut audience: RoaringBitmap = (0..(1u32 << 20)).filter(|r| r % 5 != 3).collect();
    audience.remove_range(70_000..90_000);
    audience.insert_range((1u32 << 20)..(2u32 << 20));
    for r in [(1u32 << 20) + 9, (2u32 << 20) - 1, 1_500_000] {
        audience.remove(r);
    }
    audience.insert_range((2u32 << 20)..(2u32 << 20) + 1000);
    audience.extend(((3u32 << 20)..(4u32 << 20)).step_by(3));
    let none = Touches::new();
    let cases: [(f64, &[u32]); 5] = [
        (0.0, &[1]),
        (0.1, &[1, 1, 2]),
        (0.5, &[7, 1]),
        (0.25, &[1, 2, 3, 4, 5, 6, 7, 8]),
        (0.3, &[1, 1, 1, 1, 1, 1, 1, 1, 1]),
    ];
    for (holdout, weights) in cases {
        let plans = plan_runs(
            vec![PlanCampaign {
                id: 11,
                priority: 0,
                kind: Kind::Transactional,
                holdout,
                weights: weights.to_vec(),
                cap: None,
                own_touches: &none,
                audience: audience.clone(),
            }],
            None,
            &none,
            0,
        );
        let p = &plans[0];
        let mut want_hold = RoaringBitmap::new();
        let mut want = vec![RoaringBitmap::new(); weights.len()];
        for row in &audience {
            match assign(11, row, holdout, weights) {
                None => want_hold.insert(row),
                Some(v) => want[v].insert(row),
            };
        }
        // Compared as rows: equal bitmaps may hold a container in two
        // representations (array or bitmap), which `==` tells apart.
        let rows = |b: &RoaringBitmap| b.iter().collect::<Vec<u32>>();
        assert!(
            rows(&p.holdout) == rows(&want_hold),
            "hold-out, weights {weights:?}"
        );
        for (v, (got, want)) in p.variants.iter().zip(&want).enumerate() {
            assert!(rows(got) == rows(want), "variant {v}, weights {weights:?}");
        }
    }
}

/// The variant bounds are exactly where `pick` changes its answer.
#[test]
fn dense_bounds_agree_with_pick() {
    for weights in [
        &[1u32][..],
        &[1, 1, 2],
        &[3, 1],
        &[1, 2, 3, 4, 5, 6, 7, 8],
        &[1, 0, 2],
    ] {
        let c = cumulative(weights);
        let bounds = dense::bounds(&c);
        let mut draws: Vec<u32> = vec![0, 1, u32::MAX, u32::MAX - 1];
        for &b in &bounds {
            let b = b as u32;
            draws.extend([b.wrapping_sub(1), b, b.wrapping_add(1)]);
        }
        for draw in draws {
            let by_bounds = bounds.iter().filter(|&&b| u64::from(draw) >= b).count();
            assert_eq!(
                by_bounds,
                pick(draw, &c),
                "draw {draw}, weights {weights:?}"
            );
        }
    }
}
