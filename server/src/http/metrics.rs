//! The figures `/metrics` shows, in the Prometheus text format: counters
//! and histograms kept here, gauges read from the store and the process
//! when scraped.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::MatchedPath;
use axum::http::Method;
use segdb_engine::Store;

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        for (c, b) in self.counts.iter_mut().zip(BUCKETS) {
            if secs <= b {
                *c += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }
}

/// The `method` label of a request: one of the methods the API knows, or
/// `other` (a client's method is never a label of its own).
pub fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// The `route` label of a request: the pattern of the route it matched
/// (a `&'static str` of the router, so the set is closed), or `unmatched`.
pub fn route_label(m: Option<&MatchedPath>) -> &'static str {
    const ROUTES: &[&str] = &[
        "/healthz",
        "/metrics",
        "/",
        "/console/{asset}",
        "/v1/whoami",
        "/v1/query",
        "/v1/insight",
        "/v1/tables",
        "/v1/tables/{table}",
        "/v1/tables/{table}/fields",
        "/v1/tables/{table}/import",
        "/v1/tables/{table}/ingest",
        "/v1/tables/{table}/profiles/{id}",
        "/v1/tables/{table}/frequency_cap",
        "/v1/segments",
        "/v1/segments/{name}",
        "/v1/segments/{name}/ids",
        "/v1/keys",
        "/v1/keys/{name}",
        "/v1/audit",
        "/v1/campaigns",
        "/v1/campaigns/{name}",
        "/v1/campaigns/{name}/effects",
        "/v1/campaigns/{name}/report",
        "/v1/campaigns/{name}/{action}",
    ];
    m.and_then(|m| ROUTES.iter().find(|r| **r == m.as_str()).copied())
        .unwrap_or("unmatched")
}

/// The most of a client's string (a path, a method) a log line carries.
const MAX_LOGGED: usize = 256;

/// `s`, cut to at most [`MAX_LOGGED`] bytes (at a character boundary) with
/// `…` when cut, for log lines.
pub fn shorten(s: &str) -> String {
    if s.len() <= MAX_LOGGED {
        return s.to_owned();
    }
    let mut end = MAX_LOGGED;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &s[..end], s.len())
}

/// The server's own counters.
pub struct Metrics {
    started: Instant,
    requests: Mutex<BTreeMap<(&'static str, &'static str, u16), u64>>,
    latency: Mutex<BTreeMap<&'static str, Histogram>>,
    queries: Mutex<BTreeMap<&'static str, u64>>,
    /// Rows answered by queries, profiles and exports.
    pub rows_returned: AtomicU64,
    /// Queries turned away because every slot was busy.
    pub queries_rejected: AtomicU64,
    /// Queries stopped by the timeout.
    pub queries_timed_out: AtomicU64,
    /// Queries cancelled: their client left, or the server shut down.
    pub queries_cancelled: AtomicU64,
    /// Queries being evaluated now.
    pub queries_running: AtomicU64,
    /// Imports running now.
    pub imports_running: AtomicU64,
    /// Lines read by imports (finished and running).
    pub import_lines: AtomicU64,
    /// Body bytes read by imports (finished and running).
    pub import_bytes: AtomicU64,
    /// Rows created by imports.
    pub import_new_rows: AtomicU64,
    /// Imports that failed.
    pub imports_failed: AtomicU64,
    /// Client connections open now.
    pub connections_open: AtomicU64,
    /// Connections closed because a request's headers did not arrive in
    /// time.
    pub header_timeouts: AtomicU64,
    /// Connections dropped when the shutdown grace period ended.
    pub connections_dropped: AtomicU64,
    /// TLS connections whose handshake failed (not TLS, an untrusted
    /// certificate, no common protocol, closed midway).
    pub tls_handshake_errors: AtomicU64,
    /// TLS connections closed because the handshake did not end within
    /// `header_read_timeout`.
    pub tls_handshake_timeouts: AtomicU64,
    /// API keys stored now.
    pub api_keys: AtomicU64,
    /// Requests refused with 401: no token, an unknown one, an expired key.
    auth_failures: [AtomicU64; AUTH_FAILURE_REASONS.len()],
    /// Audit log entries written (shared with the `Audit`).
    pub audit_entries: Arc<AtomicU64>,
    /// Audit log entries that could not be written.
    pub audit_write_failures: Arc<AtomicU64>,
    /// Exports refused by the per-principal rate limit.
    pub exports_rate_limited: Arc<AtomicU64>,
}

