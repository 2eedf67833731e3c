//! psycopg 3, from a venv this test makes under target/: parameters bound
//! server-side (the extended protocol), answers equal the HTTP API's.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};

use super::{ensure, ensure_installed, store, Pg, READER};

/// The venv's python, with psycopg installed (once; a lock keeps
/// concurrent tests from making it twice).
fn python() -> PathBuf {
    ensure_installed("python3", "python3");
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pg-venv");
    let python = venv.join("bin/python");
    let ready = |p: &PathBuf| {
        Command::new(p)
            .args(["-c", "import psycopg"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if ready(&python) {
        return python;
    }
    // python3-venv brings ensurepip, without which no venv has pip.
    let has_venv = || {
        Command::new("python3")
            .args(["-c", "import ensurepip, venv"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    ensure(has_venv, "python3's venv", "python3-venv");
    let script = format!(
        "test -x {py} && {py} -c 'import psycopg' 2>/dev/null || \
         (python3 -m venv --clear {venv} && {py} -m pip install -q 'psycopg[binary]')",
        py = python.display(),
        venv = venv.display()
    );
    let out = Command::new("flock")
        .args(["/tmp/segdb-test-venv.lock", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success() && ready(&python),
        "making the psycopg venv failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    python
}

const SCRIPT: &str = r#"
import json, sys, psycopg
conninfo = sys.argv[1]
out = {}
with psycopg.connect(conninfo, autocommit=True) as c:
    cur = c.cursor()
    cur.execute("SELECT COUNT(*) FROM users WHERE city = %s AND age > %s", ("c001", 30))
    out["count"] = cur.fetchone()[0]
    cur.execute("SELECT COUNT(*) FROM users WHERE city = %s", ("c001' OR city = 'c002",))
    out["injected"] = cur.fetchone()[0]
    cur.execute("SELECT city, COUNT(*) FROM users WHERE is_owner = %s GROUP BY city ORDER BY COUNT(*) DESC LIMIT %s", (True, 5))
    out["groups"] = [list(r) for r in cur.fetchall()]
    out["group_types"] = [d.type_code for d in cur.description]
    cur.execute("SELECT user_id FROM users WHERE age BETWEEN %s AND %s", (20, 25))
    out["ids"] = [r[0] for r in cur.fetchall()]
    cur.execute("INSIGHT gender FROM users WHERE age > %s TOP 3", (40,))
    out["insight"] = [list(map(str, r)) for r in cur.fetchall()]
    cur.execute("SELECT AVG(age) FROM users")
    out["avg"] = cur.fetchone()[0]
    try:
        cur.execute("SELECT COUNT(*) FROM users WHERE agee > %s", (1,))
    except psycopg.Error as e:
        out["error"] = [e.sqlstate, e.diag.statement_position]
    cur.execute("SELECT COUNT(*) FROM users")
    out["after_error"] = cur.fetchone()[0]
    # Binary parameters (%b) and binary answers.
    bcur = c.cursor(binary=True)
    bcur.execute("SELECT COUNT(*) FROM users WHERE city = %b AND age > %b AND is_owner = %b", ("c001", 30, True))
    out["binary"] = bcur.fetchone()[0]
    try:
        cur.execute("SELECT COUNT(*) FROM users WHERE city = %s", (None,))
    except psycopg.Error as e:
        out["null"] = e.sqlstate
print(json.dumps(out))
"#;

#[test]
fn psycopg_binds_parameters_and_answers_as_http() {
    let (_dir, data) = store(10_000);
    let pg = Pg::start(&data, &[]);
    let python = python();
    let out = Command::new(python)
        .args(["-c", SCRIPT, &pg.conninfo(READER.0, READER.1)])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    let http = |q: &str| pg.http().query(q).unwrap()["rows"].clone();
    assert_eq!(
        got["count"],
        http("SELECT COUNT(*) FROM users WHERE city = 'c001' AND age > 30")[0][0]
    );
    assert_eq!(got["injected"], json!(0));
    assert_eq!(
        got["groups"],
        http("SELECT city, COUNT(*) FROM users WHERE is_owner = TRUE GROUP BY city ORDER BY COUNT(*) DESC LIMIT 5")
    );
    // text and int8.
    assert_eq!(got["group_types"], json!([25, 20]));
    let ids: Vec<Value> = http("SELECT user_id FROM users WHERE age BETWEEN 20 AND 25")
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(got["ids"], json!(ids));
    let insight: Vec<Vec<String>> = http("INSIGHT gender FROM users WHERE age > 40 TOP 3")
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|c| match c {
                    Value::String(s) => s.clone(),
                    Value::Null => "None".into(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect();
    assert_eq!(got["insight"].as_array().unwrap().len(), insight.len());
    assert_eq!(got["avg"], http("SELECT AVG(age) FROM users")[0][0]);
    // The position is of `agee` in the text psycopg sent (`$1` for %s).
    let sent = "SELECT COUNT(*) FROM users WHERE agee > $1";
    assert_eq!(
        got["error"],
        json!(["42703", (sent.find("agee").unwrap() + 1).to_string()])
    );
    assert_eq!(got["after_error"], json!(10_000));
    assert_eq!(
        got["binary"],
        http("SELECT COUNT(*) FROM users WHERE city = 'c001' AND age > 30 AND is_owner = TRUE")[0]
            [0]
    );
    assert_eq!(got["null"], json!("22004"));
}
