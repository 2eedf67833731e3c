//! Evaluation of a plan on one chunk (65,536 rows) of one shard, on dense
//! words, with every intermediate in cache. AND passes its running set down
//! as the universe of its operands and stops once it is empty; OR is a
//! union; NOT is the universe minus its operand.

use segdb_storage_format::bitmap::{Container, RoaringView};
use segdb_storage_format::dense::{self, Words, WORDS};

use super::plan::Node;
use super::shard::{EventDay, IntCtx, ShardCtx};
use crate::expr::CmpOp;

/// Reusable buffers of one worker thread.
#[derive(Default)]
pub(crate) struct Scratch {
    pool: Vec<Box<Words>>,
    counts: Vec<u32>,
    /// Saturating per-row counters, all zero between uses.
    counts8: Vec<u8>,
    /// Rows whose `counts8` entry is not zero.
    touched: Vec<u16>,
}

impl Scratch {
    pub fn take(&mut self) -> Box<Words> {
        self.pool.pop().unwrap_or_else(|| Box::new([0u64; WORDS]))
    }

    pub fn give(&mut self, b: Box<Words>) {
        self.pool.push(b);
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// Runs `f` with this thread's scratch buffers.
pub(crate) fn with_scratch<T>(f: impl FnOnce(&mut Scratch) -> T) -> T {
    SCRATCH.with(|s| f(&mut s.borrow_mut()))
}

fn container<'a>(v: &Option<RoaringView<'a>>, key: u16) -> Option<Container<'a>> {
    v.as_ref().and_then(|v| v.container(key))
}

/// The stored bitmap a `Leaf` or `Snapshot` node reads (`&None` for any
/// other node).
fn view<'c, 'a>(n: &Node, ctx: &'c ShardCtx<'a>) -> &'c Option<RoaringView<'a>> {
    const NONE: &Option<RoaringView<'static>> = &None;
    match n {
        Node::Leaf(i) => &ctx.leaves[*i],
        Node::Snapshot(i) => &ctx.snapshots[*i],
        _ => NONE,
    }
}

/// `out = bitmap ∩ universe` for chunk `key`.
fn stored(v: &Option<RoaringView<'_>>, key: u16, universe: &Words, out: &mut Words) {
    match container(v, key) {
        Some(c) => {
            out.copy_from_slice(universe);
            dense::and_with(out, c);
        }
        None => out.fill(0),
    }
}

/// `out = node ∩ universe` for chunk `key` of the shard.
pub(crate) fn eval(
    n: &Node,
    ctx: &ShardCtx<'_>,
    key: u16,
    universe: &Words,
    out: &mut Words,
    s: &mut Scratch,
) {
    match n {
        Node::All => out.copy_from_slice(universe),
        Node::Nothing => out.fill(0),
        Node::Leaf(i) => stored(&ctx.leaves[*i], key, universe, out),
        Node::Snapshot(i) => stored(&ctx.snapshots[*i], key, universe, out),
        Node::And(xs) => {
            out.copy_from_slice(universe);
            for x in xs {
                if dense::is_empty(out) {
                    return;
                }
                match x {
                    Node::Leaf(_) | Node::Snapshot(_) => match container(view(x, ctx), key) {
                        Some(c) => dense::and_with(out, c),
                        None => out.fill(0),
                    },
                    Node::Not(inner) => match inner.as_ref() {
                        leaf @ (Node::Leaf(_) | Node::Snapshot(_)) => {
                            if let Some(c) = container(view(leaf, ctx), key) {
                                dense::andnot_with(out, c);
                            }
                        }
                        inner => {
                            let mut tmp = s.take();
                            eval(inner, ctx, key, out, &mut tmp, s);
                            dense::andnot(out, &tmp);
                            s.give(tmp);
                        }
                    },
                    x => {
                        let mut tmp = s.take();
                        eval(x, ctx, key, out, &mut tmp, s);
                        out.copy_from_slice(&tmp[..]);
                        s.give(tmp);
                    }
                }
            }
        }
        Node::Or(xs) => {
            out.fill(0);
            let mut tmp: Option<Box<Words>> = None;
            for x in xs {
                match x {
                    Node::Leaf(_) | Node::Snapshot(_) => {
                        if let Some(c) = container(view(x, ctx), key) {
                            dense::or_with(out, c);
                        }
                    }
                    x => {
                        let t = tmp.get_or_insert_with(|| s.take());
                        eval(x, ctx, key, universe, t, s);
                        dense::or(out, t);
                    }
                }
            }
            if let Some(t) = tmp {
                s.give(t);
            }
            dense::and(out, universe);
        }
        Node::Not(x) => {
            let mut tmp = s.take();
            eval(x, ctx, key, universe, &mut tmp, s);
            out.copy_from_slice(universe);
            dense::andnot(out, &tmp);
            s.give(tmp);
        }
        Node::IntRange { field, lo, hi } => match ctx.ints.get(field) {
            Some(int) => int_range(int, key, *lo, *hi, universe, out, s),
            None => out.fill(0),
        },
        Node::Event {
            field,
            first,
            last,
            op,
            n,
        } => match ctx.events.get(&(*field, *first, *last)) {
            Some(days) => event_count(days, key, *op, *n, universe, out, s),
            None => event_count(&[], key, *op, *n, universe, out, s),
        },
        Node::Rows(rows) => {
            out.fill(0);
            let base = (ctx.shard << 20) | (u32::from(key) << 16);
            let start = rows.partition_point(|&r| r < base);
            for &r in rows[start..].iter().take_while(|&&r| r < base + 65_536) {
                let v = (r - base) as usize;
                out[v / 64] |= 1 << (v % 64);
            }
            dense::and(out, universe);
        }
    }
}

