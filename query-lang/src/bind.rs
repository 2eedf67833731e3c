//! Syntax tree -> statements bound to a table's schema: names checked
//! against the [`Catalog`], kinds checked against what each operator
//! needs, WHERE clauses turned into the engine's [`Expr`], windows of days
//! turned into [`DayRange`](segdb_engine::DayRange)s. No I/O but through
//! the catalog.

mod batch;
mod call;
mod campaign;
mod filter;
mod group_by;
mod insight;
mod schema;
mod segment;
mod tag;
mod text;

pub use batch::check_batch;
use call::bind_call;
use campaign::bind_create_campaign;
pub use campaign::BoundCampaign;
pub use segment::bind_segment;
pub(crate) use segment::segment_ref;
use segment::{bind_create_segment, in_use, listing};
use tag::bind_create_tag;
pub use tag::{bind_tag, tag_values, BoundTag, TagRef};
pub use text::{bind_filter, bind_segment_definition, BoundFilter};

use std::collections::HashSet;

use segdb_engine::date::{parse_iso_day, Day};
use segdb_engine::{Expr, FieldDef, FieldKind, Schema, ID_COLUMN};

use crate::ast::{self, DateLit, Ident, KindName, SelectItemKind, SortOrder, Span};
use crate::error::{snippet, CatalogError, ErrorKind, QueryError, Warning};
use crate::procedure::{ArgValue, BoundCall, ParamType, Signature};
use crate::suggest;
use filter::FilterBinder;
use group_by::bind_group_by;
pub use insight::{BoundCompare, BoundInsight, InsightSpec, TagField, INSIGHT_WINDOW_DAYS};
use schema::{bind_alter_table, bind_create_table, schema_error};

/// A named segment as the binder sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentRef {
    /// The table whose rows it holds.
    pub table: String,
    /// What it is made of.
    pub body: SegmentBody,
    /// The segments a dynamic segment's text names (empty for a snapshot):
    /// what `DROP SEGMENT` checks.
    pub uses: Vec<String>,
}

/// What a named segment is made of.
#[derive(Debug, Clone, PartialEq)]
pub enum SegmentBody {
    /// A dynamic segment: the text of its WHERE expression, bound again at
    /// every use.
    Dynamic(String),
    /// A snapshot: its stored rows, as an expression over its table.
    Snapshot(Expr),
}

/// A campaign as the binder sees it (campaign predicates in WHERE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignRef {
    /// Its permanent id (0 for one created earlier in the same batch of
    /// statements, which has no run yet): its effects' values carry it.
    pub id: u64,
    /// The table whose users it reaches.
    pub table: String,
    /// Its variants' names, in definition order.
    pub variants: Vec<String>,
    /// Its runs' numbers, oldest first (empty before the first run).
    pub runs: Vec<u32>,
    /// The fields of `table` its audience (directly or through segments)
    /// and its templates read: who may not use one of them may not reach
    /// the campaign's groups either (see [`fields_used`](crate::fields_used)).
    pub fields: Vec<String>,
}

