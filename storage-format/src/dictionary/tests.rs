//! Tests of dictionary parts (both versions).

use super::*;
use bytes::Bytes;

/// Found by `fuzz/fuzz_targets/storage_read.rs` (crash-867d6387…): a
/// first row near 2^64 made `first_row + num_ids` overflow in
/// `for_each_id` (and `id_bytes`). Rows past 2^32 are corrupt at open.
#[test]
fn rows_past_2_pow_32_are_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    for (first_row, ok) in [
        (u64::from(u32::MAX) - 2, true),
        (u64::from(u32::MAX) - 1, false),
        (u64::MAX - 1, false),
    ] {
        let path = dir.path().join(format!("ids-{first_row}.seg"));
        write_dictionary_part(&path, first_row, &["a", "b", "c"]).unwrap();
        let r = DictionaryPart::open_mapped(&path);
        if let Ok(d) = &r {
            let _ = d.for_each_id(&[first_row], |_, _| true);
        }
        assert_eq!(r.is_ok(), ok, "{first_row}: {r:?}");
    }
}

#[test]
fn round_trip_and_lookups() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ids-1.seg");
    let owned: Vec<String> = (0..150_000).map(|i| format!("u{i:09}")).collect();
    let ids: Vec<&str> = owned.iter().map(String::as_str).collect();
    write_dictionary_part(&path, 1000, &ids).unwrap();
    let d = DictionaryPart::open_mapped(&path).unwrap();
    assert_eq!(d.num_ids(), 150_000);
    for i in (0..150_000u64)
        .step_by(997)
        .chain([0, 65_535, 65_536, 149_999])
    {
        assert_eq!(d.id_of(1000 + i).unwrap().as_deref(), Some(ids[i as usize]));
        assert_eq!(d.row_of(ids[i as usize]).unwrap(), Some(1000 + i));
    }
    assert_eq!(d.row_of("nope").unwrap(), None);
    assert_eq!(d.row_of("").unwrap(), None);
    assert_eq!(d.id_of(999).unwrap(), None);
    assert_eq!(d.id_of(151_000).unwrap(), None);
}

#[test]
fn empty_and_odd_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ids-2.seg");
    write_dictionary_part(&path, 0, &["", "é", "a,b", "x\"y"]).unwrap();
    let d = DictionaryPart::open_mapped(&path).unwrap();
    for (i, id) in ["", "é", "a,b", "x\"y"].iter().enumerate() {
        assert_eq!(d.row_of(id).unwrap(), Some(i as u64));
    }
    let path = dir.path().join("ids-3.seg");
    write_dictionary_part(&path, 7, &[]).unwrap();
    let d = DictionaryPart::open_mapped(&path).unwrap();
    assert_eq!(d.row_of("a").unwrap(), None);
}

#[test]
fn damage_is_a_clear_error_or_detected_on_use() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ids-4.seg");
    // Not increasing ("id10" < "id2"): the hash index (v2) is used.
    let owned: Vec<String> = (0..300).map(|i| format!("id{i}")).collect();
    let ids: Vec<&str> = owned.iter().map(String::as_str).collect();
    // Increasing but not a counter (every other number).
    let sorted_owned: Vec<String> = (0..300).map(|i| format!("id{:03}", 2 * i)).collect();
    let sorted: Vec<&str> = sorted_owned.iter().map(String::as_str).collect();
    // A counter: the rule only.
    let counter_owned: Vec<String> = (0..300).map(|i| format!("u{:09}", 7 + i)).collect();
    let counter: Vec<&str> = counter_owned.iter().map(String::as_str).collect();
    assert!(counter::detect(&counter).is_some() && counter::detect(&sorted).is_none());
    for (ids, (_, write)) in [
        (&ids, writers()[0]),
        (&sorted, writers()[0]),
        (&ids, writers()[1]),
        (&counter, writers()[0]),
    ] {
        write(&path, 0, ids).unwrap();
        let full = std::fs::read(&path).unwrap();
        for i in (0..full.len()).step_by(7) {
            let mut b = full.clone();
            b[i] ^= 0x40;
            match DictionaryPart::open(&path, Bytes::from(b)) {
                Err(e) => assert!(e.to_string().contains("ids-4.seg")),
                Ok(d) => {
                    // Every lookup either answers right or reports
                    // corruption naming the file: an id that exists is
                    // never "not found".
                    for (r, id) in ids.iter().enumerate() {
                        match d.row_of(id) {
                            Ok(x) => assert_eq!(x, Some(r as u64), "byte {i} flipped: {id}"),
                            Err(e) => assert!(e.to_string().contains("ids-4.seg"), "{e}"),
                        }
                        match d.id_of(r as u64) {
                            Ok(x) => {
                                assert_eq!(x.as_deref(), Some(*id), "byte {i} flipped: row {r}")
                            }
                            Err(e) => assert!(e.to_string().contains("ids-4.seg"), "{e}"),
                        }
                    }
                }
            }
        }
        for cut in [0, 10, full.len() / 2, full.len() - 1] {
            assert!(DictionaryPart::open(&path, Bytes::from(full[..cut].to_vec())).is_err());
        }
    }
}

