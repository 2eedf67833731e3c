//! Errors and warnings: a span in the text, what went wrong, and where.
//!
//! A [`QueryError`] is located when it is made (line, column and the line's
//! text), so its `Display` can show the statement with a caret under the
//! spot, as a compiler does:
//!
//! ```text
//! error: expected a comparison operator after `age`, found `'old'`
//!  --> line 1, column 38
//!   |
//! 1 | SELECT COUNT(*) FROM users WHERE age 'old'
//!   |                                      ^^^^^
//! ```

use std::fmt;

use crate::ast::Span;

/// What went wrong. Each kind has a stable [`code`](ErrorKind::code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text does not follow the grammar.
    #[error("expected {expected}, found {found}")]
    Syntax {
        /// What the grammar allows here.
        expected: String,
        /// What the text has instead.
        found: String,
    },
    /// A token that cannot be read: an unterminated string, an unknown
    /// character, an integer that does not fit in 64 bits.
    #[error("{0}")]
    InvalidToken(String),
    /// The table does not exist.
    #[error("unknown table `{table}`")]
    UnknownTable {
        /// The name as written.
        table: String,
    },
    /// The table has no such field.
    #[error("unknown field `{field}` in table `{table}`")]
    UnknownField {
        /// The table.
        table: String,
        /// The name as written.
        field: String,
    },
    /// No segment of that name.
    #[error("unknown segment `{segment}`")]
    UnknownSegment {
        /// The name as written.
        segment: String,
    },
    /// No campaign of that name.
    #[error("unknown campaign `{campaign}`")]
    UnknownCampaign {
        /// The name as written.
        campaign: String,
    },
    /// A segment whose definition would use itself.
    #[error("{0}")]
    SegmentCycle(String),
    /// A derived tag whose definition would use itself.
    #[error("{0}")]
    TagCycle(String),
    /// No derived tag of that name.
    #[error("unknown tag `{tag}`")]
    UnknownTag {
        /// The name as written.
        tag: String,
    },
    /// A segment (or other object) of that name exists already.
    #[error("{0}")]
    AlreadyExists(String),
    /// An object that others depend on (a segment other segments use, a
    /// table with segments) cannot be dropped.
    #[error("{0}")]
    InUse(String),
    /// No procedure of that name.
    #[error("unknown procedure `{name}`")]
    UnknownProcedure {
        /// The name as written.
        name: String,
    },
    /// Arguments of a CALL that do not fit the procedure's parameters:
    /// unknown, missing, given twice or too many.
    #[error("{0}")]
    Argument(String),
    /// A field, value or clause used where its kind does not fit.
    #[error("{0}")]
    Type(String),
    /// A CREATE TABLE that would make a bad schema.
    #[error("{0}")]
    InvalidSchema(String),
    /// The text is too long, too deep or has too long a list.
    #[error("{what} exceeds the limit of {limit}")]
    LimitExceeded {
        /// What is measured.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// A feature that is in the language but not built yet.
    #[error("{0} not supported yet")]
    Unsupported(String),
    /// The catalog failed to answer (a damaged file, an I/O error): not the
    /// query's fault.
    #[error("{0}")]
    Catalog(CatalogError),
    /// A `CREATE CAMPAIGN` the campaigns' rules refuse (a template, a
    /// weight, a time, a channel setting…), with the campaigns' code.
    #[error("{message}")]
    Campaign {
        /// The campaigns' stable code (`invalid_campaign`, …).
        code: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// A failure of the [`Catalog`](crate::Catalog) itself while it looked
/// something up for the binder: the database's fault, never the query's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// A damaged file; the message names it (and the offset).
    #[error("{0}")]
    Corrupt(String),
    /// Any other failure (an I/O error).
    #[error("{0}")]
    Failed(String),
}

impl ErrorKind {
    /// A stable code naming the kind, for clients (`"syntax_error"`, …).
    pub fn code(&self) -> &'static str {
        match self {
            ErrorKind::Syntax { .. } | ErrorKind::InvalidToken(_) => "syntax_error",
            ErrorKind::UnknownTable { .. } => "unknown_table",
            ErrorKind::UnknownField { .. } => "unknown_field",
            ErrorKind::UnknownSegment { .. } => "unknown_segment",
            ErrorKind::UnknownCampaign { .. } => "unknown_campaign",
            ErrorKind::SegmentCycle(_) => "segment_cycle",
            ErrorKind::TagCycle(_) => "tag_cycle",
            ErrorKind::UnknownTag { .. } => "unknown_tag",
            ErrorKind::AlreadyExists(_) => "already_exists",
            ErrorKind::InUse(_) => "in_use",
            ErrorKind::UnknownProcedure { .. } => "unknown_procedure",
            ErrorKind::Argument(_) => "invalid_argument",
            ErrorKind::Type(_) => "type_error",
            ErrorKind::InvalidSchema(_) => "invalid_schema",
            ErrorKind::LimitExceeded { .. } => "limit_exceeded",
            ErrorKind::Unsupported(_) => "unsupported",
            ErrorKind::Catalog(CatalogError::Corrupt(_)) => "data_corruption",
            ErrorKind::Catalog(CatalogError::Failed(_)) => "internal",
            ErrorKind::Campaign { code, .. } => code,
        }
    }
}

