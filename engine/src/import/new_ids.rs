//! The external ids an import creates, before they are written as a
//! dictionary part: one byte arena, their end offsets and hashes, and a
//! hash table of indices (4 bytes an id), so that ten million new ids cost
//! little more than their bytes.

use hashbrown::HashTable;

/// New ids in row order.
#[derive(Debug, Default)]
pub(crate) struct NewIds {
    bytes: String,
    ends: Vec<u64>,
    hashes: Vec<u64>,
    table: HashTable<u32>,
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

    /// The index of `id` (whose dictionary hash is `hash`), if it is new here.
    pub fn get(&self, id: &str, hash: u64) -> Option<u32> {
        self.table
            .find(hash, |&i| {
                self.hashes[i as usize] == hash
                    && super::parse::same_bytes(self.id(i as usize).as_bytes(), id.as_bytes())
            })
            .copied()
    }

    /// Makes room for `n` more ids of about `avg_len` bytes.
    pub fn reserve(&mut self, n: usize, avg_len: usize) {
        self.bytes.reserve(n * avg_len);
        self.ends.reserve(n);
        self.hashes.reserve(n);
        let hashes = &self.hashes;
        self.table.reserve(n, |&j| hashes[j as usize]);
    }

    /// Adds an id that [`NewIds::get`] did not find; returns its index.
    pub fn push(&mut self, id: &str, hash: u64) -> u32 {
        let i = self.ends.len() as u32;
        self.bytes.push_str(id);
        self.ends.push(self.bytes.len() as u64);
        self.hashes.push(hash);
        let hashes = &self.hashes;
        self.table.insert_unique(hash, i, |&j| hashes[j as usize]);
        i
    }

    /// Every id, in order, and their hashes.
    pub fn ids_and_hashes(&self) -> (Vec<&str>, &[u64]) {
        ((0..self.len()).map(|i| self.id(i)).collect(), &self.hashes)
    }
}

/// A Bloom filter of the hashes of ids written out by an import (16 bits
/// an id, two probes: about 1.4% false positives), so that looking up a new
/// id rarely touches the dictionary parts already written.
#[derive(Debug)]
pub(crate) struct IdFilter {
    bits: Vec<u64>,
    mask: u64,
}

impl IdFilter {
    /// A filter of the ids in `ids`.
    pub fn of(ids: &NewIds) -> IdFilter {
        let num_bits = (ids.len().max(1) * 16).next_power_of_two() as u64;
        let mut f = IdFilter {
            bits: vec![0; (num_bits / 64).max(1) as usize],
            mask: num_bits - 1,
        };
        for &h in &ids.hashes {
            for b in f.probes(h) {
                f.bits[(b / 64) as usize] |= 1 << (b % 64);
            }
        }
        f
    }

    fn probes(&self, h: u64) -> [u64; 2] {
        [
            h & self.mask,
            h.rotate_left(32).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 7 & self.mask,
        ]
    }

    /// Whether an id of this hash may be in the filter (never a false no).
    pub fn may_contain(&self, h: u64) -> bool {
        self.probes(h)
            .iter()
            .all(|&b| self.bits[(b / 64) as usize] & (1 << (b % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use segdb_storage_format::dictionary::hash_id;

    #[test]
    fn finds_what_it_holds() {
        let mut n = NewIds::default();
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
        // Same hash, other text: not found.
        assert_eq!(n.get("nope", hash_id(b"u5")), None);
        let (ids, hashes) = n.ids_and_hashes();
        assert_eq!(ids[42], "u42");
        assert_eq!(hashes.len(), 10_000);
    }
}
