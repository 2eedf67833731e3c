//! The WAL's tests: round trips, concurrency and group commit, torn tails,
//! damage, failpoints, removal and the sync policies.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::error::FormatError;

type Records = Vec<(u64, Vec<u8>)>;

fn payload(i: u64) -> Vec<u8> {
    format!("record {i};").repeat((i % 7) as usize).into_bytes()
}

fn read_all(
    dir: &Path,
    after: u64,
    options: &ReplayOptions,
) -> Result<(Records, ReplaySummary), FormatError> {
    let mut out = Vec::new();
    let summary = replay::<FormatError, _>(dir, after, options, |seq, p| {
        out.push((seq, p.to_vec()));
        Ok(())
    })?;
    Ok((out, summary))
}

fn strict() -> ReplayOptions {
    ReplayOptions::default()
}

fn lenient() -> ReplayOptions {
    ReplayOptions {
        truncate_at_corruption: true,
        ..ReplayOptions::default()
    }
}

fn faulty_options(fs: &FaultyFs) -> WalOptions {
    WalOptions {
        fs: Arc::new(fs.clone()),
        ..WalOptions::default()
    }
}

fn expected(range: std::ops::RangeInclusive<u64>) -> Records {
    range.map(|i| (i, payload(i))).collect()
}

/// Waits for `cond`, failing the test after a generous bound.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

/// A WAL of records 1..=n in one segment; the file and each record's start.
fn one_segment(dir: &Path, n: u64) -> (PathBuf, Vec<usize>) {
    let wal = WalWriter::open(dir, WalOptions::default()).unwrap();
    for i in 1..=n {
        assert_eq!(wal.append(&payload(i)).unwrap(), i);
    }
    let segs = wal.segments();
    assert_eq!(segs.len(), 1);
    drop(wal);
    let mut starts = Vec::new();
    let mut at = SEGMENT_HEADER_LEN;
    for i in 1..=n {
        starts.push(at);
        at += record_len(payload(i).len());
    }
    assert_eq!(std::fs::metadata(&segs[0]).unwrap().len() as usize, at);
    starts.push(at);
    (segs[0].clone(), starts)
}

#[test]
fn round_trip_across_rotations() {
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions {
        segment_bytes: 1024,
        ..WalOptions::default()
    };
    let wal = WalWriter::open(dir.path(), options.clone()).unwrap();
    for i in 1..=1500 {
        assert_eq!(wal.append(&payload(i)).unwrap(), i);
    }
    let num_segments = wal.segments().len();
    assert!(num_segments > 20, "{num_segments} segments");
    assert_eq!(wal.stats().rotations as usize, num_segments - 1);
    drop(wal);
    for seg in &std::fs::read_dir(dir.path()).unwrap().collect::<Vec<_>>() {
        let name = seg.as_ref().unwrap().file_name();
        assert!(parse_segment_file_name(name.to_str().unwrap()).is_some());
    }

    let (all, summary) = read_all(dir.path(), 0, &strict()).unwrap();
    assert_eq!(all, expected(1..=1500));
    assert_eq!(summary.num_records, 1500);
    assert_eq!(summary.next_seq, 1501);
    assert_eq!(summary.torn_tail, None);
    let (rest, _) = read_all(dir.path(), 1000, &strict()).unwrap();
    assert_eq!(rest, expected(1001..=1500));
    let (none, summary) = read_all(dir.path(), 1500, &strict()).unwrap();
    assert!(none.is_empty());
    assert_eq!(summary.next_seq, 1501);

    // A writer opened again continues the sequence in the last segment.
    let wal = WalWriter::open(dir.path(), options).unwrap();
    assert_eq!(wal.next_seq(), 1501);
    assert_eq!(wal.segments().len(), num_segments);
    assert_eq!(wal.append(&payload(1501)).unwrap(), 1501);
    drop(wal);
    assert_eq!(
        read_all(dir.path(), 0, &strict()).unwrap().0,
        expected(1..=1501)
    );
}

