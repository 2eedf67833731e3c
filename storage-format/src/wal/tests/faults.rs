//! Failpoints: a failed fsync or write, a full disk, and crashes after
//! them (`FaultyFs`).

use super::*;

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
