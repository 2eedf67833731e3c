//! A campaign's states and the actions that move it between them, as a
//! pure function ([`transition`]).
//!
//! ```text
//!            start (approval required)           approve (admin, not the creator)
//!   draft ─────────────────────────────> pending_approval ──────────> scheduled
//!     └──────────── start (no approval) ───────────────────────────────> │ ^
//!                                                          run_started   v │ run_finished (daily)
//!                                                                     running ──run_finished──> done
//!                                                                        └──run_failed──> failed
//!   start_failed (the scheduler, after a due run could not start for its
//!   give-up time): scheduled -> failed
//!   pause: scheduled | running -> paused (remembering which); resume: back
//!   cancel: draft | pending_approval | scheduled | running | paused -> cancelled
//!   delete: any state but running or paused while running (the store removes it)
//! ```
//!
//! `done`, `cancelled` and `failed` are final. The actions of people
//! (start, approve, pause, resume, cancel) need the write role, approve
//! the admin role and an actor other than the creator; the scheduler's
//! (run_started, run_finished, run_failed) are taken by the scheduler.

use serde::{Deserialize, Serialize};

use crate::definition::{Actor, Role};

/// A campaign's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Created, not started.
    Draft,
    /// Started, waiting for an admin's approval.
    PendingApproval,
    /// Waiting for its next run's time.
    Scheduled,
    /// A run is in progress.
    Running,
    /// Paused by someone; resume goes back to where it was.
    Paused(Paused),
    /// Every run is over.
    Done,
    /// Stopped for good by someone.
    Cancelled,
    /// Stopped for good by an error.
    Failed,
}

/// What a paused campaign was doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Paused {
    /// Waiting for a run.
    Scheduled,
    /// In a run.
    Running,
}

impl State {
    /// Every state, for tables of tests.
    pub const ALL: [State; 9] = [
        State::Draft,
        State::PendingApproval,
        State::Scheduled,
        State::Running,
        State::Paused(Paused::Scheduled),
        State::Paused(Paused::Running),
        State::Done,
        State::Cancelled,
        State::Failed,
    ];

    /// The state's name as clients see it (`"paused"` for both pauses).
    pub fn as_str(self) -> &'static str {
        match self {
            State::Draft => "draft",
            State::PendingApproval => "pending_approval",
            State::Scheduled => "scheduled",
            State::Running => "running",
            State::Paused(_) => "paused",
            State::Done => "done",
            State::Cancelled => "cancelled",
            State::Failed => "failed",
        }
    }

    /// Whether no action leaves it.
    pub fn is_final(self) -> bool {
        matches!(self, State::Done | State::Cancelled | State::Failed)
    }
}

/// What is done to a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Someone starts a draft (it then waits for approval, or its time).
    Start,
    /// An admin approves a pending campaign.
    Approve,
    /// Someone pauses a scheduled or running campaign.
    Pause,
    /// Someone resumes a paused campaign.
    Resume,
    /// Someone cancels a campaign that is not over.
    Cancel,
    /// Someone deletes a campaign that has no run in progress (the state
    /// is kept; the store then removes the campaign).
    Delete,
    /// The scheduler starts a run.
    RunStarted,
    /// The scheduler ends a run; `more` if the schedule has another
    /// (daily).
    RunFinished {
        /// Whether another run follows.
        more: bool,
    },
    /// The scheduler gives up a run on an error.
    RunFailed,
    /// The scheduler gives up a due run that kept failing to start (its
    /// table dropped, its WHERE no longer binding).
    StartFailed,
}

impl Action {
    /// The action's name as clients see it.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Approve => "approve",
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Cancel => "cancel",
            Action::Delete => "delete",
            Action::RunStarted => "run_started",
            Action::RunFinished { .. } => "run_finished",
            Action::RunFailed => "run_failed",
            Action::StartFailed => "start_failed",
        }
    }

    /// Whether the scheduler takes it (not a person).
    pub fn is_scheduler(self) -> bool {
        matches!(
            self,
            Action::RunStarted
                | Action::RunFinished { .. }
                | Action::RunFailed
                | Action::StartFailed
        )
    }
}