/// Both writers: v2 (written now) and v1 (old stores).
/// A dictionary part writer.
type Writer = fn(&std::path::Path, u64, &[&str]) -> Result<u64>;

fn writers() -> [(u32, Writer); 2] {
    [(2, write_dictionary_part), (1, v1::write_v1_part)]
}

#[test]
fn unsorted_ids_over_several_pages_use_the_hash_index() {
    let dir = tempfile::tempdir().unwrap();
    // A fixed permutation of 150,000 standard ids: not increasing.
    let owned: Vec<String> = (0..150_000u64)
        .map(|i| format!("u{:09}", (i * 7919) % 150_000))
        .collect();
    let ids: Vec<&str> = owned.iter().map(String::as_str).collect();
    for (version, write) in writers() {
        let path = dir.path().join(format!("ids-v{version}.seg"));
        write(&path, 5, &ids).unwrap();
        let d = DictionaryPart::open_mapped(&path).unwrap();
        assert_eq!(d.version(), version);
        // Ids of one length in no order: fixed-width pages, all three.
        assert_eq!(d.fixed_pages().unwrap(), if version == 2 { 3 } else { 0 });
        for i in (0..150_000u64)
            .step_by(331)
            .chain([0, 65_535, 65_536, 149_999])
        {
            assert_eq!(d.row_of(ids[i as usize]).unwrap(), Some(5 + i));
            assert_eq!(d.id_of(5 + i).unwrap().as_deref(), Some(ids[i as usize]));
        }
        assert_eq!(d.row_of("u000150000").unwrap(), None);
        let rows: Vec<u64> = (5..150_005).step_by(13).collect();
        let mut seen = 0;
        d.for_each_id(&rows, |r, b| {
            assert_eq!(b, ids[(r - 5) as usize].as_bytes());
            seen += 1;
            true
        })
        .unwrap();
        assert_eq!(seen, rows.len());
    }
}

/// `ids` and `absent` mixed (ordered by hash), each with its row from one
/// [`DictionaryPart::rows_of_hashed`] batch.
fn batch_lookups<'a>(
    d: &DictionaryPart,
    ids: &[&'a str],
    absent: &'a [String],
) -> Vec<(&'a str, Option<u64>)> {
    let mut qs: Vec<&str> = ids
        .iter()
        .copied()
        .chain(absent.iter().map(String::as_str))
        .collect();
    qs.sort_by_key(|q| hash_id(q.as_bytes()));
    let hashes: Vec<u64> = qs.iter().map(|q| hash_id(q.as_bytes())).collect();
    let mut out = vec![None; qs.len()];
    d.rows_of_hashed(&qs, &hashes, &mut out).unwrap();
    qs.into_iter().zip(out).collect()
}

