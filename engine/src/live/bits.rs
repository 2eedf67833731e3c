//! A mutable bitmap of one shard's rows, for the live delta: 16 chunks of
//! 65,536 rows, each a sorted `u16` array or 1,024 dense words, indexed by
//! chunk directly (a probe is an index and a bit test or a binary search),
//! serialized as a portable Roaring bitmap (no run containers) with one
//! copy per container.

use segdb_storage_format::bitmap::{RoaringView, ARRAY_MAX, SERIAL_COOKIE_NO_RUNCONTAINER};
use segdb_storage_format::part::CHUNKS_PER_SHARD;

const CHUNKS: usize = CHUNKS_PER_SHARD as usize;

/// A chunk becomes dense words above this many rows (and an array again
/// at half of it): Roaring's own threshold, so that serializing copies
/// each chunk as it is. (Dense from 1,024 rows made probes cheaper but
/// serializing dearer: 95,285 against 140,962 operations/s in
/// `ingest_engine`.)
const DENSE_AT: usize = ARRAY_MAX;

#[derive(Debug, Clone)]
enum Chunk {
    Sparse(Vec<u16>),
    Dense(Box<[u64; 1024]>, u32),
}

impl Chunk {
    fn len(&self) -> u32 {
        match self {
            Chunk::Sparse(v) => v.len() as u32,
            Chunk::Dense(_, n) => *n,
        }
    }

    fn for_each(&self, mut f: impl FnMut(u16)) {
        match self {
            Chunk::Sparse(v) => v.iter().for_each(|&x| f(x)),
            Chunk::Dense(w, _) => {
                for (i, &word) in w.iter().enumerate() {
                    let mut x = word;
                    while x != 0 {
                        f((i as u32 * 64 + x.trailing_zeros()) as u16);
                        x &= x - 1;
                    }
                }
            }
        }
    }

    fn dense_from(values: &[u16]) -> Chunk {
        let mut w = Box::new([0u64; 1024]);
        for &x in values {
            w[usize::from(x) / 64] |= 1 << (x % 64);
        }
        Chunk::Dense(w, values.len() as u32)
    }

    fn sparse_from(&self) -> Vec<u16> {
        let mut v = Vec::with_capacity(self.len() as usize);
        self.for_each(|x| v.push(x));
        v
    }
}

/// A shard's rows (see the module's documentation).
#[derive(Debug, Clone, Default)]
pub(crate) struct ShardBits {
    chunks: [Option<Chunk>; CHUNKS],
}

impl ShardBits {
    /// A copy of a bitmap read in place (row ids below 2^20).
    pub(crate) fn from_view(v: &RoaringView<'_>) -> ShardBits {
        let mut out = ShardBits::default();
        for i in 0..v.num_containers() {
            let key = usize::from(v.key(i));
            if key >= CHUNKS {
                continue;
            }
            let c = v.container_at(i);
            let n = c.cardinality();
            out.chunks[key] = if n as usize > DENSE_AT {
                let mut w = Box::new([0u64; 1024]);
                c.for_each(|x| w[usize::from(x) / 64] |= 1 << (x % 64));
                Some(Chunk::Dense(w, n))
            } else if n > 0 {
                let mut s = Vec::with_capacity(n as usize);
                c.for_each(|x| s.push(x));
                Some(Chunk::Sparse(s))
            } else {
                None
            };
        }
        out
    }

    pub(crate) fn contains(&self, r: u32) -> bool {
        let (key, low) = ((r >> 16) as usize, r as u16);
        match self.chunks.get(key) {
            Some(Some(Chunk::Sparse(v))) => v.binary_search(&low).is_ok(),
            Some(Some(Chunk::Dense(w, _))) => w[usize::from(low) / 64] >> (low % 64) & 1 == 1,
            _ => false,
        }
    }

    /// Adds `r` (below 2^20); whether it was new.
    pub(crate) fn insert(&mut self, r: u32) -> bool {
        let (key, low) = ((r >> 16) as usize, r as u16);
        let Some(slot) = self.chunks.get_mut(key) else {
            return false;
        };
        match slot {
            None => {
                *slot = Some(Chunk::Sparse(vec![low]));
                true
            }
            Some(Chunk::Sparse(v)) => match v.binary_search(&low) {
                Ok(_) => false,
                Err(at) => {
                    v.insert(at, low);
                    if v.len() > DENSE_AT {
                        let dense = Chunk::dense_from(v);
                        *slot = Some(dense);
                    }
                    true
                }
            },
            Some(Chunk::Dense(w, n)) => {
                let (i, bit) = (usize::from(low) / 64, 1u64 << (low % 64));
                if w[i] & bit != 0 {
                    return false;
                }
                w[i] |= bit;
                *n += 1;
                true
            }
        }
    }

