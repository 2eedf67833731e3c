//! The webhook channel end to end: a real HTTP receiver on 127.0.0.1 in
//! the test, the executor, the delivery log, and crashes.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use roaring::RoaringBitmap;
use segdb_campaigns::deliver::receiver::{Answer, Receiver, Request};
use segdb_campaigns::deliver::{message_id, Backoff, Control, Counters, DeliveryLog, WebhookSink};
use segdb_campaigns::{CampaignError, CampaignStore, Channel};
use segdb_storage_format::wal::{FaultyFs, RealFs};
use serde_json::Value;

use common::*;

const FAST: Backoff = Backoff {
    base: Duration::from_millis(2),
    max: Duration::from_millis(20),
};

fn hook(url: &str, extra: Value) -> Value {
    let mut w =
        serde_json::json!({"url": url, "batch_size": 40, "timeout_ms": 2000, "max_retries": 3});
    for (k, v) in extra.as_object().unwrap() {
        w[k] = v.clone();
    }
    serde_json::json!({ "webhook": w })
}

fn sink(
    campaigns: &CampaignStore,
    name: &str,
    control: &Control,
    counters: &Arc<Counters>,
) -> WebhookSink {
    let Channel::Webhook(w) = campaigns.get(name).unwrap().def.channel else {
        panic!("a webhook campaign")
    };
    WebhookSink::new(&w, control.clone(), counters.clone()).with_backoff(FAST)
}

/// Per user id, every (message id, text, variant, key) the receiver
/// accepted.
type Got = HashMap<String, Vec<(String, String, String, String)>>;

fn got(requests: &[Request]) -> Got {
    let mut out: Got = HashMap::new();
    for r in requests {
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert!(v["campaign"].is_string());
        assert_eq!(v["run"], 1);
        for m in v["messages"].as_array().unwrap() {
            out.entry(m["user_id"].as_str().unwrap().to_owned())
                .or_default()
                .push((
                    m["message_id"].as_str().unwrap().to_owned(),
                    m["text"].as_str().unwrap().to_owned(),
                    v["variant"].as_str().unwrap().to_owned(),
                    r.key.clone().unwrap(),
                ));
        }
    }
    out
}

/// Every user of the run's variants got exactly one message, the right
/// text for its variant, and its stable message id; nobody else did.
fn check_exactly_once(campaigns: &CampaignStore, name: &str, got: &Got) {
    let c = campaigns.get(name).unwrap();
    let frozen = campaigns.load_run(name, 1).unwrap();
    let assigned = assigned(&frozen);
    assert_eq!(got.len(), assigned.len(), "users contacted");
    for (row, v) in &assigned {
        let msgs = &got[&format!("u{row}")];
        assert_eq!(msgs.len(), 1, "u{row} got {msgs:?}");
        let (id, text_, variant, _) = &msgs[0];
        assert_eq!(id, &message_id(c.id, 1, *row));
        assert_eq!(text_, &text(*v, *row));
        assert_eq!(variant, ["a", "b"][*v]);
    }
    for r in &frozen.holdout {
        assert!(
            !got.contains_key(&format!("u{r}")),
            "held-out u{r} contacted"
        );
    }
}

