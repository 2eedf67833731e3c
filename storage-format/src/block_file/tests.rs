use super::*;

const MAGIC: &[u8; 8] = b"SEGDBTST";

fn write_sample(dir: &Path) -> PathBuf {
    let path = dir.join("sample.seg");
    let mut w = BlockFileWriter::create(&path, MAGIC, 1).unwrap();
    w.add(BlockKey::new(2, 1, 7, 0), b"seven").unwrap();
    w.add(BlockKey::new(1, 1, 3, 0), b"three!!").unwrap();
    w.add(BlockKey::new(2, 1, 5, 0), &[0xAB; 100]).unwrap();
    w.finish(1, 42).unwrap();
    path
}

fn open(path: &Path) -> Result<BlockFile> {
    let bytes = Bytes::from(std::fs::read(path).unwrap());
    BlockFile::open(path, bytes, MAGIC, 1)
}

#[test]
fn round_trip_on_heap_and_mmap() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_sample(dir.path());
    for f in [
        open(&path).unwrap(),
        BlockFile::open(
            &path,
            crate::mmap::map_sealed_file(&path).unwrap(),
            MAGIC,
            1,
        )
        .unwrap(),
    ] {
        assert_eq!(f.info(), 42);
        assert_eq!(f.num_blocks(), 3);
        assert_eq!(
            f.get(BlockKey::new(2, 1, 7, 0)).unwrap(),
            Some(&b"seven"[..])
        );
        assert_eq!(
            f.get(BlockKey::new(1, 1, 3, 0)).unwrap(),
            Some(&b"three!!"[..])
        );
        assert_eq!(
            f.get(BlockKey::new(2, 1, 5, 0)).unwrap().unwrap().len(),
            100
        );
        assert_eq!(f.get(BlockKey::new(2, 1, 6, 0)).unwrap(), None);
        assert_eq!(f.lower_bound(BlockKey::new(2, 0, 0, 0)), 1);
        // Blocks are 8-byte aligned.
        for i in 0..3 {
            assert_eq!(f.entry(i).offset % 8, 0);
        }
    }
    assert!(!temp_path_for(&path).exists());
}

#[test]
fn every_truncation_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_sample(dir.path());
    let full = std::fs::read(&path).unwrap();
    for cut in 0..full.len() {
        let err = BlockFile::open(&path, Bytes::from(full[..cut].to_vec()), MAGIC, 1).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("sample.seg"), "{msg}");
        assert!(
            matches!(err, FormatError::Corrupt { .. }),
            "cut {cut}: {msg}"
        );
    }
}

#[test]
fn every_bit_flip_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_sample(dir.path());
    let full = std::fs::read(&path).unwrap();
    for i in 0..full.len() {
        let mut b = full.clone();
        b[i] ^= 0x10;
        let detected = match BlockFile::open(&path, Bytes::from(b), MAGIC, 1) {
            Err(_) => true,
            Ok(f) => (0..f.num_blocks()).any(|j| f.block(j).is_err()),
        };
        // Padding bytes and the reserved header word are not covered; every
        // other byte is.
        let e_offsets: Vec<(u64, u32)> = {
            let f = open(&path).unwrap();
            (0..3)
                .map(|j| (f.entry(j).offset, f.entry(j).len))
                .collect()
        };
        let in_block = e_offsets
            .iter()
            .any(|&(o, l)| (i as u64) >= o && (i as u64) < o + u64::from(l));
        let in_meta = i < 12 || i >= full.len() - FOOTER_LEN - 3 * ENTRY_LEN;
        if in_block || in_meta {
            assert!(detected, "flip at byte {i} not detected");
        }
    }
}

#[test]
fn wrong_version_and_magic() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_sample(dir.path());
    let bytes = Bytes::from(std::fs::read(&path).unwrap());
    let err = BlockFile::open(&path, bytes.clone(), MAGIC, 2).unwrap_err();
    assert!(matches!(
        err,
        FormatError::UnsupportedVersion {
            found: 1,
            supported: 2,
            ..
        }
    ));
    let err = BlockFile::open(&path, bytes, b"SEGDBXXX", 1).unwrap_err();
    assert!(err.to_string().contains("bad magic"), "{err}");
}