/// What the binder needs to know about the database.
pub trait Catalog {
    /// The schema of `table`, or `None` if there is no such table.
    fn schema(&self, table: &str) -> Option<Schema>;
    /// The names of every table (for "did you mean").
    fn table_names(&self) -> Vec<String>;
    /// The known values of an ENUM or SET field (for warnings and "did you
    /// mean" only; an empty list means "not known" and warns of nothing).
    fn field_values(&self, table: &str, field: &str) -> Vec<String>;
    /// Whether `value` is a known value of an ENUM or SET field, or `None`
    /// if the field's values are not known (then nothing is warned of).
    /// The binder asks this of every value a statement names, and lists
    /// [`Catalog::field_values`] only to suggest a value for one that is
    /// not known. The default looks through that list; a catalog that can
    /// look a value up directly should.
    fn has_value(&self, table: &str, field: &str, value: &str) -> Option<bool> {
        let values = self.field_values(table, field);
        (!values.is_empty()).then(|| values.iter().any(|v| v == value))
    }
    /// The first and last day on which EVENT field `field` has events
    /// (`Some(None)`: none at all), or `None` if that is not known (then
    /// nothing is warned of). The binder warns of a window that holds no
    /// day with events.
    fn event_day_bounds(&self, _table: &str, _field: &str) -> Option<Option<(Day, Day)>> {
        None
    }
    /// The row ids of these external ids; ids that do not exist are left
    /// out. A failed lookup (a damaged dictionary) is an error, never an id
    /// left out: the binder reports it as [`ErrorKind::Catalog`].
    fn resolve_ids(&self, table: &str, ids: &[String]) -> Result<Vec<u32>, CatalogError>;
    /// The segment `name`, or `None` if there is no such segment. The
    /// default knows no segment.
    fn segment(&self, _name: &str) -> Option<SegmentRef> {
        None
    }
    /// The table of segment `name` and the text of the expression that
    /// defines it: a dynamic segment's, or the one a snapshot was evaluated
    /// from (`None` for an uploaded id list). What
    /// [`fields_used`](crate::fields_used) follows. The default reads a
    /// dynamic segment's text from [`Catalog::segment`] and knows no
    /// snapshot's.
    fn segment_source(&self, name: &str) -> Option<(String, Option<String>)> {
        self.segment(name).map(|s| {
            let text = match s.body {
                SegmentBody::Dynamic(text) => Some(text),
                SegmentBody::Snapshot(_) => None,
            };
            (s.table, text)
        })
    }
    /// The names of every segment (for "did you mean").
    fn segment_names(&self) -> Vec<String> {
        Vec::new()
    }
    /// The derived tag `name`, or `None` if there is no such tag. The
    /// default knows no tag.
    fn tag(&self, _name: &str) -> Option<TagRef> {
        None
    }
    /// The names of every tag (for "did you mean" and `DROP TAG`).
    fn tag_names(&self) -> Vec<String> {
        Vec::new()
    }
    /// The signature of the procedure `name`, or `None` if there is no such
    /// procedure. The default knows no procedure.
    fn procedure(&self, _name: &str) -> Option<Signature> {
        None
    }
    /// The names of every procedure (for "did you mean").
    fn procedure_names(&self) -> Vec<String> {
        Vec::new()
    }
    /// The campaign `name`, or `None` if there is no such campaign. The
    /// default knows no campaign.
    fn campaign(&self, _name: &str) -> Option<CampaignRef> {
        None
    }
    /// The names of every campaign (for "did you mean").
    fn campaign_names(&self) -> Vec<String> {
        Vec::new()
    }
    /// The rows of one group of run `run` of campaign `name` (both exist,
    /// as [`Catalog::campaign`] said): `variant` is the variant's index
    /// for [`CampaignGroup::Variant`](ast::CampaignGroup::Variant). `sent`
    /// is as of now (a run still delivering grows). Asked at every bind,
    /// so that a dynamic segment follows the campaign; a catalog caches
    /// nothing that could go stale.
    fn campaign_rows(
        &self,
        _name: &str,
        _run: u32,
        _group: ast::CampaignGroup,
        _variant: Option<usize>,
    ) -> Result<Vec<u32>, CatalogError> {
        Ok(Vec::new())
    }
}

/// A statement bound to the database's schemas, ready to plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// A query.
    Select(BoundSelect),
    /// A new table.
    CreateTable {
        /// Its name.
        name: String,
        /// Its fields.
        schema: Schema,
    },
    /// A new field at the end of a table's schema.
    AlterTableAdd {
        /// The table (it exists).
        table: String,
        /// The field (its name is new in the table).
        field: FieldDef,
    },
    /// A change of a field's catalog entries.
    AlterField {
        /// The table (it exists).
        table: String,
        /// The field (a user field of the table).
        field: String,
        /// What changes.
        change: segdb_engine::CatalogChange,
    },
    /// A table to delete, with all its rows.
    DropTable {
        /// The table (it exists).
        name: String,
    },
    /// The list of tables.
    ShowTables,
    /// The fields of a table.
    ShowFields {
        /// The table (it exists).
        table: String,
    },
    /// The plan of a query, with estimated sizes, instead of its answer.
    Explain(BoundSelect),
    /// A new (or replaced) named segment.
    CreateSegment(BoundSegment),
    /// A segment to delete.
    DropSegment {
        /// The segment (it exists).
        name: String,
    },
    /// The list of segments.
    ShowSegments,
    /// The list of campaigns.
    ShowCampaigns,
    /// A new (or replaced) derived tag.
    CreateTag(BoundTag),
    /// A tag to delete (it exists).
    DropTag {
        /// Its name.
        name: String,
    },
    /// The list of derived tags.
    ShowTags,
    /// A new campaign (boxed: it is large).
    CreateCampaign(Box<BoundCampaign>),
    /// A campaign to delete (whether it exists is the campaigns' store's
    /// to say when it runs: the catalog knows no campaigns).
    DropCampaign {
        /// The campaign's name.
        name: String,
    },
    /// A procedure call, checked against its signature.
    Call(BoundCall),
    /// Who is in a segment: value counts, shares and TGI per field.
    Insight(BoundInsight),
    /// Two segments side by side.
    Compare(BoundCompare),
}

