//! Property tests: no text makes parse or bind panic, and every syntax tree
//! prints to text that parses back to the same tree.

mod common;

use proptest::prelude::*;
use proptest::sample::select;

use segdb_query_lang::ast::{
    AggFunc, AlterTable, Arg, Call, CampaignAudience, CampaignGroup, CampaignPredicate, CapClause,
    ClearSpans, CmpOp, Compare, CreateCampaign, CreateSegment, DateLit, Expr, ExprKind, FieldDecl,
    GoalClause, Ident, Insight, InsightClauses, IntLit, KindName, Limit, Literal, MessageKind,
    NumLit, OrderBy, Predicate, ScheduleClause, Select, SelectItem, SelectItemKind, Setting,
    SettingValue, Settings, SortOrder, Span, StatementKind, StrLit, Value, VariantClause, Window,
};
use segdb_query_lang::{parse, parse_and_bind, parse_expr, QueryError};

use common::{today, TestCatalog};

/// Whatever happens, it is not a panic, and an error renders with a
/// location.
fn parse_and_bind_quietly(text: &str) {
    if let Err(e) = parse_and_bind(text, &TestCatalog, today()) {
        check_error(&e);
    }
}

fn check_error(e: &QueryError) {
    assert!(e.line() >= 1 && e.column() >= 1);
    let rendered = e.to_string();
    assert!(rendered.starts_with("error: "), "{rendered}");
    assert!(!e.code().is_empty());
}

