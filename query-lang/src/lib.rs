//! segdb's query language: text -> syntax tree (with byte spans) ->
//! statements bound to a table's schema -> the engine's [`Expr`](segdb_engine::Expr).
//!
//! ```text
//! text --parse--> ast::Statement --bind(Catalog, today)--> Statement { filter: Expr, … }
//! ```
//!
//! [`parse`] knows no schema and no engine type, so it can be tested and
//! fuzzed alone; [`bind`] checks names and kinds against a [`Catalog`]
//! and turns the WHERE clause into an [`Expr`](segdb_engine::Expr) with set semantics of two
//! values (DESIGN.md, "The language").
//!
//! # Grammar
//!
//! ```text
//! statements   ::= [ statement ( ";" statement )* [ ";" ] ]
//! statement    ::= select | create_table | alter_table | drop_table
//!                | create_segment | drop_segment | show | explain | call
//!                | insight | compare | create_campaign | drop_campaign
//!
//! select       ::= "SELECT" select_item ( "," select_item )* "FROM" name
//!                  [ "WHERE" expr ]
//!                  [ "GROUP" "BY" name ]
//!                  [ "ORDER" "BY" "COUNT" "(" "*" ")" [ "ASC" | "DESC" ] ]
//!                  [ "LIMIT" integer [ "OFFSET" integer ] ]
//!                  [ "AS" "OF" string ]
//! select_item  ::= "COUNT" "(" "*" ")"
//!                | ( "SUM" | "AVG" | "MIN" | "MAX" ) "(" name ")"
//!                | "QUANTILE" "(" name "," number ")"   (0 <= number <= 1)
//!                | name
//!
//! insight      ::= "INSIGHT" [ field_list ] "FROM" name [ "WHERE" expr ]
//!                  insight_tail
//! compare      ::= "COMPARE" [ field_list ] "FROM" name
//!                  "WHERE" expr "VERSUS" expr insight_tail
//! field_list   ::= name ( "," name )*   (none: every ENUM, SET, BOOL, INT field)
//! insight_tail ::= [ "TOP" integer ] [ "WIDTH" integer ] [ "AS" "OF" string ]
//!
//! create_table ::= "CREATE" "TABLE" name "(" field_decl ( "," field_decl )* ")"
//! alter_table  ::= "ALTER" "TABLE" name "ADD" field_decl
//! drop_table   ::= "DROP" "TABLE" name
//! create_segment ::= "CREATE" [ "OR" "REPLACE" ] "SEGMENT" name [ "SNAPSHOT" ]
//!                  "AS" "SELECT" "FROM" name "WHERE" expr
//! drop_segment ::= "DROP" "SEGMENT" name
//! create_campaign ::= "CREATE" "CAMPAIGN" name "ON" name campaign_clause+
//!                  (any order; each once but VARIANT; AUDIENCE, CHANNEL,
//!                  VARIANT and SCHEDULE required)
//! campaign_clause ::= "AUDIENCE" ( "WHERE" expr | "SEGMENT" name )
//!                | "CHANNEL" settings | "SPLIT" settings
//!                | "VARIANT" name "WEIGHT" integer "TEMPLATE" string
//!                | "HOLDOUT" number | "CAP" integer "PER" integer ( "DAYS" | "DAY" )
//!                | "PRIORITY" integer | "KIND" ( "MARKETING" | "TRANSACTIONAL" )
//!                | "SCHEDULE" ( "NOW" | "AT" string | "DAILY" "AT" string )
//!                | "APPROVAL" "REQUIRED" | "RATE" integer "PER" "SECOND"
//!                | "ALLOW" "SENSITIVE"
//!                | "GOAL" "did" "(" name "," integer ( "DAYS" | "DAY" ) "AFTER" "SEND" ")"
//! settings     ::= name [ "(" [ param "=>" ( value | decimal )
//!                  ( "," param "=>" ( value | decimal ) )* ] ")" ]
//! drop_campaign ::= "DROP" "CAMPAIGN" name
//! show         ::= "SHOW" "TABLES" | "SHOW" "FIELDS" "FROM" name | "SHOW" "SEGMENTS"
//!                | "SHOW" "CAMPAIGNS"
//! explain      ::= "EXPLAIN" select
//! call         ::= "CALL" name "(" [ arg ( "," arg )* ] ")"
//! arg          ::= value | param "=>" value   (positional arguments first)
//! param        ::= word | reserved word | quoted_name
//! field_decl   ::= name kind [ "SENSITIVE" ] [ "CATEGORY" name ]
//! kind         ::= "ENUM" | "SET" | "BOOL" | "INT" | "EVENT" | "TEXT"
//!
//! expr         ::= and_expr ( "OR" and_expr )*
//! and_expr     ::= not_expr ( "AND" not_expr )*
//! not_expr     ::= "NOT" not_expr | primary
//! primary      ::= "(" expr ")"
//!                | "IN" "SEGMENT" name
//!                | "count" "(" name "," window ")" cmp_op integer
//!                | "count" "(" name "," window ")" "BETWEEN" integer "AND" integer
//!                | "did" "(" name "," window ")"
//!                | campaign_fn "(" campaign [ "," string ] [ "," "run" "=>" integer ] ")"
//!                | name predicate
//! campaign_fn  ::= "in_campaign" | "in_variant" | "in_holdout" | "sent"
//!                  (followed by "(": elsewhere a name; the string, a
//!                  variant's name, only and always for in_variant)
//! campaign     ::= name | string
//! predicate    ::= cmp_op value
//!                | "BETWEEN" value "AND" value
//!                | [ "NOT" ] "IN" value_list
//!                | "HAS" value | "HAS" "ANY" value_list | "HAS" "ALL" value_list
//!                | "IS" [ "NOT" ] "NULL"
//!                | (* nothing: a bare BOOL field *)
//! window       ::= "last" integer ( "day" | "days" ) | string ".." string
//! value_list   ::= "(" value ( "," value )* ")"
//! value        ::= string | integer | "TRUE" | "FALSE"
//! cmp_op       ::= "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="
//! name         ::= word | quoted_name
//!
//! word         ::= [A-Za-z_][A-Za-z0-9_]*      (not a reserved word)
//! quoted_name  ::= '"' ( any character but '"' | '""' )+ '"'
//! string       ::= "'" ( any character but "'" | "''" )* "'"
//! integer      ::= [-]?[0-9]+                  (a 64-bit signed integer)
//! decimal      ::= [-]?[0-9]+ "." [0-9]+        (kept as written)
//! number       ::= integer | decimal
//! comment      ::= "--" to the end of the line | "/*" … "*/"
//! ```
//!
//! Keywords are case-insensitive; names are case-sensitive. The reserved
//! words, which name nothing unless quoted, are AND AS BETWEEN BY CREATE
//! FALSE FROM GROUP HAS IN IS LIMIT NOT NULL OFFSET OR ORDER SELECT TABLE
//! TRUE WHERE; other keywords (`count`, `last`, `ASC`, `SHOW`, `TABLES`,
//! `ADD`, `SEGMENT`, `SNAPSHOT`, `CALL`, `INSIGHT`, `COMPARE`, `VERSUS`,
//! `TOP`, `WIDTH`, `QUANTILE`, …) are keywords only where the grammar
//! expects them, so a field may be called `top`. `NOT` binds
//! tighter than `AND`, which binds tighter than `OR`. The text, the nesting
//! of parentheses and `NOT`, and every list are capped ([`limits`]).
//!
//! # Example
//!
//! ```
//! use segdb_engine::date::parse_iso_day;
//! use segdb_engine::{CmpOp, DayRange, Expr, FieldDef, FieldKind, Schema};
//! use segdb_query_lang::{parse_and_bind, Catalog, CatalogError, Projection, Statement};
//!
//! struct Users;
//! impl Catalog for Users {
//!     fn schema(&self, table: &str) -> Option<Schema> {
//!         (table == "users").then(|| Schema {
//!             fields: vec![
//!                 FieldDef::new("city", FieldKind::Enum),
//!                 FieldDef::new("search", FieldKind::Event),
//!             ],
//!         })
//!     }
//!     fn table_names(&self) -> Vec<String> {
//!         vec!["users".into()]
//!     }
//!     fn field_values(&self, _: &str, _: &str) -> Vec<String> {
//!         Vec::new()
//!     }
//!     fn resolve_ids(&self, _: &str, _: &[String]) -> Result<Vec<u32>, CatalogError> {
//!         Ok(Vec::new())
//!     }
//! }
//!
//! let today = parse_iso_day("2026-11-22").unwrap();
//! let text = "SELECT COUNT(*) FROM users WHERE city = 'c000' AND count(search, last 7 days) > 3";
//! let mut statements = parse_and_bind(text, &Users, today)?;
//! let Some(Statement::Select(select)) = statements.pop() else {
//!     panic!("a select")
//! };
//! assert_eq!(select.projection, Projection::Count);
//! let week = DayRange { first: parse_iso_day("2026-11-16").unwrap(), last: today };
//! assert_eq!(
//!     select.filter,
//!     Expr::And(vec![
//!         Expr::Value { field: "city".into(), value: "c000".into() },
//!         Expr::EventCount { field: "search".into(), days: week, op: CmpOp::Gt, n: 3 },
//!     ])
//! );
//!
//! let err = parse_and_bind("SELECT COUNT(*) FROM users WHERE cty = 'c000'", &Users, today)
//!     .unwrap_err();
//! assert_eq!(err.code(), "unknown_field");
//! assert_eq!(err.hint().as_deref(), Some("did you mean `city`?"));
//! # Ok::<(), segdb_query_lang::QueryError>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ast;
mod bind;
pub mod effects;
mod error;
mod explain;
mod fields_used;
mod parse;
mod print;
pub mod procedure;
mod suggest;