/// A bound `CREATE [OR REPLACE] SEGMENT`.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundSegment {
    /// The segment's name.
    pub name: String,
    /// Its table (it exists).
    pub table: String,
    /// `OR REPLACE`.
    pub replace: bool,
    /// `SNAPSHOT`: evaluate `filter` now and store the rows.
    pub snapshot: bool,
    /// The WHERE expression in canonical text: what a dynamic segment stores.
    pub text: String,
    /// The segments the expression names (`IN SEGMENT x`), each once, in
    /// the order written.
    pub uses: Vec<String>,
    /// The expression, bound (segments it uses expanded) on `as_of`.
    pub filter: Expr,
    /// The day a snapshot is evaluated on (today).
    pub as_of: Day,
    /// Things that are allowed but likely mistakes.
    pub warnings: Vec<Warning>,
}

/// A bound SELECT.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundSelect {
    /// The table.
    pub table: String,
    /// The rows it is about (`Expr::All` without WHERE).
    pub filter: Expr,
    /// What it returns about them.
    pub projection: Projection,
    /// The day it is evaluated on: its AS OF date, else today.
    pub as_of: Day,
    /// Things that are allowed but likely mistakes (a value no row holds).
    pub warnings: Vec<Warning>,
}

/// What a SELECT returns.
#[derive(Debug, Clone, PartialEq)]
pub enum Projection {
    /// `SELECT COUNT(*)`: the number of rows.
    Count,
    /// `SELECT user_id [LIMIT n [OFFSET m]]`: the external ids.
    Ids {
        /// At most this many.
        limit: Option<u64>,
        /// After skipping this many.
        offset: u64,
    },
    /// `SELECT SUM(f), COUNT(*), …`: one row of aggregates, in this order.
    Aggregates(Vec<Aggregate>),
    /// `SELECT f, COUNT(*) … GROUP BY f`: the number of rows per value.
    GroupBy {
        /// The ENUM, SET or BOOL field.
        field: String,
        /// `ORDER BY COUNT(*) …`, if given.
        order: Option<SortOrder>,
        /// At most this many groups.
        limit: Option<u64>,
        /// After skipping this many.
        offset: u64,
    },
    /// `SELECT tag, COUNT(*) … GROUP BY tag` on a derived tag: the number
    /// of rows per value, each value's rows an expression.
    GroupByTag {
        /// The tag.
        tag: String,
        /// Its values (`false` and `true` for a BOOL tag) and their rows.
        groups: Vec<(String, Expr)>,
        /// `ORDER BY COUNT(*) …`, if given.
        order: Option<SortOrder>,
        /// At most this many groups.
        limit: Option<u64>,
        /// After skipping this many.
        offset: u64,
    },
}

/// One aggregate of a select list: the engine's, which computes them.
pub use segdb_engine::Aggregate;

