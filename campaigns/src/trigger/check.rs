//! A trigger schedule's rules, checked against the table.

use segdb_engine::date::Day;
use segdb_engine::{FieldKind, Schema, Store};

use crate::audience::bind_audience;
use crate::definition::{Audience, CampaignDef, Split, Trigger};
use crate::error::{CampaignError, DefError};
use crate::validate::nearest;

/// The longest `AND NOT … WITHIN` window: a week.
pub const MAX_WITHIN_SECONDS: u32 = 7 * 86_400;

/// The longest re-entry interval: a year.
pub const MAX_REENTRY_SECONDS: u32 = 365 * 86_400;

/// Checks `trigger`, the schedule of `def`: its events are EVENT fields
/// of the table, the window and the re-entry interval in range, the
/// condition binds, and the split is by weights (a copy race needs one
/// run with a start and a window).
pub fn check(
    store: &Store,
    def: &CampaignDef,
    trigger: &Trigger,
    schema: &Schema,
    today: Day,
) -> Result<(), CampaignError> {
    event_field(
        schema,
        &def.table,
        &trigger.event,
        "schedule.on_event.event",
    )?;
    if let Some(n) = &trigger.and_not {
        event_field(
            schema,
            &def.table,
            &n.event,
            "schedule.on_event.and_not.event",
        )?;
        if n.within_seconds == 0 || n.within_seconds > MAX_WITHIN_SECONDS {
            return Err(DefError::new(
                "schedule.on_event.and_not.within_seconds",
                format!(
                    "the window is 1 second to 7 days ({MAX_WITHIN_SECONDS} seconds), not {}",
                    n.within_seconds
                ),
            )
            .into());
        }
    }
    if trigger.reentry_seconds > MAX_REENTRY_SECONDS {
        return Err(DefError::new(
            "schedule.on_event.reentry_seconds",
            format!(
                "the re-entry interval is at most a year ({MAX_REENTRY_SECONDS} seconds), not {}",
                trigger.reentry_seconds
            ),
        )
        .into());
    }
    if matches!(def.split, Split::CopyRace(_)) {
        return Err(DefError::new(
            "split",
            "a trigger campaign cannot race its copy: its users come one by one, with no window to decide in",
        )
        .with_hint("split by weights")
        .into());
    }
    if let Some(cond) = &trigger.condition {
        let path = "schedule.on_event.where";
        if cond.trim().is_empty() {
            return Err(DefError::new(path, "the WHERE condition is empty").into());
        }
        bind_audience(
            store,
            &def.table,
            &Audience::Where(cond.clone()),
            today,
            None,
        )
        .map_err(|e| match e {
            CampaignError::Invalid(mut d) => {
                d.path = path.to_owned();
                CampaignError::Invalid(d)
            }
            other => other,
        })?;
    }
    Ok(())
}

fn event_field(schema: &Schema, table: &str, name: &str, path: &str) -> Result<(), DefError> {
    let events = || {
        schema
            .fields
            .iter()
            .filter(|f| f.kind == FieldKind::Event && !f.name.starts_with('#'))
            .map(|f| f.name.as_str())
    };
    match schema.field(name) {
        Some(f) if !name.starts_with('#') => {
            if f.kind == FieldKind::Event {
                Ok(())
            } else {
                Err(DefError::new(
                    path,
                    format!(
                        "`{name}` is an {} field; a trigger waits for an EVENT field",
                        f.kind.as_str()
                    ),
                ))
            }
        }
        _ => {
            let e = DefError::new(path, format!("unknown event `{name}` in table `{table}`"));
            Err(match nearest(name, events()) {
                Some(n) => e.with_hint(format!("did you mean `{n}`?")),
                None => e,
            })
        }
    }
}
