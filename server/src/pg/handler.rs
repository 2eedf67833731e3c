//! The simple query protocol (Query: several statements, each answered in
//! turn) and the extended one (Parse, Bind, Describe, Execute, with `$n`
//! parameters), over `run` and `catalog`.
//!
//! A Describe must tell the columns before anything runs. A SELECT's come
//! from its projection; a statement without rows (CREATE…) has none; any
//! other statement (SHOW, INSIGHT, CALL, EXPLAIN) is run by the Describe
//! of its portal and its answer kept for the Execute that follows.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::sink::{Sink, SinkExt};
use futures_util::stream::{self, StreamExt};
use pgwire::api::portal::PortalExecutionState;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{send_execution_response, send_query_response};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{
    DescribePortalResponse, DescribeStatementResponse, QueryResponse, Response, Tag,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::Entry;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireConnectionState, Type, DEFAULT_NAME};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::extendedquery::Execute;
use pgwire::messages::response::EmptyQueryResponse;
use pgwire::messages::PgWireBackendMessage;
use serde_json::Value;

use super::errors::{error_info, wire};
use super::params::{self, Bound};
use super::run::{self, Outcome, Rows};
use super::types::{self, Column};
use super::{catalog, Session};
use crate::http::{ApiError, Shared};

/// An answer a Describe computed, for the Execute of the same text.
pub struct Described {
    text: String,
    columns: Vec<Column>,
    rows: Vec<Vec<Value>>,
}

/// A prepared statement: its text and how many parameters it takes.
#[derive(Debug, Clone)]
pub struct Prepared {
    text: String,
    params: usize,
}

/// Parse: counts the parameters; the text is parsed when it is described
/// or run (its errors come then, placed on it).
#[derive(Debug, Default)]
pub struct Parser;

#[async_trait]
impl QueryParser for Parser {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        _client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        Ok(Some(Prepared {
            text: sql.to_owned(),
            params: params::count(sql),
        }))
    }

    fn get_parameter_types(&self, stmt: &Prepared) -> PgWireResult<Vec<Type>> {
        Ok(vec![Type::TEXT; stmt.params])
    }

    fn get_result_schema(
        &self,
        _stmt: &Prepared,
        _format: Option<&Format>,
    ) -> PgWireResult<Vec<pgwire::api::results::FieldInfo>> {
        Ok(Vec::new())
    }
}

/// The query handlers of every connection.
pub struct Queries {
    state: Shared,
    parser: Arc<Parser>,
}

impl Queries {
    /// The handlers for `state`.
    pub fn new(state: Shared) -> Queries {
        Queries {
            state,
            parser: Arc::new(Parser),
        }
    }