/// Binds one parsed statement. `today` is the day `last N days` counts
/// back from when the statement has no AS OF.
pub fn bind(
    stmt: &ast::Statement,
    catalog: &dyn Catalog,
    today: Day,
) -> Result<Statement, QueryError> {
    let source: &str = &stmt.source;
    match &stmt.kind {
        ast::StatementKind::Select(select) => {
            bind_select(select, source, catalog, today).map(Statement::Select)
        }
        ast::StatementKind::Explain(select) => {
            bind_select(select, source, catalog, today).map(Statement::Explain)
        }
        ast::StatementKind::CreateTable(create) => bind_create_table(create, source),
        ast::StatementKind::AlterTable(alter) => bind_alter_table(alter, source, catalog),
        ast::StatementKind::AlterField(alter) => schema::bind_alter_field(alter, source, catalog),
        ast::StatementKind::DropTable(name) => {
            table_schema(name, source, catalog)?;
            let on_it: Vec<String> = catalog
                .segment_names()
                .into_iter()
                .filter(|n| catalog.segment(n).is_some_and(|s| s.table == name.name))
                .collect();
            if !on_it.is_empty() {
                return Err(in_use(
                    format!("table `{}` has {}", name.name, listing(&on_it)),
                    name.span,
                    source,
                )
                .with_hint("drop its segments first (DROP SEGMENT s)"));
            }
            Ok(Statement::DropTable {
                name: name.name.clone(),
            })
        }
        ast::StatementKind::ShowTables => Ok(Statement::ShowTables),
        ast::StatementKind::ShowSegments => Ok(Statement::ShowSegments),
        ast::StatementKind::ShowCampaigns => Ok(Statement::ShowCampaigns),
        ast::StatementKind::ShowTags => Ok(Statement::ShowTags),
        ast::StatementKind::CreateTag(create) => bind_create_tag(create, source, catalog, today),
        ast::StatementKind::DropTag(name) => tag::bind_drop_tag(name, source, catalog),
        ast::StatementKind::CreateCampaign(create) => {
            bind_create_campaign(create, &stmt.source, catalog, today)
        }
        ast::StatementKind::DropCampaign(name) => Ok(Statement::DropCampaign {
            name: name.name.clone(),
        }),
        ast::StatementKind::CreateSegment(create) => {
            bind_create_segment(create, source, catalog, today)
        }
        ast::StatementKind::DropSegment(name) => {
            segment_ref(name, source, catalog)?;
            let users: Vec<String> = catalog
                .segment_names()
                .into_iter()
                .filter(|n| *n != name.name)
                .filter(|n| {
                    catalog
                        .segment(n)
                        .is_some_and(|s| s.uses.contains(&name.name))
                })
                .collect();
            if !users.is_empty() {
                return Err(in_use(
                    format!("segment `{}` is used by {}", name.name, listing(&users)),
                    name.span,
                    source,
                )
                .with_hint(format!(
                    "drop or replace {} first",
                    if users.len() == 1 { "it" } else { "them" }
                )));
            }
            Ok(Statement::DropSegment {
                name: name.name.clone(),
            })
        }
        ast::StatementKind::Call(call) => bind_call(call, source, catalog).map(Statement::Call),
        ast::StatementKind::Insight(insight) => {
            insight::bind_insight(insight, source, catalog, today).map(Statement::Insight)
        }
        ast::StatementKind::Compare(compare) => {
            insight::bind_compare(compare, source, catalog, today).map(Statement::Compare)
        }
        ast::StatementKind::ShowFields(table) => {
            table_schema(table, source, catalog)?;
            Ok(Statement::ShowFields {
                table: table.name.clone(),
            })
        }
    }
}

/// The schema of the table `table` names, or an "unknown table" error with
/// the nearest name.
fn table_schema(table: &Ident, source: &str, catalog: &dyn Catalog) -> Result<Schema, QueryError> {
    if let Some(schema) = catalog.schema(&table.name) {
        return Ok(schema);
    }
    let names = catalog.table_names();
    let hint = suggest::nearest(&table.name, names.iter().map(String::as_str))
        .map(|name| format!("did you mean `{name}`?"));
    Err(QueryError::new(
        ErrorKind::UnknownTable {
            table: table.name.clone(),
        },
        table.span,
        source,
    )
    .with_hint_opt(hint))
}

/// Parses `text` and binds each of its statements.
pub fn parse_and_bind(
    text: &str,
    catalog: &dyn Catalog,
    today: Day,
) -> Result<Vec<Statement>, QueryError> {
    crate::parse::parse(text)?
        .iter()
        .map(|stmt| bind(stmt, catalog, today))
        .collect()
}

fn type_error(message: String, span: Span, source: &str) -> QueryError {
    QueryError::new(ErrorKind::Type(message), span, source)
}

/// A date string as a day number, or an error at the string.
fn bind_day(date: &DateLit, source: &str) -> Result<Day, QueryError> {
    parse_iso_day(&date.text).ok_or_else(|| {
        type_error(
            format!("invalid date {}", snippet(&format!("'{}'", date.text))),
            date.span,
            source,
        )
        .with_hint("dates are written 'YYYY-MM-DD', e.g. '2026-11-22'")
    })
}

/// The schema and names of the table a statement is about.
pub(crate) struct TableScope<'a> {
    pub catalog: &'a dyn Catalog,
    pub table: &'a str,
    pub schema: Schema,
    pub source: &'a str,
}

