//! The delivery log: a WAL (`DATA/campaigns.d/wal/`) with one record per
//! completed batch, written with the storage format's [`WalWriter`]
//! (fsynced before [`DeliveryLog::record`] returns).
//!
//! A record's payload (little-endian):
//!
//! ```text
//! u8   tag: 1 a batch, 2 a run flushed
//! batch:   u64 campaign id, u32 run, u32 variant,
//!          u8 outcome (0 sent, 1 failed), u16 status, u32 n, n bytes of the response,
//!          u8 touched (1: a marketing send, i32 day follows), [i32 day],
//!          u64 m, m bytes: the batch's rows as a portable Roaring bitmap
//! flushed: u64 campaign id, u32 run
//! ```
//!
//! Replay rebuilds per run `sent`, `failed`, the failed batches and the
//! touches per day. A run's checkpoint ([`DeliveryLog::checkpoint`], when
//! its delivery is complete or it is cancelled) folds its touches into the
//! day's touch files (once: the file records, per run, the last log
//! record folded into it), writes `sent.roar`, `failed.roar` and `failures.camp` into the
//! run's directory, then logs "flushed"; segments holding only flushed
//! runs' records are removed. A run's state is its files and the records
//! since.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use roaring::RoaringBitmap;
use segdb_engine::date::Day;
use segdb_storage_format::wal::{
    self, replay, RealFs, ReplayOptions, ReplaySummary, SyncPolicy, WalFs, WalOptions, WalWriter,
};
use serde::{Deserialize, Serialize};

use crate::checked::corrupt;
use crate::definition::Kind;
use crate::error::CampaignError;
use crate::store::{Campaign, CampaignStore, CAMPAIGNS_DIR};

const TAG_BATCH: u8 = 1;
const TAG_FLUSHED: u8 = 2;

/// A batch the receiver refused for good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedBatch {
    /// The variant's index.
    pub variant: u32,
    /// The HTTP status.
    pub status: u16,
    /// The response's first bytes.
    pub body: String,
    /// How many users it held.
    pub rows: u64,
}

/// What a run's delivery has recorded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunDelivery {
    /// Users delivered to.
    pub sent: RoaringBitmap,
    /// Users whose batch was refused.
    pub failed: RoaringBitmap,
    /// The refused batches, in order.
    pub failures: Vec<FailedBatch>,
    /// Marketing touches per day, not yet folded into the touch files.
    pub touches: BTreeMap<Day, RoaringBitmap>,
}

/// One completed batch, as logged.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRecord {
    /// The campaign's id.
    pub campaign: u64,
    /// The run.
    pub run: u32,
    /// The variant's index.
    pub variant: u32,
    /// `None`: sent; else the status and the response's first bytes.
    pub failed: Option<(u16, String)>,
    /// The day of a marketing send's touches (`None`: transactional, or
    /// failed).
    pub touch_day: Option<Day>,
    /// The batch's rows.
    pub rows: RoaringBitmap,
}

/// Per day, each sent record's sequence number and rows.
type TouchRecords = BTreeMap<Day, Vec<(u64, RoaringBitmap)>>;

#[derive(Debug, Default)]
struct LogState {
    /// Runs with records not flushed: their state, and their first
    /// record's sequence number.
    runs: HashMap<(u64, u32), (RunDelivery, u64)>,
    /// Per run with records not flushed, their payload bytes.
    bytes: HashMap<(u64, u32), u64>,
    /// Per run with records not flushed, per day, each sent record's
    /// sequence number and rows (a checkpoint folds those a touch file
    /// has not folded yet).
    touch_records: HashMap<(u64, u32), TouchRecords>,
}

/// The campaigns' delivery log.
#[derive(Debug)]
pub struct DeliveryLog {
    wal: WalWriter,
    dir: PathBuf,
    state: Mutex<LogState>,
    checkpoint_bytes: u64,
}

/// A run is checkpointed in the middle of its delivery once its records
/// since its last checkpoint reach this many bytes (by default).
pub const CHECKPOINT_BYTES: u64 = 16 << 20;

impl DeliveryLog {
    /// Opens (creating) the delivery log of the store in `store_dir`,
    /// replaying it. A torn last record is cut; other damage is an error
    /// naming the file.
    pub fn open(store_dir: &Path) -> Result<DeliveryLog, CampaignError> {
        DeliveryLog::open_with(store_dir, Arc::new(RealFs))
    }

