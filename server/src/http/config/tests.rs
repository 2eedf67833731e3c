//! The settings' layering, parsing and refusals.

use super::*;

#[test]
fn audit_and_export_settings_from_file_and_env() {
    let base = Settings {
        data: Some("/a".into()),
        ..Settings::default()
    };
    let c = base.clone().resolve().unwrap();
    assert_eq!(c.audit_max_file_bytes, 64 << 20);
    assert!(!c.audit_queries);
    assert_eq!(c.export_ids_per_minute, 10_000_000);
    let file: Settings = toml::from_str(
        "audit_max_file_bytes = 1000\naudit_queries = true\nexport_ids_per_minute = 0\n",
    )
    .unwrap();
    let c = base.clone().overridden_by(file).resolve().unwrap();
    assert_eq!(
        (
            c.audit_max_file_bytes,
            c.audit_queries,
            c.export_ids_per_minute
        ),
        (1000, true, 0)
    );
    let env = |k: &str, v: &'static str| {
        let k = k.to_owned();
        Settings::from_env(move |name| (name == k).then(|| v.to_owned()))
    };
    let c = base
        .clone()
        .overridden_by(env("SEGDB_AUDIT_QUERIES", "1").unwrap())
        .overridden_by(env("SEGDB_EXPORT_IDS_PER_MINUTE", "500").unwrap())
        .resolve()
        .unwrap();
    assert!(c.audit_queries);
    assert_eq!(c.export_ids_per_minute, 500);
    let e = env("SEGDB_AUDIT_QUERIES", "sometimes").unwrap_err();
    assert!(e.contains("SEGDB_AUDIT_QUERIES"), "{e}");
    let zero = Settings {
        audit_max_file_bytes: Some(0),
        ..base
    };
    assert!(zero.resolve().unwrap_err().contains("audit_max_file_bytes"));
}

#[test]
fn later_sources_override_earlier_ones() {
    let file: Settings = toml::from_str(
        "data = \"/a\"\nlisten = \"127.0.0.1:1\"\nquery_timeout_ms = 5\n\
             [[tokens]]\nrole = \"read\"\nsecret = \"r\"\n",
    )
    .unwrap();
    let env = Settings::from_env(|k| match k {
        "SEGDB_LISTEN" => Some("127.0.0.1:2".into()),
        "SEGDB_TOKENS" => Some("admin:x, write:y".into()),
        _ => None,
    })
    .unwrap();
    let flags = Settings {
        query_timeout_ms: Some(9),
        ..Settings::default()
    };
    let c = file
        .overridden_by(env)
        .overridden_by(flags)
        .resolve()
        .unwrap();
    assert_eq!(c.data, PathBuf::from("/a"));
    assert_eq!(c.listen.port(), 2);
    assert_eq!(c.query_timeout, Duration::from_millis(9));
    let roles: Vec<Role> = c.tokens.iter().map(|t| t.role).collect();
    assert_eq!(roles, [Role::Read, Role::Admin, Role::Write]);
    assert_eq!(c.max_concurrent_queries, 16);
    assert_eq!(c.query_spin, Duration::from_micros(500));
}

#[test]
fn query_spin_from_the_file_and_the_environment() {
    let file: Settings = toml::from_str("data = \"/a\"\nquery_spin_us = 0\n").unwrap();
    assert_eq!(file.clone().resolve().unwrap().query_spin, Duration::ZERO);
    let env = Settings::from_env(|k| (k == "SEGDB_QUERY_SPIN_US").then(|| "2000".into())).unwrap();
    let c = file.overridden_by(env).resolve().unwrap();
    assert_eq!(c.query_spin, Duration::from_micros(2000));
    let e =
        Settings::from_env(|k| (k == "SEGDB_QUERY_SPIN_US").then(|| "soon".into())).unwrap_err();
    assert!(e.contains("SEGDB_QUERY_SPIN_US"), "{e}");
}

