//! Roaring bitmaps in the portable serialization format (the
//! RoaringFormatSpec shared by CRoaring, Java, Go and roaring-rs), read in
//! place from bytes and written from sorted row ids.
//!
//! A bitmap is split by the high 16 bits of each value into containers of up
//! to 65,536 values: an *array* (sorted `u16`s, at most 4,096), a *bitmap*
//! (1,024 little-endian `u64` words) or a *run* list (`(start, length-1)`
//! pairs). [`RoaringView`] locates containers without copying; the dense
//! operations in [`crate::dense`] combine them with 65,536-bit chunks.

/// Cookie of a bitmap without run containers (followed by a `u32` count).
pub const SERIAL_COOKIE_NO_RUNCONTAINER: u32 = 12346;
/// Cookie of a bitmap with run containers (low 16 bits; high 16 bits hold
/// the container count minus one).
pub const SERIAL_COOKIE: u16 = 12347;
/// Below this many containers a bitmap with runs has no offset header.
pub const NO_OFFSET_THRESHOLD: usize = 4;
/// Largest cardinality stored as an array container.
pub const ARRAY_MAX: usize = 4096;
/// Bytes of a bitmap container.
pub const BITMAP_BYTES: usize = 8192;

#[inline]
fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

#[inline]
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// One container of a bitmap, as little-endian bytes in place.
#[derive(Debug, Clone, Copy)]
pub enum Container<'a> {
    /// `2 * cardinality` bytes: sorted `u16` values.
    Array(&'a [u8]),
    /// 8,192 bytes: 1,024 `u64` words, bit `i` of word `w` is value `64w + i`.
    Bitmap(&'a [u8]),
    /// `4 * runs` bytes: `(start, length - 1)` pairs of `u16`, sorted, disjoint.
    Run(&'a [u8]),
}

impl<'a> Container<'a> {
    /// The number of values in the container.
    pub fn cardinality(&self) -> u32 {
        match *self {
            Container::Array(b) => (b.len() / 2) as u32,
            Container::Bitmap(b) => b
                .chunks_exact(8)
                .map(|w| u64::from_le_bytes(w.try_into().unwrap_or([0; 8])).count_ones())
                .sum(),
            Container::Run(b) => b
                .chunks_exact(4)
                .map(|r| u32::from(u16::from_le_bytes([r[2], r[3]])) + 1)
                .sum(),
        }
    }

    /// Whether the container holds `low`.
    pub fn contains(&self, low: u16) -> bool {
        match *self {
            Container::Array(b) => {
                let (mut lo, mut hi) = (0usize, b.len() / 2);
                while lo < hi {
                    let mid = (lo + hi) / 2;
                    let v = u16_at(b, mid * 2);
                    if v < low {
                        lo = mid + 1;
                    } else if v > low {
                        hi = mid;
                    } else {
                        return true;
                    }
                }
                false
            }
            Container::Bitmap(b) => {
                let byte = b[usize::from(low) / 8];
                byte & (1 << (low % 8)) != 0
            }
            Container::Run(b) => b.chunks_exact(4).any(|r| {
                let start = u16::from_le_bytes([r[0], r[1]]);
                let len = u16::from_le_bytes([r[2], r[3]]);
                low >= start && u32::from(low) <= u32::from(start) + u32::from(len)
            }),
        }
    }

    /// Calls `f` with every value of the container, in increasing order.
    #[inline]
    pub fn for_each(&self, mut f: impl FnMut(u16)) {
        match *self {
            Container::Array(b) => {
                for v in b.chunks_exact(2) {
                    f(u16::from_le_bytes([v[0], v[1]]));
                }
            }
            Container::Bitmap(b) => {
                for (w, word) in b.chunks_exact(8).enumerate() {
                    let mut x = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
                    while x != 0 {
                        let t = x.trailing_zeros();
                        f((w as u32 * 64 + t) as u16);
                        x &= x - 1;
                    }
                }
            }
            Container::Run(b) => {
                for r in b.chunks_exact(4) {
                    let start = u32::from(u16::from_le_bytes([r[0], r[1]]));
                    let len = u32::from(u16::from_le_bytes([r[2], r[3]]));
                    for v in start..=start + len {
                        f(v as u16);
                    }
                }
            }
        }
    }
}

/// A portable Roaring bitmap read in place. Construction checks the
/// structure (counts, offsets and sizes in bounds, keys increasing), so
/// later accesses cannot go out of bounds.
#[derive(Debug, Clone, Copy)]
pub struct RoaringView<'a> {
    bytes: &'a [u8],
    num_containers: usize,
    /// Offset of the descriptive header (key, cardinality-1 pairs).
    keys_at: usize,
    /// Offset of the run flag bitset, if the bitmap has runs.
    run_flags_at: Option<usize>,
    /// Offset of the first container when there is no offset header.
    first_container_at: usize,
    has_offsets: bool,
    offsets_at: usize,
}

/// Why bytes are not a valid portable bitmap: a reason and the offset inside
/// the bitmap's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidBitmap {
    /// Offset within the bitmap's bytes.
    pub offset: usize,
    /// What is wrong.
    pub what: String,
}

