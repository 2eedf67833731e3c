//! Reading the WAL back: `replay` visits every record after a sequence
//! number, cuts a torn tail, and stops at damage anywhere else (or, if the
//! operator chose to, drops everything from the damage on).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::fs::{RealFs, WalFs};
use super::record::{
    decode_record, decode_segment_header, parse_segment_file_name, HeaderState, SEGMENT_HEADER_LEN,
};
use crate::error::{FormatError, Result};

/// How `replay` treats damage.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Drop everything from the first damaged byte on (the file is cut
    /// there and later segments are removed) instead of stopping with an
    /// error. Records after the damage are lost, acknowledged or not.
    pub truncate_at_corruption: bool,
    /// The file system (tests inject failures through it).
    pub fs: Arc<dyn WalFs>,
}

impl Default for ReplayOptions {
    fn default() -> ReplayOptions {
        ReplayOptions {
            truncate_at_corruption: false,
            fs: Arc::new(RealFs),
        }
    }
}

/// Bytes removed from the WAL during recovery, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    /// The segment that was cut (or removed, if `offset` is 0).
    pub path: PathBuf,
    /// Where the cut is: the first byte removed.
    pub offset: u64,
    /// Bytes removed from `path`.
    pub bytes_removed: u64,
    /// Whole segment files removed (`path` itself if its header was damaged
    /// or incomplete, and every later segment).
    pub files_removed: Vec<PathBuf>,
    /// What was wrong at `offset`.
    pub what: String,
}

/// What `replay` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Records passed to the visitor (those after `after_seq`).
    pub num_records: u64,
    /// The sequence number the record after the WAL's last intact record
    /// has (1 for an empty WAL).
    pub next_seq: u64,
    /// A torn last record (a crash in the middle of a write) that was cut off.
    pub torn_tail: Option<Truncation>,
    /// With `truncate_at_corruption`: the damage and what was dropped.
    pub dropped_at_corruption: Option<Truncation>,
    /// Records at or below the flushed sequence number whose payload was
    /// damaged and that were skipped (their contents are in parts).
    pub skipped_flushed: u64,
}

/// The segments of a WAL directory, sorted by first sequence number (from
/// their names). A missing directory has none.
pub(crate) fn list_segments(fs: &dyn WalFs, dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let names = match fs.list_dir(dir) {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(FormatError::io("list", dir, e)),
    };
    let mut segs: Vec<(u64, PathBuf)> = names
        .iter()
        .filter_map(|n| parse_segment_file_name(n).map(|s| (s, dir.join(n))))
        .collect();
    segs.sort();
    Ok(segs)
}

/// The state of the last segment after recovery, for the writer.
#[derive(Debug, Clone)]
pub(crate) struct Tail {
    pub first_seq: u64,
    pub path: PathBuf,
    pub len: u64,
    pub next_seq: u64,
}

/// How one segment ended.
enum SegmentEnd {
    /// Every byte was a good record.
    Clean,
    /// The last segment ends in a torn record at `offset`.
    Torn { offset: u64, what: String },
    /// The last segment's header is incomplete: it was being created.
    Incomplete,
    /// Damage that is not a torn tail.
    Damaged { offset: u64, what: String },
}

/// Visits every record with a sequence number above `after_seq`, in order,
/// calling `visit(seq, payload)`.
///
/// A torn last record (the file ends inside it, or it is the last thing in
/// the last segment and fails its checksum, or nothing but zeros follows
/// it) is cut off: the file is truncated to the last good record and the
/// cut is reported in [`ReplaySummary::torn_tail`]. A last segment whose
/// header is incomplete (a crash while it was created) is removed and
/// reported the same way. Damage anywhere else (a bad record followed by
/// more data, a bad header, a sequence number out of order, a gap between
/// segments, or a WAL that starts after `after_seq + 1`) is an error
/// `FormatError::Corrupt` naming the file and the offset, unless
/// `options.truncate_at_corruption` is set: then the WAL is cut at the
/// damage, later segments are removed, and the loss is reported in
/// [`ReplaySummary::dropped_at_corruption`]. Either way, the records
/// visited are exactly the intact ones before the damage.
///
/// Segments whose records are all at or below `after_seq` are not read.
/// Do not replay a directory that a `WalWriter` has open.
pub fn replay<E, F>(
    dir: &Path,
    after_seq: u64,
    options: &ReplayOptions,
    visit: F,
) -> std::result::Result<ReplaySummary, E>
where
    E: From<FormatError>,
    F: FnMut(u64, &[u8]) -> std::result::Result<(), E>,
{
    replay_inner(dir, after_seq, after_seq, options, visit).map(|(summary, _)| summary)
}

