//! Field permissions (issue 12, item 3): which fields a principal may use.
//!
//! A principal (an API key or a configured token) may be *limited* to
//! fields by name (`allowed_fields`: `field`, any table's, or
//! `table.field`) and to catalog categories (`allowed_categories`). The
//! rule, in [`FieldAccess::may_use`], is the only one:
//!
//! - an admin may use every field (an admin is never limited);
//! - a SENSITIVE field only if the principal lists it, by name or category;
//! - any other field if the principal is not limited, or lists it.
//!
//! A statement is checked before anything is bound or run
//! ([`FieldAccess::check_statement`], over
//! [`segdb_query_lang::fields_used`]: every field it names and every field
//! of every segment it reaches); the first forbidden field is a
//! [`Forbidden`] error, 403 `forbidden_field`. Answers that list fields
//! (SHOW FIELDS, the tables API, profiles) and segments (SHOW SEGMENTS,
//! `GET /v1/segments`, a profile's segments) leave out what a limited
//! principal may not use; an INSIGHT or COMPARE without a field list
//! reports only the fields it may use: statements are bound against
//! [`VisibleCatalog`], the catalog as the principal sees it, where "every
//! field" is every field it may use.

use std::collections::HashMap;
use std::sync::Arc;

use segdb_engine::{FieldDef, Schema};
use segdb_query_lang::{
    ast, fields_used, line_column, segment_fields, Catalog, FieldUse, Statement,
};
use serde::{Deserialize, Serialize};

use crate::exec::ResultSet;
use crate::http::auth::Role;

/// The lists that limit a principal; both absent: not limited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Fields it may use: `field` (in any table) or `table.field`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_fields: Option<Vec<String>>,
    /// Catalog categories whose fields it may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_categories: Option<Vec<String>>,
}

/// The most entries of each list.
pub const MAX_LIST: usize = 1_024;

impl Limits {
    /// Whether either list is given.
    pub fn is_limited(&self) -> bool {
        self.allowed_fields.is_some() || self.allowed_categories.is_some()
    }

    /// Whether the lists name `def` of `table`, by name or category.
    fn lists(&self, table: &str, def: &FieldDef) -> bool {
        let by_name = self
            .allowed_fields
            .iter()
            .flatten()
            .any(|e| match e.split_once('.') {
                Some((t, f)) => t == table && f == def.name,
                None => *e == def.name,
            });
        by_name
            || def
                .category
                .as_ref()
                .is_some_and(|c| self.allowed_categories.iter().flatten().any(|a| a == c))
    }

