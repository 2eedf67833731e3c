//! `POST /v1/query`: statements in, `{"columns", "rows", "elapsed_ms"}`
//! out; with `Accept: text/csv`, CSV, and a SELECT of ids streams.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use segdb_engine::{date, EngineError, Expr, Table};
use segdb_query_lang::ast::StatementKind;
use segdb_query_lang::{Projection, Statement, Warning};
use serde_json::{json, Value};

use super::api_error::ApiError;
use super::auth::{self, Principal};
use super::body::{read_body, Stopped, StreamWriter};
use super::running::RunningQuery;
use super::{elapsed_ms, RowCount, Shared};
use crate::audit::{self, Action, Note, Notes};
use crate::exec::{self, ResultSet};
use crate::permissions::Listing;
use text::{json_without_type, query_text};

mod campaign;
mod kinds;
mod text;

pub(crate) use kinds::reads_only;
#[cfg(test)]
use kinds::required_role_with;
pub(crate) use kinds::statement_what;
pub use kinds::{kind_name, required_role};

/// Whether the client asked for CSV.
pub(crate) fn wants(headers: &HeaderMap, mime: &str) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|m| m.trim().starts_with(mime)))
}

/// What the blocking part of a query hands back.
pub(crate) enum Answer {
    /// Every statement's answer and warnings.
    Done(Vec<(ResultSet, Vec<Warning>)>),
    /// A SELECT of ids answered as streamed CSV.
    Stream(IdStream),
}

/// A SELECT of ids to stream: its rows, where the page starts and ends,
/// and what it reserved from the export limit.
pub(crate) struct IdStream {
    pub(crate) table: Arc<Table>,
    pub(crate) filter: Expr,
    pub(crate) offset: u64,
    pub(crate) limit: Option<u64>,
    /// Ids reserved from the export limit, less those sent to be given
    /// back at the end.
    pub(crate) reserved: u64,
}

