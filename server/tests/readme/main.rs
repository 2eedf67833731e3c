//! Every command the README shows, run as a reader would (issue 19: an
//! example that failed in bash had rotted unnoticed).
//!
//! The README's `sh` blocks are split into commands; each one is either
//! run (after the few rewrites listed in `rewrite.rs`: `segdb` from this
//! build, this test's server instead of port 7878, small scales instead of
//! the benchmark's 10M users), checked as a synopsis (every `--flag` it
//! shows is one the subcommand's `--help` lists), or skipped by a rule
//! that says why. A command no rule covers fails the test, so a new
//! example is run, or skipped on purpose, never forgotten. Its `sql`
//! blocks run statement by statement through `segdb console -e`.

#[path = "../common/mod.rs"]
mod common;
mod readme_text;
mod rewrite;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use readme_text::{blocks, commands, sql_statements};
use rewrite::{plan, Plan};

/// What the commands run in: a scratch directory holding `bin/segdb`, and
/// this test's server on the demo data set.
struct Sandbox {
    dir: tempfile::TempDir,
    url: String,
    _server: common::KillOnDrop,
}

impl Sandbox {
    fn start() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_segdb"), bin.join("segdb")).unwrap();
        let demo = dir.path().join("demo-data");
        // `cargo run --release --bin segdb -- serve --demo`, the README's
        // first command, with a small demo, a free port and the two tokens
        // its examples use (`ADMIN`, `W`).
        let (child, url) = common::listening(
            Command::new(env!("CARGO_BIN_EXE_segdb"))
                .args(["serve", "--demo", "--demo-rows", "4000", "--demo-dir"])
                .arg(&demo)
                .args(["--listen", "127.0.0.1:0"])
                .args(["--token", "ops:admin:ADMIN", "--token", "w:write:W"])
                .current_dir(dir.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        );
        // The usage lines' `STORE` and `DIR`: a small standard data set,
        // imported, and a JSON-lines file with one bad line for
        // `--on-error skip more.jsonl`.
        let gen = |args: &[&str]| {
            let out = Command::new(env!("CARGO_BIN_EXE_segdb"))
                .args(args)
                .current_dir(dir.path())
                .output()
                .unwrap();
            assert!(out.status.success(), "segdb {args:?}: {out:?}");
        };
        gen(&["gen", "--scale", "2000", "--seed", "7", "--out", "DIR"]);
        gen(&[
            "import",
            "--data",
            "STORE",
            "--table",
            "users",
            "--schema",
            "DIR/schema.sql",
            "DIR/users.csv",
        ]);
        std::fs::write(
            dir.path().join("more.jsonl"),
            "{\"user_id\":\"n1\",\"age\":33}\n{\"user_id\":\"n2\",\"age\":\"old\"}\n",
        )
        .unwrap();
        Sandbox {
            dir,
            url,
            _server: common::KillOnDrop(Some(child)),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `script` with bash in the scratch directory, `segdb` first on
    /// PATH: (success, stdout and stderr).
    fn bash(&self, script: &str) -> (bool, String) {
        let path = format!(
            "{}:{}",
            self.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = Command::new("bash")
            .args(["-eo", "pipefail", "-c", script])
            .env("PATH", path)
            // `segdb console` without --url or --token: this server, as admin.
            .env("SEGDB_URL", &self.url)
            .env("SEGDB_TOKEN", "ADMIN")
            .current_dir(self.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }
}

fn readme() -> (PathBuf, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let text = std::fs::read_to_string(&path).unwrap();
    (path, text)
}

#[test]
fn every_command_in_the_readme_runs_as_written() {
    let (_, text) = readme();
    let sandbox = Sandbox::start();
    let mut ran = 0;
    let mut synopses = 0;
    let mut failures = Vec::new();
    for block in blocks(&text) {
        match block.lang.as_str() {
            "sh" => {
                for cmd in commands(&block) {
                    match plan(&cmd.text, &sandbox.url) {
                        Plan::Run(script) => {
                            ran += 1;
                            eprintln!("README line {}: {script}", cmd.line);
                            let (ok, out) = sandbox.bash(&script);
                            if !ok {
                                failures.push(format!(
                                    "README line {}: `{}` (run as `{script}`) failed:\n{out}",
                                    cmd.line, cmd.text
                                ));
                            }
                        }
                        Plan::Synopsis { subcommand } => {
                            synopses += 1;
                            let (ok, help) = sandbox.bash(&format!("segdb {subcommand} --help"));
                            let missing: Vec<&str> = rewrite::flags(&cmd.text)
                                .into_iter()
                                .filter(|f| !help.contains(f))
                                .collect();
                            if !ok || !missing.is_empty() {
                                failures.push(format!(
                                    "README line {}: `segdb {subcommand}` has no {missing:?}: {help}",
                                    cmd.line
                                ));
                            }
                        }
                        Plan::Skip(why) => eprintln!("README line {}: skipped: {why}", cmd.line),
                        Plan::Unknown => failures.push(format!(
                            "README line {}: no rule runs or skips `{}`; add one in server/tests/readme/rewrite.rs",
                            cmd.line, cmd.text
                        )),
                    }
                }
            }
            "sql" => {
                for (line, stmt) in sql_statements(&block) {
                    ran += 1;
                    let out = Command::new(env!("CARGO_BIN_EXE_segdb"))
                        .args(["console", "--url", &sandbox.url, "--token", "ADMIN", "-e"])
                        .arg(&stmt)
                        .output()
                        .unwrap();
                    if !out.status.success() {
                        failures.push(format!(
                            "README line {line}: `{stmt}` failed:\n{}{}",
                            String::from_utf8_lossy(&out.stdout),
                            String::from_utf8_lossy(&out.stderr)
                        ));
                    }
                }
            }
            "toml" | "json" | "text" => {}
            other => failures.push(format!(
                "README line {}: a code block tagged `{other}`: tag it sh or sql (run by this test), or toml, json or text",
                block.first_line
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // What the README shows today: a drop here means a block stopped being
    // seen (a fence this test misreads), not that the README got shorter.
    assert!(ran >= 30, "only {ran} commands and statements ran");
    assert!(synopses >= 10, "only {synopses} synopsis lines checked");
}

/// The skip rules are rules, not a blanket: each one matches some command
/// of the README, and no rule that matches nothing is left behind.
#[test]
fn every_skip_rule_is_used_by_the_readme() {
    let (_, text) = readme();
    let mut used = vec![false; rewrite::SKIPS.len()];
    for block in blocks(&text).iter().filter(|b| b.lang == "sh") {
        for cmd in commands(block) {
            if let Some(i) = rewrite::skip_rule(&cmd.text) {
                used[i] = true;
            }
        }
    }
    let unused: Vec<_> = rewrite::SKIPS
        .iter()
        .zip(used)
        .filter(|(_, u)| !u)
        .map(|(s, _)| s.0)
        .collect();
    assert!(unused.is_empty(), "skip rules matching nothing: {unused:?}");
}
