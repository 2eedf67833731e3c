//! Campaign predicates (`in_campaign(c)`, `in_variant(c, 'a')`,
//! `in_holdout(c)`, `sent(c)`, each of the last run or of `run => n`):
//! the group's rows, read from the catalog at every bind, as an
//! [`Expr::RowSet`] labelled for EXPLAIN. An effect (`clicked(c)`) is the
//! value of the run and effect in the table's effects field
//! ([`crate::effects`]), an ordinary SET lookup that sees every effect
//! written so far.

use segdb_engine::{Expr, RowSet};

use super::FilterBinder;
use crate::ast::{CampaignGroup, CampaignPredicate, Predicate, Span, Value};
use crate::effects::{effect_value, EFFECTS_FIELD};
use crate::error::{snippet, ErrorKind, QueryError, Warning};
use crate::suggest;

impl FilterBinder<'_, '_> {
    pub(super) fn bind_campaign(
        &mut self,
        p: &CampaignPredicate,
        span: Span,
    ) -> Result<Expr, QueryError> {
        let scope = self.scope;
        let source = scope.source;
        let name = &p.campaign;
        let Some(c) = scope.catalog.campaign(&name.name) else {
            let names = scope.catalog.campaign_names();
            let hint = match suggest::nearest(&name.name, names.iter().map(String::as_str)) {
                Some(n) => format!("did you mean `{n}`?"),
                None => "SHOW CAMPAIGNS lists the campaigns".to_owned(),
            };
            return Err(QueryError::new(
                ErrorKind::UnknownCampaign {
                    campaign: name.name.clone(),
                },
                name.span,
                source,
            )
            .with_hint(hint));
        };
        if c.table != scope.table {
            return Err(self
                .type_error(
                    format!(
                        "campaign {} reaches users of table {}, not of {}",
                        snippet(&name.name),
                        snippet(&c.table),
                        snippet(scope.table)
                    ),
                    name.span,
                )
                .with_hint(format!(
                    "use it in a query on its table: SELECT COUNT(*) FROM {} WHERE {}",
                    c.table,
                    Predicate::Campaign(p.clone())
                )));
        }
        let variant = match &p.variant {
            None => None,
            Some(lit) => {
                let Value::Str(v) = &lit.value else {
                    return Err(self.type_error(
                        "a variant's name is a string: in_variant(c, 'a')".to_owned(),
                        lit.span,
                    ));
                };
                match c.variants.iter().position(|x| x == v) {
                    Some(i) => Some(i),
                    None => {
                        let quoted: Vec<String> =
                            c.variants.iter().map(|v| format!("'{v}'")).collect();
                        let hint = suggest::nearest(v, c.variants.iter().map(String::as_str))
                            .map(|n| format!("did you mean '{n}'?"));
                        return Err(self
                            .type_error(
                                format!(
                                    "campaign {} has no variant {}; its variants are {}",
                                    snippet(&name.name),
                                    snippet(&format!("'{v}'")),
                                    quoted.join(", ")
                                ),
                                lit.span,
                            )
                            .with_hint_opt(hint));
                    }
                }
            }
        };
        let mut unrun = p.clone();
        unrun.run = None;
        let text = Predicate::Campaign(unrun).to_string();
        let run = match &p.run {
            Some(r) => {
                let known = u32::try_from(r.value).ok().filter(|n| c.runs.contains(n));
                let Some(n) = known else {
                    let message = if c.runs.is_empty() {
                        format!(
                            "campaign {} has no run {} (it has not run yet)",
                            snippet(&name.name),
                            r.value
                        )
                    } else {
                        format!(
                            "campaign {} has no run {}; its runs are {}",
                            snippet(&name.name),
                            r.value,
                            runs_listing(&c.runs)
                        )
                    };
                    return Err(self.type_error(message, r.span));
                };
                n
            }
            None => match c.runs.last() {
                Some(&n) => n,
                None => {
                    if self.warnings.len() < super::MAX_WARNINGS {
                        self.warnings.push(Warning::new(
                            "no_run",
                            format!(
                            "campaign {} has not run yet: {text} holds no row until its first run",
                            snippet(&name.name)
                        ),
                            span,
                            source,
                            None,
                        ));
                    }
                    let label = format!("{text} (no run yet)");
                    return Ok(Expr::RowSet(RowSet::new(&label, scope.table, Vec::new())));
                }
            },
        };
        if let CampaignGroup::Effect(effect) = p.group {
            // The table's effects field holds the run's users per effect;
            // before any effect was reported the table has none.
            let has_field = scope
                .catalog
                .schema(scope.table)
                .is_some_and(|s| s.field(EFFECTS_FIELD).is_some());
            return Ok(if has_field {
                Expr::Value {
                    field: EFFECTS_FIELD.to_owned(),
                    value: effect_value(c.id, run, effect),
                }
            } else {
                Expr::Nothing
            });
        }
        let rows = scope
            .catalog
            .campaign_rows(&name.name, run, p.group, variant)
            .map_err(|e| QueryError::new(ErrorKind::Catalog(e), span, source))?;
        let label = format!("{text} run {run}");
        Ok(Expr::RowSet(RowSet::new(&label, scope.table, rows)))
    }
}

/// "1 to 12" for runs numbered without a gap, else "1, 3, 4".
fn runs_listing(runs: &[u32]) -> String {
    match (runs.first(), runs.last()) {
        (Some(&a), Some(&b)) if a != b && (b - a) as usize + 1 == runs.len() => {
            format!("{a} to {b}")
        }
        _ => {
            let all: Vec<String> = runs.iter().map(u32::to_string).collect();
            all.join(", ")
        }
    }
}
