//! What becomes of each README command: the rules that skip some (each
//! with its reason), the synopses whose flags are checked, and the
//! rewrites of the rest, each as small as running it here needs.

/// How a README command is checked.
#[derive(Debug, PartialEq)]
pub enum Plan {
    /// Run this bash script; it must succeed.
    Run(String),
    /// A usage line (placeholders, `[optional]` parts, or a server that
    /// runs until stopped): the flags it shows must be the subcommand's.
    Synopsis { subcommand: String },
    /// Not run here, for the reason given.
    Skip(&'static str),
    /// No rule covers it: the test fails until one does.
    Unknown,
}

/// Commands not run by this test: (a prefix of the command, why).
pub const SKIPS: &[(&str, &str)] = &[
    (
        "cargo run --release --bin segdb -- serve --demo",
        "the test's own server is this command (a small demo, a free port)",
    ),
    ("cargo nextest run", "the test suite, running this test"),
    ("SEGDB_CRASH_", "the crash test's settings (minutes)"),
    (
        "cargo install cargo-fuzz",
        "fuzzing: a tool install and minutes per target",
    ),
    ("cd fuzz", "fuzzing: the fuzz workspace"),
    ("mkdir -p corpus/", "fuzzing: the fuzz workspace's corpora"),
    (
        "RUSTC_BOOTSTRAP=1 cargo fuzz",
        "fuzzing: minutes per target",
    ),
    (
        "cargo build --release",
        "a release build (minutes); this test runs the build under test",
    ),
    (
        "cargo run --release -p segdb-benches",
        "a release build of the benchmarks (minutes)",
    ),
    ("cargo bench", "a benchmark (minutes)"),
    (
        "openssl req",
        "the TLS recipe: server/tests/serve/security.rs makes its own certificate and serves HTTPS",
    ),
    (
        "curl --cacert",
        "the TLS recipe: HTTPS is tested in server/tests/http/tls.rs",
    ),
];

/// The index in [`SKIPS`] of the rule that skips `cmd`.
pub fn skip_rule(cmd: &str) -> Option<usize> {
    SKIPS.iter().position(|(prefix, _)| cmd.starts_with(prefix))
}

/// The command's words outside quotes (enough to find flags and
/// placeholders; quoted SQL stays out).
fn unquoted(cmd: &str) -> String {
    let (mut single, mut double) = (false, false);
    let mut out = String::new();
    for c in cmd.chars() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            _ if single || double => {}
            _ => out.push(c),
        }
    }
    out
}

/// The `--flags` a command shows.
pub fn flags(cmd: &str) -> Vec<&str> {
    cmd.split(|c: char| c.is_whitespace() || c == '[' || c == ']')
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| {
            w.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .next()
                .unwrap_or(w)
        })
        .collect()
}

/// Whether a `segdb` command is a usage line rather than an example:
/// optional `[…]` parts, alternatives `a|b`, placeholders in capitals
/// (`NAME:ROLE:SECRET`; but not `STORE` and `DIR`, which the sandbox has),
/// a server (runs until stopped), or a server elsewhere
/// (`https://segdb.example.com`).
fn is_synopsis(cmd: &str) -> bool {
    let bare = unquoted(cmd);
    let placeholder = bare.split_whitespace().any(|w| {
        // The sandbox has these (see `Sandbox::start`).
        if w == "STORE" || w.starts_with("DIR/") || w == "DIR" {
            return false;
        }
        let caps = w.chars().filter(|c| c.is_ascii_uppercase()).count();
        caps >= 2 && !w.starts_with("--") && !w.contains('=')
            || w.chars().any(|c| c.is_ascii_uppercase()) && w.contains('/')
    });
    bare.contains('[')
        || bare.contains('|')
        || bare.contains('…')
        || placeholder
        || bare.starts_with("segdb serve")
        || bare.contains("https://")
}

/// The subcommand of a `segdb …` command (`bench ingest` and `token hash`
/// are two words).
fn subcommand(cmd: &str) -> String {
    let words: Vec<&str> = cmd.split_whitespace().skip(1).take(2).collect();
    match words.as_slice() {
        ["bench", "ingest"] | ["token", "hash"] => words.join(" "),
        [first, ..] => (*first).to_owned(),
        [] => String::new(),
    }
}

