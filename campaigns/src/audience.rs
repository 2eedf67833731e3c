//! A campaign's audience: bound through query-lang against the store's
//! catalog (errors point into the campaign's own WHERE text), and frozen
//! into a bitmap of row ids at the start of a run.

use roaring::RoaringBitmap;
use segdb_engine::date::Day;
use segdb_engine::{EngineError, Expr, Schema, SegmentKind, Store, Table};
use segdb_query_lang::ast::{Ident, Span};
use segdb_query_lang::{
    Catalog, CatalogError, QueryError, SegmentBody, SegmentRef, Signature, Statement,
};

use crate::definition::Audience;
use crate::error::{CampaignError, DefError};

/// The store seen by the binder (as the server's `StoreCatalog`; the
/// campaign crate cannot use the server's, which sits above it). It knows
/// no procedures: an audience has no CALL.
pub struct StoreCatalog<'a>(pub &'a Store);

impl Catalog for StoreCatalog<'_> {
    fn schema(&self, table: &str) -> Option<Schema> {
        self.0.table(table).ok().map(|t| t.schema().clone())
    }
    fn table_names(&self) -> Vec<String> {
        self.0.table_names()
    }
    fn field_values(&self, table: &str, field: &str) -> Vec<String> {
        self.0
            .table(table)
            .map(|t| t.field_values(field).to_vec())
            .unwrap_or_default()
    }
    fn has_value(&self, table: &str, field: &str, value: &str) -> Option<bool> {
        let t = self.0.table(table).ok()?;
        let dict = t.value_dict(t.schema().field_index(field)?);
        (!dict.is_empty()).then(|| dict.id(value).is_some())
    }
    fn event_day_bounds(&self, table: &str, field: &str) -> Option<Option<(Day, Day)>> {
        let t = self.0.table(table).ok()?;
        Some(t.event_day_bounds(t.schema().field_index(field)?))
    }
    fn resolve_ids(&self, table: &str, ids: &[String]) -> Result<Vec<u32>, CatalogError> {
        let Ok(t) = self.0.table(table) else {
            return Ok(Vec::new());
        };
        let mut rows = Vec::with_capacity(ids.len());
        for id in ids {
            match t.row_of(id) {
                Ok(Some(r)) => rows.push(r),
                Ok(None) => {}
                Err(EngineError::Storage(e)) if e.corrupt_at().is_some() => {
                    return Err(CatalogError::Corrupt(e.to_string()))
                }
                Err(e) => return Err(CatalogError::Failed(e.to_string())),
            }
        }
        Ok(rows)
    }
    fn segment(&self, name: &str) -> Option<SegmentRef> {
        let info = self.0.segment(name)?;
        let body = match info.kind {
            SegmentKind::Dynamic => SegmentBody::Dynamic(info.text?),
            SegmentKind::Snapshot => SegmentBody::Snapshot(self.0.snapshot_expr(name).ok()?),
        };
        Some(SegmentRef {
            table: info.table,
            body,
            uses: info.uses,
        })
    }
    fn segment_names(&self) -> Vec<String> {
        self.0.segments().into_iter().map(|s| s.name).collect()
    }
    fn procedure(&self, _name: &str) -> Option<Signature> {
        None
    }
}

