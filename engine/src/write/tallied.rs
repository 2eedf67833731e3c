//! A tallied write: SET values added to sets of rows (by row id) and
//! tallies added, as one WAL record, so that they are durable, idempotent
//! and visible together (a campaign's effects: who clicked, and how many
//! clicks per variant and day).
//!
//! ```text
//! body   = flags:u8 [key] n:u32 add*n m:u32 tally*m
//! flags  = bit 0: an idempotency key follows; other bits 0
//! key    = len:u32 UTF-8 bytes
//! add    = field:u32 len:u32 value (UTF-8) len:u32 rows (a portable Roaring bitmap, not empty)
//! tally  = len:u32 key (UTF-8) day:i32 count:u64 (count >= 1)
//! ```
//! Integers are little-endian. Decoding checks every length, flag, the
//! UTF-8, each bitmap's structure, and that nothing follows.

use segdb_storage_format::bitmap::{serialize_sorted, RoaringView};

use crate::error::{EngineError, Result};
use crate::tally::Tally;

/// Values to add to rows, and tallies to add, in one durable batch
/// ([`Store::write_tallied`](crate::Store::write_tallied)).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TalliedWrite {
    /// Per SET value, the rows (sorted, distinct, rows of the table) that
    /// get it.
    pub adds: Vec<ValueAdd>,
    /// The tallies to add.
    pub tallies: Vec<Tally>,
    /// A retry with the same key (and the same write) is acknowledged
    /// again and not applied.
    pub idempotency_key: Option<String>,
}

/// One SET value added to a set of rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueAdd {
    /// The SET field (a system field such as `#effects`, or a user's).
    pub field: String,
    /// The value (1 to `MAX_VALUE_LEN` bytes).
    pub value: String,
    /// The rows, sorted and distinct.
    pub rows: Vec<u32>,
}

/// A [`TalliedWrite`] resolved against the schema, as the WAL holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TalliedRecord {
    pub(crate) idempotency_key: Option<String>,
    /// (field, value, rows as a portable Roaring bitmap, number of rows).
    pub(crate) adds: Vec<(u32, String, Vec<u8>, u64)>,
    pub(crate) tallies: Vec<Tally>,
}

const FLAG_KEY: u8 = 1;

impl TalliedRecord {
    pub(crate) fn new(
        idempotency_key: Option<String>,
        adds: Vec<(u32, String, &[u32])>,
        tallies: Vec<Tally>,
    ) -> TalliedRecord {
        TalliedRecord {
            idempotency_key,
            adds: adds
                .into_iter()
                .map(|(f, v, rows)| {
                    let n = rows.len() as u64;
                    (f, v, serialize_sorted(rows.iter().copied()), n)
                })
                .collect(),
            tallies,
        }
    }

