//! Checks a [`CampaignDef`] against the store: every field's rules, the
//! audience bound through query-lang, every template parsed and checked
//! against the table. The first problem is returned as a [`DefError`]
//! naming the field; nothing is changed.

use segdb_engine::date::Day;
use segdb_engine::{Expr, Store};

use crate::audience::bind_audience;
use crate::definition::{Audience, CampaignDef, Channel, Kind, Schedule, Split};
use crate::error::{CampaignError, DefError};
use crate::goal::{self, Goal};
use crate::template::{self, Template};
use crate::touches::{MAX_CAP, MAX_CAP_DAYS};

/// The largest hold-out share: half the audience.
pub const MAX_HOLDOUT: f64 = 0.5;

/// The most variants of one campaign.
pub const MAX_VARIANTS: usize = 100;

/// A definition that passed [`validate()`]: with its parsed templates (in
/// variant order) and bound audience.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The definition.
    pub def: CampaignDef,
    /// One template per variant.
    pub templates: Vec<Template>,
    /// The audience as an expression over the table, bound on the day of
    /// the check (a run binds it afresh).
    pub audience: Expr,
    /// The parsed goal, if the campaign has one.
    pub goal: Option<Goal>,
}

/// Checks `def` against `store` on `today`.
pub fn validate(store: &Store, def: &CampaignDef, today: Day) -> Result<Checked, CampaignError> {
    validate_among(store, def, today, None)
}

/// [`validate`], the audience bound among `groups`' campaigns, so that it
/// may be another campaign's group (`clicked(spring)`, `NOT sent(c)`):
/// what [`CampaignStore::create`](crate::CampaignStore::create) does.
pub fn validate_among(
    store: &Store,
    def: &CampaignDef,
    today: Day,
    groups: Option<&crate::audience::Groups<'_>>,
) -> Result<Checked, CampaignError> {
    if !valid_name(&def.name) {
        return Err(DefError::new(
            "name",
            format!("`{}` is not a valid campaign name", def.name),
        )
        .with_hint("letters, digits and `_`, not starting with a digit, at most 128 bytes")
        .into());
    }
    let table = store.table(&def.table).map_err(|_| {
        let names = store.table_names();
        let e = DefError::new("table", format!("unknown table `{}`", def.table));
        match nearest(&def.table, names.iter().map(String::as_str)) {
            Some(n) => e.with_hint(format!("did you mean `{n}`?")),
            None => e,
        }
    })?;
    check_numbers(def)?;
    check_channel(&def.channel)?;
    check_schedule(&def.schedule)?;
    if let Split::CopyRace(r) = &def.split {
        check_race(def, r)?;
    }
    let mut templates = Vec::with_capacity(def.variants.len());
    for (i, v) in def.variants.iter().enumerate() {
        let path = format!("variants[{i}].template");
        let t = template::parse(&v.template)
            .and_then(|t| {
                let catalog = crate::audience::StoreCatalog(store, groups);
                t.check_with_tags(&def.table, table.schema(), &catalog, def.allow_sensitive)?;
                Ok(t)
            })
            .map_err(|e| e.into_def_error(&path, &v.template))?;
        templates.push(t);
    }
    let goal = def
        .goal
        .as_deref()
        .map(|text| goal::check(text, &def.table, table.schema()))
        .transpose()?;
    if let Audience::Where(text) = &def.audience {
        if text.trim().is_empty() {
            return Err(DefError::new("audience.where", "the WHERE clause is empty")
                .with_hint("write a condition, e.g. \"city = 'c000'\"; every row is \"true\"")
                .into());
        }
    }
    let audience = bind_audience(store, &def.table, &def.audience, today, groups)?;
    if let Schedule::OnEvent(t) = &def.schedule {
        crate::trigger::check(store, def, t, table.schema(), today)?;
    }
    Ok(Checked {
        def: def.clone(),
        templates,
        audience,
        goal,
    })
}

/// A copy race: a test share strictly between 0 and 1 (to 1e-4), a
/// window of 1 minute to 7 days, at least two variants, and a goal for
/// the goal metric.
fn check_race(def: &CampaignDef, r: &crate::definition::CopyRace) -> Result<(), DefError> {
    if !(r.test_share >= crate::race::MIN_TEST_SHARE && r.test_share < 1.0) {
        return Err(DefError::new(
            "split.copy_race.test_share",
            format!(
                "the test share is a fraction above {} and below 1, not {}",
                crate::race::MIN_TEST_SHARE,
                r.test_share
            ),
        )
        .with_hint("0.1 races a tenth of the audience (after the hold-out)"));
    }
    if r.window_minutes == 0 || r.window_minutes > crate::race::MAX_WINDOW_MINUTES {
        return Err(DefError::new(
            "split.copy_race.window_minutes",
            format!(
                "the race window is 1 to {} minutes (7 days), not {}",
                crate::race::MAX_WINDOW_MINUTES,
                r.window_minutes
            ),
        ));
    }
    if def.variants.len() < 2 {
        return Err(DefError::new(
            "split",
            "a copy race needs at least two variants",
        ));
    }
    if r.metric == crate::definition::RaceMetric::Goal && def.goal.is_none() {
        return Err(DefError::new(
            "split.copy_race.metric",
            "the metric `goal` needs the campaign's goal",
        )
        .with_hint("add \"goal\": \"did(book, 7 days after send)\", or race on 'ctr'"));
    }
    Ok(())
}

