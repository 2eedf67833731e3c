//! Sealed block files: the container of parts and dictionary parts.
//!
//! A block file is a header, a sequence of blocks (each 8-byte aligned), a
//! directory that locates every block by a typed key and holds its CRC32C,
//! and a footer. It is written once with plain I/O, fsynced and renamed into
//! place, then only read (memory-mapped). Opening reads the footer and the
//! directory; a block's checksum is verified the first time it is used.
//! FORMAT.md draws the bytes.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;

use bytes::Bytes;

use crate::block_label::{BlockLabel, FileKind, Names};
use crate::error::{FormatError, Result};
use crate::fsutil::{create_temp, rename_durably, temp_path_for};
use crate::wal::{RealFs, WalFile, WalFs};

/// Bytes of the header.
pub const HEADER_LEN: usize = 16;
/// Bytes of a directory entry.
pub const ENTRY_LEN: usize = 32;
/// Bytes of the footer.
pub const FOOTER_LEN: usize = 48;
/// The footer's closing magic.
pub const FOOTER_MAGIC: &[u8; 8] = b"SEGDBEND";

/// The key of a block: which field, what the block holds (`tag`), and two
/// numbers whose meaning depends on the tag. Directory entries are sorted by
/// `(field, tag, key, aux)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockKey {
    /// Field index in the table's schema (or 0 for file-wide blocks).
    pub field: u32,
    /// What the block holds (see the `TAG_*` constants of the file kind).
    pub tag: u8,
    /// First number (value id, slice index, biased day, page index…).
    pub key: u32,
    /// Second number (slice index within a day…).
    pub aux: u16,
}

impl BlockKey {
    /// A key.
    pub fn new(field: u32, tag: u8, key: u32, aux: u16) -> BlockKey {
        BlockKey {
            field,
            tag,
            key,
            aux,
        }
    }
}

/// One directory entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The block's key.
    pub key: BlockKey,
    /// Offset of the block from the start of the file.
    pub offset: u64,
    /// Length of the block in bytes.
    pub len: u32,
    /// CRC32C of the block's bytes.
    pub crc: u32,
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn get_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn get_u64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

fn encode_entry(out: &mut Vec<u8>, e: &Entry) {
    put_u32(out, e.key.field);
    out.push(e.key.tag);
    out.push(0);
    out.extend_from_slice(&e.key.aux.to_le_bytes());
    put_u32(out, e.key.key);
    put_u32(out, e.len);
    put_u64(out, e.offset);
    put_u32(out, e.crc);
    put_u32(out, 0);
}

fn decode_entry(b: &[u8]) -> Entry {
    Entry {
        key: BlockKey {
            field: get_u32(b, 0),
            tag: b[4],
            aux: get_u16(b, 6),
            key: get_u32(b, 8),
        },
        len: get_u32(b, 12),
        offset: get_u64(b, 16),
        crc: get_u32(b, 24),
    }
}

/// The size of a block file's writes (but its last), each at an offset
/// that is a multiple of it: 2 MiB, a huge page. The page cache of a file
/// system with large folios (ext4 on Linux 6.16 and later, XFS) then holds
/// the file in 2 MiB folios, which a read-only map covers with one TLB
/// entry each instead of 512 (W1 at 100M users, about 35,000 pages of
/// 4 KiB, took 3% less CPU). Writes of 1 MiB, or at offsets that are not
/// multiples of 2 MiB, leave 4 KiB mappings.
pub const WRITE_SIZE: usize = 2 << 20;

/// A [`WalFile`] written in pieces of [`WRITE_SIZE`] bytes at multiples
/// of it.
struct AlignedOut {
    file: Box<dyn WalFile>,
    buf: Vec<u8>,
}

impl AlignedOut {
    fn write_all(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        while !bytes.is_empty() {
            let take = (WRITE_SIZE - self.buf.len()).min(bytes.len());
            self.buf.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.buf.len() == WRITE_SIZE {
                self.file.write_all(&self.buf)?;
                self.buf.clear();
            }
        }
        Ok(())
    }

