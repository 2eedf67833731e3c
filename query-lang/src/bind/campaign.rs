//! Binding `CREATE CAMPAIGN` and `DROP CAMPAIGN`: what the language can
//! check itself (the table, the audience's WHERE clause or segment), each
//! error at its place in the statement. The campaign's own rules
//! (templates, weights, times, the channel's settings) are the campaigns
//! crate's, which turns the bound statement into its definition.

use std::sync::Arc;

use super::*;

/// A bound `CREATE CAMPAIGN`: the statement as written (the campaigns
/// crate reads it) and its audience bound.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundCampaign {
    /// The statement's tree.
    pub stmt: ast::CreateCampaign,
    /// The text the statement was parsed from (its spans index into it).
    pub source: Arc<str>,
    /// The audience over the campaign's table, bound on the day of the
    /// statement (a run binds it afresh).
    pub audience: Expr,
}

pub(super) fn bind_create_campaign(
    create: &ast::CreateCampaign,
    source: &Arc<str>,
    catalog: &dyn Catalog,
    today: Day,
) -> Result<Statement, QueryError> {
    let src: &str = source;
    let schema = table_schema(&create.table, src, catalog)?;
    let audience = match &create.audience {
        ast::CampaignAudience::Where(expr) => {
            let scope = TableScope {
                catalog,
                table: &create.table.name,
                schema,
                source: src,
            };
            FilterBinder::new(&scope, today).bind(expr)?
        }
        ast::CampaignAudience::Segment(name) => {
            let seg = segment_ref(name, src, catalog)?;
            if seg.table != create.table.name {
                return Err(QueryError::new(
                    ErrorKind::Type(format!(
                        "segment `{}` is of table `{}`, not of the campaign's table `{}`",
                        name.name, seg.table, create.table.name
                    )),
                    name.span,
                    src,
                ));
            }
            let scope = TableScope {
                catalog,
                table: &create.table.name,
                schema,
                source: src,
            };
            let in_segment =
                ast::Expr::predicate(ast::Predicate::InSegment(name.clone()), name.span);
            FilterBinder::new(&scope, today).bind(&in_segment)?
        }
    };
    // A trigger's condition binds against the table as the audience does
    // (its errors placed here); the campaign binds it again at each write.
    if let ast::ScheduleClause::OnEvent(t) = &create.schedule {
        if let Some(cond) = &t.condition {
            let scope = TableScope {
                catalog,
                table: &create.table.name,
                schema: table_schema(&create.table, src, catalog)?,
                source: src,
            };
            FilterBinder::new(&scope, today).bind(cond)?;
        }
    }
    Ok(Statement::CreateCampaign(Box::new(BoundCampaign {
        stmt: create.clone(),
        source: Arc::clone(source),
        audience,
    })))
}