fn invalid(offset: usize, what: impl Into<String>) -> InvalidBitmap {
    InvalidBitmap {
        offset,
        what: what.into(),
    }
}

impl<'a> RoaringView<'a> {
    /// Reads the headers of a portable bitmap and checks its structure.
    pub fn new(bytes: &'a [u8]) -> Result<RoaringView<'a>, InvalidBitmap> {
        let view = RoaringView::new_unchecked(bytes)?;
        view.check()?;
        Ok(view)
    }

    /// Reads the headers of a portable bitmap whose structure was checked
    /// before (by [`RoaringView::new`] on the same bytes). Only the headers'
    /// sizes are checked; container contents are trusted.
    pub fn new_unchecked(bytes: &'a [u8]) -> Result<RoaringView<'a>, InvalidBitmap> {
        if bytes.len() < 4 {
            return Err(invalid(0, "bitmap shorter than its cookie"));
        }
        let cookie = u32_at(bytes, 0);
        let (num_containers, run_flags_at, keys_at) = if cookie == SERIAL_COOKIE_NO_RUNCONTAINER {
            if bytes.len() < 8 {
                return Err(invalid(4, "bitmap truncated in its container count"));
            }
            (u32_at(bytes, 4) as usize, None, 8)
        } else if cookie as u16 == SERIAL_COOKIE {
            let n = (cookie >> 16) as usize + 1;
            let flags_len = n.div_ceil(8);
            (n, Some(4), 4 + flags_len)
        } else {
            return Err(invalid(0, format!("unknown cookie {cookie:#x}")));
        };
        if num_containers > 65_536 {
            return Err(invalid(
                4,
                format!("{num_containers} containers (at most 65536)"),
            ));
        }
        let has_offsets = run_flags_at.is_none() || num_containers >= NO_OFFSET_THRESHOLD;
        let offsets_at = keys_at + 4 * num_containers;
        let first_container_at = offsets_at + if has_offsets { 4 * num_containers } else { 0 };
        if bytes.len() < first_container_at {
            return Err(invalid(bytes.len(), "bitmap truncated in its headers"));
        }
        let view = RoaringView {
            bytes,
            num_containers,
            keys_at,
            run_flags_at,
            first_container_at,
            has_offsets,
            offsets_at,
        };
        Ok(view)
    }

    fn is_run(&self, i: usize) -> bool {
        match self.run_flags_at {
            Some(at) => self.bytes[at + i / 8] & (1 << (i % 8)) != 0,
            None => false,
        }
    }

    fn check(&self) -> Result<(), InvalidBitmap> {
        let mut pos = self.first_container_at;
        let mut prev_key: Option<u16> = None;
        for i in 0..self.num_containers {
            let key = self.key(i);
            if prev_key.is_some_and(|p| p >= key) {
                return Err(invalid(
                    self.keys_at + 4 * i,
                    "container keys not increasing",
                ));
            }
            prev_key = Some(key);
            let card = u32::from(u16_at(self.bytes, self.keys_at + 4 * i + 2)) + 1;
            let at = if self.has_offsets {
                u32_at(self.bytes, self.offsets_at + 4 * i) as usize
            } else {
                pos
            };
            if at > self.bytes.len() {
                return Err(invalid(
                    self.offsets_at + 4 * i,
                    "container offset past the end",
                ));
            }
            let size = if self.is_run(i) {
                if at + 2 > self.bytes.len() {
                    return Err(invalid(at, "run container truncated"));
                }
                let runs = usize::from(u16_at(self.bytes, at));
                let end = at + 2 + 4 * runs;
                if end > self.bytes.len() {
                    return Err(invalid(at, "run container truncated"));
                }
                let mut sum = 0u32;
                for r in self.bytes[at + 2..end].chunks_exact(4) {
                    let start = u32::from(u16::from_le_bytes([r[0], r[1]]));
                    let len = u32::from(u16::from_le_bytes([r[2], r[3]]));
                    if start + len > 65_535 {
                        return Err(invalid(at, "run past the end of its container"));
                    }
                    sum += len + 1;
                }
                if sum != card {
                    return Err(invalid(at, "run container cardinality mismatch"));
                }
                2 + 4 * runs
            } else if card as usize <= ARRAY_MAX {
                2 * card as usize
            } else {
                BITMAP_BYTES
            };
            if at + size > self.bytes.len() {
                return Err(invalid(at, "container truncated"));
            }
            pos = at + size;
        }
        Ok(())
    }

    /// The number of containers.
    pub fn num_containers(&self) -> usize {
        self.num_containers
    }

    /// The key (high 16 bits) of container `i`.
    #[inline]
    pub fn key(&self, i: usize) -> u16 {
        u16_at(self.bytes, self.keys_at + 4 * i)
    }

    /// The cardinality of container `i` (from the header, without reading it).
    #[inline]
    pub fn container_cardinality(&self, i: usize) -> u32 {
        u32::from(u16_at(self.bytes, self.keys_at + 4 * i + 2)) + 1
    }

    /// The number of values in the bitmap.
    pub fn cardinality(&self) -> u64 {
        (0..self.num_containers)
            .map(|i| u64::from(self.container_cardinality(i)))
            .sum()
    }

    /// Container `i`.
    pub fn container_at(&self, i: usize) -> Container<'a> {
        let at = if self.has_offsets {
            u32_at(self.bytes, self.offsets_at + 4 * i) as usize
        } else {
            // Without offsets (fewer than 4 containers), walk from the first.
            let mut pos = self.first_container_at;
            for j in 0..i {
                pos += self.container_size(j, pos);
            }
            pos
        };
        let size = self.container_size(i, at);
        let b = &self.bytes[at..at + size];
        if self.is_run(i) {
            Container::Run(&b[2..])
        } else if self.container_cardinality(i) as usize > ARRAY_MAX {
            Container::Bitmap(b)
        } else {
            Container::Array(b)
        }
    }

    fn container_size(&self, i: usize, at: usize) -> usize {
        if self.is_run(i) {
            2 + 4 * usize::from(u16_at(self.bytes, at))
        } else {
            let card = self.container_cardinality(i) as usize;
            if card <= ARRAY_MAX {
                2 * card
            } else {
                BITMAP_BYTES
            }
        }
    }

    /// The container with this key, if any.
    #[inline]
    pub fn container(&self, key: u16) -> Option<Container<'a>> {
        let (mut lo, mut hi) = (0usize, self.num_containers);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let k = self.key(mid);
            if k < key {
                lo = mid + 1;
            } else if k > key {
                hi = mid;
            } else {
                return Some(self.container_at(mid));
            }
        }
        None
    }

    /// Whether the bitmap holds `value`.
    pub fn contains(&self, value: u32) -> bool {
        self.container((value >> 16) as u16)
            .is_some_and(|c| c.contains(value as u16))
    }

    /// Every value, in increasing order.
    pub fn to_vec(&self) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.cardinality() as usize);
        self.for_each(|v| out.push(v));
        out
    }

    /// Calls `f` with every value, in increasing order.
    #[inline]
    pub fn for_each(&self, mut f: impl FnMut(u32)) {
        for i in 0..self.num_containers {
            let high = u32::from(self.key(i)) << 16;
            self.container_at(i).for_each(|v| f(high | u32::from(v)));
        }
    }
}

