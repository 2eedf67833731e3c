//! What the fuzz targets run (`fuzz/fuzz_targets/storage_read.rs`), here so
//! that a plain unit test also runs it over the seed corpus
//! (`fuzz/seeds/storage_read/`). Any bytes, read as each file segdb reads
//! (a part, a dictionary part, a snapshot, the manifest, a WAL segment),
//! must become `Err` or a value whose every read is `Ok` or `Err`: never a
//! panic, an unbounded allocation or an endless loop.
//!
//! A build with `--cfg fuzzing` accepts every checksum
//! ([`crate::checksum_ok`]), so that the fuzzer reaches the checks behind
//! them.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::block_file::BlockKey;
use crate::dictionary::DictionaryPart;
use crate::manifest::Manifest;
use crate::part::{Part, TAG_EVENT, TAG_INT_META, TAG_TEXT};
use crate::snapshot::SnapshotFile;
use crate::wal::{replay, segment_file_name, ReplayOptions, WalFile, WalFs};

/// Reads `data` as every kind of file; panics only on a bug.
pub fn read_any(data: &[u8]) {
    let path = Path::new("fuzz.bin");
    let bytes = Bytes::copy_from_slice(data);
    read_part(path, bytes.clone());
    read_dictionary(path, bytes.clone());
    if let Ok(s) = SnapshotFile::open(path, bytes) {
        let _ = s.num_rows();
        let _ = s.to_vec();
    }
    if let Ok(m) = Manifest::decode(path, data) {
        // What decodes encodes back to a manifest that decodes the same.
        let again = Manifest::decode(path, &m.encode()).expect("a re-encoded manifest decodes");
        assert_eq!(format!("{m:?}"), format!("{again:?}"));
    }
    read_wal(data);
}

fn read_part(path: &Path, bytes: Bytes) {
    let Ok(part) = Part::open(path, bytes) else {
        return;
    };
    for i in 0..part.num_blocks() {
        let key: BlockKey = part.key(i);
        match key.tag {
            TAG_INT_META => {
                let _ = part.int_meta(key.field);
            }
            TAG_TEXT => {
                if let Ok(n) = part.text_rows(key.field) {
                    for row in [0, 1, n / 2, n.saturating_sub(1), n, n.saturating_add(1)] {
                        let _ = part.text(key.field, row);
                    }
                }
            }
            TAG_EVENT => {
                let _ = part.event_days(key.field);
                visit_bitmap(&part, i);
            }
            _ => visit_bitmap(&part, i),
        }
    }
}

fn visit_bitmap(part: &Part, i: usize) {
    if let Ok(v) = part.bitmap_at(i) {
        let mut n = 0u64;
        v.for_each(|_| n += 1);
        assert_eq!(n, v.cardinality());
    }
}

fn read_dictionary(path: &Path, bytes: Bytes) {
    let Ok(d) = DictionaryPart::open(path, bytes) else {
        return;
    };
    let first = d.first_row();
    let n = u64::from(d.num_ids()).min(4096);
    for row in first..first.saturating_add(n) {
        if let Ok(Some(id)) = d.id_of(row) {
            let _ = d.row_of(&id);
        }
    }
    let rows: Vec<u64> = (first..first.saturating_add(n)).collect();
    let _ = d.for_each_id(&rows, |_, _| true);
    let _ = d.row_of("u000000001");
}

/// The bytes as the only segment of a WAL, replayed from an in-memory
/// file system.
fn read_wal(data: &[u8]) {
    let fs = MemFs::default();
    let dir = Path::new("wal");
    fs.files
        .lock()
        .unwrap()
        .insert(dir.join(segment_file_name(1)), data.to_vec());
    for truncate_at_corruption in [false, true] {
        let options = ReplayOptions {
            truncate_at_corruption,
            fs: Arc::new(fs.clone()),
        };
        let mut last = 0;
        let r = replay::<crate::FormatError, _>(dir, 0, &options, |seq, _| {
            assert!(seq > last, "records out of order");
            last = seq;
            Ok(())
        });
        if let Ok(summary) = r {
            assert!(summary.next_seq > last);
        }
    }
}

/// A file system in memory, for [`read_wal`].
#[derive(Debug, Default, Clone)]
struct MemFs {
    files: Arc<Mutex<HashMap<PathBuf, Vec<u8>>>>,
}

#[derive(Debug)]
struct MemFile {
    fs: MemFs,
    path: PathBuf,
}

impl WalFile for MemFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut files = self.fs.files.lock().unwrap();
        files
            .entry(self.path.clone())
            .or_default()
            .extend_from_slice(buf);
        Ok(())
    }
    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl WalFs for MemFs {
    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let files = self.files.lock().unwrap();
        Ok(files
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(String::from))
            .collect())
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let files = self.files.lock().unwrap();
        files
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn WalFile>> {
        let mut files = self.files.lock().unwrap();
        if files.contains_key(path) {
            return Err(io::Error::from(io::ErrorKind::AlreadyExists));
        }
        files.insert(path.to_owned(), Vec::new());
        Ok(Box::new(MemFile {
            fs: self.clone(),
            path: path.to_owned(),
        }))
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WalFile>> {
        Ok(Box::new(MemFile {
            fs: self.clone(),
            path: path.to_owned(),
        }))
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut files = self.files.lock().unwrap();
        if let Some(f) = files.get_mut(path) {
            f.truncate(len as usize);
        }
        Ok(())
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.files.lock().unwrap().remove(path);
        Ok(())
    }
    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut files = self.files.lock().unwrap();
        let data = files
            .remove(from)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        files.insert(to.to_owned(), data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed corpus of the target, from `fuzz/seeds/storage_read/`.
    #[test]
    fn seed_corpus() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/storage_read");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let data = std::fs::read(entry.unwrap().path()).unwrap();
            read_any(&data);
            // And each truncated, and with a byte flipped.
            for cut in [data.len() / 2, data.len().saturating_sub(1)] {
                read_any(&data[..cut]);
            }
            let mut flipped = data.clone();
            if let Some(b) = flipped.get_mut(data.len() / 3) {
                *b ^= 0x5a;
            }
            read_any(&flipped);
            n += 1;
        }
        assert!(n >= 4, "{n} seeds in {}", dir.display());
    }
}