/// `POST /v1/query`. Its audit entries (one per schema change, segment
/// change, profile read and export, and with `audit_queries` one for the
/// request) go in the response's extensions, an error's too.
pub async fn query(
    State(s): State<Shared>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let notes = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let r = query_noted(s.clone(), principal, headers, body, notes.clone()).await;
    let mut r = r.into_response();
    let mut notes = std::mem::take(&mut *lock(&notes));
    if let Some(q) = notes.iter_mut().find(|n| n.action == Action::Query) {
        q.detail["rows"] = json!(r.extensions().get::<RowCount>().map(|c| c.0));
        q.detail["elapsed_ms"] = json!(elapsed_ms(start));
    }
    r.extensions_mut().insert(Notes(notes));
    r
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The audit notes of statements known before they run: schema and
/// segment changes, profile reads.
pub(crate) fn statement_notes(s: &Shared, stmts: &[segdb_query_lang::ast::Statement]) -> Vec<Note> {
    let mut notes = Vec::new();
    for st in stmts {
        let stmt_text = audit::cut(st.source.get(st.span.start..st.span.end).unwrap_or(""));
        let detail = json!({ "statement": stmt_text });
        let table = |t: &segdb_query_lang::ast::Ident| json!({ "table": t.name });
        let note = match &st.kind {
            StatementKind::CreateTable(c) => {
                Note::new(Action::SchemaChange, table(&c.name), detail)
            }
            StatementKind::AlterTable(a) => {
                Note::new(Action::SchemaChange, table(&a.table), detail)
            }
            StatementKind::AlterField(a) => {
                Note::new(Action::SchemaChange, table(&a.table), detail)
            }
            StatementKind::DropTable(t) => Note::new(Action::SchemaChange, table(t), detail),
            StatementKind::CreateSegment(c) => {
                let action = if c.or_replace && s.store.segment(&c.name.name).is_some() {
                    Action::SegmentReplace
                } else {
                    Action::SegmentCreate
                };
                Note::new(
                    action,
                    json!({ "segment": c.name.name, "table": c.table.name }),
                    detail,
                )
            }
            StatementKind::DropSegment(n) => {
                Note::new(Action::SegmentDrop, json!({ "segment": n.name }), detail)
            }
            // A derived tag changes what a name means in every query of
            // its table: a schema change.
            StatementKind::CreateTag(c) => Note::new(
                Action::SchemaChange,
                json!({ "table": c.table.name, "tag": c.name.name }),
                detail,
            ),
            StatementKind::DropTag(n) => {
                Note::new(Action::SchemaChange, json!({ "tag": n.name }), detail)
            }
            StatementKind::Call(c) if c.name.name.eq_ignore_ascii_case("profile") => {
                // The parameter at position `i`, or named `name`, as
                // written.
                let arg = |i: usize, name: &str| {
                    c.args
                        .iter()
                        .filter(|a| a.name.is_none())
                        .nth(i)
                        .or_else(|| {
                            c.args
                                .iter()
                                .find(|a| a.name.as_ref().is_some_and(|n| n.name == name))
                        })
                        .and_then(|a| st.source.get(a.value.span.start..a.value.span.end))
                        .map(|t| audit::cut(t.trim_matches('\'')))
                };
                Note::new(
                    Action::ProfileRead,
                    json!({ "table": arg(0, "table"), "id": arg(1, "id") }),
                    detail,
                )
            }
            _ => continue,
        };
        notes.push(note);
    }
    notes
}

async fn query_noted(
    s: Shared,
    principal: Principal,
    headers: HeaderMap,
    body: Body,
    notes: Arc<Mutex<Vec<Note>>>,
) -> Result<Response, ApiError> {
    let role = principal.role;
    let start = Instant::now();
    let bytes = read_body(body, s.config.max_body_bytes, s.config.body_read_timeout).await?;
    let text = query_text(&headers, &bytes)?;
    if s.config.audit_queries {
        // Before parsing: a query that does not parse is recorded too.
        lock(&notes).push(Note::new(
            Action::Query,
            json!({}),
            json!({ "statements": audit::cut(&text) }),
        ));
    }
    let stmts = segdb_query_lang::parse(&text).map_err(|e| json_without_type(e.into(), &text))?;
    lock(&notes).extend(statement_notes(&s, &stmts));
    if stmts.is_empty() {
        return Err(
            ApiError::bad_request("empty_query", "the body has no statement")
                .with_hint("send a statement such as `SELECT COUNT(*) FROM users`"),
        );
    }
    // Fields first: a limited key learns that a field is forbidden before
    // (and whatever) its role allows, and nothing runs.
    let access = principal.access();
    for st in &stmts {
        access.check_statement(st, &s.catalog())?;
    }
    for st in &stmts {
        auth::require(role, required_role(&st.kind), &statement_what(&st.kind))?;
    }
    for st in &stmts {
        s.metrics.query(kind_name(&st.kind));
    }
    let csv = wants(&headers, "text/csv");
    let permit = s.query_slot().await?;
    let st = s.clone();
    let running = s.start_query();
    let cancel = running.cancel().clone();
    // The permit goes with the blocking work and comes back with its
    // answer: if the handler is dropped (its client left), the slot stays
    // taken until the work has stopped.
    let name = principal.name.clone();
    let reads = kinds::reads_only(&stmts);
    let work = move || {
        st.metrics.queries_running.fetch_add(1, Ordering::Relaxed);
        let exporter = Exporter {
            principal: &principal.name,
            who: &principal,
            notes: &notes,
        };
        let r = cancel.scope(|| run_all(&st, &stmts, csv, &access, &exporter));
        st.metrics.queries_running.fetch_sub(1, Ordering::Relaxed);
        // Counted here, not by the handler: a handler whose client left is
        // dropped before the answer (and its guard cancels the query).
        let stopped = match r.as_ref().map_err(ApiError::code) {
            Err("query_timeout") => Some(&st.metrics.queries_timed_out),
            Err("cancelled") => Some(&st.metrics.queries_cancelled),
            _ => None,
        };
        if let Some(count) = stopped {
            count.fetch_add(1, Ordering::Relaxed);
        }
        match r? {
            // Rendered here, on the query thread, not by the HTTP thread: a
            // large answer takes its time from the query's threads, not
            // from the other connections'.
            Answer::Done(results) => {
                let response = answer_response(&st, &results, csv, start);
                drop(permit);
                Ok(Ready::Body(response?))
            }
            Answer::Stream(ids) => Ok(Ready::Stream(ids, permit)),
        }
    };
    match super::query_pool::run(reads, work).await? {
        Ready::Body(response) => Ok(response),
        Ready::Stream(
            IdStream {
                table,
                filter,
                offset,
                limit,
                reserved,
            },
            permit,
        ) => {
            let st = s.clone();
            let refund =
                move |sent: u64| st.export_limit.refund(&name, reserved.saturating_sub(sent));
            Ok(stream_ids(
                s, permit, running, table, filter, offset, limit, refund,
            ))
        }
    }
}

/// What a statement's thread hands back to the HTTP thread: a response
/// whose body is already rendered, or an export to stream (with the query
/// slot, which the stream holds until its last byte).
enum Ready {
    Body(Response),
    Stream(IdStream, tokio::sync::OwnedSemaphorePermit),
}

/// The JSON (or, asked for, CSV) response of finished statements, counted
/// in `/metrics`.
fn answer_response(
    s: &Shared,
    results: &[(ResultSet, Vec<Warning>)],
    csv: bool,
    start: Instant,
) -> Result<Response, ApiError> {
    let rows: u64 = results.iter().map(|(r, _)| r.rows.len() as u64).sum();
    s.metrics.rows_returned.fetch_add(rows, Ordering::Relaxed);
    let Some((last, _)) = results.last() else {
        return Err(ApiError::internal("a query gave no answer"));
    };
    let mut response = if csv {
        (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            exec::to_csv(last),
        )
            .into_response()
    } else {
        axum::Json(json_answer(results, elapsed_ms(start))).into_response()
    };
    response.extensions_mut().insert(RowCount(rows));
    Ok(response)
}

/// What is left of one request's answer budget (`max_answer_rows`,
/// `max_answer_bytes`): every statement's rows are charged as they are
/// built, so a request of many statements stops at the cap instead of
/// holding all their answers.
pub(crate) struct AnswerBudget {
    max_rows: u64,
    max_bytes: u64,
    rows: u64,
    bytes: u64,
}

impl AnswerBudget {
    pub(crate) fn new(max_rows: u64, max_bytes: u64) -> AnswerBudget {
        AnswerBudget {
            max_rows,
            max_bytes,
            rows: 0,
            bytes: 0,
        }
    }

    /// Rows that may still be added.
    fn rows_left(&self) -> u64 {
        self.max_rows.saturating_sub(self.rows)
    }

    /// Charges `rows` rows of `bytes` bytes (as JSON); 400
    /// `result_too_large` past either cap.
    fn charge(&mut self, rows: u64, bytes: u64) -> Result<(), ApiError> {
        self.rows += rows;
        self.bytes += bytes;
        if self.rows > self.max_rows {
            return Err(result_too_large(format!(
                "the answer has more than {} rows (max_answer_rows), counting every statement of the request",
                self.max_rows
            )));
        }
        if self.bytes > self.max_bytes {
            return Err(result_too_large(format!(
                "the answer is larger than {} bytes (max_answer_bytes), counting every statement of the request",
                self.max_bytes
            )));
        }
        Ok(())
    }

    /// Charges every row of `r`.
    fn charge_result(&mut self, r: &ResultSet) -> Result<(), ApiError> {
        for row in &r.rows {
            self.charge(1, json_len(row))?;
        }
        Ok(())
    }
}

/// 400 `result_too_large`, with how to get the rows anyway.
fn result_too_large(message: String) -> ApiError {
    ApiError::bad_request("result_too_large", message).with_hint(
        "page with LIMIT and OFFSET, send fewer statements per request, or stream one \
         SELECT user_id with `Accept: text/csv`",
    )
}

/// The length of `v` as JSON text, without writing it anywhere.
fn json_len(v: &impl serde::Serialize) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len() as u64;
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

/// The ids of a SELECT, shard by shard, each shard's ids charged to the
/// budget before the next is read: memory stays within the budget and a
/// shard's row ids, however many rows match.
fn collect_ids(
    table: &Table,
    filter: &Expr,
    offset: u64,
    limit: Option<u64>,
    max_json_rows: u64,
    budget: &mut AnswerBudget,
) -> Result<ResultSet, ApiError> {
    let end = offset.saturating_add(limit.unwrap_or(u64::MAX));
    let mut seen = 0u64;
    let mut rows: Vec<Vec<Value>> = Vec::new();
    let mut failed: Option<ApiError> = None;
    table.for_each_shard_rows(filter, |shard_rows| {
        let n = shard_rows.len() as u64;
        let from = offset.saturating_sub(seen).min(n);
        let mut to = end.saturating_sub(seen).min(n);
        seen += n;
        // One more than the budget allows is enough to know it is passed.
        to = to.min(from + budget.rows_left() + 1);
        to = to.min(from + (max_json_rows + 1).saturating_sub(rows.len() as u64));
        let page = &shard_rows[from as usize..to.max(from) as usize];
        let mut ids = Vec::with_capacity(page.len());
        let mut err = None;
        table.for_each_external_id(page, |_, id| {
            let id = String::from_utf8_lossy(id).into_owned();
            // `"id"` plus the row's brackets and a comma.
            if let Err(e) = budget.charge(1, id.len() as u64 + 5) {
                err = Some(e);
                return false;
            }
            ids.push(id);
            true
        })?;
        rows.extend(ids.into_iter().map(|id| vec![Value::String(id)]));
        if let Some(e) = err {
            failed = Some(e);
            return Ok(std::ops::ControlFlow::Break(()));
        }
        if rows.len() as u64 > max_json_rows {
            failed = Some(result_too_large(format!(
                "the answer has more than {max_json_rows} ids, the most a JSON answer carries"
            )));
            return Ok(std::ops::ControlFlow::Break(()));
        }
        Ok(if seen >= end {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        })
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    Ok(ResultSet {
        columns: vec![segdb_engine::ID_COLUMN.into()],
        rows,
    })
}

/// Who is running the statements (and exporting), and where the export
/// and campaign notes go.
pub(crate) struct Exporter<'a> {
    pub(crate) principal: &'a str,
    pub(crate) who: &'a Principal,
    pub(crate) notes: &'a Mutex<Vec<Note>>,
}

impl Exporter<'_> {
    /// Notes an export of `rows` ids of `target` by `stmt` and charges it
    /// to the principal's export limit (429 past it; noted either way).
    fn charge(
        &self,
        s: &Shared,
        stmt: &segdb_query_lang::ast::Statement,
        target: Value,
        rows: u64,
        format: &str,
    ) -> Result<(), ApiError> {
        let text = stmt
            .source
            .get(stmt.span.start..stmt.span.end)
            .unwrap_or("");
        lock(self.notes).push(Note::new(
            Action::Export,
            target,
            json!({ "rows": rows, "format": format, "statement": audit::cut(text) }),
        ));
        s.export_limit.charge(self.principal, rows)
    }

    /// Before a stream of `filter`'s ids from `offset` (at most `limit`):
    /// if the principal's bucket holds as many ids as the filter could
    /// match (`Table::upper_bound`), they are reserved and the stream starts at once (noted with
    /// `rows_at_most`; what it does not send is given back at its end);
    /// else the ids are counted first and charged exactly, or refused,
    /// and the stream reads the rows so counted (evaluated once).
    /// Answers the ids reserved and the filter to stream.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn stream(
        &self,
        s: &Shared,
        stmt: &segdb_query_lang::ast::Statement,
        target: Value,
        table: &Table,
        filter: &Expr,
        offset: u64,
        limit: Option<u64>,
    ) -> Result<(u64, Expr), ApiError> {
        let reserved =
            s.export_limit
                .reserve_stream(self.principal, table, filter, offset, limit)?;
        if let Some(bound) = reserved {
            let text = stmt
                .source
                .get(stmt.span.start..stmt.span.end)
                .unwrap_or("");
            lock(self.notes).push(Note::new(
                Action::Export,
                target,
                json!({ "rows_at_most": bound, "format": "csv", "statement": audit::cut(text) }),
            ));
            return Ok((bound, filter.clone()));
        }
        // Evaluated once: counted here, streamed from the same rows.
        let rows = table.evaluate(filter)?;
        let n = rows
            .len()
            .saturating_sub(offset)
            .min(limit.unwrap_or(u64::MAX));
        self.charge(s, stmt, target, n, "csv")?;
        Ok((0, Expr::Evaluated(rows)))
    }
}

