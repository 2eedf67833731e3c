//! What the end-to-end tests of the binary share: running `segdb`, and a
//! generated data set imported into a store.
// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `segdb` with `args`: (success, stdout, stderr).
pub fn segdb(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_segdb"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A path as an argument.
pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A store of the standard data set with `rows` users from `seed`, made by
/// `segdb gen` and `segdb import` in a temporary directory: (the directory,
/// the store, the CSV directory, what the users import printed).
pub fn generated_store(rows: u64, seed: u64) -> (tempfile::TempDir, PathBuf, PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("csv");
    let store = dir.path().join("store");
    let (ok, _, err) = segdb(&[
        "gen",
        "--scale",
        &rows.to_string(),
        "--seed",
        &seed.to_string(),
        "--out",
        p(&csv),
    ]);
    assert!(ok, "{err}");
    let (ok, out, err) = segdb(&[
        "import",
        "--data",
        p(&store),
        "--table",
        "users",
        "--schema",
        p(&csv.join("schema.sql")),
        "--events",
        p(&csv.join("events.csv")),
        p(&csv.join("users.csv")),
    ]);
    assert!(ok, "{err}");
    (dir, store, csv, out)
}
