//! The syntax tree of `CREATE CAMPAIGN` (and `DROP CAMPAIGN`, which is a
//! name): every setting of a campaign's JSON definition as a clause. The
//! tree knows nothing of campaigns' rules; the campaigns crate turns it
//! into its definition and checks it.

use super::{Expr, Ident, IntLit, Literal, NumLit, Span};

/// `CREATE CAMPAIGN name ON table clause…`: AUDIENCE, CHANNEL, one VARIANT
/// or more and SCHEDULE are required; the other clauses are optional; all
/// may come in any order, each once (VARIANT once per variant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateCampaign {
    /// The campaign's name.
    pub name: Ident,
    /// The table after ON.
    pub table: Ident,
    /// `AUDIENCE WHERE expr` or `AUDIENCE SEGMENT name`.
    pub audience: CampaignAudience,
    /// `CHANNEL kind [(setting => value, …)]`.
    pub channel: Settings,
    /// `VARIANT name WEIGHT n TEMPLATE 'text'`, in the order written.
    pub variants: Vec<VariantClause>,
    /// `HOLDOUT share`.
    pub holdout: Option<NumLit>,
    /// `SPLIT kind [(setting => value, …)]`.
    pub split: Option<Settings>,
    /// `CAP n PER d DAYS`.
    pub cap: Option<CapClause>,
    /// `PRIORITY n`.
    pub priority: Option<IntLit>,
    /// `KIND MARKETING` or `KIND TRANSACTIONAL`, and where the kind is
    /// written.
    pub kind: Option<(MessageKind, Span)>,
    /// `SCHEDULE NOW`, `SCHEDULE AT 'time'` or `SCHEDULE DAILY AT 'HH:MM'`.
    pub schedule: ScheduleClause,
    /// `APPROVAL REQUIRED`: where it is written, if it is.
    pub approval_required: Option<Span>,
    /// `RATE n PER SECOND`: n.
    pub rate: Option<IntLit>,
    /// `ALLOW SENSITIVE`: where it is written, if it is.
    pub allow_sensitive: Option<Span>,
    /// `GOAL did(event, n DAYS AFTER SEND)`.
    pub goal: Option<GoalClause>,
}

/// `GOAL did(event, n DAYS AFTER SEND)`: met by a user with at least one
/// `event` in the `n` days from their send day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoalClause {
    /// The EVENT field.
    pub event: Ident,
    /// The window in days (its range is the campaigns crate's to check).
    pub days: IntLit,
    /// Where the goal is written, from `did` to `)`.
    pub span: Span,
}

/// Who a campaign is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CampaignAudience {
    /// `AUDIENCE WHERE expr`.
    Where(Expr),
    /// `AUDIENCE SEGMENT name`.
    Segment(Ident),
}

/// A kind with settings: `webhook (url => '…', timeout_ms => 5000)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The kind (`webhook`, `file`, `weights`, `copy_race`).
    pub kind: Ident,
    /// The settings, in the order written.
    pub settings: Vec<Setting>,
}

/// `name => value` in a [`Settings`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The setting's name.
    pub name: Ident,
    /// Its value.
    pub value: SettingValue,
}

/// The value of a [`Setting`]: a string, integer or boolean, or a decimal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingValue {
    /// `'text'`, `42`, `true`.
    Literal(Literal),
    /// `0.25`, as written.
    Number(NumLit),
}

impl SettingValue {
    /// Where the value is written.
    pub fn span(&self) -> Span {
        match self {
            SettingValue::Literal(l) => l.span,
            SettingValue::Number(n) => n.span,
        }
    }
}

/// A string where only a string may stand (a template, a time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrLit {
    /// The string, quotes removed and `''` read as `'`.
    pub text: String,
    /// Where it is written, quotes included.
    pub span: Span,
}

/// `VARIANT name WEIGHT n TEMPLATE 'text'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantClause {
    /// The variant's name.
    pub name: Ident,
    /// Its weight.
    pub weight: IntLit,
    /// Its message template.
    pub template: StrLit,
}

/// `CAP max PER days DAYS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapClause {
    /// The most messages.
    pub max: IntLit,
    /// The window in days.
    pub days: IntLit,
}

/// Marketing or transactional.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// `MARKETING`.
    Marketing,
    /// `TRANSACTIONAL`.
    Transactional,
}

impl MessageKind {
    /// The keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Marketing => "MARKETING",
            MessageKind::Transactional => "TRANSACTIONAL",
        }
    }
}

/// When a campaign runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleClause {
    /// `SCHEDULE NOW`: where NOW is written.
    Now(Span),
    /// `SCHEDULE AT 'time'`.
    At(StrLit),
    /// `SCHEDULE DAILY AT 'HH:MM'`.
    Daily(StrLit),
    /// `SCHEDULE ON EVENT a [AND NOT b WITHIN n unit] [REENTRY n unit]
    /// [WHERE condition]`.
    OnEvent(Box<TriggerClause>),
}

/// A trigger schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerClause {
    /// The event that arms a user's timer.
    pub event: Ident,
    /// `AND NOT b WITHIN n unit`.
    pub and_not: Option<(Ident, DurationLit)>,
    /// `REENTRY n unit`.
    pub reentry: Option<DurationLit>,
    /// `WHERE condition`.
    pub condition: Option<Expr>,
}

/// A length of time, `10 MINUTES`: the number and the unit's seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationLit {
    /// The number.
    pub n: IntLit,
    /// Seconds per unit: 1 (SECONDS), 60 (MINUTES), 3,600 (HOURS) or
    /// 86,400 (DAYS).
    pub unit_seconds: u32,
    /// From the number to the unit.
    pub span: Span,
}

impl ScheduleClause {
    /// Where the schedule's value is written.
    pub fn span(&self) -> Span {
        match self {
            ScheduleClause::Now(s) => *s,
            ScheduleClause::At(t) | ScheduleClause::Daily(t) => t.span,
            ScheduleClause::OnEvent(t) => t.event.span,
        }
    }
}
