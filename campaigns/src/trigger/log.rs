//! The trigger log's records and the timers' snapshot, as bytes.
//!
//! A record (one per ingest batch that armed or cancelled a timer), LE:
//! `u32` count of entries, then per entry a `u8` tag (1 arm, 2 cancel),
//! `u64` campaign id, `i64` the write's instant (ms), for an arm the
//! `i64` deadline, then `u64` m and m bytes of the rows as a portable
//! Roaring bitmap.

use std::path::Path;

use roaring::RoaringBitmap;

use crate::checked::corrupt;
use crate::error::CampaignError;

/// One change of a campaign's timers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Entry {
    /// Timers armed at `at`, due at `deadline`.
    Arm {
        campaign: u64,
        at: i64,
        deadline: i64,
        rows: RoaringBitmap,
    },
    /// Timers cancelled at `at`.
    Cancel {
        campaign: u64,
        at: i64,
        rows: RoaringBitmap,
    },
}

pub(crate) fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for e in entries {
        let (tag, campaign, at, deadline, rows) = match e {
            Entry::Arm {
                campaign,
                at,
                deadline,
                rows,
            } => (1u8, campaign, at, Some(deadline), rows),
            Entry::Cancel { campaign, at, rows } => (2u8, campaign, at, None, rows),
        };
        out.push(tag);
        out.extend_from_slice(&campaign.to_le_bytes());
        out.extend_from_slice(&at.to_le_bytes());
        if let Some(d) = deadline {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.extend_from_slice(&(rows.serialized_size() as u64).to_le_bytes());
        rows.serialize_into(&mut out).expect("writing to a Vec");
    }
    out
}

/// Reads little-endian numbers and bitmaps, each failure a message.
struct Reader<'a> {
    b: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        if self.b.len() < n {
            return Err(format!("{n} bytes wanted, {} left", self.b.len()));
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
    fn bitmap(&mut self) -> Result<RoaringBitmap, String> {
        let n = usize::try_from(self.u64()?).map_err(|_| "a length past memory".to_owned())?;
        let bytes = self.take(n)?;
        RoaringBitmap::deserialize_from(bytes)
            .map_err(|e| format!("a bitmap that does not decode: {e}"))
    }
    fn pairs(&mut self) -> Result<Vec<(u32, i64)>, String> {
        let n = self.u64()?;
        if n > self.b.len() as u64 / 12 {
            return Err(format!("{n} pairs announced, {} bytes left", self.b.len()));
        }
        (0..n).map(|_| Ok((self.u32()?, self.i64()?))).collect()
    }
    fn end(&self) -> Result<(), String> {
        if self.b.is_empty() {
            Ok(())
        } else {
            Err(format!("{} bytes after the end", self.b.len()))
        }
    }
}

pub(crate) fn decode(payload: &[u8]) -> Result<Vec<Entry>, String> {
    let mut r = Reader { b: payload };
    let n = r.u32()?;
    let mut out = Vec::new();
    for _ in 0..n {
        let tag = r.u8()?;
        let campaign = r.u64()?;
        let at = r.i64()?;
        out.push(match tag {
            1 => {
                let deadline = r.i64()?;
                Entry::Arm {
                    campaign,
                    at,
                    deadline,
                    rows: r.bitmap()?,
                }
            }
            2 => Entry::Cancel {
                campaign,
                at,
                rows: r.bitmap()?,
            },
            t => return Err(format!("unknown entry tag {t}")),
        });
    }
    r.end()?;
    Ok(out)
}

/// One campaign's timers in a snapshot: (id, pending (row, deadline),
/// remembered (row, when it came due)).
pub(crate) type Saved = (u64, Vec<(u32, i64)>, Vec<(u32, i64)>);

pub(crate) fn encode_snapshot(seq: u64, campaigns: &[Saved]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&(campaigns.len() as u32).to_le_bytes());
    for (id, pending, last) in campaigns {
        out.extend_from_slice(&id.to_le_bytes());
        for list in [pending, last] {
            out.extend_from_slice(&(list.len() as u64).to_le_bytes());
            for (r, t) in list {
                out.extend_from_slice(&r.to_le_bytes());
                out.extend_from_slice(&t.to_le_bytes());
            }
        }
    }
    out
}

pub(crate) fn decode_snapshot(
    path: &Path,
    payload: &[u8],
) -> Result<(u64, Vec<Saved>), CampaignError> {
    let read = || -> Result<(u64, Vec<Saved>), String> {
        let mut r = Reader { b: payload };
        let seq = r.u64()?;
        let n = r.u32()?;
        let mut out = Vec::new();
        for _ in 0..n {
            let id = r.u64()?;
            let pending = r.pairs()?;
            let last = r.pairs()?;
            out.push((id, pending, last));
        }
        r.end()?;
        Ok((seq, out))
    };
    read().map_err(|what| corrupt(path, what))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_snapshots_read_back() {
        let rows: RoaringBitmap = [1u32, 5, 70_000].into_iter().collect();
        let entries = vec![
            Entry::Arm {
                campaign: 3,
                at: 1_000,
                deadline: 61_000,
                rows: rows.clone(),
            },
            Entry::Cancel {
                campaign: 4,
                at: -5,
                rows,
            },
        ];
        let bytes = encode(&entries);
        assert_eq!(decode(&bytes).unwrap(), entries);
        // Every cut is an error, never a shorter list.
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let saved: Vec<Saved> = vec![
            (7, vec![(1, 10), (2, 20)], vec![(9, -1)]),
            (8, vec![], vec![]),
        ];
        let snap = encode_snapshot(42, &saved);
        let p = Path::new("/x/timers.camp");
        assert_eq!(decode_snapshot(p, &snap).unwrap(), (42, saved));
        for cut in 0..snap.len() {
            assert!(decode_snapshot(p, &snap[..cut]).is_err(), "cut at {cut}");
        }
    }
}
