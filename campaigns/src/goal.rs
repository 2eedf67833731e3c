//! A campaign's goal, measured from behaviour: `did(book, 7 days after
//! send)` is met by a user with at least one `book` event (an EVENT field
//! of the campaign's table) in the 7 days starting with their send day
//! (send day `D`: days `D ..= D + 6`).
//!
//! - [`Goal::parse`] reads the text (keywords in any case, whitespace
//!   free); its errors carry the byte span at fault, and
//!   [`check`] checks the field against the table's schema, so that
//!   [`validate`](fn@crate::validate) refuses a bad goal at path `goal`
//!   with a caret into its text.
//! - [`send_days`] groups a run's sent users by the day their message
//!   left: the first day from the run's day on which the campaign's
//!   touches hold them (a run may deliver over several days); a user with
//!   no touch (a transactional campaign has none) counts as sent on the
//!   run's day.
//! - [`goal_met`] intersects each group with the users whose event count
//!   over the group's window is at least 1: one engine evaluation of
//!   `count(event, D .. D+N-1) > 0` per send day. The hold-out, messaged
//!   nothing, is measured as one group on the run's day, as if sent then:
//!   the difference between the two rates is the campaign's effect.

use std::collections::BTreeMap;
use std::fmt;

use roaring::RoaringBitmap;
use segdb_engine::date::Day;
use segdb_engine::expr::DayRange;
use segdb_engine::{Expr, FieldKind, Schema, Table};

use crate::audience::freeze;
use crate::error::{CampaignError, DefError};

/// The longest goal window, in days.
pub const MAX_GOAL_DAYS: u32 = 366;

/// A parsed goal: at least one `event` within `days` days from the send
/// day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Goal {
    /// The EVENT field.
    pub event: String,
    /// The window in days, the send day included (1..=[`MAX_GOAL_DAYS`]).
    pub days: u32,
}

/// What is wrong with a goal's text, and where (byte offsets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoalError {
    /// What is wrong.
    pub message: String,
    /// First byte at fault.
    pub start: usize,
    /// One past the last byte at fault (`start` for a point).
    pub end: usize,
    /// How to fix it, if we can tell.
    pub hint: Option<String>,
}

impl GoalError {
    fn new(message: impl Into<String>, start: usize, end: usize) -> GoalError {
        GoalError {
            message: message.into(),
            start,
            end,
            hint: None,
        }
    }

    fn with_hint(mut self, hint: impl Into<String>) -> GoalError {
        self.hint = Some(hint.into());
        self
    }

    /// As a refusal of the definition's `goal` (whose text is `text`),
    /// with a caret at the span.
    pub fn into_def_error(self, text: &str) -> DefError {
        let e = DefError::new("goal", self.message).at(text, self.start, self.end);
        match self.hint {
            Some(h) => e.with_hint(h),
            None => e,
        }
    }
}

impl fmt::Display for GoalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.message, self.start)
    }
}

impl std::error::Error for GoalError {}

const EXAMPLE: &str = "write e.g. did(book, 7 days after send)";