/// Many ids over several pages looked up in one batch, present and
/// absent, answer as one at a time: through the hash index (with enough
/// absent ids that some meet a slot of the same fingerprint, which the
/// batch hands back to the one-at-a-time probe) over fixed-width and
/// front-coded pages, the keyed pages, the counter and version 1.
#[test]
fn batched_lookups_over_several_pages_answer_as_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let n = 150_000u64;
    let shapes: [(&str, Vec<String>); 4] = [
        (
            "shuffled",
            (0..n).map(|i| format!("u{:09}", (i * 7919) % n)).collect(),
        ),
        (
            "shuffled, lengths 2 to 7",
            (0..n).map(|i| format!("u{}", (i * 7919) % n)).collect(),
        ),
        (
            "increasing",
            (0..n).map(|i| format!("u{:09}", 3 * i)).collect(),
        ),
        ("counter", (0..n).map(|i| format!("u{i:09}")).collect()),
    ];
    for (shape, owned) in &shapes {
        let ids: Vec<&str> = owned.iter().map(String::as_str).collect();
        // Every id, and ids between them, before and after them.
        let absent: Vec<String> = (0..2 * n)
            .map(|i| format!("u{:09}", 3 * i + 1))
            .chain(["".into(), "u".into(), "v".into(), format!("u{:09}", 3 * n)])
            .collect();
        for (version, write) in writers() {
            let path = dir.path().join(format!("ids-{shape}-v{version}.seg"));
            write(&path, 5, &ids).unwrap();
            let d = DictionaryPart::open_mapped(&path).unwrap();
            let fixed = d.fixed_pages().unwrap();
            assert_eq!(fixed > 0, version == 2 && *shape == "shuffled", "{shape}");
            let mut found = 0;
            for (q, got) in batch_lookups(&d, &ids, &absent) {
                assert_eq!(got, d.row_of(q).unwrap(), "{shape} v{version}: {q:?}");
                found += usize::from(got.is_some());
            }
            assert!(found as u64 >= n, "{shape} v{version}: {found} found");
        }
    }
}

