//! Runs bound statements against a store and shapes their answers as
//! columns and rows.

pub mod campaigns;
pub mod catalog;
mod insight;
mod tags;

pub use insight::{bucket_label, COMPARE_COLUMNS, INSIGHT_COLUMNS};

use segdb_campaigns::deliver::DeliveryLog;
use segdb_campaigns::{CampaignError, CampaignStore};
use segdb_engine::{
    date, AggregateValue, EngineError, Expr, GroupOrder, Schema, SegmentDef, Store, Table,
};
use segdb_query_lang::ast::CampaignGroup;
use segdb_query_lang::{
    Aggregate, BoundSegment, CampaignRef, Catalog, CatalogError, Projection, QueryError,
    SegmentRef, Signature, SortOrder, Statement,
};
use serde_json::{json, Value};

/// An answer: named columns and rows of JSON values.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultSet {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, each as long as `columns`.
    pub rows: Vec<Vec<Value>>,
}

/// What can go wrong running a statement.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The statement does not parse or bind.
    #[error("{0}")]
    Query(#[from] QueryError),
    /// The engine refused or failed.
    #[error("{0}")]
    Engine(#[from] EngineError),
    /// The caller may not use a field the statement touches.
    #[error("{0}")]
    Forbidden(Box<crate::permissions::Forbidden>),
    /// A file the statement reads is damaged (a campaign file): the
    /// message names it.
    #[error("{0}")]
    DataCorruption(String),
    /// What the statement drops is still used (a segment a campaign's
    /// audience names): 409 `in_use`, the message naming the users.
    #[error("{0}")]
    InUse(String),
    /// The engine refused or failed after statements before it had
    /// changed something: `note` says which.
    #[error("{error} ({note})")]
    Partial {
        /// What failed (boxed: the error type stays small).
        error: Box<EngineError>,
        /// Which statements took effect.
        note: String,
    },
}

impl ExecError {
    /// This error, from the statement after `ran`: if any of those changed
    /// something (a schema, a segment), its hint says that they took
    /// effect and nothing after this one ran.
    pub fn after(self, ran: &[segdb_query_lang::ast::Statement]) -> ExecError {
        match took_effect(ran) {
            Some(note) => match self {
                ExecError::Query(q) => ExecError::Query(q.with_note(note)),
                ExecError::Engine(e) => ExecError::Partial {
                    error: Box::new(e),
                    note,
                },
                ExecError::InUse(m) => ExecError::InUse(format!("{m} ({note})")),
                other @ (ExecError::Partial { .. }
                | ExecError::Forbidden(_)
                | ExecError::DataCorruption(_)) => other,
            },
            None => self,
        }
    }
}

/// "statements 1 (CREATE SEGMENT) and 2 (DROP SEGMENT) ran before this one
/// and took effect; nothing after it ran", or `None` if none of `ran`
/// changed anything.
pub fn took_effect(ran: &[segdb_query_lang::ast::Statement]) -> Option<String> {
    use segdb_query_lang::ast::StatementKind as K;
    let changed: Vec<String> = ran
        .iter()
        .enumerate()
        .filter_map(|(i, st)| {
            let what = match &st.kind {
                K::CreateTable(_) => "CREATE TABLE",
                K::AlterTable(_) | K::AlterField(_) => "ALTER TABLE",
                K::DropTable(_) => "DROP TABLE",
                K::CreateSegment(_) => "CREATE SEGMENT",
                K::DropSegment(_) => "DROP SEGMENT",
                K::CreateTag(_) => "CREATE TAG",
                K::DropTag(_) => "DROP TAG",
                K::CreateCampaign(_) => "CREATE CAMPAIGN",
                K::DropCampaign(_) => "DROP CAMPAIGN",
                _ => return None,
            };
            Some(format!("{} ({what})", i + 1))
        })
        .collect();
    let (last, rest) = changed.split_last()?;
    let list = if rest.is_empty() {
        format!("statement {last} ran before this one and took effect")
    } else {
        format!(
            "statements {} and {last} ran before this one and took effect",
            rest.join(", ")
        )
    };
    Some(format!("{list}; nothing after it ran"))
}

/// The store seen by the binder, with its campaigns: the server's own
/// ([`StoreCatalog::live`]: `sent(c)` counts the delivery log's batches
/// since the last checkpoint) or the campaign catalog read from disk
/// ([`StoreCatalog::new`]: `sent(c)` as of the run's last checkpoint,
/// which a finished run has).
pub struct StoreCatalog<'a> {
    store: &'a Store,
    live: Option<(&'a CampaignStore, &'a DeliveryLog)>,
    /// Knows no campaign: the catalog a campaign's own audience is read
    /// against when its fields are listed, so that a segment naming the
    /// campaign cannot make that a loop.
    no_campaigns: bool,
}

