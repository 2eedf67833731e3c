//! The syntax tree: what the text says, before any schema is consulted.
//!
//! Every node keeps its byte span in the text it was parsed from, so that
//! the binder can point at the exact spot of a mistake. The tree holds no
//! engine types: it can be printed back to text (see `print.rs`, the
//! `Display` impls), golden-tested and fuzzed on its own.
//!
//! `AND` and `OR` are n-ary: `a AND b AND c` is one `And` with three
//! operands, so a long chain is a flat list rather than a deep tree.
//! Parentheses leave no node of their own, but the parser never merges a
//! parenthesized `AND` into the `AND` around it, so `a AND (b AND c)` stays
//! two nodes and prints back as written.

use std::sync::Arc;

/// A range of bytes `start..end` in the text a node was parsed from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// First byte, included.
    pub start: usize,
    /// Last byte, excluded.
    pub end: usize,
}

impl Span {
    /// The span `start..end`.
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// A name: of a table, field or segment. Quoted names (`"select"`) are
/// names even when they spell a keyword.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    /// The name, with quotes and escapes removed.
    pub name: String,
    /// Where it is written.
    pub span: Span,
}

/// A constant value: `'text'`, `42`, `true`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A string, `'…'`.
    Str(String),
    /// A 64-bit signed integer.
    Int(i64),
    /// `true` or `false`.
    Bool(bool),
}

/// A [`Value`] and where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Literal {
    /// The value.
    pub value: Value,
    /// Where it is written.
    pub span: Span,
}

/// An integer where only an integer may stand (`LIMIT 10`, `last 7 days`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntLit {
    /// The integer.
    pub value: i64,
    /// Where it is written.
    pub span: Span,
}

/// A string that should hold a date, `'YYYY-MM-DD'`; the binder checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateLit {
    /// The string's text.
    pub text: String,
    /// Where it is written (quotes included).
    pub span: Span,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `!=` or `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The operator's text (`!=` for both spellings of "not equal").
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// A window of days for `count(…)` and `did(…)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Window {
    /// `last N days`: the N days ending on the statement's date.
    Last {
        /// N.
        days: IntLit,
        /// The whole window.
        span: Span,
    },
    /// `'a'..'b'`: both ends included.
    Range {
        /// First day.
        first: DateLit,
        /// Last day.
        last: DateLit,
    },
}

impl Window {
    /// Where the window is written.
    pub fn span(&self) -> Span {
        match self {
            Window::Last { span, .. } => *span,
            Window::Range { first, last } => first.span.to(last.span),
        }
    }
}

/// A condition of a WHERE clause, and where it is written.
///
/// Small on purpose (the predicates are boxed): the parser, binder and
/// printer recurse over it, and its size sets their stack use per level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expr {
    /// What it says.
    pub kind: ExprKind,
    /// Where it is written (parentheses around it included).
    pub span: Span,
}

/// The kinds of [`Expr`]: the logic, and the predicates it combines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExprKind {
    /// `a AND b AND …` (two operands or more).
    And(Vec<Expr>),
    /// `a OR b OR …` (two operands or more).
    Or(Vec<Expr>),
    /// `NOT a`.
    Not(Box<Expr>),
    /// A condition on one field, an event count or a segment.
    Predicate(Box<Predicate>),
}

