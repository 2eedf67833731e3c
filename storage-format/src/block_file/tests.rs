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

/// `bytes` with the directory's and the footer's checksums made right
/// again, so that only the structure checks stand between it and a reader.
pub(crate) fn reseal(mut bytes: Vec<u8>) -> Bytes {
    let f = bytes.len() - FOOTER_LEN;
    let dir_offset = get_u64(&bytes, f);
    let num_entries = get_u32(&bytes, f + 8) as u64;
    let dir_end = dir_offset.wrapping_add(num_entries * ENTRY_LEN as u64) as usize;
    if dir_offset as usize <= f && dir_end == f {
        let crc = crc32c::crc32c(&bytes[dir_offset as usize..f]);
        bytes[f + 12..f + 16].copy_from_slice(&crc.to_le_bytes());
    }
    let crc = crc32c::crc32c(&bytes[f..f + 36]);
    bytes[f + 36..f + 40].copy_from_slice(&crc.to_le_bytes());
    Bytes::from(bytes)
}

/// Found by `fuzz/fuzz_targets/storage_read.rs` (crash-03b92873…): a
/// footer whose directory offset plus length passes 2^64 overflowed
/// (a panic with overflow checks; without them, an offset chosen to wrap
/// to the footer sliced the file out of bounds). Likewise an entry's
/// offset plus length. Both are `Corrupt`.
#[test]
fn offsets_near_2_pow_64_are_corrupt_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_sample(dir.path());
    let good = std::fs::read(&path).unwrap();
    let f = good.len() - FOOTER_LEN;
    let dir_offset = get_u64(&good, f) as usize;

    // The directory: an offset that overflows, and one that wraps to the
    // footer exactly (with the most entries a footer can claim).
    let num_entries = u64::from(u32::MAX);
    let wrap = (f as u64).wrapping_sub(num_entries * ENTRY_LEN as u64);
    for (offset, entries) in [(u64::MAX - 8, 3), (wrap, num_entries)] {
        let mut bad = good.clone();
        bad[f..f + 8].copy_from_slice(&offset.to_le_bytes());
        bad[f + 8..f + 12].copy_from_slice(&(entries as u32).to_le_bytes());
        let err = BlockFile::open(&path, reseal(bad), MAGIC, 1).unwrap_err();
        assert!(err.to_string().contains("directory offset"), "{err}");
    }
    // An entry whose offset plus length passes 2^64.
    let mut bad = good.clone();
    bad[dir_offset + 16..dir_offset + 24].copy_from_slice(&(u64::MAX - 2).to_le_bytes());
    let err = BlockFile::open(&path, reseal(bad), MAGIC, 1).unwrap_err();
    assert!(err.to_string().contains("outside the blocks"), "{err}");
}

/// The operating system's file system, recording the size of every write.
#[derive(Debug, Default)]
struct RecordingFs {
    writes: Arc<std::sync::Mutex<Vec<usize>>>,
}

#[derive(Debug)]
struct RecordingFile {
    file: Box<dyn WalFile>,
    writes: Arc<std::sync::Mutex<Vec<usize>>>,
}

impl WalFile for RecordingFile {
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.writes.lock().unwrap().push(buf.len());
        self.file.write_all(buf)
    }
    fn sync(&mut self) -> std::io::Result<()> {
        self.file.sync()
    }
}

impl WalFs for RecordingFs {
    fn create_dir_all(&self, dir: &Path) -> std::io::Result<()> {
        RealFs.create_dir_all(dir)
    }
    fn list_dir(&self, dir: &Path) -> std::io::Result<Vec<String>> {
        RealFs.list_dir(dir)
    }
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        RealFs.read(path)
    }
    fn create_new(&self, path: &Path) -> std::io::Result<Box<dyn WalFile>> {
        Ok(Box::new(RecordingFile {
            file: RealFs.create_new(path)?,
            writes: self.writes.clone(),
        }))
    }
    fn open_append(&self, path: &Path) -> std::io::Result<Box<dyn WalFile>> {
        RealFs.open_append(path)
    }
    fn truncate(&self, path: &Path, len: u64) -> std::io::Result<()> {
        RealFs.truncate(path, len)
    }
    fn remove(&self, path: &Path) -> std::io::Result<()> {
        RealFs.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        RealFs.sync_dir(dir)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        RealFs.rename(from, to)
    }
}

/// A file of several huge pages is written in pieces of exactly
/// `WRITE_SIZE` bytes (so each lands at a multiple of it), the last one
/// shorter, and reads back whole; a file smaller than one piece is one
/// write.
#[test]
fn writes_are_whole_huge_pages_at_multiples_of_their_size() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Arc::new(RecordingFs::default());
    let path = dir.path().join("big.seg");
    let mut w = BlockFileWriter::create_with(fs.clone(), &path, MAGIC, 1).unwrap();
    // Blocks of odd sizes, one larger than a piece.
    let sizes: Vec<usize> = (0..700u32)
        .map(|i| {
            if i == 350 {
                WRITE_SIZE + 12_345
            } else {
                1 + (i as usize * 7_919) % 20_000
            }
        })
        .collect();
    for (i, &n) in sizes.iter().enumerate() {
        w.add(BlockKey::new(1, 1, i as u32, 0), &vec![(i % 251) as u8; n])
            .unwrap();
    }
    let len = w.finish(1, 0).unwrap() as usize;
    let writes = fs.writes.lock().unwrap().clone();
    assert!(len > 3 * WRITE_SIZE, "{len} bytes");
    assert_eq!(writes.iter().sum::<usize>(), len);
    let (last, whole) = writes.split_last().unwrap();
    assert!(whole.iter().all(|&n| n == WRITE_SIZE), "{writes:?}");
    assert!(*last > 0 && *last <= WRITE_SIZE);
    let f = open(&path).unwrap();
    for (i, &n) in sizes.iter().enumerate() {
        let b = f.get(BlockKey::new(1, 1, i as u32, 0)).unwrap().unwrap();
        assert_eq!(b, &vec![(i % 251) as u8; n][..]);
    }

    fs.writes.lock().unwrap().clear();
    write_sample_with(fs.clone(), &dir.path().join("small.seg"));
    assert_eq!(fs.writes.lock().unwrap().len(), 1);
}

fn write_sample_with(fs: Arc<dyn WalFs>, path: &Path) {
    let mut w = BlockFileWriter::create_with(fs, path, MAGIC, 1).unwrap();
    w.add(BlockKey::new(2, 1, 7, 0), b"seven").unwrap();
    w.finish(1, 42).unwrap();
}
