//! Table schemas: named fields of one field kind each.

use serde::{Deserialize, Serialize};

/// The kind of a field (DESIGN.md, "Field kinds").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum FieldKind {
    /// One value per row; a bitmap per value.
    Enum,
    /// Any number of values per row; a bitmap per value. An empty set is null.
    Set,
    /// true / false / null: a bitmap of true rows and a bitmap of non-null rows.
    Bool,
    /// A 64-bit signed integer: a bit-sliced index plus a not-null bitmap.
    Int,
    /// A count per row per day.
    Event,
    /// A display string, not indexed.
    Text,
}

impl FieldKind {
    /// The kind's keyword in the language (`ENUM`, `SET`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::Enum => "ENUM",
            FieldKind::Set => "SET",
            FieldKind::Bool => "BOOL",
            FieldKind::Int => "INT",
            FieldKind::Event => "EVENT",
            FieldKind::Text => "TEXT",
        }
    }

    /// Parses a kind keyword, case-insensitively.
    pub fn parse(s: &str) -> Option<FieldKind> {
        Some(match s.to_ascii_uppercase().as_str() {
            "ENUM" => FieldKind::Enum,
            "SET" => FieldKind::Set,
            "BOOL" | "BOOLEAN" => FieldKind::Bool,
            "INT" | "INTEGER" | "BIGINT" => FieldKind::Int,
            "EVENT" => FieldKind::Event,
            "TEXT" => FieldKind::Text,
            _ => return None,
        })
    }
}

/// One field of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDef {
    /// The field's name (unique in its table; `user_id` is reserved).
    pub name: String,
    /// Its kind.
    pub kind: FieldKind,
    /// Usable only by principals allowed it explicitly (by name or
    /// category) and admins; redacted in their profiles for the others.
    #[serde(default)]
    pub sensitive: bool,
    /// Its catalog category, if any (`finance`, `contact`, …): what a
    /// limited key may be allowed instead of naming each field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// ENUM or SET only: the values it has are all it may have; writing
    /// another is an error (`name ENUM CLOSED`), not a new value.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub closed: bool,
    /// What the catalog says of it besides its category: description,
    /// owner, source, and when it was last written.
    #[serde(default, skip_serializing_if = "FieldCatalog::is_default")]
    pub catalog: FieldCatalog,
}

/// Where a field's values come from (README, "The field catalog").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldSource {
    /// Loaded by imports: what a field is unless someone says otherwise
    /// (every field made by CREATE TABLE or ALTER TABLE … ADD starts so).
    #[default]
    Imported,
    /// Written by real-time ingest.
    Realtime,
    /// Computed by a rule over other fields (a derived tag): set by the
    /// statement that creates such a field, never by ALTER FIELD.
    Derived,
    /// Kept by hand.
    Manual,
    /// Scores written by models outside the database.
    Predictive,
}

impl FieldSource {
    /// Every source, in the order the catalog documents them.
    pub const ALL: [FieldSource; 5] = [
        FieldSource::Imported,
        FieldSource::Realtime,
        FieldSource::Derived,
        FieldSource::Manual,
        FieldSource::Predictive,
    ];

    /// Its name (`imported`, `realtime`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            FieldSource::Imported => "imported",
            FieldSource::Realtime => "realtime",
            FieldSource::Derived => "derived",
            FieldSource::Manual => "manual",
            FieldSource::Predictive => "predictive",
        }
    }

    /// Parses a source name, case-insensitively (`real-time` and
    /// `real_time` are `realtime`).
    pub fn parse(s: &str) -> Option<FieldSource> {
        let s = s.to_ascii_lowercase().replace(['-', '_'], "");
        FieldSource::ALL.into_iter().find(|k| k.as_str() == s)
    }

    fn is_imported(&self) -> bool {
        *self == FieldSource::Imported
    }
}

/// A field's catalog entry (besides [`FieldDef::category`], which
/// permissions also use).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldCatalog {
    /// What the field means, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Who answers for it (a team, a person).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Where its values come from.
    #[serde(default, skip_serializing_if = "FieldSource::is_imported")]
    pub source: FieldSource,
    /// When a write last touched it, in milliseconds since the Unix epoch:
    /// the commit of an import that had it as a column, or a real-time
    /// batch that changed it (kept in memory while the batch is in the
    /// live delta, durable from the flush that writes it into a part).
    /// `None`: never written since the catalog existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_written_ms: Option<u64>,
}

