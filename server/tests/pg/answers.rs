//! Counts, GROUP BY, ids and INSIGHT over psql and tokio-postgres equal
//! the HTTP answers; types; parameters; errors with SQLSTATE and caret.

use serde_json::Value;
use tokio_postgres::types::Type;
use tokio_postgres::SimpleQueryMessage;

use super::{store, Pg, ADMIN, READER};

/// The HTTP answer's rows as text, as psql prints them (`t`/`f`, arrays
/// in braces, null empty).
fn http_rows(pg: &Pg, sql: &str) -> Vec<Vec<String>> {
    let v = pg.http().query(sql).unwrap();
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|c| match c {
                    Value::Null => String::new(),
                    Value::String(s) => s.clone(),
                    Value::Bool(b) => if *b { "t" } else { "f" }.to_owned(),
                    Value::Array(a) => format!(
                        "{{{}}}",
                        a.iter()
                            .map(|x| x.as_str().unwrap().to_owned())
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect()
}

/// Equal rows; numbers with a fraction within a relative 1e-12 (the
/// HTTP API writes some to 16 digits, Postgres's float8 to the shortest
/// exact form).
pub fn assert_same(ours: &[Vec<String>], http: &[Vec<String>], q: &str) {
    assert_eq!(ours.len(), http.len(), "{q}: {ours:?} / {http:?}");
    for (a, b) in ours.iter().zip(http) {
        assert_eq!(a.len(), b.len(), "{q}: {a:?} / {b:?}");
        for (x, y) in a.iter().zip(b) {
            match (x.parse::<f64>(), y.parse::<f64>()) {
                (Ok(x), Ok(y)) if x.fract() != 0.0 || y.fract() != 0.0 => {
                    assert!(
                        (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
                        "{q}: {a:?} / {b:?}"
                    )
                }
                _ => assert_eq!(x, y, "{q}: {a:?} / {b:?}"),
            }
        }
    }
}

const QUERIES: &[&str] = &[
    "SELECT COUNT(*) FROM users",
    "SELECT COUNT(*) FROM users WHERE age > 30 AND city = 'c001'",
    "SELECT city, COUNT(*) FROM users WHERE age BETWEEN 20 AND 40 GROUP BY city ORDER BY COUNT(*) DESC LIMIT 10",
    "SELECT interests, COUNT(*) FROM users GROUP BY interests",
    "SELECT user_id FROM users WHERE city = 'c002' AND age > 50",
    "SELECT user_id FROM users WHERE is_owner LIMIT 7 OFFSET 3",
    "SELECT COUNT(*), SUM(income), MIN(age), MAX(age) FROM users WHERE gender = 'g1'",
    "INSIGHT gender, city FROM users WHERE age > 40 TOP 5",
    "SHOW TABLES",
];

#[test]
fn psql_answers_equal_http() {
    let (_dir, data) = store(20_000);
    let pg = Pg::start(&data, &[]);
    for q in QUERIES {
        let ours = pg.psql_rows(q);
        assert!(!ours.is_empty(), "{q}");
        assert_same(&ours, &http_rows(&pg, q), q);
    }
    // Several statements in one Query: each answered in turn.
    let (ok, out, err) = pg.psql(
        READER,
        &[
            "-A",
            "-t",
            "-c",
            "SELECT COUNT(*) FROM users; SELECT COUNT(*) FROM users WHERE is_owner",
        ],
    );
    assert!(ok, "{err}");
    let both: Vec<&str> = out.lines().collect();
    assert_eq!(both.len(), 2, "{out}");
    assert_eq!(both[0], http_rows(&pg, "SELECT COUNT(*) FROM users")[0][0]);
    assert_eq!(
        both[1],
        http_rows(&pg, "SELECT COUNT(*) FROM users WHERE is_owner")[0][0]
    );
}

/// psql draws its caret under the column the error names, and the
/// connection goes on after an error.
#[test]
fn psql_caret_under_the_mistake() {
    let (_dir, data) = store(2_000);
    let pg = Pg::start(&data, &[]);
    for (sql, word) in [
        ("SELECT COUNT(*) FROM users WHERE agee > 3", "agee"),
        ("SELECT COUNT(*) FROM users WHRE age > 3", "WHRE"),
        ("SELECT COUNT(*) FROM userz", "userz"),
    ] {
        let (ok, _, err) = pg.psql(READER, &["-c", sql]);
        assert!(!ok);
        let lines: Vec<&str> = err.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.starts_with("LINE 1: "))
            .unwrap_or_else(|| panic!("{err}"));
        let caret = lines[at + 1].find('^').unwrap();
        assert_eq!(caret - "LINE 1: ".len(), sql.find(word).unwrap(), "{err}");
    }
    // An error, then a good statement on the same connection.
    let (_, out, err) = pg.psql(
        READER,
        &[
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=0",
            "-c",
            "SELECT COUNT(*) FROM nope",
            "-c",
            "SELECT COUNT(*) FROM users",
        ],
    );
    assert!(err.contains("unknown table"), "{err}");
    assert_eq!(out.trim(), "2000");
}

#[test]
fn rust_client_types_params_and_sqlstates() {
    let (_dir, data) = store(5_000);
    let pg = Pg::start(&data, &[]);
    let (rt, c) = pg.connect(READER);
    rt.block_on(async {
        // Types of a SELECT, described before it runs.
        let st = c
            .prepare("SELECT COUNT(*), AVG(age), MIN(age) FROM users")
            .await
            .unwrap();
        let types: Vec<Type> = st.columns().iter().map(|c| c.type_().clone()).collect();
        assert_eq!(types, [Type::INT8, Type::FLOAT8, Type::INT8]);
        let row = &c.query(&st, &[]).await.unwrap()[0];
        let http = pg
            .http()
            .query("SELECT COUNT(*), AVG(age), MIN(age) FROM users")
            .unwrap();
        assert_eq!(row.get::<_, i64>(0), http["rows"][0][0].as_i64().unwrap());
        assert_eq!(row.get::<_, f64>(1), http["rows"][0][1].as_f64().unwrap());
        assert_eq!(row.get::<_, i64>(2), http["rows"][0][2].as_i64().unwrap());
        // Parameters are bound as literals: a quote in a value is data.
        let count = |city: &'static str| {
            let c = &c;
            async move {
                c.query_one("SELECT COUNT(*) FROM users WHERE city = $1", &[&city])
                    .await
                    .unwrap()
                    .get::<_, i64>(0)
            }
        };
        let http = pg
            .http()
            .query("SELECT COUNT(*) FROM users WHERE city = 'c003'")
            .unwrap();
        assert_eq!(count("c003").await, http["rows"][0][0].as_i64().unwrap());
        assert_eq!(count("c003' OR city = 'c001").await, 0);
        let typed = c
            .prepare_typed(
                "SELECT user_id FROM users WHERE age > $1 AND is_owner = $2 LIMIT $3",
                &[Type::INT8, Type::BOOL, Type::INT8],
            )
            .await
            .unwrap();
        let ids: Vec<String> = c
            .query(&typed, &[&50i64, &true, &4i64])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let http = pg
            .http()
            .query("SELECT user_id FROM users WHERE age > 50 AND is_owner = TRUE LIMIT 4")
            .unwrap();
        let want: Vec<String> = http["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r[0].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids, want);
        // SET values are text[], booleans bool.
        let id = &want[0];
        let profile = c
            .query(&format!("CALL profile('users', '{id}')"), &[])
            .await
            .unwrap();
        assert!(!profile.is_empty());
        // GROUP BY: text and int8.
        let rows = c
            .query("SELECT gender, COUNT(*) FROM users GROUP BY gender", &[])
            .await
            .unwrap();
        let total: i64 = rows.iter().map(|r| r.get::<_, i64>(1)).sum();
        assert_eq!(total, 5_000);
        // SQLSTATEs, and the connection stays usable after each.
        for (sql, code) in [
            ("SELECT COUNT(*) FROM users WHERE nope = 1", "42703"),
            ("SELECT COUNT(*) FROM nope", "42P01"),
            ("SELEC 1 FROM users", "42601"),
            ("DROP TABLE users", "42501"),
        ] {
            let e = c.simple_query(sql).await.unwrap_err();
            let db = e.as_db_error().unwrap_or_else(|| panic!("{sql}: {e}"));
            assert_eq!(db.code().code(), code, "{sql}: {db:?}");
            if code == "42703" {
                assert!(db.position().is_some(), "{db:?}");
            }
        }
        let msgs = c.simple_query("SELECT COUNT(*) FROM users").await.unwrap();
        let n = msgs.iter().find_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        });
        assert_eq!(n.as_deref(), Some("5000"));
    });
    // The admin may; the table is still there for the reader.
    let (rt2, admin) = pg.connect(ADMIN);
    rt2.block_on(async {
        let m = admin.simple_query("CREATE TABLE t2 (a INT)").await.unwrap();
        assert!(m
            .iter()
            .any(|m| matches!(m, SimpleQueryMessage::CommandComplete(_))));
    });
}

