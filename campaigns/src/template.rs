//! Message templates: text with placeholders filled from each user's row.
//!
//! ```text
//! template    = { text | "{{" | "}}" | placeholder }
//! placeholder = "{" ws ( field | count ) ws "}"
//! field       = name                          (an ENUM, SET, INT or TEXT field,
//!                                              or a derived tag of the table)
//! count       = "count" ws "(" ws name ws "," ws "last" ws N ws ("day" | "days") ws ")"
//! ```
//!
//! `{{` and `}}` are literal braces; a lone `}` is an error. `{count(view,
//! last 7 days)}` is the row's count of EVENT field `view` over the 7 days
//! ending on the run's day (as `count(view, last 7 days)` in WHERE). A SET
//! renders its values joined by `, `, a null as the empty string.
//! [`parse`] checks the syntax; [`Template::check`] checks the names
//! against the table (unknown field, wrong kind, SENSITIVE without
//! `allow_sensitive`). Errors carry the byte span of the placeholder.
//!
//! `{lifecycle}`, a derived tag, renders the row's value of the tag on the
//! run's day (`true`/`false` for a BOOL tag, nothing where it has none):
//! [`Template::bind_tags`] binds its values once per run, and
//! [`Template::render_rows_tagged`] evaluates each value's rows once per
//! batch (restricted to the batch's rows) and looks each row up.

use std::collections::HashMap;

use segdb_engine::date::Day;
use segdb_engine::{DayRange, Expr, FieldKind, Profile, ProfileValue, Schema, Table};
use segdb_query_lang::{bind_tag, Catalog, QueryError};

use crate::error::DefError;

/// The longest window of `{count(e, last N days)}`.
pub const MAX_TEMPLATE_DAYS: u32 = 366;

/// The longest template, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 16 * 1024;

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The pieces, in order.
    pub pieces: Vec<Piece>,
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Literal text (braces unescaped).
    Text(String),
    /// `{field}`.
    Field {
        /// The field's name.
        name: String,
        /// The name's byte span in the template.
        span: (usize, usize),
    },
    /// `{count(event, last N days)}`.
    Count {
        /// The EVENT field.
        event: String,
        /// The window in days.
        days: u32,
        /// The placeholder's byte span in the template.
        span: (usize, usize),
    },
}

/// A template error before it is given its field path: message, span,
/// hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// What is wrong.
    pub message: String,
    /// Where, in bytes of the template.
    pub span: (usize, usize),
    /// How to fix it.
    pub hint: Option<String>,
}

impl TemplateError {
    fn new(message: impl Into<String>, start: usize, end: usize) -> TemplateError {
        TemplateError {
            message: message.into(),
            span: (start, end),
            hint: None,
        }
    }
    fn hint(mut self, hint: impl Into<String>) -> TemplateError {
        self.hint = Some(hint.into());
        self
    }

    /// The error as a [`DefError`] of the field at `path`, with a caret
    /// into `text`.
    pub fn into_def_error(self, path: &str, text: &str) -> DefError {
        let mut e = DefError::new(path, self.message).at(text, self.span.0, self.span.1);
        e.hint = self.hint;
        e
    }
}