    /// Checks every entry: a field is `name` or `table.name`, a category
    /// `name` (letters, digits and `_`, not starting with a digit). Names
    /// need not exist: fields and tables may be added later. The error
    /// names the list and the entry.
    pub fn validate(&self) -> Result<(), String> {
        for (list, entries, dotted) in [
            ("allowed_fields", &self.allowed_fields, true),
            ("allowed_categories", &self.allowed_categories, false),
        ] {
            let Some(entries) = entries else { continue };
            if entries.len() > MAX_LIST {
                return Err(format!(
                    "`{list}` has {} entries; at most {MAX_LIST}",
                    entries.len()
                ));
            }
            for e in entries {
                let ok = match e.split_once('.') {
                    Some((t, f)) if dotted => plain_name(t) && plain_name(f),
                    Some(_) => false,
                    None => plain_name(e),
                };
                if !ok {
                    let shown: String = e.chars().take(64).collect();
                    let what = if dotted {
                        "a field name or `table.field`"
                    } else {
                        "a category name"
                    };
                    return Err(format!(
                        "`{list}`: `{shown}` is not {what} (letters, digits and `_`, not starting with a digit)"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A name as tables, fields and categories have: letters, digits and `_`,
/// not starting with a digit, at most 128 bytes.
fn plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

/// What the caller of a statement may use and see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldAccess {
    admin: bool,
    limits: Option<Arc<Limits>>,
}

impl FieldAccess {
    /// Everything: the local command line, an admin.
    pub const FULL: FieldAccess = FieldAccess {
        admin: true,
        limits: None,
    };

    /// The access of a principal with `role` and `limits` (an admin's
    /// limits are ignored; keys and tokens refuse them).
    pub fn new(role: Role, limits: &Limits) -> FieldAccess {
        FieldAccess {
            admin: role >= Role::Admin,
            limits: (role < Role::Admin && limits.is_limited()).then(|| Arc::new(limits.clone())),
        }
    }

    /// Whether the principal is limited to some fields or categories.
    pub fn is_limited(&self) -> bool {
        self.limits.is_some()
    }

    /// The rule (see the module's documentation). A system field
    /// (`#effects`) is no principal's to be allowed or refused: no user
    /// can name, see or write one, so it never stands in the way of a
    /// limited principal's "every field" checks (a `delete`, an import,
    /// an insight with no field list).
    pub fn may_use(&self, table: &str, def: &FieldDef) -> bool {
        if self.admin || def.is_system() {
            return true;
        }
        let listed = self.limits.as_ref().is_some_and(|l| l.lists(table, def));
        if def.sensitive {
            listed
        } else {
            self.limits.is_none() || listed
        }
    }

    /// Whether an answer shows field `def` of `table` to this principal:
    /// a limited principal sees only the fields it may use; any other sees
    /// every field (a SENSITIVE one redacted where it has a value). No
    /// one is shown a system field.
    pub fn shows(&self, table: &str, def: &FieldDef) -> bool {
        !def.is_system() && (!self.is_limited() || self.may_use(table, def))
    }

    /// `Ok` if the principal may use every field `stmt` touches (see
    /// [`fields_used`]); else the first one it may not.
    pub fn check_statement(
        &self,
        stmt: &ast::Statement,
        catalog: &dyn Catalog,
    ) -> Result<(), Forbidden> {
        if self.admin {
            return Ok(());
        }
        self.check_uses(fields_used(stmt, catalog), Some(&stmt.source), catalog)
    }

    /// `Ok` if the principal may use every field segment `name` is defined
    /// with (recursively); what exports and listings of it check.
    pub fn check_segment(&self, name: &str, catalog: &dyn Catalog) -> Result<(), Forbidden> {
        if self.admin {
            return Ok(());
        }
        self.check_uses(segment_fields(name, catalog), None, catalog)
    }

    /// Whether the principal may use derived tag `name` of `table`: every
    /// field its definition reads (through the tags and segments it names).
    pub fn may_use_tag(&self, table: &str, name: &str, catalog: &dyn Catalog) -> bool {
        if self.admin {
            return true;
        }
        // The tag used alone in a WHERE: its definition's fields.
        let Ok(Some(stmt)) = segdb_query_lang::parse_filter_statement(table, name) else {
            return false;
        };
        let uses = fields_used(&stmt, catalog);
        self.check_uses(uses, None, catalog).is_ok()
    }

    /// `Ok` if the principal may use every field campaign `name` reads
    /// (its audience, recursively through segments, and its templates):
    /// what reading, listing or acting on the campaign checks. An unknown
    /// campaign is the caller's to report.
    pub fn check_campaign(&self, name: &str, catalog: &dyn Catalog) -> Result<(), Forbidden> {
        if self.admin {
            return Ok(());
        }
        let Some(c) = catalog.campaign(name) else {
            return Ok(());
        };
        let uses = c
            .fields
            .into_iter()
            .map(|field| FieldUse {
                table: c.table.clone(),
                field,
                span: Default::default(),
                segment: None,
                campaign: Some(name.to_owned()),
            })
            .collect();
        self.check_uses(uses, None, catalog)
    }

    /// `Ok` if the principal may use every field named (those of a write:
    /// ingest, import); names the table does not have are left to the
    /// write to refuse.
    pub fn check_fields<'n>(
        &self,
        table: &str,
        schema: &Schema,
        names: impl IntoIterator<Item = &'n str>,
    ) -> Result<(), Forbidden> {
        for name in names {
            if let Some(def) = schema.field(name) {
                if !self.may_use(table, def) {
                    return Err(Forbidden::new(table, def, None, None));
                }
            }
        }
        Ok(())
    }

    /// `Ok` if the principal may use every field a real-time batch writes.
    /// A `delete` clears every field of its row: a limited principal needs
    /// them all (it may not wipe fields outside its lists); an unlimited
    /// one may delete a row with SENSITIVE fields (erasing reads nothing,
    /// and a row must be erasable without an admin).
    pub fn check_batch(
        &self,
        table: &str,
        schema: &Schema,
        batch: &segdb_engine::write::Batch,
    ) -> Result<(), Forbidden> {
        use segdb_engine::write::Op;
        if self.admin {
            return Ok(());
        }
        let name = |i: &u32| schema.fields.get(*i as usize).map(|f| f.name.as_str());
        for op in &batch.ops {
            let names: Vec<&str> = match op {
                Op::Set { values, .. } => values.iter().filter_map(|(i, _)| name(i)).collect(),
                Op::Add { values, .. } | Op::Remove { values, .. } => {
                    values.iter().filter_map(|(i, _)| name(i)).collect()
                }
                Op::Clear { fields, .. } => fields.iter().filter_map(name).collect(),
                Op::Event { field, .. } => name(field).into_iter().collect(),
                Op::Delete { .. } if self.is_limited() => {
                    schema.fields.iter().map(|f| f.name.as_str()).collect()
                }
                Op::Delete { .. } => Vec::new(),
            };
            self.check_fields(table, schema, names)?;
        }
        Ok(())
    }

    /// `Ok` if the principal may use every field an import's input
    /// writes: the CSV header's columns, every key of every JSON line, the
    /// `event` of every events line. Reads the input only if the table has
    /// a field the principal may not use. Lines that do not parse are
    /// skipped here: the import reports them.
    pub fn check_import(
        &self,
        table: &str,
        schema: &Schema,
        format: segdb_engine::ImportFormat,
        input: impl std::io::Read,
    ) -> Result<(), ImportCheckError> {
        use segdb_engine::csv::{read_record, split_record, without_bom};
        use segdb_engine::ImportFormat;
        if schema.fields.iter().all(|f| self.may_use(table, f)) {
            return Ok(());
        }
        let mut input = std::io::BufReader::new(without_bom(input)?);
        let mut record = Vec::new();
        if format == ImportFormat::JsonLines {
            use std::io::{BufRead, Read};
            loop {
                record.clear();
                // A line past the longest record is the import's to refuse.
                let limit = segdb_engine::csv::MAX_RECORD_BYTES as u64 + 1;
                if (&mut input).take(limit).read_until(b'\n', &mut record)? == 0 {
                    return Ok(());
                }
                if let Ok(serde_json::Value::Object(m)) = serde_json::from_slice(&record) {
                    self.check_fields(table, schema, m.keys().map(String::as_str))?;
                }
            }
        }
        let mut scratch = Vec::new();
        let mut first = true;
        loop {
            if read_record(&mut input, &mut record)? == 0 {
                return Ok(());
            }
            let Ok(line) = std::str::from_utf8(&record) else {
                first = false;
                continue;
            };
            let mut cells = Vec::new();
            match format {
                ImportFormat::Csv => {
                    if split_record(line, &mut scratch, &mut cells).is_ok() {
                        self.check_fields(table, schema, cells.iter().map(|c| c.as_ref()))?;
                    }
                    // Only the header names fields.
                    return Ok(());
                }
                ImportFormat::Events => {
                    if !first && split_record(line, &mut scratch, &mut cells).is_ok() {
                        if let Some(event) = cells.get(1) {
                            self.check_fields(table, schema, [event.as_ref()])?;
                        }
                    }
                }
                ImportFormat::JsonLines => return Ok(()),
            }
            first = false;
        }
    }

    fn check_uses(
        &self,
        uses: Vec<FieldUse>,
        source: Option<&str>,
        catalog: &dyn Catalog,
    ) -> Result<(), Forbidden> {
        let mut schemas: HashMap<String, Option<Schema>> = HashMap::new();
        for u in uses {
            let schema = schemas
                .entry(u.table.clone())
                .or_insert_with(|| catalog.schema(&u.table));
            // An unknown table or field is binding's to report.
            let Some(def) = schema.as_ref().and_then(|s| s.field(&u.field)) else {
                continue;
            };
            if !self.may_use(&u.table, def) {
                let at = source.map(|text| line_column(text, u.span));
                let mut f = Forbidden::new(&u.table, def, u.segment, at);
                f.campaign = u.campaign.map(String::into_boxed_str);
                return Err(f);
            }
        }
        Ok(())
    }
}

/// The catalog as a principal binds against: only the fields it may use
/// and the segments it may use. Statements are checked against the whole
/// catalog first ([`FieldAccess::check_statement`]), so binding meets no
/// forbidden field; what this changes is that no "did you mean" suggests
/// a field or segment the principal may not use, and no value of one.
pub struct VisibleCatalog<'a> {
    inner: &'a dyn Catalog,
    access: &'a FieldAccess,
}

impl FieldAccess {
    /// `catalog` as this principal sees it.
    pub fn catalog<'a>(&'a self, catalog: &'a dyn Catalog) -> VisibleCatalog<'a> {
        VisibleCatalog {
            inner: catalog,
            access: self,
        }
    }
}

impl VisibleCatalog<'_> {
    fn usable(&self, table: &str, field: &str) -> bool {
        self.inner
            .schema(table)
            .and_then(|s| s.field(field).cloned())
            .is_some_and(|def| self.access.may_use(table, &def))
    }
}

impl Catalog for VisibleCatalog<'_> {
    fn schema(&self, table: &str) -> Option<Schema> {
        let mut schema = self.inner.schema(table)?;
        if !self.access.admin {
            schema.fields.retain(|f| self.access.may_use(table, f));
        }
        Some(schema)
    }
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }
    fn field_values(&self, table: &str, field: &str) -> Vec<String> {
        if self.usable(table, field) {
            self.inner.field_values(table, field)
        } else {
            Vec::new()
        }
    }
    fn has_value(&self, table: &str, field: &str, value: &str) -> Option<bool> {
        self.usable(table, field)
            .then(|| self.inner.has_value(table, field, value))
            .flatten()
    }
    fn event_day_bounds(
        &self,
        table: &str,
        field: &str,
    ) -> Option<Option<(segdb_engine::date::Day, segdb_engine::date::Day)>> {
        self.usable(table, field)
            .then(|| self.inner.event_day_bounds(table, field))
            .flatten()
    }
    fn resolve_ids(
        &self,
        table: &str,
        ids: &[String],
    ) -> Result<Vec<u32>, segdb_query_lang::CatalogError> {
        self.inner.resolve_ids(table, ids)
    }
    fn segment(&self, name: &str) -> Option<segdb_query_lang::SegmentRef> {
        self.inner.segment(name)
    }
    // A tag's definition binds against the schema this catalog shows, so
    // a caller cannot reach through a tag a field it may not use.
    fn tag(&self, name: &str) -> Option<segdb_query_lang::TagRef> {
        self.inner.tag(name)
    }
    fn tag_names(&self) -> Vec<String> {
        self.inner.tag_names()
    }
    fn segment_source(&self, name: &str) -> Option<(String, Option<String>)> {
        self.inner.segment_source(name)
    }
    fn segment_names(&self) -> Vec<String> {
        let mut names = self.inner.segment_names();
        if !self.access.admin {
            names.retain(|n| self.access.check_segment(n, self.inner).is_ok());
        }
        names
    }
    fn procedure(&self, name: &str) -> Option<segdb_query_lang::Signature> {
        self.inner.procedure(name)
    }
    fn procedure_names(&self) -> Vec<String> {
        self.inner.procedure_names()
    }
    // A campaign's groups read no field: every principal may use them.
    fn campaign(&self, name: &str) -> Option<segdb_query_lang::CampaignRef> {
        self.inner.campaign(name)
    }
    fn campaign_names(&self) -> Vec<String> {
        self.inner.campaign_names()
    }
    fn campaign_rows(
        &self,
        name: &str,
        run: u32,
        group: segdb_query_lang::ast::CampaignGroup,
        variant: Option<usize>,
    ) -> Result<Vec<u32>, segdb_query_lang::CatalogError> {
        self.inner.campaign_rows(name, run, group, variant)
    }
}

/// An answer that lists fields or segments by name in its first column,
/// narrowed to what the principal may see.
pub enum Listing {
    /// Any other answer: kept as it is.
    Other,
    /// SHOW FIELDS of this table.
    Fields(String),
    /// SHOW SEGMENTS.
    Segments,
    /// SHOW CAMPAIGNS.
    Campaigns,
    /// SHOW TAGS: a tag defined with a field the principal may not use is
    /// left out.
    Tags,
    /// SHOW TABLES: its `fields` column (the third) counts the fields the
    /// principal sees.
    Tables,
}

impl Listing {
    /// What `stmt`'s answer lists.
    pub fn of(stmt: &Statement) -> Listing {
        match stmt {
            Statement::ShowFields { table } => Listing::Fields(table.clone()),
            Statement::ShowSegments => Listing::Segments,
            Statement::ShowCampaigns => Listing::Campaigns,
            Statement::ShowTags => Listing::Tags,
            Statement::ShowTables => Listing::Tables,
            _ => Listing::Other,
        }
    }

