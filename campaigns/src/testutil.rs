//! A small store for unit tests.

use std::path::Path;

use segdb_engine::date::Day;
use segdb_engine::{FieldDef, FieldKind, ImportFormat, ImportOptions, Schema, Store};

/// The day the test data is "today": 2026-11-22.
pub const TODAY: Day = 20_779;

/// Noon of [`TODAY`], in seconds since 1970-01-01 UTC.
pub const NOW: i64 = TODAY as i64 * 86_400 + 12 * 3600;

/// `users` with `n` rows `u0..`: `city` c{i % 3}, `age` i % 50, `tags`
/// t{i % 4} and t{i % 5}, `name` "Name{i}", `phone` (SENSITIVE TEXT),
/// `vip` (BOOL), and `view` events: i % 4 on TODAY and 1 on TODAY - 10.
pub fn store(dir: &Path, n: u32) -> Store {
    let s = Store::open(dir).unwrap();
    let mut phone = FieldDef::new("phone", FieldKind::Text);
    phone.sensitive = true;
    let schema = Schema {
        fields: vec![
            FieldDef::new("city", FieldKind::Enum),
            FieldDef::new("age", FieldKind::Int),
            FieldDef::new("tags", FieldKind::Set),
            FieldDef::new("name", FieldKind::Text),
            phone,
            FieldDef::new("vip", FieldKind::Bool),
            FieldDef::new("view", FieldKind::Event),
        ],
    };
    s.create_table("users", &schema).unwrap();
    let mut csv = String::from("user_id,city,age,tags,name,phone,vip\n");
    for i in 0..n {
        csv.push_str(&format!(
            "u{i},c{},{},t{}|t{},Name{i},+100{i},{}\n",
            i % 3,
            i % 50,
            i % 4,
            i % 5,
            i % 2
        ));
    }
    s.import(
        "users",
        ImportFormat::Csv,
        csv.as_bytes(),
        &ImportOptions::default(),
    )
    .unwrap();
    let mut lines = String::new();
    let today = segdb_engine::date::format_iso_day(TODAY);
    let before = segdb_engine::date::format_iso_day(TODAY - 10);
    for i in 0..n {
        if i % 4 > 0 {
            lines.push_str(&format!(
                "{{\"id\":\"u{i}\",\"event\":\"view\",\"day\":\"{today}\",\"count\":{}}}\n",
                i % 4
            ));
        }
        lines.push_str(&format!(
            "{{\"id\":\"u{i}\",\"event\":\"view\",\"day\":\"{before}\"}}\n"
        ));
    }
    let t = s.table("users").unwrap();
    let batch = segdb_engine::write::parse_batch(t.schema(), &lines).unwrap();
    s.ingest("users", batch).unwrap();
    s
}
