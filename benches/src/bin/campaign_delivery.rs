//! Campaign delivery throughput (issue 13's targets): the webhook channel
//! delivering 1,000,000 messages to a local receiver that accepts
//! 1,000-message batches (at least 100,000 messages/s, with bounded
//! memory), and the file channel (at least 1,000,000 messages/s).
//!
//! Data: a store with one table of USERS users (default 1,000,000;
//! `u0000000..`, an ENUM `city` of 20 values and a TEXT `name`), a
//! transactional campaign (no caps, no touches) with no hold-out, one
//! variant "Hi {name} in {city}", audience every user. The receiver is a
//! small HTTP/1.1 server on 127.0.0.1 in this process
//! (`segdb_campaigns::deliver::receiver`), answering 200 and keeping no
//! bodies. Each run goes through the whole executor: the frozen run, the
//! rendering of each message from the table (external id, profile), the
//! channel, and the delivery log (one fsynced WAL record per batch), then
//! the checkpoint.
//!
//! Prints messages/s per channel and the process's peak RSS (VmHWM) after
//! building the store and after each delivery.
//!
//! `cargo run --release -p segdb-benches --bin campaign_delivery -- [DIR] [USERS]`
//!
//! DIR (default: a new directory under the system's temporary directory)
//! is removed at the end.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use segdb_campaigns::definition::FileFormat;
use segdb_campaigns::deliver::receiver::{Answer, Receiver};
use segdb_campaigns::deliver::{
    deliver, Control, Counters, DeliveryLog, FileSink, Sink, WebhookSink,
};
use segdb_campaigns::{Action, Actor, CampaignDef, CampaignStore, Channel, Role};
use segdb_engine::{FieldDef, FieldKind, ImportFormat, ImportOptions, Schema, Store};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let root = args.next().map(PathBuf::from).unwrap_or_else(|| {
        std::env::temp_dir().join(format!("segdb-delivery-bench-{}", std::process::id()))
    });
    let users: u32 = match args.next().map(|s| s.parse()) {
        None => 1_000_000,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            eprintln!("usage: campaign_delivery [DIR] [USERS]");
            return ExitCode::FAILURE;
        }
    };
    let result = run(&root, users);
    let _ = std::fs::remove_dir_all(&root);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The process's peak resident set, in MiB (0 where /proc is missing).
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn run(root: &Path, users: u32) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(root)?;
    let store = Store::open(root)?;
    let schema = Schema {
        fields: vec![
            FieldDef::new("city", FieldKind::Enum),
            FieldDef::new("name", FieldKind::Text),
        ],
    };
    store.create_table("users", &schema)?;
    let mut csv = String::with_capacity(users as usize * 32);
    csv.push_str("user_id,city,name\n");
    for i in 0..users {
        csv.push_str(&format!("u{i:07},c{:02},Name{i}\n", i % 20));
    }
    store.import(
        "users",
        ImportFormat::Csv,
        csv.as_bytes(),
        &ImportOptions::default(),
    )?;
    drop(csv);
    println!(
        "campaign delivery of {users} messages, in {}; peak RSS after the store: {:.0} MiB",
        root.display(),
        peak_rss_mib()
    );
    let campaigns = CampaignStore::open(root)?;
    let log = DeliveryLog::open(root)?;
    let rx = Receiver::start_with(|_| Answer::Status(200, "ok".into()), false);
    let out = root.join("out");
    let cases: [(&str, serde_json::Value); 2] = [
        (
            "webhook",
            serde_json::json!({"webhook": {"url": rx.url(), "batch_size": 1000, "max_retries": 0}}),
        ),
        (
            "file",
            serde_json::json!({"file": {"dir": out.to_str().ok_or("a UTF-8 path")?, "format": "jsonl"}}),
        ),
    ];
    let ann = Actor::new("bench", Role::Write);
    let sched = Actor::new("scheduler", Role::Admin);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    for (name, channel) in cases {
        let def: CampaignDef = serde_json::from_value(serde_json::json!({
            "name": name, "table": "users", "audience": {"where": "city != 'none'"},
            "channel": channel,
            "variants": [{"name": "a", "weight": 1, "template": "Hi {name} in {city}"}],
            "kind": "transactional", "schedule": "now"
        }))?;
        campaigns.create(&store, def, &ann, now)?;
        campaigns.act(name, Action::Start, &ann, now)?;
        campaigns.start_runs(&store, &[name], &sched, now)?;
        let control = Control::new();
        let counters = Arc::new(Counters::default());
        let mut sink: Box<dyn Sink> = match campaigns.get(name)?.def.channel {
            Channel::Webhook(w) => {
                Box::new(WebhookSink::new(&w, control.clone(), counters.clone()))
            }
            Channel::File(_) => Box::new(FileSink::new(&out, FileFormat::Jsonl)),
        };
        let started = Instant::now();
        let report = deliver(
            &store, &campaigns, &log, name, 1, &mut *sink, &control, &counters,
        )?;
        let secs = started.elapsed().as_secs_f64();
        let sent: u64 = report.variants.iter().map(|v| v.sent).sum();
        if !report.complete || sent != u64::from(users) {
            return Err(format!("{name}: {sent} of {users} sent").into());
        }
        println!(
            "{name:>8}: {sent} messages in {secs:.2} s = {:.0} messages/s; peak RSS {:.0} MiB",
            sent as f64 / secs,
            peak_rss_mib()
        );
    }
    Ok(())
}