/// `replay`, also for the writer's open: records up to `after_seq` are not
/// visited; a record up to `not_needed` whose payload alone is damaged is
/// skipped (its header gives its extent), since its contents are in parts
/// already: damage there must not stop a start or cost later records.
pub(crate) fn replay_inner<E, F>(
    dir: &Path,
    after_seq: u64,
    not_needed: u64,
    options: &ReplayOptions,
    mut visit: F,
) -> std::result::Result<(ReplaySummary, Option<Tail>), E>
where
    E: From<FormatError>,
    F: FnMut(u64, &[u8]) -> std::result::Result<(), E>,
{
    let fs = &*options.fs;
    let segs = list_segments(fs, dir)?;
    let mut summary = ReplaySummary {
        next_seq: 1,
        ..ReplaySummary::default()
    };
    let mut tail = None;
    // The sequence number the next segment must start with, once known.
    let mut expected: Option<u64> = None;
    for (i, (name_seq, path)) in segs.iter().enumerate() {
        let is_last = i + 1 == segs.len();
        if !is_last && segs[i + 1].0 <= after_seq.saturating_add(1) {
            // Every record of this segment is at or below `after_seq`.
            expected = None;
            summary.next_seq = segs[i + 1].0;
            continue;
        }
        let bytes = fs
            .read(path)
            .map_err(|e| FormatError::io("read", path, e))?;
        let mut next = expected.unwrap_or(*name_seq);
        let mut offset = SEGMENT_HEADER_LEN;
        let end = match decode_segment_header(path, &bytes) {
            Err(FormatError::Corrupt { offset, what, .. }) => SegmentEnd::Damaged { offset, what },
            Err(e) => return Err(e.into()),
            Ok(HeaderState::Incomplete) if is_last => SegmentEnd::Incomplete,
            Ok(HeaderState::Incomplete) => SegmentEnd::Damaged {
                offset: 0,
                what: "incomplete segment header in a segment that is not the last".into(),
            },
            Ok(HeaderState::Valid(first)) if first != *name_seq => SegmentEnd::Damaged {
                offset: 16,
                what: format!("the header's first sequence number is {first}, the name's {name_seq}"),
            },
            Ok(HeaderState::Valid(first)) if expected.is_some_and(|e| e != first) => {
                SegmentEnd::Damaged {
                    offset: 16,
                    what: format!(
                        "the segment starts at sequence number {first}, expected {next}: records are missing"
                    ),
                }
            }
            Ok(HeaderState::Valid(first)) if expected.is_none() && first > after_seq.saturating_add(1) => {
                SegmentEnd::Damaged {
                    offset: 16,
                    what: format!(
                        "the WAL starts at sequence number {first}, but records after {after_seq} were asked for: {} to {} are missing",
                        after_seq + 1,
                        first - 1
                    ),
                }
            }
            Ok(HeaderState::Valid(first)) => {
                next = first;
                loop {
                    if offset == bytes.len() {
                        break SegmentEnd::Clean;
                    }
                    match decode_record(&bytes, offset, next) {
                        Ok(r) => {
                            if r.seq > after_seq {
                                visit(r.seq, r.payload)?;
                                summary.num_records += 1;
                            }
                            next += 1;
                            offset = r.end;
                        }
                        Err(bad) if bad.payload_only && next <= not_needed => {
                            summary.skipped_flushed += 1;
                            next += 1;
                            offset = bad.extent_end;
                        }
                        Err(bad) => {
                            let rest_is_zeros = bad.extent_end >= bytes.len()
                                || bytes[bad.extent_end..].iter().all(|&b| b == 0);
                            break if is_last && !bad.out_of_sequence && rest_is_zeros {
                                SegmentEnd::Torn {
                                    offset: offset as u64,
                                    what: bad.what,
                                }
                            } else {
                                SegmentEnd::Damaged {
                                    offset: offset as u64,
                                    what: bad.what,
                                }
                            };
                        }
                    }
                }
            }
        };
        let file_len = bytes.len() as u64;
        match end {
            SegmentEnd::Clean => {
                expected = Some(next);
                summary.next_seq = next;
                if is_last {
                    tail = Some(Tail {
                        first_seq: *name_seq,
                        path: path.clone(),
                        len: file_len,
                        next_seq: next,
                    });
                }
            }
            SegmentEnd::Torn { offset, what } => {
                fs.truncate(path, offset)
                    .map_err(|e| FormatError::io("truncate", path, e))?;
                summary.torn_tail = Some(Truncation {
                    path: path.clone(),
                    offset,
                    bytes_removed: file_len - offset,
                    files_removed: Vec::new(),
                    what,
                });
                summary.next_seq = next;
                tail = Some(Tail {
                    first_seq: *name_seq,
                    path: path.clone(),
                    len: offset,
                    next_seq: next,
                });
            }
            SegmentEnd::Incomplete => {
                fs.remove(path)
                    .map_err(|e| FormatError::io("remove", path, e))?;
                fs.sync_dir(dir)
                    .map_err(|e| FormatError::io("fsync", dir, e))?;
                summary.torn_tail = Some(Truncation {
                    path: path.clone(),
                    offset: 0,
                    bytes_removed: file_len,
                    files_removed: vec![path.clone()],
                    what: "incomplete segment header (the segment was being created)".into(),
                });
                // The segment was created for the record after the previous
                // segment's last one.
                summary.next_seq = *name_seq;
            }
            SegmentEnd::Damaged { offset, what } => {
                if !options.truncate_at_corruption {
                    return Err(FormatError::corrupt(path, offset, what).into());
                }
                let mut files_removed = Vec::new();
                let whole_file = offset < SEGMENT_HEADER_LEN as u64;
                if whole_file {
                    fs.remove(path)
                        .map_err(|e| FormatError::io("remove", path, e))?;
                    files_removed.push(path.clone());
                    summary.next_seq = expected.unwrap_or(*name_seq);
                } else {
                    fs.truncate(path, offset)
                        .map_err(|e| FormatError::io("truncate", path, e))?;
                    summary.next_seq = next;
                    tail = Some(Tail {
                        first_seq: *name_seq,
                        path: path.clone(),
                        len: offset,
                        next_seq: next,
                    });
                }
                for (_, later) in &segs[i + 1..] {
                    fs.remove(later)
                        .map_err(|e| FormatError::io("remove", later, e))?;
                    files_removed.push(later.clone());
                }
                fs.sync_dir(dir)
                    .map_err(|e| FormatError::io("fsync", dir, e))?;
                summary.dropped_at_corruption = Some(Truncation {
                    path: path.clone(),
                    offset,
                    bytes_removed: file_len - if whole_file { 0 } else { offset },
                    files_removed,
                    what,
                });
                break;
            }
        }
    }
    Ok((summary, tail))
}
