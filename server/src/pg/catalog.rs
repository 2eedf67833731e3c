//! What Postgres clients send besides segdb's language, answered here:
//! `SET`/`RESET`/`DISCARD` (accepted, changing nothing), `BEGIN`/`COMMIT`/
//! `ROLLBACK` (accepted: segdb has no transactions, each statement takes
//! effect as it runs), `SHOW name` of the usual settings, a SELECT without
//! FROM of constants and `version()`, `current_setting(…)`,
//! `current_user`, `current_schema()`, `current_database()`, and the
//! pg_catalog queries of psql's `\dt` and `\d table` (in `pg_tables`)
//! and of pgjdbc's DatabaseMetaData (in `jdbc`).

use serde_json::{json, Value};

use super::run::{Outcome, Rows};
use super::types::{Column, Kind};
use super::Session;
use crate::http::{ApiError, Shared};

mod jdbc;
mod pg_tables;

/// The answer to `text` if it is one of those, else `None` (segdb's
/// language then).
pub fn answer(s: &Shared, session: &Session, text: &str) -> Option<Result<Vec<Outcome>, ApiError>> {
    let t = text.trim().trim_end_matches(';').trim();
    let lower = t.to_ascii_lowercase();
    let first = lower.split_whitespace().next().unwrap_or("");
    let command = |tag: &str| Some(Ok(vec![Outcome::Command(tag.to_owned())]));
    let transaction = |tag: &str, start| {
        Some(Ok(vec![Outcome::Transaction {
            tag: tag.to_owned(),
            start,
        }]))
    };
    match first {
        "set" => return command("SET"),
        "reset" => return command("RESET"),
        "discard" => return command("DISCARD ALL"),
        "begin" | "start" => return transaction("BEGIN", true),
        "commit" | "end" => return transaction("COMMIT", false),
        "rollback" | "abort" => return transaction("ROLLBACK", false),
        "show" => return show(session, &t[4..]),
        _ => {}
    }
    let catalog_words = ["pg_catalog.", "information_schema.", "from pg_", "join pg_"];
    if catalog_words.iter().any(|w| lower.contains(w)) {
        return pg_tables::answer(s, session, t, &lower);
    }
    if first == "select" && !has_word(&lower, "from") {
        return Some(select_constants(session, &t[6..]).map(|o| vec![o]));
    }
    None
}

/// Whether `word` is a word of `text`, outside quotes.
fn has_word(text: &str, word: &str) -> bool {
    let mut quoted = false;
    let mut current = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c == '\'' {
            quoted = !quoted;
            current.clear();
            continue;
        }
        if quoted {
            continue;
        }
        if c.is_ascii_alphanumeric() || c == '_' {
            current.push(c);
        } else {
            if current == word {
                return true;
            }
            current.clear();
        }
    }
    false
}

/// The value of setting `name` as SHOW and current_setting() give it.
fn setting(session: &Session, name: &str) -> Option<String> {
    Some(
        match name.trim().trim_matches('"').to_ascii_lowercase().as_str() {
            "server_version" => format!("16.6 (segdb {})", env!("CARGO_PKG_VERSION")),
            "server_version_num" => "160006".into(),
            "server_encoding" | "client_encoding" => "UTF8".into(),
            "standard_conforming_strings" | "integer_datetimes" => "on".into(),
            "timezone" => "Etc/UTC".into(),
            "datestyle" => "ISO, YMD".into(),
            "intervalstyle" => "postgres".into(),
            "search_path" => "public".into(),
            "transaction_isolation" | "default_transaction_isolation" => "read committed".into(),
            "transaction_read_only" | "default_transaction_read_only" | "in_hot_standby" => {
                "off".into()
            }
            "is_superuser" => if session.principal.role == crate::http::Role::Admin {
                "on"
            } else {
                "off"
            }
            .into(),
            "session_authorization" => session.principal.name.clone(),
            "max_identifier_length" => "63".into(),
            "lc_collate" | "lc_ctype" | "lc_messages" => "C".into(),
            "extra_float_digits" => "1".into(),
            "application_name" => String::new(),
            "statement_timeout" | "lock_timeout" | "idle_in_transaction_session_timeout" => {
                "0".into()
            }
            _ => return None,
        },
    )
}

fn unknown_setting(name: &str) -> ApiError {
    ApiError::bad_request(
        "unknown_setting",
        format!("unrecognized configuration parameter \"{}\"", name.trim()),
    )
}

