//! A catalog with the `users` table of ../shared/bench/DATASET.md, for the
//! tests of this crate.
#![allow(dead_code)]

use segdb_engine::date::{parse_iso_day, Day};
use segdb_engine::{Expr, FieldDef, FieldKind, Schema};
use segdb_query_lang::ast::CampaignGroup;
use segdb_query_lang::{
    ArgValue, CampaignRef, Catalog, CatalogError, Param, ParamType, SegmentBody, SegmentRef,
    Signature, TagRef,
};

/// The data set's "today".
pub fn today() -> Day {
    parse_iso_day("2026-11-22").expect("a valid date")
}

/// `users` (the data set's schema, plus `name TEXT SENSITIVE` and the
/// system field `#effects SET`), an empty
/// `houses` and an empty `flats` (the one table without segments); the segments of [`segment`] and the procedures of
/// [`procedures`].
pub struct TestCatalog;

/// The named segments (name, table, body). Beyond these, `x0`..`x30` is a
/// chain where each segment uses the one before twice, and `d0`..`d99` a
/// chain where each uses the one before once.
pub fn segments() -> Vec<(&'static str, &'static str, SegmentBody)> {
    let dynamic = |t: &str| SegmentBody::Dynamic(t.to_string());
    vec![
        (
            "bj_active",
            "users",
            dynamic("city = 'c000' AND last_login_days < 7"),
        ),
        ("churned", "users", dynamic("NOT did(view, last 30 days)")),
        (
            "active_ios",
            "users",
            dynamic("IN SEGMENT bj_active AND os = 'ios'"),
        ),
        (
            "promo_1122",
            "users",
            SegmentBody::Snapshot(Expr::Rows(vec![1, 5, 42])),
        ),
        ("loop_a", "users", dynamic("is_owner OR IN SEGMENT loop_b")),
        ("loop_b", "users", dynamic("IN SEGMENT loop_a")),
        ("big_houses", "houses", dynamic("rooms > 3")),
        ("broken", "users", dynamic("cty = 'c000'")),
    ]
}

/// The derived tags (name, table, definition).
pub fn tags() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        (
            "lifecycle",
            "users",
            "CASE WHEN did(book, last 30 days) THEN 'active' WHEN did(view, last 30 days) \
             THEN 'engaged' WHEN last_login_days > 90 THEN 'churn_risk' ELSE 'dormant' END",
        ),
        ("owner", "users", "is_owner AND age >= 30"),
        (
            "rank",
            "users",
            "CASE WHEN owner THEN 'gold' WHEN age >= 30 THEN 'silver' END",
        ),
        ("tag_a", "users", "is_owner OR tag_b"),
        ("tag_b", "users", "NOT tag_a"),
        ("rich_house", "houses", "rooms > 5"),
        ("broken_tag", "users", "cty = 'c000'"),
    ]
}

/// The procedures `CALL` knows in these tests.
pub fn procedures() -> Vec<Signature> {
    use ParamType::*;
    vec![
        Signature::new(
            "segment_ids",
            vec![
                Param::required("segment", Segment),
                Param::optional("limit", Count, ArgValue::Int(100)),
                Param::optional("offset", Count, ArgValue::Int(0)),
            ],
            "external ids of a segment",
        ),
        Signature::new(
            "segment_info",
            vec![Param::required("segment", Segment)],
            "what a segment is",
        ),
        Signature::new(
            "profile",
            vec![Param::required("table", Table), Param::required("id", Str)],
            "one row",
        ),
        Signature::new(
            "sample",
            vec![
                Param::optional("seed", Int, ArgValue::Int(-1)),
                Param::optional("exact", Bool, ArgValue::Bool(false)),
            ],
            "a test of every type",
        ),
        Signature::new(
            "campaign_status",
            vec![Param::required("campaign", Campaign)],
            "a campaign's runs",
        ),
        Signature::new("procedures", vec![], "the procedures"),
    ]
}

/// The standard data set's `users` table, plus `name TEXT SENSITIVE` and
/// the system field `#effects SET`.
pub fn users_schema() -> Schema {
    use FieldKind::*;
    let mut fields = segdb_tests::generated::users_schema().fields;
    fields.push(FieldDef {
        name: "name".into(),
        kind: Text,
        sensitive: true,
        category: None,
        closed: false,
        catalog: Default::default(),
    });
    // A system field, as a campaign's effects are kept: no statement may
    // name it, list it or be told of it.
    fields.push(FieldDef::new("#effects", Set));
    Schema { fields }
}

impl Catalog for TestCatalog {
    fn schema(&self, table: &str) -> Option<Schema> {
        match table {
            "users" => Some(users_schema()),
            "houses" | "flats" => Some(Schema {
                fields: vec![FieldDef::new("rooms", FieldKind::Int)],
            }),
            _ => None,
        }
    }

    fn table_names(&self) -> Vec<String> {
        vec!["users".into(), "houses".into(), "flats".into()]
    }

