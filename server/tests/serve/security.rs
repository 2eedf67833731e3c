//! Security as a user meets it with the real binary: the principal on
//! every log line, `segdb token hash` and API keys across a restart, and
//! HTTPS with a certificate made here.

use super::common::KillOnDrop;
use super::*;

/// Tokens are `NAME:ROLE:SECRET`: every request's log line names the
/// principal it authenticated as (and a refused one names none), and the
/// secret never reaches the log.
#[test]
fn the_log_names_each_requests_principal() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let (child, url) = serve(&[
        "--demo",
        "--demo-dir",
        demo.to_str().unwrap(),
        "--demo-rows",
        "300",
        "--token",
        "ana:read:s3cret-of-ana",
        "--token",
        "ops.bot:admin:s3cret-of-ops",
    ]);
    let client = |t: &str| segdb_server::client::Client::new(&url, Some(t.to_owned()));
    let v = client("s3cret-of-ana")
        .query("SELECT COUNT(*) FROM users")
        .unwrap();
    assert_eq!(v["rows"][0][0], 300);
    let r = client("s3cret-of-ops")
        .request("GET", "/v1/tables", &[], None)
        .unwrap();
    assert_eq!(r.status, 200);
    let r = client("wrong")
        .request("GET", "/v1/segments", &[], None)
        .unwrap();
    assert_eq!(r.status, 401);
    let err = terminate(child);
    let line = |path: &str| {
        err.lines()
            .find(|l| l.contains(path) && l.contains("segdb::request"))
            .unwrap_or_else(|| panic!("no log line for {path}:\n{err}"))
            .to_owned()
    };
    assert!(line("/v1/query").contains("principal=ana"), "{err}");
    assert!(line("/v1/tables").contains("principal=ops.bot"), "{err}");
    assert!(line("/v1/segments").contains("principal=-"), "{err}");
    assert!(!err.contains("s3cret"), "a secret in the log:\n{err}");
    // Durations are rounded to the microsecond, never
    // `latency_ms=0.013404000000000001`.
    for l in err.lines().filter(|l| l.contains("segdb::request")) {
        let ms = l
            .split_whitespace()
            .find_map(|w| w.strip_prefix("latency_ms="))
            .unwrap_or_else(|| panic!("no latency in {l}"));
        let decimals = ms.split_once('.').map_or(0, |(_, d)| d.len());
        assert!(decimals <= 3, "latency_ms={ms} in {l}");
    }
}

/// `segdb serve --tls-cert --tls-key` as a user runs it, with a
/// self-signed certificate made here: the start line says https://, the
/// console and the load tool speak HTTPS with --ca-cert, plain HTTP reaches
/// only --plain-listen, and a bad certificate stops the start naming the
/// file.
#[test]
fn serve_over_tls_with_console_bench_and_plain_listen() {
    let dir = tempfile::tempdir().unwrap();
    let c = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let cert = dir.path().join("server.crt");
    let key = dir.path().join("server.key");
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.signing_key.serialize_pem()).unwrap();
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let demo = dir.path().join("demo");
    let mut child = bin()
        .arg("serve")
        .args(["--demo", "--demo-dir", demo.to_str().unwrap()])
        .args(["--demo-rows", "300", "--listen", "127.0.0.1:0"])
        .args(["--tls-cert", cert, "--tls-key", key])
        .args(["--plain-listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    // Killed if an assertion fails before the SIGTERM below.
    let mut child = KillOnDrop(Some(child));
    let mut line = String::new();
    let mut next_line = || {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "serve exited");
        line.trim().to_owned()
    };
    let url = loop {
        if let Some(url) = next_line().strip_prefix("segdb listening on ") {
            break url.to_owned();
        }
    };
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let plain_line = next_line();
    let plain_url = plain_line
        .strip_prefix("segdb also listening on ")
        .and_then(|l| l.strip_suffix(" (plain HTTP)"))
        .unwrap_or_else(|| panic!("{plain_line}"))
        .to_owned();
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));

    let (ok, out, err) = console(
        &url,
        &["--ca-cert", cert, "-e", "SELECT COUNT(*) FROM users;"],
        None,
    );
    assert!(ok, "{err}");
    assert!(out.lines().any(|l| l.trim() == "300"), "{out}");
    // Without --ca-cert the self-signed certificate is not trusted.
    let (ok, _, err) = console(&url, &["-e", "SELECT COUNT(*) FROM users;"], None);
    assert!(!ok);
    assert!(err.contains("certificate"), "{err}");
    let out = bin()
        .args(["bench", "--url", &url, "--ca-cert", cert])
        .args(["--runs", "2", "--only", "W1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.lines().any(|l| l.starts_with("W1 ")), "{text}");
    // Plain HTTP: on --plain-listen, not on the TLS port.
    let count = |base: &str| {
        segdb_server::client::Client::new(base, None).query("SELECT COUNT(*) FROM users")
    };
    assert_eq!(count(&plain_url).unwrap()["rows"][0][0], 300);
    let tls_port_over_http = url.replacen("https://", "http://", 1);
    assert!(count(&tls_port_over_http).is_err());
    let err = terminate(child.0.take().unwrap());
    assert!(err.contains("plain HTTP beside TLS"), "{err}");

    // A certificate file that is not there, or not PEM: the start stops,
    // naming it.
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let missing = dir.path().join("missing.crt");
    for (cert, says) in [(&missing, "reading tls_cert"), (&not_pem, "no certificate")] {
        let out = bin()
            .arg("serve")
            .args(["--data", dir.path().join("store").to_str().unwrap()])
            .args(["--listen", "127.0.0.1:0"])
            .args(["--tls-cert", cert.to_str().unwrap(), "--tls-key", key])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{err}");
        assert!(err.contains(says), "{err}");
        assert!(err.contains(&cert.display().to_string()), "{err}");
        assert!(String::from_utf8_lossy(&out.stdout).is_empty());
    }
    // One file without the other.
    let out = bin()
        .args([
            "serve",
            "--data",
            dir.path().join("store").to_str().unwrap(),
        ])
        .args(["--listen", "127.0.0.1:0", "--tls-cert", cert])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("tls_key is not"), "{err}");
}