const SOUP: &[&str] = &[
    "SELECT",
    "COUNT",
    "(",
    "*",
    ")",
    "FROM",
    "users",
    "houses",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "SEGMENT",
    "HAS",
    "ANY",
    "ALL",
    "IS",
    "NULL",
    "BETWEEN",
    "GROUP",
    "BY",
    "ORDER",
    "LIMIT",
    "OFFSET",
    "AS",
    "OF",
    "ASC",
    "DESC",
    "CREATE",
    "TABLE",
    "ENUM",
    "SET",
    "BOOL",
    "INT",
    "EVENT",
    "TEXT",
    "SENSITIVE",
    "SHOW",
    "TABLES",
    "FIELDS",
    "DROP",
    "ALTER",
    "ADD",
    "COLUMN",
    "EXPLAIN",
    "SNAPSHOT",
    "REPLACE",
    "SEGMENTS",
    "CALL",
    "=>",
    "segment_ids",
    "segment_info",
    "'bj_active'",
    "bj_active",
    "promo_1122",
    "loop_a",
    "x20",
    "d70",
    "big_houses",
    "limit",
    "count",
    "did",
    "last",
    "days",
    "day",
    "SUM",
    "AVG",
    "QUANTILE",
    "INSIGHT",
    "COMPARE",
    "VERSUS",
    "TOP",
    "WIDTH",
    "0.9",
    "1.5",
    "-0.25",
    "3.",
    "income",
    "MIN",
    "MAX",
    "=",
    "!=",
    "<>",
    "<",
    "<=",
    ">",
    ">=",
    "..",
    ",",
    ";",
    "'c000'",
    "'2026-11-22'",
    "'2026-13-01'",
    "'x''y'",
    "''",
    "\"city\"",
    "\"\"",
    "0",
    "-1",
    "7",
    "9223372036854775807",
    "99999999999999999999",
    "true",
    "false",
    "user_id",
    "'u000000042'",
    "age",
    "city",
    "gender",
    "interests",
    "is_owner",
    "search",
    "book",
    "name",
    "rooms",
    "--",
    "/*",
    "*/",
    "'",
    "\"",
    "\n",
    "é",
    "北京",
    "#",
    "!",
    "&&",
    ".",
    "-",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        parse_and_bind_quietly(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn random_strings_never_panic(text in "\\PC{0,100}") {
        parse_and_bind_quietly(&text);
    }

    #[test]
    fn token_soups_never_panic(
        tokens in proptest::collection::vec(select(SOUP), 0..40),
        glue in select(&[" ", "", "\n"][..]),
    ) {
        parse_and_bind_quietly(&tokens.join(glue));
    }

    #[test]
    fn statements_with_a_random_tail_never_panic(
        tokens in proptest::collection::vec(select(SOUP), 0..25),
    ) {
        parse_and_bind_quietly(&format!("SELECT COUNT(*) FROM users WHERE {}", tokens.join(" ")));
        parse_and_bind_quietly(&format!("SELECT city, COUNT(*) FROM users {}", tokens.join(" ")));
    }

    #[test]
    fn whatever_parses_prints_back_to_itself(
        head in select(&[
            "SELECT",
            "SELECT COUNT(*) FROM users WHERE",
            "EXPLAIN SELECT user_id FROM users WHERE city",
            "SHOW",
            "DROP TABLE",
            "ALTER TABLE users ADD",
            "CREATE TABLE t (",
            "INSIGHT",
            "INSIGHT city FROM users WHERE",
            "COMPARE FROM users WHERE is_owner",
            "SELECT QUANTILE(income,",
        ][..]),
        tokens in proptest::collection::vec(select(SOUP), 0..8),
    ) {
        let text = format!("{head} {}", tokens.join(" "));
        if let Ok(statements) = parse(&text) {
            for stmt in statements {
                let printed = stmt.to_string();
                let mut again = match parse(&printed) {
                    Ok(again) if again.len() == 1 => again,
                    other => panic!("{text}\n{printed}\n{other:?}"),
                };
                again[0].clear_spans();
                let mut stmt = stmt;
                stmt.clear_spans();
                prop_assert_eq!(&again[0].kind, &stmt.kind, "{} / {}", text, printed);
            }
        }
    }

    #[test]
    fn statements_round_trip(kind in arb_statement()) {
        let text = statement_text(&kind);
        let mut statements = match parse(&text) {
            Ok(s) => s,
            Err(e) => panic!("{text}\n{e}"),
        };
        prop_assert_eq!(statements.len(), 1);
        statements[0].clear_spans();
        prop_assert_eq!(&statements[0].kind, &kind, "{}", text);
        parse_and_bind_quietly(&text);
    }

    #[test]
    fn windows_and_days_at_the_edges_never_panic(
        days in prop_oneof![any::<i64>(), Just(i64::MAX), Just(i64::MIN), -2..400i64],
        n in any::<i64>(),
        as_of in proptest::option::of(select(&["0000-01-01", "9999-12-31", "1970-01-01", "2026-11-22"][..])),
        today in prop_oneof![any::<i32>(), Just(i32::MIN), Just(i32::MAX)],
    ) {
        let as_of = as_of.map(|d| format!(" AS OF '{d}'")).unwrap_or_default();
        let text = format!(
            "SELECT COUNT(*) FROM users WHERE count(search, last {days} days) > {n} \
             AND did(view, '0000-01-01'..'9999-12-31'){as_of}"
        );
        match parse_and_bind(&text, &TestCatalog, today) {
            Ok(statements) => {
                for s in statements {
                    let _ = s.to_string();
                }
            }
            Err(e) => check_error(&e),
        }
    }

    #[test]
    fn expressions_round_trip(expr in arb_expr()) {
        let text = expr.to_string();
        let mut parsed = match parse_expr(&text) {
            Ok(parsed) => parsed,
            Err(e) => panic!("{text}\n{e}"),
        };
        parsed.clear_spans();
        prop_assert_eq!(parsed, expr, "{}", text);
    }

    #[test]
    fn selects_round_trip(select in arb_select()) {
        let text = select.to_string();
        let mut statements = match parse(&text) {
            Ok(s) => s,
            Err(e) => panic!("{text}\n{e}"),
        };
        prop_assert_eq!(statements.len(), 1);
        statements[0].clear_spans();
        prop_assert_eq!(&statements[0].kind, &StatementKind::Select(select), "{}", text);
        // Binding it does not panic either.
        parse_and_bind_quietly(&text);
    }
}

fn at<T>(f: impl FnOnce(Span) -> T) -> T {
    f(Span::default())
}

fn arb_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(&["age", "city", "interests", "is_owner", "search", "user_id", "nope"][..])
            .prop_map(String::from),
        2 => "[A-Za-z_][A-Za-z0-9_]{0,8}",
        1 => select(&["select", "AND", "true", "null", "count", "did", "last", "days", "Has"][..])
            .prop_map(String::from),
        1 => any::<String>().prop_filter("names are not empty", |s| !s.is_empty()),
    ]
}

fn arb_ident() -> impl Strategy<Value = Ident> {
    arb_name().prop_map(|name| at(|span| Ident { name, span }))
}

fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9]{0,6}",
        select(&["", "'", "''", "it's", "--", "/*", "2026-11-22"][..]).prop_map(String::from),
        any::<String>(),
    ]
}

