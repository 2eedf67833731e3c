//! Evaluation of bitmap expressions and aggregates over a table snapshot,
//! shard by shard and chunk by chunk on the rayon worker pool. Results of
//! chunks merge by addition (counts, sums, group-by tables) and
//! concatenation (row ids).

pub(crate) mod chunk;
pub(crate) mod shard;

use std::ops::ControlFlow;

use rayon::prelude::*;
use segdb_storage_format::block_file::BlockKey;
use segdb_storage_format::dense::{self, Words};
use segdb_storage_format::part::{CHUNKS_PER_SHARD, SHARD_ROWS, TAG_NOT_NULL, TAG_TRUE, TAG_VALUE};

use crate::error::{EngineError, Result};
use crate::expr::Expr;
use crate::plan::{compile_planned, Plan};
use crate::schema::FieldKind;
use crate::table::Table;
use chunk::{eval, with_scratch};
use shard::{int_ctx, resolve, ShardCtx};

/// SUM, MIN, MAX and the count of non-null values of an INT field over a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IntStats {
    /// Rows of the segment whose field is not null.
    pub count: u64,
    /// Sum of the values (exact).
    pub sum: i128,
    /// Smallest value, if any row has one.
    pub min: Option<i64>,
    /// Largest value, if any row has one.
    pub max: Option<i64>,
}

impl IntStats {
    /// The mean, if any row has a value.
    pub fn avg(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }

    pub(crate) fn merge(self, o: IntStats) -> IntStats {
        IntStats {
            count: self.count + o.count,
            sum: self.sum + o.sum,
            min: match (self.min, o.min) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            max: match (self.max, o.max) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
        }
    }
}

fn universe(table: &Table, shard: u32, key: u16, buf: &mut Words) {
    let start = u64::from(shard) * u64::from(SHARD_ROWS) + (u64::from(key) << 16);
    let n = table.num_rows.saturating_sub(start).min(65_536) as u32;
    dense::fill_prefix(buf, n);
}

impl Table {
    fn chunks_of(&self, shard: usize) -> u16 {
        let start = shard as u64 * u64::from(SHARD_ROWS);
        (self.num_rows.saturating_sub(start).div_ceil(65_536)).min(u64::from(CHUNKS_PER_SHARD))
            as u16
    }