#[test]
fn every_user_gets_exactly_one_personalised_message() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 400);
    let campaigns = CampaignStore::open(dir.path()).unwrap();
    let rx = Receiver::start(|_| Answer::Status(200, "ok".into()));
    campaign(
        &store,
        &campaigns,
        "hello",
        hook(&rx.url(), serde_json::json!({})),
        serde_json::json!({}),
    );
    let log = log(dir.path());
    let (control, counters) = (Control::new(), Arc::new(Counters::default()));
    let mut s = sink(&campaigns, "hello", &control, &counters);
    let report = run(
        &store, &campaigns, &log, "hello", &mut s, &control, &counters,
    )
    .unwrap();
    assert!(report.complete);
    check_exactly_once(&campaigns, "hello", &got(&rx.accepted()));
    let frozen = campaigns.load_run("hello", 1).unwrap();
    for (v, r) in report.variants.iter().enumerate() {
        assert_eq!(
            (r.assigned, r.sent, r.failed),
            (frozen.variants[v].len(), frozen.variants[v].len(), 0)
        );
    }
    let keys: HashSet<String> = rx.keys().into_iter().collect();
    assert_eq!(keys.len() as u64, rx.count(), "one key per batch");
    let total: u64 = frozen.variants.iter().map(|v| v.len()).sum();
    assert_eq!(counters.sent.load(Ordering::Relaxed), total);
    assert_eq!(counters.responses_of(200), rx.count());
    // Marketing: every send is one touch today, folded by the checkpoint.
    let day = segdb_campaigns::store::day_of(now());
    let touches = campaigns.touches("users", day).unwrap();
    let sent: RoaringBitmap = frozen
        .variants
        .iter()
        .fold(RoaringBitmap::new(), |a, v| a | v);
    assert_eq!(touches.table.day(day), [sent]);
    // Delivering again sends nothing.
    let again = run(
        &store, &campaigns, &log, "hello", &mut s, &control, &counters,
    )
    .unwrap();
    assert!(again.complete);
    assert_eq!(rx.count(), keys.len() as u64);
}

#[test]
fn a_500_then_200_is_retried_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 200);
    let campaigns = CampaignStore::open(dir.path()).unwrap();
    // Every batch's first attempt fails.
    let rx = Receiver::start(|r| {
        if r.number % 2 == 1 {
            Answer::Status(503, "busy".into())
        } else {
            Answer::Status(200, "ok".into())
        }
    });
    campaign(
        &store,
        &campaigns,
        "c",
        hook(&rx.url(), serde_json::json!({})),
        serde_json::json!({}),
    );
    let log = log(dir.path());
    let (control, counters) = (Control::new(), Arc::new(Counters::default()));
    let mut s = sink(&campaigns, "c", &control, &counters);
    assert!(
        run(&store, &campaigns, &log, "c", &mut s, &control, &counters)
            .unwrap()
            .complete
    );
    check_exactly_once(&campaigns, "c", &got(&rx.accepted()));
    let keys = rx.keys();
    for pair in keys.chunks(2) {
        assert_eq!(pair[0], pair[1], "a retry carries the batch's key");
    }
    assert_eq!(counters.responses_of(503), counters.responses_of(200));
}

#[test]
fn a_timeout_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 100);
    let campaigns = CampaignStore::open(dir.path()).unwrap();
    let rx = Receiver::start(|r| {
        if r.number == 2 {
            Answer::Hang(Duration::from_secs(5))
        } else {
            Answer::Status(200, "ok".into())
        }
    });
    campaign(
        &store,
        &campaigns,
        "c",
        hook(&rx.url(), serde_json::json!({"timeout_ms": 300})),
        serde_json::json!({}),
    );
    let log = log(dir.path());
    let (control, counters) = (Control::new(), Arc::new(Counters::default()));
    let mut s = sink(&campaigns, "c", &control, &counters);
    assert!(
        run(&store, &campaigns, &log, "c", &mut s, &control, &counters)
            .unwrap()
            .complete
    );
    check_exactly_once(&campaigns, "c", &got(&rx.accepted()));
    assert_eq!(counters.transport_errors.load(Ordering::Relaxed), 1);
    let keys = rx.keys();
    assert_eq!(keys[1], keys[2], "the timed-out batch is sent again as is");
}

