//! `event_count` on one chunk against a per-row sum, with day slices of
//! every container kind (arrays, bitmaps, runs), counts whose sums
//! overflow small counters, and universes from empty to full; and an OR
//! of stored bitmaps against the union of their rows.

use proptest::prelude::*;
use segdb_storage_format::bitmap::{RoaringView, RoaringWriter};
use segdb_storage_format::dense::{self, Words, WORDS};

use super::{eval, event_count, Scratch};
use crate::eval::shard::{EventDay, ShardCtx};
use crate::expr::CmpOp;
use crate::plan::Node;

/// A day's active bitmap and bit slices, serialized.
type DayBlocks = (Option<Vec<u8>>, Vec<Option<Vec<u8>>>);

/// The chunk the tests evaluate (not 0, so that key lookups matter).
const KEY: u16 = 3;

/// A small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One day's count per row of the chunk, drawn by `mode`: 0 nothing,
/// 1 sparse (array containers), 2 dense (bitmap containers), 3 long
/// ranges of equal counts (run containers), 4 sparse with large counts,
/// 5 every row (so that every row of the chunk is counted).
fn day_counts(rng: &mut Rng, mode: u8) -> Vec<u64> {
    let mut c = vec![0u64; 65_536];
    match mode {
        1 => {
            for _ in 0..rng.below(3_000) {
                c[rng.below(65_536) as usize] = 1 + rng.below(6);
            }
        }
        2 => {
            for x in c.iter_mut() {
                if rng.below(3) == 0 {
                    *x = 1 + rng.below(15);
                }
            }
        }
        3 => {
            for _ in 0..rng.below(20) {
                let start = rng.below(65_536) as usize;
                let len = rng.below(10_000) as usize;
                let v = 1 + rng.below(12);
                for x in &mut c[start..(start + len).min(65_536)] {
                    *x = v;
                }
            }
        }
        4 => {
            for _ in 0..rng.below(2_000) {
                c[rng.below(65_536) as usize] = 1 + rng.below(2_000);
            }
        }
        5 => {
            for x in c.iter_mut() {
                *x = 1 + rng.below(3);
            }
        }
        6 => {
            // Sparse days at or near the per-day limit, 2^32 - 1: two
            // of them pass 32 bits.
            for _ in 0..rng.below(500) {
                c[rng.below(65_536) as usize] = u64::from(u32::MAX) - rng.below(3);
            }
        }
        _ => {}
    }
    c
}

/// The bitmap of the chunk's rows satisfying `f`, as stored in a part.
fn bitmap(counts: &[u64], f: impl Fn(u64) -> bool) -> Option<Vec<u8>> {
    let mut w = RoaringWriter::new();
    for (r, &c) in counts.iter().enumerate() {
        if f(c) {
            w.push((u32::from(KEY) << 16) | r as u32);
        }
    }
    (!w.is_empty()).then(|| w.finish())
}

fn view(b: &Option<Vec<u8>>) -> Option<RoaringView<'_>> {
    b.as_ref()
        .map(|b| RoaringView::new(b).expect("a valid bitmap"))
}

fn universe(rng: &mut Rng, mode: u8) -> Box<Words> {
    let mut u = Box::new([0u64; WORDS]);
    match mode {
        0 => {}
        1 => u.fill(!0),
        2 => {
            for w in u.iter_mut() {
                *w = rng.next() & rng.next();
            }
        }
        3 => {
            for _ in 0..rng.below(200) {
                let r = rng.below(65_536);
                u[(r / 64) as usize] |= 1 << (r % 64);
            }
        }
        _ => {
            let a = rng.below(65_536) as u32;
            let b = rng.below(65_536) as u32;
            dense::set_range(&mut u, a.min(b), a.max(b));
        }
    }
    u
}

fn op(i: u8) -> CmpOp {
    [
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
    ][usize::from(i % 6)]
}

