//! The caps on text length, nesting depth and list length: a text past
//! them is a clean `limit_exceeded` error, never a stack overflow, and a
//! text just within them works.

mod common;

use segdb_engine::Expr;
use segdb_query_lang::ast::{
    Expr as AstExpr, ExprKind, Ident, Predicate, Select, SelectItem, SelectItemKind, Span,
    Statement, StatementKind,
};
use segdb_query_lang::limits::{MAX_DEPTH, MAX_LIST_LEN, MAX_QUERY_BYTES};
use segdb_query_lang::{bind, parse, parse_and_bind, Statement as Bound};

use common::{today, TestCatalog};

fn count_where(condition: &str) -> String {
    format!("SELECT COUNT(*) FROM users WHERE {condition}")
}

fn filter_of(text: &str) -> Expr {
    match parse_and_bind(text, &TestCatalog, today()).unwrap().pop() {
        Some(Bound::Select(select)) => select.filter,
        other => panic!("not a select: {other:?}"),
    }
}

#[test]
fn ten_thousand_nested_parentheses_are_a_depth_error() {
    let n = 10_000;
    let text = count_where(&format!("{}is_owner{}", "(".repeat(n), ")".repeat(n)));
    let err = parse(&text).unwrap_err();
    assert_eq!(err.code(), "limit_exceeded");
    assert_eq!(
        err.message(),
        format!("the nesting depth of the expression exceeds the limit of {MAX_DEPTH}")
    );
    // The error points at the first parenthesis past the limit.
    assert_eq!(
        err.column(),
        "SELECT COUNT(*) FROM users WHERE ".len() + MAX_DEPTH + 1
    );
    assert_eq!(
        parse_and_bind(&text, &TestCatalog, today()).unwrap_err(),
        err
    );
}

#[test]
fn ten_thousand_nots_are_a_depth_error() {
    let text = count_where(&format!("{}is_owner", "NOT ".repeat(10_000)));
    assert_eq!(parse(&text).unwrap_err().code(), "limit_exceeded");
}

#[test]
fn unclosed_parentheses_past_the_limit_are_a_depth_error() {
    let text = count_where(&"(".repeat(100_000));
    assert_eq!(parse(&text).unwrap_err().code(), "limit_exceeded");
}

#[test]
fn nesting_at_the_limit_parses_and_binds() {
    let text = count_where(&format!(
        "{}is_owner{}",
        "(".repeat(MAX_DEPTH),
        ")".repeat(MAX_DEPTH)
    ));
    assert_eq!(
        filter_of(&text),
        Expr::Bool {
            field: "is_owner".into(),
            value: true
        }
    );
    // Alternating AND and OR: the deepest tree the parser can build.
    let mut condition = "is_owner".to_string();
    for i in 0..MAX_DEPTH {
        let op = if i % 2 == 0 { "AND" } else { "OR" };
        condition = format!("flag_1 {op} ({condition})");
    }
    let stmt = &parse(&count_where(&condition)).unwrap()[0];
    bind(stmt, &TestCatalog, today()).unwrap();
    let printed = stmt.to_string();
    assert_eq!(parse(&printed).unwrap()[0].to_string(), printed);
}

#[test]
fn long_chains_of_and_are_flat() {
    let n = 20_000;
    let condition = vec!["age > 3"; n].join(" AND ");
    match filter_of(&count_where(&condition)) {
        Expr::And(xs) => assert_eq!(xs.len(), n),
        other => panic!("{other:?}"),
    }
}

#[test]
fn lists_are_capped() {
    let list = |n: usize| vec!["'c000'"; n].join(",");
    let at_limit = count_where(&format!("city IN ({})", list(MAX_LIST_LEN)));
    match filter_of(&at_limit) {
        Expr::AnyValue { values, .. } => assert_eq!(values.len(), MAX_LIST_LEN),
        other => panic!("{other:?}"),
    }
    let past = count_where(&format!("city IN ({})", list(MAX_LIST_LEN + 1)));
    let err = parse(&past).unwrap_err();
    assert_eq!(err.code(), "limit_exceeded");
    assert!(
        err.message().contains("the number of items in the list"),
        "{err}"
    );
}

#[test]
fn insight_and_compare_field_lists_are_capped() {
    let list = |n: usize| vec!["city"; n].join(", ");
    for (head, tail) in [
        ("INSIGHT", ""),
        ("COMPARE", " WHERE is_owner VERSUS is_tenant"),
    ] {
        let at_limit = format!("{head} {} FROM users{tail}", list(MAX_LIST_LEN));
        let fields = match &parse(&at_limit).unwrap()[0].kind {
            StatementKind::Insight(i) => i.fields.len(),
            StatementKind::Compare(c) => c.fields.len(),
            other => panic!("{other:?}"),
        };
        assert_eq!(fields, MAX_LIST_LEN);
        // Binding it is a clean error: `city` is named twice.
        let err = parse_and_bind(&at_limit, &TestCatalog, today()).unwrap_err();
        assert_eq!(err.code(), "type_error", "{err}");
        assert!(err.message().contains("named twice"), "{err}");

        let past = format!("{head} {} FROM users{tail}", list(MAX_LIST_LEN + 1));
        let err = parse(&past).unwrap_err();
        assert_eq!(err.code(), "limit_exceeded");
        assert!(
            err.message().contains("the number of items in the list"),
            "{err}"
        );
    }
}

