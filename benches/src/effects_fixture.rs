//! What the campaign-effects benchmarks share (`benches/campaign_effects.rs`,
//! `bin/effect_intake.rs`): a `users` table of generated rows, a marketing
//! campaign over every user with two variants and a 10% hold-out, its
//! first run started and delivered through a channel that accepts every
//! batch (so the run's `sent` bitmap is real: the executor, the delivery
//! log, the checkpoint), and effect lines for its users.

use std::io::Read;
use std::path::Path;

use segdb_campaigns::deliver::{
    deliver, Batch, Control, Counters, DeliveryLog, Outcome, Sink, VariantInfo,
};
use segdb_campaigns::effects::{Effect, EffectLine};
use segdb_campaigns::{Action, Actor, CampaignDef, CampaignError, CampaignStore, Role};
use segdb_engine::date::Day;
use segdb_engine::{FieldDef, FieldKind, ImportFormat, ImportOptions, Schema, Store};

/// The campaign's name.
pub const CAMPAIGN: &str = "spring";

/// The external id of row `i` (rows are imported in this order).
pub fn user_id(i: u32) -> String {
    format!("u{i:08}")
}

/// The city number (0..20) of row `i`: a hash, so that it does not follow
/// `age`.
pub fn city_of(i: u32) -> u32 {
    (i.wrapping_mul(2_654_435_761) >> 16) % 20
}

/// The CSV `user_id,age,city` of `users` rows (`age` = i % 80, `city` =
/// `c{city_of(i)}`, two digits), made as it is read.
pub struct UsersCsv {
    users: u32,
    next: u32,
    line: Vec<u8>,
    at: usize,
    header: bool,
}

impl UsersCsv {
    /// `users` rows.
    pub fn new(users: u32) -> UsersCsv {
        UsersCsv {
            users,
            next: 0,
            line: Vec::new(),
            at: 0,
            header: true,
        }
    }
}

impl Read for UsersCsv {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            if self.at == self.line.len() {
                self.line.clear();
                self.at = 0;
                if std::mem::take(&mut self.header) {
                    self.line.extend_from_slice(b"user_id,age,city\n");
                } else if self.next == self.users {
                    break;
                } else {
                    let i = self.next;
                    self.line.extend_from_slice(
                        format!("{},{},c{:02}\n", user_id(i), i % 80, city_of(i)).as_bytes(),
                    );
                    self.next += 1;
                }
            }
            let k = (self.line.len() - self.at).min(buf.len() - n);
            buf[n..n + k].copy_from_slice(&self.line[self.at..self.at + k]);
            self.at += k;
            n += k;
        }
        Ok(n)
    }
}

/// A channel that accepts every batch and keeps nothing.
pub struct AcceptAll;

impl Sink for AcceptAll {
    fn start_variant(&mut self, _: &VariantInfo) -> Result<bool, CampaignError> {
        Ok(false)
    }
    fn resend(&mut self, _: &Batch) -> Result<(), CampaignError> {
        Ok(())
    }
    fn send(&mut self, _: &Batch) -> Outcome {
        Outcome::Sent
    }
    fn finish_variant(&mut self, _: &VariantInfo) -> Result<(), CampaignError> {
        Ok(())
    }
}

/// Creates table `users` of `users` rows in `store`, with an EVENT field
/// `book`: 3% of users (i % 100 < 3) booked once, on day `book_day` + i % 5.
pub fn users_table(
    store: &Store,
    users: u32,
    book_day: Day,
) -> Result<(), Box<dyn std::error::Error>> {
    let schema = Schema {
        fields: vec![
            FieldDef::new("age", FieldKind::Int),
            FieldDef::new("city", FieldKind::Enum),
            FieldDef::new("book", FieldKind::Event),
        ],
    };
    store.create_table("users", &schema)?;
    store.import(
        "users",
        ImportFormat::Csv,
        UsersCsv::new(users),
        &ImportOptions::default(),
    )?;
    let mut events = String::from("user_id,event,day,count\n");
    for i in (0..users).filter(|i| i % 100 < 3) {
        let day = segdb_engine::date::format_iso_day(book_day + (i % 5) as Day);
        events.push_str(&format!("{},book,{day},1\n", user_id(i)));
    }
    store.import(
        "users",
        ImportFormat::Events,
        events.as_bytes(),
        &ImportOptions::default(),
    )?;
    Ok(())
}

