//! Tests of parsing and encoding ingest batches. Bad lines are golden
//! tests in `engine/tests/ingest_golden.rs`.

use proptest::prelude::*;

use super::*;
use crate::schema::{FieldDef, FieldKind, Schema};
use crate::EngineError;

fn schema() -> Schema {
    Schema {
        fields: [
            ("city", FieldKind::Enum),
            ("age", FieldKind::Int),
            ("interests", FieldKind::Set),
            ("is_owner", FieldKind::Bool),
            ("search", FieldKind::Event),
            ("phone", FieldKind::Text),
            ("contract_end_days", FieldKind::Int),
        ]
        .into_iter()
        .map(|(n, k)| FieldDef::new(n, k))
        .collect(),
    }
}

#[test]
fn the_operations_of_the_issue() {
    let text = r#"{"id":"u1","set":{"city":"c001","age":31}}
{"id":"u1","add":{"interests":["i03"]}}
{"id":"u1","remove":{"interests":["i07"]}}
{"id":"u1","clear":["contract_end_days"]}

{"id":"u1","event":"search","day":"2026-11-22","count":2}
{"id":"u9","delete":true}
{"id":"u2","set":{"is_owner":true,"phone":"555 0100","age":-4}}
{"id":"u2","set":{"is_owner":0}}
{"id":"u3","event":"search","day":"2026-11-21"}
{"id":"u4","clear":["search","city","interests"]}
{"id":"u4","add":{"interests":["a","b"]}}
"#;
    let day = |s| segdb_storage_format::date::parse_iso_day(s).unwrap();
    let batch = parse_batch(&schema(), text).unwrap();
    let s = |x: &str| x.to_owned();
    assert_eq!(
        batch.ops,
        vec![
            // serde_json orders an object's keys: `age` before `city`.
            Op::Set {
                id: s("u1"),
                values: vec![(1, SetValue::Int(31)), (0, SetValue::Enum(s("c001")))]
            },
            Op::Add {
                id: s("u1"),
                values: vec![(2, vec![s("i03")])]
            },
            Op::Remove {
                id: s("u1"),
                values: vec![(2, vec![s("i07")])]
            },
            Op::Clear {
                id: s("u1"),
                fields: vec![6]
            },
            Op::Event {
                id: s("u1"),
                field: 4,
                day: day("2026-11-22"),
                count: 2
            },
            Op::Delete { id: s("u9") },
            Op::Set {
                id: s("u2"),
                values: vec![
                    (1, SetValue::Int(-4)),
                    (3, SetValue::Bool(true)),
                    (5, SetValue::Text(s("555 0100")))
                ]
            },
            Op::Set {
                id: s("u2"),
                values: vec![(3, SetValue::Bool(false))]
            },
            Op::Event {
                id: s("u3"),
                field: 4,
                day: day("2026-11-21"),
                count: 1
            },
            Op::Clear {
                id: s("u4"),
                fields: vec![4, 0, 2]
            },
            Op::Add {
                id: s("u4"),
                values: vec![(2, vec![s("a"), s("b")])]
            },
        ]
    );
    assert_eq!(batch.idempotency_key, None);
    assert_eq!(batch.ops[5].id(), "u9");
    assert_eq!(Batch::decode(&batch.encode()).unwrap(), batch);
}

