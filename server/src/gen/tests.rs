//! Tests of the whole generator: files, determinism and distributions.

use super::block::{BlockBuf, Models, BLOCK_USERS};
use super::events::EVENT_NAMES;
use super::text::day_date;
use super::*;
use std::collections::HashMap;
use std::sync::Mutex;

fn run(rows: u64, seed: u64, threads: usize) -> (GenReport, Vec<u8>, Vec<u8>, Vec<u64>) {
    let dir = tempfile::tempdir().unwrap();
    let opts = GenOptions {
        rows,
        seed,
        out_dir: dir.path().join("out"),
        last_day: None,
    };
    let seen = Mutex::new(Vec::new());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let report = pool
        .install(|| generate(&opts, &|n| seen.lock().unwrap().push(n)))
        .unwrap();
    let users = std::fs::read(opts.out_dir.join("users.csv")).unwrap();
    let events = std::fs::read(opts.out_dir.join("events.csv")).unwrap();
    let schema = std::fs::read_to_string(opts.out_dir.join("schema.sql")).unwrap();
    assert_eq!(schema, SCHEMA_SQL);
    (report, users, events, seen.into_inner().unwrap())
}

#[test]
fn scale_parse() {
    assert_eq!(Scale::parse("small"), Some(Scale::Small));
    assert_eq!(Scale::parse("Medium"), Some(Scale::Medium));
    assert_eq!(Scale::parse("LARGE"), Some(Scale::Large));
    assert_eq!(Scale::parse("12345"), Some(Scale::Rows(12_345)));
    assert_eq!(Scale::parse("2_000_000"), Some(Scale::Rows(2_000_000)));
    assert_eq!(Scale::parse("250k"), Some(Scale::Rows(250_000)));
    assert_eq!(Scale::parse("5M"), Some(Scale::Rows(5_000_000)));
    assert_eq!(Scale::parse("0"), Some(Scale::Rows(0)));
    for bad in [
        "",
        "k",
        "-5",
        "1.5m",
        "huge",
        "_1",
        "99999999999999999999",
        "1e6",
    ] {
        assert_eq!(Scale::parse(bad), None, "{bad:?}");
    }
    assert_eq!(Scale::Small.rows(), 1_000_000);
    assert_eq!(Scale::Medium.rows(), 10_000_000);
    assert_eq!(Scale::Large.rows(), 100_000_000);
    assert_eq!(Scale::Rows(7).rows(), 7);
}

#[test]
fn schema_lists_every_column() {
    assert!(SCHEMA_SQL.starts_with("CREATE TABLE users (\n"));
    assert!(SCHEMA_SQL.ends_with("\n);\n"));
    assert_eq!(SCHEMA_SQL.matches(';').count(), 1);
    let body = &SCHEMA_SQL["CREATE TABLE users (\n".len()..SCHEMA_SQL.len() - ");\n".len()];
    let columns: Vec<(&str, &str)> = body
        .lines()
        .map(|line| {
            let line = line.trim().trim_end_matches(',');
            line.split_once(' ').unwrap()
        })
        .collect();
    let mut expected: Vec<&str> = users::USERS_HEADER.trim_end().split(',').skip(1).collect();
    expected.extend(EVENT_NAMES);
    let names: Vec<&str> = columns.iter().map(|c| c.0).collect();
    assert_eq!(names, expected);
    for (name, kind) in columns {
        let want = match name {
            "gender" | "city" | "district" | "education" | "os" | "product" => "ENUM",
            "interests" => "SET",
            "search" | "view" | "favorite" | "book" => "EVENT",
            n if n.starts_with("is_") || n.starts_with("flag_") => "BOOL",
            _ => "INT",
        };
        assert_eq!(kind, want, "{name}");
    }
}

#[test]
fn window_dates() {
    assert_eq!(day_date(0), FIRST_DAY);
    assert_eq!(day_date(29), TODAY);
}

#[test]
fn files_headers_counts_and_progress() {
    let rows = 2 * BLOCK_USERS + 123;
    let (report, users, events, seen) = run(rows, 1, 2);
    let users = String::from_utf8(users).unwrap();
    let events = String::from_utf8(events).unwrap();
    assert_eq!(report.users, rows);
    assert_eq!(report.users_bytes, users.len() as u64);
    assert_eq!(report.events_bytes, events.len() as u64);
    assert!(users.starts_with(users::USERS_HEADER));
    assert!(events.starts_with("user_id,event,day,count\n"));
    assert!(users.ends_with('\n') && events.ends_with('\n'));
    assert_eq!(users.lines().count() as u64, rows + 1);
    assert_eq!(events.lines().count() as u64, report.event_rows + 1);
    let ids: Vec<&str> = users.lines().skip(1).map(|l| &l[..10]).collect();
    assert_eq!(ids[0], "u000000000");
    assert_eq!(ids[42], "u000000042");
    assert_eq!(*ids.last().unwrap(), format!("u{:09}", rows - 1));
    assert_eq!(seen, vec![BLOCK_USERS, 2 * BLOCK_USERS, rows]);
}

