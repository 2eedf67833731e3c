//! The server's settings: defaults, then the config file (`segdb.toml`),
//! then `SEGDB_*` environment variables, then command-line flags; each
//! later source overrides the earlier ones.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::auth::{Role, Token};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<LogFormat, String> {
        match s {
            "human" => Ok(LogFormat::Human),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("unknown log format `{s}` (human or json)")),
        }
    }
}

/// Settings as one source gives them: every one optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The store's directory.
    pub data: Option<PathBuf>,
    /// The address to listen on.
    pub listen: Option<String>,
    /// `human` or `json`.
    pub log_format: Option<LogFormat>,
    /// A query running longer is stopped (408).
    pub query_timeout_ms: Option<u64>,
    /// Queries evaluated at once; more wait.
    pub max_concurrent_queries: Option<usize>,
    /// How long an excess query waits for a slot before a 503.
    pub queue_wait_ms: Option<u64>,
    /// The largest request body, except imports.
    pub max_body_bytes: Option<u64>,
    /// The largest import body.
    pub max_import_bytes: Option<u64>,
    /// The most rows a JSON answer may have (CSV answers stream).
    pub max_json_rows: Option<u64>,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace_ms: Option<u64>,
    /// Bearer tokens and their roles.
    #[serde(default)]
    pub tokens: Vec<TokenSetting>,
}

/// A token in the config file: `[[tokens]] role = "read" secret = "…"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSetting {
    /// `read`, `write` or `admin`.
    pub role: Role,
    /// The bearer token.
    pub secret: String,
}

/// The settings in effect.
#[derive(Debug, Clone)]
pub struct Config {
    /// The store's directory.
    pub data: PathBuf,
    /// The address to listen on.
    pub listen: SocketAddr,
    /// How log lines are written.
    pub log_format: LogFormat,
    /// A query running longer is stopped.
    pub query_timeout: Duration,
    /// Queries evaluated at once.
    pub max_concurrent_queries: usize,
    /// How long an excess query waits for a slot.
    pub queue_wait: Duration,
    /// The largest request body, except imports.
    pub max_body_bytes: u64,
    /// The largest import body.
    pub max_import_bytes: u64,
    /// The most rows a JSON answer may have.
    pub max_json_rows: u64,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
    /// Accepted bearer tokens.
    pub tokens: Vec<Token>,
}

impl Settings {
    /// Reads a TOML config file.
    pub fn from_file(path: &Path) -> Result<Settings, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading config {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("config {}: {e}", path.display()))
    }

    /// Reads `SEGDB_*` variables through `var` (the process environment in
    /// production, a map in tests).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        fn num<T: std::str::FromStr>(
            var: &impl Fn(&str) -> Option<String>,
            name: &str,
        ) -> Result<Option<T>, String> {
            var(name)
                .map(|v| {
                    v.trim()
                        .parse()
                        .map_err(|_| format!("{name}=`{v}` is not a number"))
                })
                .transpose()
        }
        Ok(Settings {
            data: var("SEGDB_DATA").map(PathBuf::from),
            listen: var("SEGDB_LISTEN"),
            log_format: var("SEGDB_LOG_FORMAT")
                .map(|v| v.parse())
                .transpose()
                .map_err(|e| format!("SEGDB_LOG_FORMAT: {e}"))?,
            query_timeout_ms: num(&var, "SEGDB_QUERY_TIMEOUT_MS")?,
            max_concurrent_queries: num(&var, "SEGDB_MAX_CONCURRENT_QUERIES")?,
            queue_wait_ms: num(&var, "SEGDB_QUEUE_WAIT_MS")?,
            max_body_bytes: num(&var, "SEGDB_MAX_BODY_BYTES")?,
            max_import_bytes: num(&var, "SEGDB_MAX_IMPORT_BYTES")?,
            max_json_rows: num(&var, "SEGDB_MAX_JSON_ROWS")?,
            shutdown_grace_ms: num(&var, "SEGDB_SHUTDOWN_GRACE_MS")?,
            tokens: match var("SEGDB_TOKENS") {
                Some(list) => list
                    .split(',')
                    .filter(|t| !t.trim().is_empty())
                    .map(|t| parse_token(t.trim()).map_err(|e| format!("SEGDB_TOKENS: {e}")))
                    .collect::<Result<_, _>>()?,
                None => Vec::new(),
            },
        })
    }

    /// `self` with every setting `over` has replaced; tokens add up.
    pub fn overridden_by(mut self, over: Settings) -> Settings {
        macro_rules! take {
            ($($f:ident),*) => { $( if over.$f.is_some() { self.$f = over.$f; } )* };
        }
        take!(
            data,
            listen,
            log_format,
            query_timeout_ms,
            max_concurrent_queries,
            queue_wait_ms,
            max_body_bytes,
            max_import_bytes,
            max_json_rows,
            shutdown_grace_ms
        );
        self.tokens.extend(over.tokens);
        self
    }

    /// The settings in effect, with defaults for what no source gave.
    pub fn resolve(self) -> Result<Config, String> {
        let listen = self.listen.as_deref().unwrap_or("127.0.0.1:7878");
        let listen: SocketAddr = listen
            .parse()
            .map_err(|_| format!("listen address `{listen}` is not IP:PORT"))?;
        let data = self.data.ok_or(
            "no store: give --data DIR (or `data` in the config, or SEGDB_DATA), or --demo",
        )?;
        let positive = |name: &str, v: Option<u64>, default: u64| -> Result<u64, String> {
            match v.unwrap_or(default) {
                0 => Err(format!("{name} must be at least 1")),
                v => Ok(v),
            }
        };
        Ok(Config {
            data,
            listen,
            log_format: self.log_format.unwrap_or_default(),
            query_timeout: Duration::from_millis(positive(
                "query_timeout_ms",
                self.query_timeout_ms,
                30_000,
            )?),
            max_concurrent_queries: positive(
                "max_concurrent_queries",
                self.max_concurrent_queries.map(|v| v as u64),
                16,
            )? as usize,
            queue_wait: Duration::from_millis(self.queue_wait_ms.unwrap_or(2_000)),
            max_body_bytes: positive("max_body_bytes", self.max_body_bytes, 16 << 20)?,
            max_import_bytes: positive("max_import_bytes", self.max_import_bytes, 64 << 30)?,
            max_json_rows: positive("max_json_rows", self.max_json_rows, 1_000_000)?,
            shutdown_grace: Duration::from_millis(self.shutdown_grace_ms.unwrap_or(30_000)),
            tokens: self
                .tokens
                .into_iter()
                .map(|t| Token {
                    role: t.role,
                    secret: t.secret,
                })
                .collect(),
        })
    }
}

/// Parses `ROLE:SECRET` (as `--token` and `SEGDB_TOKENS` give them).
pub fn parse_token(text: &str) -> Result<TokenSetting, String> {
    let (role, secret) = text
        .split_once(':')
        .ok_or_else(|| format!("token `{text}` is not ROLE:SECRET"))?;
    let role = role.parse::<Role>()?;
    if secret.is_empty() {
        return Err(format!("token for role {role} has an empty secret"));
    }
    Ok(TokenSetting {
        role,
        secret: secret.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn bad_settings_say_what_is_wrong() {
        let e = toml::from_str::<Settings>("listn = \"x\"").unwrap_err();
        assert!(e.to_string().contains("listn"), "{e}");
        let e = Settings::from_env(|k| (k == "SEGDB_QUERY_TIMEOUT_MS").then(|| "soon".into()))
            .unwrap_err();
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
        assert!(Settings::default()
            .resolve()
            .unwrap_err()
            .contains("--data"));
    }
}