    /// The rows of add `i`.
    pub(crate) fn rows(&self, i: usize) -> Result<RoaringView<'_>> {
        RoaringView::new(&self.adds[i].2).map_err(|e| {
            EngineError::Internal(format!(
                "a tallied write's bitmap at {}: {}",
                e.offset, e.what
            ))
        })
    }

    /// What it counts as operations: a row per add, and a tally each.
    pub(crate) fn operations(&self) -> u64 {
        self.adds.iter().map(|a| a.3).sum::<u64>() + self.tallies.len() as u64
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let size: usize = self
            .adds
            .iter()
            .map(|a| 12 + a.1.len() + a.2.len())
            .sum::<usize>()
            + self.tallies.iter().map(|t| 16 + t.key.len()).sum::<usize>();
        let mut out = Vec::with_capacity(16 + size);
        let put_bytes = |out: &mut Vec<u8>, b: &[u8]| {
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            out.extend_from_slice(b);
        };
        match &self.idempotency_key {
            Some(k) => {
                out.push(FLAG_KEY);
                put_bytes(&mut out, k.as_bytes());
            }
            None => out.push(0),
        }
        out.extend_from_slice(&(self.adds.len() as u32).to_le_bytes());
        for (f, v, rows, _) in &self.adds {
            out.extend_from_slice(&f.to_le_bytes());
            put_bytes(&mut out, v.as_bytes());
            put_bytes(&mut out, rows);
        }
        out.extend_from_slice(&(self.tallies.len() as u32).to_le_bytes());
        for t in &self.tallies {
            put_bytes(&mut out, t.key.as_bytes());
            out.extend_from_slice(&t.day.to_le_bytes());
            out.extend_from_slice(&t.count.to_le_bytes());
        }
        out
    }

    pub(crate) fn decode(b: &[u8]) -> std::result::Result<TalliedRecord, String> {
        let mut at = 0usize;
        let mut take = |n: usize| -> std::result::Result<&[u8], String> {
            let s = b.get(at..at + n).ok_or("truncated")?;
            at += n;
            Ok(s)
        };
        fn u32_of(s: &[u8]) -> u32 {
            u32::from_le_bytes(s.try_into().unwrap_or_default())
        }
        let idempotency_key = match take(1)?[0] {
            0 => None,
            FLAG_KEY => {
                let n = u32_of(take(4)?) as usize;
                let k = std::str::from_utf8(take(n)?).map_err(|_| "key is not UTF-8")?;
                Some(k.to_owned())
            }
            f => return Err(format!("flags {f}")),
        };
        let n = u32_of(take(4)?);
        let mut adds = Vec::new();
        for _ in 0..n {
            let field = u32_of(take(4)?);
            let len = u32_of(take(4)?) as usize;
            let value = std::str::from_utf8(take(len)?)
                .map_err(|_| "value is not UTF-8")?
                .to_owned();
            let len = u32_of(take(4)?) as usize;
            let rows = take(len)?.to_vec();
            let num = RoaringView::new(&rows)
                .map_err(|e| format!("rows at {}: {}", e.offset, e.what))?
                .cardinality();
            if num == 0 {
                return Err("an add of no rows".into());
            }
            adds.push((field, value, rows, num));
        }
        let m = u32_of(take(4)?);
        let mut tallies = Vec::new();
        for _ in 0..m {
            let len = u32_of(take(4)?) as usize;
            let key = std::str::from_utf8(take(len)?)
                .map_err(|_| "tally key is not UTF-8")?
                .to_owned();
            let day = i32::from_le_bytes(take(4)?.try_into().map_err(|_| "truncated")?);
            let count = u64::from_le_bytes(take(8)?.try_into().map_err(|_| "truncated")?);
            if count == 0 {
                return Err("a tally of 0".into());
            }
            tallies.push(Tally { key, day, count });
        }
        if at != b.len() {
            return Err(format!("{} bytes after the last tally", b.len() - at));
        }
        Ok(TalliedRecord {
            idempotency_key,
            adds,
            tallies,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TalliedRecord {
        TalliedRecord::new(
            Some("fx-1".into()),
            vec![
                (4, "7/1/clicked".into(), &[1, 5, 70_000][..]),
                (4, "7/1/delivered".into(), &[1, 2, 5, 70_000, 1 << 21][..]),
            ],
            vec![
                Tally {
                    key: "7/1/a/clicked".into(),
                    day: 20_425,
                    count: 4,
                },
                Tally {
                    key: "7/u/clicked".into(),
                    day: -3,
                    count: 1,
                },
            ],
        )
    }

    #[test]
    fn a_record_round_trips_and_counts_its_operations() {
        let r = sample();
        assert_eq!(TalliedRecord::decode(&r.encode()).unwrap(), r);
        assert_eq!(r.operations(), 3 + 5 + 2);
        let empty = TalliedRecord::new(None, Vec::new(), Vec::new());
        assert_eq!(TalliedRecord::decode(&empty.encode()).unwrap(), empty);
    }

    #[test]
    fn damaged_bytes_are_an_error() {
        let bytes = sample().encode();
        for cut in 0..bytes.len() {
            assert!(
                TalliedRecord::decode(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(TalliedRecord::decode(&longer).is_err());
        let mut bad = bytes.clone();
        bad[0] = 2;
        assert!(TalliedRecord::decode(&bad).is_err());
        let zero = TalliedRecord::new(
            None,
            Vec::new(),
            vec![Tally {
                key: "k".into(),
                day: 0,
                count: 0,
            }],
        );
        assert!(TalliedRecord::decode(&zero.encode()).is_err());
        let no_rows = TalliedRecord::new(None, vec![(0, "v".into(), &[][..])], Vec::new());
        assert!(TalliedRecord::decode(&no_rows.encode()).is_err());
    }
}