fn arb_literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        arb_string().prop_map(Value::Str),
        any::<i64>().prop_map(Value::Int),
        prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(0), Just(-1)].prop_map(Value::Int),
        any::<bool>().prop_map(Value::Bool),
    ]
    .prop_map(|value| at(|span| Literal { value, span }))
}

fn arb_literals() -> impl Strategy<Value = Vec<Literal>> {
    proptest::collection::vec(arb_literal(), 1..4)
}

fn arb_int() -> impl Strategy<Value = IntLit> {
    prop_oneof![any::<i64>(), 0..40i64].prop_map(|value| at(|span| IntLit { value, span }))
}

fn arb_date() -> impl Strategy<Value = DateLit> {
    arb_string().prop_map(|text| at(|span| DateLit { text, span }))
}

fn arb_op() -> impl Strategy<Value = CmpOp> {
    select(
        &[
            CmpOp::Eq,
            CmpOp::Ne,
            CmpOp::Lt,
            CmpOp::Le,
            CmpOp::Gt,
            CmpOp::Ge,
        ][..],
    )
}

fn arb_window() -> impl Strategy<Value = Window> {
    prop_oneof![
        arb_int().prop_map(|days| at(|span| Window::Last { days, span })),
        (arb_date(), arb_date()).prop_map(|(first, last)| Window::Range { first, last }),
    ]
}

fn arb_predicate() -> impl Strategy<Value = Predicate> {
    prop_oneof![
        arb_ident().prop_map(Predicate::Field),
        (arb_ident(), arb_op(), arb_literal()).prop_map(|(field, op, value)| {
            at(|op_span| Predicate::Compare {
                field,
                op,
                op_span,
                value,
            })
        }),
        (arb_ident(), arb_literal(), arb_literal())
            .prop_map(|(field, lo, hi)| Predicate::Between { field, lo, hi }),
        (arb_ident(), any::<bool>(), arb_literals()).prop_map(|(field, negated, values)| {
            Predicate::In {
                field,
                negated,
                values,
            }
        }),
        (arb_ident(), arb_literal()).prop_map(|(field, value)| Predicate::Has { field, value }),
        (arb_ident(), arb_literals())
            .prop_map(|(field, values)| Predicate::HasAny { field, values }),
        (arb_ident(), arb_literals())
            .prop_map(|(field, values)| Predicate::HasAll { field, values }),
        (arb_ident(), any::<bool>())
            .prop_map(|(field, negated)| Predicate::IsNull { field, negated }),
        (arb_ident(), arb_window(), arb_op(), arb_int()).prop_map(|(event, window, op, n)| {
            at(|op_span| Predicate::EventCount {
                event,
                window,
                op,
                op_span,
                n,
            })
        }),
        (arb_ident(), arb_window(), arb_int(), arb_int()).prop_map(|(event, window, lo, hi)| {
            Predicate::EventBetween {
                event,
                window,
                lo,
                hi,
            }
        }),
        (arb_ident(), arb_window()).prop_map(|(event, window)| Predicate::Did { event, window }),
        arb_ident().prop_map(Predicate::InSegment),
        (
            select(&CampaignGroup::ALL[..]),
            arb_ident(),
            arb_string(),
            proptest::option::of(arb_int()),
        )
            .prop_map(|(group, campaign, variant, run)| {
                let variant = group.takes_variant().then(|| {
                    at(|span| Literal {
                        value: Value::Str(variant),
                        span,
                    })
                });
                Predicate::Campaign(CampaignPredicate {
                    group,
                    campaign,
                    variant,
                    run,
                })
            }),
    ]
}

fn expr(kind: ExprKind) -> Expr {
    at(|span| Expr { kind, span })
}

fn leaf(predicate: Predicate) -> Expr {
    at(|span| Expr::predicate(predicate, span))
}

fn arb_expr() -> impl Strategy<Value = Expr> {
    arb_predicate()
        .prop_map(leaf)
        .prop_recursive(6, 48, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 2..4)
                    .prop_map(|xs| expr(ExprKind::And(xs))),
                proptest::collection::vec(inner.clone(), 2..4)
                    .prop_map(|xs| expr(ExprKind::Or(xs))),
                inner.prop_map(|x| expr(ExprKind::Not(Box::new(x)))),
            ]
        })
}