    fn field_values(&self, table: &str, field: &str) -> Vec<String> {
        if table != "users" {
            return Vec::new();
        }
        let range = |prefix: &str, n: usize, width: usize| -> Vec<String> {
            (0..n).map(|i| format!("{prefix}{i:0width$}")).collect()
        };
        let words = |ws: &[&str]| ws.iter().map(|w| w.to_string()).collect();
        match field {
            "gender" => words(&["m", "f", "u"]),
            "city" => range("c", 300, 3),
            "district" => range("d", 2000, 4),
            "education" => words(&["primary", "middle", "high", "bachelor", "master", "phd"]),
            "os" => words(&["ios", "android", "other"]),
            "product" => range("p", 8, 1),
            "interests" => range("i", 40, 2),
            _ => Vec::new(),
        }
    }

    fn segment(&self, name: &str) -> Option<SegmentRef> {
        let chain = |prefix: &str, twice: bool| -> Option<SegmentRef> {
            let n: u32 = name.strip_prefix(prefix)?.parse().ok()?;
            let text = match (n, twice) {
                (0, _) => "is_owner".to_string(),
                (n, true) if n <= 30 => {
                    format!("IN SEGMENT {prefix}{0} OR IN SEGMENT {prefix}{0}", n - 1)
                }
                (n, false) if n < 100 => format!("IN SEGMENT {prefix}{}", n - 1),
                _ => return None,
            };
            let uses = match n {
                0 => vec![],
                n => vec![format!("{prefix}{}", n - 1)],
            };
            Some(SegmentRef {
                table: "users".into(),
                body: SegmentBody::Dynamic(text),
                uses,
            })
        };
        if let Some(s) = chain("x", true).or_else(|| chain("d", false)) {
            return Some(s);
        }
        segments()
            .into_iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, table, body)| {
                // The segments its text names, as the store records them.
                let uses = match &body {
                    SegmentBody::Dynamic(text) => text
                        .split("IN SEGMENT ")
                        .skip(1)
                        .filter_map(|rest| rest.split_whitespace().next())
                        .map(String::from)
                        .collect(),
                    SegmentBody::Snapshot(_) => Vec::new(),
                };
                SegmentRef {
                    table: table.into(),
                    body,
                    uses,
                }
            })
    }

    fn tag(&self, name: &str) -> Option<TagRef> {
        tags()
            .into_iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, table, text)| TagRef {
                table: table.into(),
                text: text.into(),
            })
    }

    fn tag_names(&self) -> Vec<String> {
        tags().iter().map(|(n, _, _)| n.to_string()).collect()
    }

    fn segment_names(&self) -> Vec<String> {
        segments().iter().map(|(n, _, _)| n.to_string()).collect()
    }

    fn procedure(&self, name: &str) -> Option<Signature> {
        procedures().into_iter().find(|p| p.name == name)
    }

    fn procedure_names(&self) -> Vec<String> {
        procedures().into_iter().map(|p| p.name).collect()
    }

    /// `spring` (users; variants `a`, `b`; runs 1 and 2), `autumn`
    /// (users, not run yet) and `rooms_promo` (houses; one run).
    fn campaign(&self, name: &str) -> Option<CampaignRef> {
        let (table, variants, runs): (&str, &[&str], Vec<u32>) = match name {
            "spring" => ("users", &["a", "b"], vec![1, 2]),
            "autumn" => ("users", &["only"], vec![]),
            "rooms_promo" => ("houses", &["a"], vec![1]),
            _ => return None,
        };
        Some(CampaignRef {
            id: 7,
            table: table.into(),
            variants: variants.iter().map(|v| v.to_string()).collect(),
            runs,
            fields: vec!["city".into()],
        })
    }

    fn campaign_names(&self) -> Vec<String> {
        ["spring", "autumn", "rooms_promo"]
            .map(String::from)
            .to_vec()
    }

    /// Made-up rows that tell the group, variant and run apart.
    fn campaign_rows(
        &self,
        name: &str,
        run: u32,
        group: CampaignGroup,
        variant: Option<usize>,
    ) -> Result<Vec<u32>, CatalogError> {
        let base = run * 100 + name.len() as u32;
        Ok(match group {
            CampaignGroup::Audience => (base..base + 6).collect(),
            CampaignGroup::Holdout => vec![base],
            CampaignGroup::Variant => vec![base + 1 + variant.unwrap_or(9) as u32 * 2],
            CampaignGroup::Sent => vec![base + 1, base + 3],
            // Effects are bound to the table's effects field, never asked.
            CampaignGroup::Effect(e) => {
                return Err(CatalogError::Failed(format!(
                    "{}({name}) was asked for rows",
                    e.as_str()
                )))
            }
        })
    }

    /// `u` + 9 digits is row id = the number; `damaged!` is a lookup that
    /// fails as a damaged dictionary does; anything else is unknown.
    fn resolve_ids(&self, _table: &str, ids: &[String]) -> Result<Vec<u32>, CatalogError> {
        if ids.iter().any(|id| id == "damaged!") {
            return Err(CatalogError::Corrupt(
                "users/ids-1.seg at byte 4096: checksum mismatch in block 3".into(),
            ));
        }
        Ok(ids
            .iter()
            .filter_map(|id| {
                let digits = id.strip_prefix('u')?;
                (digits.len() == 9).then_some(())?;
                digits.parse().ok()
            })
            .collect())
    }
}