    /// Writes what is buffered and gives the file back.
    fn into_inner(mut self) -> std::io::Result<Box<dyn WalFile>> {
        if !self.buf.is_empty() {
            self.file.write_all(&self.buf)?;
        }
        Ok(self.file)
    }
}

/// Writes a block file to a temporary name; [`BlockFileWriter::finish`]
/// fsyncs it and renames it into place. Every file operation goes through
/// a [`WalFs`] (the OS unless a test injects faults).
pub struct BlockFileWriter {
    path: PathBuf,
    temp: PathBuf,
    fs: Arc<dyn WalFs>,
    out: AlignedOut,
    pos: u64,
    entries: Vec<Entry>,
}

impl BlockFileWriter {
    /// Starts a file that will be named `path` once finished.
    pub fn create(path: &Path, magic: &[u8; 8], version: u32) -> Result<BlockFileWriter> {
        BlockFileWriter::create_with(Arc::new(RealFs), path, magic, version)
    }

    /// [`BlockFileWriter::create`] through `fs`.
    pub fn create_with(
        fs: Arc<dyn WalFs>,
        path: &Path,
        magic: &[u8; 8],
        version: u32,
    ) -> Result<BlockFileWriter> {
        let temp = temp_path_for(path);
        let file = create_temp(&*fs, &temp)?;
        let mut w = BlockFileWriter {
            path: path.to_path_buf(),
            temp,
            fs,
            out: AlignedOut {
                file,
                buf: Vec::new(),
            },
            pos: 0,
            entries: Vec::new(),
        };
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(magic);
        put_u32(&mut header, version);
        put_u32(&mut header, 0);
        w.write(&header)?;
        Ok(w)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.out
            .write_all(bytes)
            .map_err(|e| FormatError::io("write", &self.temp, e))?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    /// Appends a block. Keys must be unique within the file.
    pub fn add(&mut self, key: BlockKey, bytes: &[u8]) -> Result<()> {
        let pad = (8 - (self.pos % 8) as usize) % 8;
        if pad > 0 {
            self.write(&[0u8; 8][..pad])?;
        }
        let len = u32::try_from(bytes.len()).map_err(|_| {
            FormatError::io(
                "write",
                &self.temp,
                std::io::Error::other("block larger than 4 GiB"),
            )
        })?;
        self.entries.push(Entry {
            key,
            offset: self.pos,
            len,
            crc: crc32c::crc32c(bytes),
        });
        self.write(bytes)
    }

    /// The number of blocks added so far.
    pub fn num_blocks(&self) -> usize {
        self.entries.len()
    }

    /// Writes the directory and the footer, fsyncs, renames the file into
    /// place and fsyncs its directory. `info` is a file-kind specific word
    /// stored in the footer. Returns the file's length.
    pub fn finish(mut self, version: u32, info: u64) -> Result<u64> {
        self.entries.sort_by_key(|e| e.key);
        if let Some(w) = self.entries.windows(2).find(|w| w[0].key == w[1].key) {
            return Err(FormatError::io(
                "write",
                &self.temp,
                std::io::Error::other(format!("duplicate block key {:?}", w[0].key)),
            ));
        }
        let pad = (8 - (self.pos % 8) as usize) % 8;
        if pad > 0 {
            self.write(&[0u8; 8][..pad])?;
        }
        let dir_offset = self.pos;
        let mut dir = Vec::with_capacity(self.entries.len() * ENTRY_LEN);
        for e in &self.entries {
            encode_entry(&mut dir, e);
        }
        self.write(&dir)?;
        let mut footer = Vec::with_capacity(FOOTER_LEN);
        put_u64(&mut footer, dir_offset);
        put_u32(&mut footer, self.entries.len() as u32);
        put_u32(&mut footer, crc32c::crc32c(&dir));
        put_u64(&mut footer, info);
        put_u64(&mut footer, 0);
        put_u32(&mut footer, version);
        let crc = crc32c::crc32c(&footer);
        put_u32(&mut footer, crc);
        footer.extend_from_slice(FOOTER_MAGIC);
        self.write(&footer)?;
        let mut file = self
            .out
            .into_inner()
            .map_err(|e| FormatError::io("write", &self.temp, e))?;
        file.sync()
            .map_err(|e| FormatError::io("fsync", &self.temp, e))?;
        drop(file);
        rename_durably(&*self.fs, &self.temp, &self.path)?;
        Ok(self.pos)
    }
}

/// A block file opened for reading: the footer and directory are checked;
/// blocks are verified against their CRC32C on first use.
pub struct BlockFile {
    path: PathBuf,
    kind: FileKind,
    bytes: Bytes,
    dir_offset: usize,
    num_entries: usize,
    info: u64,
    verified: Vec<AtomicU64>,
}

impl std::fmt::Debug for BlockFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockFile")
            .field("path", &self.path)
            .field("len", &self.bytes.len())
            .field("blocks", &self.num_entries)
            .finish()
    }
}