impl<'a> StoreCatalog<'a> {
    /// The store, its campaigns read from disk at each question.
    pub fn new(store: &'a Store) -> StoreCatalog<'a> {
        StoreCatalog {
            store,
            live: None,
            no_campaigns: false,
        }
    }

    /// The store with the server's campaigns and delivery log.
    pub fn live(
        store: &'a Store,
        campaigns: &'a CampaignStore,
        log: &'a DeliveryLog,
    ) -> StoreCatalog<'a> {
        StoreCatalog {
            store,
            live: Some((campaigns, log)),
            no_campaigns: false,
        }
    }

    /// The store's tables and segments as the binder sees them.
    fn base(&self) -> segdb_campaigns::audience::StoreCatalog<'a> {
        segdb_campaigns::audience::StoreCatalog(self.store, None)
    }

    /// The campaign store: the server's, or the one on disk (`None`: the
    /// store has no campaigns).
    fn with_campaigns<T>(
        &self,
        f: impl FnOnce(&CampaignStore, Option<&DeliveryLog>) -> T,
    ) -> Result<Option<T>, CampaignError> {
        match self.live {
            Some((c, log)) => Ok(Some(f(c, Some(log)))),
            None => Ok(CampaignStore::open_read_only(self.store.dir())?.map(|c| f(&c, None))),
        }
    }
}

impl Catalog for StoreCatalog<'_> {
    // The store's side is the campaigns crate's catalog (the one an
    // audience binds against); procedures and campaigns are the server's.
    fn schema(&self, table: &str) -> Option<Schema> {
        self.base().schema(table)
    }
    fn table_names(&self) -> Vec<String> {
        self.base().table_names()
    }
    fn field_values(&self, table: &str, field: &str) -> Vec<String> {
        self.base().field_values(table, field)
    }
    fn has_value(&self, table: &str, field: &str, value: &str) -> Option<bool> {
        self.base().has_value(table, field, value)
    }
    fn event_day_bounds(&self, table: &str, field: &str) -> Option<Option<(i32, i32)>> {
        self.base().event_day_bounds(table, field)
    }
    fn resolve_ids(&self, table: &str, ids: &[String]) -> Result<Vec<u32>, CatalogError> {
        self.base().resolve_ids(table, ids)
    }
    fn segment(&self, name: &str) -> Option<SegmentRef> {
        self.base().segment(name)
    }
    fn tag(&self, name: &str) -> Option<segdb_query_lang::TagRef> {
        self.base().tag(name)
    }
    fn tag_names(&self) -> Vec<String> {
        self.base().tag_names()
    }
    fn segment_source(&self, name: &str) -> Option<(String, Option<String>)> {
        self.base().segment_source(name)
    }
    fn segment_names(&self) -> Vec<String> {
        self.base().segment_names()
    }
    fn procedure(&self, name: &str) -> Option<Signature> {
        crate::procedures::find(name).map(|p| p.signature.clone())
    }
    fn procedure_names(&self) -> Vec<String> {
        crate::procedures::registry()
            .iter()
            .map(|p| p.signature.name.clone())
            .collect()
    }
    fn campaign(&self, name: &str) -> Option<CampaignRef> {
        if self.no_campaigns {
            return None;
        }
        let c = self
            .with_campaigns(|c, _| c.get(name).ok())
            .ok()
            .flatten()
            .flatten()?;
        let plain = StoreCatalog {
            store: self.store,
            live: None,
            no_campaigns: true,
        };
        Some(CampaignRef {
            id: c.id,
            fields: segdb_campaigns::fields::fields_read(&c.def, &plain),
            table: c.def.table,
            variants: c.def.variants.into_iter().map(|v| v.name).collect(),
            runs: c.runs.iter().map(|r| r.number).collect(),
        })
    }
    fn campaign_names(&self) -> Vec<String> {
        if self.no_campaigns {
            return Vec::new();
        }
        self.with_campaigns(|c, _| c.list().into_iter().map(|c| c.def.name).collect())
            .ok()
            .flatten()
            .unwrap_or_default()
    }
    fn campaign_rows(
        &self,
        name: &str,
        run: u32,
        group: CampaignGroup,
        variant: Option<usize>,
    ) -> Result<Vec<u32>, CatalogError> {
        let rows = self
            .with_campaigns(|c, log| c.group_rows(name, run, group, variant, log))
            .map_err(CatalogError::from)?
            .ok_or_else(|| CatalogError::Failed(format!("campaign `{name}` is gone")))?
            .map_err(CatalogError::from)?;
        Ok(rows.iter().collect())
    }
}

