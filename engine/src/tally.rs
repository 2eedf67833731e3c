//! Tallies: named per-day counters kept with a table, written in the same
//! WAL records as row changes (so a batch's counts and its bitmaps are
//! durable, idempotent and visible together) and committed in the
//! manifest at a flush. A campaign counts its effects per run, variant and
//! day with them (`7/1/a/clicked`), every event, repeats included, where
//! the bitmaps hold each user once.
//!
//! A snapshot's tallies are the committed ones (the manifest's) and those
//! of the live delta, summed when read.

use std::collections::BTreeMap;
use std::sync::Arc;

use segdb_storage_format::date::Day;

/// The longest tally key, in bytes.
pub const MAX_TALLY_KEY_LEN: usize = 256;

/// Counts by key, then by day.
pub type TallyMap = BTreeMap<String, BTreeMap<Day, u64>>;

/// One count to add: `count` to key `key` on `day`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// The counter's name (1 to [`MAX_TALLY_KEY_LEN`] bytes).
    pub key: String,
    /// The day.
    pub day: Day,
    /// How much to add (1 or more).
    pub count: u64,
}

/// A snapshot's tallies: the committed ones and the live delta's.
#[derive(Debug, Clone, Default)]
pub struct Tallies {
    pub(crate) committed: Arc<TallyMap>,
    pub(crate) live: Option<Arc<TallyMap>>,
}

impl Tallies {
    /// Tallies with nothing live.
    pub(crate) fn committed(map: Arc<TallyMap>) -> Tallies {
        Tallies {
            committed: map,
            live: None,
        }
    }

    /// The count of `key` on `day` (0 if none).
    pub fn get(&self, key: &str, day: Day) -> u64 {
        let of = |m: &TallyMap| m.get(key).and_then(|d| d.get(&day)).copied();
        of(&self.committed).unwrap_or(0) + self.live.as_deref().and_then(of).unwrap_or(0)
    }

    /// Every key starting with `prefix`, with its counts by day (sorted by
    /// key, then day; committed and live summed).
    pub fn with_prefix(&self, prefix: &str) -> TallyMap {
        let mut out = TallyMap::new();
        let maps = std::iter::once(&*self.committed).chain(self.live.as_deref());
        for m in maps {
            for (k, days) in m.range(prefix.to_owned()..) {
                if !k.starts_with(prefix) {
                    break;
                }
                let to = out.entry(k.clone()).or_default();
                for (d, c) in days {
                    *to.entry(*d).or_default() += c;
                }
            }
        }
        out
    }

    /// How many (key, day) counts there are, committed and live.
    pub fn len(&self) -> usize {
        let n = |m: &TallyMap| m.values().map(BTreeMap::len).sum::<usize>();
        n(&self.committed) + self.live.as_deref().map_or(0, n)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The committed and live counts merged (what a flush commits).
    pub(crate) fn merged(&self) -> TallyMap {
        self.with_prefix("")
    }
}

/// Adds `t` to `map`.
pub(crate) fn add(map: &mut TallyMap, t: &Tally) {
    *map.entry(t.key.clone())
        .or_default()
        .entry(t.day)
        .or_default() += t.count;
}

/// The manifest's form of a map.
pub(crate) fn to_manifest(map: &TallyMap) -> BTreeMap<String, Vec<(i32, u64)>> {
    map.iter()
        .map(|(k, days)| (k.clone(), days.iter().map(|(d, c)| (*d, *c)).collect()))
        .collect()
}

/// A map from the manifest's form.
pub(crate) fn from_manifest(m: &BTreeMap<String, Vec<(i32, u64)>>) -> TallyMap {
    m.iter()
        .map(|(k, days)| (k.clone(), days.iter().copied().collect()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_and_live_counts_sum_and_prefixes_select() {
        let mut c = TallyMap::new();
        add(
            &mut c,
            &Tally {
                key: "7/1/a/clicked".into(),
                day: 10,
                count: 2,
            },
        );
        add(
            &mut c,
            &Tally {
                key: "7/1/b/clicked".into(),
                day: 10,
                count: 1,
            },
        );
        add(
            &mut c,
            &Tally {
                key: "70/1/a/clicked".into(),
                day: 10,
                count: 9,
            },
        );
        let mut l = TallyMap::new();
        add(
            &mut l,
            &Tally {
                key: "7/1/a/clicked".into(),
                day: 10,
                count: 3,
            },
        );
        add(
            &mut l,
            &Tally {
                key: "7/1/a/clicked".into(),
                day: 11,
                count: 1,
            },
        );
        let t = Tallies {
            committed: Arc::new(c),
            live: Some(Arc::new(l)),
        };
        assert_eq!(t.get("7/1/a/clicked", 10), 5);
        assert_eq!(t.get("7/1/a/clicked", 12), 0);
        let p = t.with_prefix("7/");
        assert_eq!(p.len(), 2);
        assert_eq!(p["7/1/a/clicked"], BTreeMap::from([(10, 5), (11, 1)]));
        assert_eq!(t.len(), 5);
        let m = t.merged();
        assert_eq!(from_manifest(&to_manifest(&m)), m);
    }
}
