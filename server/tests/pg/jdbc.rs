//! The Postgres JDBC driver (pgjdbc, Debian's `libpostgresql-jdbc-java`)
//! against segdb: `jdbc/Jdbc.java`, compiled here with javac, logs in
//! with a password (SCRAM), runs a count, a GROUP BY, a PreparedStatement,
//! a SELECT of ids and an error, and makes the DatabaseMetaData calls
//! DBeaver lists things with; each answer is compared with the HTTP API's.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use super::{ensure, ensure_installed, store, Pg, READER};

const DRIVER: &str = "/usr/share/java/postgresql.jar";

/// Compiles Jdbc.java into the tests' target directory.
fn compiled() -> std::path::PathBuf {
    ensure_installed("javac", "default-jdk-headless");
    ensure(
        || Path::new(DRIVER).exists(),
        DRIVER,
        "libpostgresql-jdbc-java",
    );
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pg-jdbc");
    std::fs::create_dir_all(&out).unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pg/jdbc/Jdbc.java");
    let javac = Command::new("javac")
        .arg("-d")
        .arg(&out)
        .arg(&source)
        .output()
        .unwrap();
    assert!(
        javac.status.success(),
        "javac: {}",
        String::from_utf8_lossy(&javac.stderr)
    );
    out
}

#[test]
fn jdbc_driver_queries_and_metadata_equal_http() {
    let classes = compiled();
    let (_dir, data) = store(2_000);
    let pg = Pg::start(&data, &[]);
    let url = format!("jdbc:postgresql://{}:{}/segdb", pg.pg.ip(), pg.pg.port());
    let run = Command::new("java")
        .arg("-cp")
        .arg(format!("{}:{DRIVER}", classes.display()))
        .args(["Jdbc", &url, READER.0, READER.1])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let got: HashMap<&str, &str> = stdout.lines().filter_map(|l| l.split_once('\t')).collect();
    let http = |q: &str| pg.http().query(q).unwrap()["rows"].clone();
    let one = |q: &str| http(q)[0][0].to_string();
    let check = |name: &str, want: String| {
        assert_eq!(
            got.get(name).copied(),
            Some(want.as_str()),
            "{name}: {stdout}"
        );
    };
    check("count", one("SELECT COUNT(*) FROM users"));
    let mut groups: Vec<String> = got["group"].split(';').map(str::to_owned).collect();
    groups.sort();
    let mut want: Vec<String> = http("SELECT gender, COUNT(*) FROM users GROUP BY gender")
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{},{}", r[0].as_str().unwrap(), r[1]))
        .collect();
    want.sort();
    assert_eq!(groups, want, "{stdout}");
    check(
        "prepared",
        one("SELECT COUNT(*) FROM users WHERE age > 40 AND city = 'c003'"),
    );
    let ids: Vec<String> = http("SELECT user_id FROM users WHERE age BETWEEN 20 AND 22")
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap().to_owned())
        .collect();
    check("ids", ids.join(";"));
    check("error", "42601".into());
    check(
        "after_error",
        one("SELECT COUNT(*) FROM users WHERE is_owner = TRUE"),
    );
    check("product", "PostgreSQL 16".into());
    check("catalogs", "segdb".into());
    check("schemas", "public".into());
    check("tables", "public,users".into());
    // Each field in order, as the type segdb answers it as.
    let fields: Vec<String> = http("SHOW FIELDS FROM users")
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let ty = match r[1].as_str().unwrap() {
                "INT" | "EVENT" => "int8",
                "BOOL" => "bool",
                "SET" => "_text",
                _ => "text",
            };
            format!("{},{ty}", r[0].as_str().unwrap())
        })
        .collect();
    check("columns", fields.join(";"));
    // No keys or indexes in segdb.
    check("primary_keys", String::new());
    check("indexes", String::new());
    check("type_info", "some".into());
}
