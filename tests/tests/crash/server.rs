//! The `segdb` binary and a running server.

use super::*;

// ---------------------------------------------------------------- the binary

/// The `segdb` binary (see the module documentation).
pub(crate) fn segdb_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("SEGDB_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    let mut dir = exe.parent().unwrap().to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join(format!("segdb{}", std::env::consts::EXE_SUFFIX));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    // `target/<profile>`: build in that profile (`debug` is `dev`).
    let profile = dir.file_name().and_then(|n| n.to_str()).unwrap_or("debug");
    let profile = if profile == "debug" { "dev" } else { profile };
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let built = Command::new(&cargo)
        .args(["build", "-p", "segdb-server", "--bin", "segdb", "--profile"])
        .arg(profile)
        .arg("--manifest-path")
        .arg(&manifest)
        .status();
    match built {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("`cargo build --bin segdb` failed ({s})"),
        Err(e) => eprintln!("could not run {cargo:?} ({e}); using {}", bin.display()),
    }
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build --bin segdb` or set SEGDB_BIN",
        bin.display()
    );
    bin
}

/// A running `segdb serve`.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) url: String,
    pub(crate) stderr: Arc<Mutex<Vec<u8>>>,
}

impl Drop for Server {
    /// A failing test leaves no server behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    // The child is waited for by `kill`, `terminate` or `drop`.
    #[allow(clippy::zombie_processes)]
    pub(crate) fn start(bin: &Path, data: &Path) -> Server {
        let mut child = Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            // Flush often (small deltas, every 300 ms at the latest) and
            // compact often, so that kills land around flushes.
            .env("SEGDB_FLUSH_BYTES", "65536")
            .env("SEGDB_FLUSH_AGE_MS", "300")
            .env("SEGDB_COMPACT_LAYERS", "3")
            .env("SEGDB_MAX_DELTA_BYTES", "4194304")
            .env("SEGDB_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        {
            let mut err = child.stderr.take().unwrap();
            let stderr = stderr.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    stderr.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
        }
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            if out.read_line(&mut line).unwrap() == 0 {
                let status = child.wait().unwrap();
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "segdb serve exited ({status}) before listening:\n{}",
                    String::from_utf8_lossy(&stderr.lock().unwrap())
                );
            }
            if let Some(url) = line.trim().strip_prefix("segdb listening on ") {
                let url = url.to_owned();
                std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
                return Server { child, url, stderr };
            }
        }
    }

    /// SIGKILL, then reap.
    pub(crate) fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM (graceful), then reap; panics if it did not exit cleanly.
    pub(crate) fn terminate(mut self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "exit {status:?}\n{}", self.log());
    }

    pub(crate) fn log(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }
}

// ------------------------------------------------------------ batches, model
