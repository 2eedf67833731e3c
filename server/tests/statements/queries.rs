//! Counts, ids, aggregates, GROUP BY and EXPLAIN.

use super::*;

pub(crate) fn counts(store: &Path, data: &Data) {
    let cases: Vec<(&str, Box<Naive>)> = vec![
        (
            "gender = 'f' AND age BETWEEN 25 AND 35 AND city IN ('c000', 'c001', 'c002') AND os = 'ios'",
            Box::new(|r| {
                r.get("gender") == "f"
                    && r.int("age").is_some_and(|a| (25..=35).contains(&a))
                    && ["c000", "c001", "c002"].contains(&r.get("city"))
                    && r.get("os") == "ios"
            }),
        ),
        (
            "(is_owner OR member_level >= 3) AND NOT flag_3",
            Box::new(|r| {
                (r.is("is_owner") || r.int("member_level").is_some_and(|m| m >= 3))
                    && !r.is("flag_3")
            }),
        ),
        (
            "interests HAS ALL ('i01', 'i05') OR interests HAS 'i07' AND NOT interests HAS ANY ('i00', 'i02')",
            Box::new(|r| {
                (r.has("interests", "i01") && r.has("interests", "i05"))
                    || (r.has("interests", "i07")
                        && !(r.has("interests", "i00") || r.has("interests", "i02")))
            }),
        ),
        (
            "contract_end_days IS NULL OR contract_end_days < 0",
            Box::new(|r| r.int("contract_end_days").is_none_or(|d| d < 0)),
        ),
        (
            "education != 'bachelor' AND city NOT IN ('c000', 'c001')",
            Box::new(|r| {
                !r.get("education").is_empty()
                    && r.get("education") != "bachelor"
                    && !r.get("city").is_empty()
                    && !["c000", "c001"].contains(&r.get("city"))
            }),
        ),
        (
            "city = 'c000' AND count(search, last 7 days) > 3 AS OF '2026-11-22'",
            Box::new(|r| {
                r.get("city") == "c000" && r.events("search", "2026-11-16", "2026-11-22") > 3
            }),
        ),
        (
            "did(view, '2026-11-09'..'2026-11-22') AND NOT did(book, last 14 days) AS OF '2026-11-22'",
            Box::new(|r| {
                r.events("view", "2026-11-09", "2026-11-22") > 0
                    && r.events("book", "2026-11-09", "2026-11-22") == 0
            }),
        ),
        (
            "user_id IN ('u000000001', 'u000000007', 'nobody') OR user_id = 'u000000042'",
            Box::new(|r| ["u000000001", "u000000007", "u000000042"].contains(&r.id())),
        ),
    ];
    for (filter, naive) in &cases {
        let text = format!("SELECT COUNT(*) FROM users WHERE {filter}");
        assert_eq!(count(store, &text), data.count(naive), "{text}");
    }
    assert_eq!(count(store, "SELECT COUNT(*) FROM users"), 5000);
}

pub(crate) fn ids_and_aggregates(store: &Path, data: &Data) {
    let want: Vec<&str> = data
        .rows()
        .filter(|r| r.get("city") == "c001" && r.get("os") == "android")
        .map(|r| r.id())
        .collect();
    assert!(want.len() > 12, "{}", want.len());
    let v = one(
        store,
        "SELECT user_id FROM users WHERE city = 'c001' AND os = 'android' LIMIT 7 OFFSET 3",
    );
    assert_eq!(v["columns"], json!(["user_id"]));
    let got: Vec<&str> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap())
        .collect();
    assert_eq!(got, want[3..10]);
    let v = one(
        store,
        "SELECT user_id FROM users WHERE city = 'c001' AND os = 'android'",
    );
    assert_eq!(v["rows"].as_array().unwrap().len(), want.len());

    let v = one(
        store,
        "SELECT SUM(income), AVG(income), MIN(income), MAX(income), COUNT(*) FROM users WHERE os = 'ios'",
    );
    assert_eq!(
        v["columns"],
        json!([
            "sum(income)",
            "avg(income)",
            "min(income)",
            "max(income)",
            "count"
        ])
    );
    let incomes: Vec<i64> = data
        .rows()
        .filter(|r| r.get("os") == "ios")
        .filter_map(|r| r.int("income"))
        .collect();
    let sum: i64 = incomes.iter().sum();
    let row = &v["rows"][0];
    assert_eq!(row[0], json!(sum));
    let avg = row[1].as_f64().unwrap();
    assert!(
        (avg - sum as f64 / incomes.len() as f64).abs() < 1e-6,
        "{avg}"
    );
    assert_eq!(row[2], json!(incomes.iter().min().unwrap()));
    assert_eq!(row[3], json!(incomes.iter().max().unwrap()));
    assert_eq!(row[4], json!(data.count(|r| r.get("os") == "ios")));

    // No rows: no sum, average, minimum or maximum.
    let v = one(
        store,
        "SELECT SUM(ltv), AVG(ltv), MIN(ltv), MAX(ltv), COUNT(*) FROM users WHERE city = 'nowhere'",
    );
    assert_eq!(v["rows"], json!([[null, null, null, null, 0]]));
}

