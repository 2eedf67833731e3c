//! `CREATE CAMPAIGN` in the language -> the same [`CampaignDef`] that
//! `POST /v1/campaigns` reads from JSON, and the definition's errors back
//! to their place in the statement.
//!
//! [`definition`] reads the bound statement: each clause becomes its JSON
//! field (the audience's WHERE clause as written, so that its errors keep
//! their columns); a setting the channel does not have, a value of the
//! wrong type or out of range is refused here, at its place. The
//! definition is then validated by [`validate`](fn@crate::validate) like
//! one sent as JSON (the store's `create` does it), and [`locate`] turns a
//! [`DefError`] into a [`QueryError`] pointing into the statement: a
//! template's error at its column inside the string literal, an
//! audience's inside the WHERE clause, a time's inside its string. The
//! GOAL clause becomes the goal's canonical text, and a goal's error is
//! placed at the event's name or the number of days.

use segdb_query_lang::ast::{
    CampaignAudience, CreateCampaign, DurationLit, GoalClause, Literal, MessageKind,
    ScheduleClause, SettingValue, Settings, Span, Value,
};
use segdb_query_lang::{did_you_mean, BoundCampaign, ErrorKind, QueryError};

use crate::definition::{
    AndNot, Audience, CampaignDef, Cap, Channel, CopyRace, FileChannel, FileFormat, Kind,
    RaceMetric, Schedule, Split, Trigger, Variant, Webhook,
};
use crate::error::{CampaignError, DefError};

/// The definition `b` says. Errors are the statement's, placed in it.
pub fn definition(b: &BoundCampaign) -> Result<CampaignDef, QueryError> {
    let c = &b.stmt;
    let source: &str = &b.source;
    let err = |message: String, span: Span| {
        QueryError::new(
            ErrorKind::Campaign {
                code: "invalid_campaign",
                message,
            },
            span,
            source,
        )
    };
    let u32_of = |n: &segdb_query_lang::ast::IntLit, what: &str| {
        u32::try_from(n.value).map_err(|_| {
            err(
                format!("{what} is 0 to {}, found {}", u32::MAX, n.value),
                n.span,
            )
        })
    };
    let audience = match &c.audience {
        CampaignAudience::Where(e) => Audience::Where(
            source
                .get(e.span.start..e.span.end)
                .unwrap_or("")
                .to_owned(),
        ),
        CampaignAudience::Segment(s) => Audience::Segment(s.name.clone()),
    };
    let mut variants = Vec::with_capacity(c.variants.len());
    for v in &c.variants {
        variants.push(Variant {
            name: v.name.name.clone(),
            weight: u32_of(&v.weight, "a weight")?,
            template: v.template.text.clone(),
        });
    }
    let holdout = match &c.holdout {
        None => 0.0,
        Some(h) => h
            .text
            .parse::<f64>()
            .map_err(|_| err(format!("`{}` is not a number", h.text), h.span))?,
    };
    let cap = match &c.cap {
        None => None,
        Some(cap) => Some(Cap {
            max: u32_of(&cap.max, "a cap")?,
            days: u32_of(&cap.days, "a cap's window in days")?,
        }),
    };
    let priority = match &c.priority {
        None => 0,
        Some(p) => i32::try_from(p.value).map_err(|_| {
            err(
                format!(
                    "a priority is {} to {}, found {}",
                    i32::MIN,
                    i32::MAX,
                    p.value
                ),
                p.span,
            )
        })?,
    };
    let seconds = |d: &DurationLit, what: &str| {
        u32::try_from(d.n.value)
            .ok()
            .and_then(|n| n.checked_mul(d.unit_seconds))
            .ok_or_else(|| {
                err(
                    format!("{what} is too long ({} seconds at most)", u32::MAX),
                    d.span,
                )
            })
    };
    let schedule = match &c.schedule {
        ScheduleClause::Now(_) => Schedule::Now,
        ScheduleClause::At(t) => Schedule::At(t.text.clone()),
        ScheduleClause::Daily(t) => Schedule::Daily(t.text.clone()),
        ScheduleClause::OnEvent(t) => Schedule::OnEvent(Trigger {
            event: t.event.name.clone(),
            and_not: match &t.and_not {
                Some((b, d)) => Some(AndNot {
                    event: b.name.clone(),
                    within_seconds: seconds(d, "the window")?,
                }),
                None => None,
            },
            condition: t.condition.as_ref().map(|e| {
                source
                    .get(e.span.start..e.span.end)
                    .unwrap_or("")
                    .to_owned()
            }),
            reentry_seconds: match &t.reentry {
                Some(d) => seconds(d, "the re-entry interval")?,
                None => crate::definition::Trigger::DEFAULT_REENTRY_SECONDS,
            },
        }),
    };
    let rate_limit = match &c.rate {
        None => None,
        Some(r) => Some(u32_of(r, "a rate")?),
    };
    Ok(CampaignDef {
        name: c.name.name.clone(),
        table: c.table.name.clone(),
        audience,
        channel: channel(&c.channel, source)?,
        variants,
        holdout,
        split: match &c.split {
            None => Split::Weights,
            Some(s) => split(s, source)?,
        },
        cap,
        priority,
        kind: match c.kind {
            None | Some((MessageKind::Marketing, _)) => Kind::Marketing,
            Some((MessageKind::Transactional, _)) => Kind::Transactional,
        },
        schedule,
        approval_required: c.approval_required.is_some(),
        rate_limit,
        allow_sensitive: c.allow_sensitive.is_some(),
        goal: c.goal.as_ref().map(goal_text),
    })
}

