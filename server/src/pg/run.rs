//! Statements run for a Postgres client exactly as `POST /v1/query` runs
//! them: parsed, each checked against the principal's field access and
//! role, the batch checked as a whole (a mistake anywhere runs nothing),
//! then each run in turn through `http::query::run_all` on the query pool
//! (reads, as over HTTP) or the blocking
//! pool, in a query slot, under the query timeout and a handle that a
//! CancelRequest cancels. Audit notes go to the audit log as HTTP's do.
//!
//! A SELECT of ids is streamed: the engine's shards are read in order and
//! their ids sent in batches of at most 64Ki rows through a channel of two
//! batches, so memory stays bounded whatever the number of ids, and a
//! client that stops reading stops the evaluation.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use pgwire::messages::data::DataRow;
use segdb_engine::{date, EngineError, Expr, Table};
use segdb_query_lang::ast::{Statement as Ast, StatementKind};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::types::{self, Column};
use super::Session;
use crate::audit::{self, Action, Entry, Note, Outcome as AuditOutcome};
use crate::http::query::{
    required_role, run_all, statement_notes, statement_what, Answer, Exporter, IdStream,
};
use crate::http::{auth, query_pool, ApiError, Shared};

/// A statement's answer.
pub enum Outcome {
    /// Rows, typed.
    Rows {
        /// The columns.
        columns: Vec<Column>,
        /// The rows.
        rows: Rows,
    },
    /// A statement without rows, by its command tag (`CREATE TABLE`).
    Command(String),
    /// BEGIN (`start`), COMMIT or ROLLBACK: accepted, doing nothing.
    Transaction {
        /// The command tag.
        tag: String,
        /// BEGIN rather than an end.
        start: bool,
    },
}

/// The rows of an answer.
pub enum Rows {
    /// All of them.
    Done(Vec<Vec<Value>>),
    /// Ids as they are read, in batches; `None` after the last (a channel
    /// that closes without it was cut short).
    Stream(mpsc::Receiver<Batch>),
}

/// A batch of a streamed answer: rows, the end, or why it stopped.
pub type Batch = Result<Option<Vec<DataRow>>, ApiError>;

/// The command tag of a statement that answers no rows, or `None` for one
/// that answers rows.
pub fn command_tag(kind: &StatementKind) -> Option<&'static str> {
    Some(match kind {
        StatementKind::CreateTable(_) => "CREATE TABLE",
        StatementKind::AlterTable(_) | StatementKind::AlterField(_) => "ALTER TABLE",
        StatementKind::DropTable(_) => "DROP TABLE",
        StatementKind::CreateSegment(_) => "CREATE SEGMENT",
        StatementKind::DropSegment(_) => "DROP SEGMENT",
        StatementKind::CreateTag(_) => "CREATE TAG",
        StatementKind::DropTag(_) => "DROP TAG",
        StatementKind::CreateCampaign(_) => "CREATE CAMPAIGN",
        StatementKind::DropCampaign(_) => "DROP CAMPAIGN",
        _ => return None,
    })
}

/// Parses `text` and checks every statement's fields and role, before
/// anything runs.
pub fn parse_checked(s: &Shared, session: &Session, text: &str) -> Result<Vec<Ast>, ApiError> {
    let stmts = segdb_query_lang::parse(text).map_err(ApiError::from)?;
    let access = session.principal.access();
    for st in &stmts {
        access.check_statement(st, &s.catalog())?;
    }
    for st in &stmts {
        auth::require(
            session.principal.role,
            required_role(&st.kind),
            &statement_what(&st.kind),
        )?;
    }
    Ok(stmts)
}

/// The columns of a SELECT (from its projection, bound now), or `None`
/// for another statement; a SELECT that does not bind is its error.
pub fn select_columns_checked(
    s: &Shared,
    session: &Session,
    stmt: &Ast,
) -> Result<Option<Vec<Column>>, ApiError> {
    if !matches!(stmt.kind, StatementKind::Select(_)) {
        return Ok(None);
    }
    let catalog = s.catalog();
    let access = session.principal.access();
    match segdb_query_lang::bind(stmt, &access.catalog(&catalog), date::today())? {
        segdb_query_lang::Statement::Select(sel) => {
            Ok(Some(types::select_columns(&sel.projection)))
        }
        _ => Ok(None),
    }
}