/// A condition that holds no other condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Predicate {
    /// A bare field, `is_owner`.
    Field(Ident),
    /// `field op value`.
    Compare {
        /// The field.
        field: Ident,
        /// The operator.
        op: CmpOp,
        /// Where the operator is written.
        op_span: Span,
        /// The value.
        value: Literal,
    },
    /// `field BETWEEN lo AND hi`.
    Between {
        /// The field.
        field: Ident,
        /// Low end.
        lo: Literal,
        /// High end.
        hi: Literal,
    },
    /// `field IN (…)` or `field NOT IN (…)`.
    In {
        /// The field.
        field: Ident,
        /// `NOT IN`.
        negated: bool,
        /// The values (one or more).
        values: Vec<Literal>,
    },
    /// `field HAS value`.
    Has {
        /// The field.
        field: Ident,
        /// The value.
        value: Literal,
    },
    /// `field HAS ANY (…)`.
    HasAny {
        /// The field.
        field: Ident,
        /// The values (one or more).
        values: Vec<Literal>,
    },
    /// `field HAS ALL (…)`.
    HasAll {
        /// The field.
        field: Ident,
        /// The values (one or more).
        values: Vec<Literal>,
    },
    /// `field IS NULL` or `field IS NOT NULL`.
    IsNull {
        /// The field.
        field: Ident,
        /// `IS NOT NULL`.
        negated: bool,
    },
    /// `count(event, window) op n`.
    EventCount {
        /// The EVENT field.
        event: Ident,
        /// The window.
        window: Window,
        /// The comparison.
        op: CmpOp,
        /// Where the operator is written.
        op_span: Span,
        /// The constant.
        n: IntLit,
    },
    /// `count(event, window) BETWEEN lo AND hi` (both ends included).
    EventBetween {
        /// The EVENT field.
        event: Ident,
        /// The window.
        window: Window,
        /// Low end.
        lo: IntLit,
        /// High end.
        hi: IntLit,
    },
    /// `did(event, window)`.
    Did {
        /// The EVENT field.
        event: Ident,
        /// The window.
        window: Window,
    },
    /// `IN SEGMENT name` (`NOT IN SEGMENT name` is `Not` of this).
    InSegment(Ident),
    /// `in_campaign(c)`, `in_variant(c, 'a')`, `in_holdout(c)`, `sent(c)`,
    /// `clicked(c)` and the other effects, each with an optional
    /// `run => n`.
    Campaign(CampaignPredicate),
}

/// A group of a campaign's run that a campaign predicate names: the
/// frozen groups and `sent` are rows the catalog gives; the effects are
/// values of the table's effects field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CampaignGroup {
    /// `in_campaign(c)`: the run's audience, frozen at its start.
    Audience,
    /// `in_variant(c, 'a')`: the users assigned to one variant.
    Variant,
    /// `in_holdout(c)`: the users held out.
    Holdout,
    /// `sent(c)`: the users a message was delivered to.
    Sent,
    /// `delivered(c)`, `clicked(c)`, …: the users who had the effect.
    Effect(crate::effects::Effect),
}

impl CampaignGroup {
    /// Every group, in the order the documentation lists them.
    pub const ALL: [CampaignGroup; 10] = [
        CampaignGroup::Audience,
        CampaignGroup::Variant,
        CampaignGroup::Holdout,
        CampaignGroup::Sent,
        CampaignGroup::Effect(crate::effects::Effect::Delivered),
        CampaignGroup::Effect(crate::effects::Effect::Opened),
        CampaignGroup::Effect(crate::effects::Effect::Clicked),
        CampaignGroup::Effect(crate::effects::Effect::Converted),
        CampaignGroup::Effect(crate::effects::Effect::Unsubscribed),
        CampaignGroup::Effect(crate::effects::Effect::Uninstalled),
    ];

    /// The function's name in the language.
    pub fn function(self) -> &'static str {
        match self {
            CampaignGroup::Audience => "in_campaign",
            CampaignGroup::Variant => "in_variant",
            CampaignGroup::Holdout => "in_holdout",
            CampaignGroup::Sent => "sent",
            CampaignGroup::Effect(e) => e.as_str(),
        }
    }

    /// The group whose function is named `word` (any case).
    pub fn from_function(word: &str) -> Option<CampaignGroup> {
        CampaignGroup::ALL
            .into_iter()
            .find(|g| g.function().eq_ignore_ascii_case(word))
    }

    /// Whether the function takes a variant's name after the campaign's.
    pub fn takes_variant(self) -> bool {
        self == CampaignGroup::Variant
    }
}

/// A campaign predicate: `in_variant(spring, 'a', run => 2)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignPredicate {
    /// Which group.
    pub group: CampaignGroup,
    /// The campaign (written as a name or a string).
    pub campaign: Ident,
    /// The variant's name (a string), for `in_variant`.
    pub variant: Option<Literal>,
    /// `run => n`: that run rather than the last.
    pub run: Option<IntLit>,
}