#[test]
fn concurrent_appenders_get_unique_gap_free_sequence_numbers() {
    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 250;
    let dir = tempfile::tempdir().unwrap();
    let wal = WalWriter::open(
        dir.path(),
        WalOptions {
            segment_bytes: 16 << 10,
            ..WalOptions::default()
        },
    )
    .unwrap();
    let started = Instant::now();
    let acked: Vec<Records> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let wal = &wal;
                scope.spawn(move || {
                    (0..PER_THREAD)
                        .map(|i| {
                            let p = format!("thread {t} record {i}").into_bytes();
                            (wal.append(&p).unwrap(), p)
                        })
                        .collect::<Records>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = started.elapsed();
    let stats = wal.stats();
    drop(wal);
    let mut acked: Records = acked.into_iter().flatten().collect();
    acked.sort();
    let seqs: Vec<u64> = acked.iter().map(|r| r.0).collect();
    assert_eq!(seqs, (1..=THREADS * PER_THREAD).collect::<Vec<_>>());
    assert_eq!(read_all(dir.path(), 0, &strict()).unwrap().0, acked);

    assert_eq!(stats.records, THREADS * PER_THREAD);
    let per_sync = stats.records as f64 / stats.syncs as f64;
    println!(
        "group commit, {THREADS} threads x {PER_THREAD} appends (policy Always, real fsync): \
         {} records, {} writes, {} fsyncs of records (and {} of new segments' headers), \
         {per_sync:.1} records per fsync, {:.0} appends/s",
        stats.records,
        stats.writes,
        stats.syncs,
        stats.rotations,
        stats.records as f64 / elapsed.as_secs_f64()
    );
    assert!(
        stats.syncs < stats.records,
        "no fsync was shared: {stats:?}"
    );
}

#[test]
fn followers_share_the_next_fsync() {
    // Deterministic group commit: while a leader's fsync is held, seven
    // appenders queue; all seven then go out in one write and one fsync.
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFs::new();
    let wal = WalWriter::open(dir.path(), faulty_options(&fs)).unwrap();
    let syncs_before = fs.num_syncs();
    fs.pause_syncs();
    std::thread::scope(|scope| {
        let wal = &wal;
        let leader = scope.spawn(move || wal.append(b"leader").unwrap());
        assert!(fs.wait_for_paused_syncs(1, Duration::from_secs(60)));
        let followers: Vec<_> = (0..7)
            .map(|i| scope.spawn(move || wal.append(format!("f{i}").as_bytes()).unwrap()))
            .collect();
        wait_for("seven queued appends", || wal.stats().queued == 7);
        fs.resume_syncs();
        assert_eq!(leader.join().unwrap(), 1);
        let mut seqs: Vec<u64> = followers.into_iter().map(|h| h.join().unwrap()).collect();
        seqs.sort();
        assert_eq!(seqs, (2..=8).collect::<Vec<_>>());
    });
    assert_eq!(fs.num_syncs() - syncs_before, 2);
    let stats = wal.stats();
    assert_eq!((stats.records, stats.writes, stats.syncs), (8, 2, 2));
}

#[test]
fn torn_tail_at_every_byte_of_the_last_record() {
    let src = tempfile::tempdir().unwrap();
    let n = 5;
    let (seg, starts) = one_segment(src.path(), n);
    let bytes = std::fs::read(&seg).unwrap();
    let (last_start, end) = (starts[n as usize - 1], starts[n as usize]);
    for cut in last_start..end {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(seg.file_name().unwrap());
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let (got, summary) = read_all(dir.path(), 0, &strict()).unwrap();
        assert_eq!(got, expected(1..=n - 1), "cut at {cut}");
        assert_eq!(summary.next_seq, n);
        match &summary.torn_tail {
            None => assert_eq!(cut, last_start),
            Some(t) => {
                assert!(cut > last_start);
                assert_eq!((&t.path, t.offset), (&path, last_start as u64));
                assert_eq!(t.bytes_removed as usize, cut - last_start);
            }
        }
        assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, last_start);
        // Replaying again finds a clean WAL.
        let (again, summary) = read_all(dir.path(), 0, &strict()).unwrap();
        assert_eq!((again.len(), summary.torn_tail), (n as usize - 1, None));
    }

    // The torn record followed by zeros (the file's size was made durable,
    // its last data not) is a torn tail too.
    for zeros_from in [last_start, last_start + 3, last_start + 25] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(seg.file_name().unwrap());
        let mut b = bytes.clone();
        b[zeros_from..].fill(0);
        b.extend_from_slice(&[0; 100]);
        std::fs::write(&path, &b).unwrap();
        let (got, summary) = read_all(dir.path(), 0, &strict()).unwrap();
        assert_eq!(got, expected(1..=n - 1), "zeros from {zeros_from}");
        assert_eq!(summary.torn_tail.unwrap().offset as usize, last_start);
    }

    // A writer opened on a torn WAL cuts it too, and continues after the
    // last complete record.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(seg.file_name().unwrap());
    std::fs::write(&path, &bytes[..end - 1]).unwrap();
    let wal = WalWriter::open(dir.path(), WalOptions::default()).unwrap();
    assert_eq!(wal.recovered_tail().unwrap().offset as usize, last_start);
    assert_eq!(wal.append(&payload(n)).unwrap(), n);
    drop(wal);
    assert_eq!(
        read_all(dir.path(), 0, &strict()).unwrap().0,
        expected(1..=n)
    );
}

