//! The rows of one group of a run, for the language's campaign predicates
//! (`in_campaign(c)`, `in_variant(c, 'a')`, `in_holdout(c)`, `sent(c)`).

use roaring::RoaringBitmap;
use segdb_query_lang::ast::CampaignGroup;

use super::{Campaign, CampaignStore};
use crate::deliver::DeliveryLog;
use crate::error::CampaignError;

impl CampaignStore {
    /// The rows of `group` of run `run` of campaign `name` (`variant`: the
    /// variant's index, for [`CampaignGroup::Variant`]). The frozen groups
    /// are read from the run's bitmaps (checked as
    /// [`CampaignStore::load_run`] does); `sent` is the run's delivery as
    /// of now: its checkpoint and, with `log`, the batches the delivery
    /// log holds since (without, the checkpoint alone). Nothing is cached:
    /// every call reads the current state.
    pub fn group_rows(
        &self,
        name: &str,
        run: u32,
        group: CampaignGroup,
        variant: Option<usize>,
        log: Option<&DeliveryLog>,
    ) -> Result<RoaringBitmap, CampaignError> {
        let c = self.get(name)?;
        self.group_rows_of(&c, run, group, variant, log)
    }

    /// [`CampaignStore::group_rows`] of a campaign as the caller holds it
    /// (a run's start binds audiences while it holds the catalog: it
    /// passes the campaigns as they stand there).
    pub fn group_rows_of(
        &self,
        c: &Campaign,
        run: u32,
        group: CampaignGroup,
        variant: Option<usize>,
        log: Option<&DeliveryLog>,
    ) -> Result<RoaringBitmap, CampaignError> {
        let name = &c.def.name;
        if !c.runs.iter().any(|r| r.number == run) {
            return Err(CampaignError::NotFound(format!("{name} run {run}")));
        }
        Ok(match group {
            CampaignGroup::Audience => self.load_run_of(c, run)?.audience,
            CampaignGroup::Holdout => self.load_run_of(c, run)?.holdout,
            CampaignGroup::Variant => {
                let i = variant.unwrap_or(usize::MAX);
                let mut variants = self.load_run_of(c, run)?.variants;
                if i >= variants.len() {
                    return Err(CampaignError::NotFound(format!(
                        "{name} run {run} variant {i}"
                    )));
                }
                variants.swap_remove(i)
            }
            CampaignGroup::Sent => match log {
                Some(log) => log.progress(self, c, run)?.sent,
                None => self.load_delivered(c.id, run)?.unwrap_or_default().sent,
            },
            CampaignGroup::Effect(e) => {
                // The binder reads effects from the table's effects field.
                return Err(CampaignError::Engine(segdb_engine::EngineError::Internal(
                    format!(
                        "{}({name}) is read from the table, not the campaign's files",
                        e.as_str()
                    ),
                )));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::{Actor, CampaignDef, Role};
    use crate::deliver::log::BatchRecord;
    use crate::lifecycle::Action;
    use crate::testutil::{self, NOW};

    #[test]
    fn groups_read_the_run_and_sent_counts_the_log_before_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let s = testutil::store(dir.path(), 60);
        let c = CampaignStore::open(dir.path()).unwrap();
        let def: CampaignDef = serde_json::from_value(serde_json::json!({
            "name": "spring", "table": "users",
            "audience": {"where": "city = 'c0'"},
            "channel": {"file": {"dir": "/tmp/segdb-out", "format": "jsonl"}},
            "variants": [
                {"name": "a", "weight": 1, "template": "Hi"},
                {"name": "b", "weight": 1, "template": "Hello"}
            ],
            "holdout": 0.25,
            "schedule": "now"
        }))
        .unwrap();
        let ann = Actor::new("ann", Role::Write);
        c.create(&s, def, &ann, NOW).unwrap();
        c.act("spring", Action::Start, &ann, NOW).unwrap();
        let sched = Actor::new("scheduler", Role::Admin);
        c.start_runs(&s, &["spring"], &sched, NOW).unwrap();
        let run = c.load_run("spring", 1).unwrap();
        let rows = |g, v| c.group_rows("spring", 1, g, v, None).unwrap();
        assert_eq!(rows(CampaignGroup::Audience, None), run.audience);
        assert_eq!(run.audience.len(), 20);
        assert_eq!(rows(CampaignGroup::Holdout, None), run.holdout);
        assert_eq!(rows(CampaignGroup::Variant, Some(1)), run.variants[1]);
        assert!(rows(CampaignGroup::Sent, None).is_empty());
        assert!(matches!(
            c.group_rows("spring", 1, CampaignGroup::Variant, Some(2), None),
            Err(CampaignError::NotFound(_))
        ));
        assert!(matches!(
            c.group_rows("spring", 2, CampaignGroup::Audience, None, None),
            Err(CampaignError::NotFound(_))
        ));
        // A batch in the log, not checkpointed: `sent` sees it with the
        // log, and only after the checkpoint without.
        let log = DeliveryLog::open(dir.path()).unwrap();
        let batch: RoaringBitmap = run.variants[0].iter().take(3).collect();
        log.record(&BatchRecord {
            campaign: 1,
            run: 1,
            variant: 0,
            failed: None,
            touch_day: None,
            rows: batch.clone(),
        })
        .unwrap();
        let sent = |log| c.group_rows("spring", 1, CampaignGroup::Sent, None, log);
        assert_eq!(sent(Some(&log)).unwrap(), batch);
        assert!(sent(None).unwrap().is_empty());
        log.checkpoint(&c, &c.get("spring").unwrap(), 1).unwrap();
        assert_eq!(sent(None).unwrap(), batch);
        assert_eq!(sent(Some(&log)).unwrap(), batch);
    }
}
