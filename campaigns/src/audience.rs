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
/// no procedures: an audience has no CALL. With [`Groups`], it knows the
/// campaigns too, so an audience may be another campaign's group
/// (`clicked(spring) AND NOT sent(autumn)`, directly or through a
/// segment): retargeting.
pub struct StoreCatalog<'a>(pub &'a Store, pub Option<&'a Groups<'a>>);

/// The campaigns an audience is bound among: as the caller holds them
/// (a run's start holds the catalog, so it passes the campaigns as they
/// stand there, and nothing here takes the catalog's lock), the store
/// their runs' bitmaps are read from, and the delivery log whose batches
/// since the last checkpoint `sent(c)` counts (without it, the checkpoint
/// alone).
pub struct Groups<'a> {
    /// Where the runs' bitmaps are.
    pub store: &'a crate::CampaignStore,
    /// Every campaign.
    pub campaigns: &'a [crate::Campaign],
    /// The server's delivery log, if any.
    pub log: Option<&'a crate::deliver::DeliveryLog>,
}

impl Groups<'_> {
    fn find(&self, name: &str) -> Option<&crate::Campaign> {
        self.campaigns.iter().find(|c| c.def.name == name)
    }
}

impl Catalog for StoreCatalog<'_> {
    fn tag(&self, name: &str) -> Option<segdb_query_lang::TagRef> {
        self.0.tag(name).map(|t| segdb_query_lang::TagRef {
            table: t.table,
            text: t.text,
        })
    }
    fn tag_names(&self) -> Vec<String> {
        self.0.tags().into_iter().map(|t| t.name).collect()
    }
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
        // In one batch: an IN list of many ids is one batched lookup.
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        match t.rows_of(&ids) {
            Ok(rows) => Ok(rows.into_iter().flatten().collect()),
            Err(EngineError::Storage(e)) if e.corrupt_at().is_some() => {
                Err(CatalogError::Corrupt(e.to_string()))
            }
            Err(e) => Err(CatalogError::Failed(e.to_string())),
        }
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
    fn segment_source(&self, name: &str) -> Option<(String, Option<String>)> {
        self.0.segment(name).map(|info| (info.table, info.text))
    }
    fn segment_names(&self) -> Vec<String> {
        self.0.segments().into_iter().map(|s| s.name).collect()
    }
    fn procedure(&self, _name: &str) -> Option<Signature> {
        None
    }
    fn campaign(&self, name: &str) -> Option<segdb_query_lang::CampaignRef> {
        let c = self.1?.find(name)?;
        Some(segdb_query_lang::CampaignRef {
            id: c.id,
            table: c.def.table.clone(),
            variants: c.def.variants.iter().map(|v| v.name.clone()).collect(),
            runs: c.runs.iter().map(|r| r.number).collect(),
            // What a principal may read is the server's to check, before
            // the campaign is made; binding needs no field list.
            fields: Vec::new(),
        })
    }
    fn campaign_names(&self) -> Vec<String> {
        self.1
            .map(|g| g.campaigns.iter().map(|c| c.def.name.clone()).collect())
            .unwrap_or_default()
    }
    fn campaign_rows(
        &self,
        name: &str,
        run: u32,
        group: segdb_query_lang::ast::CampaignGroup,
        variant: Option<usize>,
    ) -> Result<Vec<u32>, CatalogError> {
        let Some((g, c)) = self.1.and_then(|g| Some((g, g.find(name)?))) else {
            return Err(CatalogError::Failed(format!("campaign `{name}` is gone")));
        };
        Ok(g.store
            .group_rows_of(c, run, group, variant, g.log)?
            .iter()
            .collect())
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
    groups: Option<&Groups<'_>>,
) -> Result<Expr, CampaignError> {
    let catalog = StoreCatalog(store, groups);
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
/// The engine turns each 65,536-row chunk's evaluated words into Roaring
/// containers at once (`Table::fold_row_words`, chunks in parallel): no row
/// is listed, where listing 10M rows and setting them back as bits took
/// about as long as the evaluation.
pub fn freeze(table: &Table, expr: &Expr) -> Result<RoaringBitmap, CampaignError> {
    Ok(table.fold_row_words(
        expr,
        RoaringBitmap::new,
        |first, words| {
            let mut bytes = Vec::with_capacity(words.len() * 8);
            for w in words {
                bytes.extend_from_slice(&w.to_le_bytes());
            }
            RoaringBitmap::from_lsb0_bytes(first, &bytes)
        },
        |mut a, b| {
            a |= b;
            a
        },
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use segdb_engine::{CmpOp, FieldDef, FieldKind, ImportFormat, ImportOptions, Schema, Store};

    /// Frozen rows are the rows the engine lists, across chunk and shard
    /// edges: a sparse audience, a dense one, an empty one.
    #[test]
    fn frozen_rows_are_the_rows_across_shards() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let schema = Schema {
            fields: vec![FieldDef::new("n", FieldKind::Int)],
        };
        store.create_table("t", &schema).unwrap();
        let rows = (1u32 << 20) + 70_000;
        let mut csv = String::from("user_id,n\n");
        for i in 0..rows {
            csv.push_str(&format!("u{i},{}\n", i % 1000));
        }
        store
            .import(
                "t",
                ImportFormat::Csv,
                csv.as_bytes(),
                &ImportOptions::default(),
            )
            .unwrap();
        let t = store.table("t").unwrap();
        assert!(t.num_shards() > 1);
        let int = |op, value| Expr::IntCmp {
            field: "n".into(),
            op,
            value,
        };
        for expr in [
            int(CmpOp::Eq, 7),
            int(CmpOp::Ge, 0),
            int(CmpOp::Lt, 999),
            int(CmpOp::Gt, 5000),
        ] {
            let frozen = freeze(&t, &expr).unwrap();
            assert_eq!(
                frozen.iter().collect::<Vec<_>>(),
                t.rows(&expr).unwrap(),
                "{expr:?}"
            );
        }
    }
}