/// Loads a slice's container (or zeros) into `buf`.
fn load_slice(v: &Option<RoaringView<'_>>, key: u16, buf: &mut Words) {
    match container(v, key) {
        Some(c) => dense::load(buf, c),
        None => buf.fill(0),
    }
}

/// Rows of `int` whose value lies in `lo..=hi`.
pub(crate) fn int_range(
    int: &IntCtx<'_>,
    key: u16,
    lo: i64,
    hi: i64,
    universe: &Words,
    out: &mut Words,
    s: &mut Scratch,
) {
    let (Some(meta), Some(nn)) = (int.meta, container(&int.not_null, key)) else {
        out.fill(0);
        return;
    };
    let max_u: u128 = if meta.bits == 64 {
        u128::from(u64::MAX)
    } else {
        (1u128 << meta.bits) - 1
    };
    let lo_u = (i128::from(lo) - i128::from(meta.base)).max(0);
    let hi_u = i128::from(hi) - i128::from(meta.base);
    if hi_u < 0 || lo_u > hi_u || lo_u as u128 > max_u {
        out.fill(0);
        return;
    }
    let hi_u = (hi_u as u128).min(max_u) as u64;
    let lo_u = lo_u as u64;
    out.copy_from_slice(universe);
    dense::and_with(out, nn);
    if dense::is_empty(out) {
        return;
    }
    let need_hi = u128::from(hi_u) < max_u;
    let need_lo = lo_u > 0;
    if !need_hi && !need_lo {
        return;
    }
    // O'Neil & Quass: walk the slices from the most significant bit, keeping
    // the rows equal to the constant's prefix so far and those already
    // known greater (for the low bound) or less (for the high bound).
    let mut slice = s.take();
    let mut eq_hi = s.take();
    let mut lt_hi = s.take();
    let mut eq_lo = s.take();
    let mut gt_lo = s.take();
    eq_hi.copy_from_slice(&out[..]);
    eq_lo.copy_from_slice(&out[..]);
    lt_hi.fill(0);
    gt_lo.fill(0);
    for j in (0..meta.bits as usize).rev() {
        load_slice(&int.slices[j], key, &mut slice);
        if need_hi {
            if hi_u >> j & 1 == 1 {
                for w in 0..WORDS {
                    lt_hi[w] |= eq_hi[w] & !slice[w];
                    eq_hi[w] &= slice[w];
                }
            } else {
                for w in 0..WORDS {
                    eq_hi[w] &= !slice[w];
                }
            }
        }
        if need_lo {
            if lo_u >> j & 1 == 1 {
                for w in 0..WORDS {
                    eq_lo[w] &= slice[w];
                }
            } else {
                for w in 0..WORDS {
                    gt_lo[w] |= eq_lo[w] & slice[w];
                    eq_lo[w] &= !slice[w];
                }
            }
        }
    }
    for w in 0..WORDS {
        let mut m = out[w];
        if need_hi {
            m &= lt_hi[w] | eq_hi[w];
        }
        if need_lo {
            m &= gt_lo[w] | eq_lo[w];
        }
        out[w] = m;
    }
    for b in [slice, eq_hi, lt_hi, eq_lo, gt_lo] {
        s.give(b);
    }
}