/// The goal's text in the definition: canonical (`did(book, 7 days after
/// send)`), whatever the statement's case and spacing; [`place`] maps its
/// errors back to the clause.
fn goal_text(g: &GoalClause) -> String {
    format!("{}{}", goal_prefix(g), goal_rest(g))
}

/// `did(event`: the goal's text up to the end of the event's name.
fn goal_prefix(g: &GoalClause) -> String {
    format!("did({}", g.event)
}

/// The goal's text after the event's name.
fn goal_rest(g: &GoalClause) -> String {
    let unit = if g.days.value == 1 { "day" } else { "days" };
    format!(", {} {unit} after send)", g.days.value)
}

/// The settings of one kind (`webhook (url => …)`), read against the
/// names it may have: each known name at most once.
struct Reader<'a> {
    s: &'a Settings,
    source: &'a str,
    /// What the settings belong to, for errors: "channel `webhook`".
    owner: String,
}

impl<'a> Reader<'a> {
    /// Checks every setting's name against `known`.
    fn new(
        s: &'a Settings,
        source: &'a str,
        owner: String,
        known: &[&str],
    ) -> Result<Self, QueryError> {
        let r = Reader { s, source, owner };
        for (i, set) in s.settings.iter().enumerate() {
            let name = set.name.name.as_str();
            if !known.contains(&name) {
                let e = r.error(
                    format!(
                        "{} has no setting `{name}`; it has {}",
                        r.owner,
                        known.join(", ")
                    ),
                    set.name.span,
                );
                return Err(e.with_hint_opt(
                    did_you_mean(name, known.iter().copied())
                        .map(|k| format!("did you mean `{k}`?")),
                ));
            }
            if s.settings[..i].iter().any(|o| o.name.name == name) {
                return Err(r.error(format!("setting `{name}` is given twice"), set.name.span));
            }
        }
        Ok(r)
    }

    fn error(&self, message: String, span: Span) -> QueryError {
        QueryError::new(
            ErrorKind::Campaign {
                code: "invalid_campaign",
                message,
            },
            span,
            self.source,
        )
    }

    fn get(&self, name: &str) -> Option<&'a SettingValue> {
        self.s
            .settings
            .iter()
            .find(|s| s.name.name == name)
            .map(|s| &s.value)
    }

    fn literal(
        &self,
        name: &str,
        v: &'a SettingValue,
        want: &str,
    ) -> Result<&'a Literal, QueryError> {
        match v {
            SettingValue::Literal(l) => Ok(l),
            SettingValue::Number(n) => Err(self.error(format!("`{name}` is {want}"), n.span)),
        }
    }

    fn string(&self, name: &str) -> Result<Option<String>, QueryError> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        match &self.literal(name, v, "a string")?.value {
            Value::Str(s) => Ok(Some(s.clone())),
            _ => Err(self.error(format!("`{name}` is a string, in single quotes"), v.span())),
        }
    }

    fn required_string(&self, name: &str, example: &str) -> Result<String, QueryError> {
        self.string(name)?.ok_or_else(|| {
            self.error(format!("{} needs `{name}`", self.owner), self.s.kind.span)
                .with_hint(format!("write {} ({name} => {example})", self.s.kind))
        })
    }

    fn u32(&self, name: &str) -> Result<Option<u32>, QueryError> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        match &self.literal(name, v, "a whole number")?.value {
            Value::Int(n) => u32::try_from(*n).map(Some).map_err(|_| {
                self.error(
                    format!("`{name}` is 0 to {}, found {n}", u32::MAX),
                    v.span(),
                )
            }),
            _ => Err(self.error(format!("`{name}` is a whole number"), v.span())),
        }
    }
}