/// A reader of a goal's text, byte by byte.
struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl Cursor<'_> {
    fn skip_ws(&mut self) {
        let rest = &self.text[self.at..];
        self.at += rest.len() - rest.trim_start().len();
    }

    /// The span of what comes next (a word, a number, one character), for
    /// errors.
    fn next_span(&self) -> (usize, usize) {
        let rest = &self.text[self.at..];
        let word = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '#'))
            .unwrap_or(rest.len());
        let len = match word {
            0 => rest.chars().next().map_or(0, char::len_utf8),
            n => n,
        };
        (self.at, self.at + len)
    }

    fn expected(&self, what: &str) -> GoalError {
        let (s, e) = self.next_span();
        let found = if s == self.text.len() {
            "the end of the goal".to_owned()
        } else {
            format!("`{}`", &self.text[s..e])
        };
        GoalError::new(format!("expected {what}, found {found}"), s, e).with_hint(EXAMPLE)
    }

    /// A word of letters, digits and `_` (and `#`, to refuse it by name),
    /// with its span.
    fn word(&mut self) -> Option<(&str, usize, usize)> {
        self.skip_ws();
        let (s, e) = self.next_span();
        let w = &self.text[s..e];
        if w.is_empty() || !w.starts_with(|c: char| c.is_ascii_alphanumeric() || "_#".contains(c)) {
            return None;
        }
        self.at = e;
        Some((&self.text[s..e], s, e))
    }

    fn keyword(&mut self, kw: &str, what: &str) -> Result<(), GoalError> {
        let save = self.at;
        match self.word() {
            Some((w, _, _)) if w.eq_ignore_ascii_case(kw) => Ok(()),
            _ => {
                self.at = save;
                self.skip_ws();
                Err(self.expected(what))
            }
        }
    }

    fn punct(&mut self, c: char, what: &str) -> Result<(), GoalError> {
        self.skip_ws();
        if self.text[self.at..].starts_with(c) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }
}

impl Goal {
    /// Reads `did(event, N days after send)`: keywords in any case,
    /// whitespace anywhere between the parts, `day` or `days`, the event
    /// a name (letters, digits and `_`) or a name in double quotes.
    pub fn parse(text: &str) -> Result<Goal, GoalError> {
        Goal::parse_spanned(text).map(|(g, _)| g)
    }

    /// [`Goal::parse`], and the span of the event's name (quotes included).
    fn parse_spanned(text: &str) -> Result<(Goal, (usize, usize)), GoalError> {
        let mut c = Cursor { text, at: 0 };
        c.keyword("did", "`did`")?;
        c.punct('(', "`(` after did")?;
        c.skip_ws();
        let (event, name_span) = if text[c.at..].starts_with('"') {
            let start = c.at;
            let Some(len) = text[start + 1..].find('"') else {
                return Err(GoalError::new("unclosed quoted name", start, text.len()));
            };
            c.at = start + 1 + len + 1;
            let name = &text[start + 1..start + 1 + len];
            check_name(name, start, c.at)?;
            (name.to_owned(), (start, c.at))
        } else {
            let Some((name, s, e)) = c.word() else {
                return Err(c.expected("an EVENT field's name after `did(`"));
            };
            check_name(name, s, e)?;
            (name.to_owned(), (s, e))
        };
        c.punct(',', "`,` after the event's name")?;
        c.skip_ws();
        let (s, e) = c.next_span();
        let digits = &text[s..e];
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(c.expected("a number of days"));
        }
        c.at = e;
        let days = digits
            .parse::<u32>()
            .ok()
            .filter(|d| (1..=MAX_GOAL_DAYS).contains(d));
        let Some(days) = days else {
            return Err(GoalError::new(
                format!("a goal's window is 1 to {MAX_GOAL_DAYS} days, found {digits}"),
                s,
                e,
            ));
        };
        let save = c.at;
        match c.word() {
            Some((w, _, _)) if w.eq_ignore_ascii_case("days") || w.eq_ignore_ascii_case("day") => {}
            _ => {
                c.at = save;
                c.skip_ws();
                return Err(c.expected("`days` after the number"));
            }
        }
        c.keyword("after", "`after`")?;
        c.keyword("send", "`send` after `after`")?;
        c.punct(')', "`)`")?;
        c.skip_ws();
        if c.at < text.len() {
            return Err(GoalError::new(
                "unexpected text after the goal",
                c.at,
                text.len(),
            ));
        }
        Ok((Goal { event, days }, name_span))
    }

    /// The window of a user sent on `send_day`: `send_day ..= send_day +
    /// days - 1`.
    pub fn window(&self, send_day: Day) -> DayRange {
        DayRange {
            first: send_day,
            last: send_day + (self.days as Day - 1),
        }
    }
}

