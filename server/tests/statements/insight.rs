//! INSIGHT, COMPARE and QUANTILE.

use super::*;

/// The values a cell of `field` holds, as insight names them: an ENUM's
/// value, a SET's labels, a BOOL's `true`/`false`.
pub(crate) fn cell_values(r: &Row<'_>, field: &str, kind: &str) -> Vec<String> {
    let cell = r.get(field);
    match kind {
        "BOOL" if cell.is_empty() => vec![],
        "BOOL" => vec![(cell == "1").to_string()],
        "SET" => cell
            .split('|')
            .filter(|v| !v.is_empty())
            .map(String::from)
            .collect(),
        _ if cell.is_empty() => vec![],
        _ => vec![cell.to_string()],
    }
}

/// Rows per value of `field` among the rows kept by `keep`.
pub(crate) fn tally(data: &Data, field: &str, kind: &str, keep: &Naive) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for r in data.rows().filter(|r| keep(r)) {
        for v in cell_values(&r, field, kind) {
            *m.entry(v).or_default() += 1;
        }
    }
    m
}

/// Rows active per ISO day of `event` over `first..=last` among the rows
/// kept by `keep`.
pub(crate) fn active_days(
    data: &Data,
    event: &str,
    first: &str,
    last: &str,
    keep: &Naive,
) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for r in data.rows().filter(|r| keep(r)) {
        for (day, c) in r.event_days(event) {
            if *c > 0 && day.as_str() >= first && day.as_str() <= last {
                *m.entry(day.clone()).or_default() += 1;
            }
        }
    }
    m
}

/// The first bucket and count of a histogram of `min..=max` with `width`
/// (min rounded down to a multiple of the width).
pub(crate) fn layout(min: i64, max: i64, width: i64) -> (i64, usize) {
    let first = min.div_euclid(width) * width;
    (first, ((max - first) / width + 1) as usize)
}

pub(crate) fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

pub(crate) fn close(got: &Value, want: Option<f64>, what: &str) {
    match want {
        None => assert_eq!(got, &Value::Null, "{what}"),
        Some(w) => {
            let g = got.as_f64().unwrap_or_else(|| panic!("{what}: {got}"));
            assert!(
                (g - w).abs() <= 1e-12 * w.abs().max(1.0),
                "{what}: {g} != {w}"
            );
        }
    }
}

/// One expected INSIGHT row: field, value, count, table count (`None`
/// for EVENT days).
pub(crate) type InsightRow = (String, String, u64, Option<u64>);

pub(crate) fn check_insight_rows(v: &Value, want: &[InsightRow], seg: u64, all: u64, text: &str) {
    assert_eq!(
        v["columns"],
        json!([
            "field",
            "value",
            "count",
            "share",
            "table_count",
            "table_share",
            "tgi"
        ]),
        "{text}"
    );
    let rows = v["rows"].as_array().unwrap();
    let got: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r[0].as_str().unwrap().into(), r[1].as_str().unwrap().into()))
        .collect();
    let names: Vec<(String, String)> = want.iter().map(|w| (w.0.clone(), w.1.clone())).collect();
    assert_eq!(got, names, "{text}");
    for (row, (field, value, count, table_count)) in rows.iter().zip(want) {
        let what = format!("{text}: {field} {value}");
        assert_eq!(row[2], json!(count), "{what}");
        close(&row[3], Some(ratio(*count, seg)), &what);
        match table_count {
            Some(tc) => {
                assert_eq!(row[4], json!(tc), "{what}");
                close(&row[5], Some(ratio(*tc, all)), &what);
                let tgi = (*tc > 0).then(|| ratio(*count, seg) / ratio(*tc, all) * 100.0);
                close(&row[6], tgi, &what);
            }
            None => assert_eq!(
                &row.as_array().unwrap()[4..],
                &[Value::Null, Value::Null, Value::Null],
                "{what}"
            ),
        }
    }
}