/// Checks every statement (each against what the ones before it will
/// make: `check_batch`), then binds and runs each in turn, under one
/// answer budget. A mistake anywhere runs nothing; an error at run time
/// says which statements before it took effect.
pub(crate) fn run_all(
    s: &Shared,
    stmts: &[segdb_query_lang::ast::Statement],
    csv: bool,
    access: &exec::Access,
    exporter: &Exporter<'_>,
) -> Result<Answer, ApiError> {
    let catalog = s.catalog();
    segdb_query_lang::check_batch(stmts, &access.catalog(&catalog), date::today())?;
    if stmts.len() > 1 {
        campaign::precheck(s, stmts, access)?;
    }
    let mut ran = 0;
    run_each(s, stmts, csv, access, exporter, &mut ran).map_err(|e| {
        match exec::took_effect(&stmts[..ran]) {
            Some(note) => e.with_note(note),
            None => e,
        }
    })
}

/// Binds and runs each statement in turn (each sees what the ones before
/// it made), counting in `ran` those that ended. A SELECT of ids is
/// collected shard by shard against the budget (and `max_json_rows`);
/// alone and asked for as CSV, it is streamed instead.
fn run_each(
    s: &Shared,
    stmts: &[segdb_query_lang::ast::Statement],
    csv: bool,
    access: &exec::Access,
    exporter: &Exporter<'_>,
    ran: &mut usize,
) -> Result<Answer, ApiError> {
    let max = s.config.max_json_rows;
    let mut budget = AnswerBudget::new(s.config.max_answer_rows, s.config.max_answer_bytes);
    let today = date::today();
    let mut results = Vec::with_capacity(stmts.len());
    for stmt in stmts {
        let catalog = s.catalog();
        let bound = segdb_query_lang::bind(stmt, &access.catalog(&catalog), today)?;
        let warnings = match &bound {
            Statement::Select(sel) => sel.warnings.clone(),
            _ => Vec::new(),
        };
        if let Statement::Select(sel) = &bound {
            if let Projection::Ids { limit, offset } = sel.projection {
                let table = s.store.table(&sel.table)?;
                if csv && stmts.len() == 1 {
                    let (reserved, filter) = exporter.stream(
                        s,
                        stmt,
                        json!({ "table": sel.table }),
                        &table,
                        &sel.filter,
                        offset,
                        limit,
                    )?;
                    return Ok(Answer::Stream(IdStream {
                        table,
                        filter,
                        offset,
                        limit,
                        reserved,
                    }));
                }
                let r = collect_ids(&table, &sel.filter, offset, limit, max, &mut budget)?;
                let format = if csv { "csv" } else { "json" };
                let n = r.rows.len() as u64;
                exporter.charge(s, stmt, json!({ "table": sel.table }), n, format)?;
                results.push((r, warnings));
                *ran += 1;
                continue;
            }
        }
        if let Statement::CreateCampaign(_) | Statement::DropCampaign { .. } = &bound {
            let r = campaign::run(s, exporter.who, bound, exporter.notes)?;
            results.push((r, warnings));
            *ran += 1;
            continue;
        }
        // Every other statement's answer is bounded by the schema's caps
        // (fields per table, values per field, TOP): charged once built.
        let ids_call = match &bound {
            Statement::Call(c) if c.procedure == "segment_ids" => {
                Some(json!({ "segment": c.str("segment") }))
            }
            _ => None,
        };
        let listing = Listing::of(&bound);
        let mut r = exec::run_statement_as(&s.store, bound, access.clone())?;
        listing.keep_visible(access, &mut r, &catalog);
        if let Some(target) = ids_call {
            let format = if csv { "csv" } else { "json" };
            exporter.charge(s, stmt, target, r.rows.len() as u64, format)?;
        }
        budget.charge_result(&r)?;
        results.push((r, warnings));
        *ran += 1;
    }
    Ok(Answer::Done(results))
}

