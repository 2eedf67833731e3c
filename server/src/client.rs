//! A small blocking HTTP client of the segdb API, for `segdb console`,
//! `segdb bench --url` and the tests. It speaks HTTPS too (rustls), trusting
//! the Mozilla roots, or only the certificates given to
//! [`Client::with_ca_cert`] (a private CA, or a self-signed server).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ureq::tls::{PemItem, RootCerts, TlsConfig};

use serde_json::Value;

/// An error answer of the API, or a failure to reach it.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientError {
    /// The server could not be reached or the answer could not be read.
    Transport(String),
    /// The server answered with an error.
    Api {
        /// The HTTP status.
        status: u16,
        /// The stable error code.
        code: String,
        /// What is wrong.
        message: String,
        /// The line of the statement it is about, from 1.
        line: Option<usize>,
        /// The column, from 1.
        column: Option<usize>,
        /// How to fix it.
        hint: Option<String>,
    },
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Transport(m) => write!(f, "{m}"),
            ClientError::Api {
                status,
                code,
                message,
                ..
            } => write!(f, "{message} ({status} {code})"),
        }
    }
}

impl std::error::Error for ClientError {}

/// A status and body as the server gave them.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The HTTP status.
    pub status: u16,
    /// The Content-Type, if any.
    pub content_type: Option<String>,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The body parsed as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `Ok(JSON)` for a 2xx answer, else the API error it carries.
    pub fn into_result(self) -> Result<Value, ClientError> {
        let v = self.json();
        if (200..300).contains(&self.status) {
            return Ok(v);
        }
        let e = &v["error"];
        let text = |k: &str| e[k].as_str().map(str::to_owned);
        let num = |k: &str| e[k].as_u64().map(|n| n as usize);
        Err(ClientError::Api {
            status: self.status,
            code: text("code").unwrap_or_else(|| "unknown".into()),
            message: text("message").unwrap_or_else(|| self.text()),
            line: num("line"),
            column: num("column"),
            hint: text("hint"),
        })
    }
}

/// A connection to a segdb server.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Client({})", self.base)
    }
}

impl Client {
    /// A client of the server at `base` (`http://127.0.0.1:7878`), sending
    /// `token` as a bearer token if given.
    pub fn new(base: &str, token: Option<String>) -> Client {
        Client::with_timeout(base, token, None)
    }

    /// As [`Client::new`], with every request (connecting, sending and
    /// reading the whole answer) given at most `timeout`.
    pub fn with_timeout(base: &str, token: Option<String>, timeout: Option<Duration>) -> Client {
        Client {
            agent: agent(timeout, RootCerts::WebPki),
            base: base.trim_end_matches('/').to_owned(),
            token,
            timeout,
        }
    }

    /// This client trusting, for HTTPS, only the certificates of `pem` (a
    /// private CA's, or a self-signed server's own) instead of the Mozilla
    /// roots.
    pub fn with_ca_cert(mut self, pem: &[u8]) -> Result<Client, String> {
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(pem) {
            // A key pasted beside the certificate is not a trust anchor.
            if let PemItem::Certificate(c) = item.map_err(|e| format!("is not valid PEM: {e}"))? {
                certs.push(c);
            }
        }
        if certs.is_empty() {
            return Err(
                "holds no certificate (a PEM `-----BEGIN CERTIFICATE-----` section)".into(),
            );
        }
        self.agent = agent(self.timeout, RootCerts::Specific(Arc::new(certs)));
        Ok(self)
    }

    /// [`Client::with_ca_cert`] with a PEM file; the error names it.
    pub fn with_ca_cert_file(self, path: &Path) -> Result<Client, String> {
        let pem = std::fs::read(path)
            .map_err(|e| format!("reading the CA certificate {}: {e}", path.display()))?;
        self.with_ca_cert(&pem)
            .map_err(|e| format!("the CA certificate {} {e}", path.display()))
    }

    fn finish(
        &self,
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<RawResponse, ClientError> {
        let mut r = r.map_err(|e| {
            let refused = match &e {
                ureq::Error::Io(io) => io.kind() == std::io::ErrorKind::ConnectionRefused,
                ureq::Error::ConnectionFailed => true,
                _ => false,
            };
            if refused {
                ClientError::Transport(format!(
                    "{}: {e}; is `segdb serve` running at {}?",
                    self.base, self.base
                ))
            } else {
                ClientError::Transport(format!("{}: {e}", self.base))
            }
        })?;
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (content_type, retry_after) = (header("content-type"), header("retry-after"));
        let body = r
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .map_err(|e| ClientError::Transport(format!("reading the answer: {e}")))?;
        Ok(RawResponse {
            status: r.status().as_u16(),
            content_type,
            retry_after,
            body,
        })
    }

    /// Sends a request with an optional body and extra headers.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<RawResponse, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut b = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(t) = &self.token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let r = match body {
            Some(body) => {
                let req = b
                    .body(body.to_vec())
                    .map_err(|e| ClientError::Transport(format!("building the request: {e}")))?;
                self.agent.run(req)
            }
            None => {
                let req = b
                    .body(())
                    .map_err(|e| ClientError::Transport(format!("building the request: {e}")))?;
                self.agent.run(req)
            }
        };
        self.finish(r)
    }

    /// Runs statements: the JSON answer, or the API's error.
    pub fn query(&self, text: &str) -> Result<Value, ClientError> {
        self.request(
            "POST",
            "/v1/query",
            &[("content-type", "text/plain; charset=utf-8")],
            Some(text.as_bytes()),
        )?
        .into_result()
    }
}

/// An agent: answers of any status are answers, connecting takes at most
/// 10 s, a request at most `timeout`; HTTPS trusts `roots`.
fn agent(timeout: Option<Duration>, roots: RootCerts) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_global(timeout)
        .tls_config(TlsConfig::builder().root_certs(roots).build())
        .build()
        .into()
}