fn channel(s: &Settings, source: &str) -> Result<Channel, QueryError> {
    let owner = format!("channel `{}`", s.kind.name);
    match s.kind.name.as_str() {
        "webhook" => {
            let known = ["url", "timeout_ms", "max_retries", "batch_size"];
            let r = Reader::new(s, source, owner, &known)?;
            // The JSON's defaults, by reading an object with the URL alone.
            let url = r.required_string("url", "'http://127.0.0.1:9000/hook'")?;
            let defaults: Webhook = serde_json::from_value(serde_json::json!({ "url": url }))
                .map_err(|e| r.error(e.to_string(), s.kind.span))?;
            Ok(Channel::Webhook(Webhook {
                url,
                timeout_ms: r.u32("timeout_ms")?.unwrap_or(defaults.timeout_ms),
                max_retries: r.u32("max_retries")?.unwrap_or(defaults.max_retries),
                batch_size: r.u32("batch_size")?.unwrap_or(defaults.batch_size),
            }))
        }
        "file" => {
            let r = Reader::new(s, source, owner, &["dir", "format"])?;
            let dir = r.required_string("dir", "'/var/lib/segdb/out'")?;
            let text = r.required_string("format", "'jsonl'")?;
            let format = match text.as_str() {
                "jsonl" => FileFormat::Jsonl,
                "csv" => FileFormat::Csv,
                other => {
                    let span = r.get("format").map_or(s.kind.span, SettingValue::span);
                    return Err(r
                        .error(
                            format!("`{other}` is not a file format: 'jsonl' or 'csv'"),
                            span,
                        )
                        .with_hint_opt(
                            did_you_mean(other, ["jsonl", "csv"])
                                .map(|k| format!("did you mean '{k}'?")),
                        ));
                }
            };
            Ok(Channel::File(FileChannel { dir, format }))
        }
        other => Err(QueryError::new(
            ErrorKind::Campaign {
                code: "invalid_campaign",
                message: format!("no channel `{other}`: webhook or file"),
            },
            s.kind.span,
            source,
        )
        .with_hint_opt(
            did_you_mean(other, ["webhook", "file"]).map(|k| format!("did you mean `{k}`?")),
        )),
    }
}

fn split(s: &Settings, source: &str) -> Result<Split, QueryError> {
    let owner = format!("split `{}`", s.kind.name);
    match s.kind.name.as_str() {
        "weights" => {
            Reader::new(s, source, owner, &[])?;
            Ok(Split::Weights)
        }
        "copy_race" => {
            let known = ["test_share", "window_minutes", "metric", "min_deliveries"];
            let r = Reader::new(s, source, owner, &known)?;
            let test_share = match r.get("test_share") {
                Some(SettingValue::Number(n)) => n.text.parse::<f64>().unwrap_or(f64::NAN),
                Some(SettingValue::Literal(Literal {
                    value: Value::Int(n),
                    ..
                })) => *n as f64,
                Some(v) => return Err(r.error("`test_share` is a number".into(), v.span())),
                None => return Err(r.error(format!("{} needs `test_share`", r.owner), s.kind.span)),
            };
            let window_minutes = r.u32("window_minutes")?.ok_or_else(|| {
                r.error(format!("{} needs `window_minutes`", r.owner), s.kind.span)
            })?;
            let metric = match r.string("metric")?.as_deref() {
                None | Some("ctr") => RaceMetric::Ctr,
                Some("goal") => RaceMetric::Goal,
                Some(other) => {
                    let span = r.get("metric").map_or(s.kind.span, SettingValue::span);
                    return Err(
                        r.error(format!("`{other}` is not a metric: 'ctr' or 'goal'"), span)
                    );
                }
            };
            Ok(Split::CopyRace(CopyRace {
                test_share,
                window_minutes,
                metric,
                min_deliveries: r.u32("min_deliveries")?.unwrap_or(0),
            }))
        }
        other => Err(QueryError::new(
            ErrorKind::Campaign {
                code: "invalid_campaign",
                message: format!("no split `{other}`: weights or copy_race"),
            },
            s.kind.span,
            source,
        )
        .with_hint_opt(
            did_you_mean(other, ["weights", "copy_race"]).map(|k| format!("did you mean `{k}`?")),
        )),
    }
}

/// A campaign error about the definition `b` says, placed in the
/// statement: a [`CampaignError::Invalid`] becomes a [`QueryError`] at the
/// clause (or inside the string) at fault; any other error is handed back
/// as it is.
pub fn locate(e: CampaignError, b: &BoundCampaign) -> Result<QueryError, CampaignError> {
    let CampaignError::Invalid(d) = e else {
        return Err(e);
    };
    let span = place(&d, &b.stmt, &b.source);
    let mut q = QueryError::new(
        ErrorKind::Campaign {
            code: d.code,
            message: d.message.clone(),
        },
        span,
        &b.source,
    );
    if let Some(h) = &d.hint {
        q = q.with_hint(h.clone());
    }
    Ok(q)
}

