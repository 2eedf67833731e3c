//! A headless browser driven over WebDriver (chromedriver for Chromium,
//! geckodriver for Firefox, on a free port of 127.0.0.1, killed when
//! dropped), against a `segdb serve` of the test's; waits are polls of the
//! page with a bounded deadline.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// How long anything is waited for: generous, for a loaded 2-core machine.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The browsers the console is tested in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Debian's `chromium`, with `chromedriver`.
    Chromium,
    /// Debian's `firefox-esr`, with geckodriver (a crate, built once).
    Firefox,
}

impl Kind {
    /// Its name, for screenshots' folders.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Chromium => "chromium",
            Kind::Firefox => "firefox",
        }
    }
}

/// The geckodriver version installed when missing.
const GECKODRIVER: &str = "0.37.1";

fn on_path(cmd: &str) -> bool {
    which(cmd).is_some()
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(cmd))
            .find(|f| f.is_file())
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `packages` installed with apt-get unless `cmds` are all on the path,
/// if this runs as root (one install at a time across test processes: a
/// lock file); else the test fails saying what to install.
fn apt_install(cmds: &[&str], packages: &str) {
    if cmds.iter().all(|c| on_path(c)) {
        return;
    }
    assert!(
        is_root(),
        "the console's browser tests need the Debian packages `{packages}` (apt-get install {packages})"
    );
    let have: Vec<String> = cmds
        .iter()
        .map(|c| format!("command -v {c} >/dev/null"))
        .collect();
    let script = format!(
        "{} || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {packages})",
        have.join(" && ")
    );
    let status = Command::new("flock")
        .args(["/tmp/segdb-console-tests-apt.lock", "sh", "-c", &script])
        .status()
        .expect("flock (util-linux) runs the install");
    assert!(
        status.success() && cmds.iter().all(|c| on_path(c)),
        "installing `{packages}` with apt-get failed"
    );
}