/// One connection thread per four cores by default (at least one); the
/// file and the environment may say otherwise, but never none.
#[test]
fn http_threads_from_the_cores_the_file_and_the_environment() {
    let cores = std::thread::available_parallelism().unwrap().get();
    let file: Settings = toml::from_str("data = \"/a\"\n").unwrap();
    assert_eq!(
        file.clone().resolve().unwrap().http_threads,
        (cores / 4).max(1)
    );
    let file: Settings = toml::from_str("data = \"/a\"\nhttp_threads = 3\n").unwrap();
    assert_eq!(file.clone().resolve().unwrap().http_threads, 3);
    let env = Settings::from_env(|k| (k == "SEGDB_HTTP_THREADS").then(|| "5".into())).unwrap();
    assert_eq!(file.overridden_by(env).resolve().unwrap().http_threads, 5);
    let none: Settings = toml::from_str("data = \"/a\"\nhttp_threads = 0\n").unwrap();
    let e = none.resolve().unwrap_err();
    assert!(e.contains("http_threads must be at least 1"), "{e}");
}

#[test]
fn limits_of_answers_values_and_slow_clients() {
    let base = || Settings {
        data: Some("/a".into()),
        ..Settings::default()
    };
    let c = base().resolve().unwrap();
    assert_eq!(
        (c.max_answer_rows, c.max_answer_bytes, c.max_field_values),
        (1_000_000, 256 << 20, 65_536)
    );
    assert_eq!(c.header_read_timeout, Duration::from_secs(10));
    assert_eq!(c.body_read_timeout, Duration::from_secs(30));
    let env = Settings::from_env(|k| match k {
        "SEGDB_MAX_ANSWER_ROWS" => Some("10".into()),
        "SEGDB_MAX_ANSWER_BYTES" => Some("20".into()),
        "SEGDB_MAX_FIELD_VALUES" => Some("30".into()),
        "SEGDB_HEADER_READ_TIMEOUT_MS" => Some("40".into()),
        "SEGDB_BODY_READ_TIMEOUT_MS" => Some("50".into()),
        _ => None,
    })
    .unwrap();
    let c = base().overridden_by(env).resolve().unwrap();
    assert_eq!(
        (c.max_answer_rows, c.max_answer_bytes, c.max_field_values),
        (10, 20, 30)
    );
    assert_eq!(c.live_options().max_field_values, 30);
    assert_eq!(c.header_read_timeout, Duration::from_millis(40));
    assert_eq!(c.body_read_timeout, Duration::from_millis(50));
    for bad in [
        "max_answer_rows = 0",
        "max_field_values = 0",
        "max_field_values = 5000000000",
        "body_read_timeout_ms = 0",
    ] {
        let file: Settings = toml::from_str(bad).unwrap();
        let e = base().overridden_by(file).resolve().unwrap_err();
        let name = bad.split(' ').next().unwrap();
        assert!(e.contains(name), "{bad}: {e}");
    }
}

