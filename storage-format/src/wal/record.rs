//! The bytes of a WAL segment: the segment header and the records.
//! FORMAT.md ("The write-ahead log") draws them.

use std::path::Path;

use crate::error::{FormatError, Result};

/// Magic number at the start of every WAL segment.
pub const SEGMENT_MAGIC: &[u8; 8] = b"SEGDBWAL";
/// The WAL format version this build writes and reads.
pub const WAL_VERSION: u32 = 1;
/// Length of a segment header.
pub const SEGMENT_HEADER_LEN: usize = 32;
/// Length of a record header (before the payload).
pub const RECORD_HEADER_LEN: usize = 20;
/// Largest payload a record may hold (1 GiB).
pub const MAX_PAYLOAD_LEN: usize = 1 << 30;

const NAME_PREFIX: &str = "wal-";
const NAME_SUFFIX: &str = ".log";
const NAME_DIGITS: usize = 20;

/// The file name of the segment whose first record has sequence number
/// `first_seq`: `wal-` + 20 decimal digits + `.log`, so that names sort like
/// sequence numbers.
pub fn segment_file_name(first_seq: u64) -> String {
    format!("{NAME_PREFIX}{first_seq:0NAME_DIGITS$}{NAME_SUFFIX}")
}

/// The first sequence number named by a segment file name, or `None` if the
/// name is not a segment's.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(NAME_PREFIX)?.strip_suffix(NAME_SUFFIX)?;
    if digits.len() != NAME_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The 32-byte header of a segment whose first record is `first_seq`.
pub fn encode_segment_header(first_seq: u64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[0..8].copy_from_slice(SEGMENT_MAGIC);
    h[8..12].copy_from_slice(&WAL_VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&first_seq.to_le_bytes());
    let crc = crc32c::crc32c(&h[..28]);
    h[28..32].copy_from_slice(&crc.to_le_bytes());
    h
}

/// What the start of a segment file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderState {
    /// A valid header naming this first sequence number.
    Valid(u64),
    /// No complete header: fewer than 32 bytes, or only zeros. A segment
    /// being created when the process stopped.
    Incomplete,
}

/// Checks a segment's header. `Incomplete` is returned for a header that a
/// crash during the segment's creation can leave (short, or zeros); whether
/// that is acceptable depends on where the segment is (only the last one).
pub(crate) fn decode_segment_header(path: &Path, bytes: &[u8]) -> Result<HeaderState> {
    if bytes.len() < SEGMENT_HEADER_LEN || bytes[..SEGMENT_HEADER_LEN].iter().all(|&b| b == 0) {
        return Ok(HeaderState::Incomplete);
    }
    let h = &bytes[..SEGMENT_HEADER_LEN];
    if &h[0..8] != SEGMENT_MAGIC {
        return Err(FormatError::corrupt(
            path,
            0,
            "not a WAL segment (bad magic)",
        ));
    }
    let stored = le_u32(&h[28..32]);
    if !crate::checksum_ok(crc32c::crc32c(&h[..28]), stored) {
        return Err(FormatError::corrupt(
            path,
            28,
            "bad segment header checksum",
        ));
    }
    let version = le_u32(&h[8..12]);
    if version != WAL_VERSION {
        return Err(FormatError::UnsupportedVersion {
            path: path.to_owned(),
            found: version,
            supported: WAL_VERSION,
        });
    }
    Ok(HeaderState::Valid(le_u64(&h[16..24])))
}

/// Appends one record (header and payload) to `out`.
pub fn encode_record(out: &mut Vec<u8>, seq: u64, payload: &[u8]) {
    debug_assert!(payload.len() <= MAX_PAYLOAD_LEN);
    let mut h = [0u8; RECORD_HEADER_LEN];
    h[0..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    h[4..12].copy_from_slice(&seq.to_le_bytes());
    h[12..16].copy_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    let crc = crc32c::crc32c(&h[..16]);
    h[16..20].copy_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
}

/// The bytes a record of `payload_len` bytes takes.
pub fn record_len(payload_len: usize) -> usize {
    RECORD_HEADER_LEN + payload_len
}

/// One record read from a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordRef<'a> {
    pub seq: u64,
    pub payload: &'a [u8],
    /// Offset of the record's end (the next record's start).
    pub end: usize,
}

/// Why the bytes at an offset are not a good record, and how far the
/// damaged record claims to reach (where more data would mean that the
/// damage is not a torn tail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadRecord {
    pub what: String,
    /// End of the damaged record as far as it can be known: the end of its
    /// header if the header itself is bad, else the end of its payload.
    pub extent_end: usize,
    /// A record that is intact but out of sequence: never a torn write.
    pub out_of_sequence: bool,
    /// Only the payload is damaged: the header (checked by its own CRC32C)
    /// gives the record's sequence number and where the next one starts.
    pub payload_only: bool,
}

