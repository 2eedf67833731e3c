//! External ids created by real-time writes since the last flush: the
//! applier's map (id -> row, shared with readers through a lock) and, per
//! published snapshot, the ids by row in immutable chunks.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Ids per chunk of [`LiveIds::chunks`].
pub(crate) const CHUNK: usize = 1024;

/// The id -> row map of the ids created since the last flush. Only
/// appended to; a snapshot ignores rows at or past its own row count.
#[derive(Debug, Default)]
pub(crate) struct IdMap {
    map: RwLock<HashMap<Box<str>, u32>>,
}

/// A snapshot's view of the ids created since the last flush: rows
/// `first_row..` in chunks of [`CHUNK`].
#[derive(Debug, Clone)]
pub(crate) struct LiveIds {
    pub(crate) first_row: u64,
    pub(crate) map: Arc<IdMap>,
    pub(crate) chunks: Vec<Arc<[Box<str>]>>,
}

impl LiveIds {
    /// The row of `id`, if it is one of these and below `num_rows`.
    pub(crate) fn row_of(&self, id: &str, num_rows: u64) -> Option<u32> {
        let map = self.map.map.read().unwrap_or_else(|e| e.into_inner());
        map.get(id).copied().filter(|&r| u64::from(r) < num_rows)
    }

    /// The id of `row`, if it is one of these.
    pub(crate) fn id_of(&self, row: u64) -> Option<&str> {
        let i = usize::try_from(row.checked_sub(self.first_row)?).ok()?;
        self.chunks.get(i / CHUNK)?.get(i % CHUNK).map(|s| &**s)
    }
}

/// The applier's side: the ids created since the last flush.
#[derive(Debug)]
pub(crate) struct NewIds {
    pub(crate) first_row: u64,
    pub(crate) map: Arc<IdMap>,
    sealed: Vec<Arc<[Box<str>]>>,
    current: Vec<Box<str>>,
    /// A private copy of the map for the applier's lookups (no lock).
    own: HashMap<Box<str>, u32>,
    pub(crate) bytes: u64,
}

impl NewIds {
    pub(crate) fn new(first_row: u64) -> NewIds {
        NewIds {
            first_row,
            map: Arc::default(),
            sealed: Vec::new(),
            current: Vec::new(),
            own: HashMap::new(),
            bytes: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.sealed.len() * CHUNK + self.current.len()
    }

    pub(crate) fn get(&self, id: &str) -> Option<u32> {
        self.own.get(id).copied()
    }

    /// Adds `id` as row `first_row + len`.
    pub(crate) fn push(&mut self, id: &str, row: u32) {
        debug_assert_eq!(u64::from(row), self.first_row + self.len() as u64);
        let boxed: Box<str> = id.into();
        self.own.insert(boxed.clone(), row);
        self.map
            .map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(boxed.clone(), row);
        self.current.push(boxed);
        self.bytes += 2 * (id.len() as u64 + 32);
        if self.current.len() == CHUNK {
            let full = std::mem::take(&mut self.current);
            self.sealed.push(full.into());
        }
    }

    /// The ids in row order.
    pub(crate) fn ids(&self) -> impl Iterator<Item = &str> {
        self.sealed
            .iter()
            .flat_map(|c| c.iter())
            .chain(self.current.iter())
            .map(|s| &**s)
    }

    /// A snapshot's view (`None` when there are no new ids).
    pub(crate) fn view(&self) -> Option<LiveIds> {
        if self.len() == 0 {
            return None;
        }
        let mut chunks = self.sealed.clone();
        if !self.current.is_empty() {
            chunks.push(self.current.clone().into());
        }
        Some(LiveIds {
            first_row: self.first_row,
            map: self.map.clone(),
            chunks,
        })
    }

    /// The ids from row `from` on, as a new set starting there (after a
    /// flush wrote the ones before it).
    pub(crate) fn split_from(&self, from: u64) -> NewIds {
        let mut out = NewIds::new(from);
        let skip = (from - self.first_row) as usize;
        for (i, id) in self.ids().enumerate().skip(skip) {
            out.push(id, (self.first_row + i as u64) as u32);
        }
        out
    }
}
