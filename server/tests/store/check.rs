//! `segdb check` after a disk scare (issue 11, item 9): a clean store
//! passes; a damaged part block, dictionary page, snapshot, WAL record, a
//! deleted and a truncated file are each reported with the file and, where
//! it applies, offset, table, field and shard, with a non-zero exit and a
//! `--json` report that parses.

use std::path::{Path, PathBuf};

use segdb_engine::write::parse_batch;
use segdb_engine::{FieldDef, FieldKind, ImportFormat, ImportOptions, Schema, SegmentDef, Store};
use segdb_storage_format::block_file::{BlockFile, BlockKey};
use segdb_storage_format::dictionary::DictionaryPart;
use segdb_storage_format::part::{Part, TAG_INT_SLICE};
use segdb_storage_format::snapshot::SnapshotFile;
use serde_json::Value;

use crate::common::{p, segdb};

/// A store with every kind of live file: `users(city ENUM, ltv INT, search
/// EVENT)` imported (a part and a dictionary part), a snapshot segment, and
/// two ingested batches still in the WAL.
fn clean_store(dir: &Path) {
    let s = Store::open(dir).unwrap();
    let schema = Schema {
        fields: vec![
            FieldDef::new("city", FieldKind::Enum),
            FieldDef::new("ltv", FieldKind::Int),
            FieldDef::new("search", FieldKind::Event),
        ],
    };
    s.create_table("users", &schema).unwrap();
    // Not u1, u2, u3: ids that are a counter make a dictionary part of
    // the rule only, without the ids page damaged below.
    s.import(
        "users",
        ImportFormat::Csv,
        "user_id,city,ltv\nu1,paris,100\nu2,rome,37\nu4,paris,0\n".as_bytes(),
        &ImportOptions::default(),
    )
    .unwrap();
    let def = SegmentDef::Snapshot {
        rows: vec![0, 2],
        text: None,
    };
    s.create_segment("firsts", "users", def, false).unwrap();
    for id in ["n1", "n2"] {
        let t = s.table("users").unwrap();
        let text = format!("{{\"id\":\"{id}\",\"set\":{{\"city\":\"rome\",\"ltv\":5}}}}\n");
        s.ingest("users", parse_batch(t.schema(), &text).unwrap())
            .unwrap();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// The one file of `dir` whose name starts with `prefix`.
fn file_starting(dir: &Path, prefix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    assert_eq!(found.len(), 1, "{prefix}* in {}: {found:?}", dir.display());
    found.into_iter().next().unwrap()
}

fn flip(path: &Path, at: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at as usize] ^= 0x10;
    std::fs::write(path, &bytes).unwrap();
}

/// Flips a byte in the middle of the block `key_of` picks; its offset.
fn damage_block(path: &Path, file: &BlockFile, pick: impl Fn(BlockKey) -> bool) -> u64 {
    let e = (0..file.num_blocks())
        .map(|i| file.entry(i))
        .find(|e| pick(e.key))
        .expect("a block to damage");
    flip(path, e.offset + u64::from(e.len) / 2);
    e.offset
}

/// `segdb check --data store --json`: (success, the report, stderr).
fn check_json(store: &Path) -> (bool, Value, String) {
    let (ok, out, err) = segdb(&["check", "--data", p(store), "--json"]);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    assert_eq!(v["ok"], Value::Bool(ok), "{v}");
    (ok, v, err)
}

/// The one problem of a report.
fn only_problem(v: &Value) -> &Value {
    let problems = v["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{v:#}");
    &problems[0]
}

#[test]
fn check_passes_a_clean_store_and_names_each_kind_of_damage() {
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean");
    clean_store(&clean);

    let (ok, out, err) = segdb(&["check", "--data", p(&clean)]);
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("no problems found"), "{out}");
    let (ok, v, _) = check_json(&clean);
    assert!(ok);
    assert_eq!(v["wal_records"], 2, "{v:#}");
    assert!(v["blocks"].as_u64().unwrap() > 5, "{v:#}");
    assert_eq!(v["problems"], Value::Array(Vec::new()));

    let case = |name: &str| -> PathBuf {
        let d = dir.path().join(name);
        copy_dir(&clean, &d);
        d
    };

    // A part's block: the INT field's bit slice 5.
    let s = case("part");
    let part_path = file_starting(&s.join("users"), "part-");
    let part = Part::open_mapped(&part_path).unwrap();
    let offset = damage_block(&part_path, part.files().next().unwrap(), |k| {
        k == BlockKey::new(1, TAG_INT_SLICE, 5, 0)
    });
    drop(part);
    let (ok, out, _) = segdb(&["check", "--data", p(&s)]);
    assert!(!ok);
    assert!(
        out.contains(&format!(
            "problem: {} at offset {offset}: checksum mismatch",
            part_path.display()
        )),
        "{out}"
    );
    assert!(
        out.contains("in table `users`, field `ltv`, bit slice 5, shard 0"),
        "{out}"
    );
    let (ok, v, err) = check_json(&s);
    assert!(!ok);
    assert!(err.contains("has a problem"), "{err}");
    let problem = only_problem(&v);
    assert_eq!(problem["file"], p(&part_path));
    assert_eq!(problem["offset"], offset);
    assert_eq!(problem["table"], "users");
    assert_eq!(problem["field"], "ltv");
    assert_eq!(problem["shard"], 0);

    // A dictionary page (the ids of rows 0..).
    let s = case("dictionary");
    let ids_path = file_starting(&s.join("users"), "ids-");
    let dict = DictionaryPart::open_mapped(&ids_path).unwrap();
    let offset = damage_block(&ids_path, dict.block_file(), |k| k.tag == 2);
    drop(dict);
    let (ok, v, _) = check_json(&s);
    assert!(!ok);
    let problem = only_problem(&v);
    assert_eq!(problem["file"], p(&ids_path));
    assert_eq!(problem["offset"], offset);
    assert_eq!(problem["table"], "users");
    assert_eq!(problem["block"], "table `users`, ids page 0", "{problem}");

    // A snapshot segment's rows.
    let s = case("snapshot");
    let snap_path = file_starting(&s.join("segments"), "snap-");
    let snap = SnapshotFile::open_mapped(&snap_path).unwrap();
    let offset = damage_block(&snap_path, snap.block_file(), |_| true);
    drop(snap);
    let (ok, v, _) = check_json(&s);
    assert!(!ok);
    let problem = only_problem(&v);
    assert_eq!(problem["file"], p(&snap_path));
    assert_eq!(problem["offset"], offset);
    assert_eq!(problem["table"], "users");
    assert!(
        problem["what"]
            .as_str()
            .unwrap()
            .starts_with("segment `firsts`: checksum mismatch"),
        "{problem}"
    );

    // The first of the two WAL records (32-byte segment header, then a
    // 20-byte record header; FORMAT.md).
    let s = case("wal");
    let wal_path = file_starting(&s.join("wal"), "wal-");
    flip(&wal_path, 32 + 20 + 4);
    let (ok, v, _) = check_json(&s);
    assert!(!ok);
    let problem = only_problem(&v);
    assert_eq!(problem["file"], p(&wal_path));
    assert_eq!(problem["offset"], 32);

    // A deleted part.
    let s = case("deleted");
    let part_path = file_starting(&s.join("users"), "part-");
    std::fs::remove_file(&part_path).unwrap();
    let (ok, v, _) = check_json(&s);
    assert!(!ok);
    let problem = only_problem(&v);
    assert_eq!(problem["file"], p(&part_path));
    assert_eq!(problem["table"], "users");
    assert_eq!(problem["shard"], 0);
    assert!(
        problem["what"].as_str().unwrap().starts_with("missing"),
        "{problem}"
    );

    // A truncated dictionary part.
    let s = case("truncated");
    let ids_path = file_starting(&s.join("users"), "ids-");
    let len = std::fs::metadata(&ids_path).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&ids_path)
        .unwrap();
    f.set_len(len - 100).unwrap();
    drop(f);
    let (ok, v, _) = check_json(&s);
    assert!(!ok);
    let problem = only_problem(&v);
    assert_eq!(problem["file"], p(&ids_path));
    assert_eq!(problem["offset"], len - 100);
    assert_eq!(problem["table"], "users");

    // The check changed nothing: the clean copy still passes, and each
    // damaged store still fails the same way.
    assert!(check_json(&clean).0);
    assert!(!check_json(&s).0);
}

