//! Every (state, action) pair against a table written out by hand.

use super::*;

const ACTIONS: [(&str, Action, bool); 12] = [
    ("start", Action::Start, false),
    ("start+a", Action::Start, true),
    ("approve", Action::Approve, true),
    ("pause", Action::Pause, false),
    ("resume", Action::Resume, false),
    ("cancel", Action::Cancel, false),
    ("run_started", Action::RunStarted, false),
    ("fin+more", Action::RunFinished { more: true }, false),
    ("fin", Action::RunFinished { more: false }, false),
    ("run_failed", Action::RunFailed, false),
    ("delete", Action::Delete, false),
    ("start_failed", Action::StartFailed, false),
];

/// Rows: states in [`State::ALL`] order; columns: [`ACTIONS`]. `-` is
/// illegal (409); `p/s` and `p/r` are paused from scheduled or running.
#[rustfmt::skip]
const TABLE: [[&str; 12]; 9] = [
    // start        start+a             approve      pause  resume       cancel       run_started fin+more     fin     run_failed delete  start_failed
    ["scheduled", "pending_approval", "-",         "-",   "-",         "cancelled", "-",        "-",         "-",    "-",       "draft", "-"], // draft
    ["-",         "-",                "scheduled", "-",   "-",         "cancelled", "-",        "-",         "-",    "-",       "pending_approval", "-"], // pending_approval
    ["-",         "-",                "-",         "p/s", "-",         "cancelled", "running",  "-",         "-",    "-",       "scheduled", "failed"], // scheduled
    ["-",         "-",                "-",         "p/r", "-",         "cancelled", "-",        "scheduled", "done", "failed",  "-", "-"], // running
    ["-",         "-",                "-",         "-",   "scheduled", "cancelled", "-",        "-",         "-",    "-",       "p/s", "-"], // paused (scheduled)
    ["-",         "-",                "-",         "-",   "running",   "cancelled", "-",        "-",         "-",    "failed",  "-", "-"], // paused (running)
    ["-",         "-",                "-",         "-",   "-",         "-",         "-",        "-",         "-",    "-",       "done", "-"], // done
    ["-",         "-",                "-",         "-",   "-",         "-",         "-",        "-",         "-",    "-",       "cancelled", "-"], // cancelled
    ["-",         "-",                "-",         "-",   "-",         "-",         "-",        "-",         "-",    "-",       "failed", "-"], // failed
];

fn name(s: State) -> &'static str {
    match s {
        State::Paused(Paused::Scheduled) => "p/s",
        State::Paused(Paused::Running) => "p/r",
        other => other.as_str(),
    }
}

#[test]
fn every_state_and_action_goes_where_the_table_says() {
    let writer = Actor::new("wendy", Role::Write);
    let admin = Actor::new("ada", Role::Admin);
    for (row, &state) in State::ALL.iter().enumerate() {
        for (col, &(label, action, approval)) in ACTIONS.iter().enumerate() {
            let actor = if action == Action::Approve {
                &admin
            } else {
                &writer
            };
            let got = transition(state, action, actor, "wendy", approval);
            let want = TABLE[row][col];
            match got {
                Ok(next) => assert_eq!(name(next), want, "{} + {label}", name(state)),
                Err(Refused::Illegal(e)) => {
                    assert_eq!(want, "-", "{} + {label} refused", name(state));
                    assert_eq!(e.current, state);
                    assert_eq!(e.action, action);
                    assert_eq!(
                        e.to_string(),
                        format!(
                            "cannot {} a campaign that is {}",
                            action.as_str(),
                            state.as_str()
                        )
                    );
                }
                Err(Refused::Forbidden(f)) => panic!("{} + {label}: {f}", name(state)),
            }
        }
    }
}

#[test]
fn only_an_admin_who_is_not_the_creator_approves() {
    let approve =
        |actor: &Actor| transition(State::PendingApproval, Action::Approve, actor, "ada", true);
    for (who, why) in [
        (Actor::new("ada", Role::Admin), "other than its creator"),
        (Actor::new("bob", Role::Write), "only an admin"),
        (Actor::new("rae", Role::Read), "the read role"),
    ] {
        match approve(&who) {
            Err(Refused::Forbidden(f)) => {
                assert!(f.reason.contains(why), "{}: {f}", who.name);
                assert_eq!(f.actor, who.name);
            }
            other => panic!("{} approved: {other:?}", who.name),
        }
    }
    assert_eq!(
        approve(&Actor::new("boss", Role::Admin)),
        Ok(State::Scheduled)
    );
}

#[test]
fn the_read_role_takes_no_action_in_any_state() {
    let reader = Actor::new("rae", Role::Read);
    for &state in &State::ALL {
        for &(_, action, approval) in &ACTIONS {
            if action.is_scheduler() {
                continue;
            }
            assert!(
                matches!(
                    transition(state, action, &reader, "ada", approval),
                    Err(Refused::Forbidden(_))
                ),
                "{state:?} {action:?}"
            );
        }
    }
}

#[test]
fn states_read_and_write_as_json_names() {
    for &s in &State::ALL {
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<State>(&json).unwrap(), s);
    }
    assert_eq!(
        serde_json::to_string(&State::PendingApproval).unwrap(),
        "\"pending_approval\""
    );
}