fn result_json(r: &ResultSet) -> Value {
    json!({"columns": r.columns, "rows": r.rows})
}

fn warning_json(w: &Warning) -> Value {
    json!({
        "code": w.code(),
        "message": w.message(),
        "line": w.line(),
        "column": w.column(),
        "hint": w.hint(),
    })
}

/// `{"columns", "rows", "elapsed_ms"}` of the last statement; with more
/// than one statement, also `"results"`: each statement's columns and rows.
fn json_answer(results: &[(ResultSet, Vec<Warning>)], elapsed_ms: f64) -> Value {
    let (last, _) = &results[results.len() - 1];
    let mut v = result_json(last);
    v["elapsed_ms"] = json!(elapsed_ms);
    let warnings: Vec<Value> = results
        .iter()
        .flat_map(|(_, w)| w.iter().map(warning_json))
        .collect();
    if !warnings.is_empty() {
        v["warnings"] = Value::Array(warnings);
    }
    if results.len() > 1 {
        v["results"] = results.iter().map(|(r, _)| result_json(r)).collect();
    }
    v
}

/// Streams the external ids of `filter`'s rows as CSV (`user_id` header,
/// one id per line), shard by shard, from a blocking task that holds the
/// query slot until the last byte. Memory stays at one shard's row ids and
/// one 64 KiB chunk, whatever the size of the segment.
///
/// The evaluation runs under `query`'s handle: the query timeout, a
/// shutdown, or the client leaving (the response body dropped, seen by a
/// watcher task even while no row has been found yet) stops it between
/// chunks. Stopped early, the body ends with an error rather than cleanly,
/// and the slot is free again.
#[allow(clippy::too_many_arguments)]
pub(crate) fn stream_ids(
    s: Shared,
    permit: tokio::sync::OwnedSemaphorePermit,
    query: RunningQuery,
    table: Arc<Table>,
    filter: Expr,
    offset: u64,
    limit: Option<u64>,
    on_end: impl FnOnce(u64) + Send + 'static,
) -> Response {
    let (mut w, body) = StreamWriter::new(query.deadline());
    let watch = w.watch();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let cancel = query.cancel().clone();
    tokio::spawn(async move {
        tokio::select! {
            () = watch.closed() => cancel.cancel(),
            _ = done_rx => {}
        }
    });
    tokio::task::spawn_blocking(move || {
        let _done = done_tx;
        let _permit = permit;
        s.metrics.queries_running.fetch_add(1, Ordering::Relaxed);
        let mut sent = 0u64;
        let mut stopped = w.write(b"user_id\n").err();
        let r = query.cancel().scope(|| {
            // Evaluated and formatted on the query pool, whose threads are
            // awake (one hand-over per group of shards); this thread only
            // waits for the client.
            table.for_each_shard_page(
                super::query_pool::shared(),
                &filter,
                offset,
                limit,
                |page| {
                    table.format_external_ids(page, |id, out| {
                        match std::str::from_utf8(id) {
                            Ok(id) => segdb_engine::csv::push_field(out, id),
                            Err(_) => {
                                segdb_engine::csv::push_field(out, &String::from_utf8_lossy(id))
                            }
                        }
                        out.push(b'\n');
                    })
                },
                |text, n| {
                    if let Err(e) = w.write(&text) {
                        stopped = Some(e);
                        return Ok(std::ops::ControlFlow::Break(()));
                    }
                    sent += n as u64;
                    Ok(std::ops::ControlFlow::Continue(()))
                },
            )
        });
        s.metrics.queries_running.fetch_sub(1, Ordering::Relaxed);
        s.metrics.rows_returned.fetch_add(sent, Ordering::Relaxed);
        on_end(sent);
        let why = match (r, stopped) {
            (Ok(()), None) => match w.finish() {
                Ok(()) => return,
                // The unfinished writer is dropped: the body breaks off.
                Err(e) => {
                    stopped_early(&s, e, sent);
                    return;
                }
            },
            (Ok(()), Some(e)) => e,
            (Err(EngineError::Cancelled), _) => Stopped::ClientGone,
            (Err(EngineError::Timeout { .. }), _) => Stopped::Deadline,
            (Err(e), _) => {
                tracing::error!(error = %e, sent, "a streamed answer failed");
                w.fail(e.to_string());
                return;
            }
        };
        let message = match why {
            Stopped::ClientGone => "the query was cancelled".to_owned(),
            Stopped::Deadline => format!(
                "the query passed the timeout of {} ms",
                s.config.query_timeout.as_millis()
            ),
        };
        stopped_early(&s, why, sent);
        w.fail(message);
    });
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response()
}

/// Counts and logs a streamed answer stopped before its end.
fn stopped_early(s: &Shared, why: Stopped, sent: u64) {
    match why {
        // The client left, or the server is shutting down.
        Stopped::ClientGone => {
            s.metrics.queries_cancelled.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                sent,
                "a streamed answer stopped: its client left or the server is shutting down"
            );
        }
        Stopped::Deadline => {
            s.metrics.queries_timed_out.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                sent,
                timeout_ms = s.config.query_timeout.as_millis() as u64,
                "a streamed answer passed the query timeout; its body ends with an error"
            );
        }
    }
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