#[test]
fn warnings_come_as_notices() {
    let (_dir, data) = store(1_000);
    let pg = Pg::start(&data, &[]);
    let sql = "SELECT COUNT(*) FROM users WHERE city = 'nowhere'";
    let http = pg.http().query(sql).unwrap();
    let message = http["warnings"][0]["message"].as_str().unwrap().to_owned();
    // The simple protocol: psql prints the notice.
    let (ok, out, err) = pg.psql(READER, &["-c", sql]);
    assert!(ok, "{err}");
    assert!(out.contains('0'), "{out}");
    assert!(err.contains(&format!("WARNING:  {message}")), "{err}");
    // The extended protocol: tokio-postgres's notices, before the answer.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, mut conn) =
            tokio_postgres::connect(&pg.conninfo(READER.0, READER.1), tokio_postgres::NoTls)
                .await
                .unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(Ok(m)) = std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                if let tokio_postgres::AsyncMessage::Notice(n) = m {
                    let _ = tx.send((
                        n.severity().to_owned(),
                        n.code().code().to_owned(),
                        n.message().to_owned(),
                    ));
                }
            }
        });
        let n: i64 = client
            .query_one("SELECT COUNT(*) FROM users WHERE city = $1", &[&"nowhere"])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 0);
        let notice = tokio::time::timeout(std::time::Duration::from_secs(30), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            notice,
            ("WARNING".to_owned(), "01000".to_owned(), message.clone())
        );
        client
            .query_one("SELECT COUNT(*) FROM users", &[])
            .await
            .unwrap();
        assert!(rx.try_recv().is_err(), "a notice without a warning");
    });
    // No warning, no notice.
    let (ok, _, err) = pg.psql(READER, &["-c", "SELECT COUNT(*) FROM users"]);
    assert!(ok && !err.contains("WARNING"), "{err}");
}