/// Where in the statement the field at `d.path` is written (and inside it,
/// `d.at`).
fn place(d: &DefError, c: &CreateCampaign, source: &str) -> Span {
    let inside = |lit: Span| match &d.at {
        Some(at) => Span::new(
            string_offset(source, lit, at.start),
            string_offset(source, lit, at.end),
        ),
        None => lit,
    };
    let path = d.path.as_str();
    if let Some(rest) = path.strip_prefix("variants[") {
        let i: Option<usize> = rest.split(']').next().and_then(|n| n.parse().ok());
        if let Some(v) = i.and_then(|i| c.variants.get(i)) {
            return match rest.split("].").nth(1) {
                Some("weight") => v.weight.span,
                Some("template") => inside(v.template.span),
                _ => v.name.span,
            };
        }
    }
    if let Some(setting) = path.strip_prefix("channel.") {
        let key = setting.rsplit('.').next().unwrap_or("");
        return c
            .channel
            .settings
            .iter()
            .find(|s| s.name.name == key)
            .map_or(c.channel.kind.span, |s| s.value.span());
    }
    match path {
        "table" => c.table.span,
        "audience.where" | "audience" | "audience.segment" => match &c.audience {
            CampaignAudience::Where(e) => match &d.at {
                // The definition's text is the statement's slice at the
                // expression.
                Some(at) => Span::new(e.span.start + at.start, e.span.start + at.end),
                None => e.span,
            },
            CampaignAudience::Segment(s) => s.span,
        },
        "variants" => c.variants.first().map_or(c.name.span, |v| v.name.span),
        "holdout" => c.holdout.as_ref().map_or(c.name.span, |h| h.span),
        "split" => c.split.as_ref().map_or(c.name.span, |s| s.kind.span),
        "cap" => c.cap.as_ref().map_or(c.name.span, |cap| cap.max.span),
        "cap.max" => c.cap.as_ref().map_or(c.name.span, |cap| cap.max.span),
        "cap.days" => c.cap.as_ref().map_or(c.name.span, |cap| cap.days.span),
        "priority" => c.priority.map_or(c.name.span, |p| p.span),
        "kind" => c.kind.map_or(c.name.span, |(_, s)| s),
        "rate_limit" => c.rate.map_or(c.name.span, |r| r.span),
        "schedule" | "schedule.at" | "schedule.daily" => match &c.schedule {
            ScheduleClause::Now(s) => *s,
            ScheduleClause::At(t) | ScheduleClause::Daily(t) => inside(t.span),
            ScheduleClause::OnEvent(t) => t.event.span,
        },
        p if p.starts_with("schedule.on_event") => match &c.schedule {
            ScheduleClause::OnEvent(t) => match p {
                "schedule.on_event.and_not.event" => {
                    t.and_not.as_ref().map_or(t.event.span, |(b, _)| b.span)
                }
                "schedule.on_event.and_not.within_seconds" => {
                    t.and_not.as_ref().map_or(t.event.span, |(_, d)| d.span)
                }
                "schedule.on_event.reentry_seconds" => t.reentry.map_or(t.event.span, |d| d.span),
                "schedule.on_event.where" => match (&t.condition, &d.at) {
                    (Some(e), Some(at)) => {
                        Span::new(e.span.start + at.start, e.span.start + at.end)
                    }
                    (Some(e), None) => e.span,
                    (None, _) => t.event.span,
                },
                _ => t.event.span,
            },
            _ => c.schedule.span(),
        },
        "approval_required" => c.approval_required.unwrap_or(c.name.span),
        "allow_sensitive" => c.allow_sensitive.unwrap_or(c.name.span),
        // The definition's goal is written canonically: an error in the
        // event's name (its first part) is at the name, any other (the
        // number of days) at the number.
        "goal" => match &c.goal {
            Some(g) => match &d.at {
                Some(at) if at.start < goal_prefix(g).len() => g.event.span,
                Some(_) => g.days.span,
                None => g.span,
            },
            None => c.name.span,
        },
        _ => c.name.span,
    }
}

/// The offset in `source` of byte `at` of the string written at `lit`
/// (quotes included; a `'` inside is written `''`).
fn string_offset(source: &str, lit: Span, at: usize) -> usize {
    let Some(body) = source.get(lit.start + 1..lit.end.saturating_sub(1)) else {
        return lit.start;
    };
    let mut read = 0;
    let mut chars = body.char_indices().peekable();
    while let Some((i, ch)) = chars.next() {
        if read >= at {
            return lit.start + 1 + i;
        }
        if ch == '\'' {
            chars.next();
        }
        read += ch.len_utf8();
    }
    lit.start + 1 + body.len()
}

#[cfg(test)]
mod tests;