#[test]
fn flipped_byte_in_a_middle_record_is_an_error_naming_file_and_offset() {
    let src = tempfile::tempdir().unwrap();
    let n = 5;
    let (seg, starts) = one_segment(src.path(), n);
    let bytes = std::fs::read(&seg).unwrap();
    let (start, end) = (starts[2], starts[3]); // record 3
    for at in start..end {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(seg.file_name().unwrap());
        let mut b = bytes.clone();
        b[at] ^= 0x40;
        std::fs::write(&path, &b).unwrap();
        let mut seen = Vec::new();
        let err = replay::<FormatError, _>(dir.path(), 0, &strict(), |seq, _| {
            seen.push(seq);
            Ok(())
        })
        .unwrap_err();
        match &err {
            FormatError::Corrupt {
                path: p, offset, ..
            } => {
                assert_eq!((p, *offset), (&path, start as u64), "byte {at}: {err}");
            }
            other => panic!("byte {at}: {other}"),
        }
        let message = err.to_string();
        assert!(message.contains(&format!("at offset {start}")), "{message}");
        assert!(
            message.contains("wal-00000000000000000001.log"),
            "{message}"
        );
        assert_eq!(seen, [1, 2]);
        // The file is untouched by a failed replay.
        assert_eq!(std::fs::read(&path).unwrap(), b);

        let (got, summary) = read_all(dir.path(), 0, &lenient()).unwrap();
        assert_eq!(got, expected(1..=2), "byte {at}");
        let dropped = summary.dropped_at_corruption.unwrap();
        assert_eq!(
            (dropped.offset, dropped.bytes_removed as usize),
            (start as u64, bytes.len() - start)
        );
        assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, start);
        assert_eq!(summary.next_seq, 3);
    }
    // After dropping, a writer continues at the damaged record's number.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(seg.file_name().unwrap());
    let mut b = bytes.clone();
    b[start + 1] ^= 1;
    std::fs::write(&path, &b).unwrap();
    assert!(WalWriter::open(dir.path(), WalOptions::default()).is_err());
    read_all(dir.path(), 0, &lenient()).unwrap();
    let wal = WalWriter::open(dir.path(), WalOptions::default()).unwrap();
    assert_eq!(wal.append(&payload(3)).unwrap(), 3);
}

#[test]
fn damage_in_an_older_segment_is_never_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let wal = WalWriter::open(
        dir.path(),
        WalOptions {
            segment_bytes: 256,
            ..WalOptions::default()
        },
    )
    .unwrap();
    for i in 1..=60 {
        wal.append(&payload(i)).unwrap();
    }
    let segs = wal.segments();
    drop(wal);
    assert!(segs.len() >= 4);
    // Cut the last record of the second segment: in the last segment this
    // would be a torn tail, here it is damage.
    let second = &segs[1];
    let len = std::fs::metadata(second).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(second)
        .unwrap();
    f.set_len(len - 1).unwrap();
    let err = read_all(dir.path(), 0, &strict()).unwrap_err();
    assert!(
        matches!(&err, FormatError::Corrupt { path, .. } if path == second),
        "{err}"
    );
    // Records after the damage are not needed when replaying after them.
    let third_first =
        parse_segment_file_name(segs[2].file_name().unwrap().to_str().unwrap()).unwrap();
    let (got, _) = read_all(dir.path(), third_first - 1, &strict()).unwrap();
    assert_eq!(got, expected(third_first..=60));
    // Dropping at the damage removes the later segments.
    let (got, summary) = read_all(dir.path(), 0, &lenient()).unwrap();
    let dropped = summary.dropped_at_corruption.unwrap();
    assert_eq!(dropped.files_removed, segs[2..].to_vec());
    assert_eq!(got.last().unwrap().0, summary.next_seq - 1);
    assert_eq!(got, expected(1..=summary.next_seq - 1));
}

