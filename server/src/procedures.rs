//! The procedure registry: what `CALL name(…)` can run.
//!
//! Each procedure is a [`Signature`] (parameter names, types, defaults),
//! which the binder checks a CALL against through
//! [`StoreCatalog`](crate::exec::StoreCatalog), and a function that runs the
//! checked call against a store. To add a procedure (insight, profile,
//! campaigns…), add an entry to [`registry`]: its arguments arrive checked
//! and complete, defaults filled in, in a [`BoundCall`]. Its signature
//! declares who may run it (`Signature::needs`) and whether it writes
//! (`Signature::writing`, which needs at least the write role); `POST
//! /v1/query` checks the caller's role per CALL against it.

use std::sync::OnceLock;

use segdb_engine::{date, EngineError, SegmentKind, Store, ID_COLUMN};
use segdb_query_lang::{
    bind_segment, ArgValue, BoundCall, Param, ParamType, ProcedureRole, Signature,
};
use serde_json::{json, Value};

use crate::exec::{Access, ExecError, ResultSet, StoreCatalog};

/// What runs a procedure: the store, its checked arguments, and what the
/// caller may see.
pub type Run = fn(&Store, &BoundCall, Access) -> Result<ResultSet, ExecError>;

/// One procedure: its signature and what runs it.
pub struct Procedure {
    /// What the binder checks a CALL against.
    pub signature: Signature,
    /// What runs it.
    pub run: Run,
}

/// Every procedure, by name.
pub fn registry() -> &'static [Procedure] {
    static REGISTRY: OnceLock<Vec<Procedure>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        use ParamType::*;
        vec![
            Procedure {
                signature: Signature::new(
                    "segment_ids",
                    vec![
                        Param::required("segment", Segment),
                        Param::optional("limit", Count, ArgValue::Int(100)),
                        Param::optional("offset", Count, ArgValue::Int(0)),
                    ],
                    "the external ids of a segment's rows, in row order (at most 100,000 a call)",
                ),
                run: segment_ids,
            },
            Procedure {
                signature: Signature::new(
                    "segment_info",
                    vec![Param::required("segment", Segment)],
                    "a segment's table, kind, definition, dependencies and rows now",
                ),
                run: segment_info,
            },
            Procedure {
                signature: Signature::new(
                    "profile",
                    vec![
                        Param::required("table", Table),
                        Param::required("id", Str),
                        Param::optional("days", Count, ArgValue::Int(30)),
                        Param::optional("as_of", Str, ArgValue::Str(String::new())),
                    ],
                    "every field of one row, EVENT counts per day over the `days` days ending `as_of` ('YYYY-MM-DD', today by default), and the segments it is in",
                ),
                run: profile,
            },
            Procedure {
                signature: Signature::new(
                    "insight",
                    vec![
                        Param::required("table", Table),
                        Param::optional("where", Str, ArgValue::Str(String::new())),
                        Param::optional("fields", Str, ArgValue::Str(String::new())),
                        Param::optional("top", Count, ArgValue::Int(0)),
                        Param::optional("width", Count, ArgValue::Int(0)),
                    ],
                    "INSIGHT as a procedure: `where` an expression, `fields` comma-separated (all by default), `top` and `width` 0 for none",
                ),
                run: insight,
            },
            Procedure {
                signature: Signature::new(
                    "campaign_status",
                    vec![Param::required("campaign", ParamType::Campaign)],
                    "a campaign's runs: audience, hold-out, capped and per-variant users, sent and failed (as of the run's last checkpoint), start and end",
                )
                .needs(ProcedureRole::Read),
                run: campaign_status,
            },
            Procedure {
                signature: Signature::new(
                    "campaign_report",
                    vec![Param::required("campaign", ParamType::Campaign)],
                    "a campaign's report: per run, variant and hold-out, users sent, failed and per effect, delivery rate, CTR, conversion rate, goal rate and its uplift over the hold-out (95% interval, z, p); sends as of the run's last checkpoint",
                )
                .needs(ProcedureRole::Read),
                run: campaign_report,
            },
            Procedure {
                signature: Signature::new("procedures", vec![], "the procedures CALL can run"),
                run: procedures,
            },
        ]
    })
}

/// The procedure `name`, if there is one.
pub fn find(name: &str) -> Option<&'static Procedure> {
    registry().iter().find(|p| p.signature.name == name)
}

/// Runs a checked call.
pub fn call(store: &Store, call: &BoundCall, access: Access) -> Result<ResultSet, ExecError> {
    match find(&call.procedure) {
        Some(p) => (p.run)(store, call, access),
        // The binder checked the name against this registry.
        None => Err(EngineError::Internal(format!("no procedure `{}`", call.procedure)).into()),
    }
}