impl FieldCatalog {
    /// Whether nothing is set.
    pub fn is_default(&self) -> bool {
        *self == FieldCatalog::default()
    }
}

/// A change of catalog entries (`ALTER TABLE t ALTER FIELD f SET …`):
/// `None` leaves an entry as it is; an empty string clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogChange {
    /// The new description.
    pub description: Option<String>,
    /// The new category.
    pub category: Option<String>,
    /// The new owner.
    pub owner: Option<String>,
    /// The new source.
    pub source: Option<FieldSource>,
}

impl CatalogChange {
    /// Applies the change to `field`.
    pub fn apply(&self, field: &mut FieldDef) {
        let set = |slot: &mut Option<String>, v: &Option<String>| {
            if let Some(v) = v {
                *slot = (!v.is_empty()).then(|| v.clone());
            }
        };
        set(&mut field.catalog.description, &self.description);
        set(&mut field.category, &self.category);
        set(&mut field.catalog.owner, &self.owner);
        if let Some(s) = self.source {
            field.catalog.source = s;
        }
    }
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl FieldDef {
    /// A field that is not sensitive.
    pub fn new(name: impl Into<String>, kind: FieldKind) -> FieldDef {
        FieldDef {
            name: name.into(),
            kind,
            sensitive: false,
            category: None,
            closed: false,
            catalog: FieldCatalog::default(),
        }
    }

    /// Whether this is a system field ([`is_system_name`]).
    pub fn is_system(&self) -> bool {
        is_system_name(&self.name)
    }
}

/// What the name of a system field begins with. A system field is one the
/// engine's own subsystems keep in a table (a campaign's effects:
/// `#effects`), through the same writes, WAL, flush and compaction as any
/// field, but which no user can name, see, write or create: user names are
/// letters, digits and `_`, so they never begin with it.
pub const SYSTEM_FIELD_PREFIX: char = '#';

/// Whether `name` is a system field's name (it begins with
/// [`SYSTEM_FIELD_PREFIX`]).
pub fn is_system_name(name: &str) -> bool {
    name.starts_with(SYSTEM_FIELD_PREFIX)
}

/// The name of the external id column in every table.
pub const ID_COLUMN: &str = "user_id";

/// The most fields a table may have: every field is listed in the
/// manifest, and an insight with no field list asks every one.
pub const MAX_FIELDS: usize = 1_024;

/// Refuses a table `name` of `n` fields past [`MAX_FIELDS`].
pub(crate) fn check_num_fields(name: &str, n: usize) -> crate::Result<()> {
    if n > MAX_FIELDS {
        return Err(crate::EngineError::InvalidSchema(format!(
            "table `{name}` would have {n} fields; a table has at most {MAX_FIELDS}"
        )));
    }
    Ok(())
}

/// The longest ENUM or SET value accepted from ingest and import, in
/// bytes: every value is listed in the manifest.
pub const MAX_VALUE_LEN: usize = 256;

/// The fields of a table, in declaration order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    /// The fields.
    pub fields: Vec<FieldDef>,
}

impl Schema {
    /// The field with this name (names compare case-sensitively).
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The index of the field with this name.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// The fields a user sees: all but the system fields, in order.
    pub fn user_fields(&self) -> impl Iterator<Item = &FieldDef> {
        self.fields.iter().filter(|f| !f.is_system())
    }

    /// The field with this name if a user may name it (not a system field).
    pub fn user_field(&self, name: &str) -> Option<&FieldDef> {
        self.user_field_index(name).map(|i| &self.fields[i])
    }

    /// The index of the field with this name if a user may name it.
    pub fn user_field_index(&self, name: &str) -> Option<usize> {
        if is_system_name(name) {
            return None;
        }
        self.field_index(name)
    }

    /// Marks field `i` as written at `ms` (the later time wins).
    pub(crate) fn stamp_written(&mut self, i: usize, ms: u64) {
        if let Some(f) = self.fields.get_mut(i) {
            let t = &mut f.catalog.last_written_ms;
            *t = Some(t.map_or(ms, |old| old.max(ms)));
        }
    }
}