pub(crate) fn insight_statements(store: &Path, data: &Data) {
    let ios: Box<Naive> = Box::new(|r| r.get("os") == "ios");
    let everyone: Box<Naive> = Box::new(|_| true);
    let seg = data.count(|r| ios(r));
    let all = data.count(|_| true);
    assert!(seg > 100, "{seg}");

    let text = "INSIGHT gender, interests, is_owner, age, view FROM users WHERE os = 'ios' \
                WIDTH 5 AS OF '2026-11-22'";
    let mut want: Vec<InsightRow> = Vec::new();
    for (field, kind) in [
        ("gender", "ENUM"),
        ("interests", "SET"),
        ("is_owner", "BOOL"),
    ] {
        let (in_seg, in_table) = (
            tally(data, field, kind, &*ios),
            tally(data, field, kind, &*everyone),
        );
        let mut values: Vec<(String, u64)> = in_seg.into_iter().collect();
        values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        assert!(values.len() >= 2, "{field}");
        for (v, c) in values {
            want.push((field.into(), v.clone(), c, Some(in_table[&v])));
        }
    }
    let ages = |keep: &Naive| -> Vec<i64> {
        data.rows()
            .filter(|r| keep(r))
            .filter_map(|r| r.int("age"))
            .collect()
    };
    let (seg_ages, all_ages) = (ages(&*ios), ages(&*everyone));
    let (min, max) = (
        *seg_ages.iter().min().unwrap(),
        *seg_ages.iter().max().unwrap(),
    );
    let (first, n) = layout(min, max, 5);
    assert!(n > 3, "{n}");
    for i in 0..n as i64 {
        let (lo, hi) = (first + 5 * i, first + 5 * i + 5);
        let within = |v: &Vec<i64>| v.iter().filter(|&&a| a >= lo && a < hi).count() as u64;
        want.push((
            "age".into(),
            format!("[{lo},{hi})"),
            within(&seg_ages),
            Some(within(&all_ages)),
        ));
    }
    let days = active_days(data, "view", "2026-10-24", "2026-11-22", &*ios);
    assert!(days.len() > 20, "{}", days.len());
    for (day, c) in days {
        want.push(("view".into(), day, c, None));
    }
    check_insight_rows(&one(store, text), &want, seg, all, text);

    // TOP keeps the k values with most rows and sums the rest as `other`.
    let text = "INSIGHT city FROM users WHERE os = 'ios' TOP 5";
    let (in_seg, in_table) = (
        tally(data, "city", "ENUM", &*ios),
        tally(data, "city", "ENUM", &*everyone),
    );
    let mut values: Vec<(String, u64)> = in_seg.into_iter().collect();
    values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    assert!(values.len() > 5);
    let rest = values.split_off(5);
    let mut want: Vec<InsightRow> = values
        .iter()
        .map(|(v, c)| ("city".to_string(), v.clone(), *c, Some(in_table[v])))
        .collect();
    want.push((
        "city".into(),
        "other".into(),
        rest.iter().map(|r| r.1).sum(),
        Some(rest.iter().map(|r| in_table[&r.0]).sum()),
    ));
    check_insight_rows(&one(store, text), &want, seg, all, text);
    // The same through CALL insight.
    let call = "CALL insight('users', where => 'os = ''ios''', fields => 'city', top => 5)";
    check_insight_rows(&one(store, call), &want, seg, all, call);
    // `where` is bound on its own: one expression (a second statement is
    // refused and changes nothing), and an error shows the `where` text.
    let (ok, _, err) = segdb(&[
        "query",
        "--data",
        p(store),
        "CALL insight('users', where => 'os = ''ios''; DROP TABLE users')",
    ]);
    assert!(!ok && err.contains("expected AND, OR"), "{err}");
    assert!(!err.contains("INSIGHT"), "{err}");
    let (ok, _, err) = segdb(&[
        "query",
        "--data",
        p(store),
        "CALL insight('users', where => 'cty = ''c000''', fields => 'city')",
    ]);
    assert!(!ok && err.contains("did you mean `city`"), "{err}");
    assert!(err.contains("1 | cty = 'c000'"), "{err}");
    assert_eq!(one(store, "SHOW TABLES")["rows"][0][0], json!("users"));

    // No field list: every ENUM, SET, BOOL and INT field, in schema order;
    // no EVENT field.
    let v = one(store, "INSIGHT FROM users WHERE is_owner");
    let mut fields: Vec<&str> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap())
        .collect();
    fields.dedup();
    let header: Vec<&str> = data.header.iter().map(String::as_str).collect();
    let expected: Vec<&str> = header
        .iter()
        .copied()
        .filter(|h| *h != "user_id" && fields.contains(h))
        .collect();
    assert_eq!(fields, expected);
    for f in ["gender", "age", "interests", "is_owner", "flag_9", "income"] {
        assert!(fields.contains(&f), "{f}: {fields:?}");
    }
    assert!(!fields
        .iter()
        .any(|f| ["search", "view", "favorite", "book"].contains(f)));

    // An empty segment: no values, no buckets, no days.
    let v = one(
        store,
        "INSIGHT gender, age, view FROM users WHERE city = 'nowhere'",
    );
    assert_eq!(v["rows"], json!([]));
    // TEXT fields are refused before anything runs.
    let (ok, _, err) = segdb(&["query", "--data", p(store), "INSIGHT user_id FROM users"]);
    assert!(!ok && err.contains("external id"), "{err}");
}

