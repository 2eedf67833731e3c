//! `fields_used` and `segment_fields`: every field a statement touches,
//! written or reached through segments, placed where the statement names
//! it.

mod common;

use segdb_engine::Schema;
use segdb_query_lang::{
    fields_used, line_column, parse, segment_fields, Catalog, CatalogError, FieldUse, SegmentRef,
    Signature,
};

use common::TestCatalog;

/// `(table, field, the text at its span, segment)` of each use.
fn uses_in(text: &str, catalog: &dyn Catalog) -> Vec<(String, String, String, Option<String>)> {
    let stmts = parse(text).unwrap();
    assert_eq!(stmts.len(), 1, "{text}");
    fields_used(&stmts[0], catalog)
        .into_iter()
        .map(|u: FieldUse| {
            let at = text[u.span.start..u.span.end].to_owned();
            (u.table, u.field, at, u.segment)
        })
        .collect()
}

fn uses(text: &str) -> Vec<(String, String, String, Option<String>)> {
    uses_in(text, &TestCatalog)
}

fn own(table: &str, field: &str) -> (String, String, String, Option<String>) {
    (table.into(), field.into(), field.into(), None)
}

fn via(field: &str, segment: &str) -> (String, String, String, Option<String>) {
    (
        "users".into(),
        field.into(),
        segment.into(),
        Some(segment.into()),
    )
}

#[test]
fn select_names_its_fields_but_not_the_id() {
    assert_eq!(
        uses(
            "SELECT city, COUNT(*) FROM users WHERE age > 30 AND NOT (is_owner OR \
             user_id IN ('u000000001')) AND did(search, last 7 days) GROUP BY city"
        ),
        [
            own("users", "city"),
            own("users", "city"),
            own("users", "age"),
            own("users", "is_owner"),
            own("users", "search"),
        ]
    );
    assert_eq!(
        uses("SELECT SUM(age), QUANTILE(income, 0.5), COUNT(*) FROM users"),
        [own("users", "age"), own("users", "income")]
    );
    assert_eq!(uses("SELECT user_id FROM users LIMIT 3"), []);
    assert_eq!(
        uses("EXPLAIN SELECT COUNT(*) FROM houses WHERE rooms BETWEEN 1 AND 3"),
        [own("houses", "rooms")]
    );
}

#[test]
fn campaign_groups_reach_the_fields_their_campaign_reads() {
    // The test catalog's campaigns read `city` (their audience or
    // templates): each group reaches it, placed at the campaign's name.
    let text =
        "SELECT COUNT(*) FROM users WHERE in_variant(spring, 'a') AND NOT sent(autumn) AND age > 3";
    let got: Vec<(String, String, Option<String>)> =
        fields_used(&parse(text).unwrap()[0], &TestCatalog)
            .into_iter()
            .map(|u| {
                (
                    u.field,
                    text[u.span.start..u.span.end].to_owned(),
                    u.campaign,
                )
            })
            .collect();
    assert_eq!(
        got,
        [
            ("city".into(), "spring".into(), Some("spring".into())),
            ("city".into(), "autumn".into(), Some("autumn".into())),
            ("age".into(), "age".into(), None),
        ]
    );
    // CALL campaign_status's argument and DROP CAMPAIGN reach them too; an
    // unknown campaign reaches nothing (binding reports it).
    for text in ["CALL campaign_status('spring')", "DROP CAMPAIGN spring"] {
        let u = fields_used(&parse(text).unwrap()[0], &TestCatalog);
        assert_eq!(u.len(), 1, "{text}: {u:?}");
        assert_eq!(
            (u[0].field.as_str(), u[0].campaign.as_deref()),
            ("city", Some("spring"))
        );
    }
    assert_eq!(uses("SELECT COUNT(*) FROM users WHERE sent(nope)"), []);
}

#[test]
fn segments_are_followed_recursively_and_placed_at_their_name() {
    // active_ios = IN SEGMENT bj_active AND os = 'ios';
    // bj_active = city = 'c000' AND last_login_days < 7.
    assert_eq!(
        uses("SELECT COUNT(*) FROM users WHERE gender = 'f' AND IN SEGMENT active_ios"),
        [
            own("users", "gender"),
            via("city", "active_ios"),
            via("last_login_days", "active_ios"),
            via("os", "active_ios"),
        ]
    );
    // A cycle (which binding refuses) still ends.
    assert_eq!(
        uses("SELECT COUNT(*) FROM users WHERE IN SEGMENT loop_a"),
        [via("is_owner", "loop_a")]
    );
    // 31 segments deep, each naming the one below twice.
    assert_eq!(
        uses("SELECT COUNT(*) FROM users WHERE IN SEGMENT x30"),
        [via("is_owner", "x30")]
    );
    // A segment's table is its own.
    assert_eq!(
        uses("SELECT COUNT(*) FROM houses WHERE IN SEGMENT big_houses"),
        [(
            "houses".into(),
            "rooms".into(),
            "big_houses".into(),
            Some("big_houses".into())
        )]
    );
    // Unknown segments and tables are binding's to report.
    assert_eq!(uses("SELECT COUNT(*) FROM users WHERE IN SEGMENT nope"), []);
    assert_eq!(
        uses("SELECT COUNT(*) FROM nope WHERE a = 1"),
        [own("nope", "a")]
    );
}

