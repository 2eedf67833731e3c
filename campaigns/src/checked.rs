//! The one on-disk envelope of campaign files: a header, the payload and a
//! CRC32C, written atomically (`fsutil::replace_file`: temporary file,
//! fsync, rename, fsync of the directory).
//!
//! ```text
//! offset  size  field
//!      0     8  magic "SEGDBCMP"
//!      8     4  version (1), u32 little-endian
//!     12     4  kind (1 catalog JSON, 2 Roaring bitmap, 3 a day of touches), u32 LE
//!     16     8  payload length n, u64 LE
//!     24     n  payload
//!   24+n     4  CRC32C of bytes 0 .. 24+n, u32 LE
//! ```
//!
//! Reading checks all of it; any damage (a short file, a flipped bit,
//! another kind of file under the name) is [`CampaignError::Corrupt`]
//! naming the file, never a smaller bitmap or an older catalog.

use std::path::Path;

use roaring::RoaringBitmap;
use segdb_storage_format::fsutil;
use segdb_storage_format::wal::WalFs;

use crate::error::CampaignError;

const MAGIC: &[u8; 8] = b"SEGDBCMP";
const VERSION: u32 = 1;
const HEADER: usize = 24;

/// What a checked file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// The campaigns' catalog (JSON).
    Catalog = 1,
    /// One portable Roaring bitmap of row ids.
    Bitmap = 2,
    /// A table's touches of one day: a `u32` count of scopes, then per
    /// scope a `u64` id (0: the table, else a campaign's id), a `u32`
    /// count of levels, and per level a `u64` length and a portable Roaring
    /// bitmap; then (optional) a `u32` count of runs whose delivery was
    /// folded into it and per run a `u64` campaign id, a `u32` run number
    /// and the `u64` sequence number of the last delivery-log record
    /// folded, so that a checkpoint done again after a crash folds each
    /// record's touches once.
    TouchDay = 3,
    /// JSON: a run's failed batches (status, first bytes, rows).
    Failures = 4,
    /// The trigger timers' snapshot ([`crate::trigger`]): the `u64`
    /// sequence number of the last trigger-log record it holds, a `u32`
    /// count of campaigns, and per campaign a `u64` id, then its pending
    /// timers and its users in their re-entry interval, each as a `u64`
    /// count of (`u32` row, `i64` ms) pairs.
    Timers = 5,
}

/// Writes `payload` to `path` atomically in the envelope, through `fs`.
pub fn write(
    fs: &dyn WalFs,
    path: &Path,
    kind: FileKind,
    payload: &[u8],
) -> Result<(), CampaignError> {
    let mut bytes = Vec::with_capacity(HEADER + payload.len() + 4);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&VERSION.to_le_bytes());
    bytes.extend_from_slice(&(kind as u32).to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(payload);
    let crc = crc32c::crc32c(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    fsutil::replace_file_with(fs, path, &bytes)?;
    Ok(())
}

/// Reads and checks the envelope at `path`; returns the payload.
pub fn read(path: &Path, kind: FileKind) -> Result<Vec<u8>, CampaignError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(corrupt(path, "the file is missing"))
        }
        Err(e) => return Err(segdb_storage_format::FormatError::io("read", path, e).into()),
    };
    if bytes.len() < HEADER + 4 || &bytes[..8] != MAGIC {
        return Err(corrupt(
            path,
            "not a segdb campaign file (bad magic or too short)",
        ));
    }
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let version = word(8);
    if version != VERSION {
        return Err(corrupt(path, format!("unknown version {version}")));
    }
    let len = u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes"));
    if len != (bytes.len() - HEADER - 4) as u64 {
        return Err(corrupt(
            path,
            format!(
                "the payload should be {len} bytes, the file holds {}",
                bytes.len() - HEADER - 4
            ),
        ));
    }
    let end = bytes.len() - 4;
    if crc32c::crc32c(&bytes[..end]) != word(end) {
        return Err(corrupt(path, "checksum mismatch"));
    }
    let found = word(12);
    if found != kind as u32 {
        return Err(corrupt(
            path,
            format!("holds kind {found}, expected {}", kind as u32),
        ));
    }
    Ok(bytes[HEADER..end].to_vec())
}

/// Writes one bitmap.
pub fn write_bitmap(
    fs: &dyn WalFs,
    path: &Path,
    rows: &RoaringBitmap,
) -> Result<(), CampaignError> {
    let mut payload = Vec::with_capacity(rows.serialized_size());
    rows.serialize_into(&mut payload)
        .map_err(|e| segdb_storage_format::FormatError::io("serialize", path, e))?;
    write(fs, path, FileKind::Bitmap, &payload)
}

/// Reads one bitmap.
pub fn read_bitmap(path: &Path) -> Result<RoaringBitmap, CampaignError> {
    let payload = read(path, FileKind::Bitmap)?;
    decode_bitmap(path, &payload)
}

fn decode_bitmap(path: &Path, payload: &[u8]) -> Result<RoaringBitmap, CampaignError> {
    let b = RoaringBitmap::deserialize_from(payload)
        .map_err(|e| corrupt(path, format!("not a Roaring bitmap: {e}")))?;
    if b.serialized_size() != payload.len() {
        return Err(corrupt(path, "bytes after the bitmap"));
    }
    Ok(b)
}

