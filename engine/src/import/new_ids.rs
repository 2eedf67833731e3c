//! The external ids an import creates, before they are written as a
//! dictionary part: one byte arena, their end offsets and hashes, and an
//! open-addressing table of indices with a fingerprint beside each (8
//! bytes a slot), so that ten million new ids cost little more than their
//! bytes, and a lookup reads one slot's cache line, which
//! [`NewIds::prefetch`] can ask for ahead of time.

use segdb_storage_format::cpu::prefetch_at;

/// New ids in row order.
#[derive(Debug, Default)]
pub(crate) struct NewIds {
    bytes: String,
    ends: Vec<u64>,
    hashes: Vec<u64>,
    /// Slots: `fingerprint << 32 | (index + 1)`, 0 when empty; an id's
    /// home slot is `(hash × slots) >> 64` and the fingerprint the hash's
    /// low 32 bits; linear probing. At most 3/4 full.
    slots: Vec<u64>,
}

/// A slot's fingerprint of `hash`.
#[inline]
fn fingerprint(hash: u64) -> u64 {
    hash & 0xffff_ffff
}

impl NewIds {
    fn id(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.bytes[start..self.ends[i] as usize]
    }

    /// The number of new ids.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    #[inline]
    fn home(&self, hash: u64) -> usize {
        ((u128::from(hash) * self.slots.len() as u128) >> 64) as usize
    }

    /// Starts bringing the slot `hash` looks up first into the cache (an
    /// import does this some lines ahead, so that the misses of several
    /// lines are in flight together).
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        prefetch_at(&self.slots, self.home(hash));
    }

    /// The index of `id` (whose dictionary hash is `hash`), if it is new here.
    pub fn get(&self, id: &str, hash: u64) -> Option<u32> {
        let n = self.slots.len();
        if n == 0 {
            return None;
        }
        let fp = fingerprint(hash);
        let mut s = self.home(hash);
        loop {
            let v = self.slots[s];
            if v == 0 {
                return None;
            }
            if v >> 32 == fp {
                let i = (v & 0xffff_ffff) as usize - 1;
                if super::parse::same_bytes(self.id(i).as_bytes(), id.as_bytes()) {
                    return Some(i as u32);
                }
            }
            s += 1;
            if s == n {
                s = 0;
            }
        }
    }

    /// Makes room for `n` more ids of about `avg_len` bytes.
    pub fn reserve(&mut self, n: usize, avg_len: usize) {
        self.bytes.reserve(n * avg_len);
        self.ends.reserve(n);
        self.hashes.reserve(n);
        self.grow_to(self.len() + n);
    }

    /// Rebuilds the table for `n` ids if it holds fewer.
    fn grow_to(&mut self, n: usize) {
        let want = (n + n / 3).max(16);
        if want <= self.slots.len() {
            return;
        }
        self.slots = vec![0; want];
        for i in 0..self.hashes.len() {
            self.insert(self.hashes[i], i);
        }
    }

    fn insert(&mut self, hash: u64, i: usize) {
        let n = self.slots.len();
        let mut s = self.home(hash);
        while self.slots[s] != 0 {
            s += 1;
            if s == n {
                s = 0;
            }
        }
        self.slots[s] = fingerprint(hash) << 32 | (i as u64 + 1);
    }

    /// Adds an id that [`NewIds::get`] did not find; returns its index.
    pub fn push(&mut self, id: &str, hash: u64) -> u32 {
        let i = self.ends.len();
        if 4 * (i + 1) > 3 * self.slots.len() {
            self.grow_to(2 * (i + 1));
        }
        self.bytes.push_str(id);
        self.ends.push(self.bytes.len() as u64);
        self.hashes.push(hash);
        self.insert(hash, i);
        i as u32
    }

    /// Every id, in order, and their hashes.
    pub fn ids_and_hashes(&self) -> (Vec<&str>, &[u64]) {
        ((0..self.len()).map(|i| self.id(i)).collect(), &self.hashes)
    }
}

