//! The derived tags of a store: each is the text of an expression over one
//! table (`CASE WHEN … THEN 'v' … END` or a condition), kept in the
//! manifest and bound again at every use, so a tag reflects every
//! acknowledged write and the statement's day. Nothing is stored per row:
//! creating a tag is one manifest commit, whatever the table's size.

use std::sync::Arc;

use segdb_storage_format::manifest::TagManifest;

use super::{valid_name, State, Store};
use crate::error::{EngineError, Result};

/// A derived tag as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagInfo {
    /// Its name (unique in the store).
    pub name: String,
    /// The table whose rows it describes.
    pub table: String,
    /// The definition's canonical text.
    pub text: String,
    /// The tags its definition names.
    pub uses: Vec<String>,
}

impl TagInfo {
    fn from_manifest(name: &str, t: &TagManifest) -> TagInfo {
        TagInfo {
            name: name.to_owned(),
            table: t.table.clone(),
            text: t.text.clone(),
            uses: t.uses.clone(),
        }
    }
}

impl State {
    /// The tags whose definitions name tag `name`.
    fn tag_users(&self, name: &str) -> Vec<String> {
        self.manifest
            .tags
            .iter()
            .filter(|(n, t)| n.as_str() != name && t.uses.iter().any(|u| u == name))
            .map(|(n, _)| n.clone())
            .collect()
    }
}

impl Store {
    /// Makes the tag `name` of `table` (or replaces it if `replace`) and
    /// commits. The caller (the binder) has checked the text binds, that
    /// the name is no field of the table and that `uses` close no cycle;
    /// the store checks again what it can see under its writer lock: the
    /// table exists, the name is free, the tags used exist on the table,
    /// and a tag that others use is not moved to another table.
    pub fn create_tag(
        &self,
        name: &str,
        table: &str,
        text: &str,
        uses: Vec<String>,
        replace: bool,
    ) -> Result<TagInfo> {
        let _w = self.lock_writer();
        if !valid_name(name) {
            return Err(EngineError::InvalidArgument(format!(
                "tag name `{name}` must be letters, digits and `_`, not starting with a digit"
            )));
        }
        let old = self.state();
        let t = old
            .tables
            .get(table)
            .ok_or_else(|| EngineError::UnknownTable(table.to_owned()))?;
        if t.schema().field(name).is_some() {
            return Err(EngineError::InvalidArgument(format!(
                "table `{table}` has a field `{name}`: a tag cannot take its name"
            )));
        }
        match old.manifest.tags.get(name) {
            Some(_) if !replace => {
                return Err(EngineError::InvalidArgument(format!(
                    "tag `{name}` already exists"
                )))
            }
            Some(p) if p.table != table && !old.tag_users(name).is_empty() => {
                return Err(EngineError::InvalidArgument(format!(
                    "tag `{name}` is used by other tags: it cannot move to table `{table}`"
                )))
            }
            _ => {}
        }
        for u in &uses {
            match old.manifest.tags.get(u) {
                Some(used) if used.table == table && u != name => {}
                _ => {
                    return Err(EngineError::InvalidArgument(format!(
                        "tag `{name}` uses `{u}`, which is no other tag of table `{table}`"
                    )))
                }
            }
        }
        let mut manifest = (*old.manifest).clone();
        manifest.generation += 1;
        let tm = TagManifest {
            table: table.to_owned(),
            text: text.to_owned(),
            uses,
        };
        let info = TagInfo::from_manifest(name, &tm);
        manifest.tags.insert(name.to_owned(), tm);
        manifest.store_with(&*self.fs(), &self.dir)?;
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(State {
            manifest: Arc::new(manifest),
            tables: old.tables.clone(),
            segments: old.segments.clone(),
        });
        Ok(info)
    }

    /// Deletes the tag `name` and commits. A tag other tags use is not
    /// dropped; segments and campaigns that use it are the caller's to
    /// check (their definitions are text the store does not read).
    pub fn drop_tag(&self, name: &str) -> Result<()> {
        let _w = self.lock_writer();
        let old = self.state();
        if !old.manifest.tags.contains_key(name) {
            return Err(EngineError::InvalidArgument(format!(
                "unknown tag `{name}`"
            )));
        }
        let users = old.tag_users(name);
        if !users.is_empty() {
            return Err(EngineError::InvalidArgument(format!(
                "tag `{name}` is used by tag{} {}",
                if users.len() == 1 { "" } else { "s" },
                users.join(", ")
            )));
        }
        let mut manifest = (*old.manifest).clone();
        manifest.generation += 1;
        manifest.tags.remove(name);
        manifest.store_with(&*self.fs(), &self.dir)?;
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(State {
            manifest: Arc::new(manifest),
            tables: old.tables.clone(),
            segments: old.segments.clone(),
        });
        Ok(())
    }

    /// Every tag, by name.
    pub fn tags(&self) -> Vec<TagInfo> {
        self.state()
            .manifest
            .tags
            .iter()
            .map(|(n, t)| TagInfo::from_manifest(n, t))
            .collect()
    }

    /// The tag `name`, if there is one.
    pub fn tag(&self, name: &str) -> Option<TagInfo> {
        self.state()
            .manifest
            .tags
            .get(name)
            .map(|t| TagInfo::from_manifest(name, t))
    }
}