/// The `reason` labels of `segdb_auth_failures_total`.
const AUTH_FAILURE_REASONS: [&str; 3] = ["missing", "unknown", "expired"];

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            started: Instant::now(),
            requests: Mutex::default(),
            latency: Mutex::default(),
            queries: Mutex::default(),
            rows_returned: AtomicU64::new(0),
            queries_rejected: AtomicU64::new(0),
            queries_timed_out: AtomicU64::new(0),
            queries_cancelled: AtomicU64::new(0),
            queries_running: AtomicU64::new(0),
            imports_running: AtomicU64::new(0),
            import_lines: AtomicU64::new(0),
            import_bytes: AtomicU64::new(0),
            import_new_rows: AtomicU64::new(0),
            imports_failed: AtomicU64::new(0),
            connections_open: AtomicU64::new(0),
            header_timeouts: AtomicU64::new(0),
            connections_dropped: AtomicU64::new(0),
            tls_handshake_errors: AtomicU64::new(0),
            tls_handshake_timeouts: AtomicU64::new(0),
            api_keys: AtomicU64::new(0),
            auth_failures: Default::default(),
            audit_entries: Arc::default(),
            audit_write_failures: Arc::default(),
            exports_rate_limited: Arc::default(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Escapes a label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Counts a finished request of `route` (the route's pattern, not the
    /// path, so that ids do not make new series). The labels come from
    /// [`method_label`] and [`route_label`], and the statuses from the
    /// server's own answers: every series is one of a closed set.
    pub fn request(&self, method: &'static str, route: &'static str, status: u16, secs: f64) {
        *lock(&self.requests)
            .entry((method, route, status))
            .or_default() += 1;
        lock(&self.latency).entry(route).or_default().observe(secs);
    }

    /// Counts a request refused with 401 for `reason` (`missing`,
    /// `unknown` or `expired`; anything else is not counted).
    pub fn auth_failure(&self, reason: &str) {
        if let Some(i) = AUTH_FAILURE_REASONS.iter().position(|r| *r == reason) {
            self.auth_failures[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a statement of `kind` (`select`, `create_table`, …).
    pub fn query(&self, kind: &'static str) {
        *lock(&self.queries).entry(kind).or_default() += 1;
    }

    /// The Prometheus text of every figure.
    pub fn render(&self, store: &Store) -> String {
        let mut o = String::new();
        let head = |o: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        head(
            &mut o,
            "segdb_http_requests_total",
            "counter",
            "HTTP requests by method, route and status.",
        );
        for ((m, r, s), n) in lock(&self.requests).iter() {
            let _ = writeln!(
                o,
                "segdb_http_requests_total{{method=\"{m}\",route=\"{}\",status=\"{s}\"}} {n}",
                label(r)
            );
        }
        head(
            &mut o,
            "segdb_http_request_duration_seconds",
            "histogram",
            "HTTP request latency by route.",
        );
        for (r, h) in lock(&self.latency).iter() {
            let r = label(r);
            for (b, c) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(
                    o,
                    "segdb_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"{b}\"}} {c}"
                );
            }
            let _ = writeln!(
                o,
                "segdb_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                o,
                "segdb_http_request_duration_seconds_sum{{route=\"{r}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                o,
                "segdb_http_request_duration_seconds_count{{route=\"{r}\"}} {}",
                h.count
            );
        }
        head(
            &mut o,
            "segdb_queries_total",
            "counter",
            "Statements run, by kind.",
        );
        for (k, n) in lock(&self.queries).iter() {
            let _ = writeln!(o, "segdb_queries_total{{kind=\"{k}\"}} {n}");
        }
        let counters: [(&str, &str, &AtomicU64, &str); 15] = [
            (
                "segdb_rows_returned_total",
                "counter",
                &self.rows_returned,
                "Rows answered by queries, profiles and exports.",
            ),
            (
                "segdb_queries_rejected_total",
                "counter",
                &self.queries_rejected,
                "Queries turned away with 503 because every slot was busy.",
            ),
            (
                "segdb_queries_timed_out_total",
                "counter",
                &self.queries_timed_out,
                "Queries stopped by the query timeout.",
            ),
            (
                "segdb_queries_cancelled_total",
                "counter",
                &self.queries_cancelled,
                "Queries stopped because their client left or the server shut down.",
            ),
            (
                "segdb_queries_running",
                "gauge",
                &self.queries_running,
                "Queries being evaluated now.",
            ),
            (
                "segdb_connections_open",
                "gauge",
                &self.connections_open,
                "Client connections open now.",
            ),
            (
                "segdb_header_timeouts_total",
                "counter",
                &self.header_timeouts,
                "Connections closed because a request's headers did not arrive within header_read_timeout_ms.",
            ),
            (
                "segdb_connections_dropped_at_shutdown_total",
                "counter",
                &self.connections_dropped,
                "Connections still open when the shutdown grace period ended, dropped.",
            ),
            (
                "segdb_audit_entries_total",
                "counter",
                &*self.audit_entries,
                "Audit log entries written and fsynced.",
            ),
            (
                "segdb_audit_write_failures_total",
                "counter",
                &*self.audit_write_failures,
                "Audit log entries that could not be written (their requests answered 503 audit_failed).",
            ),
            (
                "segdb_exports_rate_limited_total",
                "counter",
                &*self.exports_rate_limited,
                "Exports refused with 429 by the per-principal export_ids_per_minute limit.",
            ),
            (
                "segdb_imports_running",
                "gauge",
                &self.imports_running,
                "Imports running now.",
            ),
            (
                "segdb_import_lines_total",
                "counter",
                &self.import_lines,
                "Lines read by imports over HTTP, including running ones.",
            ),
            (
                "segdb_import_bytes_total",
                "counter",
                &self.import_bytes,
                "Body bytes read by imports over HTTP, including running ones.",
            ),
            (
                "segdb_import_new_rows_total",
                "counter",
                &self.import_new_rows,
                "Rows created by imports over HTTP.",
            ),
        ];
        for (name, kind, v, help) in counters {
            head(&mut o, name, kind, help);
            let _ = writeln!(o, "{name} {}", v.load(Ordering::Relaxed));
        }
        head(
            &mut o,
            "segdb_query_spin_seconds_total",
            "counter",
            "Time the query threads spent awake without work after answering (query_spin_us), waiting for the next query.",
        );
        let _ = writeln!(
            o,
            "segdb_query_spin_seconds_total {}",
            super::query_pool::spun_micros().load(Ordering::Relaxed) as f64 / 1e6
        );
        head(
            &mut o,
            "segdb_keys",
            "gauge",
            "API keys stored (made with POST /v1/keys, not yet revoked; expired ones included).",
        );
        let _ = writeln!(o, "segdb_keys {}", self.api_keys.load(Ordering::Relaxed));
        head(
            &mut o,
            "segdb_auth_failures_total",
            "counter",
            "Requests refused with 401, by reason: missing (no bearer token), unknown (no such token or key), expired (an expired API key).",
        );
        for (r, n) in AUTH_FAILURE_REASONS.iter().zip(&self.auth_failures) {
            let _ = writeln!(
                o,
                "segdb_auth_failures_total{{reason=\"{r}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        head(
            &mut o,
            "segdb_imports_failed_total",
            "counter",
            "Imports over HTTP that failed.",
        );
        let _ = writeln!(
            o,
            "segdb_imports_failed_total {}",
            self.imports_failed.load(Ordering::Relaxed)
        );
        head(
            &mut o,
            "segdb_tls_handshake_failures_total",
            "counter",
            "TLS connections closed before their handshake ended: `error` (not TLS, \
             an untrusted certificate, closed midway) or `timeout` (header_read_timeout_ms).",
        );
        for (reason, v) in [
            ("error", &self.tls_handshake_errors),
            ("timeout", &self.tls_handshake_timeouts),
        ] {
            let _ = writeln!(
                o,
                "segdb_tls_handshake_failures_total{{reason=\"{reason}\"}} {}",
                v.load(Ordering::Relaxed)
            );
        }

        let live = store.live_stats();
        let live_figures: [(&str, &str, u64, &str); 17] = [
            (
                "segdb_ingest_batches_total",
                "counter",
                live.batches,
                "Ingested batches acknowledged (retries by idempotency key not counted).",
            ),
            (
                "segdb_ingest_operations_total",
                "counter",
                live.operations,
                "Operations of the acknowledged batches.",
            ),
            (
                "segdb_ingest_duplicates_total",
                "counter",
                live.duplicates,
                "Retried batches acknowledged again by idempotency key and not applied twice.",
            ),
            (
                "segdb_ingest_overloaded_total",
                "counter",
                live.overloaded,
                "Batches refused with 503 because the live delta was full.",
            ),
            (
                "segdb_delta_bytes",
                "gauge",
                live.delta_bytes,
                "Bytes held by the live delta (ingested, not yet flushed to parts).",
            ),
            (
                "segdb_delta_index_bytes",
                "gauge",
                live.delta_index_bytes,
                "Bytes of the live delta's per-shard ENUM/SET columns (dropped at each flush).",
            ),
            (
                "segdb_wal_published_seq",
                "gauge",
                live.published_seq,
                "The highest WAL sequence number visible to queries.",
            ),
            (
                "segdb_wal_flushed_seq",
                "gauge",
                live.flushed_seq,
                "The highest WAL sequence number flushed to part files.",
            ),
            (
                "segdb_flushes_total",
                "counter",
                live.flushes,
                "Flushes of the live delta to part files.",
            ),
            (
                "segdb_compactions_total",
                "counter",
                live.compactions,
                "Compactions of a shard's part files into one.",
            ),
            (
                "segdb_flushed_bytes_total",
                "counter",
                live.flushed_bytes,
                "Bytes written by flushes and compactions.",
            ),
            (
                "segdb_last_flush_ms",
                "gauge",
                live.last_flush_ms,
                "Milliseconds the last flush took.",
            ),
            (
                "segdb_idempotency_keys",
                "gauge",
                live.idempotency_keys,
                "Idempotency keys remembered.",
            ),
            (
                "segdb_wal_records_total",
                "counter",
                live.wal.records,
                "Records appended to the WAL since the start.",
            ),
            (
                "segdb_wal_fsyncs_total",
                "counter",
                live.wal.syncs,
                "fsyncs of the WAL since the start (one carries a group of records).",
            ),
            (
                "segdb_wal_failed",
                "gauge",
                u64::from(live.wal_failed),
                "1 if the WAL failed and writes are refused until a restart, else 0.",
            ),
            (
                "segdb_recovery_replayed_batches",
                "gauge",
                store.recovery().replayed_batches,
                "Batches replayed from the WAL when the store was opened.",
            ),
        ];
        for (name, kind, v, help) in live_figures {
            head(&mut o, name, kind, help);
            let _ = writeln!(o, "{name} {v}");
        }

        let tables: Vec<_> = store
            .table_names()
            .into_iter()
            .filter_map(|n| store.table(&n).ok())
            .collect();
        head(&mut o, "segdb_table_rows", "gauge", "Rows per table.");
        for t in &tables {
            let _ = writeln!(
                o,
                "segdb_table_rows{{table=\"{}\"}} {}",
                t.name(),
                t.num_rows()
            );
        }
        head(
            &mut o,
            "segdb_table_bytes",
            "gauge",
            "Bytes on disk per table (parts and id dictionary).",
        );
        for t in &tables {
            let _ = writeln!(
                o,
                "segdb_table_bytes{{table=\"{}\"}} {}",
                t.name(),
                t.bytes_on_disk()
            );
        }
        head(
            &mut o,
            "segdb_mapped_bytes",
            "gauge",
            "Bytes of files memory-mapped for queries.",
        );
        let mapped: u64 = tables.iter().map(|t| t.bytes_on_disk()).sum();
        let _ = writeln!(o, "segdb_mapped_bytes {mapped}");
        if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
            let kib = |key: &str| {
                status
                    .lines()
                    .find(|l| l.starts_with(key))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<u64>().ok())
            };
            if let Some(k) = kib("RssAnon:") {
                head(&mut o, "segdb_heap_bytes", "gauge", "Heap in use: the process's anonymous resident memory (heap and stacks, not the mapped parts).");
                let _ = writeln!(o, "segdb_heap_bytes {}", k * 1024);
            }
            if let Some(k) = kib("VmRSS:") {
                head(
                    &mut o,
                    "segdb_resident_bytes",
                    "gauge",
                    "Resident memory, including mapped parts in the page cache.",
                );
                let _ = writeln!(o, "segdb_resident_bytes {}", k * 1024);
            }
        }
        head(
            &mut o,
            "segdb_uptime_seconds",
            "gauge",
            "Seconds since the server started.",
        );
        let _ = writeln!(
            o,
            "segdb_uptime_seconds {:.3}",
            self.started.elapsed().as_secs_f64()
        );
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_a_closed_set_and_logged_strings_are_cut() {
        assert_eq!(method_label(&Method::GET), "GET");
        let made_up = Method::from_bytes("Z".repeat(200_000).as_bytes()).unwrap();
        assert_eq!(method_label(&made_up), "other");
        assert_eq!(route_label(None), "unmatched");
        // Cut at a character boundary, saying how long it was.
        let long = "é".repeat(1000);
        let cut = shorten(&long);
        assert!(cut.len() < 300, "{cut}");
        assert!(cut.ends_with("… (2000 bytes)"), "{cut}");
        assert_eq!(shorten("/v1/tables"), "/v1/tables");
    }
}