#[test]
fn errors_name_the_line_and_crlf_and_empty_batches() {
    let text = "\r\n{\"id\":\"u1\",\"delete\":true}\r\n\r\n{\"id\":\"u1\",\"delete\":1}\r\n";
    match parse_batch(&schema(), text).unwrap_err() {
        EngineError::BadInput {
            source_name,
            line,
            column,
            reason,
            position,
            hint,
        } => {
            assert_eq!(
                (source_name.as_str(), line, column.as_str()),
                (INGEST_SOURCE, 4, "delete")
            );
            assert_eq!(reason, "must be `true`, found 1");
            // The key's byte in the line, from 1.
            assert_eq!((position, hint), (Some(12), None));
        }
        other => panic!("{other:?}"),
    }
    let ok = parse_batch(&schema(), "{\"id\":\"u1\",\"delete\":true}\r\n").unwrap();
    assert_eq!(ok.ops.len(), 1);
    assert!(parse_batch(&schema(), "\n\n").unwrap().ops.is_empty());
    // A long id is refused like in imports.
    let long = format!("{{\"id\":\"{}\",\"delete\":true}}", "x".repeat(1025));
    assert!(parse_batch(&schema(), &long).is_err());
    // A line that is not JSON names the byte where it stopped, in words
    // without serde's own "at line 1"; an unknown key has its hint apart.
    let e = parse_batch(
        &schema(),
        "{\"id\":\"u1\",\"delete\":true}\n{\"id\":\"u1\",\"delete\":true\n",
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "ingest batch: line 2, byte 24: not JSON: EOF while parsing an object"
    );
    match parse_batch(&schema(), "{\"id\":\"u1\",\"delet\":true}").unwrap_err() {
        EngineError::BadInput {
            column,
            position,
            hint,
            ..
        } => assert_eq!(
            (column.as_str(), position, hint.as_deref()),
            ("delet", Some(12), Some("did you mean `delete`?"))
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_encoding_is_pinned() {
    // Version 1's bytes. If this changes, the version must change too (and
    // the old version stay readable, since WAL records outlive a build).
    let batch = Batch {
        idempotency_key: Some("k1".into()),
        ops: vec![
            Op::Set {
                id: "u1".into(),
                values: vec![(0, SetValue::Enum("c".into())), (1, SetValue::Int(-2))],
            },
            Op::Event {
                id: "u".into(),
                field: 4,
                day: 20_779,
                count: 300,
            },
            Op::Delete { id: "z".into() },
        ],
    };
    let bytes = batch.encode();
    assert_eq!(
        bytes,
        [
            1, 1, 2, b'k', b'1', 3, // version, flags, key, 3 ops
            1, 2, b'u', b'1', 2, 0, 1, 1, b'c', 1, 4, 3, // set
            5, 1, b'u', 4, 0xd6, 0xc4, 0x02, 0xac, 0x02, // event
            6, 1, b'z', // delete
        ]
    );
    assert_eq!(Batch::decode(&bytes).unwrap(), batch);
}

#[test]
fn damaged_encodings_are_errors() {
    let batch = parse_batch(
        &schema(),
        r#"{"id":"u1","set":{"city":"c001","age":31,"is_owner":true,"phone":"x"}}
{"id":"u1","add":{"interests":["i03","i04"]}}
{"id":"u1","remove":{"interests":["i07"]}}
{"id":"u1","clear":["contract_end_days"]}
{"id":"u1","event":"search","day":"2026-11-22","count":2}
{"id":"u9","delete":true}"#,
    )
    .unwrap();
    let bytes = batch.encode();
    for cut in 0..bytes.len() {
        assert!(Batch::decode(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    let err = Batch::decode(&longer).unwrap_err();
    assert_eq!(err.offset, bytes.len());
    let mut v2 = bytes.clone();
    v2[0] = 2;
    assert!(Batch::decode(&v2)
        .unwrap_err()
        .what
        .contains("unsupported version 2"));
    let mut flags = bytes.clone();
    flags[1] = 0x80;
    assert!(Batch::decode(&flags).is_err());
    // Every single-byte change either fails or decodes to another batch;
    // none panics.
    for i in 0..bytes.len() {
        for x in [0x01, 0x80, 0xff] {
            let mut d = bytes.clone();
            d[i] ^= x;
            if let Ok(other) = Batch::decode(&d) {
                assert_ne!(other, batch, "byte {i} ^ {x:#x}");
            }
        }
    }
    // Huge announced lengths do not allocate.
    assert!(Batch::decode(&[1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
    assert!(
        Batch::decode(&[1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]).is_err()
    );
    assert!(Batch::decode(&[
        1, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01
    ])
    .is_err());
    let internal: EngineError = Batch::decode(&[]).unwrap_err().into();
    assert!(!internal.is_client_error());
}

fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9]{0,8}",
        "\\PC{0,12}",
        Just(String::new()),
        Just("x".repeat(300)),
    ]
}

fn arb_field() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..8, Just(127), Just(128), Just(u32::MAX)]
}

fn arb_value() -> impl Strategy<Value = SetValue> {
    prop_oneof![
        arb_string().prop_map(SetValue::Enum),
        any::<bool>().prop_map(SetValue::Bool),
        any::<i64>().prop_map(SetValue::Int),
        prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(0), Just(-1)].prop_map(SetValue::Int),
        arb_string().prop_map(SetValue::Text),
    ]
}

fn arb_lists() -> impl Strategy<Value = Vec<(u32, Vec<String>)>> {
    prop::collection::vec(
        (arb_field(), prop::collection::vec(arb_string(), 0..4)),
        0..4,
    )
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (
            arb_string(),
            prop::collection::vec((arb_field(), arb_value()), 0..5)
        )
            .prop_map(|(id, values)| Op::Set { id, values }),
        (arb_string(), arb_lists()).prop_map(|(id, values)| Op::Add { id, values }),
        (arb_string(), arb_lists()).prop_map(|(id, values)| Op::Remove { id, values }),
        (arb_string(), prop::collection::vec(arb_field(), 0..5))
            .prop_map(|(id, fields)| Op::Clear { id, fields }),
        (arb_string(), arb_field(), any::<i32>(), any::<u64>()).prop_map(
            |(id, field, day, count)| Op::Event {
                id,
                field,
                day,
                count
            }
        ),
        arb_string().prop_map(|id| Op::Delete { id }),
    ]
}

fn arb_batch() -> impl Strategy<Value = Batch> {
    (
        prop::option::of(arb_string()),
        prop::collection::vec(arb_op(), 0..40),
    )
        .prop_map(|(idempotency_key, ops)| Batch {
            idempotency_key,
            ops,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decode_of_encode_is_the_batch(batch in arb_batch()) {
        let bytes = batch.encode();
        prop_assert_eq!(Batch::decode(&bytes).unwrap(), batch);
    }

    #[test]
    fn decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = Batch::decode(&bytes);
        let mut versioned = vec![BATCH_FORMAT_VERSION, 0];
        versioned.extend_from_slice(&bytes);
        let _ = Batch::decode(&versioned);
    }
}

#[test]
fn an_events_day_comes_from_day_or_at_or_today() {
    use segdb_storage_format::date::{parse_iso_day, today};
    let schema = Schema {
        fields: vec![FieldDef::new("search", FieldKind::Event)],
    };
    let day = |line: &str| match &parse_batch(&schema, line).unwrap().ops[0] {
        Op::Event { day, .. } => *day,
        other => panic!("{other:?}"),
    };
    let d = |s| parse_iso_day(s).unwrap();
    assert_eq!(
        day(r#"{"id":"u1","event":"search","day":"2026-11-22"}"#),
        d("2026-11-22")
    );
    // The UTC day of the time: 00:30 at +01:00 is the day before.
    assert_eq!(
        day(r#"{"id":"u1","event":"search","at":"2026-11-23T00:30:00+01:00"}"#),
        d("2026-11-22")
    );
    assert_eq!(
        day(r#"{"id":"u1","event":"search","at":"2026-11-22T23:59:59Z","day":"2026-11-22"}"#),
        d("2026-11-22")
    );
    let before = today();
    let got = day(r#"{"id":"u1","event":"search"}"#);
    assert!(got == before || got == today(), "{got}");
}