fn check_numbers(def: &CampaignDef) -> Result<(), DefError> {
    if def.variants.is_empty() {
        return Err(DefError::new(
            "variants",
            "a campaign needs at least one variant",
        ));
    }
    if def.variants.len() > MAX_VARIANTS {
        return Err(DefError::new(
            "variants",
            format!(
                "at most {MAX_VARIANTS} variants, found {}",
                def.variants.len()
            ),
        ));
    }
    for (i, v) in def.variants.iter().enumerate() {
        if !valid_name(&v.name) {
            return Err(DefError::new(
                format!("variants[{i}].name"),
                format!("`{}` is not a valid variant name", v.name),
            )
            .with_hint("letters, digits and `_`, not starting with a digit, at most 128 bytes"));
        }
        if def.variants[..i].iter().any(|w| w.name == v.name) {
            return Err(DefError::new(
                format!("variants[{i}].name"),
                format!("variant `{}` is named twice", v.name),
            ));
        }
        if v.weight == 0 {
            return Err(DefError::new(
                format!("variants[{i}].weight"),
                "a weight is at least 1",
            ));
        }
    }
    let total: u64 = def.variants.iter().map(|v| u64::from(v.weight)).sum();
    if total > u64::from(u32::MAX) {
        return Err(DefError::new(
            "variants",
            format!("the weights add up to {total}; at most {}", u32::MAX),
        ));
    }
    if !(0.0..=MAX_HOLDOUT).contains(&def.holdout) {
        return Err(DefError::new(
            "holdout",
            format!(
                "the hold-out share is 0 to {MAX_HOLDOUT}, found {}",
                def.holdout
            ),
        )
        .with_hint("0.1 holds out a tenth of the audience"));
    }
    if let Some(cap) = def.cap {
        if def.kind == Kind::Transactional {
            return Err(DefError::new(
                "cap",
                "a transactional campaign is exempt from caps and takes none",
            )
            .with_hint("leave out \"cap\", or make the campaign \"marketing\""));
        }
        check_cap("cap", cap)?;
    }
    if def.rate_limit == Some(0) {
        return Err(DefError::new(
            "rate_limit",
            "a rate limit is at least 1 message per second",
        )
        .with_hint("leave it out for no limit"));
    }
    Ok(())
}

/// Checks a frequency cap's bounds (`path` names it in the error).
pub fn check_cap(path: &str, cap: crate::definition::Cap) -> Result<(), DefError> {
    if cap.max == 0 || cap.max > MAX_CAP {
        return Err(DefError::new(
            format!("{path}.max"),
            format!("a cap is 1 to {MAX_CAP} messages, found {}", cap.max),
        ));
    }
    if cap.days == 0 || cap.days > MAX_CAP_DAYS {
        return Err(DefError::new(
            format!("{path}.days"),
            format!(
                "a cap's window is 1 to {MAX_CAP_DAYS} days, found {}",
                cap.days
            ),
        ));
    }
    Ok(())
}

fn check_channel(channel: &Channel) -> Result<(), DefError> {
    match channel {
        Channel::Webhook(w) => {
            let rest = w
                .url
                .strip_prefix("http://")
                .or_else(|| w.url.strip_prefix("https://"));
            let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
            if host.is_none_or(|h| h.is_empty() || h.contains(char::is_whitespace)) {
                return Err(DefError::new(
                    "channel.webhook.url",
                    format!("`{}` is not an http:// or https:// URL with a host", w.url),
                ));
            }
            if !(1..=600_000).contains(&w.timeout_ms) {
                return Err(DefError::new(
                    "channel.webhook.timeout_ms",
                    format!("a timeout is 1 to 600000 ms, found {}", w.timeout_ms),
                ));
            }
            if w.max_retries > 20 {
                return Err(DefError::new(
                    "channel.webhook.max_retries",
                    format!("at most 20 retries, found {}", w.max_retries),
                ));
            }
            if !(1..=10_000).contains(&w.batch_size) {
                return Err(DefError::new(
                    "channel.webhook.batch_size",
                    format!("a batch is 1 to 10000 messages, found {}", w.batch_size),
                ));
            }
        }
        Channel::File(f) => {
            if !std::path::Path::new(&f.dir).is_absolute() {
                return Err(DefError::new(
                    "channel.file.dir",
                    format!("`{}` is not an absolute directory", f.dir),
                )
                .with_hint("write the full path, e.g. /var/lib/segdb/out"));
            }
        }
    }
    Ok(())
}

fn check_schedule(schedule: &Schedule) -> Result<(), DefError> {
    match schedule {
        Schedule::Now => Ok(()),
        Schedule::At(text) => parse_rfc3339(text).map(|_| ()).map_err(|(start, end)| {
            DefError::new("schedule.at", "not an RFC 3339 time")
                .at(text, start, end)
                .with_hint("write e.g. 2026-12-24T09:00:00Z")
        }),
        Schedule::Daily(text) => parse_hh_mm(text).map(|_| ()).ok_or_else(|| {
            DefError::new("schedule.daily", "not a time of day HH:MM (UTC)")
                .at(text, 0, text.len())
                .with_hint("write e.g. 09:30")
        }),
        // Checked against the table by `trigger::check`.
        Schedule::OnEvent(_) => Ok(()),
    }
}

pub use segdb_engine::date::{parse_hh_mm, parse_rfc3339};

/// Whether `name` is a valid campaign or variant name (the rules of
/// segment names): letters, digits and `_`, not starting with a digit, at
/// most 128 bytes.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

/// The name among `names` nearest to `name` (edit distance at most 2, or
/// a case-insensitive match), for "did you mean".
pub fn nearest<'n>(name: &str, names: impl Iterator<Item = &'n str>) -> Option<&'n str> {
    let limit = if name.len() <= 3 { 1 } else { 2 };
    names
        .map(|n| (distance(&name.to_lowercase(), &n.to_lowercase()), n))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests;