fn arb_select_item() -> impl Strategy<Value = SelectItem> {
    prop_oneof![
        Just(SelectItemKind::CountStar),
        arb_ident().prop_map(SelectItemKind::Field),
        (
            select(&[AggFunc::Sum, AggFunc::Avg, AggFunc::Min, AggFunc::Max][..]),
            arb_ident()
        )
            .prop_map(|(func, field)| SelectItemKind::Aggregate { func, field }),
        (arb_ident(), arb_num()).prop_map(|(field, q)| SelectItemKind::Quantile { field, q }),
    ]
    .prop_map(|kind| at(|span| SelectItem { kind, span }))
}

/// A number as the lexer reads one: an integer or a decimal, any sign.
fn arb_num() -> impl Strategy<Value = NumLit> {
    prop_oneof![
        "-?[0-9]{1,3}\\.[0-9]{1,6}",
        "-?[0-9]{1,18}",
        select(&["0", "1", "0.5", "1.0", "0.99", "-0", "00.10"][..]).prop_map(String::from),
    ]
    .prop_map(|text| at(|span| NumLit { text, span }))
}

fn arb_fields() -> impl Strategy<Value = Vec<Ident>> {
    prop_oneof![
        Just(Vec::new()),
        proptest::collection::vec(arb_ident(), 1..4),
    ]
}

fn arb_clauses() -> impl Strategy<Value = InsightClauses> {
    (
        proptest::option::of(arb_int()),
        proptest::option::of(arb_int()),
        proptest::option::of(arb_date()),
    )
        .prop_map(|(top, width, as_of)| InsightClauses { top, width, as_of })
}

fn arb_insight() -> impl Strategy<Value = Insight> {
    (
        arb_fields(),
        arb_ident(),
        proptest::option::of(arb_expr()),
        arb_clauses(),
    )
        .prop_map(|(fields, table, filter, clauses)| Insight {
            fields,
            table,
            filter,
            clauses,
        })
}

fn arb_compare() -> impl Strategy<Value = Compare> {
    (
        arb_fields(),
        arb_ident(),
        arb_expr(),
        arb_expr(),
        arb_clauses(),
    )
        .prop_map(|(fields, table, a, b, clauses)| Compare {
            fields,
            table,
            a,
            b,
            clauses,
        })
}

fn arb_select() -> impl Strategy<Value = Select> {
    (
        proptest::collection::vec(arb_select_item(), 1..4),
        arb_ident(),
        proptest::option::of(arb_expr()),
        proptest::option::of(arb_ident()),
        proptest::option::of(select(&[SortOrder::Asc, SortOrder::Desc][..])),
        proptest::option::of((arb_int(), proptest::option::of(arb_int()))),
        proptest::option::of(arb_date()),
    )
        .prop_map(
            |(items, table, filter, group_by, order, limit, as_of)| Select {
                items,
                table,
                filter,
                group_by,
                order_by: order.map(|order| at(|span| OrderBy { order, span })),
                limit: limit.map(|(limit, offset)| Limit { limit, offset }),
                as_of,
            },
        )
}

fn arb_field_decl() -> impl Strategy<Value = FieldDecl> {
    let kinds = [
        KindName::Enum,
        KindName::Set,
        KindName::Bool,
        KindName::Int,
        KindName::Event,
        KindName::Text,
    ];
    (
        arb_ident(),
        select(kinds.to_vec()),
        any::<bool>(),
        proptest::option::of(arb_ident()),
        any::<bool>(),
    )
        .prop_map(|(name, kind, sensitive, category, closed)| FieldDecl {
            name,
            kind,
            closed: (closed && matches!(kind, KindName::Enum | KindName::Set)).then(Span::default),
            sensitive: sensitive.then(Span::default),
            category,
            span: Span::default(),
        })
}

fn arb_call() -> impl Strategy<Value = Call> {
    (
        arb_ident(),
        proptest::collection::vec(arb_literal(), 0..3),
        proptest::collection::vec((arb_ident(), arb_literal()), 0..3),
    )
        .prop_map(|(name, positional, named)| {
            let args = positional
                .into_iter()
                .map(|value| Arg { name: None, value })
                .chain(named.into_iter().map(|(n, value)| Arg {
                    name: Some(n),
                    value,
                }))
                .collect();
            Call {
                name,
                args,
                args_span: Span::default(),
            }
        })
}