/// A Bloom filter of the hashes of ids written out by an import (16 bits
/// an id, two probes in one 512-bit block, so one cache line: about 1.5%
/// false positives), so that looking up a new id rarely touches the
/// dictionary parts already written.
#[derive(Debug)]
pub(crate) struct IdFilter {
    blocks: Vec<Block>,
    /// Blocks minus one (a power of two).
    mask: u64,
}

/// 512 bits on one cache line.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Block([u64; 8]);

impl IdFilter {
    /// A filter of the ids in `ids`.
    pub fn of(ids: &NewIds) -> IdFilter {
        let blocks = (ids.len().max(1) * 16 / 512).max(1).next_power_of_two();
        let mut f = IdFilter {
            blocks: vec![Block([0; 8]); blocks],
            mask: blocks as u64 - 1,
        };
        for &h in &ids.hashes {
            let (b, bits) = f.probes(h);
            for bit in bits {
                f.blocks[b].0[bit / 64] |= 1 << (bit % 64);
            }
        }
        f
    }

    /// `h`'s block (its low bits) and two bits in it (its top 18 bits).
    #[inline]
    fn probes(&self, h: u64) -> (usize, [usize; 2]) {
        (
            (h & self.mask) as usize,
            [(h >> 55) as usize, (h >> 46 & 511) as usize],
        )
    }

    /// Starts bringing `h`'s block into the cache.
    #[inline]
    pub fn prefetch(&self, h: u64) {
        prefetch_at(&self.blocks, (h & self.mask) as usize);
    }

    /// Whether an id of this hash may be in the filter (never a false no).
    pub fn may_contain(&self, h: u64) -> bool {
        let (b, bits) = self.probes(h);
        let words = &self.blocks[b].0;
        bits.iter()
            .all(|&bit| words[bit / 64] & (1 << (bit % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use segdb_storage_format::dictionary::hash_id;

    #[test]
    fn finds_what_it_holds() {
        let mut n = NewIds::default();
        // Empty: nothing found, and a prefetch reads nothing.
        n.prefetch(hash_id(b"u0"));
        assert_eq!(n.get("u0", hash_id(b"u0")), None);
        // From empty, growing by doubling (rebuilt each time).
        for i in 0..10_000 {
            let id = format!("u{i}");
            let h = hash_id(id.as_bytes());
            assert_eq!(n.get(&id, h), None);
            assert_eq!(n.push(&id, h), i);
        }
        for i in 0..10_000u32 {
            let id = format!("u{i}");
            assert_eq!(n.get(&id, hash_id(id.as_bytes())), Some(i));
        }
        let filter = IdFilter::of(&n);
        for i in 0..10_000 {
            assert!(filter.may_contain(hash_id(format!("u{i}").as_bytes())));
        }
        let false_positives = (0..10_000)
            .filter(|i| filter.may_contain(hash_id(format!("x{i}").as_bytes())))
            .count();
        assert!(
            false_positives < 400,
            "{false_positives} false positives in 10,000"
        );
        // Room made ahead, then more ids than it: found all the same.
        let mut m = NewIds::default();
        m.reserve(100, 6);
        for i in 0..1_000u32 {
            let id = format!("v{i}");
            m.prefetch(hash_id(id.as_bytes()));
            assert_eq!(m.push(&id, hash_id(id.as_bytes())), i);
        }
        for i in 0..1_000u32 {
            let id = format!("v{i}");
            assert_eq!(m.get(&id, hash_id(id.as_bytes())), Some(i));
        }
        // Same hash, other text: not found.
        assert_eq!(n.get("nope", hash_id(b"u5")), None);
        let (ids, hashes) = n.ids_and_hashes();
        assert_eq!(ids[42], "u42");
        assert_eq!(hashes.len(), 10_000);
    }
}