/// Parses every statement of `text`, then binds and runs them one after
/// the other (so that a statement sees the tables and fields the ones
/// before it made); returns the answer of each. A syntax error anywhere
/// runs nothing; any other error stops at its statement.
pub fn run(store: &Store, text: &str) -> Result<Vec<ResultSet>, ExecError> {
    Ok(run_warned(store, text)?.0)
}

/// As [`run`], with the warnings of the SELECT statements (a value no row
/// holds, a window without event days), in the order of the text.
pub fn run_warned(
    store: &Store,
    text: &str,
) -> Result<(Vec<ResultSet>, Vec<segdb_query_lang::Warning>), ExecError> {
    let stmts = segdb_query_lang::parse(text)?;
    let today = date::today();
    segdb_query_lang::check_batch(&stmts, &StoreCatalog::new(store), today)?;
    let mut results = Vec::with_capacity(stmts.len());
    let mut warnings = Vec::new();
    for (i, stmt) in stmts.iter().enumerate() {
        let mut run = || {
            let bound = segdb_query_lang::bind(stmt, &StoreCatalog::new(store), today)?;
            if let segdb_query_lang::Statement::Select(sel) = &bound {
                warnings.extend(sel.warnings.iter().cloned());
            }
            run_statement(store, bound)
        };
        match run() {
            Ok(r) => results.push(r),
            Err(e) => return Err(e.after(&stmts[..i])),
        }
    }
    Ok((results, warnings))
}

/// A one-row answer.
fn one_row(columns: &[&str], row: Vec<Value>) -> ResultSet {
    ResultSet {
        columns: columns.iter().map(|c| c.to_string()).collect(),
        rows: vec![row],
    }
}

/// `SHOW TABLES`: each table's name, rows, fields (system fields not
/// counted) and bytes on disk.
fn show_tables(store: &Store) -> ResultSet {
    let rows = store
        .table_names()
        .into_iter()
        .filter_map(|name| store.table(&name).ok())
        .map(|t| {
            vec![
                json!(t.name()),
                json!(t.num_rows()),
                json!(t.schema().user_fields().count()),
                json!(t.bytes_on_disk()),
            ]
        })
        .collect();
    ResultSet {
        columns: ["table", "rows", "fields", "bytes"]
            .map(String::from)
            .to_vec(),
        rows,
    }
}

/// `EXPLAIN`: one row per plan node, parents first, indented two spaces a
/// level.
fn explain(table: &Table, filter: &Expr) -> Result<ResultSet, ExecError> {
    let plan = table.explain(filter)?;
    let mut rows = Vec::new();
    plan.walk(&mut |depth, node| {
        rows.push(vec![
            json!(format!("{}{}", "  ".repeat(depth), node.label)),
            json!(node.estimated_rows),
        ])
    });
    Ok(ResultSet {
        columns: vec!["plan".into(), "estimated_rows".into()],
        rows,
    })
}

/// `SHOW SEGMENTS`: each segment's name, table, kind, definition, the
/// segments it uses, and a snapshot's rows (null for a dynamic segment,
/// whose rows depend on the day and the data).
fn show_segments(store: &Store) -> ResultSet {
    let rows = store
        .segments()
        .into_iter()
        .map(|s| {
            vec![
                json!(s.name),
                json!(s.table),
                json!(s.kind.as_str()),
                s.text.map_or(Value::Null, |t| json!(t)),
                json!(s.uses.join(", ")),
                s.rows.map_or(Value::Null, |r| json!(r)),
            ]
        })
        .collect();
    ResultSet {
        columns: ["segment", "table", "kind", "definition", "uses", "rows"]
            .map(String::from)
            .to_vec(),
        rows,
    }
}