    /// Evaluates `plan` on every chunk in parallel and folds the results:
    /// `f(ctx, chunk key, segment words)` per chunk, merged with `merge`.
    pub(crate) fn fold_chunks<T: Send>(
        &self,
        plan: &Plan,
        identity: impl Fn() -> T + Sync + Send,
        f: impl Fn(&ShardCtx<'_>, u16, &Words, &mut chunk::Scratch) -> Result<T> + Sync + Send,
        merge: impl Fn(T, T) -> T + Sync + Send,
    ) -> Result<T> {
        self.fold_universes(
            plan,
            identity,
            |ctx, key, uni, scratch| {
                let mut out = scratch.take();
                eval(&plan.root, ctx, key, uni, &mut out, scratch);
                let r = f(ctx, key, &out, scratch);
                scratch.give(out);
                r
            },
            merge,
        )
    }

    /// [`Table::fold_chunks`] where `f(ctx, chunk key, universe)` evaluates
    /// the plan itself (the universe: the chunk's rows that exist).
    fn fold_universes<T: Send>(
        &self,
        plan: &Plan,
        identity: impl Fn() -> T + Sync + Send,
        f: impl Fn(&ShardCtx<'_>, u16, &Words, &mut chunk::Scratch) -> Result<T> + Sync + Send,
        merge: impl Fn(T, T) -> T + Sync + Send,
    ) -> Result<T> {
        let cancel = crate::cancel::current();
        (0..self.num_shards())
            .into_par_iter()
            .map(|s| self.fold_shard(plan, s, cancel.as_ref(), &identity, &f, &merge))
            .try_reduce(&identity, |a, b| Ok(merge(a, b)))
    }

    /// [`Table::fold_universes`] over the chunks of shard `s` only;
    /// `cancel` is checked before each chunk.
    fn fold_shard<T: Send>(
        &self,
        plan: &Plan,
        s: usize,
        cancel: Option<&crate::cancel::Cancel>,
        identity: &(impl Fn() -> T + Sync + Send),
        f: &(impl Fn(&ShardCtx<'_>, u16, &Words, &mut chunk::Scratch) -> Result<T> + Sync + Send),
        merge: &(impl Fn(T, T) -> T + Sync + Send),
    ) -> Result<T> {
        let part = self.part(s).map(|p| p.as_ref());
        let ctx = resolve(plan, part, s as u32).map_err(|e| self.name_error(e))?;
        (0..self.chunks_of(s))
            .into_par_iter()
            .map(|key| {
                crate::cancel::test_pause(cancel);
                let Some(c) = cancel else {
                    return self.eval_chunk(&ctx, s, key, f);
                };
                c.check()?;
                // Installed on this worker too: `eval` asks between the
                // children of an AND or an OR, and gives up early (with a
                // meaningless bitmap) once it is stopped; the check after it
                // turns that into the error.
                let r = c.scope(|| self.eval_chunk(&ctx, s, key, f));
                c.check()?;
                r
            })
            .try_reduce(identity, |a, b| Ok(merge(a, b)))
            .map_err(|e| self.name_error(e))
    }

    /// Calls `f` with chunk `key` of shard `s`'s universe (its rows that
    /// exist).
    fn eval_chunk<T>(
        &self,
        ctx: &ShardCtx<'_>,
        s: usize,
        key: u16,
        f: &(impl Fn(&ShardCtx<'_>, u16, &Words, &mut chunk::Scratch) -> Result<T> + Sync + Send),
    ) -> Result<T> {
        with_scratch(|scratch| {
            let mut uni = scratch.take();
            universe(self, s as u32, key, &mut uni);
            let r = f(ctx, key, &uni, scratch);
            scratch.give(uni);
            r
        })
    }

    /// The number of rows matching `expr`. Never builds the segment's bitmap.
    pub fn count(&self, expr: &Expr) -> Result<u64> {
        let plan = compile_planned(self, expr)?;
        self.fold_universes(
            &plan,
            || 0u64,
            |ctx, key, uni, scratch| {
                let mut out = scratch.take();
                let n = chunk::count(&plan.root, ctx, key, uni, &mut out, scratch);
                scratch.give(out);
                Ok(n)
            },
            |a, b| a + b,
        )
    }

    /// The row ids matching `expr`, in increasing order.
    pub fn rows(&self, expr: &Expr) -> Result<Vec<u32>> {
        let plan = compile_planned(self, expr)?;
        self.fold_chunks(
            &plan,
            Vec::new,
            |ctx, key, w, _| {
                let base = (ctx.shard << 20) | (u32::from(key) << 16);
                let mut v = Vec::new();
                dense::push_rows(w, base, &mut v);
                Ok(v)
            },
            |mut a, b| {
                a.extend(b);
                a
            },
        )
    }

    /// Folds the rows matching `expr` a chunk at a time, chunks in
    /// parallel: `f(first_row, words)` for each chunk of 65,536 rows with
    /// a match (bit `i` of `words[w]` is row `first_row + 64 w + i`), the
    /// results joined by `merge` in row order (an associative `merge` gets
    /// them as a sequential fold would). No row is listed: a caller builds
    /// its own structure from the words (a campaign's frozen audience).
    pub fn fold_row_words<T: Send>(
        &self,
        expr: &Expr,
        identity: impl Fn() -> T + Sync + Send,
        f: impl Fn(u32, &[u64]) -> T + Sync + Send,
        merge: impl Fn(T, T) -> T + Sync + Send,
    ) -> Result<T> {
        let plan = compile_planned(self, expr)?;
        self.fold_chunks(
            &plan,
            &identity,
            |ctx, key, w, _| {
                if dense::is_empty(w) {
                    return Ok(identity());
                }
                Ok(f((ctx.shard << 20) | (u32::from(key) << 16), &w[..]))
            },
            &merge,
        )
    }

    /// The row ids matching `expr`, in increasing order, skipping `offset`
    /// and returning at most `limit`. Evaluation stops once the answer is
    /// complete.
    pub fn rows_range(&self, expr: &Expr, offset: u64, limit: Option<u64>) -> Result<Vec<u32>> {
        let end = offset.saturating_add(limit.unwrap_or(u64::MAX));
        let mut out = Vec::new();
        let mut seen = 0u64;
        self.for_each_shard_rows(expr, |rows| {
            let n = rows.len() as u64;
            let from = offset.saturating_sub(seen).min(n) as usize;
            let to = end.saturating_sub(seen).min(n) as usize;
            out.extend_from_slice(&rows[from..to.max(from)]);
            seen += n;
            Ok(if seen >= end {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            })
        })?;
        Ok(out)
    }

    /// Calls `f` with the row ids matching `expr` shard after shard (each
    /// slice in increasing order, at most 2^20 rows), until `f` breaks.
    /// Shards are evaluated in groups of at most twice the workers (the
    /// shards of a group, and the chunks of each, in parallel), so an export
    /// holds a few shards' rows at a time, whatever the segment's size.
    pub fn for_each_shard_rows(
        &self,
        expr: &Expr,
        f: impl FnMut(&[u32]) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        self.for_each_shard_rows_on(None, expr, f)
    }

    /// [`Table::for_each_shard_rows`] with the shards evaluated on `pool`
    /// (the calling thread's pool if `None`), while `f` runs on the calling
    /// thread.
    pub fn for_each_shard_rows_on(
        &self,
        pool: Option<&rayon::ThreadPool>,
        expr: &Expr,
        mut f: impl FnMut(&[u32]) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        self.for_each_group(pool, expr, Ok, |group| {
            for rows in group {
                if !rows.is_empty() && f(&rows)?.is_break() {
                    return Ok(ControlFlow::Break(()));
                }
            }
            Ok(ControlFlow::Continue(()))
        })
    }

    /// The rows of `expr` from `offset` (at most `limit`) shard after shard,
    /// each shard's page (its rows in that range, in order) turned into a
    /// `T` by `map` on `pool` (the calling thread's pool if `None`), then
    /// handed to `f` with its number of rows, in order, on the calling
    /// thread, until `f` breaks. A group of shards is evaluated, and its
    /// first [`PAGE_ROWS_AT_ONCE`] rows mapped, in one hand-over to the
    /// pool; the rest of a large group is mapped a page at a time as `f`
    /// takes them, so that few `T`s are held at once. A server's export
    /// formats its ids this way on threads already awake, and waits for its
    /// client in `f` on a thread of its own.
    pub fn for_each_shard_page<T: Send>(
        &self,
        pool: Option<&rayon::ThreadPool>,
        expr: &Expr,
        offset: u64,
        limit: Option<u64>,
        map: impl Fn(&[u32]) -> Result<T> + Sync,
        mut f: impl FnMut(T, usize) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        let end = offset.saturating_add(limit.unwrap_or(u64::MAX));
        let seen = std::sync::atomic::AtomicU64::new(0);
        // Pages are cut in shard order (each shard's place in the answer
        // is the rows of the shards before it); those within the budget
        // are mapped at once, in parallel.
        let pages = |group: Vec<Vec<u32>>| -> Result<MappedGroup<T>> {
            let mut cut = Vec::with_capacity(group.len());
            let mut taken = 0usize;
            for (i, rows) in group.iter().enumerate() {
                let n = rows.len() as u64;
                let at = seen.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                let from = offset.saturating_sub(at).min(n) as usize;
                let to = end.saturating_sub(at).min(n) as usize;
                if to > from {
                    let now = taken + (to - from) <= PAGE_ROWS_AT_ONCE || taken == 0;
                    taken += to - from;
                    cut.push((i, from..to, now));
                }
            }
            let mapped = cut
                .into_par_iter()
                .map(|(i, range, now)| {
                    let t = if now {
                        Some(map(&group[i][range.clone()])?)
                    } else {
                        None
                    };
                    Ok(PageCut { shard: i, range, t })
                })
                .collect::<Result<_>>()?;
            Ok((group, mapped))
        };
        self.for_each_group(pool, expr, pages, |(group, cut)| {
            for page in cut {
                let rows = &group[page.shard][page.range];
                let t = match page.t {
                    Some(t) => t,
                    None => match pool {
                        Some(p) => p.install(|| map(rows))?,
                        None => map(rows)?,
                    },
                };
                if f(t, rows.len())?.is_break() {
                    return Ok(ControlFlow::Break(()));
                }
            }
            Ok(if seen.load(std::sync::atomic::Ordering::Relaxed) >= end {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            })
        })
    }

    /// Evaluates `expr` a group of shards at a time on `pool` (the calling
    /// thread's if `None`): each group's rows (one sorted list per shard,
    /// in shard order) go through `then` on the pool, and its answer to `f`
    /// on the calling thread, until `f` breaks.
    fn for_each_group<G: Send>(
        &self,
        pool: Option<&rayon::ThreadPool>,
        expr: &Expr,
        then: impl Fn(Vec<Vec<u32>>) -> Result<G> + Sync,
        mut f: impl FnMut(G) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        let plan = compile_planned(self, expr)?;
        let cancel = crate::cancel::current();
        let shard_rows = |s: usize| {
            self.fold_shard(
                &plan,
                s,
                cancel.as_ref(),
                &Vec::new,
                &|ctx, key, uni, scratch| {
                    let mut w = scratch.take();
                    eval(&plan.root, ctx, key, uni, &mut w, scratch);
                    let base = (ctx.shard << 20) | (u32::from(key) << 16);
                    let mut v = Vec::new();
                    dense::push_rows(&w, base, &mut v);
                    scratch.give(w);
                    Ok(v)
                },
                &|mut a: Vec<u32>, b| {
                    a.extend(b);
                    a
                },
            )
        };
        // Shards are evaluated a group at a time, in parallel, and handed
        // over in order: groups of 1, 2, 4… shards up to twice the
        // workers (at most 8), so that a LIMIT met in the first shard costs
        // one shard, and a long export takes a few rounds of parallel work
        // instead of one per shard (each round wakes the workers). At most
        // that many shards' rows are held at once.
        let workers = pool.map_or_else(rayon::current_num_threads, |p| p.current_num_threads());
        let most = (2 * workers).clamp(2, 8);
        let (mut next, mut size) = (0, 1);
        while next < self.num_shards() {
            let end = (next + size).min(self.num_shards());
            let evaluate = || -> Result<G> {
                let group = if end - next == 1 {
                    vec![shard_rows(next)?]
                } else {
                    (next..end)
                        .into_par_iter()
                        .map(shard_rows)
                        .collect::<Result<_>>()?
                };
                then(group)
            };
            let group = match pool {
                Some(p) => p.install(evaluate)?,
                None => evaluate()?,
            };
            if f(group)?.is_break() {
                return Ok(());
            }
            next = end;
            size = (size * 2).min(most);
        }
        Ok(())
    }

    /// Whether row `row` matches `expr`: only the row's chunk is evaluated.
    pub fn row_matches(&self, row: u32, expr: &Expr) -> Result<bool> {
        if u64::from(row) >= self.num_rows {
            return Ok(false);
        }
        let plan = compile_planned(self, expr)?;
        let s = (row >> 20) as usize;
        let key = ((row >> 16) & 0xF) as u16;
        let ctx = resolve(&plan, self.part(s).map(|p| p.as_ref()), s as u32)
            .map_err(|e| self.name_error(e))?;
        let hit = with_scratch(|scratch| {
            let mut uni = scratch.take();
            let mut out = scratch.take();
            uni.fill(0);
            dense::set_range(&mut uni, row & 0xFFFF, row & 0xFFFF);
            eval(&plan.root, &ctx, key, &uni, &mut out, scratch);
            let hit = !dense::is_empty(&out);
            scratch.give(uni);
            scratch.give(out);
            hit
        });
        // `eval` gives up early once the installed handle stops.
        crate::cancel::check()?;
        Ok(hit)
    }

    /// The rows of `rows` (ascending, distinct) that match `expr`: only
    /// the chunks holding them are evaluated, once each, so a few rows of
    /// a large table cost a few chunks (what a trigger's condition checks
    /// for the users of one ingest batch). Rows past the table's end match
    /// nothing.
    pub fn rows_matching(&self, rows: &[u32], expr: &Expr) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        if rows.is_empty() {
            return Ok(out);
        }
        let plan = compile_planned(self, expr)?;
        let mut i = 0;
        while i < rows.len() {
            let chunk = rows[i] >> 16;
            let j = i + rows[i..].partition_point(|r| r >> 16 == chunk);
            let s = (chunk >> 4) as usize;
            let key = (chunk & 0xF) as u16;
            let ctx = resolve(&plan, self.part(s).map(|p| p.as_ref()), s as u32)
                .map_err(|e| self.name_error(e))?;
            with_scratch(|scratch| {
                let mut uni = scratch.take();
                let mut hits = scratch.take();
                uni.fill(0);
                for &r in &rows[i..j] {
                    if u64::from(r) < self.num_rows {
                        dense::set_range(&mut uni, r & 0xFFFF, r & 0xFFFF);
                    }
                }
                eval(&plan.root, &ctx, key, &uni, &mut hits, scratch);
                for &r in &rows[i..j] {
                    let b = (r & 0xFFFF) as usize;
                    if hits[b / 64] >> (b % 64) & 1 == 1 {
                        out.push(r);
                    }
                }
                scratch.give(uni);
                scratch.give(hits);
            });
            crate::cancel::check()?;
            i = j;
        }
        Ok(out)
    }

    /// The external id of row `row`; an error if the dictionary lacks it
    /// (every row below `num_rows` has one).
    pub fn external_id(&self, row: u32) -> Result<String> {
        self.id_of(row)?.ok_or_else(|| {
            EngineError::Storage(segdb_storage_format::FormatError::corrupt(
                &self.dir,
                0,
                format!("row {row} has no external id in the dictionary"),
            ))
        })
    }

    /// The rows matching `expr` as one bitmap in the portable Roaring
    /// format (readable by CRoaring, Java, Go and roaring-rs).
    pub fn rows_roaring(&self, expr: &Expr) -> Result<Vec<u8>> {
        let mut w = segdb_storage_format::bitmap::RoaringWriter::new();
        self.for_each_shard_rows(expr, |rows| {
            for &r in rows {
                w.push(r);
            }
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(w.finish())
    }

    /// The external ids of the rows matching `expr`, in row-id order,
    /// skipping `offset` and returning at most `limit`.
    pub fn ids(&self, expr: &Expr, offset: u64, limit: Option<u64>) -> Result<Vec<String>> {
        let rows = self.rows_range(expr, offset, limit)?;
        let mut ids = Vec::with_capacity(rows.len());
        let mut bad = None;
        self.for_each_external_id(&rows, |r, id| match std::str::from_utf8(id) {
            Ok(id) => {
                ids.push(id.to_owned());
                true
            }
            Err(_) => {
                bad = Some(r);
                false
            }
        })?;
        match bad {
            Some(r) => Err(EngineError::Storage(
                segdb_storage_format::FormatError::corrupt(
                    &self.dir,
                    0,
                    format!("the external id of row {r} is not UTF-8"),
                ),
            )),
            None => Ok(ids),
        }
    }

    /// COUNT, SUM, MIN and MAX of INT `field` over the rows matching `expr`.
    pub fn int_stats(&self, expr: &Expr, field: &str) -> Result<IntStats> {
        let (fi, def) = self.field(field)?;
        if def.kind != FieldKind::Int {
            return Err(EngineError::WrongKind {
                field: field.to_owned(),
                kind: def.kind.as_str(),
                what: "SUM, AVG, MIN and MAX need an INT field".into(),
            });
        }
        let plan = compile_planned(self, expr)?;
        let ints: Vec<Option<shard::IntCtx<'_>>> = (0..self.num_shards())
            .map(|s| self.part(s).map(|p| int_ctx(p, fi as u32)).transpose())
            .collect::<Result<_>>()?;
        self.fold_chunks(
            &plan,
            IntStats::default,
            |ctx, key, seg, s| {
                let Some(int) = &ints[ctx.shard as usize] else {
                    return Ok(IntStats::default());
                };
                Ok(chunk_int_stats(int, key, seg, s))
            },
            IntStats::merge,
        )
    }

    /// For an ENUM, SET or BOOL `field`, the number of rows matching `expr`
    /// that hold each value (values with no row are left out), in value-id
    /// order (BOOL: `false`, `true`).
    pub fn group_count(&self, expr: &Expr, field: &str) -> Result<Vec<(String, u64)>> {
        let (fi, def) = self.field(field)?;
        let fi = fi as u32;
        let (names, keys): (Vec<String>, Vec<Vec<BlockKey>>) = match def.kind {
            FieldKind::Enum | FieldKind::Set => self
                .value_dict(fi as usize)
                .values()
                .iter()
                .enumerate()
                .map(|(i, v)| (v.clone(), vec![BlockKey::new(fi, TAG_VALUE, i as u32, 0)]))
                .unzip(),
            FieldKind::Bool => (
                vec!["false".into(), "true".into()],
                vec![
                    vec![
                        BlockKey::new(fi, TAG_NOT_NULL, 0, 0),
                        BlockKey::new(fi, TAG_TRUE, 0, 0),
                    ],
                    vec![BlockKey::new(fi, TAG_TRUE, 0, 0)],
                ],
            ),
            k => {
                return Err(EngineError::WrongKind {
                    field: field.to_owned(),
                    kind: k.as_str(),
                    what: "GROUP BY needs an ENUM, SET or BOOL field".into(),
                })
            }
        };
        let plan = compile_planned(self, expr)?;
        // Per shard, the bitmaps of every group.
        let views: Vec<Vec<Vec<Option<_>>>> = (0..self.num_shards())
            .map(|s| -> Result<_> {
                keys.iter()
                    .map(|ks| {
                        ks.iter()
                            .map(|k| match self.part(s) {
                                Some(p) => Ok(p.bitmap(*k)?),
                                None => Ok(None),
                            })
                            .collect::<Result<Vec<_>>>()
                    })
                    .collect()
            })
            .collect::<Result<_>>()?;
        let counts = self.fold_chunks(
            &plan,
            || vec![0u64; names.len()],
            |ctx, key, seg, s| {
                let mut out = vec![0u64; names.len()];
                if dense::is_empty(seg) {
                    return Ok(out);
                }
                for (g, vs) in views[ctx.shard as usize].iter().enumerate() {
                    out[g] = match vs.as_slice() {
                        [one] => one
                            .as_ref()
                            .and_then(|v| v.container(key))
                            .map_or(0, |c| dense::and_count_with(seg, c)),
                        [nn, t] => {
                            // BOOL false: not null and not true.
                            let Some(nn) = nn.as_ref().and_then(|v| v.container(key)) else {
                                continue;
                            };
                            let mut w = s.take();
                            w.copy_from_slice(seg);
                            dense::and_with(&mut w, nn);
                            if let Some(t) = t.as_ref().and_then(|v| v.container(key)) {
                                dense::andnot_with(&mut w, t);
                            }
                            let c = dense::count(&w);
                            s.give(w);
                            c
                        }
                        _ => 0,
                    };
                }
                Ok(out)
            },
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(b) {
                    *x += y;
                }
                a
            },
        )?;
        Ok(names
            .into_iter()
            .zip(counts)
            .filter(|(_, c)| *c > 0)
            .collect())
    }
}

pub(crate) fn chunk_int_stats(
    int: &shard::IntCtx<'_>,
    key: u16,
    seg: &Words,
    s: &mut chunk::Scratch,
) -> IntStats {
    let (Some(meta), Some(nn)) = (
        int.meta,
        int.not_null.as_ref().and_then(|v| v.container(key)),
    ) else {
        return IntStats::default();
    };
    let mut cand = s.take();
    let mut slice = s.take();
    cand.copy_from_slice(seg);
    dense::and_with(&mut cand, nn);
    let count = dense::count(&cand);
    let mut stats = IntStats::default();
    if count > 0 {
        let mut sum: i128 = i128::from(meta.base) * i128::from(count);
        let mut min_c = s.take();
        let mut max_c = s.take();
        min_c.copy_from_slice(&cand[..]);
        max_c.copy_from_slice(&cand[..]);
        let (mut min_u, mut max_u) = (0u64, 0u64);
        for j in (0..meta.bits as usize).rev() {
            match int.slices[j].as_ref().and_then(|v| v.container(key)) {
                Some(c) => dense::load(&mut slice, c),
                None => slice.fill(0),
            }
            sum += i128::from(dense::and_count(&cand, &slice)) << j;
            // Minimum: prefer rows with this bit clear, if any remain.
            if dense::and_count(&min_c, &slice) < dense::count(&min_c) {
                dense::andnot(&mut min_c, &slice);
            } else {
                min_u |= 1 << j;
            }
            // Maximum: prefer rows with this bit set, if any remain.
            if dense::and_count(&max_c, &slice) > 0 {
                dense::and(&mut max_c, &slice);
                max_u |= 1 << j;
            }
        }
        s.give(min_c);
        s.give(max_c);
        stats = IntStats {
            count,
            sum,
            min: Some((i128::from(meta.base) + i128::from(min_u)) as i64),
            max: Some((i128::from(meta.base) + i128::from(max_u)) as i64),
        };
    }
    s.give(cand);
    s.give(slice);
    stats
}

/// Rows of an export's pages mapped in the same hand-over to the pool as
/// their evaluation (see [`Table::for_each_shard_page`]); the pages past
/// them are mapped one at a time.
pub const PAGE_ROWS_AT_ONCE: usize = 1 << 18;

/// A group's rows by shard and its pages.
type MappedGroup<T> = (Vec<Vec<u32>>, Vec<PageCut<T>>);

/// One shard's page of a group: its rows in the answer's range, and what
/// `map` made of them if it already ran.
struct PageCut<T> {
    shard: usize,
    range: std::ops::Range<usize>,
    t: Option<T>,
}