pub(crate) fn compare_statements(store: &Path, data: &Data) {
    let a: Box<Naive> = Box::new(|r| r.is("is_owner"));
    let b: Box<Naive> = Box::new(|r| !r.is("is_owner"));
    let (rows_a, rows_b) = (data.count(|r| a(r)), data.count(|r| b(r)));
    assert!(rows_a > 50 && rows_b > 50, "{rows_a} {rows_b}");
    let text =
        "COMPARE gender, interests, age, view FROM users WHERE is_owner VERSUS NOT is_owner \
                TOP 3 WIDTH 10 AS OF '2026-11-22'";
    // (field, value, count_a, count_b)
    let mut want: Vec<(String, String, u64, u64)> = Vec::new();
    for (field, kind) in [("gender", "ENUM"), ("interests", "SET")] {
        let (ta, tb) = (tally(data, field, kind, &*a), tally(data, field, kind, &*b));
        let mut joined: Vec<(String, u64, u64)> = ta
            .keys()
            .chain(tb.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .map(|v| {
                (
                    v.clone(),
                    ta.get(v).copied().unwrap_or(0),
                    tb.get(v).copied().unwrap_or(0),
                )
            })
            .collect();
        joined.sort_by(|x, y| {
            y.1.cmp(&x.1)
                .then_with(|| y.2.cmp(&x.2))
                .then_with(|| x.0.cmp(&y.0))
        });
        if joined.len() > 3 {
            let rest = joined.split_off(3);
            joined.push((
                "other".into(),
                rest.iter().map(|r| r.1).sum(),
                rest.iter().map(|r| r.2).sum(),
            ));
        }
        want.extend(
            joined
                .into_iter()
                .map(|(v, x, y)| (field.to_string(), v, x, y)),
        );
    }
    let ages = |keep: &Naive| -> Vec<i64> {
        data.rows()
            .filter(|r| keep(r))
            .filter_map(|r| r.int("age"))
            .collect()
    };
    let (ages_a, ages_b) = (ages(&*a), ages(&*b));
    let both = || ages_a.iter().chain(&ages_b);
    let (first, n) = layout(*both().min().unwrap(), *both().max().unwrap(), 10);
    for i in 0..n as i64 {
        let (lo, hi) = (first + 10 * i, first + 10 * i + 10);
        let within = |v: &Vec<i64>| v.iter().filter(|&&x| x >= lo && x < hi).count() as u64;
        want.push((
            "age".into(),
            format!("[{lo},{hi})"),
            within(&ages_a),
            within(&ages_b),
        ));
    }
    let (da, db) = (
        active_days(data, "view", "2026-10-24", "2026-11-22", &*a),
        active_days(data, "view", "2026-10-24", "2026-11-22", &*b),
    );
    let days: std::collections::BTreeSet<&String> = da.keys().chain(db.keys()).collect();
    for d in days {
        want.push((
            "view".into(),
            d.clone(),
            da.get(d).copied().unwrap_or(0),
            db.get(d).copied().unwrap_or(0),
        ));
    }
    assert!(want.iter().any(|w| w.1 == "other"));

    let v = one(store, text);
    assert_eq!(
        v["columns"],
        json!([
            "field",
            "value",
            "count_a",
            "share_a",
            "count_b",
            "share_b",
            "difference",
            "tgi"
        ])
    );
    let rows = v["rows"].as_array().unwrap();
    let got: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r[0].as_str().unwrap().into(), r[1].as_str().unwrap().into()))
        .collect();
    let names: Vec<(String, String)> = want.iter().map(|w| (w.0.clone(), w.1.clone())).collect();
    assert_eq!(got, names, "{text}");
    for (row, (field, value, ca, cb)) in rows.iter().zip(&want) {
        let what = format!("{text}: {field} {value}");
        let (sa, sb) = (ratio(*ca, rows_a), ratio(*cb, rows_b));
        assert_eq!(row[2], json!(ca), "{what}");
        close(&row[3], Some(sa), &what);
        assert_eq!(row[4], json!(cb), "{what}");
        close(&row[5], Some(sb), &what);
        close(&row[6], Some(sa - sb), &what);
        close(&row[7], (sb > 0.0).then(|| sa / sb * 100.0), &what);
    }
}