/// `text` with `from` replaced by `to` where `from` is a whole argument
/// (`--scale medium` but not `--scale mediumish`).
fn replace_arg(text: &str, from: &str, to: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(from) {
        let end = at + from.len();
        let whole = rest[end..].chars().next().is_none_or(|c| c.is_whitespace());
        out.push_str(&rest[..at]);
        out.push_str(if whole { to } else { from });
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// A year from now, as an `expires_at`.
fn a_year_ahead() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Days since 1970 to a civil date (Howard Hinnant's algorithm).
    let z = (secs / 86_400 + 366) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T00:00:00Z")
}

/// What to do with `cmd`, run against the server at `url`.
pub fn plan(cmd: &str, url: &str) -> Plan {
    if let Some(i) = skip_rule(cmd) {
        return Plan::Skip(SKIPS[i].1);
    }
    let mut text = cmd
        .replace("cargo run --release --bin segdb -- ", "segdb ")
        .replace("./target/release/segdb ", "segdb ");
    let host = url.trim_start_matches("http://");
    for port in ["127.0.0.1:7878", "127.0.0.1:7995", "localhost:7878"] {
        text = text.replace(port, host);
    }
    if text.starts_with("segdb ") {
        if is_synopsis(&text) {
            return Plan::Synopsis {
                subcommand: subcommand(&text),
            };
        }
        // The benchmark's scale and lengths, cut to a test's: the flags
        // and the flow stay as written.
        for (from, to) in [
            ("--scale medium", "--scale 2000"),
            ("--runs 300", "--runs 3"),
            ("--seconds 20", "--seconds 1"),
            ("--clients 16", "--clients 2"),
        ] {
            text = replace_arg(&text, from, to);
        }
        if text.starts_with("segdb bench") && text.contains("--url") {
            text.push_str(" --token ADMIN");
        }
        if text.starts_with("segdb bench") && !text.contains("--runs") && !text.contains("ingest") {
            text.push_str(" --runs 3");
        }
        return Plan::Run(format!("timeout 300 {text}"));
    }
    if text.starts_with("cp -a bench-data/") {
        return Plan::Run(text);
    }
    if let Some(rest) = text.strip_prefix("curl ") {
        // Fail on an HTTP error, and authenticate as the examples' admin
        // where they show no token (loopback needs none without tokens;
        // this server has the examples' tokens).
        let auth = if rest.contains("Authorization:") {
            ""
        } else {
            "-H 'Authorization: Bearer ADMIN' "
        };
        let mut rest = rest.to_owned();
        if let Some(at) = rest.find("\"expires_at\": \"") {
            let start = at + "\"expires_at\": \"".len();
            if let Some(len) = rest[start..].find('"') {
                rest.replace_range(start..start + len, &a_year_ahead());
            }
        }
        return Plan::Run(format!(
            "timeout 120 curl -sS --fail-with-body {auth}{rest}"
        ));
    }
    Plan::Unknown
}

#[test]
fn plans_of_some_commands() {
    let url = "http://127.0.0.1:4000";
    assert_eq!(
        plan("segdb check --data STORE [--json]", url),
        Plan::Synopsis {
            subcommand: "check".into()
        }
    );
    assert_eq!(
        plan(
            "segdb bench ingest --url http://127.0.0.1:7878 --clients 16",
            url
        ),
        Plan::Run(
            "timeout 300 segdb bench ingest --url http://127.0.0.1:4000 --clients 2 --token ADMIN"
                .into()
        )
    );
    assert_eq!(
        plan(
            "segdb query --data STORE --format table|json|csv \"SELECT 1\"",
            url
        ),
        Plan::Synopsis {
            subcommand: "query".into()
        }
    );
    assert_eq!(plan("rm -rf /", url), Plan::Unknown);
    assert_eq!(
        flags("segdb serve --data STORE [--listen 127.0.0.1:7878] [--token NAME:ROLE:SECRET]…"),
        ["--data", "--listen", "--token"]
    );
    assert_eq!(
        replace_arg("--runs 300 --runs 3000", "--runs 300", "--runs 3"),
        "--runs 3 --runs 3000"
    );
    assert!(a_year_ahead().ends_with("T00:00:00Z"));
}