/// `campaign_status(campaign)`.
fn campaign_status(store: &Store, call: &BoundCall, _: Access) -> Result<ResultSet, ExecError> {
    crate::exec::campaigns::campaign_status(store, str_arg(call, "campaign")?)
}

/// `campaign_report(campaign)`.
fn campaign_report(store: &Store, call: &BoundCall, _: Access) -> Result<ResultSet, ExecError> {
    crate::exec::campaigns::campaign_report(store, str_arg(call, "campaign")?)
}

/// The error for an argument the binder should have checked.
fn bad_arg(call: &BoundCall, name: &str) -> ExecError {
    EngineError::Internal(format!(
        "{}: argument `{name}` missing or of the wrong type",
        call.procedure
    ))
    .into()
}

fn str_arg<'c>(call: &'c BoundCall, name: &str) -> Result<&'c str, ExecError> {
    call.str(name).ok_or_else(|| bad_arg(call, name))
}

fn int_arg(call: &BoundCall, name: &str) -> Result<i64, ExecError> {
    call.int(name).ok_or_else(|| bad_arg(call, name))
}

/// `segment_ids(segment, limit => 100, offset => 0)`.
/// The most ids one `segment_ids` call lists: its answer is built in
/// memory (the export route streams any number).
pub const MAX_SEGMENT_IDS: i64 = 100_000;

fn segment_ids(store: &Store, call: &BoundCall, _: Access) -> Result<ResultSet, ExecError> {
    let name = str_arg(call, "segment")?;
    let limit = int_arg(call, "limit")?;
    let offset = int_arg(call, "offset")?;
    if limit > MAX_SEGMENT_IDS {
        return Err(EngineError::InvalidArgument(format!(
            "segment_ids lists at most {MAX_SEGMENT_IDS} ids a call, not {limit}: page with \
             `offset`, or stream them all with GET /v1/segments/{name}/ids"
        ))
        .into());
    }
    let (table, expr) = bind_segment(name, &StoreCatalog::new(store), date::today())?;
    let t = store.table(&table)?;
    let ids = t.ids(
        &expr,
        u64::try_from(offset).unwrap_or(0),
        Some(u64::try_from(limit).unwrap_or(0)),
    )?;
    Ok(ResultSet {
        columns: vec![ID_COLUMN.into()],
        rows: ids.into_iter().map(|id| vec![json!(id)]).collect(),
    })
}

/// `segment_info(segment)`: one row.
fn segment_info(store: &Store, call: &BoundCall, _: Access) -> Result<ResultSet, ExecError> {
    let name = str_arg(call, "segment")?;
    let info = store
        .segment(name)
        .ok_or_else(|| EngineError::UnknownSegment(name.to_owned()))?;
    let (table, expr) = bind_segment(name, &StoreCatalog::new(store), date::today())?;
    let rows = store.table(&table)?.count(&expr)?;
    let used_by: Vec<String> = store
        .segments()
        .into_iter()
        .filter(|s| s.uses.iter().any(|u| u == name))
        .map(|s| s.name)
        .collect();
    Ok(ResultSet {
        columns: [
            "segment",
            "table",
            "kind",
            "definition",
            "uses",
            "used_by",
            "rows",
            "bytes",
        ]
        .map(String::from)
        .to_vec(),
        rows: vec![vec![
            json!(info.name),
            json!(info.table),
            json!(info.kind.as_str()),
            info.text.map_or(Value::Null, |t| json!(t)),
            json!(info.uses.join(", ")),
            json!(used_by.join(", ")),
            json!(rows),
            match info.kind {
                SegmentKind::Snapshot => json!(info.bytes.unwrap_or(0)),
                SegmentKind::Dynamic => Value::Null,
            },
        ]],
    })
}

/// `profile(table, id, days => 30, as_of => '')`: one row per field (`field, kind,
/// value`; EVENT values as `{"total", "days"}`), then one per derived tag
/// of the table (`tag, TAG, value`, the value on `as_of`), then one per
/// segment the row is in (`segment name, SEGMENT, dynamic|snapshot`). An unknown id is
/// an error.
fn profile(store: &Store, call: &BoundCall, access: Access) -> Result<ResultSet, ExecError> {
    let table = str_arg(call, "table")?;
    let id = str_arg(call, "id")?;
    let days = int_arg(call, "days")?.clamp(1, 3660) as i32;
    let last = match str_arg(call, "as_of")? {
        "" => date::today(),
        d => date::parse_iso_day(d).ok_or_else(|| {
            EngineError::InvalidArgument(format!(
                "as_of => '{d}' is not a date; write 'YYYY-MM-DD'"
            ))
        })?,
    };
    let window = segdb_engine::DayRange {
        first: last - (days - 1),
        last,
    };
    let Some(p) = crate::profile::profile(store, table, id, window, &access)? else {
        return Err(EngineError::InvalidArgument(format!(
            "table `{table}` has no row with id `{id}`"
        ))
        .into());
    };
    let mut rows: Vec<Vec<Value>> = p
        .fields
        .into_iter()
        .map(|(f, kind, v)| vec![json!(f), json!(kind), v])
        .collect();
    rows.extend(
        p.tags
            .into_iter()
            .map(|(tag, value)| vec![json!(tag), json!("TAG"), value]),
    );
    rows.extend(
        p.segments
            .into_iter()
            .map(|(s, k)| vec![json!(s), json!("SEGMENT"), json!(k.as_str())]),
    );
    Ok(ResultSet {
        columns: ["field", "kind", "value"].map(String::from).to_vec(),
        rows,
    })
}