/// Counts past 2^32 - 1 in a window (three days at the per-day limit)
/// compare exactly: the regression of 32-bit counters saturating.
#[test]
fn window_sums_past_32_bits_compare_exactly() {
    let day = vec![u64::from(u32::MAX); 65_536];
    let bits = 32;
    let slices: Vec<_> = (0..bits)
        .map(|j| bitmap(&day, |x| x >> j & 1 == 1))
        .collect();
    let active = bitmap(&day, |x| x > 0);
    let days: Vec<EventDay<'_>> = (0..3)
        .map(|d| EventDay {
            day: d,
            active: view(&active),
            slices: slices.iter().map(view).collect(),
        })
        .collect();
    let sum = 3 * i64::from(u32::MAX);
    let uni = Box::new([!0u64; WORDS]);
    let mut out = Box::new([0u64; WORDS]);
    let mut s = Scratch::default();
    for (op, n, want) in [
        (CmpOp::Gt, i64::from(u32::MAX), 65_536),
        (CmpOp::Gt, sum - 1, 65_536),
        (CmpOp::Gt, sum, 0),
        (CmpOp::Eq, sum, 65_536),
        (CmpOp::Ge, sum + 1, 0),
        (CmpOp::Lt, sum + 1, 65_536),
    ] {
        event_count(&days, KEY, op, n, &uni, &mut out, &mut s);
        let got: u32 = out.iter().map(|w| w.count_ones()).sum();
        assert_eq!(got, want, "count {op:?} {n}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    #[test]
    fn event_count_agrees_with_row_sums(
        seed in 1u64..u64::MAX,
        modes in prop::collection::vec(0u8..7, 0..8),
        umode in 0u8..5,
        op_i in 0u8..6,
        n in prop_oneof![
            4 => -1i64..12,
            1 => 12i64..300,
            1 => (1i64 << 32) - 4..(1i64 << 32) + 2,
            1 => 3 * ((1i64 << 32) - 1) - 4..3 * ((1i64 << 32) - 1) + 2,
        ],
    ) {
        let mut rng = Rng(seed);
        let counts: Vec<Vec<u64>> = modes.iter().map(|&m| day_counts(&mut rng, m)).collect();
        let op = op(op_i);
        // Every day's blocks: the active rows, then the bit slices.
        let blocks: Vec<DayBlocks> = counts
            .iter()
            .map(|c| {
                let bits = 64 - c.iter().max().copied().unwrap_or(0).leading_zeros();
                let slices = (0..bits).map(|j| bitmap(c, |x| x >> j & 1 == 1)).collect();
                (bitmap(c, |x| x > 0), slices)
            })
            .collect();
        let days: Vec<EventDay<'_>> = blocks
            .iter()
            .enumerate()
            .map(|(d, (active, slices))| EventDay {
                day: d as i32,
                active: view(active),
                slices: slices.iter().map(view).collect(),
            })
            .collect();
        let uni = universe(&mut rng, umode);
        let mut out = Box::new([0u64; WORDS]);
        // Dirty output words must not leak into the answer.
        out.fill(!0);
        let mut s = Scratch::default();
        for round in 0..2 {
            // The second round checks that the scratch counters were reset.
            event_count(&days, KEY, op, n, &uni, &mut out, &mut s);
            for r in 0..65_536usize {
                let sum: u64 = counts.iter().map(|c| c[r]).sum();
                let want = uni[r / 64] >> (r % 64) & 1 == 1
                    && op.holds(i128::from(sum), i128::from(n));
                let got = out[r / 64] >> (r % 64) & 1 == 1;
                prop_assert_eq!(got, want, "row {} sum {} {:?} {} round {}", r, sum, op, n, round);
            }
        }
        // A chunk the days have no container for.
        event_count(&days, KEY + 1, op, n, &uni, &mut out, &mut s);
        let zero_holds = op.holds(0, n);
        for w in 0..WORDS {
            prop_assert_eq!(out[w], if zero_holds { uni[w] } else { 0 });
        }
    }
}

/// A stored bitmap's rows in the chunk, by `mode`: 0 none (no container),
/// 1 a small array, 2 a large one, 3 a bitmap, 4 runs.
fn stored_rows(rng: &mut Rng, mode: u8) -> Vec<bool> {
    let mut rows = vec![false; 65_536];
    let mut scatter = |n: u64, rng: &mut Rng| {
        for _ in 0..n {
            rows[rng.below(65_536) as usize] = true;
        }
    };
    match mode {
        1 => scatter(1 + rng.below(500), rng),
        2 => scatter(600 + rng.below(3_400), rng),
        3 => scatter(5_000 + rng.below(40_000), rng),
        4 => {
            for _ in 0..1 + rng.below(10) {
                let start = rng.below(65_536) as usize;
                let len = rng.below(8_000) as usize;
                rows[start..(start + len).min(65_536)].fill(true);
            }
        }
        _ => {}
    }
    rows
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    /// An OR, an AND, and an AND of one with an OR of the others, of
    /// stored bitmaps of every container kind (two bitmaps in a row go in
    /// one pass), within universes from empty to full, against the union
    /// and the intersection of their rows; both kernel versions, and
    /// dirty output words.
    #[test]
    fn or_and_and_of_stored_bitmaps_agree_with_their_rows(
        seed in 1u64..u64::MAX,
        modes in prop::collection::vec(prop_oneof![1 => 0u8..5, 2 => Just(3u8)], 1..6),
        umode in 0u8..6,
        baseline in any::<bool>(),
    ) {
        let mut rng = Rng(seed);
        let rows: Vec<Vec<bool>> = modes.iter().map(|&m| stored_rows(&mut rng, m)).collect();
        let blocks: Vec<Option<Vec<u8>>> = rows
            .iter()
            .map(|r| bitmap(&r.iter().map(|&x| u64::from(x)).collect::<Vec<_>>(), |x| x == 1))
            .collect();
        let ctx = ShardCtx {
            leaves: blocks.iter().map(view).collect(),
            ..ShardCtx::default()
        };
        let uni = if umode == 5 {
            // About a fifth of the rows.
            let mut u = Box::new([0u64; WORDS]);
            for w in u.iter_mut() {
                *w = rng.next() & rng.next() & (rng.next() | rng.next());
            }
            u
        } else {
            universe(&mut rng, umode)
        };
        let leaves = || (0..rows.len()).map(Node::Leaf).collect();
        segdb_storage_format::cpu::force_baseline(baseline);
        let mut or = Box::new([!0u64; WORDS]);
        let mut and = Box::new([!0u64; WORDS]);
        // The first leaf AND the OR of the others (which is applied in one
        // pass with the first).
        let mut first_and_or = Box::new([!0u64; WORDS]);
        let mut s = Scratch::default();
        eval(&Node::Or(leaves()), &ctx, KEY, &uni, &mut or, &mut s);
        eval(&Node::And(leaves()), &ctx, KEY, &uni, &mut and, &mut s);
        let others = Node::Or((1..rows.len()).map(Node::Leaf).collect());
        let n = Node::And(vec![Node::Leaf(0), others]);
        eval(&n, &ctx, KEY, &uni, &mut first_and_or, &mut s);
        segdb_storage_format::cpu::force_baseline(false);
        for r in 0..65_536usize {
            let inside = uni[r / 64] >> (r % 64) & 1 == 1;
            let bit = |w: &Words| w[r / 64] >> (r % 64) & 1 == 1;
            prop_assert_eq!(bit(&or), inside && rows.iter().any(|x| x[r]), "OR row {}", r);
            prop_assert_eq!(bit(&and), inside && rows.iter().all(|x| x[r]), "AND row {}", r);
            let want = inside && rows[0][r] && rows[1..].iter().any(|x| x[r]);
            prop_assert_eq!(bit(&first_and_or), want, "AND-OR row {}", r);
        }
    }
}
