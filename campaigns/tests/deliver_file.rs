//! The file channel end to end: complete files per variant, and no
//! duplicate line after a crash and a resume.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use segdb_campaigns::definition::FileFormat;
use segdb_campaigns::deliver::{message_id, Control, Counters, DeliveryLog, FileSink};
use segdb_campaigns::CampaignStore;
use segdb_storage_format::wal::FaultyFs;

use common::*;

/// The rows of a CSV file (RFC 4180), without its header.
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut field, mut quoted, mut chars) =
        (Vec::new(), String::new(), false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(field.is_empty() && row.is_empty(), "the file ends mid-line");
    assert_eq!(rows[0], ["message_id", "user_id", "text"]);
    rows.split_off(1)
}

/// Per variant, its file's (message id, user id, text), checked to be
/// each of the variant's users exactly once with the right text; and no
/// temporary file is left.
fn check_files(campaigns: &CampaignStore, name: &str, out: &Path, format: FileFormat) {
    let c = campaigns.get(name).unwrap();
    let frozen = campaigns.load_run(name, 1).unwrap();
    for (v, rows) in frozen.variants.iter().enumerate() {
        let ext = if format == FileFormat::Csv {
            "csv"
        } else {
            "jsonl"
        };
        let path = out.join(format!("{name}-r1-{}.{ext}", ["a", "b"][v]));
        let text_ = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<(String, String, String)> = match format {
            FileFormat::Csv => csv_rows(&text_)
                .into_iter()
                .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
                .collect(),
            FileFormat::Jsonl => text_
                .lines()
                .map(|l| {
                    let j: serde_json::Value = serde_json::from_str(l).unwrap();
                    assert_eq!(j["variant"], ["a", "b"][v]);
                    let s = |k: &str| j[k].as_str().unwrap().to_owned();
                    (s("message_id"), s("user_id"), s("text"))
                })
                .collect(),
        };
        let mut by_user: HashMap<String, usize> = HashMap::new();
        for (id, user, t) in &lines {
            *by_user.entry(user.clone()).or_default() += 1;
            let row: u32 = user[1..].parse().unwrap();
            assert!(rows.contains(row), "{user} is not in variant {v}");
            assert_eq!(id, &message_id(c.id, 1, row));
            assert_eq!(t, &text(v, row));
        }
        assert_eq!(lines.len() as u64, rows.len(), "{}", path.display());
        assert!(by_user.values().all(|&n| n == 1), "a duplicate line");
    }
    let temps: Vec<_> = std::fs::read_dir(out)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(temps.is_empty(), "{temps:?}");
}

fn file_campaign(
    dir: &Path,
    out: &Path,
    users: u32,
    format: &str,
) -> (segdb_engine::Store, CampaignStore) {
    let store = store(dir, users);
    let campaigns = CampaignStore::open(dir).unwrap();
    let channel = serde_json::json!({"file": {"dir": out.to_str().unwrap(), "format": format}});
    campaign(&store, &campaigns, "promo", channel, serde_json::json!({}));
    (store, campaigns)
}

#[test]
fn jsonl_and_csv_files_hold_each_user_of_their_variant_once() {
    for (format, name) in [(FileFormat::Jsonl, "jsonl"), (FileFormat::Csv, "csv")] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let (store, campaigns) = file_campaign(dir.path(), &out, 25_000, name);
        let log = log(dir.path());
        let (control, counters) = (Control::new(), Counters::default());
        let mut sink = FileSink::new(&out, format);
        let report = run(
            &store, &campaigns, &log, "promo", &mut sink, &control, &counters,
        )
        .unwrap();
        assert!(report.complete);
        check_files(&campaigns, "promo", &out, format);
    }
}

#[test]
fn a_stopped_run_leaves_no_file_and_its_resume_writes_complete_ones() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let (store, campaigns) = file_campaign(dir.path(), &out, 25_000, "csv");
    let log = log(dir.path());
    let (control, counters) = (Control::new(), Counters::default());
    control.stop();
    let mut sink = FileSink::new(&out, FileFormat::Csv);
    let report = run(
        &store, &campaigns, &log, "promo", &mut sink, &control, &counters,
    )
    .unwrap();
    assert!(!report.complete);
    let finished = std::fs::read_dir(&out)
        .map(|d| {
            d.flatten()
                .filter(|e| !e.file_name().to_string_lossy().ends_with(".tmp"))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(finished, 0, "no complete file yet");
    let control = Control::new();
    assert!(
        run(&store, &campaigns, &log, "promo", &mut sink, &control, &counters)
            .unwrap()
            .complete
    );
    check_files(&campaigns, "promo", &out, FileFormat::Csv);
}

/// A power cut at every fsync of a run (the delivery log's, the output
/// files' and the checkpoint's, all through one `FaultyFs`), then a
/// restart and a resume: the files hold each user once (the unfinished
/// file is rewritten from what the log recorded) and none is left
/// half-written.
#[test]
fn a_crash_at_every_fsync_then_resume_leaves_no_duplicate_line() {
    let mut crashes = 0;
    for n in 1..=40u64 {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let (store, campaigns) = file_campaign(dir.path(), &out, 25_000, "csv");
        drop(campaigns);
        let fs = FaultyFs::new();
        fs.cut_power_after_syncs(n);
        let (control, counters) = (Control::new(), Counters::default());
        let faulty = Arc::new(fs.clone());
        let first = CampaignStore::open_with(dir.path(), faulty.clone()).and_then(|campaigns| {
            let log = DeliveryLog::open_with(dir.path(), faulty.clone())?;
            let mut sink = FileSink::with_fs(&out, FileFormat::Csv, faulty.clone());
            run(
                &store, &campaigns, &log, "promo", &mut sink, &control, &counters,
            )
        });
        if first.is_ok() {
            break;
        }
        crashes += 1;
        fs.lose_unsynced_data().unwrap();
        let campaigns = CampaignStore::open(dir.path()).unwrap();
        let log = log(dir.path());
        let mut sink = FileSink::new(&out, FileFormat::Csv);
        assert!(
            run(&store, &campaigns, &log, "promo", &mut sink, &control, &counters)
                .unwrap()
                .complete
        );
        check_files(&campaigns, "promo", &out, FileFormat::Csv);
    }
    assert!(crashes >= 6, "only {crashes} crashes");
}
