//! The run executor: [`deliver`] sends what a run has left, batch by
//! batch, and records each batch in the delivery log as it completes.

use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use roaring::RoaringBitmap;
use segdb_engine::{Store, Table};

use super::log::BatchRecord;
use super::{
    idempotency_key, message_id, Batch, Control, Counters, DeliveryLog, Message, Outcome, Sink,
    TokenBucket, VariantInfo,
};
use crate::definition::{Channel, Kind};
use crate::error::CampaignError;
use crate::store::{day_of, CampaignStore};
use crate::template::{self, Template};

/// One variant's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantReport {
    /// Its name.
    pub name: String,
    /// Users assigned to it at the run's start.
    pub assigned: u64,
    /// Recorded sent.
    pub sent: u64,
    /// Recorded failed.
    pub failed: u64,
}

/// What [`deliver`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Per variant, in variant order.
    pub variants: Vec<VariantReport>,
    /// Every user of the run is recorded (sent or failed) and the run is
    /// checkpointed: the caller ends the run (`finish_run`). `false`: it
    /// was stopped, and calling [`deliver`] again resumes it.
    pub complete: bool,
    /// A copy race's test share is delivered and the race not decided:
    /// the window's end (seconds since 1970-01-01 UTC). Once
    /// [`CampaignStore::decide_race`] has decided it, calling [`deliver`]
    /// again sends the rest the winner.
    pub awaiting_race: Option<i64>,
}

/// Delivers run `run` of campaign `name` through `sink`: for each variant,
/// its users not yet recorded sent or failed, in row order, in batches of
/// the channel's size (the webhook's `batch_size`, or
/// [`super::file::FILE_BATCH`]), at most the campaign's `rate_limit`
/// messages per second. Each message is its template rendered on the run's
/// day, to the user's external id, with its [`message_id`]. A batch is
/// logged once the channel is done with it (sent, or refused for good),
/// with its marketing touches of today. Stops before the next batch when
/// `control` is stopped (`complete: false`; call again to resume); a
/// channel that stays unavailable is [`CampaignError::Unavailable`], and
/// the run resumes from that batch. When every user is recorded, the run
/// is checkpointed ([`DeliveryLog::checkpoint`]), and in the middle too,
/// once its records since the last checkpoint reach the log's threshold.
#[allow(clippy::too_many_arguments)]
pub fn deliver(
    store: &Store,
    campaigns: &CampaignStore,
    log: &DeliveryLog,
    name: &str,
    run: u32,
    sink: &mut dyn Sink,
    control: &Control,
    counters: &Counters,
) -> Result<Report, CampaignError> {
    let c = campaigns.get(name)?;
    let record = c
        .runs
        .iter()
        .find(|r| r.number == run)
        .cloned()
        .ok_or_else(|| CampaignError::NotFound(format!("{name} run {run}")))?;
    let frozen = campaigns.load_run(name, run)?;
    let table = store.table(&c.def.table)?;
    let templates = c
        .def
        .variants
        .iter()
        .map(|v| template::parse(&v.template))
        .collect::<Result<Vec<Template>, _>>()
        .map_err(|e| {
            CampaignError::Engine(segdb_engine::EngineError::Internal(format!(
                "a stored template does not parse: {e:?}"
            )))
        })?;
    // The derived tags the templates name, bound on the run's day (among
    // the campaigns, so a tag may use a campaign's groups).
    let all = campaigns.list();
    let groups = crate::audience::Groups {
        store: campaigns,
        campaigns: &all,
        log: Some(log),
    };
    let catalog = crate::audience::StoreCatalog(store, Some(&groups));
    let tags = templates
        .iter()
        .map(|t| t.bind_tags(&catalog, &c.def.table, table.schema(), record.day))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            CampaignError::Engine(segdb_engine::EngineError::InvalidArgument(format!(
                "a template's tag: {}",
                e.message()
            )))
        })?;
    let batch_size = match &c.def.channel {
        Channel::Webhook(w) => w.batch_size.max(1),
        Channel::File(_) => super::file::FILE_BATCH,
    } as usize;
    let mut bucket = c.def.rate_limit.map(TokenBucket::new);
    let started = Instant::now();
    let mut done = log.progress(campaigns, &c, run)?;
    let mut complete = true;
    for (i, assigned) in frozen.variants.iter().enumerate() {
        let info = VariantInfo {
            campaign: c.def.name.clone(),
            run,
            variant: c.def.variants[i].name.clone(),
        };
        let render = |rows: &[u32]| -> Result<Batch, CampaignError> {
            render_batch(
                &table,
                (&templates[i], &tags[i]),
                c.id,
                &info,
                i,
                record.day,
                rows,
            )
        };
        if control.is_stopped() {
            complete = false;
            break;
        }
        if sink.start_variant(&info)? {
            let again = assigned & &done.sent;
            for rows in chunks(&again, batch_size) {
                sink.resend(&render(&rows)?)?;
            }
        }
        let left = assigned - &done.sent - &done.failed;
        let mut stopped = false;
        for rows in chunks(&left, batch_size) {
            if control.is_stopped() {
                stopped = true;
                break;
            }
            if let Some(b) = bucket.as_mut() {
                let wait = b.take(rows.len() as u32, started.elapsed());
                if control.wait(wait) {
                    stopped = true;
                    break;
                }
            }
            let batch = render(&rows)?;
            let mut bits = RoaringBitmap::from_sorted_iter(rows.iter().copied())
                .expect("rows of a bitmap are sorted");
            // Consecutive rows (one variant, no hold-out) log as runs.
            bits.optimize();
            let failed = match sink.send(&batch) {
                Outcome::Sent => None,
                Outcome::Rejected { status, body } => Some((status, body)),
                Outcome::Stopped => {
                    stopped = true;
                    break;
                }
                Outcome::Unavailable(why) => return Err(CampaignError::Unavailable(why)),
            };
            let touch_day = (failed.is_none() && c.def.kind == Kind::Marketing).then(today);
            log.record(&BatchRecord {
                campaign: c.id,
                run,
                variant: i as u32,
                failed: failed.clone(),
                touch_day,
                rows: bits.clone(),
            })?;
            if failed.is_some() {
                counters.failed.fetch_add(bits.len(), Ordering::Relaxed);
                done.failed |= bits;
            } else {
                counters.sent.fetch_add(bits.len(), Ordering::Relaxed);
                done.sent |= bits;
            }
            if log.wants_checkpoint(c.id, run) {
                log.checkpoint(campaigns, &c, run)?;
            }
        }
        if stopped {
            complete = false;
            break;
        }
        sink.finish_variant(&info)?;
    }
    let awaiting_race = record
        .race
        .as_ref()
        .filter(|r| complete && r.decision.is_none())
        .map(|r| r.deadline);
    if complete && awaiting_race.is_some() {
        // The test share is recorded; the rest waits for the decision.
        log.checkpoint(campaigns, &c, run)?;
        complete = false;
        tracing::info!(campaign = %name, run, sent = done.sent.len(), "copy race: the test share is delivered");
    } else if complete {
        log.checkpoint(campaigns, &c, run)?;
        // A trigger's run is complete again after each fire; its fires
        // count what they cap.
        if !matches!(c.def.schedule, crate::definition::Schedule::OnEvent(_)) {
            counters.capped.fetch_add(record.capped, Ordering::Relaxed);
        }
        tracing::info!(campaign = %name, run, sent = done.sent.len(), failed = done.failed.len(), "campaign run delivered");
    } else {
        tracing::info!(campaign = %name, run, sent = done.sent.len(), "campaign delivery stopped");
    }
    let variants = frozen
        .variants
        .iter()
        .zip(&c.def.variants)
        .map(|(v, def)| VariantReport {
            name: def.name.clone(),
            assigned: v.len(),
            sent: v.intersection_len(&done.sent),
            failed: v.intersection_len(&done.failed),
        })
        .collect();
    Ok(Report {
        variants,
        complete,
        awaiting_race,
    })
}

