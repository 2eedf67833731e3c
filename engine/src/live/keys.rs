//! Idempotency keys: a retried batch with the same key (per table, within
//! the window) is acknowledged again without being applied. Keys survive a
//! restart: a flush writes the remembered ones to `IDEMPOTENCY` (before the
//! manifest that moves the flushed sequence number past their batches),
//! and recovery adds the keys of the batches it replays.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{IngestAck, LiveOptions};
use crate::error::{EngineError, Result};

/// The file of remembered keys in a store directory.
pub const KEYS_FILE: &str = "IDEMPOTENCY";

#[derive(Debug, Clone, Copy)]
enum State {
    /// The batch is being made durable and applied.
    InFlight,
    Done {
        hash: u64,
        ack: IngestAck,
        at_ms: u64,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    table: String,
    key: String,
    hash: u64,
    operations: u64,
    seq: u64,
    at_ms: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Keys {
    map: HashMap<(String, String), State>,
    /// Done keys in the order they were remembered.
    order: VecDeque<((String, String), u64)>,
    window_ms: u64,
    max: usize,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as u64
}

impl Keys {
    fn with_options(options: &LiveOptions) -> Keys {
        Keys {
            window_ms: options.idempotency_window.as_millis() as u64,
            max: options.idempotency_max_keys.max(1),
            ..Keys::default()
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    fn evict(&mut self) {
        let now = now_ms();
        while let Some((k, at)) = self.order.front() {
            if self.order.len() <= self.max && now.saturating_sub(*at) <= self.window_ms {
                break;
            }
            // Only forget the key if this entry is still its latest.
            if matches!(self.map.get(k), Some(State::Done { at_ms, .. }) if at_ms == at) {
                self.map.remove(k);
            }
            self.order.pop_front();
        }
    }

    /// Before a batch with `key` is applied: `Some(ack)` if it was already
    /// (a retry), an error if the key is in use by another batch.
    pub(crate) fn begin(&mut self, table: &str, key: &str, hash: u64) -> Result<Option<IngestAck>> {
        self.evict();
        let k = (table.to_owned(), key.to_owned());
        match self.map.get(&k) {
            Some(State::Done { hash: h, ack, .. }) if *h == hash => Ok(Some(IngestAck {
                duplicate: true,
                ..*ack
            })),
            Some(State::Done { .. }) => Err(EngineError::IdempotencyConflict(format!(
                "Idempotency-Key `{key}` was used for another batch of table `{table}`"
            ))),
            Some(State::InFlight) => Err(EngineError::IdempotencyConflict(format!(
                "a batch with Idempotency-Key `{key}` is being applied; retry when it is answered"
            ))),
            None => {
                self.map.insert(k, State::InFlight);
                Ok(None)
            }
        }
    }

    /// After a batch that failed: its key is forgotten unless the batch was
    /// applied (its outcome is unknown; if it reached the WAL, a restart
    /// replays it and remembers the key). An applied batch's key was
    /// remembered when it was applied.
    pub(crate) fn forget_failed(&mut self, table: &str, key: &str) {
        let k = (table.to_owned(), key.to_owned());
        if let Some(State::InFlight) = self.map.get(&k) {
            self.map.remove(&k);
        }
    }

    /// Remembers the key of a batch being applied (live or replayed).
    pub(crate) fn remember(&mut self, table: &str, key: &str, hash: u64, ack: IngestAck) {
        self.remember_at((table.to_owned(), key.to_owned()), hash, ack, now_ms());
    }

    fn remember_at(&mut self, k: (String, String), hash: u64, ack: IngestAck, at_ms: u64) {
        self.map.insert(k.clone(), State::Done { hash, ack, at_ms });
        self.order.push_back((k, at_ms));
        self.evict();
    }

    /// Writes the remembered keys (atomically) to the store's key file.
    pub(crate) fn save(&self, fs: &dyn segdb_storage_format::wal::WalFs, dir: &Path) -> Result<()> {
        let mut out = Vec::new();
        for (k, at) in &self.order {
            if let Some(State::Done { hash, ack, at_ms }) = self.map.get(k) {
                if at_ms != at {
                    continue;
                }
                let s = Saved {
                    table: k.0.clone(),
                    key: k.1.clone(),
                    hash: *hash,
                    operations: ack.operations,
                    seq: ack.seq,
                    at_ms: *at_ms,
                };
                serde_json::to_writer(&mut out, &s)
                    .map_err(|e| EngineError::Internal(format!("encoding a key: {e}")))?;
                out.push(b'\n');
            }
        }
        segdb_storage_format::fsutil::replace_file_with(fs, &dir.join(KEYS_FILE), &out)?;
        Ok(())
    }

    /// The keys saved in `dir` (none if there is no file yet).
    pub(crate) fn load(dir: &Path, options: &LiveOptions) -> Result<Keys> {
        let mut keys = Keys::with_options(options);
        let path = dir.join(KEYS_FILE);
        if !path.exists() {
            return Ok(keys);
        }
        let bytes = segdb_storage_format::fsutil::read_file(&path)?;
        for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            let s: Saved = serde_json::from_slice(line).map_err(|e| {
                segdb_storage_format::FormatError::corrupt(
                    &path,
                    0,
                    format!("line {}: not a saved idempotency key: {e}", i + 1),
                )
            })?;
            let ack = IngestAck {
                operations: s.operations,
                seq: s.seq,
                duplicate: false,
            };
            keys.remember_at((s.table, s.key), s.hash, ack, s.at_ms);
        }
        Ok(keys)
    }
}