#[test]
fn create_segment_insight_compare_and_call() {
    assert_eq!(
        uses("CREATE SEGMENT s AS SELECT FROM users WHERE income > 5 OR IN SEGMENT churned"),
        [own("users", "income"), via("view", "churned")]
    );
    assert_eq!(
        uses("INSIGHT gender, age FROM users WHERE IN SEGMENT bj_active"),
        [
            own("users", "gender"),
            own("users", "age"),
            via("city", "bj_active"),
            via("last_login_days", "bj_active"),
        ]
    );
    // Without a field list: only the filter's fields (which fields "every
    // field" means is the server's to narrow).
    assert_eq!(
        uses("INSIGHT FROM users WHERE os = 'ios'"),
        [own("users", "os")]
    );
    assert_eq!(
        uses("COMPARE city FROM users WHERE os = 'ios' VERSUS IN SEGMENT churned"),
        [
            own("users", "city"),
            own("users", "os"),
            via("view", "churned")
        ]
    );
    // A segment argument, by position or by name.
    assert_eq!(
        uses("CALL segment_ids('bj_active', 10)"),
        [
            via("city", "'bj_active'"),
            via("last_login_days", "'bj_active'")
        ]
        .map(|(t, f, at, _)| (t, f, at, Some("bj_active".into())))
    );
    assert_eq!(
        uses("CALL segment_info(segment => 'churned')"),
        [(
            "users".into(),
            "view".into(),
            "'churned'".into(),
            Some("churned".into())
        )]
    );
    assert_eq!(uses("CALL profile('users', 'u000000001')"), []);
    assert_eq!(uses("SHOW FIELDS FROM users"), []);
}

/// The test catalog, plus snapshots made from an expression (one narrows
/// its own old rows) and from an uploaded list.
struct WithSnapshots;

impl Catalog for WithSnapshots {
    fn schema(&self, table: &str) -> Option<Schema> {
        TestCatalog.schema(table)
    }
    fn table_names(&self) -> Vec<String> {
        TestCatalog.table_names()
    }
    fn field_values(&self, table: &str, field: &str) -> Vec<String> {
        TestCatalog.field_values(table, field)
    }
    fn resolve_ids(&self, table: &str, ids: &[String]) -> Result<Vec<u32>, CatalogError> {
        TestCatalog.resolve_ids(table, ids)
    }
    fn segment(&self, name: &str) -> Option<SegmentRef> {
        TestCatalog.segment(name)
    }
    fn segment_source(&self, name: &str) -> Option<(String, Option<String>)> {
        match name {
            "rich_frozen" => Some((
                "users".into(),
                Some("income > 100 AND (IN SEGMENT rich_frozen OR IN SEGMENT bj_active)".into()),
            )),
            "uploaded" => Some(("users".into(), None)),
            _ => TestCatalog.segment_source(name),
        }
    }
    fn procedure(&self, name: &str) -> Option<Signature> {
        TestCatalog.procedure(name)
    }
}

#[test]
fn a_snapshot_is_followed_through_the_expression_it_was_made_from() {
    assert_eq!(
        uses_in(
            "SELECT COUNT(*) FROM users WHERE IN SEGMENT rich_frozen OR IN SEGMENT uploaded",
            &WithSnapshots
        ),
        [
            via("income", "rich_frozen"),
            via("city", "rich_frozen"),
            via("last_login_days", "rich_frozen"),
        ]
    );
    let fields: Vec<(String, String, Option<String>)> =
        segment_fields("rich_frozen", &WithSnapshots)
            .into_iter()
            .map(|u| (u.table, u.field, u.segment))
            .collect();
    assert_eq!(
        fields,
        ["income", "city", "last_login_days"].map(|f| (
            "users".to_owned(),
            f.to_owned(),
            Some("rich_frozen".to_owned())
        ))
    );
    assert!(segment_fields("uploaded", &WithSnapshots).is_empty());
    assert!(segment_fields("nope", &WithSnapshots).is_empty());
}

#[test]
fn line_and_column_of_a_use() {
    let text = "SELECT COUNT(*)\nFROM users\nWHERE  income > 5";
    let stmts = parse(text).unwrap();
    let u = &fields_used(&stmts[0], &TestCatalog)[0];
    assert_eq!(line_column(text, u.span), (3, 8));
}

#[test]
fn an_expression_lists_the_campaigns_it_names_once_each_in_order() {
    let e = segdb_query_lang::parse_expr(
        "sent(b) OR NOT (in_variant(a, 'x', run => 2) AND in_holdout(b)) OR in_campaign('c') OR sent = true",
    )
    .unwrap();
    assert_eq!(e.campaigns(), ["b", "a", "c"]);
    let none = segdb_query_lang::parse_expr("IN SEGMENT s AND age > 1").unwrap();
    assert!(none.campaigns().is_empty());
}

#[test]
fn a_campaign_uses_its_audience_and_its_goals_event() {
    assert_eq!(
        uses(
            "CREATE CAMPAIGN c ON users AUDIENCE WHERE age > 30 \
             CHANNEL file (dir => '/o', format => 'csv') VARIANT a WEIGHT 1 TEMPLATE 'x' \
             SCHEDULE NOW GOAL did(search, 7 days after send)"
        ),
        [own("users", "age"), own("users", "search")]
    );
}