#[test]
fn check_of_a_directory_without_a_store_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = segdb(&["check", "--data", p(dir.path())]);
    assert!(!ok);
    assert!(err.contains("is not a segdb store"), "{err}");
}

/// `clean_store` with a campaign whose run has started: the catalog, the
/// run's bitmaps.
fn store_with_a_run(dir: &Path) {
    use segdb_campaigns::{Action, Actor, CampaignDef, CampaignStore, Role};
    clean_store(dir);
    let store = Store::open(dir).unwrap();
    let campaigns = CampaignStore::open(dir).unwrap();
    let def: CampaignDef = serde_json::from_str(
        r#"{"name": "hello", "table": "users", "audience": {"where": "city = 'paris'"},
            "channel": {"file": {"dir": "/tmp/segdb-out", "format": "jsonl"}},
            "variants": [{"name": "a", "weight": 1, "template": "Hi {city}"}],
            "schedule": "now"}"#,
    )
    .unwrap();
    let ann = Actor::new("ann", Role::Write);
    let now = 1_765_000_000;
    campaigns.create(&store, def, &ann, now).unwrap();
    campaigns.act("hello", Action::Start, &ann, now).unwrap();
    let runs = campaigns
        .start_runs(
            &store,
            &["hello"],
            &Actor::new("scheduler", Role::Admin),
            now,
        )
        .unwrap();
    assert_eq!(runs[0].run.audience, 2);
}