#[test]
fn a_missing_segment_is_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let wal = WalWriter::open(
        dir.path(),
        WalOptions {
            segment_bytes: 256,
            ..WalOptions::default()
        },
    )
    .unwrap();
    for i in 1..=60 {
        wal.append(&payload(i)).unwrap();
    }
    let segs = wal.segments();
    drop(wal);
    std::fs::remove_file(&segs[1]).unwrap();
    let err = read_all(dir.path(), 0, &strict()).unwrap_err();
    match &err {
        FormatError::Corrupt { path, offset, what } => {
            assert_eq!((path, *offset), (&segs[2], 16));
            assert!(what.contains("records are missing"), "{what}");
        }
        other => panic!("{other}"),
    }
    // A WAL that starts after the records asked for is a gap as well.
    std::fs::remove_file(&segs[0]).unwrap();
    let err = read_all(dir.path(), 0, &strict()).unwrap_err();
    assert!(err.to_string().contains("are missing"), "{err}");
}

#[test]
fn bad_segment_headers() {
    let src = tempfile::tempdir().unwrap();
    let (seg, _) = one_segment(src.path(), 3);
    let bytes = std::fs::read(&seg).unwrap();
    let name = seg.file_name().unwrap();

    // An unknown version is refused, even when told to drop damage.
    let dir = tempfile::tempdir().unwrap();
    let mut b = bytes.clone();
    b[8] = 9;
    let crc = crc32c::crc32c(&b[..28]);
    b[28..32].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(dir.path().join(name), &b).unwrap();
    for options in [strict(), lenient()] {
        assert!(matches!(
            read_all(dir.path(), 0, &options),
            Err(FormatError::UnsupportedVersion { found: 9, .. })
        ));
    }

    // A flipped header byte: an error at the header, or the whole segment dropped.
    let dir = tempfile::tempdir().unwrap();
    let mut b = bytes.clone();
    b[18] ^= 1;
    std::fs::write(dir.path().join(name), &b).unwrap();
    assert!(matches!(
        read_all(dir.path(), 0, &strict()),
        Err(FormatError::Corrupt { offset: 28, .. })
    ));
    let (got, summary) = read_all(dir.path(), 0, &lenient()).unwrap();
    assert!(got.is_empty());
    assert_eq!(
        summary.dropped_at_corruption.unwrap().files_removed.len(),
        1
    );
    assert!(!dir.path().join(name).exists());

    // A header naming another sequence number than the file name.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(segment_file_name(1)),
        encode_segment_header(2),
    )
    .unwrap();
    assert!(matches!(
        read_all(dir.path(), 0, &strict()),
        Err(FormatError::Corrupt { offset: 16, .. })
    ));
}

#[test]
fn a_segment_cut_while_being_created_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _) = one_segment(dir.path(), 4);
    let next = dir.path().join(segment_file_name(5));
    for len in [0, 10, 31] {
        std::fs::write(&next, &encode_segment_header(5)[..len]).unwrap();
        let (got, summary) = read_all(dir.path(), 0, &strict()).unwrap();
        assert_eq!(got, expected(1..=4));
        assert_eq!(summary.torn_tail.unwrap().files_removed, vec![next.clone()]);
        assert_eq!(summary.next_seq, 5);
        assert!(!next.exists());
    }
    std::fs::write(&next, [0u8; 32]).unwrap();
    let wal = WalWriter::open(dir.path(), WalOptions::default()).unwrap();
    assert!(wal.recovered_tail().is_some());
    assert_eq!(wal.append(&payload(5)).unwrap(), 5);
    drop(wal);
    assert_eq!(
        read_all(dir.path(), 0, &strict()).unwrap().0,
        expected(1..=5)
    );
}