    /// The columns of `bound`'s one statement (none for a statement
    /// without rows); runs it now if only its answer tells them.
    async fn describe(
        &self,
        session: &Arc<Session>,
        bound: &Bound,
        may_run: bool,
    ) -> Result<Vec<Column>, ApiError> {
        if let Some(answer) = catalog::answer(&self.state, session, &bound.text) {
            return Ok(match answer?.into_iter().next() {
                Some(Outcome::Rows { columns, .. }) => columns,
                _ => Vec::new(),
            });
        }
        let stmt = one_statement(&self.state, session, &bound.text)?;
        if run::command_tag(&stmt.kind).is_some() {
            return Ok(Vec::new());
        }
        if let Some(columns) = run::select_columns_checked(&self.state, session, &stmt)? {
            return Ok(columns);
        }
        if !may_run {
            return Err(ApiError::bad_request(
                "unsupported",
                "only a SELECT can be described before its parameters are bound",
            )
            .with_hint("bind the parameters first (describe the portal), or send the statement as a simple query"));
        }
        match run::run_one(&self.state, session, stmt).await? {
            Outcome::Rows {
                columns,
                rows: Rows::Done(rows),
            } => {
                *lock(&session.described) = Some(Described {
                    text: bound.text.clone(),
                    columns: columns.clone(),
                    rows,
                });
                Ok(columns)
            }
            Outcome::Rows { columns, .. } => Ok(columns),
            _ => Ok(Vec::new()),
        }
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The one statement of a prepared text.
fn one_statement(
    s: &Shared,
    session: &Session,
    text: &str,
) -> Result<segdb_query_lang::ast::Statement, ApiError> {
    let mut stmts = run::parse_checked(s, session, text)?;
    if stmts.len() != 1 {
        return Err(ApiError::bad_request(
            "syntax_error",
            format!(
                "a prepared statement holds one statement; this text has {}",
                stmts.len()
            ),
        )
        .with_hint("send several statements as one simple query, or prepare each"));
    }
    Ok(stmts.remove(0))
}

fn session_of<C: ClientInfo>(client: &C) -> PgWireResult<Arc<Session>> {
    client
        .session_extensions()
        .get::<Session>()
        .ok_or(PgWireError::NoAuthenticationInProgress)
}

/// An outcome as pgwire's response, its columns in `format` (text when
/// `None`).
fn response(outcome: Outcome, format: Option<&Format>) -> Response {
    match outcome {
        Outcome::Command(tag) => Response::Execution(Tag::new(&tag)),
        Outcome::Transaction { tag, start: true } => Response::TransactionStart(Tag::new(&tag)),
        Outcome::Transaction { tag, start: false } => Response::TransactionEnd(Tag::new(&tag)),
        Outcome::Rows { columns, rows } => {
            let fields = Arc::new(types::fields(&columns, format));
            match rows {
                Rows::Done(rows) => {
                    let f = fields.clone();
                    let data = stream::iter(rows).map(move |row| {
                        types::encode_row(&row, &columns, &f).map_err(|e| wire(&e, None))
                    });
                    Response::Query(QueryResponse::new(fields, data))
                }
                Rows::Stream(rx) => {
                    // Until the end marker; a channel closed before it was
                    // cut short.
                    let data = stream::unfold(Some(rx), |rx| async move {
                        let mut rx = rx?;
                        let item = match rx.recv().await {
                            Some(Ok(Some(rows))) => Ok(rows),
                            Some(Ok(None)) => return None,
                            Some(Err(e)) => Err(e),
                            None => Err(ApiError::internal(
                                "a streamed answer stopped before its end",
                            )),
                        };
                        let next = item.is_ok().then_some(rx);
                        Some((item, next))
                    })
                    .flat_map(|batch| {
                        stream::iter(match batch {
                            Ok(rows) => rows.into_iter().map(Ok).collect::<Vec<_>>(),
                            Err(e) => vec![Err(wire(&e, None))],
                        })
                    });
                    Response::Query(QueryResponse::new(fields, data))
                }
            }
        }
    }
}

#[async_trait]
impl SimpleQueryHandler for Queries {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = session_of(client)?;
        let bound = Bound::plain(query);
        let error = |e: &ApiError| Response::Error(Box::new(error_info(e, Some(&bound))));
        if let Some(answer) = catalog::answer(&self.state, &session, query) {
            return Ok(match answer {
                Ok(outcomes) => outcomes.into_iter().map(|o| response(o, None)).collect(),
                Err(e) => vec![error(&e)],
            });
        }
        let stmts = match run::parse_checked(&self.state, &session, query) {
            Ok(s) => s,
            Err(e) => return Ok(vec![error(&e)]),
        };
        let (outcomes, failed) = run::run_statements(&self.state, &session, stmts).await;
        send_notices(client, &session, Some(&bound)).await?;
        let mut out: Vec<Response> = outcomes.into_iter().map(|o| response(o, None)).collect();
        if let Some(e) = failed {
            out.push(error(&e));
        }
        Ok(out)
    }
}

/// Sends the warnings of the statements just run (HTTP's `"warnings"`)
/// as NoticeResponses, severity WARNING, before their answers.
async fn send_notices<C>(
    client: &mut C,
    session: &Session,
    bound: Option<&Bound>,
) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let notices = std::mem::take(&mut *lock(&session.notices));
    for w in &notices {
        client
            .feed(PgWireBackendMessage::NoticeResponse(
                super::errors::notice_info(w, bound).into(),
            ))
            .await?;
    }
    Ok(())
}

/// `portal`'s text with its parameters bound.
fn bound_text(portal: &Portal<Prepared>) -> Result<Bound, ApiError> {
    let stmt = &portal.statement;
    let types: Vec<Type> = (0..portal.parameters.len())
        .map(|i| {
            stmt.parameter_types
                .get(i)
                .cloned()
                .flatten()
                .unwrap_or(Type::TEXT)
        })
        .collect();
    let values: Vec<params::Value<'_>> = portal
        .parameters
        .iter()
        .enumerate()
        .map(|(i, b)| params::Value {
            ty: &types[i],
            binary: portal.parameter_format.format_for(i)
                == pgwire::api::results::FieldFormat::Binary,
            bytes: b.as_ref(),
        })
        .collect();
    params::bind(&stmt.statement.text, &values)
}