impl TableScope<'_> {
    /// The field named `ident` (not `user_id`), or an "unknown field" error
    /// with the nearest name.
    pub fn field(&self, ident: &Ident) -> Result<&FieldDef, QueryError> {
        // System fields are the engine's: a user can neither name them
        // (a quoted name could spell one) nor be told of them.
        if let Some(def) = self.schema.user_field(&ident.name) {
            return Ok(def);
        }
        let names = self.schema.user_fields().map(|f| f.name.as_str());
        let hint = suggest::nearest(&ident.name, names.chain([ID_COLUMN]))
            .map(|name| format!("did you mean `{name}`?"));
        Err(QueryError::new(
            ErrorKind::UnknownField {
                table: self.table.to_string(),
                field: ident.name.clone(),
            },
            ident.span,
            self.source,
        )
        .with_hint_opt(hint))
    }

    pub fn type_error(&self, message: String, span: Span) -> QueryError {
        type_error(message, span, self.source)
    }

    /// "`user_id` cannot be used in …": the external id is no field.
    pub fn id_column_error(&self, ident: &Ident, use_: &str) -> QueryError {
        self.type_error(
            format!("`{ID_COLUMN}` is the external id and cannot be used in {use_}"),
            ident.span,
        )
    }
}

fn bind_select(
    select: &ast::Select,
    source: &str,
    catalog: &dyn Catalog,
    today: Day,
) -> Result<BoundSelect, QueryError> {
    let table = &select.table;
    let schema = table_schema(table, source, catalog)?;
    let scope = TableScope {
        catalog,
        table: &table.name,
        schema,
        source,
    };
    let as_of = match &select.as_of {
        Some(date) => bind_day(date, source)?,
        None => today,
    };
    let projection = bind_projection(select, &scope, as_of)?;
    let mut binder = FilterBinder::new(&scope, as_of);
    let filter = match &select.filter {
        Some(expr) => binder.bind(expr)?,
        None => Expr::All,
    };
    let warnings = binder.into_warnings();
    Ok(BoundSelect {
        table: table.name.clone(),
        filter,
        projection,
        as_of,
        warnings,
    })
}

/// A LIMIT or OFFSET count.
fn bind_count(n: &ast::IntLit, what: &str, scope: &TableScope<'_>) -> Result<u64, QueryError> {
    u64::try_from(n.value).map_err(|_| {
        scope.type_error(
            format!("{what} must be 0 or more, found `{}`", n.value),
            n.span,
        )
    })
}

fn bind_projection(
    select: &ast::Select,
    scope: &TableScope<'_>,
    as_of: Day,
) -> Result<Projection, QueryError> {
    // Unknown names first, in the order they are written.
    for item in &select.items {
        match &item.kind {
            SelectItemKind::Field(f)
            | SelectItemKind::Aggregate { field: f, .. }
            | SelectItemKind::Quantile { field: f, .. }
                if f.name != ID_COLUMN && !tag::is_tag(scope, f) =>
            {
                scope.field(f)?;
            }
            _ => {}
        }
    }
    if let Some(g) = select.group_by.as_ref().filter(|g| g.name != ID_COLUMN) {
        if !tag::is_tag(scope, g) {
            scope.field(g)?;
        }
    }

    let (limit, offset) = match &select.limit {
        Some(l) => (
            Some(bind_count(&l.limit, "LIMIT", scope)?),
            match &l.offset {
                Some(o) => bind_count(o, "OFFSET", scope)?,
                None => 0,
            },
        ),
        None => (None, 0),
    };
    let has_fields = select
        .items
        .iter()
        .any(|i| matches!(i.kind, SelectItemKind::Field(_)));

    if !has_fields {
        if let Some(g) = &select.group_by {
            return Err(scope
                .type_error(
                    "GROUP BY needs the grouped field in the select list".into(),
                    g.span,
                )
                .with_hint(format!("write SELECT {g}, COUNT(*) FROM … GROUP BY {g}")));
        }
        no_order_by(select, scope)?;
        if let Some(l) = &select.limit {
            return Err(scope
                .type_error(
                    "LIMIT does not apply to a select list of aggregates (it has one row)".into(),
                    l.limit.span,
                )
                .with_hint("LIMIT applies to SELECT user_id and to GROUP BY"));
        }
        let aggregates = select
            .items
            .iter()
            .map(|item| bind_aggregate(&item.kind, scope))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(match aggregates.as_slice() {
            [Aggregate::Count] => Projection::Count,
            _ => Projection::Aggregates(aggregates),
        });
    }

    match select.items.as_slice() {
        [ast::SelectItem {
            kind: SelectItemKind::Field(id),
            ..
        }] if id.name == ID_COLUMN => {
            if let Some(g) = &select.group_by {
                return Err(scope
                    .type_error("GROUP BY does not apply to SELECT user_id".into(), g.span)
                    .with_hint(format!(
                        "to count rows per value write SELECT {g}, COUNT(*) FROM … GROUP BY {g}"
                    )));
            }
            no_order_by(select, scope)?;
            Ok(Projection::Ids { limit, offset })
        }
        [ast::SelectItem {
            kind: SelectItemKind::Field(field),
            ..
        }, ast::SelectItem {
            kind: SelectItemKind::CountStar,
            ..
        }] => {
            bind_group_by(select, field, scope)?;
            if let Some(groups) = tag::tag_groups(field, scope, as_of)? {
                return Ok(Projection::GroupByTag {
                    tag: field.name.clone(),
                    groups,
                    order: select.order_by.map(|o| o.order),
                    limit,
                    offset,
                });
            }
            Ok(Projection::GroupBy {
                field: field.name.clone(),
                order: select.order_by.map(|o| o.order),
                limit,
                offset,
            })
        }
        items => {
            let misplaced = items.iter().find_map(|item| match &item.kind {
                SelectItemKind::Field(field) => Some((item.span, field)),
                _ => None,
            });
            let Some((span, field)) = misplaced else {
                return Err(
                    scope.type_error("this select list is not supported".into(), Span::default())
                );
            };
            let hint = if field.name == ID_COLUMN {
                "user_id is selected alone: SELECT user_id FROM … WHERE …".to_string()
            } else {
                format!("to count rows per value write SELECT {field}, COUNT(*) FROM … GROUP BY {field}")
            };
            Err(scope
                .type_error(
                    format!(
                        "{} cannot be selected here: select user_id alone, a field with COUNT(*) \
                         and GROUP BY, or aggregates",
                        snippet(&field.name)
                    ),
                    span,
                )
                .with_hint(hint))
        }
    }
}