/// Groups by count descending (ties by value), as `ORDER BY COUNT(*) DESC`.
pub(crate) fn naive_groups(
    data: &Data,
    field: &str,
    set: bool,
    keep: impl Fn(&Row<'_>) -> bool,
) -> Vec<(String, u64)> {
    let mut groups: BTreeMap<String, u64> = BTreeMap::new();
    for r in data.rows().filter(|r| keep(r)) {
        let v = r.get(field);
        let values: Vec<&str> = if set {
            v.split('|').filter(|s| !s.is_empty()).collect()
        } else if v.is_empty() {
            vec![]
        } else {
            vec![v]
        };
        for v in values {
            *groups.entry(v.to_string()).or_default() += 1;
        }
    }
    let mut groups: Vec<(String, u64)> = groups.into_iter().collect();
    groups.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    groups
}

pub(crate) fn group_rows(v: &Value) -> Vec<(String, u64)> {
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_u64().unwrap()))
        .collect()
}

pub(crate) fn group_by(store: &Path, data: &Data) {
    let want = naive_groups(data, "city", false, |r| r.is("is_owner"));
    let v = one(
        store,
        "SELECT city, COUNT(*) FROM users WHERE is_owner GROUP BY city ORDER BY COUNT(*) DESC LIMIT 5",
    );
    assert_eq!(v["columns"], json!(["city", "count"]));
    assert_eq!(group_rows(&v), want[..5]);

    let mut want = naive_groups(data, "interests", true, |r| {
        r.int("age").is_some_and(|a| a < 30)
    });
    want.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    let v = one(
        store,
        "SELECT interests, COUNT(*) FROM users WHERE age < 30 GROUP BY interests ORDER BY COUNT(*) ASC LIMIT 4 OFFSET 2",
    );
    assert_eq!(group_rows(&v), want[2..6]);

    // Without ORDER BY, the groups by value text.
    let mut want = naive_groups(data, "os", false, |_| true);
    want.sort();
    let got = group_rows(&one(store, "SELECT os, COUNT(*) FROM users GROUP BY os"));
    assert_eq!(got, want);
    let got = group_rows(&one(
        store,
        "SELECT is_tenant, COUNT(*) FROM users GROUP BY is_tenant",
    ));
    let tenants = data.count(|r| r.is("is_tenant"));
    let mut want = vec![
        ("false".to_string(), 5000 - tenants),
        ("true".to_string(), tenants),
    ];
    want.retain(|g| g.1 > 0);
    assert_eq!(got, want);
}

/// `(label, estimated rows)` of each row of an EXPLAIN.
pub(crate) fn plan_rows(v: &Value) -> Vec<(String, u64)> {
    assert_eq!(v["columns"], json!(["plan", "estimated_rows"]));
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_u64().unwrap()))
        .collect()
}

pub(crate) fn explain(store: &Path, data: &Data) {
    let c000 = data.count(|r| r.get("city") == "c000");
    let ios = data.count(|r| r.get("os") == "ios");
    let v = one(
        store,
        "EXPLAIN SELECT COUNT(*) FROM users WHERE city = 'c000' AND os = 'ios'",
    );
    assert_eq!(
        plan_rows(&v),
        [
            ("AND".to_string(), c000.min(ios)),
            ("  city = 'c000'".to_string(), c000),
            ("  os = 'ios'".to_string(), ios),
        ]
    );

    // Any projection explains its filter; bounds hold against the scan.
    let v = one(
        store,
        "EXPLAIN SELECT user_id FROM users WHERE count(search, last 7 days) > 3 \
         OR NOT is_owner LIMIT 3 AS OF '2026-11-22'",
    );
    let rows = plan_rows(&v);
    let labels: Vec<&str> = rows.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        labels,
        [
            "OR",
            "  count(search, 2026-11-16..2026-11-22) > 3",
            "  NOT",
            "    is_owner = true"
        ]
    );
    let searchers = data.count(|r| r.events("search", "2026-11-16", "2026-11-22") > 3);
    let owners = data.count(|r| r.is("is_owner"));
    assert!(rows[1].1 >= searchers, "{rows:?} {searchers}");
    assert_eq!(rows[3].1, owners);
    assert_eq!(rows[2].1, 5000 - owners);
    let all =
        data.count(|r| r.events("search", "2026-11-16", "2026-11-22") > 3 || !r.is("is_owner"));
    assert!(rows[0].1 >= all && rows[0].1 <= 5000, "{rows:?} {all}");

    // Without WHERE, or with a value no row has.
    let v = one(store, "EXPLAIN SELECT COUNT(*) FROM users");
    assert_eq!(plan_rows(&v), [("ALL".to_string(), 5000)]);
    let v = one(
        store,
        "EXPLAIN SELECT COUNT(*) FROM users WHERE city = 'nowhere' AND is_owner",
    );
    assert_eq!(plan_rows(&v), [("NOTHING".to_string(), 0)]);
}