#[test]
fn a_400_fails_that_batch_with_its_status_and_body_and_the_rest_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 300);
    let campaigns = CampaignStore::open(dir.path()).unwrap();
    let long = "x".repeat(1000);
    let refused = long.clone();
    let rx = Receiver::start(move |r| {
        if r.number == 2 {
            Answer::Status(400, format!("bad batch {refused}"))
        } else {
            Answer::Status(200, "ok".into())
        }
    });
    let c = campaign(
        &store,
        &campaigns,
        "c",
        hook(&rx.url(), serde_json::json!({})),
        serde_json::json!({}),
    );
    let log = log(dir.path());
    let (control, counters) = (Control::new(), Arc::new(Counters::default()));
    let mut s = sink(&campaigns, "c", &control, &counters);
    let report = run(&store, &campaigns, &log, "c", &mut s, &control, &counters).unwrap();
    assert!(report.complete);
    assert_eq!(report.variants.iter().map(|v| v.failed).sum::<u64>(), 40);
    assert_eq!(counters.failed.load(Ordering::Relaxed), 40);
    let progress = log.progress(&campaigns, &c, 1).unwrap();
    assert_eq!(progress.failed.len(), 40);
    assert_eq!(progress.failures.len(), 1);
    assert_eq!(progress.failures[0].status, 400);
    assert_eq!(
        progress.failures[0].body,
        format!("bad batch {long}")[..256]
    );
    // The failed users are the second batch's, and nobody else lacks a
    // message.
    let got = got(&rx.accepted());
    let frozen = campaigns.load_run("c", 1).unwrap();
    for (row, _) in assigned(&frozen) {
        assert_eq!(
            got.contains_key(&format!("u{row}")),
            !progress.failed.contains(row)
        );
    }
    // A 400 is not retried: one request per batch.
    let batches: u64 = frozen.variants.iter().map(|v| v.len().div_ceil(40)).sum();
    assert_eq!(rx.count(), batches);
}

#[test]
fn an_unavailable_receiver_stops_the_run_and_a_resume_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 300);
    let campaigns = CampaignStore::open(dir.path()).unwrap();
    let down = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(AtomicU64::new(0));
    let (d, n) = (down.clone(), seen.clone());
    let rx = Receiver::start(move |_| {
        // Down from the third request on, until told otherwise.
        if n.fetch_add(1, Ordering::SeqCst) == 2 {
            d.store(true, Ordering::SeqCst);
        }
        if d.load(Ordering::SeqCst) {
            Answer::Status(502, "down".into())
        } else {
            Answer::Status(200, "ok".into())
        }
    });
    campaign(
        &store,
        &campaigns,
        "c",
        hook(&rx.url(), serde_json::json!({"max_retries": 2})),
        serde_json::json!({}),
    );
    let log = log(dir.path());
    let (control, counters) = (Control::new(), Arc::new(Counters::default()));
    let mut s = sink(&campaigns, "c", &control, &counters);
    let err = run(&store, &campaigns, &log, "c", &mut s, &control, &counters).unwrap_err();
    assert!(matches!(err, CampaignError::Unavailable(_)), "{err}");
    assert!(err.to_string().contains("502"), "{err}");
    assert_eq!(rx.count(), 2 + 3, "two batches, then one tried three times");
    down.store(false, Ordering::SeqCst);
    seen.store(100, Ordering::SeqCst);
    assert!(
        run(&store, &campaigns, &log, "c", &mut s, &control, &counters)
            .unwrap()
            .complete
    );
    check_exactly_once(&campaigns, "c", &got(&rx.accepted()));
}

#[test]
fn a_stopped_run_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 300);
    let campaigns = CampaignStore::open(dir.path()).unwrap();
    let control = Control::new();
    let stop = control.clone();
    // Pause (from the receiver's thread) while the third batch is in
    // flight: it is recorded, and nothing after it is sent.
    let rx = Receiver::start(move |r| {
        if r.number == 3 {
            stop.stop();
        }
        Answer::Status(200, "ok".into())
    });
    let c = campaign(
        &store,
        &campaigns,
        "c",
        hook(&rx.url(), serde_json::json!({})),
        serde_json::json!({}),
    );
    let log = log(dir.path());
    let counters = Arc::new(Counters::default());
    let mut s = sink(&campaigns, "c", &control, &counters);
    let report = run(&store, &campaigns, &log, "c", &mut s, &control, &counters).unwrap();
    assert!(!report.complete);
    assert_eq!(rx.count(), 3);
    let delivered: usize = got(&rx.accepted()).len();
    assert_eq!(
        log.progress(&campaigns, &c, 1).unwrap().sent.len(),
        delivered as u64
    );
    let resumed = Control::new();
    let mut s = sink(&campaigns, "c", &resumed, &counters);
    assert!(
        run(&store, &campaigns, &log, "c", &mut s, &resumed, &counters)
            .unwrap()
            .complete
    );
    check_exactly_once(&campaigns, "c", &got(&rx.accepted()));
}

