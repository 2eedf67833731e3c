//! segdb's campaigns: sending a message to a segment, without an HTTP
//! server (the webhook channel is an HTTP client).
//!
//! - [`definition`]: the campaign as JSON (`POST /v1/campaigns` will take
//!   this shape), [`Actor`] and [`Role`].
//! - [`validate`](mod@validate): every field's rules, the audience bound through
//!   query-lang, templates checked against the table.
//! - [`audience`]: binding the audience (errors in the campaign's own
//!   text) and freezing it into a bitmap of row ids.
//! - [`template`]: `{field}`, `{count(view, last 7 days)}`, rendering a row.
//! - [`lifecycle`]: states and transitions as a pure function.
//! - [`schedule`]: when a scheduled campaign's next run is due.
//! - [`touches`], [`plan`]: frequency caps as bitmap operations; hold-out,
//!   caps in priority order and variant assignment for runs starting
//!   together.
//! - [`deliver`]: the delivery log (a WAL of completed batches), the
//!   `file` and `webhook` channels, and the run executor.
//! - [`goal`]: a campaign's goal (`did(book, 7 days after send)`), each
//!   sent user's send day, and who met it (the hold-out from the run's
//!   day).
//! - [`report`]: the report's statistics (rates, uplift over the hold-out
//!   with a 95% interval, the two-proportion z-test).
//! - [`statement`]: `CREATE CAMPAIGN` in the language turned into the
//!   same definition, and its errors placed in the statement.
//! - [`trigger`]: event triggers (`ON EVENT a AND NOT b WITHIN n`): the
//!   users' timers, their log, and what a fire hands to the store.
//! - [`store`]: campaigns, runs' frozen bitmaps and touches on disk, in
//!   checked files replaced atomically ([`checked`]); one user's runs,
//!   groups, send day and effects for a profile
//!   ([`CampaignStore::user_view`]).
//!
//! A definition (every key but `name`, `table`, `audience`, `channel`,
//! `variants` and `schedule` may be left out; the defaults are in
//! [`CampaignDef`]):
//!
//! ```json
#![doc = include_str!("example.json")]
//! ```
//!
//! Creating, starting and running one:
//!
//! ```
//! use segdb_campaigns::{Action, Actor, CampaignDef, CampaignStore, Role, State};
//! use segdb_engine::{FieldDef, FieldKind, ImportFormat, ImportOptions, Schema, Store};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path())?;
//! let schema = Schema { fields: vec![FieldDef::new("city", FieldKind::Enum)] };
//! store.create_table("users", &schema)?;
//! let csv = "user_id,city\nu1,c000\nu2,c001\nu3,c000\n";
//! store.import("users", ImportFormat::Csv, csv.as_bytes(), &ImportOptions::default())?;
//!
//! let campaigns = CampaignStore::open(dir.path())?;
//! let def: CampaignDef = serde_json::from_str(r#"{
//!     "name": "hello", "table": "users",
//!     "audience": {"where": "city = 'c000'"},
//!     "channel": {"file": {"dir": "/tmp/out", "format": "jsonl"}},
//!     "variants": [{"name": "a", "weight": 1, "template": "Hi from {city}"}],
//!     "schedule": "now"
//! }"#)?;
//! let ann = Actor::new("ann", Role::Write);
//! let now = 1_765_000_000; // seconds since 1970-01-01 UTC
//! campaigns.create(&store, def, &ann, now)?;
//! campaigns.act("hello", Action::Start, &ann, now)?;
//! let scheduler = Actor::new("scheduler", Role::Admin);
//! let runs = campaigns.start_runs(&store, &["hello"], &scheduler, now)?;
//! assert_eq!(runs[0].run.audience, 2);
//! assert_eq!(campaigns.get("hello")?.state, State::Running);
//! let frozen = campaigns.load_run("hello", 1)?;
//! assert_eq!(frozen.variants[0].len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audience;
pub mod checked;
pub mod definition;
pub mod deliver;
pub mod effects;
mod error;
pub mod fields;
pub mod goal;
pub mod lifecycle;
pub mod plan;
pub mod race;
pub mod report;
pub mod schedule;
pub mod statement;
pub mod store;
pub mod template;
pub mod touches;
pub mod trigger;
pub mod validate;

#[cfg(test)]
mod testutil;

pub use definition::{
    Actor, AndNot, Audience, CampaignDef, Cap, Channel, Kind, Role, Schedule, Split, Trigger,
    Variant,
};
pub use error::{CampaignError, DefError, TextSpan};
pub use lifecycle::{Action, State, TransitionError};
pub use store::{
    Campaign, CampaignStore, RunBitmaps, RunRecord, StartedRun, UserGroup, UserRun, UserView,
    USER_VIEW_RUNS,
};
pub use validate::{validate, Checked};

/// The example definition of the crate docs (also read by a unit test).
pub const EXAMPLE_JSON: &str = include_str!("example.json");