#[test]
fn real_time_write_settings() {
    let base = || Settings {
        data: Some("/a".into()),
        ..Settings::default()
    };
    // Defaults are the engine's.
    let c = base().resolve().unwrap();
    let d = LiveOptions::default();
    assert_eq!(c.wal_sync, SyncPolicy::Always);
    assert_eq!(c.flush_bytes, d.flush_bytes);
    assert_eq!(c.flush_age, d.flush_age);
    assert_eq!(c.max_delta_bytes, d.max_delta_bytes);
    assert_eq!(c.compact_layers, d.compact_layers);
    assert_eq!(c.idempotency_window, d.idempotency_window);
    // The file, then the environment, then flags.
    let file: Settings = toml::from_str(
        "wal_sync = \"every_ms=10\"\nflush_bytes = 1000\nflush_age_ms = 250\n\
             max_delta_bytes = 5000\ncompact_layers = 3\nidempotency_window_s = 60\n",
    )
    .unwrap();
    let env = Settings::from_env(|k| match k {
        "SEGDB_WAL_SYNC" => Some("every_ms=20".into()),
        "SEGDB_MAX_DELTA_BYTES" => Some("6000".into()),
        _ => None,
    })
    .unwrap();
    let flags = Settings {
        compact_layers: Some(7),
        ..Settings::default()
    };
    let c = base()
        .overridden_by(file)
        .overridden_by(env)
        .overridden_by(flags)
        .resolve()
        .unwrap();
    assert_eq!(c.wal_sync, SyncPolicy::EveryMs(20));
    assert_eq!(c.flush_bytes, 1000);
    assert_eq!(c.flush_age, Duration::from_millis(250));
    assert_eq!(c.max_delta_bytes, 6000);
    assert_eq!(c.compact_layers, 7);
    assert_eq!(c.idempotency_window, Duration::from_secs(60));
    let o = c.live_options();
    assert_eq!(
        (o.sync, o.flush_bytes, o.max_delta_bytes, o.compact_layers),
        (SyncPolicy::EveryMs(20), 1000, 6000, 7)
    );
    assert_eq!(o.flush_age, Duration::from_millis(250));
    assert_eq!(o.idempotency_window, Duration::from_secs(60));
    assert!(!o.truncate_wal_at_corruption);

    assert_eq!(parse_wal_sync("always"), Ok(SyncPolicy::Always));
    assert_eq!(parse_wal_sync(" every_ms=5 "), Ok(SyncPolicy::EveryMs(5)));
    for bad in [
        "sometimes",
        "every_ms=0",
        "every_ms=",
        "every_ms=x",
        "10",
        "",
    ] {
        let e = parse_wal_sync(bad).unwrap_err();
        assert!(e.contains("every_ms=N"), "{bad}: {e}");
    }
    let resolve = |s: Settings| base().overridden_by(s).resolve();
    let e = resolve(Settings {
        wal_sync: Some("never".into()),
        ..Settings::default()
    })
    .unwrap_err();
    assert!(e.contains("never"), "{e}");
    let e = resolve(Settings {
        flush_bytes: Some(10),
        max_delta_bytes: Some(5),
        ..Settings::default()
    })
    .unwrap_err();
    assert!(e.contains("max_delta_bytes"), "{e}");
    let e = resolve(Settings {
        compact_layers: Some(0),
        ..Settings::default()
    })
    .unwrap_err();
    assert!(e.contains("compact_layers"), "{e}");
    let e = Settings::from_env(|k| (k == "SEGDB_FLUSH_AGE_MS").then(|| "1s".into())).unwrap_err();
    assert!(e.contains("SEGDB_FLUSH_AGE_MS"), "{e}");
}

#[test]
fn tokens_are_kept_as_salted_hashes() {
    let hash = SecretHash::new("pa55").to_string();
    let file: Settings = toml::from_str(&format!(
        "data = \"/a\"\n[[tokens]]\nname = \"ana\"\nrole = \"read\"\nsecret_hash = \"{hash}\"\n\
             [[tokens]]\nname = \"bo\"\nrole = \"admin\"\nsecret = \"plain\"\n"
    ))
    .unwrap();
    let c = file.resolve().unwrap();
    assert_eq!(c.tokens[0].name, "ana");
    assert!(c.tokens[0].secret_hash.matches("pa55"));
    assert!(!c.tokens[0].secret_hash.matches("plain"));
    // A plain secret is hashed at load: only its hash is kept.
    assert!(c.tokens[1].secret_hash.matches("plain"));
    // (Quoted: the field `plain_http_listen` holds the word too.)
    assert!(!format!("{c:?}").contains("\"plain\""));
    let resolve = |toml_text: &str| {
        toml::from_str::<Settings>(&format!("data = \"/a\"\n[[tokens]]\n{toml_text}"))
            .unwrap()
            .resolve()
    };
    let e = resolve(&format!(
        "name = \"ana\"\nrole = \"read\"\nsecret = \"x\"\nsecret_hash = \"{hash}\""
    ))
    .unwrap_err();
    assert!(e.contains("both"), "{e}");
    let e = resolve("name = \"ana\"\nrole = \"read\"").unwrap_err();
    assert!(e.contains("ana") && e.contains("secret_hash"), "{e}");
    let e = resolve("name = \"ana\"\nrole = \"read\"\nsecret_hash = \"pa55\"").unwrap_err();
    assert!(e.contains("ana") && !e.contains("pa55"), "{e}");
    let e = resolve("name = \"a b\"\nrole = \"read\"\nsecret = \"x\"").unwrap_err();
    assert!(e.contains("token name"), "{e}");
}