/// Statements other than SELECT and CREATE TABLE, and EXPLAIN of a SELECT.
fn arb_statement() -> impl Strategy<Value = StatementKind> {
    prop_oneof![
        Just(StatementKind::ShowTables),
        arb_ident().prop_map(StatementKind::ShowFields),
        arb_ident().prop_map(StatementKind::DropTable),
        (arb_ident(), arb_field_decl())
            .prop_map(|(table, field)| StatementKind::AlterTable(AlterTable { table, field })),
        arb_select().prop_map(StatementKind::Explain),
        Just(StatementKind::ShowSegments),
        Just(StatementKind::ShowCampaigns),
        arb_ident().prop_map(StatementKind::DropSegment),
        (
            arb_ident(),
            any::<bool>(),
            any::<bool>(),
            arb_ident(),
            arb_expr()
        )
            .prop_map(|(name, or_replace, snapshot, table, filter)| {
                StatementKind::CreateSegment(CreateSegment {
                    name,
                    or_replace,
                    snapshot,
                    table,
                    filter,
                })
            }),
        arb_call().prop_map(StatementKind::Call),
        arb_insight().prop_map(StatementKind::Insight),
        arb_compare().prop_map(StatementKind::Compare),
        arb_create_campaign().prop_map(|c| StatementKind::CreateCampaign(Box::new(c))),
        arb_ident().prop_map(StatementKind::DropCampaign),
    ]
}

fn arb_str_lit() -> impl Strategy<Value = StrLit> {
    arb_string().prop_map(|text| at(|span| StrLit { text, span }))
}

fn arb_settings() -> impl Strategy<Value = Settings> {
    let value = prop_oneof![
        arb_literal().prop_map(SettingValue::Literal),
        "-?[0-9]{1,3}\\.[0-9]{1,6}"
            .prop_map(|text| SettingValue::Number(at(|span| NumLit { text, span }))),
    ];
    (
        arb_ident(),
        proptest::collection::vec((arb_ident(), value), 0..4),
    )
        .prop_map(|(kind, settings)| Settings {
            kind,
            settings: settings
                .into_iter()
                .map(|(name, value)| Setting { name, value })
                .collect(),
        })
}

fn arb_create_campaign() -> impl Strategy<Value = CreateCampaign> {
    let audience = prop_oneof![
        arb_expr().prop_map(CampaignAudience::Where),
        arb_ident().prop_map(CampaignAudience::Segment),
    ];
    let variant = (arb_ident(), arb_int(), arb_str_lit()).prop_map(|(name, weight, template)| {
        VariantClause {
            name,
            weight,
            template,
        }
    });
    let schedule = prop_oneof![
        Just(ScheduleClause::Now(Span::default())),
        arb_str_lit().prop_map(ScheduleClause::At),
        arb_str_lit().prop_map(ScheduleClause::Daily),
    ];
    let kind = proptest::option::of(
        select(&[MessageKind::Marketing, MessageKind::Transactional][..])
            .prop_map(|k| (k, Span::default())),
    );
    let flag = || proptest::option::of(Just(Span::default()));
    (
        (arb_ident(), arb_ident(), audience, arb_settings()),
        proptest::collection::vec(variant, 1..3),
        (
            proptest::option::of(arb_num()),
            proptest::option::of(arb_settings()),
            proptest::option::of(
                (arb_int(), arb_int()).prop_map(|(max, days)| CapClause { max, days }),
            ),
            proptest::option::of(arb_int()),
            kind,
        ),
        (schedule, flag(), proptest::option::of(arb_int()), flag()),
        proptest::option::of(
            (arb_ident(), arb_int()).prop_map(|(event, days)| GoalClause {
                event,
                days,
                span: Span::default(),
            }),
        ),
    )
        .prop_map(
            |(
                (name, table, audience, channel),
                variants,
                (holdout, split, cap, priority, kind),
                (schedule, approval_required, rate, allow_sensitive),
                goal,
            )| CreateCampaign {
                name,
                table,
                audience,
                channel,
                variants,
                holdout,
                split,
                cap,
                priority,
                kind,
                schedule,
                approval_required,
                rate,
                allow_sensitive,
                goal,
            },
        )
}

/// The text of a statement, printed as `Display` for `ast::Statement` does.
fn statement_text(kind: &StatementKind) -> String {
    segdb_query_lang::ast::Statement {
        kind: kind.clone(),
        span: Span::default(),
        source: "".into(),
    }
    .to_string()
}