/// Campaign [`CAMPAIGN`] over every user of `users` (variants `a` and `b`
/// weighted 1:1, a 10% hold-out, no cap, goal `did(book, 7 days after
/// send)`), its run 1 started at `now` and
/// delivered to every assigned user through [`AcceptAll`], checkpointed.
/// Returns the campaigns' store and the delivery log (both opened in
/// `root`, the store's directory).
pub fn delivered_campaign(
    store: &Store,
    root: &Path,
    now: i64,
) -> Result<(CampaignStore, DeliveryLog), Box<dyn std::error::Error>> {
    let campaigns = CampaignStore::open(root)?;
    let log = DeliveryLog::open(root)?;
    let def: CampaignDef = serde_json::from_value(serde_json::json!({
        "name": CAMPAIGN, "table": "users", "audience": {"where": "age >= 0"},
        "channel": {"file": {"dir": root.join("out").to_str().ok_or("a UTF-8 path")?, "format": "jsonl"}},
        "variants": [
            {"name": "a", "weight": 1, "template": "Spring sale"},
            {"name": "b", "weight": 1, "template": "Spring sale: 20% off"}
        ],
        "holdout": 0.1, "kind": "marketing", "schedule": "now",
        "goal": "did(book, 7 days after send)"
    }))?;
    let ann = Actor::new("bench", Role::Write);
    let sched = Actor::new("scheduler", Role::Admin);
    campaigns.create(store, def, &ann, now)?;
    campaigns.act(CAMPAIGN, Action::Start, &ann, now)?;
    campaigns.start_runs(store, &[CAMPAIGN], &sched, now)?;
    let control = Control::new();
    let counters = Counters::default();
    let report = deliver(
        store,
        &campaigns,
        &log,
        CAMPAIGN,
        1,
        &mut AcceptAll,
        &control,
        &counters,
    )?;
    if !report.complete {
        return Err("the run's delivery did not complete".into());
    }
    Ok((campaigns, log))
}

/// The effects of row `i` of a run that sent to it, in the benchmarks'
/// proportions: delivered to 20% of rows, clicked by 5% (a quarter of
/// those twice), converted by 1%; each at `at` plus a few hours, so over
/// two or three days.
pub fn effects_of(i: u32, at: i64, out: &mut Vec<EffectLine>) {
    let mut push = |effect: Effect, hours: i64| {
        out.push(EffectLine {
            id: user_id(i),
            effect,
            at: at + hours * 3_600 + i64::from(i % 3_600),
            run: None,
        })
    };
    if i.is_multiple_of(5) {
        push(Effect::Delivered, i64::from(i % 48));
        if i.is_multiple_of(20) {
            push(Effect::Clicked, i64::from(i % 48) + 1);
            if i.is_multiple_of(80) {
                push(Effect::Clicked, i64::from(i % 48) + 2);
            }
            if i.is_multiple_of(100) {
                push(Effect::Converted, i64::from(i % 48) + 3);
            }
        }
    }
}

/// One effect as a JSON line (what the delivery system posts).
pub fn json_line(l: &EffectLine, out: &mut String) {
    use std::fmt::Write;
    let _ = writeln!(
        out,
        "{{\"id\":\"{}\",\"effect\":\"{}\",\"at\":\"{}\"}}",
        l.id,
        l.effect.as_str(),
        rfc3339(l.at)
    );
}

/// `at` (seconds since 1970-01-01 UTC) as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(at: i64) -> String {
    let day = at.div_euclid(86_400);
    let secs = at.rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        segdb_engine::date::format_iso_day(day as segdb_engine::date::Day),
        secs / 3_600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The process's resident set now and at its peak (VmRSS, VmHWM), in MiB
/// (0 where /proc is missing).
pub fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
