//! The store on disk as an operator meets it, through the real binary: one
//! process at a time (`lock.rs`) and `segdb check` after a disk scare
//! (`check.rs`).

#[path = "../common/mod.rs"]
mod common;

mod check;
mod lock;

use std::process::{Child, Command, Stdio};

/// Starts `segdb serve --data data` on 127.0.0.1:0; returns the child and
/// its URL (read from the line it prints once listening).
fn serve(data: &str) -> (Child, String) {
    common::listening(
        Command::new(env!("CARGO_BIN_EXE_segdb"))
            .args(["serve", "--data", data, "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
}

/// Stops a server with SIGTERM and checks that it exited cleanly.
fn terminate(mut child: Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "exit {status:?}\n{err}");
}
