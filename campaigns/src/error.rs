//! The crate's errors: a client's mistakes ([`DefError`], illegal
//! transitions, forbidden actions, unknown names) apart from our faults
//! (damaged files, I/O, the engine).
//!
//! A [`DefError`] names the definition's field (`variants[1].template`)
//! and, for text (a template, the audience's WHERE, a time), the byte span
//! in that text; its `Display` draws the text with a caret under the spot:
//!
//! ```text
//! error: variants[0].template: unknown field `cty` in table `users`
//!  --> variants[0].template, line 1, column 7
//!   |
//! 1 | Hello {cty}!
//!   |        ^^^
//!   = hint: did you mean `city`?
//! ```

use std::fmt;
use std::path::PathBuf;

use crate::lifecycle::{Forbidden, TransitionError};

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    /// The definition is refused (the client's mistake: a 400).
    #[error("{0}")]
    Invalid(Box<DefError>),
    /// The action is not legal in the campaign's state (a 409 with the
    /// current state).
    #[error("{0}")]
    Conflict(TransitionError),
    /// The actor may not do this (a 403).
    #[error("{0}")]
    Forbidden(Forbidden),
    /// No campaign of that name (a 404).
    #[error("no campaign named `{0}`")]
    NotFound(String),
    /// A campaign of that name exists (a 409).
    #[error("a campaign named `{0}` exists already")]
    AlreadyExists(String),
    /// A campaign file is damaged: never read as fewer users or an older
    /// state. Our fault (a 5xx).
    #[error("campaign data is damaged: {path}: {what}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        what: String,
    },
    /// The disk or the engine failed. Our fault (a 5xx).
    #[error("{0}")]
    Engine(#[from] segdb_engine::EngineError),
    /// A file could not be read or written.
    #[error("{0}")]
    Storage(#[from] segdb_storage_format::FormatError),
    /// A channel could not deliver a batch after its retries (the receiver
    /// is down, keeps timing out or answering 5xx, or the output directory
    /// fails). Nothing of the batch was recorded: the run resumes there.
    #[error("delivery failed: {0}")]
    Unavailable(String),
}

impl From<DefError> for CampaignError {
    fn from(e: DefError) -> CampaignError {
        CampaignError::Invalid(Box::new(e))
    }
}

impl CampaignError {
    /// A stable code for clients.
    pub fn code(&self) -> &'static str {
        match self {
            CampaignError::Invalid(e) => e.code,
            CampaignError::Conflict(_) => "illegal_transition",
            CampaignError::Forbidden(_) => "forbidden",
            CampaignError::NotFound(_) => "unknown_campaign",
            CampaignError::AlreadyExists(_) => "already_exists",
            CampaignError::Corrupt { .. } => "data_corruption",
            CampaignError::Engine(_) | CampaignError::Storage(_) => "internal",
            CampaignError::Unavailable(_) => "channel_unavailable",
        }
    }

    /// Whether it is our fault, not the client's (a 5xx).
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            CampaignError::Corrupt { .. }
                | CampaignError::Engine(_)
                | CampaignError::Storage(_)
                | CampaignError::Unavailable(_)
        )
    }
}

/// A refused definition: which field, what is wrong, where in its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefError {
    /// The field of the definition, as a path: `name`, `variants[1].weight`,
    /// `audience.where`.
    pub path: String,
    /// A stable code (`invalid_campaign`, or the language's code for an
    /// audience that does not bind, such as `unknown_field`).
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
    /// How to fix it, if we can tell.
    pub hint: Option<String>,
    /// The field's text and the byte span in it, for a caret.
    pub at: Option<Box<TextSpan>>,
}

/// A byte span in a piece of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextSpan {
    /// The whole text (a template, a WHERE clause, a time).
    pub text: String,
    /// First byte.
    pub start: usize,
    /// One past the last byte (`start` for a point).
    pub end: usize,
}

impl DefError {
    /// An `invalid_campaign` error of the field at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> DefError {
        DefError {
            path: path.into(),
            code: "invalid_campaign",
            message: message.into(),
            hint: None,
            at: None,
        }
    }

    /// The same error with a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> DefError {
        self.hint = Some(hint.into());
        self
    }

    /// The same error pointing at `start..end` of `text`.
    pub fn at(mut self, text: &str, start: usize, end: usize) -> DefError {
        self.at = Some(Box::new(TextSpan {
            text: text.to_owned(),
            start,
            end,
        }));
        self
    }
}

impl fmt::Display for DefError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}: {}", self.path, self.message)?;
        if let Some(at) = &self.at {
            f.write_str("\n")?;
            f.write_str(&caret(&self.path, at))?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  = hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DefError {}

/// The located line of `at` with a caret under the span, as query-lang
/// draws its errors.
fn caret(path: &str, at: &TextSpan) -> String {
    let text = &at.text;
    let start = floor_char(text, at.start.min(text.len()));
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line_no = text[..start].matches('\n').count() + 1;
    let line = &text[line_start..line_end];
    let column = text[line_start..start].chars().count() + 1;
    let end = floor_char(text, at.end.clamp(start, line_end));
    let width = text[start..end].chars().count().max(1);
    let gutter = " ".repeat(line_no.to_string().len());
    format!(
        "{gutter}--> {path}, line {line_no}, column {column}\n{gutter} |\n{line_no} | {line}\n{gutter} | {}{}",
        " ".repeat(column - 1),
        "^".repeat(width)
    )
}

fn floor_char(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl From<CampaignError> for segdb_query_lang::CatalogError {
    /// For the binder: damage stays damage (the query answers
    /// `data_corruption` naming the file), anything else is a failure.
    fn from(e: CampaignError) -> Self {
        match e {
            CampaignError::Corrupt { .. } => segdb_query_lang::CatalogError::Corrupt(e.to_string()),
            CampaignError::Storage(f) if f.corrupt_at().is_some() => {
                segdb_query_lang::CatalogError::Corrupt(f.to_string())
            }
            other => segdb_query_lang::CatalogError::Failed(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caret_sits_under_the_span_on_its_own_line() {
        let e = DefError::new("variants[0].template", "unknown field `cty`")
            .at("Hi\nHello {cty}!", 10, 13)
            .with_hint("did you mean `city`?");
        assert_eq!(
            e.to_string(),
            "error: variants[0].template: unknown field `cty`\n\
             \x20--> variants[0].template, line 2, column 8\n\
             \x20 |\n\
             2 | Hello {cty}!\n\
             \x20 |        ^^^\n\
             \x20 = hint: did you mean `city`?"
        );
    }

    #[test]
    fn a_point_at_the_end_gets_one_caret() {
        let e = DefError::new("x", "unclosed").at("ab{", 3, 3);
        assert!(e.to_string().ends_with("1 | ab{\n  |    ^"), "{e}");
    }
}