/// `CREATE [OR REPLACE] SEGMENT`: a snapshot is evaluated now and stored;
/// a dynamic segment stores its text. Answers its rows now.
fn create_segment(store: &Store, seg: BoundSegment) -> Result<ResultSet, ExecError> {
    let table = store.table(&seg.table)?;
    let (def, rows) = if seg.snapshot {
        let rows = table.rows(&seg.filter)?;
        let n = rows.len() as u64;
        (
            SegmentDef::Snapshot {
                rows,
                text: Some(seg.text),
            },
            n,
        )
    } else {
        let n = table.count(&seg.filter)?;
        (
            SegmentDef::Dynamic {
                text: seg.text,
                uses: seg.uses,
            },
            n,
        )
    };
    let info = store.create_segment(&seg.name, &seg.table, def, seg.replace)?;
    Ok(one_row(
        &["segment", "table", "kind", "rows"],
        vec![
            json!(info.name),
            json!(info.table),
            json!(info.kind.as_str()),
            json!(rows),
        ],
    ))
}

fn int_or_null(v: Option<i64>) -> Value {
    v.map_or(Value::Null, |x| json!(x))
}

/// What the caller of a statement may use and see (`Access::FULL`: the
/// local command line, an admin).
pub type Access = crate::permissions::FieldAccess;

/// Runs one bound statement with full access (the local command line).
pub fn run_statement(store: &Store, stmt: Statement) -> Result<ResultSet, ExecError> {
    run_statement_as(store, stmt, Access::FULL)
}

/// Runs one bound statement for a caller with `access`.
pub fn run_statement_as(
    store: &Store,
    stmt: Statement,
    access: Access,
) -> Result<ResultSet, ExecError> {
    match stmt {
        Statement::CreateTable { name, schema } => {
            store.create_table(&name, &schema)?;
            Ok(one_row(&["created"], vec![json!(name)]))
        }
        Statement::AlterTableAdd { table, field } => {
            store.add_field(&table, field.clone())?;
            Ok(one_row(
                &["table", "added", "kind"],
                vec![json!(table), json!(field.name), json!(field.kind.as_str())],
            ))
        }
        Statement::AlterField {
            table,
            field,
            change,
        } => {
            let t = store.set_field_catalog(&table, &field, &change)?;
            let def = t.schema().field(&field).cloned();
            let c = def.as_ref().map(|d| d.catalog.clone()).unwrap_or_default();
            Ok(one_row(
                &[
                    "table",
                    "field",
                    "description",
                    "category",
                    "owner",
                    "source",
                ],
                vec![
                    json!(table),
                    json!(field),
                    json!(c.description),
                    json!(def.and_then(|d| d.category)),
                    json!(c.owner),
                    json!(c.source.as_str()),
                ],
            ))
        }
        Statement::DropTable { name } => {
            store.drop_table(&name)?;
            Ok(one_row(&["dropped"], vec![json!(name)]))
        }
        Statement::ShowTables => Ok(show_tables(store)),
        Statement::ShowSegments => Ok(show_segments(store)),
        Statement::ShowTags => Ok(tags::show_tags(store)),
        Statement::CreateTag(tag) => tags::create_tag(store, tag),
        Statement::DropTag { name } => tags::drop_tag(store, &name),
        Statement::ShowCampaigns => campaigns::show_campaigns(store),
        Statement::CreateCampaign(_) | Statement::DropCampaign { .. } => {
            // The server's campaigns (its scheduler, its audit log, the
            // caller's role) make and drop campaigns; a store opened
            // alone does not.
            Err(EngineError::InvalidArgument(
                "CREATE CAMPAIGN and DROP CAMPAIGN run in the server: send them with \
                 `segdb console` or POST /v1/query"
                    .into(),
            )
            .into())
        }
        Statement::CreateSegment(seg) => create_segment(store, seg),
        Statement::DropSegment { name } => {
            campaigns::drop_segment(store, &name)?;
            Ok(one_row(&["dropped"], vec![json!(name)]))
        }
        Statement::Call(call) => crate::procedures::call(store, &call, access),
        Statement::Insight(stmt) => insight::insight(store, &stmt),
        Statement::Compare(stmt) => insight::compare(store, &stmt),
        Statement::ShowFields { table } => {
            let mut r = catalog::show_fields(store, &*store.table(&table)?)?;
            tags::add_tag_fields(store, &table, &mut r)?;
            Ok(r)
        }
        Statement::Explain(sel) => explain(&*store.table(&sel.table)?, &sel.filter),
        Statement::Select(sel) => {
            let t = store.table(&sel.table)?;
            let filter: &Expr = &sel.filter;
            match sel.projection {
                Projection::Count => Ok(ResultSet {
                    columns: vec!["count".into()],
                    rows: vec![vec![json!(t.count(filter)?)]],
                }),
                Projection::Ids { limit, offset } => Ok(ResultSet {
                    columns: vec![segdb_engine::ID_COLUMN.into()],
                    rows: t
                        .ids(filter, offset, limit)?
                        .into_iter()
                        .map(|id| vec![json!(id)])
                        .collect(),
                }),
                Projection::Aggregates(aggs) => {
                    let values = t.aggregates(filter, &aggs)?;
                    let columns = aggs.iter().map(aggregate_column).collect();
                    let row = values.into_iter().map(aggregate_cell).collect();
                    Ok(ResultSet {
                        columns,
                        rows: vec![row],
                    })
                }
                Projection::GroupByTag {
                    tag,
                    groups,
                    order,
                    limit,
                    offset,
                } => {
                    let rows = t
                        .group_by_exprs(filter, &groups, group_order(order), offset, limit)?
                        .into_iter()
                        .map(|(v, c)| vec![json!(v), json!(c)])
                        .collect();
                    Ok(ResultSet {
                        columns: vec![tag, "count".into()],
                        rows,
                    })
                }
                Projection::GroupBy {
                    field,
                    order,
                    limit,
                    offset,
                } => {
                    let rows = t
                        .group_by(filter, &field, group_order(order), offset, limit)?
                        .into_iter()
                        .map(|(v, c)| vec![json!(v), json!(c)])
                        .collect();
                    Ok(ResultSet {
                        columns: vec![field, "count".into()],
                        rows,
                    })
                }
            }
        }
    }
}