pub(crate) fn quantiles(store: &Path, data: &Data) {
    let text = "SELECT QUANTILE(income, 0.9), QUANTILE(income, 0), QUANTILE(income, 1), \
                QUANTILE(age, 0.5), QUANTILE(ltv, 0.25), AVG(income) FROM users WHERE os = 'ios'";
    let v = one(store, text);
    assert_eq!(
        v["columns"],
        json!([
            "quantile(income, 0.9)",
            "quantile(income, 0)",
            "quantile(income, 1)",
            "quantile(age, 0.5)",
            "quantile(ltv, 0.25)",
            "avg(income)"
        ])
    );
    let sorted = |field: &str| -> Vec<i64> {
        let mut v: Vec<i64> = data
            .rows()
            .filter(|r| r.get("os") == "ios")
            .filter_map(|r| r.int(field))
            .collect();
        v.sort_unstable();
        v
    };
    // Nearest rank: the smallest value with at least ceil(q * n) values at
    // or below it.
    let nearest =
        |v: &[i64], q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    let (income, age, ltv) = (sorted("income"), sorted("age"), sorted("ltv"));
    let row = &v["rows"][0];
    assert_eq!(row[0], json!(nearest(&income, 0.9)));
    assert_eq!(row[1], json!(income[0]));
    assert_eq!(row[2], json!(income[income.len() - 1]));
    assert_eq!(row[3], json!(nearest(&age, 0.5)));
    assert_eq!(row[4], json!(nearest(&ltv, 0.25)));
    assert_ne!(row[0], row[1]);
    // No rows: no quantile.
    let v = one(
        store,
        "SELECT QUANTILE(income, 0.5), COUNT(*) FROM users WHERE city = 'nowhere'",
    );
    assert_eq!(v["rows"], json!([[null, 0]]));
}

/// COMPARE lays INT buckets out once for both segments, also where one
/// segment's own buckets would fall off that grid (values near i64::MIN,
/// where the first bucket starts at the minimum itself).
#[test]
fn compare_buckets_near_the_smallest_int() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let schema = dir.path().join("schema.sql");
    std::fs::write(&schema, "CREATE TABLE edge (v INT, g ENUM)").unwrap();
    let min = i64::MIN;
    // (id, v, g): A = g 'a' (from i64::MIN), B = g 'b' (from i64::MIN + 100).
    let rows: Vec<(String, i64, &str)> = (0..40)
        .map(|i| {
            if i % 2 == 0 {
                (format!("u{i}"), min + i * 3, "a")
            } else {
                (format!("u{i}"), min + 100 + i * 7, "b")
            }
        })
        .collect();
    let mut csv = String::from("user_id,v,g\n");
    for (id, v, g) in &rows {
        csv.push_str(&format!("{id},{v},{g}\n"));
    }
    let data = dir.path().join("edge.csv");
    std::fs::write(&data, csv).unwrap();
    let (ok, _, err) = segdb(&[
        "import",
        "--data",
        p(&store),
        "--table",
        "edge",
        "--schema",
        p(&schema),
        p(&data),
    ]);
    assert!(ok, "{err}");
    let v = one(
        &store,
        "COMPARE v FROM edge WHERE g = 'a' VERSUS g = 'b' WIDTH 10",
    );
    // The layout: from i64::MIN (rounding down would pass it) by 10s.
    let max = rows.iter().map(|r| r.1).max().unwrap();
    let n = ((i128::from(max) - i128::from(min)) / 10 + 1) as usize;
    let got = v["rows"].as_array().unwrap();
    assert_eq!(got.len(), n);
    for (i, row) in got.iter().enumerate() {
        let lo = i128::from(min) + 10 * i as i128;
        let within = |g: &str| {
            rows.iter()
                .filter(|r| r.2 == g && (lo..lo + 10).contains(&i128::from(r.1)))
                .count() as u64
        };
        assert_eq!(row[1], json!(format!("[{lo},{})", lo + 10)), "{row}");
        assert_eq!(row[2], json!(within("a")), "{row}");
        assert_eq!(row[4], json!(within("b")), "{row}");
    }
    let total = |col: usize| got.iter().map(|r| r[col].as_u64().unwrap()).sum::<u64>();
    assert_eq!((total(2), total(4)), (20, 20));
}