#[test]
fn a_rate_limit_holds_batches_back_and_its_wait_stops_on_pause() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 100);
    let campaigns = CampaignStore::open(dir.path()).unwrap();
    let rx = Receiver::start(|_| Answer::Status(200, "ok".into()));
    // One message a second, batches of 40: the first batch waits 39 s.
    campaign(
        &store,
        &campaigns,
        "c",
        hook(&rx.url(), serde_json::json!({})),
        serde_json::json!({"rate_limit": 1}),
    );
    let log = log(dir.path());
    let control = Control::new();
    let counters = Arc::new(Counters::default());
    let t = {
        let (control, counters) = (control.clone(), counters.clone());
        let dir = dir.path().to_owned();
        std::thread::spawn(move || {
            let campaigns = CampaignStore::open(&dir).unwrap();
            let mut s = sink(&campaigns, "c", &control, &counters);
            run(&store, &campaigns, &log, "c", &mut s, &control, &counters).map(|r| r.complete)
        })
    };
    // Without the limit the batches would be out long before this.
    assert!(!Control::new().wait(Duration::from_millis(300)));
    assert_eq!(rx.count(), 0);
    control.stop();
    assert!(!t.join().unwrap().unwrap(), "stopped, not complete");
    assert_eq!(rx.count(), 0);
}

/// A crash (power cut) at every fsync of a run's delivery (the log's
/// records, and the checkpoint's touch and run files), each followed by a
/// restart and a resume: every user gets exactly one distinct message id,
/// at most one batch per crash is delivered twice (with the same ids and
/// key), and every user's send is one touch, never two.
#[test]
fn a_crash_at_every_fsync_then_resume_delivers_each_user_one_message_id() {
    crash_at_every_fsync(None);
}

/// The same with a checkpoint after every batch (the size threshold's
/// checkpoints in the middle of a run).
#[test]
fn a_crash_at_every_fsync_with_a_checkpoint_per_batch() {
    crash_at_every_fsync(Some(1));
}

fn open_log(
    dir: &std::path::Path,
    fs: Arc<dyn segdb_storage_format::wal::WalFs>,
    every: Option<u64>,
) -> Result<DeliveryLog, CampaignError> {
    let log = DeliveryLog::open_with(dir, fs)?;
    Ok(match every {
        Some(b) => log.with_checkpoint_bytes(b),
        None => log,
    })
}