    /// [`DeliveryLog::open`] through `fs` (tests inject faults).
    pub fn open_with(store_dir: &Path, fs: Arc<dyn WalFs>) -> Result<DeliveryLog, CampaignError> {
        let dir = store_dir.join(CAMPAIGNS_DIR).join("wal");
        fs.create_dir_all(&dir)
            .map_err(|e| segdb_storage_format::FormatError::io("create", &dir, e))?;
        let mut state = LogState::default();
        let options = ReplayOptions {
            truncate_at_corruption: false,
            fs: fs.clone(),
        };
        replay::<CampaignError, _>(&dir, 0, &options, |seq, payload| {
            apply(&mut state, seq, payload)
                .map_err(|what| corrupt(&dir, format!("record {seq}: {what}")))
        })?;
        let wal = WalWriter::open(
            &dir,
            WalOptions {
                sync: SyncPolicy::Always,
                segment_bytes: 8 << 20,
                start_seq: 1,
                fs,
            },
        )?;
        Ok(DeliveryLog {
            wal,
            dir,
            state: Mutex::new(state),
            checkpoint_bytes: CHECKPOINT_BYTES,
        })
    }

    /// The same, checkpointing a run in the middle of its delivery once its
    /// records since the last checkpoint reach `bytes` (tests use 1: after
    /// every batch).
    pub fn with_checkpoint_bytes(mut self, bytes: u64) -> DeliveryLog {
        self.checkpoint_bytes = bytes.max(1);
        self
    }

    /// Whether run `run` of campaign `id` has reached the checkpoint
    /// threshold ([`DeliveryLog::with_checkpoint_bytes`]).
    pub fn wants_checkpoint(&self, id: u64, run: u32) -> bool {
        self.lock().bytes.get(&(id, run)).copied().unwrap_or(0) >= self.checkpoint_bytes
    }

    fn lock(&self) -> MutexGuard<'_, LogState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Makes one completed batch durable, then part of its run's state.
    /// An error means it may or may not be in the log (the log then
    /// refuses every later record): the run stops, and a restart replays
    /// what is there.
    pub fn record(&self, r: &BatchRecord) -> Result<(), CampaignError> {
        let payload = encode_batch(r);
        let seq = self.wal.append(&payload)?;
        let mut state = self.lock();
        apply(&mut state, seq, &payload)
            .map_err(|what| corrupt(&self.dir, format!("record {seq}: {what}")))
    }

    /// What run `run` of campaign `c` has recorded: its checkpointed
    /// delivery (if any) and the log's records since.
    pub fn progress(
        &self,
        campaigns: &CampaignStore,
        c: &Campaign,
        run: u32,
    ) -> Result<RunDelivery, CampaignError> {
        let mut out = campaigns.load_delivered(c.id, run)?.unwrap_or_default();
        if let Some((d, _)) = self.lock().runs.get(&(c.id, run)) {
            out.sent |= &d.sent;
            out.failed |= &d.failed;
            out.failures.extend(d.failures.iter().cloned());
            out.touches = d.touches.clone();
        }
        Ok(out)
    }

    /// The touches recorded and not yet folded into the touch files of
    /// campaign `id`'s runs (so a run starting now can count them).
    pub fn pending_touches(&self, id: u64) -> BTreeMap<Day, RoaringBitmap> {
        let mut out: BTreeMap<Day, RoaringBitmap> = BTreeMap::new();
        for ((c, _), (d, _)) in &self.lock().runs {
            if *c == id {
                for (day, rows) in &d.touches {
                    *out.entry(*day).or_default() |= rows;
                }
            }
        }
        out
    }

    /// Checkpoints run `run` of `c`: when its delivery is complete, or
    /// when it is cancelled (so its touches count and its records stop
    /// holding segments). Its marketing touches since the last checkpoint
    /// are folded into the touch files (once), `sent.roar`, `failed.roar`
    /// and `failures.camp` written into its directory (what the earlier
    /// checkpoint held and the records since), a "flushed" record logged,
    /// and the segments no unflushed run needs removed. A crash anywhere
    /// in it leaves the log's records, and the next checkpoint does it
    /// again without counting a touch twice.
    pub fn checkpoint(
        &self,
        campaigns: &CampaignStore,
        c: &Campaign,
        run: u32,
    ) -> Result<(), CampaignError> {
        if !self.lock().runs.contains_key(&(c.id, run)) {
            return Ok(());
        }
        let d = self.progress(campaigns, c, run)?;
        if c.def.kind == Kind::Marketing {
            let records = self
                .lock()
                .touch_records
                .get(&(c.id, run))
                .cloned()
                .unwrap_or_default();
            for (day, records) in &records {
                campaigns.fold_run_touches(&c.def.table, c.id, run, *day, records)?;
            }
        }
        campaigns.write_delivered(c.id, run, &d)?;
        let mut payload = vec![TAG_FLUSHED];
        payload.extend_from_slice(&c.id.to_le_bytes());
        payload.extend_from_slice(&run.to_le_bytes());
        let seq = self.wal.append(&payload)?;
        let oldest = {
            let mut state = self.lock();
            apply(&mut state, seq, &payload)
                .map_err(|what| corrupt(&self.dir, format!("record {seq}: {what}")))?;
            state.runs.values().map(|(_, first)| *first).min()
        };
        self.wal.remove_before(oldest.unwrap_or(seq + 1))?;
        Ok(())
    }

