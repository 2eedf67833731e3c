//! A campaign's definition: the JSON shape `POST /v1/campaigns` takes, and
//! the people who act on campaigns.
//!
//! Every struct refuses unknown keys (`deny_unknown_fields`), so a
//! misspelt setting is an error, never a setting that silently does
//! nothing. Defaults are written next to each field. The definition is
//! only checked for shape here; [`validate`](fn@crate::validate) checks it
//! against the store.

use serde::{Deserialize, Serialize};

/// A campaign as its author writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignDef {
    /// Its name: letters, digits and `_`, not starting with a digit, at
    /// most 128 bytes (the rules of segment names).
    pub name: String,
    /// The table whose rows it messages.
    pub table: String,
    /// Who it is for.
    pub audience: Audience,
    /// How messages leave.
    pub channel: Channel,
    /// The message variants (at least one); users are split between them
    /// by weight.
    pub variants: Vec<Variant>,
    /// The share of the audience held out (messaged nothing, the control
    /// group): `0.0..=0.5`. Default 0.
    #[serde(default)]
    pub holdout: f64,
    /// How users are split between the variants. Default `"weights"`.
    #[serde(default)]
    pub split: Split,
    /// This campaign's own frequency cap (the table-wide cap applies as
    /// well). Default none.
    #[serde(default)]
    pub cap: Option<Cap>,
    /// Higher goes first among runs that start at the same moment, and so
    /// gets a user first when caps allow only one of them. Default 0.
    #[serde(default)]
    pub priority: i32,
    /// Marketing (capped, counted as a touch) or transactional. Default
    /// marketing.
    #[serde(default)]
    pub kind: Kind,
    /// When it runs.
    pub schedule: Schedule,
    /// Whether an admin other than its creator must approve it before it
    /// is scheduled. Default false.
    #[serde(default)]
    pub approval_required: bool,
    /// The most messages per second the channel sends (at least 1).
    /// Default unlimited.
    #[serde(default)]
    pub rate_limit: Option<u32>,
    /// Whether templates may name SENSITIVE fields. Default false.
    #[serde(default)]
    pub allow_sensitive: bool,
    /// What the campaign is for, measured from behaviour (see
    /// [`goal`](crate::goal)): `did(book, 7 days after send)` is met by a
    /// user with at least one `book` event (an EVENT field of the table)
    /// in the 7 days from their send day. Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<String>,
}

/// Who a campaign is for, evaluated afresh at the start of every run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Audience {
    /// `{"segment": "name"}`: a named segment of the campaign's table.
    Segment(String),
    /// `{"where": "…"}`: a WHERE clause over the campaign's table, without
    /// the word WHERE.
    Where(String),
}

/// Where messages go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Channel {
    /// JSON batches POSTed to a URL.
    Webhook(Webhook),
    /// One file per run and variant in a directory.
    File(FileChannel),
}

/// `{"webhook": {…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// `http://` or `https://` URL.
    pub url: String,
    /// How long one POST may take, in milliseconds (1..=600,000). Default
    /// 10,000.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u32,
    /// Retries of a batch after a connection error, a timeout or a 5xx
    /// (0..=20). Default 5.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// Messages per POST (1..=10,000). Default 1,000.
    #[serde(default = "default_batch_size")]
    pub batch_size: u32,
}

fn default_timeout_ms() -> u32 {
    10_000
}
fn default_max_retries() -> u32 {
    5
}
fn default_batch_size() -> u32 {
    1_000
}

/// `{"file": {"dir": "…", "format": "jsonl"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileChannel {
    /// An absolute directory on the server.
    pub dir: String,
    /// The file format.
    pub format: FileFormat,
}

/// The format of the file channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// One JSON object per line.
    Jsonl,
    /// RFC 4180 CSV with a header.
    Csv,
}

/// One message variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Its name (segment-name rules), unique in the campaign.
    pub name: String,
    /// Its share of the users, relative to the other weights (at least 1).
    pub weight: u32,
    /// The message text with placeholders (see [`template`](crate::template)).
    pub template: String,
}