/// Writes a portable bitmap from values pushed in strictly increasing order,
/// choosing for each container the smallest of array, bitmap and run.
#[derive(Debug, Default)]
pub struct RoaringWriter {
    containers: Vec<(u16, ContainerBuf)>,
    current_key: Option<u16>,
    current: Vec<u16>,
    len: u64,
}

#[derive(Debug)]
enum ContainerBuf {
    Array(Vec<u16>),
    Bitmap(Box<[u64; 1024]>),
    Run(Vec<(u16, u16)>),
}

impl ContainerBuf {
    fn cardinality(&self) -> u32 {
        match self {
            ContainerBuf::Array(v) => v.len() as u32,
            ContainerBuf::Bitmap(w) => w.iter().map(|x| x.count_ones()).sum(),
            ContainerBuf::Run(r) => r.iter().map(|&(_, l)| u32::from(l) + 1).sum(),
        }
    }

    fn serialized_len(&self) -> usize {
        match self {
            ContainerBuf::Array(v) => 2 * v.len(),
            ContainerBuf::Bitmap(_) => BITMAP_BYTES,
            ContainerBuf::Run(r) => 2 + 4 * r.len(),
        }
    }

    /// The smallest container for sorted, distinct values.
    fn from_sorted(values: &[u16]) -> ContainerBuf {
        // Count runs first; build them only if they are the smallest form.
        let num_runs = 1 + values
            .windows(2)
            .filter(|w| u32::from(w[0]) + 1 != u32::from(w[1]))
            .count();
        let run_size = 2 + 4 * num_runs;
        let other_size = if values.len() <= ARRAY_MAX {
            2 * values.len()
        } else {
            BITMAP_BYTES
        };
        if run_size < other_size {
            let mut runs: Vec<(u16, u16)> = Vec::with_capacity(num_runs);
            for &v in values {
                match runs.last_mut() {
                    Some((start, len))
                        if u32::from(*start) + u32::from(*len) + 1 == u32::from(v) =>
                    {
                        *len += 1
                    }
                    _ => runs.push((v, 0)),
                }
            }
            ContainerBuf::Run(runs)
        } else if values.len() <= ARRAY_MAX {
            ContainerBuf::Array(values.to_vec())
        } else {
            let mut words = Box::new([0u64; 1024]);
            for &v in values {
                words[usize::from(v) / 64] |= 1 << (v % 64);
            }
            ContainerBuf::Bitmap(words)
        }
    }