impl Expr {
    /// The campaigns the expression's campaign predicates name, each
    /// once, in the order written (what keeps a campaign a dynamic
    /// segment uses from being deleted).
    pub fn campaigns(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut todo = vec![self];
        while let Some(e) = todo.pop() {
            match &e.kind {
                ExprKind::And(xs) | ExprKind::Or(xs) => todo.extend(xs.iter().rev()),
                ExprKind::Not(x) => todo.push(x),
                ExprKind::Predicate(p) => {
                    if let Predicate::Campaign(c) = p.as_ref() {
                        if !out.contains(&c.campaign.name) {
                            out.push(c.campaign.name.clone());
                        }
                    }
                }
            }
        }
        out
    }

    /// The segments the expression names (`IN SEGMENT s`), each once, in
    /// the order written (not those the segments name in turn).
    pub fn segments(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut todo = vec![self];
        while let Some(e) = todo.pop() {
            match &e.kind {
                ExprKind::And(xs) | ExprKind::Or(xs) => todo.extend(xs.iter().rev()),
                ExprKind::Not(x) => todo.push(x),
                ExprKind::Predicate(p) => {
                    if let Predicate::InSegment(s) = p.as_ref() {
                        if !out.contains(&s.name) {
                            out.push(s.name.clone());
                        }
                    }
                }
            }
        }
        out
    }

    /// A predicate as an expression.
    pub fn predicate(predicate: Predicate, span: Span) -> Expr {
        Expr {
            kind: ExprKind::Predicate(Box::new(predicate)),
            span,
        }
    }
}

/// A statement, with the text it was parsed from (for error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// What it says.
    pub kind: StatementKind,
    /// Where it is written, without the `;`.
    pub span: Span,
    /// The whole text the statement was parsed from; spans index into it.
    /// A statement built by hand may leave it empty, and its errors then
    /// point at line 1.
    pub source: Arc<str>,
}

/// The kinds of [`Statement`].
// A SELECT is larger than the other statements; there is one per statement,
// and boxing it would only make matching on it clumsier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatementKind {
    /// `SELECT …`.
    Select(Select),
    /// `CREATE TABLE …`.
    CreateTable(CreateTable),
    /// `ALTER TABLE t ADD name KIND [SENSITIVE] [CATEGORY c]`.
    AlterTable(AlterTable),
    /// `ALTER TABLE t ALTER FIELD f SET DESCRIPTION '…' CATEGORY '…' …`.
    AlterField(AlterField),
    /// `DROP TABLE t`: the table's name.
    DropTable(Ident),
    /// `SHOW TABLES`.
    ShowTables,
    /// `SHOW FIELDS FROM t`: the table's name.
    ShowFields(Ident),
    /// `EXPLAIN SELECT …`: the plan of a query, not its answer.
    Explain(Select),
    /// `CREATE [OR REPLACE] SEGMENT s [SNAPSHOT] AS SELECT FROM t WHERE …`.
    CreateSegment(CreateSegment),
    /// `DROP SEGMENT s`: the segment's name.
    DropSegment(Ident),
    /// `SHOW SEGMENTS`.
    ShowSegments,
    /// `SHOW CAMPAIGNS`.
    ShowCampaigns,
    /// `CREATE [OR REPLACE] TAG name ON table AS …`.
    CreateTag(CreateTag),
    /// `DROP TAG name`: the tag's name.
    DropTag(Ident),
    /// `SHOW TAGS`.
    ShowTags,
    /// `CREATE CAMPAIGN name ON table …` (boxed: it is large).
    CreateCampaign(Box<CreateCampaign>),
    /// `DROP CAMPAIGN name`: the campaign's name.
    DropCampaign(Ident),
    /// `CALL name(arg, …, name => value)`.
    Call(Call),
    /// `INSIGHT [f, …] FROM t [WHERE …] [TOP k] [WIDTH w] [AS OF …]`.
    Insight(Insight),
    /// `COMPARE [f, …] FROM t WHERE a VERSUS b [TOP k] [WIDTH w] [AS OF …]`.
    Compare(Compare),
}

/// The clauses INSIGHT and COMPARE share after their segments:
/// `[TOP k] [WIDTH w] [AS OF 'date']`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InsightClauses {
    /// `TOP k`: values kept per ENUM, SET or BOOL field.
    pub top: Option<IntLit>,
    /// `WIDTH w`: histogram bucket width of INT fields.
    pub width: Option<IntLit>,
    /// The AS OF date.
    pub as_of: Option<DateLit>,
}