impl BlockFile {
    /// Checks the header, footer and directory of `bytes` (the contents of
    /// `path`, mapped or on the heap).
    pub fn open(path: &Path, bytes: Bytes, magic: &[u8; 8], version: u32) -> Result<BlockFile> {
        let corrupt = |offset: usize, what: &str| FormatError::corrupt(path, offset as u64, what);
        let len = bytes.len();
        if len < HEADER_LEN {
            return Err(corrupt(len, "file truncated in its header"));
        }
        if &bytes[..8] != magic {
            return Err(corrupt(
                0,
                "bad magic number: not a segdb file of this kind",
            ));
        }
        let header_version = get_u32(&bytes, 8);
        if header_version != version {
            return Err(FormatError::UnsupportedVersion {
                path: path.to_path_buf(),
                found: header_version,
                supported: version,
            });
        }
        if len < HEADER_LEN + FOOTER_LEN {
            return Err(corrupt(len, "file truncated: no room for its footer"));
        }
        let f = len - FOOTER_LEN;
        if &bytes[f + 40..f + 48] != FOOTER_MAGIC {
            return Err(corrupt(
                f + 40,
                "footer magic missing: file truncated or overwritten",
            ));
        }
        if !crate::checksum_ok(crc32c::crc32c(&bytes[f..f + 36]), get_u32(&bytes, f + 36)) {
            return Err(corrupt(f, "footer checksum mismatch"));
        }
        let footer_version = get_u32(&bytes, f + 32);
        if footer_version != version {
            return Err(FormatError::UnsupportedVersion {
                path: path.to_path_buf(),
                found: footer_version,
                supported: version,
            });
        }
        let dir_offset = get_u64(&bytes, f);
        let num_entries = get_u32(&bytes, f + 8) as usize;
        let dir_len = num_entries as u64 * ENTRY_LEN as u64;
        // Checked: a damaged offset near 2^64 must not wrap around.
        if dir_offset < HEADER_LEN as u64 || dir_offset.checked_add(dir_len) != Some(f as u64) {
            return Err(corrupt(
                f,
                "directory offset or size inconsistent with the file length",
            ));
        }
        let dir_offset = dir_offset as usize;
        let dir = &bytes[dir_offset..f];
        if !crate::checksum_ok(crc32c::crc32c(dir), get_u32(&bytes, f + 12)) {
            return Err(corrupt(dir_offset, "directory checksum mismatch"));
        }
        let mut prev: Option<BlockKey> = None;
        for i in 0..num_entries {
            let e = decode_entry(&dir[i * ENTRY_LEN..]);
            if prev.is_some_and(|p| p >= e.key) {
                return Err(corrupt(dir_offset + i * ENTRY_LEN, "directory not sorted"));
            }
            prev = Some(e.key);
            let end = e.offset.checked_add(u64::from(e.len));
            if e.offset < HEADER_LEN as u64 || end.is_none_or(|end| end > dir_offset as u64) {
                return Err(corrupt(
                    dir_offset + i * ENTRY_LEN,
                    "directory entry points outside the blocks",
                ));
            }
        }
        let info = get_u64(&bytes, f + 16);
        let verified = (0..num_entries.div_ceil(64))
            .map(|_| AtomicU64::new(0))
            .collect();
        Ok(BlockFile {
            path: path.to_path_buf(),
            kind: FileKind::of_magic(magic),
            bytes,
            dir_offset,
            num_entries,
            info,
            verified,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the file is empty (never, for a valid file).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The file-kind specific word of the footer.
    pub fn info(&self) -> u64 {
        self.info
    }

    /// The number of blocks.
    pub fn num_blocks(&self) -> usize {
        self.num_entries
    }

    /// Directory entry `i`.
    pub fn entry(&self, i: usize) -> Entry {
        decode_entry(&self.bytes[self.dir_offset + i * ENTRY_LEN..])
    }

    /// The index of the entry with this key.
    pub fn find(&self, key: BlockKey) -> Option<usize> {
        let i = self.lower_bound(key);
        (i < self.num_entries && self.entry(i).key == key).then_some(i)
    }

    /// The index of the first entry whose key is not less than `key`.
    pub fn lower_bound(&self, key: BlockKey) -> usize {
        let (mut lo, mut hi) = (0, self.num_entries);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.entry(mid).key.cmp(&key) {
                Ordering::Less => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo
    }

    /// The bytes of block `i`, verified against its checksum the first time.
    pub fn block(&self, i: usize) -> Result<&[u8]> {
        self.block_validated(i, |_| Ok(()))
    }

    /// The bytes of block `i`; the first time, they are verified against
    /// their checksum and then given to `validate`, whose error (an offset
    /// within the block and a reason) is reported as corruption.
    pub fn block_validated(
        &self,
        i: usize,
        validate: impl FnOnce(&[u8]) -> std::result::Result<(), (usize, String)>,
    ) -> Result<&[u8]> {
        let e = self.entry(i);
        let b = &self.bytes[e.offset as usize..e.offset as usize + e.len as usize];
        let (word, bit) = (i / 64, 1u64 << (i % 64));
        if self.verified[word].load(AtomicOrdering::Relaxed) & bit == 0 {
            if !crate::checksum_ok(crc32c::crc32c(b), e.crc) {
                return Err(self.block_error(e, 0, format!("checksum mismatch ({} bytes)", e.len)));
            }
            validate(b).map_err(|(at, what)| self.block_error(e, at as u64, what))?;
            self.verified[word].fetch_or(bit, AtomicOrdering::Relaxed);
        }
        Ok(b)
    }

    /// What a block of this file is, for messages: its kind and key, and
    /// for a part its shard.
    pub fn label(&self, key: BlockKey) -> BlockLabel {
        BlockLabel {
            file: self.kind,
            key,
            shard: (self.kind == FileKind::Part).then_some(self.info as u32),
        }
    }

    /// A `CorruptBlock` error at `at` bytes into the block of entry `e`.
    fn block_error(&self, e: Entry, at: u64, what: String) -> FormatError {
        let block = self.label(e.key);
        FormatError::CorruptBlock {
            path: self.path.clone(),
            offset: e.offset + at,
            place: block.describe(Names::default()),
            block,
            what,
        }
    }

    /// Verifies every block against its checksum (`segdb check`): one error
    /// per damaged block, in file order.
    pub fn verify_all(&self) -> Vec<FormatError> {
        (0..self.num_entries)
            .filter_map(|i| self.block(i).err())
            .collect()
    }

    /// The block with this key, if the file has one.
    pub fn get(&self, key: BlockKey) -> Result<Option<&[u8]>> {
        match self.find(key) {
            Some(i) => self.block(i).map(Some),
            None => Ok(None),
        }
    }

    /// The bytes of the whole file (as mapped).
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }
}

#[cfg(test)]
pub(crate) mod tests;
