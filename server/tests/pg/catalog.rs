//! What clients ask at connect: SET, SHOW, version(), current_setting(),
//! BEGIN/COMMIT, and psql's `\dt` and `\d table` from segdb's catalog.

use super::{store, Pg, READER};

#[test]
fn connection_chatter_is_answered() {
    let (_dir, data) = store(1_000);
    let pg = Pg::start(&data, &[]);
    let rows = |sql: &str| pg.psql_rows(sql);
    assert_eq!(rows("SHOW server_encoding"), [["UTF8"]]);
    assert_eq!(
        rows("SELECT current_setting('standard_conforming_strings')"),
        [["on"]]
    );
    assert!(rows("SELECT version()")[0][0].starts_with("PostgreSQL 16"));
    assert_eq!(
        rows("SELECT current_user, 1, 'x' AS y"),
        [["ana", "1", "x"]]
    );
    let (ok, out, err) = pg.psql(
        READER,
        &[
            "-c",
            "SET extra_float_digits = 3",
            "-c",
            "BEGIN",
            "-c",
            "SELECT COUNT(*) FROM users",
            "-c",
            "COMMIT",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("SET") && out.contains("BEGIN") && out.contains("COMMIT"),
        "{out}"
    );
    let (ok, _, err) = pg.psql(READER, &["-c", "SHOW no_such_setting"]);
    assert!(!ok);
    assert!(
        err.contains("unrecognized configuration parameter"),
        "{err}"
    );
}

#[test]
fn psql_lists_tables_and_columns() {
    let (_dir, data) = store(1_000);
    let pg = Pg::start(&data, &[]);
    let (ok, out, err) = pg.psql(READER, &["-c", "\\dt"]);
    assert!(ok, "{err}");
    assert!(out.contains("public | users | table | segdb"), "{out}");
    let (ok, out, err) = pg.psql(READER, &["-c", "\\d users"]);
    assert!(ok, "{err}");
    assert!(out.contains("Table \"public.users\""), "{out}");
    let fields = pg.http().query("SHOW FIELDS FROM users").unwrap();
    for f in fields["rows"].as_array().unwrap() {
        let (name, kind) = (f[0].as_str().unwrap(), f[1].as_str().unwrap());
        assert!(
            out.lines().any(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                cells.first() == Some(&name) && cells.get(1) == Some(&kind)
            }),
            "{name} {kind} in\n{out}"
        );
    }
    let (ok, out, err) = pg.psql(READER, &["-c", "\\d nosuchtable"]);
    assert!(!ok || out.is_empty(), "{out}");
    assert!(err.contains("Did not find any relation"), "{err}");
}