/// `insight(table, where => '', fields => '', top => 0, width => 0)`: the
/// INSIGHT statement these make, run as one.
fn insight(store: &Store, call: &BoundCall, access: Access) -> Result<ResultSet, ExecError> {
    let ident = |name: &str| {
        segdb_query_lang::ast::Ident {
            name: name.trim().to_owned(),
            span: Default::default(),
        }
        .to_string()
    };
    let fields: Vec<String> = str_arg(call, "fields")?
        .split(',')
        .filter(|f| !f.trim().is_empty())
        .map(ident)
        .collect();
    let mut text = format!(
        "INSIGHT {} FROM {}",
        fields.join(", "),
        ident(str_arg(call, "table")?)
    );
    for (param, word) in [("top", "TOP"), ("width", "WIDTH")] {
        let n = int_arg(call, param)?;
        if n > 0 {
            text.push_str(&format!(" {word} {n}"));
        }
    }
    // The fields of the INSIGHT these make are checked as a written one's,
    // and so are those of the `where` text (at their places in it).
    let catalog = StoreCatalog::new(store);
    let parsed = segdb_query_lang::parse(&text)?;
    for stmt in &parsed {
        access.check_statement(stmt, &catalog)?;
    }
    let seen = access.catalog(&catalog);
    let mut stmts = parsed
        .iter()
        .map(|stmt| segdb_query_lang::bind(stmt, &seen, date::today()))
        .collect::<Result<Vec<_>, _>>()?;
    let (Some(segdb_query_lang::Statement::Insight(mut insight)), true) =
        (stmts.pop(), stmts.is_empty())
    else {
        return Err(EngineError::Internal(format!("insight: `{text}` is not one INSIGHT")).into());
    };
    // The `where` text is bound on its own: an error's line and column are
    // in it, and it cannot be more than one expression.
    let where_text = str_arg(call, "where")?;
    if let Some(stmt) = segdb_query_lang::parse_filter_statement(&insight.spec.table, where_text)? {
        access.check_statement(&stmt, &catalog)?;
    }
    let filter =
        segdb_query_lang::bind_filter(&seen, &insight.spec.table, where_text, insight.spec.as_of)?;
    insight.filter = filter.filter;
    insight.warnings.extend(filter.warnings);
    crate::exec::run_statement_as(store, segdb_query_lang::Statement::Insight(insight), access)
}

/// `procedures()`: one row per procedure.
fn procedures(_: &Store, _: &BoundCall, _: Access) -> Result<ResultSet, ExecError> {
    Ok(ResultSet {
        columns: ["procedure", "signature", "doc", "role", "writes"]
            .map(String::from)
            .to_vec(),
        rows: registry()
            .iter()
            .map(|p| {
                vec![
                    json!(p.signature.name),
                    json!(p.signature.to_string()),
                    json!(p.signature.doc),
                    json!(p.signature.role().as_str()),
                    json!(p.signature.writes()),
                ]
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use segdb_query_lang::ProcedureRole;

    /// The declarations, as a table: every procedure registered today only
    /// reads, and any caller may run it (`profile` redacts SENSITIVE
    /// fields for callers below admin instead of refusing them).
    #[test]
    fn each_procedure_declares_its_role_and_whether_it_writes() {
        let table: Vec<(&str, ProcedureRole, bool)> = registry()
            .iter()
            .map(|p| {
                (
                    p.signature.name.as_str(),
                    p.signature.role(),
                    p.signature.writes(),
                )
            })
            .collect();
        assert_eq!(
            table,
            [
                ("segment_ids", ProcedureRole::Read, false),
                ("segment_info", ProcedureRole::Read, false),
                ("profile", ProcedureRole::Read, false),
                ("insight", ProcedureRole::Read, false),
                ("campaign_status", ProcedureRole::Read, false),
                ("campaign_report", ProcedureRole::Read, false),
                ("procedures", ProcedureRole::Read, false),
            ]
        );
    }
}