#[test]
fn failed_fsync_poisons_and_loses_only_the_unacknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFs::new();
    let wal = WalWriter::open(dir.path(), faulty_options(&fs)).unwrap();
    assert_eq!(wal.append(b"a").unwrap(), 1);
    fs.fail_sync_at(fs.num_syncs() + 1);
    let err = wal.append(b"b").unwrap_err();
    assert!(matches!(&err, FormatError::Io { op: "fsync", .. }), "{err}");
    assert!(wal.poisoned().unwrap().contains("fsync"));
    let later = wal.append(b"c").unwrap_err();
    assert!(matches!(later, FormatError::Poisoned { .. }), "{later}");
    assert!(later.to_string().contains("refuses writes"), "{later}");
    assert_eq!(wal.durable_seq(), 1);
    drop(wal);
    // A power loss now loses what was not fsynced: `b`, never acknowledged.
    fs.lose_unsynced_data().unwrap();
    let (got, summary) = read_all(dir.path(), 0, &strict()).unwrap();
    assert_eq!(got, [(1, b"a".to_vec())]);
    assert_eq!(summary.next_seq, 2);
}

#[test]
fn followers_of_a_failed_fsync_all_get_errors() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFs::new();
    let wal = WalWriter::open(dir.path(), faulty_options(&fs)).unwrap();
    fs.pause_syncs();
    fs.fail_sync_at(fs.num_syncs() + 2);
    std::thread::scope(|scope| {
        let wal = &wal;
        let first = scope.spawn(move || wal.append(b"first"));
        assert!(fs.wait_for_paused_syncs(1, Duration::from_secs(60)));
        let rest: Vec<_> = (0..5)
            .map(|_| scope.spawn(move || wal.append(b"x")))
            .collect();
        wait_for("five queued appends", || wal.stats().queued == 5);
        fs.resume_syncs();
        assert_eq!(first.join().unwrap().unwrap(), 1);
        for h in rest {
            assert!(h.join().unwrap().is_err());
        }
    });
    assert!(wal.append(b"after").is_err());
    drop(wal);
    fs.lose_unsynced_data().unwrap();
    assert_eq!(
        read_all(dir.path(), 0, &strict()).unwrap().0,
        [(1, b"first".to_vec())]
    );
}

#[test]
fn failed_write_leaves_a_torn_tail_that_recovery_cuts() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFs::new();
    let wal = WalWriter::open(dir.path(), faulty_options(&fs)).unwrap();
    assert_eq!(wal.append(&payload(1)).unwrap(), 1);
    assert_eq!(wal.append(&payload(2)).unwrap(), 2);
    fs.fail_write_at(fs.num_writes() + 1);
    let err = wal.append(&payload(3)).unwrap_err();
    assert!(matches!(&err, FormatError::Io { op: "write", .. }), "{err}");
    assert!(matches!(
        wal.append(b"x"),
        Err(FormatError::Poisoned { .. })
    ));
    let seg = wal.segments()[0].clone();
    drop(wal);
    // Half of record 3 is in the file; it is never replayed as a record.
    let len = std::fs::metadata(&seg).unwrap().len() as usize;
    let good = SEGMENT_HEADER_LEN + record_len(payload(1).len()) + record_len(payload(2).len());
    assert_eq!(len, good + record_len(payload(3).len()) / 2);
    let (got, summary) = read_all(dir.path(), 0, &strict()).unwrap();
    assert_eq!(got, expected(1..=2));
    assert_eq!(summary.torn_tail.unwrap().offset as usize, good);
    let wal = WalWriter::open(dir.path(), WalOptions::default()).unwrap();
    assert_eq!(wal.append(&payload(3)).unwrap(), 3);
}