/// How users are split between the variants.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Split {
    /// `"weights"`: every user by the variants' weights, at once.
    #[default]
    Weights,
    /// `{"copy_race": {…}}`: a test share split evenly over the variants;
    /// after the window the winner gets the rest. Decided by effects
    /// (clicks, conversions), which come with the Effects issue: refused
    /// until then.
    CopyRace(CopyRace),
}

/// The settings of a copy race.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopyRace {
    /// The share of the audience (after the hold-out) that races.
    pub test_share: f64,
    /// How long the race runs before the winner is chosen, in minutes.
    pub window_minutes: u32,
    /// What picks the winner. Default CTR.
    #[serde(default)]
    pub metric: RaceMetric,
    /// The fewest deliveries a variant needs to be judged.
    #[serde(default)]
    pub min_deliveries: u32,
}

/// What decides a copy race.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RaceMetric {
    /// Clicked / delivered.
    #[default]
    Ctr,
    /// The campaign's goal.
    Goal,
}

/// A frequency cap: at most `max` marketing messages per user in any
/// `days` consecutive days (the run's day and the `days - 1` before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cap {
    /// The most messages (1..=[`MAX_CAP`](crate::touches::MAX_CAP)).
    pub max: u32,
    /// The window in days (1..=[`MAX_CAP_DAYS`](crate::touches::MAX_CAP_DAYS)).
    pub days: u32,
}

/// Marketing or transactional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Capped, and every message counts as a touch.
    #[default]
    Marketing,
    /// Exempt from caps, and never counted as a touch (receipts, alerts).
    Transactional,
}

/// When a campaign runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    /// `"now"`: once, as soon as it is started (or approved).
    Now,
    /// `{"at": "2026-12-24T09:00:00Z"}`: once, at an RFC 3339 time.
    At(String),
    /// `{"daily": "09:30"}`: every day at HH:MM UTC, the audience evaluated
    /// afresh at each run.
    Daily(String),
    /// `{"on_event": {…}}`: a trigger. Each user who records the event
    /// (and meets the condition) is sent to once their timer comes due;
    /// see [`crate::trigger`].
    OnEvent(Trigger),
}

/// A trigger schedule: `ON EVENT a [AND NOT b WITHIN n MINUTES] [WHERE
/// condition] [REENTRY n HOURS]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// The EVENT field whose acknowledged write arms a user's timer.
    pub event: String,
    /// `AND NOT b WITHIN n`: the timer is due `within_seconds` after the
    /// event, and an event `b` before then cancels it. Without it the
    /// timer is due at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub and_not: Option<AndNot>,
    /// A condition the user must meet when the event is written (a WHERE
    /// clause over the campaign's table, without the word WHERE). Default
    /// none: every user who records the event.
    #[serde(default, rename = "where", skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// How long after a user's timer came due before the event can arm
    /// them again, in seconds (0..=31,536,000). Default 86,400 (a day).
    #[serde(default = "default_reentry")]
    pub reentry_seconds: u32,
}

/// `AND NOT b WITHIN n`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AndNot {
    /// The EVENT field that cancels a pending timer.
    pub event: String,
    /// How long the timer waits, in seconds (1..=604,800: a week).
    pub within_seconds: u32,
}

impl Trigger {
    /// The re-entry interval when none is given: a day.
    pub const DEFAULT_REENTRY_SECONDS: u32 = 86_400;
}

fn default_reentry() -> u32 {
    Trigger::DEFAULT_REENTRY_SECONDS
}

/// Someone acting on campaigns: the creator, an approver, whoever starts,
/// pauses or cancels. The server maps its principals to this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// The principal's name.
    pub name: String,
    /// Its role.
    pub role: Role,
}

impl Actor {
    /// An actor named `name` with `role`.
    pub fn new(name: impl Into<String>, role: Role) -> Actor {
        Actor {
            name: name.into(),
            role,
        }
    }
}