/// Today (UTC), the day a send's touch counts on.
fn today() -> segdb_engine::date::Day {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    day_of(now)
}

/// `rows` in row order, `n` at a time.
fn chunks(rows: &RoaringBitmap, n: usize) -> impl Iterator<Item = Vec<u32>> + '_ {
    let mut it = rows.iter();
    std::iter::from_fn(move || {
        let chunk: Vec<u32> = it.by_ref().take(n).collect();
        (!chunk.is_empty()).then_some(chunk)
    })
}

/// The messages of `rows` (in row order).
fn render_batch(
    table: &Table,
    (template, tags): (&Template, &template::BoundTags),
    campaign_id: u64,
    info: &VariantInfo,
    variant: usize,
    day: segdb_engine::date::Day,
    rows: &[u32],
) -> Result<Batch, CampaignError> {
    // The external ids in one pass over the dictionary (batched lookups),
    // not one lookup per row.
    let mut ids: Vec<String> = Vec::with_capacity(rows.len());
    table.for_each_external_id(rows, |_, id| {
        ids.push(String::from_utf8_lossy(id).into_owned());
        true
    })?;
    if ids.len() != rows.len() {
        return Err(CampaignError::Engine(segdb_engine::EngineError::Internal(
            format!("{} external ids for {} rows", ids.len(), rows.len()),
        )));
    }
    let mut messages = Vec::with_capacity(rows.len());
    let mut ids = ids.into_iter();
    template.render_rows_tagged(table, rows, day, tags, |row, text| {
        messages.push(Message {
            row,
            message_id: message_id(campaign_id, info.run, row),
            user_id: ids.next().unwrap_or_default(),
            text,
        });
    })?;
    Ok(Batch {
        campaign: info.campaign.clone(),
        run: info.run,
        variant: info.variant.clone(),
        key: idempotency_key(campaign_id, info.run, variant, rows[0]),
        messages,
    })
}
