//! POST /v1/insight against a scan of the data.

use serde_json::json;

use super::*;

#[test]
fn insight_against_a_scan() {
    let (_dir, store, data) = generated(3000);
    let server = Server::start(&store, Settings::default());
    let c = server.client(None);
    let in_seg = |r: &segdb_tests::generated::Row<'_>| r.get("gender") == "f" && r.is("is_owner");
    let n = data.count(in_seg);
    let req = json!({
        "table": "users",
        "where": "gender = 'f' AND is_owner",
        "fields": ["city", "age", "income", "search"],
        "top": 3,
        "bucket_width": {"age": 5},
        "quantiles": [0.5, 0.9],
        "as_of": "2026-11-22",
        "days": 7,
    });
    let r = post(&c, "/v1/insight", "application/json", &req.to_string());
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["segment_rows"], json!(n));
    assert_eq!(v["table_rows"], json!(3000));
    let f = &v["fields"];

    // city: the top 3 values by count, the rest as other, TGI.
    let mut cities: std::collections::BTreeMap<&str, (u64, u64)> = Default::default();
    for r in data.rows() {
        let e = cities.entry(r.get("city")).or_default();
        e.1 += 1;
        e.0 += u64::from(in_seg(&r));
    }
    let mut ranked: Vec<(&str, (u64, u64))> =
        cities.into_iter().filter(|(_, (a, _))| *a > 0).collect();
    ranked.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
    let values = f[0]["values"].as_array().unwrap();
    assert_eq!(values.len(), 3);
    for (got, (city, (count, table_count))) in values.iter().zip(&ranked) {
        assert_eq!(got["value"], json!(city));
        assert_eq!(got["count"], json!(count));
        assert_eq!(got["table_count"], json!(table_count));
        let tgi = (*count as f64 / n as f64) / (*table_count as f64 / 3000.0) * 100.0;
        assert!((got["tgi"].as_f64().unwrap() - tgi).abs() < 1e-9);
    }
    let rest: u64 = ranked[3..].iter().map(|(_, (a, _))| a).sum();
    assert_eq!(f[0]["other"]["count"], json!(rest));

    // age: 5-year buckets and exact quantiles.
    let mut ages: Vec<i64> = data
        .rows()
        .filter(|r| in_seg(r))
        .filter_map(|r| r.int("age"))
        .collect();
    ages.sort_unstable();
    let age = &f[1];
    assert_eq!(age["count"], json!(ages.len()));
    assert_eq!(age["min"], json!(ages[0]));
    let rank = |q: f64| ages[((q * ages.len() as f64).ceil() as usize).clamp(1, ages.len()) - 1];
    assert_eq!(
        age["quantiles"],
        json!([{"q": 0.5, "value": rank(0.5)}, {"q": 0.9, "value": rank(0.9)}])
    );
    for b in age["histogram"].as_array().unwrap() {
        let (lo, hi) = (b["lo"].as_i64().unwrap(), b["hi"].as_i64().unwrap());
        assert_eq!(hi - lo, 5);
        let want = ages.iter().filter(|&&a| a >= lo && a < hi).count();
        assert_eq!(b["count"], json!(want), "{b}");
        let table = data.count(|r| r.int("age").is_some_and(|a| a >= lo && a < hi));
        assert_eq!(b["table_count"], json!(table));
    }
    // income: sum as a string, average.
    let incomes: Vec<i64> = data
        .rows()
        .filter(|r| in_seg(r))
        .filter_map(|r| r.int("income"))
        .collect();
    assert_eq!(f[2]["sum"], json!(incomes.iter().sum::<i64>().to_string()));
    // search over the 7 days ending 2026-11-22.
    let active = data.count(|r| in_seg(r) && r.events("search", "2026-11-16", "2026-11-22") > 0);
    let total: u64 = data
        .rows()
        .filter(|r| in_seg(r))
        .map(|r| r.events("search", "2026-11-16", "2026-11-22"))
        .sum();
    assert_eq!(
        (f[3]["active_rows"].clone(), f[3]["total"].clone()),
        (json!(active), json!(total))
    );
    assert_eq!(
        f[3]["window"],
        json!({"first": "2026-11-16", "last": "2026-11-22"})
    );

    // Mistakes.
    let r = post(
        &c,
        "/v1/insight",
        "application/json",
        &json!({"table": "users", "where": "gender = 'f' AND cty = 'x'"}).to_string(),
    );
    assert_eq!(r.status, 400);
    let e = &r.json()["error"];
    assert_eq!(
        (e["code"].clone(), e["line"].clone(), e["column"].clone()),
        (json!("unknown_field"), json!(1), json!(18)),
        "{e}"
    );
    // Lines and columns are in `where`, however many lines it has, and it
    // is one expression.
    let r = post(
        &c,
        "/v1/insight",
        "application/json",
        &json!({"table": "users", "where": "-- typo below\ngender = 'f' AND\n  cty = 'x'"})
            .to_string(),
    );
    let e = &r.json()["error"];
    assert_eq!(
        (r.status, e["line"].clone(), e["column"].clone()),
        (400, json!(3), json!(3)),
        "{e}"
    );
    let r = post(
        &c,
        "/v1/insight",
        "application/json",
        &json!({"table": "users", "where": "gender = 'f' AS OF '2026-01-01'"}).to_string(),
    );
    let e = &r.json()["error"];
    assert_eq!(
        (r.status, e["code"].clone(), e["column"].clone()),
        (400, json!("syntax_error"), json!(14)),
        "{e}"
    );
    let r = post(
        &c,
        "/v1/insight",
        "application/json",
        &json!({"table": "users", "fields": ["nope"]}).to_string(),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = post(
        &c,
        "/v1/insight",
        "application/json",
        &json!({"table": "users", "quantiles": [1.5]}).to_string(),
    );
    assert_eq!(r.json()["error"]["code"], json!("invalid_argument"));
    let r = post(
        &c,
        "/v1/insight",
        "application/json",
        &json!({"table": "users", "colour": 1}).to_string(),
    );
    assert_eq!(r.json()["error"]["code"], json!("bad_json"));
    assert_eq!(
        post(
            &c,
            "/v1/insight",
            "application/json",
            &json!({"table": "nope"}).to_string()
        )
        .status,
        404
    );
}