/// What an actor may do: read reads, write creates and starts, admin also
/// approves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads campaigns.
    Read,
    /// Creates, starts, pauses, resumes and cancels.
    Write,
    /// Everything, and approves campaigns it did not create.
    Admin,
}

impl Role {
    /// The role's name as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_reads_with_its_defaults() {
        let def: CampaignDef = serde_json::from_str(crate::EXAMPLE_JSON).unwrap();
        assert_eq!(def.name, "spring_sale");
        assert_eq!(
            def.audience,
            Audience::Where("city = 'c000' AND count(view, last 7 days) > 2".into())
        );
        let Channel::Webhook(w) = &def.channel else {
            panic!("not a webhook: {:?}", def.channel)
        };
        assert_eq!((w.timeout_ms, w.max_retries, w.batch_size), (5000, 5, 1000));
        assert_eq!(def.variants.len(), 2);
        assert_eq!(def.schedule, Schedule::Daily("09:30".into()));
        assert_eq!(def.split, Split::Weights);
        assert_eq!(def.cap, Some(Cap { max: 2, days: 7 }));
        assert!(def.approval_required);
        // Serializing and reading back gives the same definition.
        let again: CampaignDef =
            serde_json::from_str(&serde_json::to_string(&def).unwrap()).unwrap();
        assert_eq!(again, def);
    }

    #[test]
    fn a_goal_is_written_only_when_there_is_one() {
        let mut def: CampaignDef = serde_json::from_str(crate::EXAMPLE_JSON).unwrap();
        assert_eq!(def.goal, None);
        assert!(!serde_json::to_string(&def).unwrap().contains("goal"));
        def.goal = Some("did(book, 7 days after send)".into());
        let json = serde_json::to_value(&def).unwrap();
        assert_eq!(json["goal"], "did(book, 7 days after send)");
        let again: CampaignDef = serde_json::from_value(json).unwrap();
        assert_eq!(again, def);
    }

    #[test]
    fn an_unknown_key_is_refused_not_ignored() {
        let text = crate::EXAMPLE_JSON.replace("\"priority\"", "\"priorty\"");
        let err = serde_json::from_str::<CampaignDef>(&text).unwrap_err();
        assert!(err.to_string().contains("unknown field `priorty`"), "{err}");
    }

    #[test]
    fn the_other_shapes_read() {
        let a: Audience = serde_json::from_str(r#"{"segment": "vip"}"#).unwrap();
        assert_eq!(a, Audience::Segment("vip".into()));
        let c: Channel =
            serde_json::from_str(r#"{"file": {"dir": "/out", "format": "csv"}}"#).unwrap();
        assert_eq!(
            c,
            Channel::File(FileChannel {
                dir: "/out".into(),
                format: FileFormat::Csv
            })
        );
        let s: Schedule = serde_json::from_str(r#""now""#).unwrap();
        assert_eq!(s, Schedule::Now);
        let s: Schedule = serde_json::from_str(
            r#"{"on_event": {"event": "order", "and_not": {"event": "pay", "within_seconds": 600}, "where": "age > 30"}}"#,
        )
        .unwrap();
        assert_eq!(
            s,
            Schedule::OnEvent(Trigger {
                event: "order".into(),
                and_not: Some(AndNot {
                    event: "pay".into(),
                    within_seconds: 600
                }),
                condition: Some("age > 30".into()),
                reentry_seconds: 86_400,
            })
        );
        assert!(
            serde_json::from_str::<Schedule>(r#"{"on_event": {"event": "a", "within": 3}}"#)
                .is_err()
        );
        let s: Schedule = serde_json::from_str(r#"{"at": "2026-12-24T09:00:00Z"}"#).unwrap();
        assert_eq!(s, Schedule::At("2026-12-24T09:00:00Z".into()));
        let s: Split =
            serde_json::from_str(r#"{"copy_race": {"test_share": 0.1, "window_minutes": 60}}"#)
                .unwrap();
        assert!(matches!(
            s,
            Split::CopyRace(CopyRace {
                metric: RaceMetric::Ctr,
                ..
            })
        ));
    }
}