/// A mistake in a query: what, where, and how it might be fixed.
///
/// Its `Display` is the full report: message, line and column, the line
/// with a caret under the spot, and the hint.
///
/// It is one pointer wide, so that `Result<_, QueryError>` stays small.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError(Box<Inner>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Inner {
    kind: ErrorKind,
    span: Span,
    hint: Option<String>,
    location: Location,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.0;
        let message = e.kind.to_string();
        f.write_str(&render("error", &message, &e.location, e.hint.as_deref()))
    }
}

impl std::error::Error for QueryError {}

impl QueryError {
    /// An error of `kind` at `span` of `source` (the text the span indexes).
    pub fn new(kind: ErrorKind, span: Span, source: &str) -> QueryError {
        QueryError(Box::new(Inner {
            kind,
            span,
            hint: None,
            location: Location::find(source, span),
        }))
    }

    /// The same error with a hint ("did you mean `city`?").
    pub fn with_hint(mut self, hint: impl Into<String>) -> QueryError {
        self.0.hint = Some(hint.into());
        self
    }

    /// The same error with a hint, if there is one.
    pub fn with_hint_opt(mut self, hint: Option<String>) -> QueryError {
        if hint.is_some() {
            self.0.hint = hint;
        }
        self
    }

    /// The same error with `note` added to its hint (after the hint, if
    /// it has one).
    pub fn with_note(mut self, note: impl Into<String>) -> QueryError {
        let note = note.into();
        self.0.hint = Some(match self.0.hint.take() {
            Some(h) => format!("{h}; {note}"),
            None => note,
        });
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// Where, in bytes of the text.
    pub fn span(&self) -> Span {
        self.0.span
    }

    /// The line of the spot, from 1.
    pub fn line(&self) -> usize {
        self.0.location.line
    }

    /// The column of the spot in characters, from 1.
    pub fn column(&self) -> usize {
        self.0.location.column
    }

    /// The one-line message, without the location.
    pub fn message(&self) -> String {
        self.0.kind.to_string()
    }

    /// How to fix it, if we can tell.
    pub fn hint(&self) -> Option<String> {
        self.0.hint.clone()
    }

    /// A stable code naming the kind of error (see [`ErrorKind::code`]).
    pub fn code(&self) -> &'static str {
        self.0.kind.code()
    }

    /// Whether the error is the database's fault (the catalog failed), not
    /// the query's: a server answers it with a 5xx.
    pub fn is_internal(&self) -> bool {
        matches!(self.0.kind, ErrorKind::Catalog(_))
    }
}

/// Something in a query that is allowed but likely a mistake, such as a
/// value that no row holds (it matches no rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    code: &'static str,
    message: String,
    span: Span,
    hint: Option<String>,
    location: Location,
}

impl Warning {
    pub(crate) fn new(
        code: &'static str,
        message: String,
        span: Span,
        source: &str,
        hint: Option<String>,
    ) -> Warning {
        Warning {
            code,
            message,
            span,
            hint,
            location: Location::find(source, span),
        }
    }

    /// A stable code naming the kind of warning (`"unknown_value"`).
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The one-line message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Where, in bytes of the text.
    pub fn span(&self) -> Span {
        self.span
    }

    /// The line of the spot, from 1.
    pub fn line(&self) -> usize {
        self.location.line
    }

    /// The column of the spot in characters, from 1.
    pub fn column(&self) -> usize {
        self.location.column
    }

    /// A suggestion, if there is one.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render(
            "warning",
            &self.message,
            &self.location,
            self.hint.as_deref(),
        ))
    }
}

/// Lines longer than this many characters are shown as a window around
/// the spot.
const MAX_SHOWN_LINE: usize = 100;
/// Characters shown before the spot in a windowed line.
const SHOWN_BEFORE: usize = 40;

/// The line and column (from 1, the column in characters) where `span`
/// starts in `text`.
pub fn line_column(text: &str, span: Span) -> (usize, usize) {
    let l = Location::find(text, span);
    (l.line, l.column)
}