#[test]
fn empty_data_set_has_headers_only() {
    let (report, users, events, seen) = run(0, 1, 1);
    assert_eq!(users, users::USERS_HEADER.as_bytes());
    assert_eq!(events, b"user_id,event,day,count\n");
    assert_eq!(report.event_rows, 0);
    assert_eq!(seen, vec![0]);
}

#[test]
fn deterministic_whatever_the_threads() {
    let rows = 3 * BLOCK_USERS + 5;
    let (r1, u1, e1, _) = run(rows, 42, 1);
    let (r3, u3, e3, _) = run(rows, 42, 3);
    assert_eq!(r1, r3);
    assert!(u1 == u3, "users.csv differs between 1 and 3 threads");
    assert!(e1 == e3, "events.csv differs between 1 and 3 threads");
    let (_, u_other, e_other, _) = run(rows, 43, 3);
    assert!(
        u1 != u_other && e1 != e_other,
        "seed 43 gives seed 42's data"
    );
}

#[test]
fn smaller_run_is_a_prefix() {
    let (_, short, _, _) = run(BLOCK_USERS + 10, 9, 2);
    let (_, long, _, _) = run(2 * BLOCK_USERS, 9, 2);
    assert!(long.starts_with(&short));
}

/// About 200k users generated in memory, for the distribution tests.
fn sample_blocks() -> Vec<BlockBuf> {
    let models = Models::new(None);
    let blocks = 25;
    let total = blocks * BLOCK_USERS;
    (0..blocks)
        .into_par_iter()
        .map(|b| {
            let mut buf = BlockBuf::default();
            buf.fill(&models, 2026, b, total);
            buf
        })
        .collect()
}

fn assert_share(what: &str, count: u64, total: u64, expected: f64, tolerance: f64) {
    let share = count as f64 / total as f64;
    assert!(
        (share - expected).abs() <= tolerance,
        "{what}: share {share:.4}, expected {expected:.4} ± {tolerance}"
    );
}

#[test]
fn user_distributions() {
    let blocks = sample_blocks();
    let mut n = 0u64;
    let mut by_gender: HashMap<String, u64> = HashMap::new();
    let mut by_city: HashMap<String, u64> = HashMap::new();
    let mut by_education: HashMap<String, u64> = HashMap::new();
    let (mut age_sum, mut owners, mut tenants, mut interests) = (0i64, 0u64, 0u64, 0u64);
    let mut flag_counts = [0u64; 10];
    let mut ltv_zero = 0u64;
    let mut member_counts = [0u64; 6];
    let mut no_interests = 0u64;
    for block in &blocks {
        for line in std::str::from_utf8(&block.users).unwrap().lines() {
            n += 1;
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 26, "{line}");
            *by_gender.entry(f[1].to_owned()).or_default() += 1;
            let age: i64 = f[2].parse().unwrap();
            assert!((16..=80).contains(&age), "{line}");
            age_sum += age;
            *by_city.entry(f[3].to_owned()).or_default() += 1;
            assert!(f[4].len() == 5 && f[4].starts_with('d'), "{line}");
            *by_education.entry(f[5].to_owned()).or_default() += 1;
            assert!(["ios", "android", "other"].contains(&f[6]), "{line}");
            member_counts[f[7].parse::<usize>().unwrap()] += 1;
            assert!(f[8].len() == 2 && f[8] < "p8" && f[8] >= "p0", "{line}");
            let income: i64 = f[9].parse().unwrap();
            assert!((0..=1_000_000).contains(&income), "{line}");
            let ltv: i64 = f[10].parse().unwrap();
            assert!((0..=10_000_000).contains(&ltv), "{line}");
            ltv_zero += u64::from(ltv == 0);
            let last_login: i64 = f[11].parse().unwrap();
            assert!((0..=365).contains(&last_login), "{line}");
            let is_owner = f[13] == "1";
            let is_tenant = f[14] == "1";
            owners += u64::from(is_owner);
            tenants += u64::from(is_tenant);
            if is_tenant {
                let days: i64 = f[12].parse().unwrap();
                assert!((-100..=700).contains(&days), "{line}");
            } else {
                assert_eq!(f[12], "", "{line}");
            }
            for (i, flag) in f[15..25].iter().enumerate() {
                assert!(*flag == "0" || *flag == "1", "{line}");
                flag_counts[i] += u64::from(*flag == "1");
            }
            if f[25].is_empty() {
                no_interests += 1;
            } else {
                let labels: Vec<&str> = f[25].split('|').collect();
                assert!(labels.len() <= 8, "{line}");
                assert!(labels.windows(2).all(|w| w[0] < w[1]), "{line}");
                assert!(labels
                    .iter()
                    .all(|l| l.len() == 3 && l.starts_with('i') && *l < "i40"));
                interests += labels.len() as u64;
            }
        }
    }
    assert_eq!(n, 25 * BLOCK_USERS);
    assert_share("gender f", by_gender["f"], n, 0.50, 0.01);
    assert_share("gender m", by_gender["m"], n, 0.48, 0.01);
    assert_share("gender u", by_gender["u"], n, 0.02, 0.003);
    let age_mean = age_sum as f64 / n as f64;
    // Clipping at 16 lifts the mean a little above 33.
    assert!((age_mean - 33.3).abs() < 0.3, "age mean {age_mean}");
    let top_city = by_city.iter().max_by_key(|(_, c)| **c).unwrap().0;
    assert_eq!(top_city, "c000");
    let h300: f64 = (1..=300).map(|k| 1.0 / f64::from(k)).sum();
    assert_share("city c000", by_city["c000"], n, 1.0 / h300, 0.004);
    assert_share("city c001", by_city["c001"], n, 0.5 / h300, 0.003);
    assert!(by_city.keys().all(|c| c.len() == 4 && c.as_str() < "c300"));
    assert_share(
        "education bachelor",
        by_education["bachelor"],
        n,
        0.38,
        0.01,
    );
    assert_share("member_level 0", member_counts[0], n, 1.0 / 1.96875, 0.01);
    assert_share(
        "member_level 5",
        member_counts[5],
        n,
        0.03125 / 1.96875,
        0.003,
    );
    assert_share("ltv 0", ltv_zero, n, 0.6, 0.01);
    assert_share("is_owner", owners, n, 0.07, 0.003);
    assert_share("is_tenant", tenants, n, 0.30, 0.01);
    for (i, p) in [0.001, 0.003, 0.01, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7]
        .iter()
        .enumerate()
    {
        assert_share(
            &format!("flag_{i}"),
            flag_counts[i],
            n,
            *p,
            0.004_f64.max(p * 0.05),
        );
    }
    let mean_interests = interests as f64 / n as f64;
    assert!(
        (mean_interests - 2.0).abs() < 0.03,
        "interests mean {mean_interests}"
    );
    assert_share("no interests", no_interests, n, (-2.0f64).exp(), 0.005);
}

