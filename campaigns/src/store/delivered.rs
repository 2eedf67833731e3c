//! A run's delivery, checkpointed from the delivery log into its
//! directory (`sent.roar`, `failed.roar`, `failures.camp`), and its
//! touches folded into the day's touch file once.

use roaring::RoaringBitmap;
use segdb_engine::date::Day;

use super::CampaignStore;
use crate::checked::{self, FileKind};
use crate::deliver::RunDelivery;
use crate::error::CampaignError;

impl CampaignStore {
    /// Writes a run's delivered state into its directory (each file
    /// replaced atomically; `sent.roar` last, so its presence means the
    /// others are there).
    pub(crate) fn write_delivered(
        &self,
        id: u64,
        run: u32,
        d: &RunDelivery,
    ) -> Result<(), CampaignError> {
        let dir = self.run_dir(id, run);
        let fs = &*self.fs;
        let json = serde_json::to_vec(&d.failures).map_err(|e| {
            segdb_engine::EngineError::Internal(format!("failed batches to JSON: {e}"))
        })?;
        checked::write(fs, &dir.join("failures.camp"), FileKind::Failures, &json)?;
        checked::write_bitmap(fs, &dir.join("failed.roar"), &d.failed)?;
        checked::write_bitmap(fs, &dir.join("sent.roar"), &d.sent)
    }

    /// A run's delivered state from its directory (`None` if it was never
    /// checkpointed). Damage is an error naming the file.
    pub fn load_delivered(&self, id: u64, run: u32) -> Result<Option<RunDelivery>, CampaignError> {
        let dir = self.run_dir(id, run);
        let sent = dir.join("sent.roar");
        if !sent.exists() {
            return Ok(None);
        }
        let path = dir.join("failures.camp");
        let failures = serde_json::from_slice(&checked::read(&path, FileKind::Failures)?)
            .map_err(|e| checked::corrupt(&path, format!("not a list of failed batches: {e}")))?;
        Ok(Some(RunDelivery {
            sent: checked::read_bitmap(&sent)?,
            failed: checked::read_bitmap(&dir.join("failed.roar"))?,
            failures,
            touches: Default::default(),
        }))
    }

    /// Folds the touches of `day` of run `run`'s delivery records (each:
    /// its sequence number in the delivery log and its rows) into
    /// `table`'s touch file of that day: only the records above the
    /// highest that file has folded for the run (see
    /// [`CampaignStore::add_touches`]). Returns whether it added any.
    pub(crate) fn fold_run_touches(
        &self,
        table: &str,
        id: u64,
        run: u32,
        day: Day,
        records: &[(u64, RoaringBitmap)],
    ) -> Result<bool, CampaignError> {
        self.add_touches(table, id, day, records, Some(run))
    }
}
