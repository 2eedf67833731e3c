use super::*;
use proptest::prelude::*;

fn same(a: &[u32], b: &[u32], what: &str) {
    if a != b {
        let i = a
            .iter()
            .zip(b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        panic!(
            "{what}: lengths {} vs {}, first difference at {i}: {:?} vs {:?}",
            a.len(),
            b.len(),
            a.get(i),
            b.get(i)
        );
    }
}

fn roundtrip(values: &[u32]) {
    let bytes = serialize_sorted(values.iter().copied());
    let view = RoaringView::new(&bytes).unwrap();
    same(&view.to_vec(), values, "ours");
    assert_eq!(view.cardinality(), values.len() as u64);
    // The roaring crate reads what we write, as the same set.
    let theirs = roaring::RoaringBitmap::deserialize_from(&bytes[..]).unwrap();
    same(
        &theirs.iter().collect::<Vec<_>>(),
        values,
        "roaring reads ours",
    );
    // And we read what the roaring crate writes.
    let mut their_bytes = Vec::new();
    theirs.serialize_into(&mut their_bytes).unwrap();
    same(
        &RoaringView::new(&their_bytes).unwrap().to_vec(),
        values,
        "we read roaring",
    );
    for &v in values.iter().take(100) {
        assert!(view.contains(v));
    }
}

#[test]
fn empty_and_edges() {
    roundtrip(&[]);
    roundtrip(&[0]);
    roundtrip(&[u32::MAX]);
    roundtrip(&(0..65536).collect::<Vec<_>>());
    roundtrip(&(0..4096).map(|v| v * 16).collect::<Vec<_>>());
    roundtrip(&(0..4097).map(|v| v * 16).collect::<Vec<_>>());
    roundtrip(&(0..200_000).collect::<Vec<_>>());
    roundtrip(&(0..300_000).step_by(2).collect::<Vec<_>>());
    // Fewer than four containers with runs: no offset header.
    roundtrip(&[1, 2, 3, 65536, 65537, 65538, 1 << 20]);
}

#[test]
fn rejects_damage_without_panicking() {
    let bytes = serialize_sorted((0..100_000).step_by(3));
    for cut in 0..bytes.len().min(64) {
        assert!(RoaringView::new(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    assert!(RoaringView::new(&bytes[..bytes.len() - 1]).is_err());
    for i in 0..bytes.len().min(200) {
        let mut b = bytes.clone();
        b[i] ^= 0x5a;
        // Must not panic; it may or may not be detected (checksums do that).
        if let Ok(v) = RoaringView::new(&b) {
            let _ = v.to_vec();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn roundtrip_random(mut values in prop::collection::vec(
        prop_oneof![0u32..70_000, 0u32..3_000_000, any::<u32>()], 0..5000),
        dense_start in 0u32..200_000, dense_len in 0u32..70_000) {
        values.extend(dense_start..dense_start + dense_len);
        values.sort_unstable();
        values.dedup();
        roundtrip(&values);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(v) = RoaringView::new(&bytes) {
            let _ = v.to_vec();
            let _ = v.contains(12345);
        }
    }
}
