//! Checking a batch of statements whole before any of them runs: each is
//! bound against the catalog as the statements before it will have left
//! it (tables and fields made, segments and campaigns made or dropped), so that a
//! mistake in the last statement stops the batch before the first one
//! changes anything.

use std::collections::{HashMap, HashSet};

use super::*;

/// Binds every statement of `stmts` in turn, each against `catalog` as
/// the ones before it leave it, and returns the first error. Nothing is
/// run and nothing is kept: the caller binds each statement again against
/// the real catalog as it runs it (a snapshot segment's rows exist only
/// once it has run).
pub fn check_batch(
    stmts: &[ast::Statement],
    catalog: &dyn Catalog,
    today: Day,
) -> Result<(), QueryError> {
    if stmts.len() < 2 {
        return Ok(());
    }
    let mut overlay = Overlay::new(catalog);
    for stmt in stmts {
        let bound = bind(stmt, &overlay, today)?;
        overlay.apply(bound);
    }
    Ok(())
}

/// A catalog with the changes of the statements checked so far laid over
/// the real one.
struct Overlay<'a> {
    base: &'a dyn Catalog,
    /// Schemas made or changed by the batch.
    schemas: HashMap<String, Schema>,
    /// Tables made by the batch (no rows, no values, no events).
    new_tables: HashSet<String>,
    dropped_tables: HashSet<String>,
    segments: HashMap<String, SegmentRef>,
    dropped_segments: HashSet<String>,
    tags: HashMap<String, super::TagRef>,
    dropped_tags: HashSet<String>,
    /// Campaigns made by the batch (no run yet).
    campaigns: HashMap<String, super::CampaignRef>,
    dropped_campaigns: HashSet<String>,
}