#[test]
fn standard_ids_cost_under_8_bytes_each() {
    let dir = tempfile::tempdir().unwrap();
    let owned: Vec<String> = (0..200_000).map(|i| format!("u{i:09}")).collect();
    let ids: Vec<&str> = owned.iter().map(String::as_str).collect();
    let path = dir.path().join("ids-std.seg");
    let len = write_dictionary_part(&path, 0, &ids).unwrap();
    assert!(len < 8 * 200_000, "{len} bytes for 200,000 standard ids");
    let uuids: Vec<String> = (0..50_000u64)
        .map(|i| {
            let h = |k: u64| hash_id(&(i * 4 + k).to_le_bytes());
            let hex = format!("{:016x}{:016x}", h(0), h(1));
            format!(
                "{}-{}-{}-{}-{}",
                &hex[..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..32]
            )
        })
        .collect();
    let ids: Vec<&str> = uuids.iter().map(String::as_str).collect();
    let path = dir.path().join("ids-uuid.seg");
    let len = write_dictionary_part(&path, 0, &ids).unwrap();
    assert!(len < (36 + 8) * 50_000, "{len} bytes for 50,000 UUIDs");
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    /// An id: a shared prefix (from a few) and a tail over one of several
    /// alphabets, ASCII and multi-byte, up to `MAX_ID_LEN` bytes.
    fn id_strategy() -> impl Strategy<Value = String> {
        let alphabet = prop_oneof![
            Just(vec!['0', '1']),
            Just("0123456789".chars().collect::<Vec<_>>()),
            Just(vec!['a', 'é', '日', '🙂', ',', '"']),
        ];
        let prefix = prop_oneof![
            Just(String::new()),
            Just("u00000".to_owned()),
            Just("user-".to_owned()),
            Just("x".repeat(40)),
            Just("é".repeat(20)),
        ];
        let len = prop_oneof![8 => 0usize..12, 1 => 12usize..300, 1 => Just(MAX_ID_LEN)];
        (prefix, alphabet, len, any::<u64>()).prop_map(|(prefix, alphabet, len, seed)| {
            let mut s = prefix;
            let mut x = seed | 1;
            while s.len() < len.min(MAX_ID_LEN) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let c = alphabet[(x % alphabet.len() as u64) as usize];
                if s.len() + c.len_utf8() > MAX_ID_LEN {
                    break;
                }
                s.push(c);
            }
            s
        })
    }

    /// Distinct ids in a random order, or sorted; and ids absent from them.
    fn case() -> impl Strategy<Value = (Vec<String>, Vec<String>, u64)> {
        (
            proptest::collection::vec(id_strategy(), 0..400),
            proptest::collection::vec(id_strategy(), 0..30),
            any::<bool>(),
            0u64..3_000_000_000,
        )
            .prop_map(|(ids, absent, sort, first_row)| {
                let mut seen = std::collections::HashSet::new();
                let mut ids: Vec<String> =
                    ids.into_iter().filter(|i| seen.insert(i.clone())).collect();
                if sort {
                    ids.sort();
                }
                let absent = absent.into_iter().filter(|a| !seen.contains(a)).collect();
                (ids, absent, first_row)
            })
    }

    /// Every id answers its row and every row its id; absent ids are not
    /// found; increasing rows (every `step`th) read through `for_each_id`.
    fn check(d: &DictionaryPart, ids: &[&str], absent: &[String], first_row: u64, step: usize) {
        for (i, id) in ids.iter().enumerate() {
            let r = first_row + i as u64;
            assert_eq!(d.row_of(id).unwrap(), Some(r), "{id:?}");
            assert_eq!(d.id_of(r).unwrap().as_deref(), Some(*id));
        }
        for a in absent {
            assert_eq!(d.row_of(a).unwrap(), None, "{a:?}");
        }
        assert_eq!(d.id_of(first_row + ids.len() as u64).unwrap(), None);
        let (qs, want) = batch_case(ids, absent, first_row);
        assert_eq!(batch(d, &qs).unwrap(), want);
        let rows: Vec<u64> = (0..ids.len())
            .step_by(step)
            .map(|i| first_row + i as u64)
            .collect();
        let mut got = Vec::new();
        assert!(d
            .for_each_id(&rows, |r, b| {
                got.push((r, b.to_vec()));
                true
            })
            .unwrap());
        let want: Vec<(u64, Vec<u8>)> = rows
            .iter()
            .map(|&r| (r, ids[(r - first_row) as usize].as_bytes().to_vec()))
            .collect();
        assert_eq!(got, want);
    }

    /// An id looked up and its row.
    type Query<'a> = (&'a str, Option<u64>);

    /// Present and absent ids mixed (ordered by hash), and the answers of
    /// [`DictionaryPart::rows_of_hashed`]: their rows, except every 7th,
    /// answered already (`u64::MAX`, which it must leave alone).
    fn batch_case<'a>(
        ids: &[&'a str],
        absent: &'a [String],
        first_row: u64,
    ) -> (Vec<Query<'a>>, Vec<Option<u64>>) {
        let mut qs: Vec<(&str, Option<u64>)> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, Some(first_row + i as u64)))
            .chain(absent.iter().map(|a| (a.as_str(), None)))
            .collect();
        qs.sort_by_key(|(id, _)| hash_id(id.as_bytes()));
        let want = qs
            .iter()
            .enumerate()
            .map(|(i, (_, r))| if i % 7 == 3 { Some(u64::MAX) } else { *r })
            .collect();
        (qs, want)
    }

    /// [`DictionaryPart::rows_of_hashed`] of [`batch_case`]'s ids.
    fn batch(d: &DictionaryPart, qs: &[Query<'_>]) -> crate::Result<Vec<Option<u64>>> {
        let ids: Vec<&str> = qs.iter().map(|(id, _)| *id).collect();
        let hashes: Vec<u64> = ids.iter().map(|id| hash_id(id.as_bytes())).collect();
        let mut out: Vec<Option<u64>> = (0..ids.len())
            .map(|i| (i % 7 == 3).then_some(u64::MAX))
            .collect();
        d.rows_of_hashed(&ids, &hashes, &mut out)?;
        Ok(out)
    }

    /// Counter ids (a prefix, consecutive numbers of a fixed width), maybe
    /// with one id changed so that they are not a counter any more; and
    /// absent ids next to them (just outside the range, a digit short or
    /// long, a letter for a digit, another prefix).
    fn counter_case() -> impl Strategy<Value = (Vec<String>, Vec<String>, u64)> {
        (
            prop_oneof![Just(""), Just("u"), Just("user-"), Just("é1")],
            1usize..12,
            any::<u64>(),
            0usize..300,
            proptest::option::of(any::<proptest::sample::Index>()),
        )
            .prop_map(|(prefix, width, seed, n, broken)| {
                let end = 10u64.pow(width as u32);
                let n = (n as u64).min(end) as usize;
                let start = seed % (end - n as u64 + 1);
                let id = |k: u64| format!("{prefix}{k:0width$}");
                let mut ids: Vec<String> = (0..n as u64).map(|i| id(start + i)).collect();
                if let (Some(b), false) = (broken, ids.is_empty()) {
                    let i = b.index(ids.len());
                    ids[i] = format!("{}x", ids[i]);
                }
                let mut absent = vec![
                    format!("{prefix}{}", "1".repeat(width + 1)),
                    format!("{prefix}a{}", "0".repeat(width - 1)),
                    format!("v{prefix}{}", "0".repeat(width)),
                ];
                if width > 1 {
                    absent.push(format!("{prefix}{}", "0".repeat(width - 1)));
                }
                if start > 0 {
                    absent.push(id(start - 1));
                }
                if start + (n as u64) < end {
                    absent.push(id(start + n as u64));
                }
                let absent = absent.into_iter().filter(|a| !ids.contains(a)).collect();
                (ids, absent, 1000)
            })
    }

    /// Both directions in both versions ([`check`]), then one flipped bit:
    /// an error naming the file, or right answers.
    fn both_ways(
        owned: &[String],
        absent: &[String],
        first_row: u64,
        step: usize,
        flip: proptest::sample::Index,
        bit: u8,
    ) -> Result<(), TestCaseError> {
        let dir = tempfile::tempdir().unwrap();
        let ids: Vec<&str> = owned.iter().map(String::as_str).collect();
        for (version, write) in writers() {
            let path = dir.path().join(format!("ids-{version}.seg"));
            write(&path, first_row, &ids).unwrap();
            let d = DictionaryPart::open_mapped(&path).unwrap();
            prop_assert_eq!(d.version(), version);
            prop_assert_eq!(d.num_ids() as usize, ids.len());
            check(&d, &ids, absent, first_row, step);

            // One flipped bit: an error naming the file, or right answers.
            let mut b = std::fs::read(&path).unwrap();
            let at = flip.index(b.len());
            b[at] ^= 1 << bit;
            let name = format!("ids-{version}.seg");
            let named = |e: &crate::FormatError| e.to_string().contains(&name);
            match DictionaryPart::open(&path, Bytes::from(b)) {
                Err(e) => prop_assert!(named(&e), "{}", e),
                Ok(d) => {
                    for (i, id) in ids.iter().enumerate() {
                        let r = first_row + i as u64;
                        match d.row_of(id) {
                            Ok(x) => {
                                prop_assert_eq!(x, Some(r), "byte {} bit {}: {:?}", at, bit, id)
                            }
                            Err(e) => prop_assert!(named(&e), "{}", e),
                        }
                        match d.id_of(r) {
                            Ok(x) => prop_assert_eq!(x.as_deref(), Some(*id)),
                            Err(e) => prop_assert!(named(&e), "{}", e),
                        }
                    }
                    for a in absent {
                        match d.row_of(a) {
                            Ok(x) => prop_assert_eq!(x, None),
                            Err(e) => prop_assert!(named(&e), "{}", e),
                        }
                    }
                    let (qs, want) = batch_case(&ids, absent, first_row);
                    match batch(&d, &qs) {
                        Ok(got) => prop_assert_eq!(got, want, "byte {} bit {}", at, bit),
                        Err(e) => prop_assert!(named(&e), "{}", e),
                    }
                }
            }
        }
        Ok(())
    }

    /// Distinct ids of one length (a prefix, then characters of one
    /// width: hex digits, two-byte or four-byte letters), in a random
    /// order or sorted; and absent ids of that length and others.
    fn one_length_case() -> impl Strategy<Value = (Vec<String>, Vec<String>, u64)> {
        let alphabet = prop_oneof![
            Just("0123456789abcdef".chars().collect::<Vec<_>>()),
            Just(vec!['é', 'ü', 'ß']),
            Just(vec!['🙂', '𝄞']),
        ];
        let prefix = prop_oneof![Just(""), Just("u00"), Just("user-")];
        (
            prefix,
            alphabet,
            1usize..40,
            any::<u64>(),
            0usize..400,
            0u8..4,
            0u64..3_000_000_000,
        )
            .prop_map(|(prefix, alphabet, chars, seed, n, sort, first_row)| {
                let mut x = seed | 1;
                let mut id = |len: usize| {
                    let mut s = prefix.to_owned();
                    for _ in 0..len {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        s.push(alphabet[(x % alphabet.len() as u64) as usize]);
                    }
                    s
                };
                let mut seen = std::collections::HashSet::new();
                let mut ids: Vec<String> = (0..n)
                    .map(|_| id(chars))
                    .filter(|i| seen.insert(i.clone()))
                    .collect();
                if sort == 0 {
                    ids.sort();
                }
                let absent = (0..10)
                    .map(|k| id(chars + k % 3 - 1))
                    .filter(|a| !seen.contains(a))
                    .collect();
                (ids, absent, first_row)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn counter_ids_both_ways(
            (owned, absent, first_row) in counter_case(),
            step in 1usize..20,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let ids: Vec<&str> = owned.iter().map(String::as_str).collect();
            let path = dir.path().join("ids-c.seg");
            let len = write_dictionary_part(&path, first_row, &ids).unwrap();
            let d = DictionaryPart::open_mapped(&path).unwrap();
            check(&d, &ids, &absent, first_row, step);
            if counter::detect(&ids).is_some() {
                // The rule only: a few hundred bytes whatever the count.
                prop_assert!(len < 400, "{} bytes", len);
            }
        }

        #[test]
        fn lookups_both_ways_in_both_versions(
            (owned, absent, first_row) in case(),
            step in 1usize..20,
            flip in any::<proptest::sample::Index>(),
            bit in 0u8..8,
        ) {
            both_ways(&owned, &absent, first_row, step, flip, bit)?;
        }

        /// Ids of one length (fixed-width pages when in no order).
        #[test]
        fn ids_of_one_length_both_ways(
            (owned, absent, first_row) in one_length_case(),
            step in 1usize..20,
            flip in any::<proptest::sample::Index>(),
            bit in 0u8..8,
        ) {
            both_ways(&owned, &absent, first_row, step, flip, bit)?;
        }

    }
}

/// Increasing ids that are not a counter, over several pages: the keyed
/// pages and FIRSTS are the index.
#[test]
fn increasing_ids_over_several_pages_are_their_own_index() {
    let dir = tempfile::tempdir().unwrap();
    let owned: Vec<String> = (0..150_000u64).map(|i| format!("u{:09}", 3 * i)).collect();
    let ids: Vec<&str> = owned.iter().map(String::as_str).collect();
    assert!(counter::detect(&ids).is_none());
    let path = dir.path().join("ids-inc.seg");
    write_dictionary_part(&path, 9, &ids).unwrap();
    let d = DictionaryPart::open_mapped(&path).unwrap();
    for i in (0..150_000u64)
        .step_by(211)
        .chain([0, 65_535, 65_536, 131_071, 131_072, 149_999])
    {
        assert_eq!(d.row_of(ids[i as usize]).unwrap(), Some(9 + i));
        assert_eq!(d.id_of(9 + i).unwrap().as_deref(), Some(ids[i as usize]));
        // Between two ids, before the first, after the last: absent.
        assert_eq!(d.row_of(&format!("u{:09}", 3 * i + 1)).unwrap(), None);
    }
    for absent in [
        "",
        "u",
        "t999999999",
        "u999999999",
        "v000000000",
        "u0000000000",
    ] {
        assert_eq!(d.row_of(absent).unwrap(), None, "{absent}");
    }
}

/// Increasing ids whose search keys (the 8 bytes after the page's common
/// prefix) are equal over runs of many blocks: found by comparing the
/// blocks' first ids, one at a time and in batches.
#[test]
fn equal_keys_over_many_blocks() {
    let dir = tempfile::tempdir().unwrap();
    // Groups of 1 to 140,000 ids: runs of equal keys within a page, and
    // pages whose first ids have equal keys (found in FIRSTS the same way).
    let sizes = [1, 998, 70_000, 3, 140_000, 2_000];
    let owned: Vec<String> = sizes
        .iter()
        .enumerate()
        .flat_map(|(g, &n)| (0..n).map(move |i| format!("{g}AAAAAAAAAA{i:06}")))
        .collect();
    let ids: Vec<&str> = owned.iter().map(String::as_str).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let path = dir.path().join("ids-eq.seg");
    write_dictionary_part(&path, 0, &ids).unwrap();
    let d = DictionaryPart::open_mapped(&path).unwrap();
    let absent: Vec<String> = owned
        .iter()
        .map(|id| format!("{id}x"))
        .chain(["0AAAAAAAAA".into(), "4AAAAAAAAAB".into(), "2".into()])
        .collect();
    let index: std::collections::HashMap<&str, u64> = ids
        .iter()
        .enumerate()
        .map(|(r, i)| (*i, r as u64))
        .collect();
    for (q, got) in batch_lookups(&d, &ids, &absent) {
        let want = index.get(q).copied();
        assert_eq!(got, want, "{q}");
        assert_eq!(d.row_of(q).unwrap(), want, "{q}");
    }
}
