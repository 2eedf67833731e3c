//! A campaign's effects (`delivered`, `opened`, `clicked`, `converted`,
//! `unsubscribed`, `uninstalled`), reported by the delivery system as JSON
//! lines and kept in the campaign's table:
//!
//! - the users of run `r` who had effect `e` hold the value `{id}/{r}/{e}`
//!   of the system SET field `#effects` (so `clicked(spring)` is a SET
//!   lookup, and "who clicked" is a segment at once);
//! - every effect, repeats included, is counted in the tally
//!   `{id}/{r}/v{variant}/{e}` on its day; an effect for a user the
//!   campaign never sent to (or an id the table does not have) in the
//!   tally `{id}/unattributed/{e}`.
//!
//! Both are one engine write ([`segdb_engine::Store::write_tallied`]):
//! durable before the answer, all or nothing, idempotent by key.
//!
//! An effect belongs to the run named by its line's `run`, else to the
//! most recent run that sent to the user and started no later than its
//! time `at`; it is unattributed if the user was not sent in that run.

use std::collections::BTreeMap;

use roaring::RoaringBitmap;
use segdb_engine::date::Day;
use segdb_engine::write::{TalliedWrite, ValueAdd};
use segdb_engine::{Table, Tally};
use serde::Deserialize;

pub use segdb_query_lang::effects::{effect_value, Effect, EFFECTS_FIELD};

use crate::deliver::DeliveryLog;
use crate::error::CampaignError;
use crate::store::{Campaign, CampaignStore};
use crate::validate::parse_rfc3339;

/// One effect as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectLine {
    /// The user's external id.
    pub id: String,
    /// What happened.
    pub effect: Effect,
    /// When, in seconds since 1970-01-01 UTC.
    pub at: i64,
    /// The run it answers, if the reporter knows it.
    pub run: Option<u32>,
}

/// A line that is not an effect: its 1-based number and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// The line's number (1-based).
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLine {
    id: String,
    effect: String,
    at: String,
    #[serde(default)]
    run: Option<u32>,
}

/// Reads JSON lines `{"id": "u1", "effect": "clicked", "at":
/// "2026-12-03T10:00:00Z"}` (and an optional `"run": n`); blank lines are
/// skipped. The first bad line is the error.
pub fn parse_lines(text: &str) -> Result<Vec<EffectLine>, LineError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let err = |message: String| LineError {
            line: line_no,
            message,
        };
        if line.trim().is_empty() {
            continue;
        }
        let raw: RawLine = serde_json::from_str(line).map_err(|e| {
            err(format!(
                "{e}; a line is {{\"id\": \"u1\", \"effect\": \"clicked\", \"at\": \"2026-12-03T10:00:00Z\"}}"
            ))
        })?;
        if raw.id.is_empty() {
            return Err(err("`id` is empty".into()));
        }
        let effect = Effect::parse(&raw.effect).ok_or_else(|| {
            let names: Vec<&str> = Effect::ALL.iter().map(|e| e.as_str()).collect();
            err(format!(
                "unknown effect `{}`; the effects are {}",
                cut(&raw.effect),
                names.join(", ")
            ))
        })?;
        let at = parse_rfc3339(&raw.at).map_err(|(s, _)| {
            err(format!(
                "`at` must be an RFC 3339 time such as 2026-12-03T10:00:00Z (bad at character {})",
                s + 1
            ))
        })?;
        out.push(EffectLine {
            id: raw.id,
            effect,
            at,
            run: raw.run,
        });
    }
    Ok(out)
}