    fn from_words(words: &[u64; 1024]) -> Option<ContainerBuf> {
        let card: u32 = words.iter().map(|x| x.count_ones()).sum();
        if card == 0 {
            return None;
        }
        // Count runs: a run starts at every set bit whose predecessor is clear.
        let mut num_runs = 0usize;
        let mut carry = 0u64;
        for &w in words.iter() {
            let prev = (w << 1) | carry;
            num_runs += (w & !prev).count_ones() as usize;
            carry = w >> 63;
        }
        let run_size = 2 + 4 * num_runs;
        if card as usize > ARRAY_MAX && run_size >= BITMAP_BYTES {
            return Some(ContainerBuf::Bitmap(Box::new(*words)));
        }
        let mut values = Vec::with_capacity(card as usize);
        crate::dense::for_each_set(words, |v| values.push(v));
        Some(ContainerBuf::from_sorted(&values))
    }
}

impl RoaringWriter {
    /// An empty writer.
    pub fn new() -> RoaringWriter {
        RoaringWriter::default()
    }

    /// Adds a value greater than every value added before (smaller or equal
    /// values are a caller bug and are ignored in release builds).
    #[inline]
    pub fn push(&mut self, value: u32) {
        let key = (value >> 16) as u16;
        if self.current_key != Some(key) {
            self.flush_current();
            self.current_key = Some(key);
        }
        let low = value as u16;
        debug_assert!(self.current.last().is_none_or(|&l| l < low));
        self.current.push(low);
        self.len += 1;
    }