/// Rows whose summed count over `days` satisfies `op n` (0 for rows
/// without events).
fn event_count(
    days: &[EventDay<'_>],
    key: u16,
    op: CmpOp,
    n: i64,
    universe: &Words,
    out: &mut Words,
    s: &mut Scratch,
) {
    let zero_holds = op.holds(0, n);
    // Whether every positive count satisfies the comparison, or none does.
    let positive_all = match op {
        CmpOp::Gt => n <= 0,
        CmpOp::Ge => n <= 1,
        CmpOp::Ne => n <= 0,
        _ => false,
    };
    let positive_none = match op {
        CmpOp::Lt => n <= 1,
        CmpOp::Le => n <= 0,
        CmpOp::Eq => n <= 0,
        _ => false,
    };
    if !(positive_all || positive_none || zero_holds) && (0..255).contains(&n) {
        // Only rows with events can match, and counts saturating at 255
        // compare with n < 255 as the true sums do.
        return event_count_small(days, key, op, n, universe, out, s);
    }
    let mut union = s.take();
    union.fill(0);
    for d in days {
        if let Some(c) = container(&d.active, key) {
            dense::or_with(&mut union, c);
        }
    }
    if positive_all || positive_none {
        out.copy_from_slice(universe);
        if positive_all && !zero_holds {
            dense::and(out, &union);
        } else if positive_none && zero_holds {
            dense::andnot(out, &union);
        } else if positive_none && !zero_holds {
            out.fill(0);
        }
        s.give(union);
        return;
    }
    // General case: add each day's count into per-row counters, for the
    // rows of the universe only (an AND passes its running set down).
    dense::and(&mut union, universe);
    if s.counts.len() != 65_536 {
        s.counts = vec![0u32; 65_536];
    }
    // A fixed-size array indexed by u16: no bounds checks, no reloads.
    let counts: &mut [u32; 65_536] = match (&mut s.counts[..]).try_into() {
        Ok(c) => c,
        Err(_) => unreachable!("counts has 65,536 entries"),
    };
    for d in days {
        for (j, v) in d.slices.iter().enumerate() {
            if let Some(c) = container(v, key) {
                let add = 1u32.checked_shl(j as u32).unwrap_or(u32::MAX);
                add_masked(counts, &union, c, add);
            }
        }
    }
    if zero_holds {
        out.copy_from_slice(universe);
        dense::andnot(out, &union);
    } else {
        out.fill(0);
    }
    dense::for_each_set(&union, |r| {
        let x = &mut counts[usize::from(r)];
        if op.holds(i64::from(*x), n) {
            out[usize::from(r) / 64] |= 1 << (r % 64);
        }
        *x = 0;
    });
    dense::and(out, universe);
    s.give(union);
}

/// `event_count` when zero does not satisfy `op n` and `0 <= n < 255`: adds
/// the day slices of the universe's rows into saturating `u8` counters,
/// remembering which rows it touched; never builds the union of days.
fn event_count_small(
    days: &[EventDay<'_>],
    key: u16,
    op: CmpOp,
    n: i64,
    universe: &Words,
    out: &mut Words,
    s: &mut Scratch,
) {
    if s.counts8.len() != 65_536 {
        s.counts8 = vec![0u8; 65_536];
    }
    let counts: &mut [u8; 65_536] = match (&mut s.counts8[..]).try_into() {
        Ok(c) => c,
        Err(_) => unreachable!("counts8 has 65,536 entries"),
    };
    let touched = &mut s.touched;
    // The containers to add, with their weights; arrays are walked a
    // quarter of the chunk at a time so that the counters they hit (16 KiB)
    // stay in the L1 cache.
    let mut arrays: Vec<(&[u8], u8, usize)> = Vec::new();
    for d in days {
        for (j, v) in d.slices.iter().enumerate() {
            let Some(c) = container(v, key) else { continue };
            let add = if j < 8 { 1u8 << j } else { u8::MAX };
            match c {
                Container::Array(b) => arrays.push((b, add, 0)),
                c => c.for_each(|r| {
                    if universe[usize::from(r >> 6)] & (1 << (r & 63)) != 0 {
                        let x = counts[usize::from(r)];
                        if x == 0 {
                            touched.push(r);
                        }
                        counts[usize::from(r)] = x.saturating_add(add);
                    }
                }),
            }
        }
    }
    for quarter in 1..=4u32 {
        let end = quarter << 14;
        for (b, add, pos) in arrays.iter_mut() {
            // The entries of this quarter: up to the first value >= end.
            let rest = &b[*pos * 2..];
            let (mut lo, mut hi) = (0, rest.len() / 2);
            while lo < hi {
                let mid = (lo + hi) / 2;
                if u32::from(u16::from_le_bytes([rest[2 * mid], rest[2 * mid + 1]])) < end {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            *pos += lo;
            let add = *add;
            for v in rest[..2 * lo].chunks_exact(2) {
                let r = u16::from_le_bytes([v[0], v[1]]);
                // Whether the row is in the universe is data, not a jump
                // (it is unpredictable); a first touch is rare.
                let inside = ((universe[usize::from(r >> 6)] >> (r & 63)) & 1) as u8;
                let x = counts[usize::from(r)];
                if (x == 0) & (inside != 0) {
                    touched.push(r);
                }
                counts[usize::from(r)] = x.saturating_add(add & inside.wrapping_neg());
            }
        }
    }
    out.fill(0);
    for &r in touched.iter() {
        let x = &mut counts[usize::from(r)];
        if op.holds(i64::from(*x), n) {
            out[usize::from(r >> 6)] |= 1 << (r & 63);
        }
        *x = 0;
    }
    touched.clear();
}

/// `counts[r] += add` for every value `r` of `c` that is set in `mask`.
#[inline]
fn add_masked(counts: &mut [u32; 65_536], mask: &Words, c: Container<'_>, add: u32) {
    let mut one = |r: u16| {
        let bit = (mask[usize::from(r >> 6)] >> (r & 63)) as u32 & 1;
        let x = &mut counts[usize::from(r)];
        *x = x.saturating_add(add & bit.wrapping_neg());
    };
    match c {
        Container::Array(b) => {
            for v in b.chunks_exact(2) {
                one(u16::from_le_bytes([v[0], v[1]]));
            }
        }
        c => c.for_each(one),
    }
}