/// geckodriver: on the path, else in `target/geckodriver/bin/`, built
/// there with `cargo install` if missing (once, under a lock).
fn geckodriver() -> PathBuf {
    if let Some(p) = which("geckodriver") {
        return p;
    }
    let root = target_dir().join("geckodriver");
    let bin = root.join("bin").join("geckodriver");
    if bin.is_file() {
        return bin;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let script = format!(
        "test -x '{bin}' || '{cargo}' install --locked geckodriver@{GECKODRIVER} --root '{root}'",
        bin = bin.display(),
        root = root.display()
    );
    let status = Command::new("flock")
        .args([
            "/tmp/segdb-console-tests-geckodriver.lock",
            "sh",
            "-c",
            &script,
        ])
        .env("CARGO_INCREMENTAL", "0")
        .status()
        .expect("flock (util-linux) runs cargo install");
    assert!(
        status.success() && bin.is_file(),
        "`cargo install --locked geckodriver@{GECKODRIVER}` failed"
    );
    bin
}

/// The driver's program and the browser's own, installed if missing.
fn ensure_installed(kind: Kind) -> (PathBuf, Option<PathBuf>) {
    match kind {
        Kind::Chromium => {
            apt_install(&["chromedriver", "chromium"], "chromium chromium-driver");
            (which("chromedriver").unwrap(), None)
        }
        Kind::Firefox => {
            apt_install(&["firefox-esr"], "firefox-esr");
            (geckodriver(), which("firefox-esr"))
        }
    }
}

/// The WebDriver server, killed when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A browser session on the console at `base`.
pub struct Browser {
    pub client: Client,
    pub kind: Kind,
    pub base: String,
    /// Where the browser saves downloads.
    pub downloads: tempfile::TempDir,
    _driver: Driver,
}

impl Browser {
    /// Starts a WebDriver server and a headless session of `kind`.
    pub async fn start(kind: Kind, base: &str) -> Browser {
        let (program, binary) = ensure_installed(kind);
        let port = free_port();
        let driver = Driver(
            Command::new(&program)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("{} starts: {e}", program.display())),
        );
        let url = format!("http://127.0.0.1:{port}");
        let downloads = tempfile::tempdir().unwrap();
        let dir = downloads.path().to_str().unwrap();
        let caps = match kind {
            Kind::Chromium => json!({
                "goog:chromeOptions": {
                    "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                             "--disable-gpu", "--window-size=1280,1000", "--lang=en-US"],
                    "prefs": {
                        "download.default_directory": dir,
                        "download.prompt_for_download": false,
                    },
                },
            }),
            Kind::Firefox => json!({
                "moz:firefoxOptions": {
                    "binary": binary.unwrap().to_str().unwrap(),
                    "args": ["-headless", "--width=1280", "--height=1000"],
                    "prefs": {
                        "intl.accept_languages": "en-US",
                        "browser.download.folderList": 2,
                        "browser.download.dir": dir,
                        "browser.download.useDownloadDir": true,
                        "browser.download.always_ask_before_handling_new_types": false,
                        "browser.helperApps.neverAsk.saveToDisk": "text/csv",
                        "browser.download.alwaysOpenPanel": false,
                    },
                },
            }),
        };
        let caps = match caps {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        let start = Instant::now();
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) => {
                    assert!(
                        start.elapsed() < DEADLINE,
                        "no WebDriver session from {} at {url}: {e}",
                        program.display()
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        if kind == Kind::Firefox {
            // Its window's size (the flags size the screen).
            client.set_window_size(1280, 1000).await.unwrap();
        }
        Browser {
            client,
            kind,
            base: base.trim_end_matches('/').to_owned(),
            downloads,
            _driver: driver,
        }
    }

    /// Opens a page of the console (`query`, `builder?x=y`, …) and waits
    /// until it is drawn.
    pub async fn open(&self, page: &str) {
        self.client
            .goto(&format!("{}/#/{page}", self.base))
            .await
            .unwrap();
        let name = page.split('?').next().unwrap();
        // The hash of a page already loaded changes without a reload.
        self.client.refresh().await.unwrap();
        self.wait_js(
            &format!(
                "return document.body.dataset.page === '{name}' && window.__consoleReady === true"
            ),
            &format!("the {name} page"),
        )
        .await;
    }

    /// Waits until `script` returns true.
    pub async fn wait_js(&self, script: &str, what: &str) {
        let start = Instant::now();
        loop {
            let v = self.client.execute(script, vec![]).await.unwrap();
            if v == Value::Bool(true) {
                return;
            }
            if start.elapsed() > DEADLINE {
                panic!(
                    "waited {DEADLINE:?} for {what}; page text:\n{}\nscript errors: {:?}",
                    self.text("body").await,
                    self.errors().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The text of the first element matching `css` ("" if none).
    pub async fn text(&self, css: &str) -> String {
        match self.client.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Waits until the element `css` exists and its text passes `ok`; its
    /// text.
    pub async fn wait_text(&self, css: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await {
                if let Ok(t) = e.text().await {
                    if ok(&t) {
                        return t;
                    }
                }
            }
            if start.elapsed() > DEADLINE {
                panic!(
                    "waited {DEADLINE:?} for `{css}`; it reads {:?}; page text:\n{}\nscript errors: {:?}",
                    self.text(css).await,
                    self.text("body").await,
                    self.errors().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for the element `css`, then clicks it.
    pub async fn click(&self, css: &str) {
        self.wait_js(
            &format!("return document.querySelector({css:?}) !== null"),
            css,
        )
        .await;
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// Replaces the value of the input `css` by typing `text`.
    pub async fn type_into(&self, css: &str, text: &str) {
        self.wait_js(
            &format!("return document.querySelector({css:?}) !== null"),
            css,
        )
        .await;
        let e = self.client.find(Locator::Css(css)).await.unwrap();
        e.clear().await.unwrap();
        if text.is_empty() {
            // Clearing fires no `input` event; a person's delete key would.
            self.js(&format!(
                "document.querySelector({css:?}).dispatchEvent(new Event('input')); return true"
            ))
            .await;
        } else {
            e.send_keys(text).await.unwrap();
        }
    }

    /// Sets the value of the input `css` (a date, say) and signals the
    /// change, as a picker would.
    pub async fn set_value(&self, css: &str, value: &str) {
        self.wait_js(
            &format!("return document.querySelector({css:?}) !== null"),
            css,
        )
        .await;
        self.js(&format!(
            "const i = document.querySelector({css:?}); i.value = {value:?}; i.dispatchEvent(new Event('change')); return true"
        ))
        .await;
    }

    /// Waits until the browser has saved the download `name` (complete:
    /// Chromium writes a `.crdownload` first and renames it; Firefox
    /// writes an empty `name` and a `.part` it moves over it); its bytes.
    pub async fn downloaded(&self, name: &str) -> Vec<u8> {
        let path = self.downloads.path().join(name);
        let start = Instant::now();
        loop {
            let partial = std::fs::read_dir(self.downloads.path()).is_ok_and(|d| {
                d.flatten().any(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.ends_with(".part") || n.ends_with(".crdownload")
                })
            });
            if let (false, Ok(bytes)) = (partial, std::fs::read(&path)) {
                return bytes;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "no download {name} after {DEADLINE:?}; the folder holds {:?}",
                std::fs::read_dir(self.downloads.path())
                    .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether an element matches `css` now.
    pub async fn exists(&self, css: &str) -> bool {
        let v = self
            .client
            .execute(
                &format!("return document.querySelector({css:?}) !== null"),
                vec![],
            )
            .await
            .unwrap();
        v == Value::Bool(true)
    }

    /// A script's value.
    pub async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// The script errors and unhandled rejections the page collected.
    pub async fn errors(&self) -> Vec<String> {
        match self
            .client
            .execute(
                "return window.__consoleErrors || ['the page has no error collector']",
                vec![],
            )
            .await
        {
            Ok(Value::Array(a)) => a.iter().map(|v| v.to_string()).collect(),
            other => vec![format!("could not read the errors: {other:?}")],
        }
    }

    /// Fails on any script error so far (an uncaught error, an unhandled
    /// rejection, a `console.error`), or if the app never loaded. An API
    /// error the page shows is an answer, not a fault.
    pub async fn assert_no_errors(&self) {
        let errors = self.errors().await;
        assert!(errors.is_empty(), "script errors: {errors:?}");
        assert_eq!(
            self.js("return window.__consoleReady === true").await,
            Value::Bool(true),
            "the console's script did not load"
        );
    }

    /// A PNG of the window in
    /// target/console-screenshots/`browser`/`name`.png.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = screenshot_dir().join(self.kind.name());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Ends the session (the driver is killed when dropped).
    pub async fn close(self) {
        self.assert_no_errors().await;
        let _ = self.client.close().await;
    }
}

/// The workspace's `target`.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// Where screenshots go: `target/console-screenshots` of the workspace.
pub fn screenshot_dir() -> PathBuf {
    target_dir().join("console-screenshots")
}