#[test]
fn a_full_disk_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFs::new();
    let wal = WalWriter::open(dir.path(), faulty_options(&fs)).unwrap();
    fs.fill_disk_after(1000);
    let mut acked = Vec::new();
    let err = loop {
        let i = acked.len() as u64 + 1;
        match wal.append(&payload(i)) {
            Ok(seq) => acked.push((seq, payload(i))),
            Err(e) => break e,
        }
    };
    assert!(!acked.is_empty());
    match &err {
        FormatError::Io { op, source, .. } => {
            assert_eq!(
                (*op, source.kind()),
                ("write", std::io::ErrorKind::StorageFull)
            );
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("no space left on device"), "{err}");
    assert!(matches!(
        wal.append(b"x"),
        Err(FormatError::Poisoned { .. })
    ));
    drop(wal);
    let (got, summary) = read_all(dir.path(), 0, &strict()).unwrap();
    assert_eq!(got, acked);
    assert!(summary.torn_tail.is_some());
}

#[test]
fn remove_before_keeps_what_is_needed_and_the_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let wal = WalWriter::open(
        dir.path(),
        WalOptions {
            segment_bytes: 256,
            ..WalOptions::default()
        },
    )
    .unwrap();
    for i in 1..=80 {
        wal.append(&payload(i)).unwrap();
    }
    let segs = wal.segments();
    let firsts: Vec<u64> = segs
        .iter()
        .map(|p| parse_segment_file_name(p.file_name().unwrap().to_str().unwrap()).unwrap())
        .collect();
    assert!(segs.len() >= 5);
    // Everything below the third segment's first record: two segments go.
    assert_eq!(wal.remove_before(firsts[2]).unwrap(), 2);
    // One record short of the fourth segment: the third still holds it.
    assert_eq!(wal.remove_before(firsts[3] - 1).unwrap(), 0);
    assert_eq!(wal.segments(), segs[2..].to_vec());
    assert!(!segs[0].exists() && !segs[1].exists() && segs[2].exists());
    let (got, _) = read_all(dir.path(), firsts[2] - 1, &strict()).unwrap();
    assert_eq!(got, expected(firsts[2]..=80));
    assert!(read_all(dir.path(), 0, &strict()).is_err());
    // Never the active segment, even when every record is below `seq`.
    wal.remove_before(u64::MAX).unwrap();
    assert_eq!(wal.segments(), [segs.last().unwrap().clone()]);
    assert_eq!(wal.append(&payload(81)).unwrap(), 81);
    drop(wal);
    let (got, _) = read_all(dir.path(), 80, &strict()).unwrap();
    assert_eq!(got, expected(81..=81));
}

#[test]
fn start_seq_continues_past_a_flush() {
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions {
        start_seq: 100,
        ..WalOptions::default()
    };
    let wal = WalWriter::open(dir.path(), options).unwrap();
    assert_eq!(wal.append(b"x").unwrap(), 100);
    drop(wal);
    let (got, summary) = read_all(dir.path(), 99, &strict()).unwrap();
    assert_eq!((got.len(), summary.next_seq), (1, 101));
    // Flushed further than the WAL reaches: a new segment starts there.
    let wal = WalWriter::open(
        dir.path(),
        WalOptions {
            start_seq: 500,
            ..WalOptions::default()
        },
    )
    .unwrap();
    assert_eq!(wal.append(b"y").unwrap(), 500);
    assert_eq!(wal.segments().len(), 2);
    drop(wal);
    let (got, _) = read_all(dir.path(), 499, &strict()).unwrap();
    assert_eq!(got, [(500, b"y".to_vec())]);
}

#[test]
fn every_ms_acknowledges_before_fsync_and_fsyncs_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFs::new();
    // A long interval: appends return without any fsync.
    let wal = WalWriter::open(
        dir.path(),
        WalOptions {
            sync: SyncPolicy::EveryMs(3_600_000),
            ..faulty_options(&fs)
        },
    )
    .unwrap();
    let syncs = fs.num_syncs();
    for i in 1..=10 {
        assert_eq!(wal.append(&payload(i)).unwrap(), i);
    }
    assert_eq!(fs.num_syncs(), syncs);
    assert_eq!(wal.durable_seq(), 0);
    // The documented loss: a power loss now loses the acknowledged records.
    fs.lose_unsynced_data().unwrap();
    assert!(read_all(dir.path(), 0, &strict()).unwrap().0.is_empty());
    drop(wal);

    // A short interval: the background thread makes them durable.
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFs::new();
    let wal = WalWriter::open(
        dir.path(),
        WalOptions {
            sync: SyncPolicy::EveryMs(5),
            ..faulty_options(&fs)
        },
    )
    .unwrap();
    for i in 1..=10 {
        wal.append(&payload(i)).unwrap();
    }
    wait_for("a background fsync", || wal.durable_seq() == 10);
    fs.lose_unsynced_data().unwrap();
    assert_eq!(
        read_all(dir.path(), 0, &strict()).unwrap().0,
        expected(1..=10)
    );

    // A failing background fsync poisons the writer.
    fs.fail_sync_at(fs.num_syncs() + 1);
    wal.append(&payload(11)).unwrap();
    wait_for("the writer to be poisoned", || wal.poisoned().is_some());
    assert!(matches!(
        wal.append(b"x"),
        Err(FormatError::Poisoned { .. })
    ));
    assert!(wal.sync().is_err());
}

