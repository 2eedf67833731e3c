//! segdb's campaigns: the core of sending a message to a segment, without
//! HTTP and (this round) without sending.
//!
//! - [`definition`]: the campaign as JSON (`POST /v1/campaigns` will take
//!   this shape), [`Actor`] and [`Role`].
//! - [`validate`]: every field's rules, the audience bound through
//!   query-lang, templates checked against the table.
//! - [`template`]: `{field}`, `{count(view, last 7 days)}`, rendering a row.
//! - [`lifecycle`]: states and transitions as a pure function.
//! - [`touches`], [`plan`]: frequency caps as bitmap operations; hold-out,
//!   caps in priority order and variant assignment for runs starting
//!   together.
//!
//! A definition (every key but `name`, `table`, `audience`, `channel`,
//! `variants` and `schedule` may be left out; the defaults are in
//! [`CampaignDef`]):
//!
//! ```json
#![doc = include_str!("example.json")]
//! ```
//!
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audience;
pub mod definition;
mod error;
pub mod lifecycle;
pub mod plan;
pub mod template;
pub mod touches;
pub mod validate;

#[cfg(test)]
mod testutil;

pub use definition::{
    Actor, Audience, CampaignDef, Cap, Channel, Kind, Role, Schedule, Split, Variant,
};
pub use error::{CampaignError, DefError, TextSpan};
pub use lifecycle::{Action, State, TransitionError};
pub use validate::{validate, Checked};

/// The example definition of the crate docs (also read by a unit test).
pub const EXAMPLE_JSON: &str = include_str!("example.json");