/// Parses a template's syntax.
pub fn parse(text: &str) -> Result<Template, TemplateError> {
    if text.len() > MAX_TEMPLATE_BYTES {
        return Err(TemplateError::new(
            format!("a template is at most {MAX_TEMPLATE_BYTES} bytes"),
            MAX_TEMPLATE_BYTES,
            MAX_TEMPLATE_BYTES,
        ));
    }
    let bytes = text.as_bytes();
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut i = 0;
    let mut run_start = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' if bytes.get(i + 1) == Some(&b'{') => {
                literal.push_str(&text[run_start..i]);
                literal.push('{');
                i += 2;
                run_start = i;
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => {
                literal.push_str(&text[run_start..i]);
                literal.push('}');
                i += 2;
                run_start = i;
            }
            b'}' => {
                return Err(TemplateError::new("a lone `}`", i, i + 1)
                    .hint("write `}}` for a literal brace"));
            }
            b'{' => {
                literal.push_str(&text[run_start..i]);
                let Some(close) = text[i + 1..].find(['}', '{']).map(|k| i + 1 + k) else {
                    return Err(
                        TemplateError::new("`{` is never closed", i, text.len()).hint(
                            "close the placeholder with `}`, or write `{{` for a literal brace",
                        ),
                    );
                };
                if bytes[close] == b'{' {
                    return Err(TemplateError::new("`{` is never closed", i, close).hint(
                        "close the placeholder with `}`, or write `{{` for a literal brace",
                    ));
                }
                if !literal.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut literal)));
                }
                pieces.push(placeholder(text, i, close)?);
                i = close + 1;
                run_start = i;
            }
            _ => i += 1,
        }
    }
    literal.push_str(&text[run_start..]);
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal));
    }
    Ok(Template { pieces })
}

/// The placeholder between the braces at `open` and `close`.
fn placeholder(text: &str, open: usize, close: usize) -> Result<Piece, TemplateError> {
    let mut c = Cursor {
        text,
        pos: open + 1,
        end: close,
    };
    c.ws();
    let (name, name_start, name_end) = c.name().ok_or_else(|| {
        TemplateError::new(
            "expected a field name or count(EVENT, last N days) in `{…}`",
            open,
            close + 1,
        )
        .hint("write `{{` for a literal brace")
    })?;
    c.ws();
    if c.pos == c.end {
        return Ok(Piece::Field {
            name: name.to_owned(),
            span: (name_start, name_end),
        });
    }
    if !name.eq_ignore_ascii_case("count") || !c.eat("(") {
        return Err(TemplateError::new(
            format!("unexpected `{}` after `{name}`", &text[c.pos..c.end]),
            c.pos,
            c.end,
        )
        .hint("a placeholder is `{field}` or `{count(EVENT, last N days)}`"));
    }
    let bad = |c: &Cursor<'_>, what: &str| {
        TemplateError::new(
            format!("expected {what} in count(…)"),
            c.pos,
            c.end.max(c.pos),
        )
        .hint("write it as `{count(view, last 7 days)}`")
    };
    c.ws();
    let Some((event, ..)) = c.name() else {
        return Err(bad(&c, "an EVENT field"));
    };
    c.ws();
    if !c.eat(",") {
        return Err(bad(&c, "`,`"));
    }
    c.ws();
    if !c.keyword("last") {
        return Err(bad(&c, "`last`"));
    }
    c.ws();
    let num_start = c.pos;
    let Some(days) = c.number() else {
        return Err(bad(&c, "a number of days"));
    };
    if days == 0 || days > u64::from(MAX_TEMPLATE_DAYS) {
        return Err(TemplateError::new(
            format!("a window is 1 to {MAX_TEMPLATE_DAYS} days, found {days}"),
            num_start,
            c.pos,
        ));
    }
    c.ws();
    if !(c.keyword("days") || c.keyword("day")) {
        return Err(bad(&c, "`days`"));
    }
    c.ws();
    if !c.eat(")") {
        return Err(bad(&c, "`)`"));
    }
    c.ws();
    if c.pos != c.end {
        return Err(bad(&c, "`}` after `)`"));
    }
    Ok(Piece::Count {
        event: event.to_owned(),
        days: days as u32,
        span: (open, close + 1),
    })
}

struct Cursor<'t> {
    text: &'t str,
    pos: usize,
    end: usize,
}

