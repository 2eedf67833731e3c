//! ENUM, SET and BOOL value counts, and EVENT activity, over a segment.

use segdb_storage_format::bitmap::RoaringView;
use segdb_storage_format::block_file::BlockKey;
use segdb_storage_format::dense;
use segdb_storage_format::part::{TAG_NOT_NULL, TAG_TRUE, TAG_VALUE};

use super::{sum_chunks, EventDayTotal, FieldInsight, SegChunk, ValueCount};
use crate::error::Result;
use crate::eval::chunk::with_scratch;
use crate::eval::shard::{event_days, EventDay};
use crate::expr::DayRange;
use crate::schema::FieldKind;
use crate::table::Table;

/// Per shard, the bitmap of each key (None where the shard lacks it).
fn views<'t>(table: &'t Table, keys: &[BlockKey]) -> Result<Vec<Vec<Option<RoaringView<'t>>>>> {
    (0..table.num_shards())
        .map(|s| match table.part(s) {
            Some(p) => keys.iter().map(|k| Ok(p.bitmap(*k)?)).collect(),
            None => Ok(vec![None; keys.len()]),
        })
        .collect()
}

fn add_vecs(mut a: Vec<u64>, b: Vec<u64>) -> Vec<u64> {
    if a.len() < b.len() {
        return add_vecs(b, a);
    }
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
    a
}

/// Counts of `seg` within each key's bitmap, and the table-wide
/// cardinality of each. With `exclusive` (an ENUM: each row in at most one
/// of the keys but the last, which holds them all, NOT_NULL), a chunk stops
/// counting once the values counted add up to the last key's count; values
/// are tried in the order of a probe, the segment's first chunk counted
/// with every value: the values found there first (most rows first), then
/// the others largest first. A segment of a few of the field's values
/// (`city IN ('c000', 'c001', 'c002')` of 300 cities) so counts a few
/// values a chunk, not half of them.
fn count_keys(
    table: &Table,
    seg: &[SegChunk],
    keys: &[BlockKey],
    exclusive: bool,
) -> Result<(Vec<u64>, Vec<u64>)> {
    let views = views(table, keys)?;
    let table_counts = (0..keys.len())
        .map(|i| {
            views
                .iter()
                .map(|v| v[i].as_ref().map_or(0, |v| v.cardinality()))
                .sum()
        })
        .collect();
    let table_counts: Vec<u64> = table_counts;
    let last = keys.len() - 1;
    let count_in = |c: &SegChunk, i: usize| {
        views[c.shard as usize][i]
            .as_ref()
            .and_then(|v| v.container(c.key))
            .map_or(0, |cont| dense::and_count_with(&c.words, cont))
    };
    let probe: Vec<u64> = match seg.first() {
        Some(c) if exclusive && last > 1 => (0..last).map(|i| count_in(c, i)).collect(),
        _ => vec![0; last],
    };
    let mut order: Vec<usize> = (0..last).collect();
    order.sort_by(|&a, &b| {
        probe[b]
            .cmp(&probe[a])
            .then(table_counts[b].cmp(&table_counts[a]))
    });
    let counts = sum_chunks(
        seg,
        |c| {
            let mut out = vec![0u64; keys.len()];
            let count = |i: usize| count_in(c, i);
            out[last] = count(last);
            let mut left = out[last];
            for &i in &order {
                if exclusive && left == 0 {
                    break;
                }
                out[i] = count(i);
                left = left.saturating_sub(out[i]);
            }
            Ok(out)
        },
        add_vecs,
    )?;
    let mut counts = counts;
    counts.resize(keys.len(), 0);
    Ok((counts, table_counts))
}

