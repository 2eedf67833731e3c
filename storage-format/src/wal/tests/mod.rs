//! The WAL's tests. This file: round trips, concurrency and group commit,
//! removal and the sync policies; `recovery.rs`: torn tails, damage and
//! randomly damaged WALs; `faults.rs`: failing fsyncs and writes, a full
//! disk, and crashes after them.

mod faults;
mod recovery;

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