impl<'t> Cursor<'t> {
    fn rest(&self) -> &'t str {
        &self.text[self.pos..self.end]
    }
    fn ws(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }
    fn eat(&mut self, s: &str) -> bool {
        let ok = self.rest().starts_with(s);
        if ok {
            self.pos += s.len();
        }
        ok
    }
    /// A name: letters, digits and `_`, not starting with a digit.
    fn name(&mut self) -> Option<(&'t str, usize, usize)> {
        let rest = self.rest();
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if len == 0 || rest.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        let start = self.pos;
        self.pos += len;
        Some((&rest[..len], start, self.pos))
    }
    fn keyword(&mut self, word: &str) -> bool {
        let save = self.pos;
        match self.name() {
            Some((n, ..)) if n.eq_ignore_ascii_case(word) => true,
            _ => {
                self.pos = save;
                false
            }
        }
    }
    fn number(&mut self) -> Option<u64> {
        let rest = self.rest();
        let len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let n = rest[..len].parse().ok()?;
        self.pos += len;
        Some(n)
    }
}

/// The derived tags a template names, bound for one run: per tag, its
/// values and their rows (see [`Template::bind_tags`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BoundTags {
    tags: Vec<BoundTemplateTag>,
}

#[derive(Debug, Clone, PartialEq)]
struct BoundTemplateTag {
    name: String,
    is_bool: bool,
    values: Vec<(String, Expr)>,
}

impl Template {
    /// Checks the placeholders against `schema`: every field exists, a
    /// `{field}` is ENUM, SET, INT or TEXT, a `count` names an EVENT field,
    /// and a SENSITIVE field is used only with `allow_sensitive`. A derived
    /// tag is unknown here: see [`Template::check_with_tags`].
    pub fn check(
        &self,
        table: &str,
        schema: &Schema,
        allow_sensitive: bool,
    ) -> Result<(), TemplateError> {
        self.check_inner(table, schema, None, allow_sensitive)
    }

    /// [`Template::check`], a `{name}` that is no field of the table may
    /// also be a derived tag of the table in `catalog` (its definition must
    /// bind, and read no SENSITIVE field without `allow_sensitive`).
    pub fn check_with_tags(
        &self,
        table: &str,
        schema: &Schema,
        catalog: &dyn Catalog,
        allow_sensitive: bool,
    ) -> Result<(), TemplateError> {
        self.check_inner(table, schema, Some(catalog), allow_sensitive)
    }

    fn check_inner(
        &self,
        table: &str,
        schema: &Schema,
        catalog: Option<&dyn Catalog>,
        allow_sensitive: bool,
    ) -> Result<(), TemplateError> {
        for piece in &self.pieces {
            let (name, span) = match piece {
                Piece::Text(_) => continue,
                Piece::Field { name, span } => (name, *span),
                Piece::Count { event, span, .. } => (event, *span),
            };
            let tag = match (piece, catalog) {
                (Piece::Field { .. }, Some(c)) if schema.field(name).is_none() => {
                    c.tag(name).filter(|t| t.table == table).map(|_| c)
                }
                _ => None,
            };
            if let Some(catalog) = tag {
                check_tag(table, schema, name, span, catalog, allow_sensitive)?;
                continue;
            }
            // System fields (`#effects`) are no template's to show.
            let Some(def) = schema.user_field(name) else {
                let e = TemplateError::new(
                    format!("unknown field `{name}` in table `{table}`"),
                    span.0,
                    span.1,
                );
                let names = schema.user_fields().map(|f| f.name.as_str());
                return Err(match crate::validate::nearest(name, names) {
                    Some(n) => e.hint(format!("did you mean `{n}`?")),
                    None => e,
                });
            };
            match piece {
                Piece::Field { .. } => match def.kind {
                    FieldKind::Enum | FieldKind::Set | FieldKind::Int | FieldKind::Text => {}
                    FieldKind::Event => {
                        return Err(TemplateError::new(
                            format!("`{name}` is an EVENT field and has no single value"),
                            span.0,
                            span.1,
                        )
                        .hint(format!("write `{{count({name}, last 7 days)}}`")))
                    }
                    FieldKind::Bool => {
                        return Err(TemplateError::new(
                            format!(
                                "`{name}` is a BOOL field; placeholders take ENUM, SET, INT or TEXT fields"
                            ),
                            span.0,
                            span.1,
                        ))
                    }
                },
                Piece::Count { .. } if def.kind != FieldKind::Event => {
                    return Err(TemplateError::new(
                        format!(
                            "count(…) takes an EVENT field; `{name}` is {}",
                            def.kind.as_str()
                        ),
                        span.0,
                        span.1,
                    ))
                }
                _ => {}
            }
            if def.sensitive && !allow_sensitive {
                return Err(TemplateError::new(
                    format!("`{name}` is a SENSITIVE field"),
                    span.0,
                    span.1,
                )
                .hint("set \"allow_sensitive\": true on the campaign to put it in messages"));
            }
        }
        Ok(())
    }

