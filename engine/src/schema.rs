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
}