/// `INSIGHT [f, …] FROM table [WHERE filter] [TOP k] [WIDTH w] [AS OF 'date']`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insight {
    /// The fields, in the order written; empty: every ENUM, SET, BOOL and
    /// INT field.
    pub fields: Vec<Ident>,
    /// The table after FROM.
    pub table: Ident,
    /// The WHERE clause (no WHERE: the whole table).
    pub filter: Option<Expr>,
    /// TOP, WIDTH and AS OF.
    pub clauses: InsightClauses,
}

/// `COMPARE [f, …] FROM table WHERE a VERSUS b [TOP k] [WIDTH w] [AS OF 'date']`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compare {
    /// The fields, as for [`Insight`].
    pub fields: Vec<Ident>,
    /// The table after FROM.
    pub table: Ident,
    /// Segment A, before VERSUS.
    pub a: Expr,
    /// Segment B, after VERSUS.
    pub b: Expr,
    /// TOP, WIDTH and AS OF.
    pub clauses: InsightClauses,
}

/// A number as written, `0.9` or `1`: kept as text so that it prints back
/// as written; the binder reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumLit {
    /// The number's text (digits, an optional `-` and `.`).
    pub text: String,
    /// Where it is written.
    pub span: Span,
}

/// `CREATE [OR REPLACE] SEGMENT name [SNAPSHOT] AS SELECT FROM table WHERE filter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSegment {
    /// The segment's name.
    pub name: Ident,
    /// `OR REPLACE`: an existing segment of that name is replaced.
    pub or_replace: bool,
    /// `SNAPSHOT`: evaluated once and stored as rows, rather than
    /// re-evaluated at every use.
    pub snapshot: bool,
    /// The table after FROM.
    pub table: Ident,
    /// The WHERE clause.
    pub filter: Expr,
}

/// `CALL name(arg, …)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The procedure.
    pub name: Ident,
    /// The arguments, positional ones first.
    pub args: Vec<Arg>,
    /// Where the argument list is written, parentheses included.
    pub args_span: Span,
}

/// One argument of a CALL: `value` or `name => value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    /// The parameter's name, for a named argument.
    pub name: Option<Ident>,
    /// The value.
    pub value: Literal,
}

impl Arg {
    /// Where the argument is written.
    pub fn span(&self) -> Span {
        match &self.name {
            Some(n) => n.span.to(self.value.span),
            None => self.value.span,
        }
    }
}

/// `SELECT items FROM table [WHERE …] [GROUP BY …] [ORDER BY …] [LIMIT …] [AS OF …]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Select {
    /// The select list (one item or more).
    pub items: Vec<SelectItem>,
    /// The table after FROM.
    pub table: Ident,
    /// The WHERE clause.
    pub filter: Option<Expr>,
    /// The GROUP BY field.
    pub group_by: Option<Ident>,
    /// The ORDER BY clause.
    pub order_by: Option<OrderBy>,
    /// The LIMIT clause.
    pub limit: Option<Limit>,
    /// The AS OF date.
    pub as_of: Option<DateLit>,
}

/// One item of a select list, and where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectItem {
    /// What it says.
    pub kind: SelectItemKind,
    /// Where it is written.
    pub span: Span,
}

/// The kinds of [`SelectItem`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectItemKind {
    /// `COUNT(*)`.
    CountStar,
    /// `SUM(f)`, `AVG(f)`, `MIN(f)`, `MAX(f)`.
    Aggregate {
        /// The function.
        func: AggFunc,
        /// Its field.
        field: Ident,
    },
    /// `QUANTILE(f, q)`: the nearest-rank `q` quantile of an INT field.
    Quantile {
        /// Its field.
        field: Ident,
        /// The quantile, `0.9`.
        q: NumLit,
    },
    /// A field, `user_id` or `city`.
    Field(Ident),
}

/// An aggregate function over an INT field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggFunc {
    /// `SUM`
    Sum,
    /// `AVG`
    Avg,
    /// `MIN`
    Min,
    /// `MAX`
    Max,
}