/// The engine's order of groups for `ORDER BY COUNT(*) …` (none: by value).
fn group_order(order: Option<SortOrder>) -> GroupOrder {
    match order {
        Some(SortOrder::Desc) => GroupOrder::CountDesc,
        Some(SortOrder::Asc) => GroupOrder::CountAsc,
        None => GroupOrder::Value,
    }
}

/// An aggregate's column: `count`, `sum(age)`, `quantile(age, 0.9)`.
fn aggregate_column(a: &Aggregate) -> String {
    match a {
        Aggregate::Count => "count".to_string(),
        Aggregate::Sum(f) => format!("sum({f})"),
        Aggregate::Avg(f) => format!("avg({f})"),
        Aggregate::Min(f) => format!("min({f})"),
        Aggregate::Max(f) => format!("max({f})"),
        Aggregate::Quantile(f, q) => format!("quantile({f}, {q})"),
    }
}

/// An aggregate's value as a cell: null without a value; a sum past
/// `i64` as a string.
fn aggregate_cell(v: AggregateValue) -> Value {
    match v {
        AggregateValue::Count(n) => json!(n),
        AggregateValue::Sum(None) => Value::Null,
        AggregateValue::Sum(Some(s)) => match i64::try_from(s) {
            Ok(x) => json!(x),
            Err(_) => json!(s.to_string()),
        },
        AggregateValue::Avg(x) => x.map_or(Value::Null, |x| json!(x)),
        AggregateValue::Min(x) | AggregateValue::Max(x) | AggregateValue::Quantile(x) => {
            int_or_null(x)
        }
    }
}

fn cell_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// `{"columns": [...], "rows": [[...], ...]}`.
pub fn to_json(r: &ResultSet) -> String {
    json!({"columns": r.columns, "rows": r.rows}).to_string()
}

/// CSV with a header (RFC 4180 quoting).
pub fn to_csv(r: &ResultSet) -> String {
    let quote = |s: String| csv_field(&s).into_owned();
    let mut out = r
        .columns
        .iter()
        .map(|c| quote(c.clone()))
        .collect::<Vec<_>>()
        .join(",");
    out.push('\n');
    for row in &r.rows {
        let line = row
            .iter()
            .map(|v| quote(cell_text(v)))
            .collect::<Vec<_>>()
            .join(",");
        // A record of one empty field is `""`: an empty line is no record.
        out.push_str(if line.is_empty() && row.len() == 1 {
            "\"\""
        } else {
            &line
        });
        out.push('\n');
    }
    out
}