    /// The log's live segment files, oldest first.
    pub fn segments(&self) -> Vec<PathBuf> {
        self.wal.segments()
    }
}

/// What [`verify`] found in a delivery log that is not damaged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogCheck {
    /// Its segment files.
    pub files: u64,
    /// Its records, and a torn last record (the next open cuts it, as
    /// after any crash), if any.
    pub summary: ReplaySummary,
}

/// Checks every record of the delivery log of the store in `store_dir`
/// against its checksums and sequence, writing nothing: what `segdb
/// check` runs. `None` if the store has no delivery log; damage is
/// [`CampaignError::Storage`] with a `Corrupt` error naming the segment
/// and the offset.
pub fn verify(store_dir: &Path) -> Result<Option<LogCheck>, CampaignError> {
    let dir = store_dir.join(CAMPAIGNS_DIR).join("wal");
    if !dir.is_dir() {
        return Ok(None);
    }
    let files = std::fs::read_dir(&dir)
        .map_err(|e| segdb_storage_format::FormatError::io("read", &dir, e))?
        .count() as u64;
    let summary = wal::verify(&dir, 0)?;
    Ok(Some(LogCheck { files, summary }))
}

fn encode_batch(r: &BatchRecord) -> Vec<u8> {
    let mut p = Vec::with_capacity(64 + r.rows.serialized_size());
    p.push(TAG_BATCH);
    p.extend_from_slice(&r.campaign.to_le_bytes());
    p.extend_from_slice(&r.run.to_le_bytes());
    p.extend_from_slice(&r.variant.to_le_bytes());
    let (outcome, status, body) = match &r.failed {
        None => (0u8, 0u16, ""),
        Some((s, b)) => (1, *s, b.as_str()),
    };
    p.push(outcome);
    p.extend_from_slice(&status.to_le_bytes());
    p.extend_from_slice(&(body.len() as u32).to_le_bytes());
    p.extend_from_slice(body.as_bytes());
    match r.touch_day {
        Some(day) => {
            p.push(1);
            p.extend_from_slice(&day.to_le_bytes());
        }
        None => p.push(0),
    }
    p.extend_from_slice(&(r.rows.serialized_size() as u64).to_le_bytes());
    r.rows
        .serialize_into(&mut p)
        .expect("serializing into a Vec does not fail");
    p
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("the record ends early".into());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }
}

/// Decodes a record and applies it to the state.
fn apply(state: &mut LogState, seq: u64, payload: &[u8]) -> Result<(), String> {
    let mut c = Cursor(payload);
    let tag = c.arr::<1>()?[0];
    let campaign = u64::from_le_bytes(c.arr()?);
    let run = u32::from_le_bytes(c.arr()?);
    match tag {
        TAG_FLUSHED => {
            if !c.0.is_empty() {
                return Err("bytes after the record".into());
            }
            state.runs.remove(&(campaign, run));
            state.bytes.remove(&(campaign, run));
            state.touch_records.remove(&(campaign, run));
            Ok(())
        }
        TAG_BATCH => {
            let variant = u32::from_le_bytes(c.arr()?);
            let outcome = c.arr::<1>()?[0];
            let status = u16::from_le_bytes(c.arr()?);
            let n = u32::from_le_bytes(c.arr()?) as usize;
            let body = std::str::from_utf8(c.take(n)?)
                .map_err(|_| "a response that is not UTF-8".to_owned())?
                .to_owned();
            let touch_day = match c.arr::<1>()?[0] {
                0 => None,
                1 => Some(Day::from_le_bytes(c.arr()?)),
                t => return Err(format!("bad touch flag {t}")),
            };
            let m = u64::from_le_bytes(c.arr()?) as usize;
            let bytes = c.take(m)?;
            if !c.0.is_empty() {
                return Err("bytes after the record".into());
            }
            let rows = RoaringBitmap::deserialize_from(bytes)
                .map_err(|e| format!("rows are not a Roaring bitmap: {e}"))?;
            let (d, _) = state
                .runs
                .entry((campaign, run))
                .or_insert_with(|| (RunDelivery::default(), seq));
            *state.bytes.entry((campaign, run)).or_default() += payload.len() as u64;
            match outcome {
                0 => {
                    d.sent |= &rows;
                    if let Some(day) = touch_day {
                        *d.touches.entry(day).or_default() |= &rows;
                        state
                            .touch_records
                            .entry((campaign, run))
                            .or_default()
                            .entry(day)
                            .or_default()
                            .push((seq, rows.clone()));
                    }
                }
                1 => {
                    d.failed |= &rows;
                    d.failures.push(FailedBatch {
                        variant,
                        status,
                        body,
                        rows: rows.len(),
                    });
                }
                o => return Err(format!("bad outcome {o}")),
            }
            Ok(())
        }
        t => Err(format!("unknown record tag {t}")),
    }
}

#[cfg(test)]
mod tests;