    /// Removes the rows `access` may not see: fields a limited principal
    /// may not use ([`FieldAccess::shows`]), segments defined with a field
    /// the principal may not use, campaigns that read one; counts only the
    /// fields it sees.
    pub fn keep_visible(&self, access: &FieldAccess, r: &mut ResultSet, catalog: &dyn Catalog) {
        if access.admin {
            return;
        }
        let name =
            |row: &Vec<serde_json::Value>| row.first().and_then(|v| v.as_str()).map(String::from);
        match self {
            Listing::Other => {}
            Listing::Fields(table) => {
                let Some(schema) = catalog.schema(table) else {
                    return;
                };
                r.rows.retain(|row| {
                    name(row)
                        .and_then(|n| schema.field(&n).cloned())
                        .is_some_and(|def| access.shows(table, &def))
                });
                // The catalog's users of each field: only the segments,
                // campaigns and tags the principal may see.
                let col = |c: &str| r.columns.iter().position(|n| n == c);
                if let Some(c) = col("tags") {
                    for row in &mut r.rows {
                        if let Some(serde_json::Value::Array(users)) = row.get_mut(c) {
                            users.retain(|u| {
                                u.as_str()
                                    .is_some_and(|n| access.may_use_tag(table, n, catalog))
                            });
                        }
                    }
                }
                for (c, segments) in [(col("segments"), true), (col("campaigns"), false)] {
                    let Some(c) = c else { continue };
                    for row in &mut r.rows {
                        if let Some(serde_json::Value::Array(users)) = row.get_mut(c) {
                            users.retain(|u| {
                                u.as_str().is_some_and(|n| {
                                    if segments {
                                        access.check_segment(n, catalog).is_ok()
                                    } else {
                                        access.check_campaign(n, catalog).is_ok()
                                    }
                                })
                            });
                        }
                    }
                }
            }
            Listing::Segments => r
                .rows
                .retain(|row| name(row).is_some_and(|n| access.check_segment(&n, catalog).is_ok())),
            Listing::Tags => r.rows.retain(|row| {
                let table = row.get(1).and_then(|v| v.as_str()).unwrap_or_default();
                name(row).is_some_and(|n| access.may_use_tag(table, &n, catalog))
            }),
            Listing::Campaigns => r.rows.retain(|row| {
                name(row).is_some_and(|n| access.check_campaign(&n, catalog).is_ok())
            }),
            Listing::Tables => {
                for row in &mut r.rows {
                    let Some(table) = name(row) else { continue };
                    if let (Some(schema), Some(cell)) = (catalog.schema(&table), row.get_mut(2)) {
                        let n = schema
                            .fields
                            .iter()
                            .filter(|f| access.shows(&table, f))
                            .count();
                        *cell = serde_json::json!(n);
                    }
                }
            }
        }
    }
}

impl From<Forbidden> for crate::exec::ExecError {
    fn from(f: Forbidden) -> Self {
        crate::exec::ExecError::Forbidden(Box::new(f))
    }
}

impl std::fmt::Display for Forbidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "this principal may not use field `{}` of table `{}`",
            self.field, self.table
        )?;
        match (&self.segment, &self.campaign) {
            (Some(s), Some(c)) => write!(f, " (read by campaign `{c}`, used by segment `{s}`)")?,
            (Some(s), None) => write!(f, " (used by segment `{s}`)")?,
            (None, Some(c)) => write!(f, " (read by campaign `{c}`)")?,
            (None, None) => {}
        }
        Ok(())
    }
}