/// A time as `YYYY-MM-DDTHH:MM:SSZ`.
fn time_text(at: i64) -> String {
    let s = at.rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        segdb_engine::date::format_iso_day(day_of(at)),
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// At most 40 characters of a client's text, for an error message.
fn cut(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// What attribution reads of one run.
#[derive(Debug, Clone)]
pub struct RunGroups {
    /// The run's number.
    pub number: u32,
    /// When it started, in seconds since 1970-01-01 UTC.
    pub started_at: i64,
    /// The users it sent to (so far).
    pub sent: RoaringBitmap,
    /// The users assigned to each variant, in definition order.
    pub variants: Vec<RoaringBitmap>,
}

/// The tally of a run's variant's effect.
pub fn tally_key(campaign: u64, run: u32, variant: usize, effect: Effect) -> String {
    format!("{campaign}/{run}/v{variant}/{}", effect.as_str())
}

/// The tally of a campaign's unattributed effects.
pub fn unattributed_key(campaign: u64, effect: Effect) -> String {
    format!("{campaign}/unattributed/{}", effect.as_str())
}

/// A batch of effects turned into the engine's write.
#[derive(Debug, Clone)]
pub struct Intake {
    /// The write (values to rows, tallies).
    pub write: TalliedWrite,
    /// Effects attributed to a run.
    pub attributed: u64,
    /// Effects counted apart.
    pub unattributed: u64,
}

/// The day of a time.
pub fn day_of(at: i64) -> Day {
    at.div_euclid(86_400) as Day
}

/// Attributes `lines` to the runs of the campaign with id `campaign`
/// (`runs` oldest first) over its table `table`. A line naming a run the
/// campaign does not have is an error.
pub fn attribute(
    table: &Table,
    campaign: u64,
    runs: &[RunGroups],
    lines: &[EffectLine],
    idempotency_key: Option<String>,
) -> Result<Result<Intake, LineError>, CampaignError> {
    let mut adds: BTreeMap<(u32, Effect), Vec<u32>> = BTreeMap::new();
    let mut tallies: BTreeMap<(String, Day), u64> = BTreeMap::new();
    let (mut attributed, mut unattributed) = (0u64, 0u64);
    for (i, l) in lines.iter().enumerate() {
        let row = table.row_of(&l.id)?;
        let run = match l.run {
            Some(n) => match runs.iter().find(|r| r.number == n) {
                Some(r) => row.filter(|&x| r.sent.contains(x)).map(|x| (r, x)),
                None => {
                    let have: Vec<String> = runs.iter().map(|r| r.number.to_string()).collect();
                    return Ok(Err(LineError {
                        line: i + 1,
                        message: if have.is_empty() {
                            format!("the campaign has no run {n} (it has not run yet)")
                        } else {
                            format!(
                                "the campaign has no run {n}; its runs are {}",
                                have.join(", ")
                            )
                        },
                    }));
                }
            },
            None => row.and_then(|x| {
                runs.iter()
                    .rev()
                    .find(|r| r.started_at <= l.at && r.sent.contains(x))
                    .map(|r| (r, x))
            }),
        };
        let day = day_of(l.at);
        let variant = run.and_then(|(r, x)| {
            r.variants
                .iter()
                .position(|v| v.contains(x))
                .map(|v| (r, x, v))
        });
        match variant {
            Some((r, x, v)) => {
                attributed += 1;
                adds.entry((r.number, l.effect)).or_default().push(x);
                *tallies
                    .entry((tally_key(campaign, r.number, v, l.effect), day))
                    .or_default() += 1;
            }
            None => {
                unattributed += 1;
                *tallies
                    .entry((unattributed_key(campaign, l.effect), day))
                    .or_default() += 1;
            }
        }
    }
    let write = TalliedWrite {
        adds: adds
            .into_iter()
            .map(|((run, effect), mut rows)| {
                rows.sort_unstable();
                rows.dedup();
                ValueAdd {
                    field: EFFECTS_FIELD.to_owned(),
                    value: effect_value(campaign, run, effect),
                    rows,
                }
            })
            .collect(),
        tallies: tallies
            .into_iter()
            .map(|((key, day), count)| Tally { key, day, count })
            .collect(),
        idempotency_key,
    };
    Ok(Ok(Intake {
        write,
        attributed,
        unattributed,
    }))
}

/// What an intake did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakeAnswer {
    /// Effect lines read.
    pub received: u64,
    /// Attributed to a run.
    pub attributed: u64,
    /// Counted apart.
    pub unattributed: u64,
    /// A retry of a batch already written (nothing was counted again).
    pub duplicate: bool,
    /// The engine's sequence number of the write (0: nothing to write).
    pub seq: u64,
}

/// Why an intake wrote nothing.
#[derive(Debug)]
pub enum IntakeError {
    /// A line that is not an effect (or names a run the campaign lacks).
    Line(LineError),
    /// No such campaign, damage, a store error.
    Campaign(CampaignError),
}

impl From<CampaignError> for IntakeError {
    fn from(e: CampaignError) -> IntakeError {
        IntakeError::Campaign(e)
    }
}

impl From<segdb_engine::EngineError> for IntakeError {
    fn from(e: segdb_engine::EngineError) -> IntakeError {
        IntakeError::Campaign(e.into())
    }
}

impl CampaignStore {
    /// What attribution reads of each run of `c`, oldest first: its
    /// variants' users and the users it sent to (with `log`, every batch
    /// recorded; without, as of its last checkpoint).
    pub fn run_groups(
        &self,
        c: &Campaign,
        log: Option<&DeliveryLog>,
    ) -> Result<Vec<RunGroups>, CampaignError> {
        let mut out = Vec::with_capacity(c.runs.len());
        for r in &c.runs {
            let frozen = self.load_run_of(c, r.number)?;
            let sent = match log {
                Some(log) => log.progress(self, c, r.number)?.sent,
                None => {
                    self.load_delivered(c.id, r.number)?
                        .unwrap_or_default()
                        .sent
                }
            };
            out.push(RunGroups {
                number: r.number,
                started_at: r.started_at,
                sent,
                variants: frozen.variants,
            });
        }
        Ok(out)
    }
}

/// How far an effect's time may lie before the campaign's creation or
/// after now (clocks differ): a day, in seconds.
pub const AT_SLACK: i64 = 86_400;

/// Takes a batch of effect lines for campaign `name` at `now` (seconds
/// since 1970-01-01 UTC): parsed (the first bad line refuses the batch;
/// so does a time more than [`AT_SLACK`] before the campaign was created
/// or after `now`, which bounds the days a campaign's tallies span),
/// attributed, and written to the campaign's table as one durable,
/// idempotent engine write (the key is the client's `Idempotency-Key`,
/// kept apart from other writes' keys).
pub fn intake(
    store: &segdb_engine::Store,
    campaigns: &CampaignStore,
    log: Option<&DeliveryLog>,
    name: &str,
    text: &str,
    key: Option<&str>,
    now: i64,
) -> Result<IntakeAnswer, IntakeError> {
    let c = campaigns.get(name)?;
    let lines = parse_lines(text).map_err(IntakeError::Line)?;
    let (first, last) = (c.created_at - AT_SLACK, now + AT_SLACK);
    if let Some(i) = lines.iter().position(|l| l.at < first || l.at > last) {
        // Line numbers count blank lines: find the line's own number.
        let line = text
            .lines()
            .enumerate()
            .filter(|(_, t)| !t.trim().is_empty())
            .nth(i)
            .map_or(i + 1, |(n, _)| n + 1);
        return Err(IntakeError::Line(LineError {
            line,
            message: format!(
                "`at` is {}, outside the campaign's time: from a day before it was created ({}) to a day after now ({})",
                time_text(lines[i].at),
                time_text(c.created_at),
                time_text(now)
            ),
        }));
    }
    let runs = campaigns.run_groups(&c, log)?;
    let table = store.table(&c.def.table)?;
    let key = key.map(|k| format!("effects/{}/{k}", c.id));
    let intake = attribute(&table, c.id, &runs, &lines, key)?.map_err(IntakeError::Line)?;
    drop(table);
    if !intake.write.adds.is_empty() {
        store.ensure_system_field(&c.def.table, EFFECTS_FIELD, segdb_engine::FieldKind::Set)?;
    }
    let ack = store.write_tallied(&c.def.table, &intake.write)?;
    Ok(IntakeAnswer {
        received: lines.len() as u64,
        attributed: intake.attributed,
        unattributed: intake.unattributed,
        duplicate: ack.duplicate,
        seq: ack.seq,
    })
}

#[cfg(test)]
mod tests;
