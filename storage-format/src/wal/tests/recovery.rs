//! Recovery: torn tails at every byte, damage that is not a tail, gaps,
//! bad headers, and randomly damaged WALs.

use super::*;

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
