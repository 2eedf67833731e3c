//! Rows of cached expressions, per table snapshot: what makes a derived
//! tag's values (`Expr::Cached`) cost one evaluation per snapshot and day
//! rather than one per statement.
//!
//! A snapshot never changes, so the rows of an expression over it never
//! change either: the key is the expression itself (its days are absolute,
//! so the statement's day is part of it), and a write publishes a new
//! snapshot with an empty cache, so no answer is ever stale. Expressions
//! reading anything kept outside the snapshot (a campaign's groups, which
//! grow with deliveries; a snapshot segment, which a `CREATE OR REPLACE`
//! swaps) are not cached. Rows are kept as the dense chunks the evaluator
//! works in (8 KiB per 65,536 rows with any row in it), so reading them
//! back is a copy per chunk, however dense the value. Memory is bounded:
//! at most [`MAX_CACHED_BYTES`] per snapshot, the least recently used
//! dropped first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use segdb_storage_format::dense::Words;

use crate::expr::Expr;

/// The most bytes of cached chunks one table snapshot keeps.
pub const MAX_CACHED_BYTES: usize = 256 << 20;

/// The rows of a cached expression: its non-empty chunks by (shard,
/// chunk key), and how many rows they hold.
#[derive(Debug, Default)]
pub(crate) struct DenseRows {
    pub(crate) chunks: rustc_hash::FxHashMap<(u32, u16), Box<Words>>,
    pub(crate) rows: u64,
}

impl DenseRows {
    fn bytes(&self) -> usize {
        self.chunks.len() * std::mem::size_of::<Words>()
    }
}

/// The cache of one table snapshot.
#[derive(Debug, Default)]
pub(crate) struct ExprCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Key -> (rows, last use).
    entries: HashMap<String, (Arc<DenseRows>, u64)>,
    bytes: usize,
    clock: u64,
    hits: u64,
    misses: u64,
}

/// What a snapshot's cache holds and has done (for tests and EXPLAIN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExprCacheStats {
    /// Expressions cached.
    pub entries: usize,
    /// Bytes of chunks cached.
    pub bytes: usize,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that evaluated the expression.
    pub misses: u64,
}

/// The cache key of `e`, or `None` if its rows may change while the
/// snapshot does not.
pub(crate) fn key(e: &Expr) -> Option<String> {
    fn cacheable(e: &Expr) -> bool {
        match e {
            Expr::RowSet(_) | Expr::Snapshot(_) | Expr::Evaluated(_) => false,
            Expr::And(xs) | Expr::Or(xs) => xs.iter().all(cacheable),
            Expr::Not(x) | Expr::Cached(x) => cacheable(x),
            _ => true,
        }
    }
    cacheable(e).then(|| format!("{e:?}"))
}

impl ExprCache {
    /// The cached rows of `key`, if any.
    pub(crate) fn get(&self, key: &str) -> Option<Arc<DenseRows>> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.clock += 1;
        let now = g.clock;
        let found = g.entries.get_mut(key).map(|(rows, used)| {
            *used = now;
            Arc::clone(rows)
        });
        if found.is_some() {
            g.hits += 1;
        } else {
            g.misses += 1;
        }
        found
    }

    /// Keeps `rows` for `key`, dropping the least recently used entries
    /// past the byte cap (rows larger than the cap are not kept).
    pub(crate) fn put(&self, key: String, rows: Arc<DenseRows>) {
        let size = rows.bytes() + key.len();
        if size > MAX_CACHED_BYTES {
            return;
        }
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.clock += 1;
        let now = g.clock;
        if let Some((old, _)) = g.entries.insert(key.clone(), (rows, now)) {
            g.bytes -= old.bytes() + key.len();
        }
        g.bytes += size;
        while g.bytes > MAX_CACHED_BYTES {
            let Some(oldest) = g
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((old, _)) = g.entries.remove(&oldest) {
                g.bytes -= old.bytes() + oldest.len();
            }
        }
    }

    pub(crate) fn stats(&self) -> ExprCacheStats {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        ExprCacheStats {
            entries: g.entries.len(),
            bytes: g.bytes,
            hits: g.hits,
            misses: g.misses,
        }
    }
}