#[test]
fn every_ms_explicit_sync_and_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFs::new();
    let wal = WalWriter::open(
        dir.path(),
        WalOptions {
            sync: SyncPolicy::EveryMs(3_600_000),
            segment_bytes: 200,
            ..faulty_options(&fs)
        },
    )
    .unwrap();
    for i in 1..=30 {
        wal.append(&payload(i)).unwrap();
    }
    assert!(wal.segments().len() > 2);
    wal.sync().unwrap();
    assert_eq!(wal.durable_seq(), 30);
    fs.lose_unsynced_data().unwrap();
    assert_eq!(
        read_all(dir.path(), 0, &strict()).unwrap().0,
        expected(1..=30)
    );
}

#[test]
fn too_large_a_record_is_refused_without_poisoning() {
    let dir = tempfile::tempdir().unwrap();
    let wal = WalWriter::open(dir.path(), WalOptions::default()).unwrap();
    let big = vec![0u8; MAX_PAYLOAD_LEN + 1];
    assert!(matches!(
        wal.append(&big),
        Err(FormatError::RecordTooLarge { .. })
    ));
    assert_eq!(wal.append(b"").unwrap(), 1);
    drop(wal);
    assert_eq!(
        read_all(dir.path(), 0, &strict()).unwrap().0,
        [(1, Vec::new())]
    );
}

#[test]
fn the_writer_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<WalWriter>();
}

/// How a crash-consistency case makes the disk fail.
#[derive(Debug, Clone, Copy)]
enum Failure {
    Sync(u64),
    Write(u64),
    DiskFull(u64),
}

