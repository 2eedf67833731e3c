//! Logging in: SCRAM for tokens given in clear and for API keys, a wrong
//! or unknown password refused (28P01), roles as over HTTP (42501),
//! cleartext only over TLS for a token configured by its hash, and
//! loopback trust without tokens.

use segdb_server::http::secret_hash::SecretHash;

use super::{connect, store, Pg, ADMIN, READER};

fn code(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.code().code().to_owned())
        .unwrap_or_else(|| format!("not a server error: {e}"))
}

#[test]
fn passwords_and_roles() {
    let (_dir, data) = store(1_000);
    let pg = Pg::start(&data, &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // The right secret logs in (SCRAM-SHA-256: tokio-postgres's
        // default too), with the token's role.
        let reader = connect(&pg.conninfo(READER.0, READER.1)).await.unwrap();
        let e = reader
            .simple_query("CREATE TABLE x (a INT)")
            .await
            .unwrap_err();
        assert_eq!(code(&e), "42501", "{e:?}");
        let message = e.as_db_error().unwrap().message();
        assert!(message.contains("admin role"), "{message}");
        // A wrong secret, an unknown name, another token's secret.
        for (user, password) in [
            (READER.0, "wrong"),
            ("nobody", READER.1),
            (READER.0, ADMIN.1),
        ] {
            let e = connect(&pg.conninfo(user, password)).await.unwrap_err();
            assert_eq!(code(&e), "28P01", "{user}: {e:?}");
        }
        // An API key made over HTTP logs in with SCRAM at once.
        let made = pg
            .http()
            .request(
                "POST",
                "/v1/keys",
                &[("content-type", "application/json")],
                Some(br#"{"name": "exporter", "role": "read"}"#),
            )
            .unwrap()
            .json();
        let secret = made["secret"].as_str().unwrap();
        let key = connect(&pg.conninfo("exporter", secret)).await.unwrap();
        let n = key
            .query_one("SELECT COUNT(*) FROM users", &[])
            .await
            .unwrap()
            .get::<_, i64>(0);
        assert_eq!(n, 1_000);
    });
    // psql too (SCRAM, its default), and a wrong password through it.
    let (ok, out, err) = pg.psql(ADMIN, &["-A", "-t", "-c", "SELECT COUNT(*) FROM users"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "1000");
    let (ok, _, err) = pg.psql((ADMIN.0, "nope"), &["-c", "SELECT COUNT(*) FROM users"]);
    assert!(!ok);
    assert!(err.contains("password authentication failed"), "{err}");
}

#[test]
fn no_tokens_trusts_loopback() {
    let (_dir, data) = store(1_000);
    let pg = Pg::start_with(&data, &[]);
    let (ok, out, err) = pg.psql(("anyone", ""), &["-A", "-t", "-c", "SELECT current_user"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "local");
    let (ok, _, err) = pg.psql(("anyone", ""), &["-c", "CREATE TABLE t (a INT)"]);
    assert!(ok, "local is an admin: {err}");
}

/// A token configured by its hash has no SCRAM verifier: over TLS it logs
/// in with a cleartext password; without TLS it is refused, saying why.
#[test]
fn hashed_token_needs_tls() {
    let (dir, data) = store(1_000);
    let c =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let cert = dir.path().join("pg.crt");
    let key = dir.path().join("pg.key");
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.signing_key.serialize_pem()).unwrap();
    let config = dir.path().join("segdb.toml");
    std::fs::write(
        &config,
        format!(
            "[[tokens]]\nname = \"hashed\"\nrole = \"read\"\nsecret_hash = \"{}\"\n",
            SecretHash::new("hashed-secret-3")
        ),
    )
    .unwrap();
    let pg = Pg::start_with(
        &data,
        &[
            "--config",
            config.to_str().unwrap(),
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    super::ensure_installed("psql", "postgresql-client");
    let psql = |sslmode: &str, password: &str| {
        std::process::Command::new("psql")
            .args(["-X", "-A", "-t", "-c", "SELECT COUNT(*) FROM users"])
            .arg(format!(
                "host={} port={} user=hashed dbname=segdb sslmode={sslmode}",
                pg.pg.ip(),
                pg.pg.port()
            ))
            .env("PGPASSWORD", password)
            .output()
            .unwrap()
    };
    let out = psql("require", "hashed-secret-3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1000");
    let out = psql("require", "wrong");
    assert!(!out.status.success());
    let out = psql("disable", "hashed-secret-3");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no SCRAM verifier") && err.contains("TLS"),
        "{err}"
    );
}