/// A field name of a goal: never a system field (`#…`).
fn check_name(name: &str, start: usize, end: usize) -> Result<(), GoalError> {
    if name.starts_with('#') {
        return Err(GoalError::new(
            format!("`{name}` is a system field; a goal names an EVENT field of the table"),
            start,
            end,
        ));
    }
    let valid = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if !valid {
        return Err(
            GoalError::new(format!("`{name}` is not a field name"), start, end).with_hint(EXAMPLE),
        );
    }
    Ok(())
}

impl fmt::Display for Goal {
    /// The canonical text: `did(book, 7 days after send)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = if self.days == 1 { "day" } else { "days" };
        write!(f, "did({}, {} {unit} after send)", self.event, self.days)
    }
}

/// Parses the goal `text` and checks it against `table`'s schema: the
/// event must be an EVENT field. Errors are at path `goal`, with a caret
/// into `text`.
pub fn check(text: &str, table: &str, schema: &Schema) -> Result<Goal, DefError> {
    let (goal, (start, end)) = Goal::parse_spanned(text).map_err(|e| e.into_def_error(text))?;
    let Some(field) = schema.field(&goal.event) else {
        let events = schema
            .fields
            .iter()
            .filter(|f| f.kind == FieldKind::Event)
            .map(|f| f.name.as_str());
        let e = DefError::new(
            "goal",
            format!("unknown field `{}` in table `{table}`", goal.event),
        )
        .at(text, start, end);
        return Err(
            match crate::validate::nearest(&goal.event, events).or_else(|| {
                crate::validate::nearest(&goal.event, schema.fields.iter().map(|f| f.name.as_str()))
            }) {
                Some(n) => e.with_hint(format!("did you mean `{n}`?")),
                None => e,
            },
        );
    };
    if field.kind != FieldKind::Event {
        return Err(DefError::new(
            "goal",
            format!(
                "`{}` is an {} field; a goal counts an EVENT field",
                goal.event,
                field.kind.as_str()
            ),
        )
        .at(text, start, end));
    }
    Ok(goal)
}

/// Each of `sent`'s users with their send day: the first day `>= run_day`
/// on which `touches` (a campaign's marketing touches per day) holds them;
/// a user with no such touch is sent on `run_day`. The non-empty groups
/// by day, ascending: disjoint, their union `sent`.
pub fn send_days(
    run_day: Day,
    sent: &RoaringBitmap,
    touches: &BTreeMap<Day, RoaringBitmap>,
) -> Vec<(Day, RoaringBitmap)> {
    let mut left = sent.clone();
    let mut groups: Vec<(Day, RoaringBitmap)> = Vec::new();
    for (&day, touched) in touches.range(run_day..) {
        if left.is_empty() {
            break;
        }
        let rows = &left & touched;
        if rows.is_empty() {
            continue;
        }
        left -= &rows;
        groups.push((day, rows));
    }
    if !left.is_empty() {
        // No touch: sent on the run's day, which comes before every
        // other group's day (all are >= run_day).
        match groups.first_mut() {
            Some((day, rows)) if *day == run_day => *rows |= left,
            _ => groups.insert(0, (run_day, left)),
        }
    }
    groups
}

/// The users of `groups` who met `goal`: for each `(D, rows)`, `rows`
/// with at least one `goal.event` on days `D ..= D + goal.days - 1`. The
/// hold-out is measured with one group, `(run_day, holdout)`.
pub fn goal_met(
    table: &Table,
    goal: &Goal,
    groups: &[(Day, RoaringBitmap)],
) -> Result<RoaringBitmap, CampaignError> {
    let mut met = RoaringBitmap::new();
    for (day, rows) in groups {
        if rows.is_empty() {
            continue;
        }
        let did = freeze(table, &Expr::did(goal.event.clone(), goal.window(*day)))?;
        met |= did & rows;
    }
    Ok(met)
}

#[cfg(test)]
mod tests;