#[test]
fn check_verifies_the_campaign_files_and_names_the_damaged_one() {
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean");
    store_with_a_run(&clean);
    let (ok, v, err) = check_json(&clean);
    assert!(ok, "{v:#}\n{err}");
    let (_, plain, _) = check_json(&{
        let d = dir.path().join("plain");
        clean_store(&d);
        d
    });
    // The catalog and the run's audience, hold-out, capped and variant
    // bitmaps are read too.
    assert_eq!(
        v["files"].as_u64().unwrap(),
        plain["files"].as_u64().unwrap() + 5,
        "{v:#}\n{plain:#}"
    );

    let case = |name: &str| -> PathBuf {
        let d = dir.path().join(name);
        copy_dir(&clean, &d);
        d
    };
    let s = case("run");
    let run_dir = file_starting(&s.join("campaigns.d").join("runs"), "");
    let variant = run_dir.join("variant-0.roar");
    flip(&variant, 30);
    let (ok, v, _) = check_json(&s);
    assert!(!ok);
    let pr = only_problem(&v);
    assert_eq!(pr["file"], variant.to_str().unwrap(), "{v:#}");
    assert!(pr["what"].as_str().unwrap().contains("checksum"), "{v:#}");

    let s = case("catalog");
    let catalog = s.join("campaigns.d").join("catalog.camp");
    flip(&catalog, 40);
    let (ok, out, _) = segdb(&["check", "--data", p(&s)]);
    assert!(!ok);
    assert!(
        out.contains(&format!("problem: {}", catalog.display())),
        "{out}"
    );
}

/// The campaigns' delivery log (`DATA/campaigns.d/wal/`) is checked record
/// by record: a damaged record is a problem naming the segment and the
/// record's offset, and a clean log passes.
#[test]
fn check_verifies_the_campaigns_delivery_log() {
    use segdb_campaigns::deliver::log::BatchRecord;
    use segdb_campaigns::deliver::DeliveryLog;
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean");
    store_with_a_run(&clean);
    {
        let log = DeliveryLog::open(&clean).unwrap();
        for row in [0u32, 2] {
            log.record(&BatchRecord {
                campaign: 1,
                run: 1,
                variant: 0,
                failed: None,
                touch_day: None,
                rows: std::iter::once(row).collect(),
            })
            .unwrap();
        }
    }
    let wal_dir = clean.join("campaigns.d").join("wal");
    let (ok, v, err) = check_json(&clean);
    assert!(ok, "{v:#}\n{err}");

    let s = dir.path().join("damaged");
    copy_dir(&clean, &s);
    let segment = file_starting(&s.join("campaigns.d").join("wal"), "");
    // The first record's payload (32-byte segment header, 20-byte record
    // header; storage-format's FORMAT.md).
    flip(&segment, 32 + 20 + 4);
    let (ok, v, _) = check_json(&s);
    assert!(!ok, "{v:#}");
    let pr = only_problem(&v);
    assert_eq!(pr["file"], p(&segment), "{v:#}");
    assert_eq!(pr["offset"], 32, "{v:#}");
    let (ok, out, _) = segdb(&["check", "--data", p(&s)]);
    assert!(!ok);
    assert!(
        out.contains(&format!("problem: {} at offset 32", segment.display())),
        "{out}"
    );
    // The clean log is untouched by the checks.
    assert!(file_starting(&wal_dir, "").exists());
    assert!(check_json(&clean).0);
}