/// Where a span starts, and the line it starts on, ready to be shown.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Location {
    /// From 1.
    line: usize,
    /// From 1, in characters.
    column: usize,
    /// The line as shown: control characters as spaces, long lines cut.
    shown: String,
    /// Characters of `shown` before the caret.
    caret_at: usize,
    /// Number of carets (1 or more).
    caret_len: usize,
}

impl Location {
    fn find(text: &str, span: Span) -> Location {
        let start = floor_char_boundary(text, span.start);
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let line = text.as_bytes()[..line_start]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        let column = text[line_start..start].chars().count() + 1;
        let end = floor_char_boundary(text, span.end.clamp(start, line_end));
        let caret_len = text[start..end].chars().count().max(1);

        let chars: Vec<char> = text[line_start..line_end]
            .trim_end_matches('\r')
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let caret = column - 1;
        let (from, to) = if chars.len() > MAX_SHOWN_LINE {
            let from = caret.saturating_sub(SHOWN_BEFORE).min(chars.len());
            (from, (from + MAX_SHOWN_LINE).min(chars.len()))
        } else {
            (0, chars.len())
        };
        let mut shown = String::new();
        if from > 0 {
            shown.push('…');
        }
        shown.extend(&chars[from..to]);
        if to < chars.len() {
            shown.push('…');
        }
        let caret_at = caret - from + usize::from(from > 0);
        let room = (to + usize::from(to < chars.len()))
            .saturating_sub(caret)
            .max(1);
        Location {
            line,
            column,
            shown,
            caret_at,
            caret_len: caret_len.min(room),
        }
    }
}

fn floor_char_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn render(level: &str, message: &str, loc: &Location, hint: Option<&str>) -> String {
    let number = loc.line.to_string();
    let pad = " ".repeat(number.len());
    let mut out = format!(
        "{level}: {message}\n{pad}--> line {}, column {}\n{pad} |\n{number} | {}\n{pad} | {}{}",
        loc.line,
        loc.column,
        loc.shown,
        " ".repeat(loc.caret_at),
        "^".repeat(loc.caret_len),
    );
    if let Some(hint) = hint {
        out.push_str(&format!("\n{pad} = help: {hint}"));
    }
    out
}

/// `text` for a message: in backticks, cut to a readable length.
pub(crate) fn snippet(text: &str) -> String {
    const MAX: usize = 40;
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(MAX).collect();
    if chars.next().is_some() {
        format!("`{head}…`")
    } else {
        format!("`{head}`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_under_the_token() {
        let text = "SELECT COUNT(*) FROM users WHERE age 'old'";
        let err = QueryError::new(
            ErrorKind::Syntax {
                expected: "a comparison operator after `age`".into(),
                found: "`'old'`".into(),
            },
            Span::new(37, 42),
            text,
        );
        assert_eq!(err.line(), 1);
        assert_eq!(err.column(), 38);
        assert_eq!(
            err.to_string(),
            "error: expected a comparison operator after `age`, found `'old'`\n \
             --> line 1, column 38\n  |\n1 | SELECT COUNT(*) FROM users WHERE age 'old'\n  \
             |                                      ^^^^^"
        );
    }

    #[test]
    fn second_line_and_hint() {
        let text = "SELECT COUNT(*)\nFROM usrs";
        let err = QueryError::new(
            ErrorKind::UnknownTable {
                table: "usrs".into(),
            },
            Span::new(21, 25),
            text,
        )
        .with_hint("did you mean `users`?");
        assert_eq!((err.line(), err.column()), (2, 6));
        assert!(err
            .to_string()
            .ends_with("  |      ^^^^\n  = help: did you mean `users`?"));
    }

    #[test]
    fn spans_out_of_range_or_inside_a_character_do_not_panic() {
        let text = "é\nab";
        for start in 0..8 {
            for end in 0..8 {
                let err = QueryError::new(ErrorKind::Type("x".into()), Span::new(start, end), text);
                let _ = err.to_string();
            }
        }
        let _ = QueryError::new(ErrorKind::Type("x".into()), Span::new(5, 9), "").to_string();
    }

    #[test]
    fn long_lines_are_windowed() {
        let text = format!("{}X{}", "a".repeat(500), "b".repeat(500));
        let err = QueryError::new(ErrorKind::Type("x".into()), Span::new(500, 501), &text);
        let shown = err.to_string();
        assert_eq!(err.column(), 501);
        assert!(shown.lines().all(|l| l.chars().count() < 120), "{shown}");
        let line = shown.lines().nth(3).unwrap();
        let carets = shown.lines().nth(4).unwrap();
        let at = carets.find('^').unwrap();
        assert_eq!(line.chars().nth(at), Some('X'));
    }
}