/// A cell as a table shows it: floats rounded to 6 significant digits (as
/// psql's `float4` shows them; the JSON and CSV answers keep every digit).
fn table_cell(v: &Value) -> String {
    match v {
        Value::Number(n) if n.is_f64() => n.as_f64().map_or_else(|| n.to_string(), round_float),
        v => cell_text(v),
    }
}

/// `x` to 6 significant digits, without trailing zeros; an exponent when it
/// is very large or very small.
fn round_float(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return x.to_string();
    }
    let exp = x.abs().log10().floor() as i32;
    if !(-4..15).contains(&exp) {
        return format!("{x:.5e}");
    }
    let decimals = (5 - exp).max(0) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// An aligned text table with a row count; numeric columns (every value a
/// number or null) are right-aligned, as psql aligns them.
pub fn to_table(r: &ResultSet) -> String {
    let cells: Vec<Vec<String>> = r
        .rows
        .iter()
        .map(|row| row.iter().map(table_cell).collect())
        .collect();
    let mut widths: Vec<usize> = r.columns.iter().map(|c| c.chars().count()).collect();
    for row in &cells {
        for (i, c) in row.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let numeric: Vec<bool> = (0..widths.len())
        .map(|i| {
            let mut values = r.rows.iter().filter_map(|row| row.get(i));
            let any = values.clone().any(Value::is_number);
            any && values.all(|v| v.is_number() || v.is_null())
        })
        .collect();
    let line = |vals: &[String]| {
        vals.iter()
            .enumerate()
            .map(|(i, v)| {
                if numeric[i] {
                    format!("{v:>w$}", w = widths[i])
                } else {
                    format!("{v:<w$}", w = widths[i])
                }
            })
            .collect::<Vec<_>>()
            .join(" | ")
            .trim_end()
            .to_string()
    };
    let mut out = line(&r.columns);
    out.push('\n');
    out.push_str(
        &widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-+-"),
    );
    out.push('\n');
    for row in &cells {
        out.push_str(&line(row));
        out.push('\n');
    }
    out.push_str(&format!(
        "({} row{})\n",
        cells.len(),
        if cells.len() == 1 { "" } else { "s" }
    ));
    out
}

/// A CSV field (RFC 4180; segdb's one writer, [`segdb_engine::csv::field`]).
pub use segdb_engine::csv::field as csv_field;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn campaign_statements_run_only_in_the_server() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let schema = Schema {
            fields: vec![segdb_engine::FieldDef::new(
                "city",
                segdb_engine::FieldKind::Enum,
            )],
        };
        store.create_table("users", &schema).unwrap();
        let create = "CREATE CAMPAIGN c ON users AUDIENCE WHERE city = 'a' \
                      CHANNEL file (dir => '/tmp/x', format => 'csv') \
                      VARIANT a WEIGHT 1 TEMPLATE 'x' SCHEDULE NOW";
        for text in [create, "DROP CAMPAIGN c"] {
            let e = run(&store, text).unwrap_err();
            assert!(e.to_string().contains("run in the server"), "{e}");
        }
        // Nothing was made: no campaign catalog in the store's directory.
        assert!(show_campaigns_rows(&store).is_empty());
    }

    fn show_campaigns_rows(store: &Store) -> Vec<Vec<Value>> {
        campaigns::show_campaigns(store).unwrap().rows
    }

    #[test]
    fn tables_round_floats_and_right_align_numbers() {
        let r = ResultSet {
            columns: vec!["city".into(), "avg".into(), "count".into()],
            rows: vec![
                vec![json!("c000"), json!(0.013404000000000001), json!(7)],
                vec![json!("c001"), json!(12345.678912), json!(1234)],
                vec![json!("c002"), json!(2.5), Value::Null],
            ],
        };
        assert_eq!(
            to_table(&r),
            "city |      avg | count\n\
             -----+----------+------\n\
             c000 | 0.013404 |     7\n\
             c001 |  12345.7 |  1234\n\
             c002 |      2.5 |\n\
             (3 rows)\n"
        );
        // CSV keeps every digit.
        assert!(to_csv(&r).contains("0.013404000000000001"));
        assert_eq!(round_float(1e20), "1.00000e20");
        assert_eq!(round_float(-0.5), "-0.5");
        assert_eq!(round_float(100.0), "100");
    }
}