#[test]
fn event_rows() {
    let blocks = sample_blocks();
    let dates: Vec<String> = (0..30).map(day_date).collect();
    let mut rows = 0u64;
    let mut active_users = 0u64;
    let mut searches = 0u64;
    let mut last: Option<(String, usize, usize)> = None;
    for block in &blocks {
        let text = std::str::from_utf8(&block.events).unwrap();
        assert_eq!(text.lines().count() as u64, block.num_event_rows);
        for line in text.lines() {
            rows += 1;
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 4, "{line}");
            let day = dates
                .iter()
                .position(|d| d == f[2])
                .expect("date in window");
            let event = EVENT_NAMES
                .iter()
                .position(|e| *e == f[1])
                .expect("known event");
            let count: u32 = f[3].parse().unwrap();
            assert!(count > 0, "{line}");
            if event == 3 {
                assert_eq!(count, 1, "{line}");
            }
            if event == 0 {
                searches += 1;
            }
            let key = (f[0].to_owned(), day, event);
            match &last {
                Some(prev) if prev.0 == key.0 => {
                    assert!(
                        (prev.1, prev.2) < (key.1, key.2),
                        "order: {prev:?} then {key:?}"
                    )
                }
                Some(prev) => {
                    assert!(prev.0 < key.0, "users out of order");
                    active_users += 1;
                }
                None => active_users += 1,
            }
            last = Some(key);
        }
    }
    let n = 25 * BLOCK_USERS;
    // Every active day has exactly one search row: E[active days] = 30 * 0.3 / 20.3.
    let days_per_user = searches as f64 / n as f64;
    assert!(
        (days_per_user - 30.0 * 0.3 / 20.3).abs() < 0.03,
        "active days {days_per_user}"
    );
    // Rows per active day: 1 + P(view > 0) + 0.3 + 0.05.
    let per_day = rows as f64 / searches as f64;
    let expected = 1.0 + (1.0 - (-3.0f64).exp()) + 0.3 + 0.05;
    assert!(
        (per_day - expected).abs() < 0.03,
        "rows per active day {per_day}"
    );
    assert!(
        active_users > n / 10 && active_users < n / 2,
        "{active_users} active users"
    );
}

#[test]
fn schema_sql_declares_the_shared_test_schema() {
    let stmts = segdb_query_lang::parse(super::SCHEMA_SQL).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = segdb_engine::Store::open(dir.path()).unwrap();
    let bound =
        segdb_query_lang::bind(&stmts[0], &crate::exec::StoreCatalog::new(&store), 0).unwrap();
    match bound {
        segdb_query_lang::Statement::CreateTable { name, schema } => {
            assert_eq!(name, "users");
            assert_eq!(schema, segdb_tests::generated::users_schema());
        }
        other => panic!("schema.sql is not a CREATE TABLE: {other:?}"),
    }
}