impl std::error::Error for Forbidden {}

/// Why an import's input was refused before it ran.
#[derive(Debug, thiserror::Error)]
pub enum ImportCheckError {
    /// It writes a field the principal may not use.
    #[error("{0}")]
    Forbidden(#[from] Forbidden),
    /// The spooled input could not be read.
    #[error("reading the import's input: {0}")]
    Io(#[from] std::io::Error),
}

/// A field the principal may not use: 403 `forbidden_field`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forbidden {
    /// The field's table.
    pub table: String,
    /// The field.
    pub field: String,
    /// The segment the statement names that uses it, if it is not
    /// written in the statement.
    pub segment: Option<String>,
    /// The campaign that reads it (its audience or a template), when the
    /// statement reaches it through the campaign's groups or status
    /// (boxed: the error stays small).
    pub campaign: Option<Box<str>>,
    /// Line and column where the statement names it (or the segment).
    pub at: Option<(usize, usize)>,
    /// Whether it is SENSITIVE (which says why).
    pub sensitive: bool,
}

impl Forbidden {
    fn new(
        table: &str,
        def: &FieldDef,
        segment: Option<String>,
        at: Option<(usize, usize)>,
    ) -> Forbidden {
        Forbidden {
            table: table.to_owned(),
            field: def.name.clone(),
            segment,
            campaign: None,
            at,
            sensitive: def.sensitive,
        }
    }