    /// Removes `r`; whether it was there.
    pub(crate) fn remove(&mut self, r: u32) -> bool {
        let (key, low) = ((r >> 16) as usize, r as u16);
        let Some(slot) = self.chunks.get_mut(key) else {
            return false;
        };
        let removed = match slot {
            None => false,
            Some(Chunk::Sparse(v)) => match v.binary_search(&low) {
                Ok(at) => {
                    v.remove(at);
                    true
                }
                Err(_) => false,
            },
            Some(Chunk::Dense(w, n)) => {
                let (i, bit) = (usize::from(low) / 64, 1u64 << (low % 64));
                if w[i] & bit == 0 {
                    false
                } else {
                    w[i] &= !bit;
                    *n -= 1;
                    true
                }
            }
        };
        // Back to an array well below the threshold (not at it, so that a
        // row going in and out does not convert every time).
        let sparse = match slot {
            Some(Chunk::Dense(_, n)) if *n as usize <= DENSE_AT / 2 => {
                slot.as_ref().map(Chunk::sparse_from)
            }
            _ => None,
        };
        if let Some(v) = sparse {
            *slot = Some(Chunk::Sparse(v));
        }
        if slot.as_ref().is_some_and(|c| c.len() == 0) {
            *slot = None;
        }
        removed
    }

    /// The rows, in increasing order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.chunks.iter().enumerate().flat_map(|(key, c)| {
            let mut v: Vec<u32> = Vec::new();
            if let Some(c) = c {
                v.reserve(c.len() as usize);
                c.for_each(|x| v.push((key as u32) << 16 | u32::from(x)));
            }
            v.into_iter()
        })
    }

    /// The portable Roaring bytes (an empty bitmap is 8 bytes: a tombstone
    /// in a layer).
    pub(crate) fn serialize(&self) -> Vec<u8> {
        let present: Vec<(u16, &Chunk)> = self
            .chunks
            .iter()
            .enumerate()
            .filter_map(|(k, c)| c.as_ref().map(|c| (k as u16, c)))
            .collect();
        let n = present.len();
        let size: usize = present
            .iter()
            .map(|(_, c)| {
                if c.len() as usize > ARRAY_MAX {
                    8192
                } else {
                    2 * c.len() as usize
                }
            })
            .sum();
        let mut out = Vec::with_capacity(8 + 8 * n + size);
        out.extend_from_slice(&SERIAL_COOKIE_NO_RUNCONTAINER.to_le_bytes());
        out.extend_from_slice(&(n as u32).to_le_bytes());
        for (key, c) in &present {
            out.extend_from_slice(&key.to_le_bytes());
            out.extend_from_slice(&((c.len() - 1) as u16).to_le_bytes());
        }
        let mut at = out.len() + 4 * n;
        for (_, c) in &present {
            out.extend_from_slice(&(at as u32).to_le_bytes());
            at += if c.len() as usize > ARRAY_MAX {
                8192
            } else {
                2 * c.len() as usize
            };
        }
        // Sized first, then filled in place: the copies compile to wide
        // moves, not a push per value.
        for (_, c) in &present {
            let start = out.len();
            match c {
                Chunk::Dense(w, n) if *n as usize > ARRAY_MAX => {
                    out.resize(start + 8192, 0);
                    for (dst, x) in out[start..].chunks_exact_mut(8).zip(w.iter()) {
                        dst.copy_from_slice(&x.to_le_bytes());
                    }
                }
                Chunk::Sparse(v) => {
                    out.resize(start + 2 * v.len(), 0);
                    for (dst, x) in out[start..].chunks_exact_mut(2).zip(v.iter()) {
                        dst.copy_from_slice(&x.to_le_bytes());
                    }
                }
                c => c.for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn behaves_like_a_set_and_serializes_to_portable_roaring(
            start in prop::collection::btree_set(0u32..(1 << 20), 0..3000),
            ops in prop::collection::vec((any::<bool>(), 0u32..200_000), 0..12_000),
        ) {
            let bytes = segdb_storage_format::bitmap::serialize_sorted(start.iter().copied());
            let mut b = ShardBits::from_view(&RoaringView::new(&bytes).unwrap());
            let mut model = start.clone();
            for (add, r) in ops {
                // Crowd the first chunk past the array limit and back.
                let r = if r < 150_000 { r % 9_000 } else { r };
                if add {
                    prop_assert_eq!(b.insert(r), model.insert(r));
                } else {
                    prop_assert_eq!(b.remove(r), model.remove(&r));
                }
            }
            prop_assert_eq!(b.iter().collect::<Vec<_>>(), model.iter().copied().collect::<Vec<_>>());
            for r in [0, 1, 8_999, 65_535, 65_536, 199_999] {
                prop_assert_eq!(b.contains(r), model.contains(&r));
            }
            let ser = b.serialize();
            let view = RoaringView::new(&ser).unwrap();
            prop_assert_eq!(view.to_vec(), model.iter().copied().collect::<Vec<_>>());
            let theirs = roaring::RoaringBitmap::deserialize_from(&ser[..]).unwrap();
            prop_assert_eq!(theirs.len(), model.len() as u64);
        }
    }
}