/// Reads the record at `offset`, which must hold sequence number `expected`.
pub(crate) fn decode_record(
    bytes: &[u8],
    offset: usize,
    expected: u64,
) -> std::result::Result<RecordRef<'_>, BadRecord> {
    let rest = &bytes[offset..];
    if rest.len() < RECORD_HEADER_LEN {
        return Err(BadRecord {
            what: format!(
                "short record header ({} of {RECORD_HEADER_LEN} bytes)",
                rest.len()
            ),
            extent_end: offset + RECORD_HEADER_LEN,
            out_of_sequence: false,
            payload_only: false,
        });
    }
    let h = &rest[..RECORD_HEADER_LEN];
    if !crate::checksum_ok(crc32c::crc32c(&h[..16]), le_u32(&h[16..20])) {
        return Err(BadRecord {
            what: "bad record header checksum".into(),
            extent_end: offset + RECORD_HEADER_LEN,
            out_of_sequence: false,
            payload_only: false,
        });
    }
    let len = le_u32(&h[0..4]) as usize;
    let seq = le_u64(&h[4..12]);
    let end = offset + RECORD_HEADER_LEN + len;
    if seq != expected {
        return Err(BadRecord {
            what: format!("record has sequence number {seq}, expected {expected}"),
            extent_end: end,
            out_of_sequence: true,
            payload_only: false,
        });
    }
    if end > bytes.len() {
        return Err(BadRecord {
            what: format!(
                "short record payload ({} of {len} bytes)",
                rest.len() - RECORD_HEADER_LEN
            ),
            extent_end: end,
            out_of_sequence: false,
            payload_only: false,
        });
    }
    let payload = &bytes[offset + RECORD_HEADER_LEN..end];
    if !crate::checksum_ok(crc32c::crc32c(payload), le_u32(&h[12..16])) {
        return Err(BadRecord {
            what: "bad record payload checksum".into(),
            extent_end: end,
            out_of_sequence: false,
            payload_only: true,
        });
    }
    Ok(RecordRef { seq, payload, end })
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn le_u64(b: &[u8]) -> u64 {
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_like_sequence_numbers() {
        assert_eq!(segment_file_name(42), "wal-00000000000000000042.log");
        assert_eq!(parse_segment_file_name(&segment_file_name(42)), Some(42));
        assert_eq!(
            parse_segment_file_name(&segment_file_name(u64::MAX)),
            Some(u64::MAX)
        );
        for bad in [
            "wal-42.log",
            "wal-0000000000000000004x.log",
            "wal-00000000000000000042.log.tmp",
            "MANIFEST",
            "wal-99999999999999999999.log",
        ] {
            assert_eq!(parse_segment_file_name(bad), None, "{bad}");
        }
        assert!(segment_file_name(9) < segment_file_name(10));
    }

    #[test]
    fn header_round_trip_and_damage() {
        let p = Path::new("w");
        let h = encode_segment_header(7);
        assert_eq!(decode_segment_header(p, &h).unwrap(), HeaderState::Valid(7));
        assert_eq!(
            decode_segment_header(p, &h[..31]).unwrap(),
            HeaderState::Incomplete
        );
        assert_eq!(
            decode_segment_header(p, &[0; 40]).unwrap(),
            HeaderState::Incomplete
        );
        let mut bad = h;
        bad[17] ^= 1;
        assert!(matches!(
            decode_segment_header(p, &bad),
            Err(FormatError::Corrupt { offset: 28, .. })
        ));
        let mut v2 = h;
        v2[8] = 2;
        let crc = crc32c::crc32c(&v2[..28]);
        v2[28..32].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(
            decode_segment_header(p, &v2),
            Err(FormatError::UnsupportedVersion { found: 2, .. })
        ));
    }

    #[test]
    fn record_round_trip_and_every_flipped_bit() {
        let mut b = Vec::new();
        encode_record(&mut b, 9, b"hello");
        assert_eq!(b.len(), record_len(5));
        let r = decode_record(&b, 0, 9).unwrap();
        assert_eq!((r.seq, r.payload, r.end), (9, &b"hello"[..], b.len()));
        assert!(decode_record(&b, 0, 10).unwrap_err().out_of_sequence);
        for i in 0..b.len() * 8 {
            let mut d = b.clone();
            d[i / 8] ^= 1 << (i % 8);
            assert!(decode_record(&d, 0, 9).is_err(), "bit {i}");
        }
        for cut in 0..b.len() {
            assert!(decode_record(&b[..cut], 0, 9).is_err(), "cut {cut}");
        }
    }
}