/// Runs `stmts` (already checked by [`parse_checked`]) in turn: their
/// outcomes, up to the first error (then the error).
pub async fn run_statements(
    s: &Shared,
    session: &Arc<Session>,
    stmts: Vec<Ast>,
) -> (Vec<Outcome>, Option<ApiError>) {
    // The batch as a whole first: a mistake anywhere runs nothing.
    let check = {
        let (s, session, stmts) = (s.clone(), session.clone(), stmts.clone());
        query_pool::read(move || {
            let catalog = s.catalog();
            let access = session.principal.access();
            segdb_query_lang::check_batch(&stmts, &access.catalog(&catalog), date::today())
                .map_err(ApiError::from)
        })
        .await
    };
    if let Err(e) = check {
        return (Vec::new(), Some(e));
    }
    let mut out = Vec::with_capacity(stmts.len());
    for stmt in stmts {
        match run_one(s, session, stmt).await {
            Ok(o) => out.push(o),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

/// Runs one statement.
pub async fn run_one(s: &Shared, session: &Arc<Session>, stmt: Ast) -> Result<Outcome, ApiError> {
    s.metrics.query(crate::http::query::kind_name(&stmt.kind));
    let permit = s.query_slot().await?;
    let running = s.start_query();
    session.slot.set(running.cancel().clone());
    let cancel = running.cancel().clone();
    let notes = Arc::new(Mutex::new(statement_notes(s, std::slice::from_ref(&stmt))));
    let tag = command_tag(&stmt.kind);
    let reads = crate::http::query::reads_only(std::slice::from_ref(&stmt));
    let work = {
        let (st, session, notes) = (s.clone(), session.clone(), notes.clone());
        move || {
            let columns = select_columns_checked(&st, &session, &stmt).ok().flatten();
            let principal = &session.principal;
            let exporter = Exporter {
                principal: &principal.name,
                who: principal,
                notes: &notes,
            };
            let access = principal.access();
            let r = cancel
                .scope(|| run_all(&st, std::slice::from_ref(&stmt), true, &access, &exporter));
            r.map(|a| (a, columns, permit))
        }
    };
    // Reads on the query pool, as over HTTP (`http::query_pool`).
    let r = query_pool::run(reads, work).await;
    record(s, session, &notes, r.as_ref().err()).await;
    let (answer, columns, permit) = r?;
    match answer {
        Answer::Done(mut results) => {
            session.slot.clear();
            drop(running);
            drop(permit);
            let (rs, warnings) = results
                .pop()
                .ok_or_else(|| ApiError::internal("a statement gave no answer"))?;
            session
                .notices
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(warnings);
            s.metrics
                .rows_returned
                .fetch_add(rs.rows.len() as u64, std::sync::atomic::Ordering::Relaxed);
            if let Some(tag) = tag {
                return Ok(Outcome::Command(tag.to_owned()));
            }
            let columns = columns
                .filter(|c| c.len() == rs.columns.len())
                .unwrap_or_else(|| types::infer_columns(&rs));
            Ok(Outcome::Rows {
                columns,
                rows: Rows::Done(rs.rows),
            })
        }
        Answer::Stream(IdStream {
            table,
            filter,
            offset,
            limit,
            reserved,
        }) => {
            let (tx, rx) = mpsc::channel(2);
            let st = s.clone();
            let name = session.principal.name.clone();
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                let sent = stream_ids(&running, &table, &filter, offset, limit, &tx);
                st.export_limit.refund(&name, reserved.saturating_sub(sent));
                st.metrics
                    .rows_returned
                    .fetch_add(sent, std::sync::atomic::Ordering::Relaxed);
            });
            Ok(Outcome::Rows {
                columns: vec![Column::new(segdb_engine::ID_COLUMN, types::Kind::Text)],
                rows: Rows::Stream(rx),
            })
        }
    }
}

/// Sends the ids of `filter`'s rows from `offset` (at most `limit`), in
/// batches, until the end, an error (sent too), or the receiver leaving
/// (which cancels the query). A client that does not read holds the
/// evaluation until it reads, the query times out, or a CancelRequest
/// comes. Returns how many were sent.
fn stream_ids(
    running: &crate::http::running::RunningQuery,
    table: &Table,
    filter: &Expr,
    offset: u64,
    limit: Option<u64>,
    tx: &mpsc::Sender<Batch>,
) -> u64 {
    const BATCH: usize = 1 << 16;
    let end = offset.saturating_add(limit.unwrap_or(u64::MAX));
    let mut seen = 0u64;
    let mut sent = 0u64;
    let handle = tokio::runtime::Handle::current();
    let r = running.cancel().scope(|| {
        // Evaluated on the query pool, whose threads are awake; each
        // batch is formatted as it is sent, so that one is held at a time.
        table.for_each_shard_rows_on(crate::http::query_pool::shared(), filter, |rows| {
            let n = rows.len() as u64;
            let from = offset.saturating_sub(seen).min(n) as usize;
            let to = end.saturating_sub(seen).min(n) as usize;
            seen += n;
            for page in rows[from..to.max(from)].chunks(BATCH) {
                let text = table.format_external_ids(page, |id, out| {
                    out.extend_from_slice(&(id.len() as i32).to_be_bytes());
                    out.extend_from_slice(id);
                })?;
                let batch = split_rows(BytesMut::from(&text[..]));
                // Wait for room (a client that reads slowly holds the
                // evaluation), but no longer than the query may run, and
                // not past a cancel.
                let room = loop {
                    running.cancel().check()?;
                    let wait = tokio::time::timeout(Duration::from_millis(50), tx.reserve());
                    match handle.block_on(wait) {
                        Ok(Ok(room)) => break room,
                        Ok(Err(_)) => {
                            // The client left: stop here.
                            running.cancel().cancel();
                            return Ok(std::ops::ControlFlow::Break(()));
                        }
                        Err(_) => continue,
                    }
                };
                room.send(Ok(Some(batch)));
                sent += page.len() as u64;
            }
            Ok(if seen >= end {
                std::ops::ControlFlow::Break(())
            } else {
                std::ops::ControlFlow::Continue(())
            })
        })
    });
    let last = match r {
        Ok(()) => Ok(None),
        Err(EngineError::Cancelled) if tx.is_closed() => return sent,
        Err(e) => Err(ApiError::from(e)),
    };
    // Undelivered (the client stalls past the deadline), the channel
    // closes without its end: the client gets an error, not a short
    // answer taken for whole.
    let until = tokio::time::Instant::from_std(running.deadline());
    let _ = handle.block_on(tokio::time::timeout_at(until, tx.send(last)));
    sent
}

/// `len id len id …` as one DataRow per id, without copying.
fn split_rows(mut buf: BytesMut) -> Vec<DataRow> {
    let mut rows = Vec::new();
    while buf.len() >= 4 {
        let len = (&buf[..4]).get_i32().max(0) as usize;
        let row = buf.split_to((4 + len).min(buf.len()));
        rows.push(DataRow::new(row, 1));
    }
    rows
}

/// Writes a statement's audit notes (as HTTP does for a request), with
/// its outcome.
async fn record(s: &Shared, session: &Session, notes: &Mutex<Vec<Note>>, error: Option<&ApiError>) {
    let notes = std::mem::take(&mut *notes.lock().unwrap_or_else(|p| p.into_inner()));
    if notes.is_empty() {
        return;
    }
    let at = audit::time::format_ms(audit::time::unix_ms(std::time::SystemTime::now()));
    let (outcome, status) = match error {
        None => (AuditOutcome::Ok, 200),
        Some(e) if e.status() == 401 || e.status() == 403 => (AuditOutcome::Denied, e.status()),
        Some(e) => (AuditOutcome::Error, e.status()),
    };
    let entries: Vec<Entry> = notes
        .into_iter()
        .map(|n| Entry {
            at: at.clone(),
            principal: session.principal.name.clone(),
            role: Some(session.principal.role.to_string()),
            peer: session.peer.to_string(),
            action: n.action,
            target: n.target,
            detail: with_protocol(n.action, n.detail),
            outcome,
            status,
            error: error.map(|e| e.code().to_owned()),
        })
        .collect();
    let audit = s.audit.clone();
    let written =
        tokio::task::spawn_blocking(move || entries.iter().try_for_each(|e| audit.record(e))).await;
    match written {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!("{e}"),
        Err(e) => tracing::error!("writing the audit log: {e}"),
    }
}

/// A note's detail, saying it came over the Postgres protocol.
fn with_protocol(_action: Action, mut detail: Value) -> Value {
    if let Value::Object(m) = &mut detail {
        m.insert("protocol".into(), json!("postgres"));
    }
    detail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_split_into_rows() {
        let mut b = Vec::new();
        for id in ["a", "", "xyz"] {
            b.extend_from_slice(&(id.len() as i32).to_be_bytes());
            b.extend_from_slice(id.as_bytes());
        }
        let rows = split_rows(BytesMut::from(&b[..]));
        assert_eq!(rows.len(), 3);
        assert_eq!(&rows[2].data[..], b"\0\0\0\x03xyz");
    }
}