    /// How to get access.
    pub fn hint(&self) -> &'static str {
        if self.sensitive {
            "the field is SENSITIVE: only admins and keys whose allowed_fields or allowed_categories name it may use it"
        } else {
            "the key's allowed_fields and allowed_categories do not name it; an admin can make a key that does"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use segdb_engine::FieldKind;

    fn field(name: &str, sensitive: bool, category: Option<&str>) -> FieldDef {
        FieldDef {
            name: name.into(),
            kind: FieldKind::Int,
            sensitive,
            category: category.map(String::from),
            closed: false,
            catalog: Default::default(),
        }
    }

    fn limits(fields: Option<&[&str]>, categories: Option<&[&str]>) -> Limits {
        let own = |l: Option<&[&str]>| l.map(|l| l.iter().map(|s| s.to_string()).collect());
        Limits {
            allowed_fields: own(fields),
            allowed_categories: own(categories),
        }
    }

    #[test]
    fn the_rule() {
        let age = field("age", false, Some("demographics"));
        let income = field("income", true, Some("finance"));
        let ltv = field("ltv", false, Some("finance"));
        let plain = FieldAccess::new(Role::Read, &Limits::default());
        assert!(plain.may_use("users", &age) && plain.may_use("users", &ltv));
        // SENSITIVE: not for an unlimited key.
        assert!(!plain.may_use("users", &income));
        assert!(plain.shows("users", &income));
        // Admins: everything, whatever the lists.
        let admin = FieldAccess::new(Role::Admin, &limits(Some(&[]), None));
        assert!(admin.may_use("users", &income) && !admin.is_limited());
        // By name, plain or with its table.
        let by_name = FieldAccess::new(Role::Read, &limits(Some(&["age", "users.income"]), None));
        assert!(by_name.may_use("users", &age) && by_name.may_use("users", &income));
        assert!(!by_name.may_use("users", &ltv) && !by_name.shows("users", &ltv));
        assert!(!by_name.may_use("houses", &income));
        assert!(by_name.may_use("houses", &age));
        // By category: a SENSITIVE field of a listed category is listed.
        let finance = FieldAccess::new(Role::Write, &limits(None, Some(&["finance"])));
        assert!(finance.may_use("users", &income) && finance.may_use("users", &ltv));
        assert!(!finance.may_use("users", &age));
        // Empty lists: limited to nothing.
        let nothing = FieldAccess::new(Role::Read, &limits(Some(&[]), Some(&[])));
        assert!(!nothing.may_use("users", &age));
    }

    #[test]
    fn entries_are_checked() {
        assert!(
            limits(Some(&["age", "users.age", "_x1"]), Some(&["finance"]))
                .validate()
                .is_ok()
        );
        let e = limits(Some(&["age", "a b"]), None).validate().unwrap_err();
        assert!(e.contains("`allowed_fields`: `a b`"), "{e}");
        let e = limits(Some(&["users."]), None).validate().unwrap_err();
        assert!(e.contains("`users.`"), "{e}");
        let e = limits(None, Some(&["geo.city"])).validate().unwrap_err();
        assert!(
            e.contains("`allowed_categories`: `geo.city` is not a category name"),
            "{e}"
        );
        let e = limits(Some(&["9lives"]), None).validate().unwrap_err();
        assert!(e.contains("9lives"), "{e}");
    }
}