fn crash_at_every_fsync(checkpoint_bytes: Option<u64>) {
    let rx = Receiver::start(|_| Answer::Status(200, "ok".into()));
    let (mut crashes, mut resent) = (0, 0);
    for n in 1..=120u64 {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path(), 200);
        let name = format!("c{n}");
        campaign(
            &store,
            &CampaignStore::open(dir.path()).unwrap(),
            &name,
            hook(&rx.url(), serde_json::json!({})),
            serde_json::json!({}),
        );
        let before = rx.count() as usize;
        let fs = FaultyFs::new();
        fs.cut_power_after_syncs(n);
        let (control, counters) = (Control::new(), Arc::new(Counters::default()));
        let first =
            CampaignStore::open_with(dir.path(), Arc::new(fs.clone())).and_then(|campaigns| {
                let log = open_log(dir.path(), Arc::new(fs.clone()), checkpoint_bytes)?;
                let mut s = sink(&campaigns, &name, &control, &counters);
                run(&store, &campaigns, &log, &name, &mut s, &control, &counters)
            });
        if first.is_ok() {
            break;
        }
        crashes += 1;
        fs.lose_unsynced_data().unwrap();
        let campaigns = CampaignStore::open(dir.path()).unwrap();
        let log = open_log(dir.path(), Arc::new(RealFs), checkpoint_bytes).unwrap();
        let mut s = sink(&campaigns, &name, &control, &counters);
        assert!(
            run(&store, &campaigns, &log, &name, &mut s, &control, &counters)
                .unwrap()
                .complete
        );
        let mine: Vec<Request> = rx.accepted().split_off(before);
        let got = got(&mine);
        let frozen = campaigns.load_run(&name, 1).unwrap();
        let mut twice = HashSet::new();
        for (row, _) in assigned(&frozen) {
            let msgs = &got[&format!("u{row}")];
            let ids: HashSet<&String> = msgs.iter().map(|m| &m.0).collect();
            assert_eq!(ids.len(), 1, "u{row}: one message id");
            assert!(msgs.len() <= 2);
            if msgs.len() == 2 {
                assert_eq!(msgs[0].3, msgs[1].3, "the resent batch has its key");
                twice.insert(msgs[0].3.clone());
            }
        }
        assert!(
            twice.len() <= 1,
            "crash after fsync {n}: {} batches twice",
            twice.len()
        );
        resent += twice.len();
        let day = segdb_campaigns::store::day_of(now());
        let sent: RoaringBitmap = frozen
            .variants
            .iter()
            .fold(RoaringBitmap::new(), |a, v| a | v);
        let touches = campaigns.touches("users", day).unwrap();
        assert_eq!(
            touches.table.day(day),
            [sent],
            "crash after fsync {n}: one touch per user"
        );
    }
    assert!(crashes >= 8, "only {crashes} crashes");
    // A cut at a batch record's fsync: the receiver had the batch, the
    // log lost it, and the resume sent it again, ids and key unchanged.
    assert!(resent >= 3, "only {resent} batches sent again");
}

/// A run starting while another run of the table is still delivering
/// counts that run's sends (in the log, not yet in the touch files)
/// against the caps.
#[test]
fn a_run_starting_during_another_counts_its_unfolded_touches() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 300);
    let campaigns = CampaignStore::open(dir.path()).unwrap();
    let boss = segdb_campaigns::Actor::new("boss", segdb_campaigns::Role::Admin);
    let cap = segdb_campaigns::Cap { max: 1, days: 1 };
    campaigns
        .set_table_cap(&store, "users", Some(cap), &boss)
        .unwrap();
    let control = Control::new();
    let stop = control.clone();
    let rx = Receiver::start(move |r| {
        if r.number == 2 {
            stop.stop();
        }
        Answer::Status(200, "ok".into())
    });
    let first = campaign(
        &store,
        &campaigns,
        "first",
        hook(&rx.url(), serde_json::json!({})),
        serde_json::json!({}),
    );
    let log = log(dir.path());
    let counters = Arc::new(Counters::default());
    let mut s = sink(&campaigns, "first", &control, &counters);
    assert!(
        !run(&store, &campaigns, &log, "first", &mut s, &control, &counters)
            .unwrap()
            .complete
    );
    let sent = log.progress(&campaigns, &first, 1).unwrap().sent;
    assert_eq!(sent.len(), 80);
    // The second campaign, over the same users, starts now.
    let ann = segdb_campaigns::Actor::new("ann", segdb_campaigns::Role::Write);
    let def = {
        let mut d = campaigns.get("first").unwrap().def;
        d.name = "second".into();
        d.holdout = 0.0;
        d
    };
    campaigns.create(&store, def, &ann, now()).unwrap();
    campaigns
        .act("second", segdb_campaigns::Action::Start, &ann, now())
        .unwrap();
    let sched = segdb_campaigns::Actor::new("scheduler", segdb_campaigns::Role::Admin);
    let started = campaigns
        .start_runs_with(&store, &["second"], &sched, now(), Some(&log))
        .unwrap();
    assert_eq!(started[0].run.capped, 80);
    assert_eq!(campaigns.load_run("second", 1).unwrap().capped, sent);
}