fn no_order_by(select: &ast::Select, scope: &TableScope<'_>) -> Result<(), QueryError> {
    match &select.order_by {
        Some(o) => Err(scope.type_error("ORDER BY applies only with GROUP BY".into(), o.span)),
        None => Ok(()),
    }
}

fn bind_aggregate(item: &SelectItemKind, scope: &TableScope<'_>) -> Result<Aggregate, QueryError> {
    let (func, field) = match item {
        SelectItemKind::CountStar => return Ok(Aggregate::Count),
        SelectItemKind::Aggregate { func, field } => (func, field),
        SelectItemKind::Quantile { field, q } => return bind_quantile(field, q, scope),
        SelectItemKind::Field(field) => {
            return Err(scope.type_error(
                format!("{} is not an aggregate", snippet(&field.name)),
                field.span,
            ))
        }
    };
    if field.name == ID_COLUMN {
        return Err(scope.id_column_error(field, func.as_str()));
    }
    let def = scope.field(field)?;
    if def.kind != FieldKind::Int {
        return Err(scope.type_error(
            format!(
                "{}(…) applies to INT fields; `{}` is {}",
                func.as_str(),
                def.name,
                def.kind.as_str()
            ),
            field.span,
        ));
    }
    let name = def.name.clone();
    Ok(match func {
        ast::AggFunc::Sum => Aggregate::Sum(name),
        ast::AggFunc::Avg => Aggregate::Avg(name),
        ast::AggFunc::Min => Aggregate::Min(name),
        ast::AggFunc::Max => Aggregate::Max(name),
    })
}

/// `QUANTILE(f, q)`: an INT field and `0 <= q <= 1`.
fn bind_quantile(
    field: &Ident,
    q: &ast::NumLit,
    scope: &TableScope<'_>,
) -> Result<Aggregate, QueryError> {
    if field.name == ID_COLUMN {
        return Err(scope.id_column_error(field, "QUANTILE"));
    }
    let def = scope.field(field)?;
    if def.kind != FieldKind::Int {
        return Err(scope.type_error(
            format!(
                "QUANTILE(…) applies to INT fields; `{}` is {}",
                def.name,
                def.kind.as_str()
            ),
            field.span,
        ));
    }
    match q.text.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(Aggregate::Quantile(def.name.clone(), v)),
        _ => Err(scope
            .type_error(
                format!("a quantile is between 0 and 1, found {}", snippet(&q.text)),
                q.span,
            )
            .with_hint("QUANTILE(income, 0.9) is the 90th percentile")),
    }
}