    /// The days a profile must cover to render this template on `today`
    /// (`None` if it has no `count`).
    pub fn window(&self, today: Day) -> Option<DayRange> {
        let days = self
            .pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Count { days, .. } => Some(*days),
                _ => None,
            })
            .max()?;
        Some(DayRange {
            first: today - (days as Day - 1),
            last: today,
        })
    }

    /// The message for the row `profile` describes, on `today`. The
    /// profile must hold the template's fields, and EVENT counts for
    /// [`Template::window`].
    pub fn render(&self, profile: &Profile, today: Day) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Field { name, .. } => match value(profile, name) {
                    Some(ProfileValue::Enum(v)) | Some(ProfileValue::Text(v)) => out.push_str(v),
                    Some(ProfileValue::Set(vs)) => out.push_str(&vs.join(", ")),
                    Some(ProfileValue::Int(n)) => out.push_str(&n.to_string()),
                    Some(ProfileValue::Bool(b)) => out.push_str(if *b { "true" } else { "false" }),
                    Some(ProfileValue::Null) | Some(ProfileValue::Events(_)) | None => {}
                },
                Piece::Count { event, days, .. } => {
                    let first = today - (*days as Day - 1);
                    let total: u64 = match value(profile, event) {
                        Some(ProfileValue::Events(counts)) => counts
                            .iter()
                            .filter(|(d, _)| (first..=today).contains(d))
                            .map(|(_, c)| c)
                            .sum(),
                        _ => 0,
                    };
                    out.push_str(&total.to_string());
                }
            }
        }
        out
    }

    /// The derived tags of `table` in `catalog` this template names (a
    /// `{name}` that is no field of the table), each bound on `day`: what
    /// [`Template::render_rows_tagged`] renders them from. A definition
    /// that no longer binds is an error.
    pub fn bind_tags(
        &self,
        catalog: &dyn Catalog,
        table: &str,
        schema: &Schema,
        day: Day,
    ) -> Result<BoundTags, QueryError> {
        let mut tags: Vec<BoundTemplateTag> = Vec::new();
        for piece in &self.pieces {
            let Piece::Field { name, .. } = piece else {
                continue;
            };
            if schema.field(name).is_some()
                || tags.iter().any(|t| t.name == *name)
                || catalog.tag(name).is_none_or(|t| t.table != table)
            {
                continue;
            }
            let bound = bind_tag(name, catalog, day)?;
            tags.push(BoundTemplateTag {
                name: name.clone(),
                is_bool: bound.is_bool,
                values: bound.values,
            });
        }
        Ok(BoundTags { tags })
    }

    /// Reads row `row` of `table` and renders its message on `today`.
    pub fn render_row(&self, table: &Table, row: u32, today: Day) -> segdb_engine::Result<String> {
        let mut out = Vec::with_capacity(1);
        self.render_rows(table, &[row], today, |_, text| out.push(text))?;
        Ok(out.pop().unwrap_or_default())
    }

    /// [`Template::render_row`] for each of `rows` (fastest in increasing
    /// order), handing `f` each row and its message. Reads only the fields
    /// the template names, each through one [`segdb_engine::FieldReader`]
    /// (a part's bitmaps found once, not per row), and no external id.
    pub fn render_rows(
        &self,
        table: &Table,
        rows: &[u32],
        today: Day,
        f: impl FnMut(u32, String),
    ) -> segdb_engine::Result<()> {
        self.render_rows_tagged(table, rows, today, &BoundTags::default(), f)
    }

    /// [`Template::render_rows`] with the derived tags of `tags` filled in:
    /// each value's rows are evaluated once for the batch (within `rows`),
    /// and each row looks its value up. A tag not in `tags` renders as
    /// nothing, as a field the table lacks.
    pub fn render_rows_tagged(
        &self,
        table: &Table,
        rows: &[u32],
        today: Day,
        tags: &BoundTags,
        mut f: impl FnMut(u32, String),
    ) -> segdb_engine::Result<()> {
        let window = self.window(today).unwrap_or(DayRange {
            first: today,
            last: today,
        });
        let mut profile = Profile {
            row: 0,
            external_id: String::new(),
            fields: Vec::new(),
        };
        let mut readers = Vec::new();
        for piece in &self.pieces {
            let name = match piece {
                Piece::Text(_) => continue,
                Piece::Field { name, .. } => name,
                Piece::Count { event, .. } => event,
            };
            if profile.fields.iter().any(|(n, _)| n == name) {
                continue;
            }
            // A field the table lacks renders as nothing, as it is absent
            // from a profile.
            if let Some(fi) = table.schema().user_field_index(name) {
                readers.push(table.field_reader(fi, window)?);
                profile.fields.push((name.clone(), ProfileValue::Null));
            }
        }
        // Each tag's value per row of the batch: one evaluation per value,
        // restricted to the batch's rows.
        let batch = Expr::Rows(rows.to_vec());
        let mut tag_values: Vec<HashMap<u32, ProfileValue>> = Vec::new();
        for tag in &tags.tags {
            let mut of_row = HashMap::new();
            if !rows.is_empty() {
                for (value, expr) in &tag.values {
                    let v = if tag.is_bool {
                        ProfileValue::Bool(value == "true")
                    } else {
                        ProfileValue::Enum(value.clone())
                    };
                    for row in table.rows(&Expr::And(vec![batch.clone(), expr.clone()]))? {
                        of_row.entry(row).or_insert_with(|| v.clone());
                    }
                }
            }
            profile.fields.push((tag.name.clone(), ProfileValue::Null));
            tag_values.push(of_row);
        }
        let stored = readers.len();
        for &row in rows {
            profile.row = row;
            for (reader, (_, value)) in readers.iter_mut().zip(&mut profile.fields) {
                *value = reader.value(row)?;
            }
            for (of_row, (_, value)) in tag_values.iter().zip(&mut profile.fields[stored..]) {
                *value = of_row.get(&row).cloned().unwrap_or(ProfileValue::Null);
            }
            f(row, self.render(&profile, today));
        }
        Ok(())
    }
}

