//! The standard data set as `segdb gen` writes it (users.csv, events.csv),
//! read naively: the model that end-to-end tests of the binary and the
//! HTTP API check answers against.

use std::collections::HashMap;
use std::path::Path;

use segdb_engine::{FieldDef, FieldKind, Schema};

/// The generated files, read naively.
pub struct Data {
    /// users.csv's header.
    pub header: Vec<String>,
    /// users.csv's rows, cell by cell.
    pub rows: Vec<Vec<String>>,
    /// (user, event) -> (ISO day, count).
    pub events: HashMap<(String, String), Vec<(String, u64)>>,
}

/// One row of users.csv.
pub struct Row<'a> {
    data: &'a Data,
    cells: &'a [String],
}

impl<'a> Row<'a> {
    /// A cell by column name.
    pub fn get(&self, field: &str) -> &'a str {
        let i = self.data.header.iter().position(|h| h == field).unwrap();
        &self.cells[i]
    }
    /// The external id.
    pub fn id(&self) -> &'a str {
        self.get("user_id")
    }
    /// An INT cell (`None` when empty).
    pub fn int(&self, field: &str) -> Option<i64> {
        let v = self.get(field);
        (!v.is_empty()).then(|| v.parse().unwrap())
    }
    /// A BOOL cell.
    pub fn is(&self, field: &str) -> bool {
        self.get(field) == "1"
    }
    /// Whether a SET cell (`a|b`) holds `value`.
    pub fn has(&self, field: &str, value: &str) -> bool {
        self.get(field).split('|').any(|v| v == value)
    }
    /// The sum of an event's counts over `first..=last` (ISO days).
    pub fn events(&self, event: &str, first: &str, last: &str) -> u64 {
        self.event_days(event)
            .iter()
            .filter(|(d, _)| d.as_str() >= first && d.as_str() <= last)
            .map(|(_, c)| c)
            .sum()
    }
    /// An event's (ISO day, count) lines for this user.
    pub fn event_days(&self, event: &str) -> &'a [(String, u64)] {
        let key = (self.id().to_string(), event.to_string());
        self.data.events.get(&key).map_or(&[], |v| v.as_slice())
    }
}

impl Data {
    /// Reads users.csv and events.csv of `dir`.
    pub fn read(dir: &Path) -> Data {
        let text = std::fs::read_to_string(dir.join("users.csv")).unwrap();
        let mut lines = text.lines();
        let header = lines.next().unwrap().split(',').map(String::from).collect();
        let rows = lines
            .map(|l| l.split(',').map(String::from).collect())
            .collect();
        let mut events: HashMap<(String, String), Vec<(String, u64)>> = HashMap::new();
        let text = std::fs::read_to_string(dir.join("events.csv")).unwrap();
        for line in text.lines().skip(1) {
            let cells: Vec<&str> = line.split(',').collect();
            events
                .entry((cells[0].to_string(), cells[1].to_string()))
                .or_default()
                .push((cells[2].to_string(), cells[3].parse().unwrap()));
        }
        Data {
            header,
            rows,
            events,
        }
    }

    /// Every row.
    pub fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(|cells| Row { data: self, cells })
    }

    /// The rows for which `f` holds.
    pub fn count(&self, f: impl Fn(&Row<'_>) -> bool) -> u64 {
        self.rows().filter(|r| f(r)).count() as u64
    }

    /// The row with external id `id`.
    pub fn row(&self, id: &str) -> Option<Row<'_>> {
        self.rows().find(|r| r.id() == id)
    }
}

/// The `users` table of the standard data set, as the generator's
/// `schema.sql` declares it (a server test checks that they agree).
pub fn users_schema() -> Schema {
    use FieldKind::*;
    let mut fields = vec![
        FieldDef::new("gender", Enum),
        FieldDef::new("age", Int),
        FieldDef::new("city", Enum),
        FieldDef::new("district", Enum),
        FieldDef::new("education", Enum),
        FieldDef::new("os", Enum),
        FieldDef::new("member_level", Int),
        FieldDef::new("product", Enum),
        FieldDef::new("income", Int),
        FieldDef::new("ltv", Int),
        FieldDef::new("last_login_days", Int),
        FieldDef::new("contract_end_days", Int),
        FieldDef::new("is_owner", Bool),
        FieldDef::new("is_tenant", Bool),
    ];
    fields.extend((0..10).map(|i| FieldDef::new(format!("flag_{i}"), Bool)));
    fields.push(FieldDef::new("interests", Set));
    for event in ["search", "view", "favorite", "book"] {
        fields.push(FieldDef::new(event, Event));
    }
    Schema { fields }
}