#[test]
fn text_length_is_capped() {
    let padding = " ".repeat(MAX_QUERY_BYTES);
    let err = parse(&format!("SELECT COUNT(*) FROM users{padding}")).unwrap_err();
    assert_eq!(err.code(), "limit_exceeded");
    // A text just within the cap is fine.
    let text = format!(
        "SELECT COUNT(*) FROM users{}",
        " ".repeat(MAX_QUERY_BYTES - 26)
    );
    assert_eq!(text.len(), MAX_QUERY_BYTES);
    assert_eq!(parse(&text).unwrap().len(), 1);
}

#[test]
fn hand_built_trees_deeper_than_the_binder_allows_are_an_error() {
    let field = Ident {
        name: "is_owner".into(),
        span: Span::default(),
    };
    let mut expr = AstExpr::predicate(Predicate::Field(field), Span::default());
    for _ in 0..5_000 {
        expr = AstExpr {
            kind: ExprKind::Not(Box::new(expr)),
            span: Span::default(),
        };
    }
    let stmt = Statement {
        kind: StatementKind::Select(Select {
            items: vec![SelectItem {
                kind: SelectItemKind::CountStar,
                span: Span::default(),
            }],
            table: Ident {
                name: "users".into(),
                span: Span::default(),
            },
            filter: Some(expr),
            group_by: None,
            order_by: None,
            limit: None,
            as_of: None,
        }),
        span: Span::default(),
        source: "".into(),
    };
    let err = bind(&stmt, &TestCatalog, today()).unwrap_err();
    assert_eq!(err.code(), "limit_exceeded");
    assert_eq!((err.line(), err.column()), (1, 1));
}

/// The catalog of [`TestCatalog`] plus `p0`..`p99`, where `p{n}` is
/// `IN SEGMENT p{n-1}` under `MAX_DEPTH - 2` NOTs: the trees of segments
/// nest within the trees of their texts.
struct DeepSegments;

impl segdb_query_lang::Catalog for DeepSegments {
    fn schema(&self, table: &str) -> Option<segdb_engine::Schema> {
        TestCatalog.schema(table)
    }
    fn table_names(&self) -> Vec<String> {
        TestCatalog.table_names()
    }
    fn field_values(&self, table: &str, field: &str) -> Vec<String> {
        TestCatalog.field_values(table, field)
    }
    fn resolve_ids(
        &self,
        table: &str,
        ids: &[String],
    ) -> Result<Vec<u32>, segdb_query_lang::CatalogError> {
        TestCatalog.resolve_ids(table, ids)
    }
    fn segment(&self, name: &str) -> Option<segdb_query_lang::SegmentRef> {
        let n: usize = name.strip_prefix('p')?.parse().ok()?;
        let text = match n {
            0 => "is_owner".to_string(),
            n if n < 100 => {
                format!("{}IN SEGMENT p{}", "NOT ".repeat(MAX_DEPTH - 2), n - 1)
            }
            _ => return None,
        };
        Some(segdb_query_lang::SegmentRef {
            table: "users".into(),
            body: segdb_query_lang::SegmentBody::Dynamic(text),
            uses: Vec::new(),
        })
    }
    fn segment_names(&self) -> Vec<String> {
        TestCatalog.segment_names()
    }
}

#[test]
fn segments_nest_up_to_the_limit_and_no_further() {
    use segdb_query_lang::limits::MAX_SEGMENT_NESTING;
    let bind_count = |catalog: &dyn segdb_query_lang::Catalog, segment: &str| {
        parse_and_bind(
            &count_where(&format!("IN SEGMENT {segment}")),
            catalog,
            today(),
        )
    };
    let last = MAX_SEGMENT_NESTING - 1;
    let Some(Bound::Select(select)) = bind_count(&TestCatalog, &format!("d{last}")).unwrap().pop()
    else {
        panic!("a select")
    };
    assert_eq!(
        select.filter,
        Expr::Bool {
            field: "is_owner".into(),
            value: true
        }
    );
    let err = bind_count(&TestCatalog, &format!("d{}", last + 1)).unwrap_err();
    assert_eq!(err.code(), "limit_exceeded", "{err}");
    assert_eq!(err.column(), 45, "{err}");

    // Deep trees within segments within segments: the tree's depth is
    // capped across them, and nothing overflows the stack.
    let err = bind_count(&DeepSegments, "p99").unwrap_err();
    assert_eq!(err.code(), "limit_exceeded", "{err}");
    assert!(err.message().contains("depth"), "{err}");
    let ok = bind_count(&DeepSegments, "p1").unwrap();
    assert_eq!(ok.len(), 1);
}
