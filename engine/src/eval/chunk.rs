//! Evaluation of a plan on one chunk (65,536 rows) of one shard, on dense
//! words, with every intermediate in cache. AND passes its running set down
//! as the universe of its operands and stops once it is empty; OR is a
//! union; NOT is the universe minus its operand.

use segdb_storage_format::bitmap::{Container, RoaringView};
use segdb_storage_format::dense::{self, Words, WORDS};

use super::shard::{EventDay, IntCtx, ShardCtx};
use crate::expr::CmpOp;
use crate::plan::Node;

/// Reusable buffers of one worker thread.
#[derive(Default)]
pub(crate) struct Scratch {
    pool: Vec<Box<Words>>,
    /// Saturating per-row counters of `event_count`, all zero between uses.
    counts: Vec<u32>,
    /// The same, 64 bits wide, for comparisons with `n >= 2^32 - 1`.
    counts64: Vec<u64>,
    /// Saturating per-row counters, all zero between uses.
    counts8: Vec<u8>,
    /// Rows whose `counts8` entry is not zero, each once (65,537 entries:
    /// every row, and one more slot for a write that is not kept).
    touched: Vec<u16>,
    /// The universe's rows of one container (room for all 65,536 rows).
    buf: Option<Box<[u16; 65_536]>>,
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

/// The bitmap container of chunk `key` of `n`, if `n` is a stored bitmap
/// and its container there is a bitmap.
fn stored_bitmap<'a>(
    n: Option<&Node>,
    ctx: &ShardCtx<'a>,
    key: u16,
) -> Option<&'a [u8; dense::WORDS * 8]> {
    match n? {
        x @ (Node::Leaf(_) | Node::Snapshot(_)) => match container(view(x, ctx), key)? {
            Container::Bitmap(b) => Some(dense::bitmap_bytes(b)),
            _ => None,
        },
        _ => None,
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
        Node::And(xs) => eval_and(xs, ctx, key, universe, out, s),
        Node::Or(xs) => {
            // A first stored child is loaded (one pass instead of a clear
            // and an OR), with the second in the same pass if both are
            // bitmaps.
            let first_stored = matches!(xs.first(), Some(Node::Leaf(_) | Node::Snapshot(_)));
            let mut done = usize::from(first_stored);
            match xs.first() {
                Some(x) if first_stored => match container(view(x, ctx), key) {
                    Some(Container::Bitmap(a)) => match stored_bitmap(xs.get(1), ctx, key) {
                        Some(b) => {
                            dense::load_or_bitmaps(out, dense::bitmap_bytes(a), b);
                            done = 2;
                        }
                        None => dense::load(out, Container::Bitmap(a)),
                    },
                    Some(c) => dense::load(out, c),
                    None => out.fill(0),
                },
                _ => out.fill(0),
            }
            let mut tmp: Option<Box<Words>> = None;
            for x in &xs[done..] {
                if crate::cancel::stopped() {
                    break;
                }
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
        Node::Rows(rows) => sorted_rows(rows, ctx.shard, key, universe, out),
        Node::Set(rows, _) => sorted_rows(rows, ctx.shard, key, universe, out),
        Node::Cached(rows) => match rows.chunks.get(&(ctx.shard, key)) {
            Some(w) => {
                out.copy_from_slice(&w[..]);
                dense::and(out, universe);
            }
            None => out.fill(0),
        },
    }
}

/// `out = universe ∩ every node of xs` (an AND's children).
fn eval_and(
    xs: &[Node],
    ctx: &ShardCtx<'_>,
    key: u16,
    universe: &Words,
    out: &mut Words,
    s: &mut Scratch,
) {
    out.copy_from_slice(universe);
    let mut i = 0;
    while let Some(x) = xs.get(i) {
        i += 1;
        if dense::is_empty(out) || crate::cancel::stopped() {
            return;
        }
        match x {
            Node::Leaf(_) | Node::Snapshot(_) => match container(view(x, ctx), key) {
                // Two bitmaps in a row are applied in one pass.
                Some(Container::Bitmap(a)) => match stored_bitmap(xs.get(i), ctx, key) {
                    Some(b) => {
                        dense::and_with_bitmaps(out, dense::bitmap_bytes(a), b);
                        i += 1;
                    }
                    None => dense::and_with(out, Container::Bitmap(a)),
                },
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
            Node::Or(ys)
                if ys
                    .iter()
                    .all(|y| matches!(y, Node::Leaf(_) | Node::Snapshot(_))) =>
            {
                and_with_stored_union(ys, ctx, key, out, s);
            }
            x => {
                let mut tmp = s.take();
                eval(x, ctx, key, out, &mut tmp, s);
                out.copy_from_slice(&tmp[..]);
                s.give(tmp);
            }
        }
    }
}

/// `out &= the union of the stored bitmaps ys` (an OR of them in an AND):
/// the containers but two bitmaps are gathered in a scratch chunk, and
/// one pass ANDs `out` with it and the two bitmaps. Evaluating the OR
/// first (loaded, ORed, cut to `out`, copied back) took four passes more.
fn and_with_stored_union(
    ys: &[Node],
    ctx: &ShardCtx<'_>,
    key: u16,
    out: &mut Words,
    s: &mut Scratch,
) {
    let mut bitmaps: [Option<&[u8; dense::WORDS * 8]>; 2] = [None, None];
    let mut rest = s.take();
    let mut loaded = false;
    for y in ys {
        match container(view(y, ctx), key) {
            None => {}
            Some(Container::Bitmap(b)) if bitmaps[1].is_none() => {
                let slot = usize::from(bitmaps[0].is_some());
                bitmaps[slot] = Some(dense::bitmap_bytes(b));
            }
            Some(c) if !loaded => {
                dense::load(&mut rest, c);
                loaded = true;
            }
            Some(c) => dense::or_with(&mut rest, c),
        }
    }
    if !loaded {
        rest.fill(0);
    }
    match bitmaps {
        [Some(a), Some(b)] => dense::and_with_union(out, &rest, a, b),
        [Some(a), None] => dense::and_with_union(out, &rest, a, a),
        _ => dense::and(out, &rest),
    }
    s.give(rest);
}

/// The number of rows of `n ∩ universe` in chunk `key`: [`eval`] and a
/// count, but a stored bitmap at the root, or as the last child of an AND
/// (negated or not), is counted against the rest in place instead of
/// being applied first (one pass over the chunk fewer; a COUNT of one
/// stored bitmap writes nothing).
pub(crate) fn count(
    n: &Node,
    ctx: &ShardCtx<'_>,
    key: u16,
    universe: &Words,
    out: &mut Words,
    s: &mut Scratch,
) -> u64 {
    let stored_count = |x: &Node, within: &Words| {
        container(view(x, ctx), key).map_or(0, |c| dense::and_count_with(within, c))
    };
    match n {
        Node::Leaf(_) | Node::Snapshot(_) => stored_count(n, universe),
        Node::And(xs) => match xs.split_last() {
            Some((last @ (Node::Leaf(_) | Node::Snapshot(_)), rest)) => {
                eval_and(rest, ctx, key, universe, out, s);
                stored_count(last, out)
            }
            Some((Node::Not(inner), rest))
                if matches!(inner.as_ref(), Node::Leaf(_) | Node::Snapshot(_)) =>
            {
                eval_and(rest, ctx, key, universe, out, s);
                dense::count(out) - stored_count(inner, out)
            }
            _ => {
                eval_and(xs, ctx, key, universe, out, s);
                dense::count(out)
            }
        },
        _ => {
            eval(n, ctx, key, universe, out, s);
            dense::count(out)
        }
    }
}

/// The rows of a sorted, distinct id list that fall in chunk `key` of
/// shard `shard`, within `universe`.
fn sorted_rows(rows: &[u32], shard: u32, key: u16, universe: &Words, out: &mut Words) {
    out.fill(0);
    let base = (shard << 20) | (u32::from(key) << 16);
    let start = rows.partition_point(|&r| r < base);
    for &r in rows[start..].iter().take_while(|&&r| r < base + 65_536) {
        let v = (r - base) as usize;
        out[v / 64] |= 1 << (v % 64);
    }
    dense::and(out, universe);
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
    if u128::from(hi_u) >= max_u && lo_u == 0 {
        return;
    }
    // O'Neil & Quass, block by block in the kernel.
    with_slices(int, meta.bits, key, s, |slices| {
        dense::bsi_range(out, slices, lo_u, hi_u)
    });
}

/// Runs `f` with chunk `key`'s bit slices of an INT field (`bits` of
/// them, least significant first): bitmap containers read in place, the
/// others loaded into scratch words.
pub(crate) fn with_slices<T>(
    int: &IntCtx<'_>,
    bits: u32,
    key: u16,
    s: &mut Scratch,
    f: impl FnOnce(&[dense::Slice<'_>]) -> T,
) -> T {
    let bits = (bits as usize).min(int.slices.len());
    let mut loaded: Vec<Box<Words>> = Vec::new();
    for v in &int.slices[..bits] {
        match container(v, key) {
            Some(Container::Bitmap(_)) | None => {}
            Some(c) => {
                let mut w = s.take();
                dense::load(&mut w, c);
                loaded.push(w);
            }
        }
    }
    let mut next_loaded = loaded.iter();
    let slices: Vec<dense::Slice<'_>> = int.slices[..bits]
        .iter()
        .map(|v| match container(v, key) {
            Some(Container::Bitmap(b)) => dense::Slice::Bitmap(dense::bitmap_bytes(b)),
            Some(_) => next_loaded
                .next()
                .map_or(dense::Slice::Zero, |w| dense::Slice::Words(w)),
            None => dense::Slice::Zero,
        })
        .collect();
    let answer = f(&slices);
    drop(slices);
    for w in loaded {
        s.give(w);
    }
    answer
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
    if zero_holds {
        out.copy_from_slice(universe);
        dense::andnot(out, &union);
    } else {
        out.fill(0);
    }
    // Saturating 32-bit counters compare with `n < 2^32 - 1` as the true
    // sums do (a saturated counter and its true sum are both above n).
    // Larger constants need 64-bit counters: a day's count may reach
    // 2^32 - 1 (`MAX_DAY_COUNT`), so a window's sum may pass 2^32.
    if n < i64::from(u32::MAX) {
        add_and_compare(&mut s.counts, days, key, &union, op, n, out);
    } else {
        add_and_compare(&mut s.counts64, days, key, &union, op, n, out);
    }
    dense::and(out, universe);
    s.give(union);
}

/// A per-row counter of `event_count`'s general case, saturating.
trait Counter: Copy + Default {
    /// `2^j`, or the largest counter when that does not fit.
    fn pow2(j: usize) -> Self;
    /// `self + add` if `bit` is 1, else `self` (saturating, branch free).
    fn add_if(self, add: Self, bit: u32) -> Self;
    /// The counter as an i64 (`i64::MAX` past it).
    fn to_i64(self) -> i64;
}

impl Counter for u32 {
    fn pow2(j: usize) -> u32 {
        u32::try_from(j)
            .ok()
            .and_then(|j| 1u32.checked_shl(j))
            .unwrap_or(u32::MAX)
    }
    #[inline]
    fn add_if(self, add: u32, bit: u32) -> u32 {
        self.saturating_add(add & bit.wrapping_neg())
    }
    fn to_i64(self) -> i64 {
        i64::from(self)
    }
}

impl Counter for u64 {
    fn pow2(j: usize) -> u64 {
        u32::try_from(j)
            .ok()
            .and_then(|j| 1u64.checked_shl(j))
            .unwrap_or(u64::MAX)
    }
    #[inline]
    fn add_if(self, add: u64, bit: u32) -> u64 {
        self.saturating_add(add & u64::from(bit).wrapping_neg())
    }
    fn to_i64(self) -> i64 {
        i64::try_from(self).unwrap_or(i64::MAX)
    }
}

/// Adds each day's count of the rows of `union` into `counts` (all zero
/// before and after), and sets in `out` the rows whose sum satisfies `op n`.
fn add_and_compare<C: Counter>(
    counts: &mut Vec<C>,
    days: &[EventDay<'_>],
    key: u16,
    union: &Words,
    op: CmpOp,
    n: i64,
    out: &mut Words,
) {
    if counts.len() != 65_536 {
        *counts = vec![C::default(); 65_536];
    }
    // A fixed-size array indexed by u16: no bounds checks, no reloads.
    let counts: &mut [C; 65_536] = match (&mut counts[..]).try_into() {
        Ok(c) => c,
        Err(_) => unreachable!("counts has 65,536 entries"),
    };
    for d in days {
        for (j, v) in d.slices.iter().enumerate() {
            if let Some(c) = container(v, key) {
                add_masked(counts, union, c, C::pow2(j));
            }
        }
    }
    dense::for_each_set(union, |r| {
        let x = &mut counts[usize::from(r)];
        if op.holds(x.to_i64(), n) {
            out[usize::from(r) / 64] |= 1 << (r % 64);
        }
        *x = C::default();
    });
}

/// `event_count` when zero does not satisfy `op n` and `0 <= n < 255`:
/// only rows with events can match, and only the universe's rows matter.
/// Each day slice's rows are first filtered by the universe (an array
/// container, the common case, with a branch-free bit test per value), so
/// that only the universe's rows reach the counters: for W3 (`city = 'c000'`,
/// one row in six) that is a sixth of the slices' values. The survivors'
/// weights are added into saturating `u8` counters (exact for comparisons
/// with `n < 255`), each row remembered once on its first touch; then each
/// touched row's counter is compared and reset. Memory is fixed whatever
/// the window's length.
/// When every count from some `lo` up satisfies the comparison (`>`, `>=`),
/// a slice worth at least `lo` decides its rows at once, without counters.
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
    // The counts that satisfy `op n` form the interval lo..=hi (zero does
    // not satisfy it, and counts saturate above n).
    let (lo, hi) = match op {
        CmpOp::Gt => (n + 1, 255),
        CmpOp::Ge => (n, 255),
        _ => (n, n),
    };
    debug_assert!((0..=255).all(|x| op.holds(x, n) == (lo..=hi).contains(&x)));
    let (lo, width) = (lo as u8, (hi - lo) as u8);
    if s.touched.len() != 65_537 {
        s.touched = vec![0u16; 65_537];
    }
    let touched = &mut s.touched[..];
    let mut t = 0usize;
    let buf = s.buf.get_or_insert_with(|| {
        vec![0u16; 65_536]
            .into_boxed_slice()
            .try_into()
            .unwrap_or_else(|_| unreachable!("65,536 entries"))
    });
    out.fill(0);
    // Whether a deciding container that is not an array was added to `out`
    // whole (so that `out` must be cut to the universe at the end).
    let mut whole = false;
    for d in days {
        for (j, v) in d.slices.iter().enumerate() {
            let Some(c) = container(v, key) else { continue };
            // A slice worth at least `lo` decides its rows when every count
            // from `lo` up satisfies the comparison (counts only grow).
            let decides = hi == 255 && (j >= 8 || 1u32 << j >= u32::from(lo));
            let k = match c {
                Container::Array(b) => dense::filter_array(b, universe, buf),
                c if decides => {
                    dense::or_with(out, c);
                    whole = true;
                    continue;
                }
                c => universe_rows(c, universe, buf),
            };
            if decides {
                for &r in &buf[..k] {
                    out[usize::from(r >> 6)] |= 1 << (r & 63);
                }
                continue;
            }
            let add = if j < 8 { 1u8 << j } else { u8::MAX };
            for &r in &buf[..k] {
                let x = &mut counts[usize::from(r)];
                // Remembered on its first touch only (a write that is kept
                // or overwritten, not a jump): at most 65,536 rows.
                touched[t] = r;
                t += usize::from(*x == 0);
                *x = x.saturating_add(add);
            }
        }
    }
    for &r in &touched[..t] {
        let x = &mut counts[usize::from(r)];
        let hit = u64::from(x.wrapping_sub(lo) <= width);
        out[usize::from(r >> 6)] |= hit << (r & 63);
        *x = 0;
    }
    if whole {
        dense::and(out, universe);
    }
}

/// Writes the values of `c` that are set in `universe` to the start of
/// `buf` and returns how many (for bitmap and run containers; arrays go
/// through [`dense::filter_array`]).
fn universe_rows(c: Container<'_>, universe: &Words, buf: &mut [u16; 65_536]) -> usize {
    let mut k = 0usize;
    match c {
        Container::Bitmap(b) => {
            for (w, word) in b.chunks_exact(8).enumerate() {
                let mut x = u64::from_le_bytes([
                    word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7],
                ]) & universe[w];
                while x != 0 {
                    buf[k] = (w as u32 * 64 + x.trailing_zeros()) as u16;
                    k += 1;
                    x &= x - 1;
                }
            }
        }
        Container::Array(_) | Container::Run(_) => c.for_each(|r| {
            if universe[usize::from(r >> 6)] >> (r & 63) & 1 != 0 {
                buf[k] = r;
                k += 1;
            }
        }),
    }
    k
}

/// `counts[r] += add` for every value `r` of `c` that is set in `mask`.
#[inline]
fn add_masked<C: Counter>(counts: &mut [C; 65_536], mask: &Words, c: Container<'_>, add: C) {
    let mut one = |r: u16| {
        let bit = (mask[usize::from(r >> 6)] >> (r & 63)) as u32 & 1;
        let x = &mut counts[usize::from(r)];
        *x = x.add_if(add, bit);
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

#[cfg(test)]
#[path = "chunk_tests.rs"]
mod tests;