/// Binds `audience` over `table` on `today` into an engine expression.
/// A WHERE clause that does not parse or bind is a [`DefError`] at
/// `audience.where` with a caret into the clause's own text; a segment
/// that does not exist or is over another table is one at
/// `audience.segment`.
pub fn bind_audience(
    store: &Store,
    table: &str,
    audience: &Audience,
    today: Day,
) -> Result<Expr, CampaignError> {
    let catalog = StoreCatalog(store);
    match audience {
        Audience::Where(text) => {
            let path = "audience.where";
            // The syntax first, on the clause alone: its errors are at
            // the clause's own offsets.
            segdb_query_lang::parse_expr(text).map_err(|e| from_query(path, text, e, 0))?;
            // Then the names, in a statement over the table (the binder's
            // entry point); errors are moved back by the prefix.
            let prefix = format!(
                "SELECT COUNT(*) FROM {} WHERE ",
                Ident {
                    name: table.to_owned(),
                    span: Span::default(),
                }
            );
            let statement = format!("{prefix}{text}");
            let bound = segdb_query_lang::parse_and_bind(&statement, &catalog, today)
                .map_err(|e| from_query(path, text, e, prefix.len()))?;
            match bound.into_iter().next() {
                Some(Statement::Select(select)) => Ok(select.filter),
                other => Err(DefError::new(
                    path,
                    format!("the audience did not bind to a filter ({other:?})"),
                )
                .into()),
            }
        }
        Audience::Segment(name) => {
            let path = "audience.segment";
            let Some(info) = store.segment(name) else {
                let names = store.segments().into_iter().map(|s| s.name);
                let names: Vec<String> = names.collect();
                let e = DefError::new(path, format!("unknown segment `{name}`"));
                return Err(
                    match crate::validate::nearest(name, names.iter().map(String::as_str)) {
                        Some(n) => e.with_hint(format!("did you mean `{n}`?")),
                        None => e,
                    }
                    .into(),
                );
            };
            if info.table != table {
                return Err(DefError::new(
                    path,
                    format!(
                        "segment `{name}` is over table `{}`, the campaign over `{table}`",
                        info.table
                    ),
                )
                .into());
            }
            let (_, expr) = segdb_query_lang::bind_segment(name, &catalog, today).map_err(|e| {
                if e.is_internal() {
                    internal(e)
                } else {
                    DefError {
                        code: e.code(),
                        hint: e.hint(),
                        ..DefError::new(path, format!("segment `{name}`: {}", e.message()))
                    }
                    .into()
                }
            })?;
            Ok(expr)
        }
    }
}

/// A query-language error in `text` (its spans shifted back by `shift`)
/// as a located [`DefError`], or an internal error if the catalog failed.
fn from_query(path: &str, text: &str, e: QueryError, shift: usize) -> CampaignError {
    if e.is_internal() {
        return internal(e);
    }
    let span = e.span();
    let start = span.start.saturating_sub(shift).min(text.len());
    let end = span.end.saturating_sub(shift).clamp(start, text.len());
    DefError {
        code: e.code(),
        hint: e.hint(),
        ..DefError::new(path, e.message()).at(text, start, end)
    }
    .into()
}

fn internal(e: QueryError) -> CampaignError {
    CampaignError::Engine(EngineError::Internal(e.message()))
}

/// The rows of `expr` in `table` now: the run's frozen audience. Later
/// writes do not change the returned bitmap.
///
/// The engine hands the rows over shard by shard (2^20 rows); each
/// shard's rows set bits in a dense 128 KiB buffer that becomes Roaring
/// containers at once (`from_lsb0_bytes`), which is several times
/// cheaper than inserting 10M rows one by one.
pub fn freeze(table: &Table, expr: &Expr) -> Result<RoaringBitmap, CampaignError> {
    let mut rows = RoaringBitmap::new();
    let mut dense = Dense::default();
    table.for_each_shard_rows(expr, |shard_rows| {
        for &r in shard_rows {
            dense.set(r, &mut rows);
        }
        Ok(std::ops::ControlFlow::Continue(()))
    })?;
    dense.flush(&mut rows);
    Ok(rows)
}

/// One shard's rows as bits, flushed into a bitmap when a row of another
/// shard comes.
#[derive(Default)]
struct Dense {
    shard: Option<u32>,
    bytes: Vec<u8>,
}

impl Dense {
    const SHARD_BITS: u32 = 20;

    fn set(&mut self, row: u32, out: &mut RoaringBitmap) {
        let shard = row >> Self::SHARD_BITS;
        if self.shard != Some(shard) {
            self.flush(out);
            self.shard = Some(shard);
            self.bytes.resize(1 << (Self::SHARD_BITS - 3), 0);
        }
        let local = (row & ((1 << Self::SHARD_BITS) - 1)) as usize;
        self.bytes[local >> 3] |= 1 << (local & 7);
    }

    fn flush(&mut self, out: &mut RoaringBitmap) {
        if let Some(shard) = self.shard.take() {
            *out |= RoaringBitmap::from_lsb0_bytes(shard << Self::SHARD_BITS, &self.bytes);
            self.bytes.fill(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_rows_are_the_rows_across_shards() {
        let mut out = RoaringBitmap::new();
        let mut dense = Dense::default();
        let rows: Vec<u32> = [0, 7, 65_535, 65_536, (1 << 20) - 1, 1 << 20, (3 << 20) + 5]
            .into_iter()
            .chain((2 << 20)..(2 << 20) + 70_000)
            .collect::<std::collections::BTreeSet<u32>>()
            .into_iter()
            .collect();
        for &r in &rows {
            dense.set(r, &mut out);
        }
        dense.flush(&mut out);
        assert_eq!(out.iter().collect::<Vec<_>>(), rows);
    }
}