impl<'a> Overlay<'a> {
    fn new(base: &'a dyn Catalog) -> Overlay<'a> {
        Overlay {
            base,
            schemas: HashMap::new(),
            new_tables: HashSet::new(),
            dropped_tables: HashSet::new(),
            segments: HashMap::new(),
            dropped_segments: HashSet::new(),
            tags: HashMap::new(),
            dropped_tags: HashSet::new(),
            campaigns: HashMap::new(),
            dropped_campaigns: HashSet::new(),
        }
    }

    /// Whether `table` is one this batch made: the real catalog knows
    /// nothing of its rows.
    fn is_new(&self, table: &str) -> bool {
        self.new_tables.contains(table)
    }

    fn apply(&mut self, stmt: Statement) {
        match stmt {
            Statement::CreateTable { name, schema } => {
                self.dropped_tables.remove(&name);
                self.new_tables.insert(name.clone());
                self.schemas.insert(name, schema);
            }
            Statement::AlterTableAdd { table, field } => {
                if let Some(mut schema) = self.schema(&table) {
                    schema.fields.push(field);
                    self.schemas.insert(table, schema);
                }
            }
            Statement::AlterField {
                table,
                field,
                change,
            } => {
                if let Some(mut schema) = self.schema(&table) {
                    if let Some(i) = schema.field_index(&field) {
                        change.apply(&mut schema.fields[i]);
                        self.schemas.insert(table, schema);
                    }
                }
            }
            Statement::DropTable { name } => {
                self.schemas.remove(&name);
                self.new_tables.remove(&name);
                self.dropped_tables.insert(name);
            }
            Statement::CreateSegment(seg) => {
                let (body, uses) = if seg.snapshot {
                    // Its rows exist once it has run; for binding what
                    // follows, its definition stands for them.
                    (SegmentBody::Snapshot(seg.filter), Vec::new())
                } else {
                    (SegmentBody::Dynamic(seg.text), seg.uses)
                };
                self.dropped_segments.remove(&seg.name);
                self.segments.insert(
                    seg.name,
                    SegmentRef {
                        table: seg.table,
                        body,
                        uses,
                    },
                );
            }
            Statement::DropSegment { name } => {
                self.segments.remove(&name);
                self.dropped_segments.insert(name);
            }
            Statement::CreateCampaign(c) => {
                let name = c.stmt.name.name.clone();
                self.dropped_campaigns.remove(&name);
                self.campaigns.insert(
                    name,
                    super::CampaignRef {
                        id: 0,
                        table: c.stmt.table.name.clone(),
                        variants: c
                            .stmt
                            .variants
                            .iter()
                            .map(|v| v.name.name.clone())
                            .collect(),
                        runs: Vec::new(),
                        // Its creation checks what it reads.
                        fields: Vec::new(),
                    },
                );
            }
            Statement::DropCampaign { name } => {
                self.campaigns.remove(&name);
                self.dropped_campaigns.insert(name);
            }
            Statement::CreateTag(tag) => {
                self.dropped_tags.remove(&tag.name);
                self.tags.insert(
                    tag.name,
                    super::TagRef {
                        table: tag.table,
                        text: tag.text,
                    },
                );
            }
            Statement::DropTag { name } => {
                self.tags.remove(&name);
                self.dropped_tags.insert(name);
            }
            Statement::Select(_)
            | Statement::ShowTables
            | Statement::ShowFields { .. }
            | Statement::Explain(_)
            | Statement::ShowSegments
            | Statement::ShowCampaigns
            | Statement::ShowTags
            | Statement::Call(_)
            | Statement::Insight(_)
            | Statement::Compare(_) => {}
        }
    }
}

impl Catalog for Overlay<'_> {
    fn schema(&self, table: &str) -> Option<Schema> {
        if let Some(s) = self.schemas.get(table) {
            return Some(s.clone());
        }
        if self.dropped_tables.contains(table) {
            return None;
        }
        self.base.schema(table)
    }
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .base
            .table_names()
            .into_iter()
            .filter(|n| !self.dropped_tables.contains(n) || self.schemas.contains_key(n))
            .collect();
        for n in self.schemas.keys() {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        names
    }
    fn field_values(&self, table: &str, field: &str) -> Vec<String> {
        if self.is_new(table) {
            return Vec::new();
        }
        self.base.field_values(table, field)
    }
    fn has_value(&self, table: &str, field: &str, value: &str) -> Option<bool> {
        if self.is_new(table) {
            return None;
        }
        self.base.has_value(table, field, value)
    }
    fn event_day_bounds(&self, table: &str, field: &str) -> Option<Option<(Day, Day)>> {
        if self.is_new(table) {
            return None;
        }
        self.base.event_day_bounds(table, field)
    }
    fn resolve_ids(&self, table: &str, ids: &[String]) -> Result<Vec<u32>, CatalogError> {
        if self.is_new(table) {
            return Ok(Vec::new());
        }
        self.base.resolve_ids(table, ids)
    }
    fn segment(&self, name: &str) -> Option<SegmentRef> {
        if let Some(s) = self.segments.get(name) {
            return Some(s.clone());
        }
        if self.dropped_segments.contains(name) {
            return None;
        }
        self.base.segment(name)
    }
    fn segment_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .base
            .segment_names()
            .into_iter()
            .filter(|n| !self.dropped_segments.contains(n) || self.segments.contains_key(n))
            .collect();
        for n in self.segments.keys() {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        names
    }
    fn tag(&self, name: &str) -> Option<super::TagRef> {
        if let Some(t) = self.tags.get(name) {
            return Some(t.clone());
        }
        if self.dropped_tags.contains(name) {
            return None;
        }
        let t = self.base.tag(name)?;
        // A tag of a table the batch dropped went with it.
        (!self.dropped_tables.contains(&t.table) || self.schemas.contains_key(&t.table))
            .then_some(t)
    }
    fn tag_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .base
            .tag_names()
            .into_iter()
            .filter(|n| self.tag(n).is_some())
            .collect();
        for n in self.tags.keys() {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        names
    }
    fn procedure(&self, name: &str) -> Option<Signature> {
        self.base.procedure(name)
    }
    fn procedure_names(&self) -> Vec<String> {
        self.base.procedure_names()
    }
    fn campaign(&self, name: &str) -> Option<super::CampaignRef> {
        if let Some(c) = self.campaigns.get(name) {
            return Some(c.clone());
        }
        if self.dropped_campaigns.contains(name) {
            return None;
        }
        self.base.campaign(name)
    }
    fn campaign_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .base
            .campaign_names()
            .into_iter()
            .filter(|n| !self.dropped_campaigns.contains(n) || self.campaigns.contains_key(n))
            .collect();
        for n in self.campaigns.keys() {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        names
    }
    fn campaign_rows(
        &self,
        name: &str,
        run: u32,
        group: crate::ast::CampaignGroup,
        variant: Option<usize>,
    ) -> Result<Vec<u32>, CatalogError> {
        self.base.campaign_rows(name, run, group, variant)
    }
}