fn crash_case(threads: u64, per_thread: u64, segment_bytes: u64, failure: Failure) {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFs::new();
    let wal = WalWriter::open(
        dir.path(),
        WalOptions {
            segment_bytes,
            ..faulty_options(&fs)
        },
    )
    .unwrap();
    match failure {
        Failure::Sync(n) => fs.fail_sync_at(fs.num_syncs() + n),
        Failure::Write(n) => fs.fail_write_at(fs.num_writes() + n),
        Failure::DiskFull(bytes) => fs.fill_disk_after(bytes),
    }
    let acked: Records = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let wal = &wal;
                scope.spawn(move || {
                    let mut acked = Vec::new();
                    for i in 0..per_thread {
                        let p = format!("t{t} r{i} {}", "x".repeat((i % 5) as usize * 9));
                        match wal.append(p.as_bytes()) {
                            Ok(seq) => acked.push((seq, p.into_bytes())),
                            Err(_) => break,
                        }
                    }
                    acked
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    drop(wal);
    // The power goes: what was not fsynced is gone.
    fs.lose_unsynced_data().unwrap();
    let (replayed, summary) = read_all(dir.path(), 0, &strict()).unwrap();
    let seqs: Vec<u64> = replayed.iter().map(|r| r.0).collect();
    assert_eq!(seqs, (1..=replayed.len() as u64).collect::<Vec<_>>());
    for (seq, p) in &acked {
        assert_eq!(
            replayed.get(*seq as usize - 1),
            Some(&(*seq, p.clone())),
            "acknowledged record {seq} lost ({failure:?})"
        );
    }
    let mut payloads: Vec<&Vec<u8>> = replayed.iter().map(|r| &r.1).collect();
    payloads.sort();
    payloads.dedup();
    assert_eq!(payloads.len(), replayed.len(), "a record replayed twice");
    for p in payloads {
        assert!(p.starts_with(b"t"), "not a record we wrote: {p:?}");
    }
    // The WAL continues after the last intact record.
    let wal = WalWriter::open(dir.path(), WalOptions::default()).unwrap();
    assert_eq!(wal.append(b"after").unwrap(), summary.next_seq);
}

#[test]
fn crash_consistency_under_failing_disks() {
    // Deterministic cases over thread counts, segment sizes and the moment
    // and kind of the failure: after the failure and a power loss, every
    // acknowledged record is replayed, whole, in sequence, once.
    let mut case = 0u64;
    for threads in [1, 3, 8] {
        for segment_bytes in [300, 1 << 20] {
            for failure in [
                Failure::Sync(1),
                Failure::Sync(4),
                Failure::Sync(9),
                Failure::Write(2),
                Failure::Write(7),
                Failure::DiskFull(700),
                Failure::DiskFull(2500),
            ] {
                case += 1;
                crash_case(threads, 30, segment_bytes, failure);
            }
        }
    }
    assert_eq!(case, 42);
}

/// A damage done to a WAL's bytes.
#[derive(Debug, Clone)]
enum Damage {
    Flip(usize, u8),
    Cut(usize),
    Append(Vec<u8>),
    Zero(usize, usize),
}

fn damage_strategy() -> impl proptest::strategy::Strategy<Value = Damage> {
    use proptest::prelude::*;
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, x)| Damage::Flip(at, x)),
        any::<usize>().prop_map(Damage::Cut),
        proptest::collection::vec(any::<u8>(), 1..40).prop_map(Damage::Append),
        (any::<usize>(), 1usize..64).prop_map(|(at, n)| Damage::Zero(at, n)),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(96))]

    /// Whatever happens to the bytes of a WAL, replay never panics, never
    /// visits a record that was not written (or not whole), and visits
    /// records in sequence from the first; when told to drop damage it
    /// always succeeds, and a writer then continues the sequence.
    #[test]
    fn replay_of_damaged_wals(
        n in 1u64..40,
        segment_bytes in proptest::prop_oneof![proptest::strategy::Just(150u64), proptest::strategy::Just(1u64 << 20)],
        damages in proptest::collection::vec((proptest::prelude::any::<usize>(), damage_strategy()), 1..4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let wal = WalWriter::open(dir.path(), WalOptions { segment_bytes, ..WalOptions::default() }).unwrap();
        for i in 1..=n {
            wal.append(&payload(i)).unwrap();
        }
        let segs = wal.segments();
        drop(wal);
        for (which, damage) in &damages {
            let path = &segs[which % segs.len()];
            let mut b = std::fs::read(path).unwrap();
            match damage {
                Damage::Flip(at, x) if !b.is_empty() => {
                    let at = at % b.len();
                    b[at] ^= x;
                }
                Damage::Cut(at) => b.truncate(at % (b.len() + 1)),
                Damage::Append(extra) => b.extend_from_slice(extra),
                Damage::Zero(at, len) if !b.is_empty() => {
                    let at = at % b.len();
                    let end = (at + len).min(b.len());
                    b[at..end].fill(0);
                }
                _ => {}
            }
            std::fs::write(path, &b).unwrap();
        }
        let check = |got: &Records| {
            for (k, (seq, p)) in got.iter().enumerate() {
                proptest::prop_assert_eq!(*seq, k as u64 + 1);
                proptest::prop_assert_eq!(p, &payload(*seq));
            }
            Ok(())
        };
        match read_all(dir.path(), 0, &strict()) {
            Ok((got, _)) => check(&got)?,
            Err(FormatError::Corrupt { .. }) => {}
            Err(e) => proptest::prop_assert!(false, "unexpected error {}", e),
        }
        let (got, summary) = read_all(dir.path(), 0, &lenient()).unwrap();
        check(&got)?;
        proptest::prop_assert_eq!(summary.next_seq, got.len() as u64 + 1);
        // Recovered: a strict replay is now clean, and a writer continues.
        let (again, _) = read_all(dir.path(), 0, &strict()).unwrap();
        proptest::prop_assert_eq!(&again, &got);
        let wal = WalWriter::open(dir.path(), WalOptions::default()).unwrap();
        proptest::prop_assert_eq!(wal.append(b"next").unwrap(), summary.next_seq);
    }
}