    /// Adds a whole container of 1,024 words for `key` (greater than every key
    /// added before).
    pub fn push_words(&mut self, key: u16, words: &[u64; 1024]) {
        self.flush_current();
        if let Some(c) = ContainerBuf::from_words(words) {
            self.len += u64::from(c.cardinality());
            self.containers.push((key, c));
        }
    }

    fn flush_current(&mut self) {
        if let Some(key) = self.current_key.take() {
            if !self.current.is_empty() {
                self.containers
                    .push((key, ContainerBuf::from_sorted(&self.current)));
            }
            self.current.clear();
        }
    }

    /// The number of values added.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether no value was added.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The serialized bitmap.
    pub fn finish(mut self) -> Vec<u8> {
        self.flush_current();
        let n = self.containers.len();
        let has_runs = self
            .containers
            .iter()
            .any(|(_, c)| matches!(c, ContainerBuf::Run(_)));
        let mut out = Vec::new();
        let has_offsets = if has_runs {
            out.extend_from_slice(
                &(u32::from(SERIAL_COOKIE) | ((n as u32 - 1) << 16)).to_le_bytes(),
            );
            let mut flags = vec![0u8; n.div_ceil(8)];
            for (i, (_, c)) in self.containers.iter().enumerate() {
                if matches!(c, ContainerBuf::Run(_)) {
                    flags[i / 8] |= 1 << (i % 8);
                }
            }
            out.extend_from_slice(&flags);
            n >= NO_OFFSET_THRESHOLD
        } else {
            out.extend_from_slice(&SERIAL_COOKIE_NO_RUNCONTAINER.to_le_bytes());
            out.extend_from_slice(&(n as u32).to_le_bytes());
            true
        };
        for (key, c) in &self.containers {
            out.extend_from_slice(&key.to_le_bytes());
            out.extend_from_slice(&((c.cardinality() - 1) as u16).to_le_bytes());
        }
        if has_offsets {
            let mut at = out.len() + 4 * n;
            for (_, c) in &self.containers {
                out.extend_from_slice(&(at as u32).to_le_bytes());
                at += c.serialized_len();
            }
        }
        for (_, c) in &self.containers {
            match c {
                ContainerBuf::Array(v) => {
                    for x in v {
                        out.extend_from_slice(&x.to_le_bytes());
                    }
                }
                ContainerBuf::Bitmap(w) => {
                    for x in w.iter() {
                        out.extend_from_slice(&x.to_le_bytes());
                    }
                }
                ContainerBuf::Run(r) => {
                    out.extend_from_slice(&(r.len() as u16).to_le_bytes());
                    for &(s, l) in r {
                        out.extend_from_slice(&s.to_le_bytes());
                        out.extend_from_slice(&l.to_le_bytes());
                    }
                }
            }
        }
        out
    }
}

/// Serializes sorted, distinct values.
pub fn serialize_sorted(values: impl IntoIterator<Item = u32>) -> Vec<u8> {
    let mut w = RoaringWriter::new();
    for v in values {
        w.push(v);
    }
    w.finish()
}

#[cfg(test)]
mod tests;