/// Value counts of an ENUM, SET or BOOL field.
pub(super) fn field_values(
    table: &Table,
    seg: &[SegChunk],
    fi: usize,
    kind: FieldKind,
    top: Option<usize>,
) -> Result<FieldInsight> {
    let f = fi as u32;
    let (names, mut keys): (Vec<String>, Vec<BlockKey>) = match kind {
        FieldKind::Bool => (vec!["true".into()], vec![BlockKey::new(f, TAG_TRUE, 0, 0)]),
        _ => table
            .value_dict(fi)
            .values()
            .iter()
            .enumerate()
            .map(|(i, v)| (v.clone(), BlockKey::new(f, TAG_VALUE, i as u32, 0)))
            .unzip(),
    };
    keys.push(BlockKey::new(f, TAG_NOT_NULL, 0, 0));
    let (counts, table_counts) = count_keys(table, seg, &keys, kind != FieldKind::Set)?;
    let n = names.len();
    let (covered, table_covered) = (counts[n], table_counts[n]);
    let mut values: Vec<ValueCount> = names
        .into_iter()
        .zip(counts.iter().zip(&table_counts))
        .map(|(value, (&count, &table_count))| ValueCount {
            value,
            count,
            table_count,
        })
        .collect();
    if kind == FieldKind::Bool {
        // false: not null and not true.
        values.push(ValueCount {
            value: "false".into(),
            count: covered - values[0].count,
            table_count: table_covered - values[0].table_count,
        });
    }
    values.retain(|v| v.count > 0);
    values.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    let other = match top {
        Some(k) if values.len() > k => {
            let rest = values.split_off(k);
            Some(ValueCount {
                value: "other".into(),
                count: rest.iter().map(|v| v.count).sum(),
                table_count: rest.iter().map(|v| v.table_count).sum(),
            })
        }
        _ => None,
    };
    Ok(FieldInsight::Values {
        covered,
        table_covered,
        values,
        other,
    })
}

/// Activity of an EVENT field over `window`: active rows, the total count
/// and per-day totals.
pub(super) fn field_events(
    table: &Table,
    seg: &[SegChunk],
    fi: usize,
    window: DayRange,
) -> Result<FieldInsight> {
    let shards: Vec<Vec<EventDay<'_>>> = (0..table.num_shards())
        .map(|s| match table.part(s) {
            Some(p) => event_days(p, fi as u32, window.first, window.last),
            None => Ok(Vec::new()),
        })
        .collect::<Result<_>>()?;
    let num_days = (i64::from(window.last) - i64::from(window.first) + 1).max(0) as usize;
    // Per chunk: [active rows, then per day (rows, total)].
    let sums = sum_chunks(
        seg,
        |c| {
            let mut out = vec![0u64; 1 + 2 * num_days];
            let days = &shards[c.shard as usize];
            if days.is_empty() {
                return Ok(out);
            }
            with_scratch(|s| {
                let mut any = s.take();
                any.fill(0);
                for d in days {
                    let i = (d.day - window.first) as usize;
                    if let Some(a) = d.active.as_ref().and_then(|v| v.container(c.key)) {
                        out[1 + 2 * i] = dense::and_count_with(&c.words, a);
                        dense::or_with(&mut any, a);
                    }
                    for (j, sl) in d.slices.iter().enumerate() {
                        if let Some(sl) = sl.as_ref().and_then(|v| v.container(c.key)) {
                            out[2 + 2 * i] += dense::and_count_with(&c.words, sl) << j;
                        }
                    }
                }
                out[0] = dense::and_count(&any, &c.words);
                s.give(any);
            });
            Ok(out)
        },
        add_vecs,
    )?;
    let mut sums = sums;
    sums.resize(1 + 2 * num_days, 0);
    let days: Vec<EventDayTotal> = (0..num_days)
        .filter(|&i| sums[1 + 2 * i] > 0)
        .map(|i| EventDayTotal {
            day: window.first + i as i32,
            rows: sums[1 + 2 * i],
            total: sums[2 + 2 * i],
        })
        .collect();
    Ok(FieldInsight::Event {
        active_rows: sums[0],
        total: days.iter().map(|d| d.total).sum(),
        days,
    })
}