/// `segdb token hash` reads the secret on stdin and prints the config line;
/// a server configured with that hash accepts the secret; API keys made
/// over HTTP work and survive a restart; no secret (a token's, a key's, a
/// refused guess's) ever reaches the log.
#[test]
fn token_hash_in_the_config_and_keys_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let hash_of = |stdin: &str| {
        let mut child = bin()
            .args(["token", "hash"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = hash_of("adm1n-s3cret\n");
    assert!(out.status.success(), "{out:?}");
    let line = String::from_utf8(out.stdout).unwrap();
    assert!(line.starts_with("secret_hash = \"sha256$"), "{line}");
    assert!(!line.contains("adm1n"), "{line}");
    let out = hash_of("");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("stdin"));

    let demo = dir.path().join("demo");
    let config = dir.path().join("segdb.toml");
    std::fs::write(
        &config,
        format!("[[tokens]]\nname = \"root\"\nrole = \"admin\"\n{line}"),
    )
    .unwrap();
    let args = [
        "--demo",
        "--demo-dir",
        demo.to_str().unwrap(),
        "--demo-rows",
        "200",
        "--config",
        config.to_str().unwrap(),
    ];
    let client = |url: &str, t: &str| segdb_server::client::Client::new(url, Some(t.to_owned()));
    let (child, url) = serve(&args);
    let root = client(&url, "adm1n-s3cret");
    let r = root
        .request(
            "POST",
            "/v1/keys",
            &[("content-type", "application/json")],
            Some(br#"{"name": "reporter", "role": "read"}"#),
        )
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let key = r.json()["secret"].as_str().unwrap().to_owned();
    let v = client(&url, &key)
        .query("SELECT COUNT(*) FROM users")
        .unwrap();
    assert_eq!(v["rows"][0][0], 200);
    let r = client(&url, "guess-s3cret")
        .request("GET", "/v1/tables", &[], None)
        .unwrap();
    assert_eq!(r.status, 401);
    let mut log = terminate(child);

    let (child, url) = serve(&args);
    let v = client(&url, &key)
        .query("SELECT COUNT(*) FROM users")
        .unwrap();
    assert_eq!(v["rows"][0][0], 200);
    let r = client(&url, "adm1n-s3cret")
        .request("DELETE", "/v1/keys/reporter", &[], None)
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let r = client(&url, &key)
        .request("GET", "/v1/tables", &[], None)
        .unwrap();
    assert_eq!(r.status, 401);
    log.push_str(&terminate(child));
    assert!(
        log.lines()
            .any(|l| l.contains("/v1/query") && l.contains("principal=reporter")),
        "{log}"
    );
    for secret in ["adm1n", "s3cret", &key[6..]] {
        assert!(!log.contains(secret), "`{secret}` in the log:\n{log}");
    }
    assert!(!log.contains("sha256$"), "a hash in the log:\n{log}");
}