/// `SHOW name` (segdb's own SHOW TABLES, FIELDS, SEGMENTS, TAGS and
/// CAMPAIGNS are left to the language).
fn show(session: &Session, rest: &str) -> Option<Result<Vec<Outcome>, ApiError>> {
    let name = rest.trim();
    let lower = name.to_ascii_lowercase();
    let word = lower.split_whitespace().next().unwrap_or("");
    if matches!(
        word,
        "tables" | "fields" | "segments" | "tags" | "campaigns"
    ) {
        return None;
    }
    Some(match setting(session, name) {
        Some(v) => Ok(vec![one_row(vec![(
            name.trim_matches('"').to_owned(),
            json!(v),
            Kind::Text,
        )])]),
        None => Err(unknown_setting(name)),
    })
}

fn one_row(cells: Vec<(String, Value, Kind)>) -> Outcome {
    let columns = cells
        .iter()
        .map(|(n, _, k)| Column::new(n.clone(), *k))
        .collect();
    let row = cells.into_iter().map(|(_, v, _)| v).collect();
    Outcome::Rows {
        columns,
        rows: Rows::Done(vec![row]),
    }
}

/// The items of a select list, split at top-level commas.
fn items(list: &str) -> Vec<&str> {
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    let mut out = Vec::new();
    for (i, c) in list.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&list[start..]);
    out
}

/// A SELECT without FROM: each item a constant or one of the functions
/// clients ask at connect.
fn select_constants(session: &Session, list: &str) -> Result<Outcome, ApiError> {
    let mut cells = Vec::new();
    for item in items(list) {
        let item = item.trim();
        // `expr AS alias` or `expr alias`.
        let lower = item.to_ascii_lowercase();
        let (expr, alias) = match lower.rfind(" as ") {
            Some(i) if !item[i + 4..].contains(['(', '\'']) => (
                item[..i].trim(),
                Some(item[i + 4..].trim().trim_matches('"')),
            ),
            _ => (item, None),
        };
        // A cast changes nothing here.
        let expr = expr.split("::").next().unwrap_or(expr).trim();
        let (name, value, kind) = constant(session, expr)?;
        cells.push((alias.map_or(name, str::to_owned), value, kind));
    }
    Ok(one_row(cells))
}

fn constant(session: &Session, expr: &str) -> Result<(String, Value, Kind), ApiError> {
    let lower = expr.to_ascii_lowercase();
    let bare = lower.trim_start_matches("pg_catalog.");
    let unnamed = "?column?".to_owned();
    if let Ok(n) = expr.parse::<i64>() {
        return Ok((unnamed, json!(n), Kind::Int8));
    }
    if let Ok(x) = expr.parse::<f64>() {
        return Ok((unnamed, json!(x), Kind::Float8));
    }
    if expr.len() >= 2 && expr.starts_with('\'') && expr.ends_with('\'') {
        return Ok((
            unnamed,
            json!(expr[1..expr.len() - 1].replace("''", "'")),
            Kind::Text,
        ));
    }
    match bare {
        "true" | "false" => return Ok(("bool".into(), json!(bare == "true"), Kind::Bool)),
        "null" => return Ok((unnamed, Value::Null, Kind::Text)),
        "version()" => {
            return Ok((
                "version".into(),
                json!(format!(
                    "PostgreSQL 16.6 (segdb {}): segdb's language over the Postgres wire protocol",
                    env!("CARGO_PKG_VERSION")
                )),
                Kind::Text,
            ))
        }
        "current_user" | "session_user" | "user" | "current_role" => {
            return Ok((bare.into(), json!(session.principal.name), Kind::Text))
        }
        "current_schema()" | "current_schema" => {
            return Ok(("current_schema".into(), json!("public"), Kind::Text))
        }
        "current_database()" | "current_catalog" => {
            return Ok(("current_database".into(), json!("segdb"), Kind::Text))
        }
        "pg_backend_pid()" => {
            return Ok((
                "pg_backend_pid".into(),
                json!(std::process::id()),
                Kind::Int8,
            ))
        }
        _ => {}
    }
    if let Some(arg) = bare
        .strip_prefix("current_setting(")
        .and_then(|r| r.strip_suffix(')'))
    {
        let name = arg
            .split(',')
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches('\'');
        let v = setting(session, name).ok_or_else(|| unknown_setting(name))?;
        return Ok(("current_setting".into(), json!(v), Kind::Text));
    }
    Err(ApiError::bad_request(
        "unsupported",
        format!("segdb answers a SELECT without FROM only of constants and connection functions, not `{expr}`"),
    )
    .with_hint("a segdb query reads a table: SELECT COUNT(*) FROM users WHERE …"))
}