/// The touches of one table and day: per scope (0: the table, else a
/// campaign id) its levels.
pub type TouchDay = Vec<(u64, Vec<RoaringBitmap>)>;

/// A run's delivery folded into a touch file: campaign id, run, and the
/// sequence number of the last delivery-log record folded.
pub type FoldKey = (u64, u32, u64);

/// Writes a table's touches of one day.
pub fn write_touch_day(fs: &dyn WalFs, path: &Path, day: &TouchDay) -> Result<(), CampaignError> {
    write_touch_day_folded(fs, path, day, &[])
}

/// Writes a table's touches of one day and the runs folded into them.
pub fn write_touch_day_folded(
    fs: &dyn WalFs,
    path: &Path,
    day: &TouchDay,
    folded: &[FoldKey],
) -> Result<(), CampaignError> {
    let mut payload = Vec::new();
    payload.extend_from_slice(&(day.len() as u32).to_le_bytes());
    for (scope, levels) in day {
        payload.extend_from_slice(&scope.to_le_bytes());
        payload.extend_from_slice(&(levels.len() as u32).to_le_bytes());
        for l in levels {
            payload.extend_from_slice(&(l.serialized_size() as u64).to_le_bytes());
            l.serialize_into(&mut payload)
                .map_err(|e| segdb_storage_format::FormatError::io("serialize", path, e))?;
        }
    }
    if !folded.is_empty() {
        payload.extend_from_slice(&(folded.len() as u32).to_le_bytes());
        for (id, run, seq) in folded {
            payload.extend_from_slice(&id.to_le_bytes());
            payload.extend_from_slice(&run.to_le_bytes());
            payload.extend_from_slice(&seq.to_le_bytes());
        }
    }
    write(fs, path, FileKind::TouchDay, &payload)
}

/// Reads a table's touches of one day.
pub fn read_touch_day(path: &Path) -> Result<TouchDay, CampaignError> {
    read_touch_day_folded(path).map(|(day, _)| day)
}

/// Reads a table's touches of one day and the runs folded into them.
pub fn read_touch_day_folded(path: &Path) -> Result<(TouchDay, Vec<FoldKey>), CampaignError> {
    let payload = read(path, FileKind::TouchDay)?;
    let mut r = Reader {
        path,
        bytes: &payload,
        at: 0,
    };
    let scopes = r.u32()?;
    let mut day = Vec::new();
    for _ in 0..scopes {
        let scope = r.u64()?;
        let count = r.u32()?;
        let mut levels = Vec::new();
        for _ in 0..count {
            let len = r.u64()? as usize;
            levels.push(decode_bitmap(path, r.take(len)?)?);
        }
        day.push((scope, levels));
    }
    let mut folded = Vec::new();
    if r.at != payload.len() {
        for _ in 0..r.u32()? {
            let id = r.u64()?;
            let run = r.u32()?;
            folded.push((id, run, r.u64()?));
        }
    }
    if r.at != payload.len() {
        return Err(corrupt(path, "bytes after the touches"));
    }
    Ok((day, folded))
}

struct Reader<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CampaignError> {
        let end = self.at.saturating_add(n);
        let out = self
            .bytes
            .get(self.at..end)
            .ok_or_else(|| corrupt(self.path, "the touches end early"))?;
        self.at = end;
        Ok(out)
    }
    fn u32(&mut self) -> Result<u32, CampaignError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, CampaignError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
}

/// A [`CampaignError::Corrupt`] of `path`.
pub fn corrupt(path: &Path, what: impl Into<String>) -> CampaignError {
    CampaignError::Corrupt {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use segdb_storage_format::wal::RealFs;

    #[test]
    fn every_flipped_byte_and_every_cut_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audience.roar");
        let rows: RoaringBitmap = (0..3000).map(|i| i * 7).chain(70_000..71_000).collect();
        write_bitmap(&RealFs, &path, &rows).unwrap();
        assert_eq!(read_bitmap(&path).unwrap(), rows);
        let good = std::fs::read(&path).unwrap();
        for i in (0..good.len()).step_by(good.len() / 200 + 1) {
            let mut bad = good.clone();
            bad[i] ^= 0x10;
            std::fs::write(&path, &bad).unwrap();
            let err = read_bitmap(&path).unwrap_err();
            assert!(
                matches!(&err, CampaignError::Corrupt { path: p, .. } if p == &path),
                "byte {i}: {err}"
            );
        }
        for cut in [0, 10, 24, good.len() / 2, good.len() - 1] {
            std::fs::write(&path, &good[..cut]).unwrap();
            assert!(matches!(
                read_bitmap(&path),
                Err(CampaignError::Corrupt { .. })
            ));
        }
        std::fs::remove_file(&path).unwrap();
        let err = read_bitmap(&path).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[test]
    fn touches_round_trip_and_a_bitmap_file_is_not_touches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("day");
        let day: TouchDay = vec![
            (0, vec![(0..100).collect(), (10..20).collect()]),
            (7, vec![(5..9).collect()]),
            (9, vec![]),
        ];
        write_touch_day(&RealFs, &path, &day).unwrap();
        assert_eq!(read_touch_day(&path).unwrap(), day);
        write_bitmap(&RealFs, &path, &(0..5).collect()).unwrap();
        let err = read_touch_day(&path).unwrap_err();
        assert!(err.to_string().contains("holds kind 2"), "{err}");
    }
}