/// `[[tokens]]` may be limited to fields and categories, as API keys are;
/// an entry that is not a name, or lists on an admin, stop the start.
#[test]
fn tokens_may_be_limited_to_fields_and_categories() {
    let resolve = |toml_text: &str| {
        toml::from_str::<Settings>(&format!(
            "data = \"/a\"\n[[tokens]]\nname = \"geo\"\nsecret = \"x\"\n{toml_text}"
        ))
        .unwrap()
        .resolve()
    };
    let c = resolve(
        "role = \"read\"\nallowed_fields = [\"age\", \"users.city\"]\nallowed_categories = [\"geo\"]",
    )
    .unwrap();
    let limits = &c.tokens[0].limits;
    assert_eq!(
        limits.allowed_fields.as_deref(),
        Some(&["age".to_owned(), "users.city".to_owned()][..])
    );
    assert_eq!(
        limits.allowed_categories.as_deref(),
        Some(&["geo".to_owned()][..])
    );
    assert!(!resolve("role = \"read\"").unwrap().tokens[0]
        .limits
        .is_limited());
    let e = resolve("role = \"read\"\nallowed_categories = [\"a-b\"]").unwrap_err();
    assert!(e.contains("token `geo`") && e.contains("`a-b`"), "{e}");
    let e = resolve("role = \"admin\"\nallowed_fields = []").unwrap_err();
    assert!(e.contains("never limited"), "{e}");
}

#[test]
fn bad_settings_say_what_is_wrong() {
    let e = toml::from_str::<Settings>("listn = \"x\"").unwrap_err();
    assert!(e.to_string().contains("listn"), "{e}");
    let e =
        Settings::from_env(|k| (k == "SEGDB_QUERY_TIMEOUT_MS").then(|| "soon".into())).unwrap_err();
    assert!(e.contains("SEGDB_QUERY_TIMEOUT_MS"), "{e}");
    let e = Settings {
        data: Some("/a".into()),
        listen: Some("nowhere".into()),
        ..Settings::default()
    }
    .resolve()
    .unwrap_err();
    assert!(e.contains("nowhere"), "{e}");
    assert!(parse_token("root:x").unwrap_err().contains("root"));
    assert!(parse_token("read:").is_err());
    let t = parse_token("ana:admin:s3:cr:et").unwrap();
    assert_eq!(
        (t.name.as_deref(), t.role, t.secret.as_deref()),
        (Some("ana"), Role::Admin, Some("s3:cr:et"))
    );
    assert!(!format!("{t:?}").contains("s3"), "{t:?}");
    let t = parse_token("read:s3:cr:et").unwrap();
    assert_eq!((t.name, t.secret.as_deref()), (None, Some("s3:cr:et")));
    assert!(parse_token("ana:root:x").unwrap_err().contains("root"));
    assert!(parse_token("an a:read:x")
        .unwrap_err()
        .contains("token name"));
    assert!(parse_token("ana:read:").is_err());
    assert!(Settings::default()
        .resolve()
        .unwrap_err()
        .contains("--data"));
}
