//! `CREATE CAMPAIGN` and `DROP CAMPAIGN` in `POST /v1/query`: the same
//! steps as `POST /v1/campaigns` and `DELETE /v1/campaigns/{name}` (the
//! fields a limited key may use, the principal as creator, the campaigns
//! crate's rules and roles, one audit note each, 409 `campaign_exists`),
//! with the definition read from the statement by the campaigns crate and
//! its errors placed in the statement's text.

use std::sync::Mutex;

use segdb_query_lang::Statement;
use serde_json::{json, Value};

use super::super::auth::Principal;
use super::super::campaigns::check_fields;
use super::super::{ApiError, Shared};
use crate::audit::{self, Action, Note};
use crate::campaigns::actor;
use crate::exec::campaigns::campaign_rows;
use crate::exec::ResultSet;

/// Before a batch runs: every CREATE CAMPAIGN whose table exists already
/// is converted and validated (nothing is made), so that a campaign the
/// campaigns' rules refuse stops the batch before any statement of it
/// changes anything, as the batch check does for the language's own
/// mistakes. A campaign over a table the batch makes is checked when it
/// runs.
pub(super) fn precheck(
    s: &Shared,
    stmts: &[segdb_query_lang::ast::Statement],
    access: &crate::exec::Access,
) -> Result<(), ApiError> {
    let today = segdb_engine::date::today();
    for stmt in stmts {
        if !matches!(
            stmt.kind,
            segdb_query_lang::ast::StatementKind::CreateCampaign(_)
        ) {
            continue;
        }
        let catalog = s.catalog();
        let Ok(Statement::CreateCampaign(b)) =
            segdb_query_lang::bind(stmt, &access.catalog(&catalog), today)
        else {
            continue;
        };
        let def = segdb_campaigns::statement::definition(&b)?;
        let all = s.campaigns.store.list();
        let groups = segdb_campaigns::audience::Groups {
            store: &s.campaigns.store,
            campaigns: &all,
            log: Some(&s.campaigns.delivery.log),
        };
        if let Err(e) =
            segdb_campaigns::validate::validate_among(&s.store, &def, today, Some(&groups))
        {
            return Err(match segdb_campaigns::statement::locate(e, &b) {
                Ok(q) => ApiError::from(q),
                Err(e) => ApiError::from(e),
            });
        }
    }
    Ok(())
}

/// Runs a bound CREATE CAMPAIGN or DROP CAMPAIGN for `who`, noting it in
/// `notes` as the campaigns routes do (a failure too).
pub(super) fn run(
    s: &Shared,
    who: &Principal,
    stmt: Statement,
    notes: &Mutex<Vec<Note>>,
) -> Result<ResultSet, ApiError> {
    let note = |name: &str, detail: Value| {
        notes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Note::new(
                Action::Campaign,
                json!({ "campaign": audit::cut(name) }),
                detail,
            ));
    };
    match stmt {
        Statement::CreateCampaign(b) => {
            let name = b.stmt.name.name.clone();
            let created = (|| {
                let def = segdb_campaigns::statement::definition(&b)?;
                check_fields(s, who, &def)?;
                let now = s.campaigns.clock.now();
                let actor = actor(&who.name, who.role);
                s.campaigns
                    .store
                    .create(&s.store, def, &actor, now)
                    .map_err(|e| match segdb_campaigns::statement::locate(e, &b) {
                        Ok(q) => ApiError::from(q),
                        Err(e) => ApiError::from(e),
                    })
            })();
            match created {
                Ok(c) => {
                    note(
                        &name,
                        json!({ "transition": "create", "to": c.state.as_str() }),
                    );
                    Ok(campaign_rows(std::slice::from_ref(&c)))
                }
                Err(e) => {
                    note(&name, json!({ "transition": "create" }));
                    Err(e)
                }
            }
        }
        Statement::DropCampaign { name } => {
            let actor = actor(&who.name, who.role);
            let users = crate::exec::campaigns::users_of_campaign(
                &s.store,
                &s.campaigns.store.list(),
                &name,
            );
            if !users.is_empty() {
                note(&name, json!({ "transition": "delete" }));
                return Err(super::super::campaigns::in_use_error(&name, &users));
            }
            let r = s.campaigns.store.delete(&name, &actor);
            s.campaigns.changed();
            match r {
                Ok(c) => {
                    note(
                        &name,
                        json!({ "transition": "delete", "from": c.state.as_str(), "runs": c.runs.len() }),
                    );
                    Ok(ResultSet {
                        columns: vec!["dropped".into(), "runs".into()],
                        rows: vec![vec![json!(c.def.name), json!(c.runs.len())]],
                    })
                }
                Err(e) => {
                    note(&name, json!({ "transition": "delete" }));
                    Err(ApiError::from(e))
                }
            }
        }
        other => Err(ApiError::internal(format!(
            "not a campaign statement: {other:?}"
        ))),
    }
}