#[async_trait]
impl ExtendedQueryHandler for Queries {
    type Statement = Prepared;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        self.parser.clone()
    }

    /// Execute: a portal run to its end (`max_rows` 0, what psql,
    /// psycopg and tokio-postgres send) has its rows written as they come.
    /// pgwire's own Execute gathers every row of the portal in memory
    /// first (to suspend it after `max_rows`), so a streamed SELECT of ids
    /// would be held whole; a portal read `max_rows` at a time (JDBC's
    /// fetch size) still goes that way, each fetch holding `max_rows` rows.
    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        let portal = match client.portal_store().get_portal(name) {
            Some(Entry::Value(p)) if message.max_rows == 0 => p,
            _ => return self._on_execute(client, message).await,
        };
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        let state = portal.state();
        let mut state = state.lock().await;
        if !matches!(*state, PortalExecutionState::Initial) {
            drop(state);
            return self._on_execute(client, message).await;
        }
        let mut status = client.transaction_status();
        client.set_state(PgWireConnectionState::QueryInProgress);
        let response = ExtendedQueryHandler::do_query(self, client, &portal, 0).await;
        *state = PortalExecutionState::Finished;
        drop(state);
        match response? {
            Response::Query(results) => send_query_response(client, results, false).await?,
            Response::EmptyQuery => {
                client
                    .feed(PgWireBackendMessage::EmptyQueryResponse(
                        EmptyQueryResponse::new(),
                    ))
                    .await?
            }
            Response::Execution(tag) => send_execution_response(client, tag).await?,
            Response::TransactionStart(tag) => {
                send_execution_response(client, tag).await?;
                status = status.to_in_transaction_state();
            }
            Response::TransactionEnd(tag) => {
                send_execution_response(client, tag).await?;
                status = status.to_idle_state();
            }
            Response::Error(e) => return Err(PgWireError::UserError(e)),
            Response::CopyIn(_) | Response::CopyOut(_) | Response::CopyBoth(_) => {
                return Err(wire(
                    &ApiError::bad_request("unsupported", "COPY is not supported"),
                    None,
                ))
            }
        }
        client.set_state(PgWireConnectionState::ReadyForQuery);
        client.set_transaction_status(status);
        Ok(())
    }

    async fn do_describe_statement<C>(
        &self,
        client: &mut C,
        target: &StoredStatement<Prepared>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = session_of(client)?;
        let prepared = &target.statement;
        let types: Vec<Type> = (0..prepared.params.max(target.parameter_types.len()))
            .map(|i| {
                target
                    .parameter_types
                    .get(i)
                    .cloned()
                    .flatten()
                    .unwrap_or(Type::TEXT)
            })
            .collect();
        // Placeholder values of the declared types stand for the
        // parameters: a SELECT's columns do not depend on them.
        let dummies: Vec<bytes::Bytes> = types
            .iter()
            .map(|t| {
                bytes::Bytes::from_static(match *t {
                    Type::INT2
                    | Type::INT4
                    | Type::INT8
                    | Type::FLOAT4
                    | Type::FLOAT8
                    | Type::NUMERIC => b"0",
                    Type::BOOL => b"t",
                    Type::DATE => b"2000-01-01",
                    _ => b"",
                })
            })
            .collect();
        let values: Vec<params::Value<'_>> = types
            .iter()
            .zip(&dummies)
            .map(|(ty, b)| params::Value {
                ty,
                binary: false,
                bytes: Some(b),
            })
            .collect();
        let bound = params::bind(&prepared.text, &values).map_err(|e| wire(&e, None))?;
        let columns = self
            .describe(&session, &bound, prepared.params == 0)
            .await
            .map_err(|e| wire(&e, Some(&bound)))?;
        Ok(DescribeStatementResponse::new(
            types,
            types::fields(&columns, None),
        ))
    }

    async fn do_describe_portal<C>(
        &self,
        client: &mut C,
        portal: &Portal<Prepared>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = session_of(client)?;
        let bound = bound_text(portal).map_err(|e| wire(&e, None))?;
        let columns = self
            .describe(&session, &bound, true)
            .await
            .map_err(|e| wire(&e, Some(&bound)))?;
        Ok(DescribePortalResponse::new(types::fields(
            &columns,
            Some(&portal.result_column_format),
        )))
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Prepared>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = session_of(client)?;
        let format = Some(&portal.result_column_format);
        let bound = bound_text(portal).map_err(|e| wire(&e, None))?;
        let described = lock(&session.described).take();
        if let Some(d) = described.filter(|d| d.text == bound.text) {
            send_notices(client, &session, Some(&bound)).await?;
            return Ok(response(
                Outcome::Rows {
                    columns: d.columns,
                    rows: Rows::Done(d.rows),
                },
                format,
            ));
        }
        if let Some(answer) = catalog::answer(&self.state, &session, &bound.text) {
            let mut outcomes = answer.map_err(|e| wire(&e, Some(&bound)))?;
            return Ok(match outcomes.pop() {
                Some(o) => response(o, format),
                None => Response::EmptyQuery,
            });
        }
        let stmt = one_statement(&self.state, &session, &bound.text)
            .map_err(|e| wire(&e, Some(&bound)))?;
        let (mut outcomes, failed) = run::run_statements(&self.state, &session, vec![stmt]).await;
        send_notices(client, &session, Some(&bound)).await?;
        if let Some(e) = failed {
            return Err(wire(&e, Some(&bound)));
        }
        Ok(match outcomes.pop() {
            Some(o) => response(o, format),
            None => Response::EmptyQuery,
        })
    }
}