impl AggFunc {
    /// The function's keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            AggFunc::Sum => "SUM",
            AggFunc::Avg => "AVG",
            AggFunc::Min => "MIN",
            AggFunc::Max => "MAX",
        }
    }
}

/// A sort order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortOrder {
    /// Smallest first (the default).
    Asc,
    /// Largest first.
    Desc,
}

/// `ORDER BY COUNT(*) [ASC|DESC]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderBy {
    /// The order (ASC when not written).
    pub order: SortOrder,
    /// Where the clause is written.
    pub span: Span,
}

/// `LIMIT n [OFFSET m]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// n.
    pub limit: IntLit,
    /// m.
    pub offset: Option<IntLit>,
}

/// `CREATE TABLE name (field KIND [SENSITIVE] [CATEGORY c], …)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTable {
    /// The table's name.
    pub name: Ident,
    /// Its fields (one or more).
    pub fields: Vec<FieldDecl>,
}

/// `ALTER TABLE table ADD field`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterTable {
    /// The table.
    pub table: Ident,
    /// The field it gains.
    pub field: FieldDecl,
}

/// `ALTER TABLE table ALTER FIELD field SET item 'text' [item 'text' …]`:
/// a change of the field's catalog entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterField {
    /// The table.
    pub table: Ident,
    /// The field.
    pub field: Ident,
    /// The entries set, in the order written (each at most once).
    pub set: Vec<(CatalogItem, StrLit)>,
}

/// A catalog entry ALTER FIELD … SET may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CatalogItem {
    /// `DESCRIPTION`
    Description,
    /// `CATEGORY`
    Category,
    /// `OWNER`
    Owner,
    /// `SOURCE`
    Source,
}

impl CatalogItem {
    /// Every item.
    pub const ALL: [CatalogItem; 4] = [
        CatalogItem::Description,
        CatalogItem::Category,
        CatalogItem::Owner,
        CatalogItem::Source,
    ];

    /// Its keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            CatalogItem::Description => "DESCRIPTION",
            CatalogItem::Category => "CATEGORY",
            CatalogItem::Owner => "OWNER",
            CatalogItem::Source => "SOURCE",
        }
    }
}

/// One field of a CREATE TABLE or ALTER TABLE … ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDecl {
    /// The field's name.
    pub name: Ident,
    /// Its kind.
    pub kind: KindName,
    /// `CLOSED` (ENUM and SET): where it is written, if it is.
    pub closed: Option<Span>,
    /// `SENSITIVE`: where it is written, if it is.
    pub sensitive: Option<Span>,
    /// `CATEGORY name`: the catalog category, if one is given.
    pub category: Option<Ident>,
    /// Where the whole declaration is written.
    pub span: Span,
}

/// A field kind keyword (the engine's `FieldKind`, kept apart so that the
/// parser knows no engine type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KindName {
    /// `ENUM`
    Enum,
    /// `SET`
    Set,
    /// `BOOL` (or `BOOLEAN`)
    Bool,
    /// `INT` (or `INTEGER`, `BIGINT`)
    Int,
    /// `EVENT`
    Event,
    /// `TEXT`
    Text,
}

impl KindName {
    /// The kind's keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            KindName::Enum => "ENUM",
            KindName::Set => "SET",
            KindName::Bool => "BOOL",
            KindName::Int => "INT",
            KindName::Event => "EVENT",
            KindName::Text => "TEXT",
        }
    }

    /// The kind a keyword names, case-insensitively.
    pub fn from_keyword(word: &str) -> Option<KindName> {
        Some(match word.to_ascii_uppercase().as_str() {
            "ENUM" => KindName::Enum,
            "SET" => KindName::Set,
            "BOOL" | "BOOLEAN" => KindName::Bool,
            "INT" | "INTEGER" | "BIGINT" => KindName::Int,
            "EVENT" => KindName::Event,
            "TEXT" => KindName::Text,
            _ => return None,
        })
    }
}

mod campaign;
mod clear_spans;
mod tag;
pub use campaign::{
    CampaignAudience, CapClause, CreateCampaign, DurationLit, GoalClause, MessageKind,
    ScheduleClause, Setting, SettingValue, Settings, StrLit, TriggerClause, VariantClause,
};
pub use clear_spans::ClearSpans;
pub use tag::{CaseDef, CreateTag, TagDef};