pub use ast::SortOrder;
pub use bind::{
    bind, bind_filter, bind_segment, bind_segment_definition, bind_tag, check_batch,
    parse_and_bind, tag_values, Aggregate, BoundCampaign, BoundCompare, BoundFilter, BoundInsight,
    BoundSegment, BoundSelect, BoundTag, CampaignRef, Catalog, InsightSpec, Projection,
    SegmentBody, SegmentRef, Statement, TagField, TagRef, INSIGHT_WINDOW_DAYS,
};
pub use error::{line_column, CatalogError, ErrorKind, QueryError, Warning};

/// The candidate nearest to `name` for a "did you mean", if one is near
/// enough (the rule every name suggestion of the language uses).
pub fn did_you_mean<'c>(
    name: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    suggest::nearest(name, candidates)
}
pub use explain::ExplainExpr;
pub use fields_used::{fields_used, segment_fields, FieldUse};
pub use parse::{
    parse, parse_expr, parse_filter, parse_filter_statement, parse_segment_select,
    parse_tag_definition,
};
pub use procedure::{ArgValue, BoundCall, Param, ParamType, ProcedureRole, Signature};

/// The caps that keep any text from exhausting memory or the stack.
pub mod limits {
    /// The longest text accepted, in bytes (1 MiB).
    pub const MAX_QUERY_BYTES: usize = 1 << 20;
    /// The deepest nesting of parentheses and `NOT`s.
    pub const MAX_DEPTH: usize = 256;
    /// The most items in one list: values of `IN (…)`, fields of a table,
    /// items of a select list.
    pub const MAX_LIST_LEN: usize = 100_000;
    /// The deepest syntax tree the binder accepts. Parsed trees stay far
    /// below it; it guards trees built by hand.
    pub const MAX_TREE_DEPTH: usize = 4 * MAX_DEPTH;
    /// The deepest chain of segments defined with other segments that one
    /// `IN SEGMENT` may expand.
    pub const MAX_SEGMENT_NESTING: usize = 64;
    /// The most segments one statement may expand, counting each use
    /// (segments that use a segment twice double its uses).
    pub const MAX_SEGMENT_EXPANSIONS: usize = 10_000;
}