/// An action that is not legal in the campaign's state (HTTP 409, with
/// the current state).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {} a campaign that is {}", .action.as_str(), .current.as_str())]
pub struct TransitionError {
    /// The state it is in.
    pub current: State,
    /// What was asked.
    pub action: Action,
}

/// An action the actor may not take (HTTP 403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{actor} may not {action}: {reason}")]
pub struct Forbidden {
    /// Who asked.
    pub actor: String,
    /// What was asked (`approve`, `create a campaign`).
    pub action: String,
    /// Why not.
    pub reason: String,
}

/// Either refusal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Not legal in this state.
    #[error("{0}")]
    Illegal(TransitionError),
    /// Not for this actor.
    #[error("{0}")]
    Forbidden(Forbidden),
}

impl From<Refused> for crate::CampaignError {
    fn from(r: Refused) -> crate::CampaignError {
        match r {
            Refused::Illegal(e) => crate::CampaignError::Conflict(e),
            Refused::Forbidden(e) => crate::CampaignError::Forbidden(e),
        }
    }
}

/// The state after `action` by `actor` on a campaign in `state` created by
/// `creator` (whose `approval_required` says where a start goes). The
/// role is checked first: an actor who may not act learns nothing of the
/// state.
pub fn transition(
    state: State,
    action: Action,
    actor: &Actor,
    creator: &str,
    approval_required: bool,
) -> Result<State, Refused> {
    let forbidden = |reason: &str| {
        Refused::Forbidden(Forbidden {
            actor: actor.name.clone(),
            action: action.as_str().to_owned(),
            reason: reason.to_owned(),
        })
    };
    if !action.is_scheduler() && actor.role < Role::Write {
        return Err(forbidden("the read role only reads campaigns"));
    }
    if action == Action::Approve {
        if actor.role != Role::Admin {
            return Err(forbidden("only an admin approves a campaign"));
        }
        if actor.name == creator {
            return Err(forbidden(
                "a campaign is approved by an admin other than its creator",
            ));
        }
    }
    use State as S;
    let next = match (state, action) {
        (S::Draft, Action::Start) if approval_required => S::PendingApproval,
        (S::Draft, Action::Start) => S::Scheduled,
        (S::PendingApproval, Action::Approve) => S::Scheduled,
        (S::Scheduled, Action::RunStarted) => S::Running,
        (S::Running, Action::RunFinished { more: true }) => S::Scheduled,
        (S::Running, Action::RunFinished { more: false }) => S::Done,
        (S::Running, Action::RunFailed) => S::Failed,
        // A due run that kept failing to start (its table dropped).
        (S::Scheduled, Action::StartFailed) => S::Failed,
        (S::Scheduled, Action::Pause) => S::Paused(Paused::Scheduled),
        (S::Running, Action::Pause) => S::Paused(Paused::Running),
        (S::Paused(Paused::Scheduled), Action::Resume) => S::Scheduled,
        (S::Paused(Paused::Running), Action::Resume) => S::Running,
        // A paused run that fails (its data unreadable) fails.
        (S::Paused(Paused::Running), Action::RunFailed) => S::Failed,
        (
            S::Draft | S::PendingApproval | S::Scheduled | S::Running | S::Paused(_),
            Action::Cancel,
        ) => S::Cancelled,
        // Not while a run is in progress, even paused: cancel it first.
        (S::Running | S::Paused(Paused::Running), Action::Delete) => {
            return Err(Refused::Illegal(TransitionError {
                current: state,
                action,
            }))
        }
        (_, Action::Delete) => state,
        _ => {
            return Err(Refused::Illegal(TransitionError {
                current: state,
                action,
            }))
        }
    };
    Ok(next)
}

#[cfg(test)]
mod tests;