/// `{name}` for a derived tag of `table`: its definition binds, and reads
/// a SENSITIVE field only with `allow_sensitive`.
fn check_tag(
    table: &str,
    schema: &Schema,
    name: &str,
    span: (usize, usize),
    catalog: &dyn Catalog,
    allow_sensitive: bool,
) -> Result<(), TemplateError> {
    if let Err(e) = bind_tag(name, catalog, segdb_engine::date::today()) {
        return Err(
            TemplateError::new(format!("tag `{name}`: {}", e.message()), span.0, span.1).hint(
                format!("replace it: CREATE OR REPLACE TAG {name} ON … AS …"),
            ),
        );
    }
    if !allow_sensitive {
        let fields = crate::fields::tag_fields(table, name, catalog);
        if let Some(f) = fields
            .iter()
            .find(|f| schema.field(f).is_some_and(|d| d.sensitive))
        {
            return Err(TemplateError::new(
                format!("tag `{name}` reads the SENSITIVE field `{f}`"),
                span.0,
                span.1,
            )
            .hint("set \"allow_sensitive\": true on the campaign to put it in messages"));
        }
    }
    Ok(())
}

fn value<'p>(profile: &'p Profile, name: &str) -> Option<&'p ProfileValue> {
    profile
        .fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tag_tests;
#[cfg(test)]
mod tests;
