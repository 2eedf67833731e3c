//! EVENT windows of a filter: the field of `count(…)` and `did(…)`, and
//! `last N days` or `'a'..'b'` resolved against AS OF or today (with the
//! `empty_window` warning).

use super::*;

impl FilterBinder<'_, '_> {
    /// The EVENT field of `count(…)` or `did(…)`.
    pub(super) fn event_field(&self, ident: &Ident, what: &str) -> Result<String, QueryError> {
        if ident.name == ID_COLUMN {
            return Err(self.scope.id_column_error(ident, what));
        }
        let def = self.field(ident)?;
        if def.kind != FieldKind::Event {
            return Err(self.type_error(
                format!(
                    "{what} applies to EVENT fields; {} is {}",
                    snippet(&def.name),
                    def.kind.as_str()
                ),
                ident.span,
            ));
        }
        Ok(def.name.clone())
    }

    /// The window of an EVENT field, with a warning when it holds no day on
    /// which the field has any event (a window after the last day of the
    /// data, or before the first): it counts zero for every row.
    pub(super) fn bind_event_window(
        &mut self,
        field: &str,
        window: &Window,
    ) -> Result<DayRange, QueryError> {
        let days = self.bind_window(window)?;
        let scope = self.scope;
        let Some(bounds) = scope.catalog.event_day_bounds(scope.table, field) else {
            return Ok(days);
        };
        if self.warnings.len() >= MAX_WARNINGS {
            return Ok(days);
        }
        let range = format!(
            "{}..{}",
            format_iso_day(days.first),
            format_iso_day(days.last)
        );
        let (message, hint) = match bounds {
            None => (
                format!(
                    "EVENT field {} has no events at all; this window counts 0 for every row",
                    snippet(field)
                ),
                None,
            ),
            Some((first, last)) if days.first > last || days.last < first => (
                format!(
                    "the window {range} holds no day with {} events (they run from {} to {}); it counts 0 for every row",
                    snippet(field),
                    format_iso_day(first),
                    format_iso_day(last)
                ),
                Some(if days.first > last {
                    format!("ask as of the data's last day: … AS OF '{}'", format_iso_day(last))
                } else {
                    "widen the window or move it later".to_owned()
                }),
            ),
            Some(_) => return Ok(days),
        };
        self.warnings.push(Warning::new(
            "empty_window",
            message,
            window.span(),
            scope.source,
            hint,
        ));
        Ok(days)
    }

    pub(super) fn bind_window(&self, window: &Window) -> Result<DayRange, QueryError> {
        match window {
            Window::Last { days, .. } => {
                if days.value < 1 {
                    return Err(self
                        .type_error(
                            format!("a window needs 1 day or more, found {}", days.value),
                            days.span,
                        )
                        .with_hint("`last 1 day` is the AS OF day alone"));
                }
                let first = i64::from(self.as_of)
                    .checked_sub(days.value - 1)
                    .and_then(|first| Day::try_from(first).ok());
                let first = first.ok_or_else(|| {
                    self.type_error(
                        format!("a window of {} days is too long", days.value),
                        days.span,
                    )
                })?;
                Ok(DayRange {
                    first,
                    last: self.as_of,
                })
            }
            Window::Range { first, last } => {
                let source = self.scope.source;
                let (a, b) = (bind_day(first, source)?, bind_day(last, source)?);
                if a > b {
                    return Err(self
                        .type_error(
                            format!("inverted range: {first}..{last} holds no day"),
                            window.span(),
                        )
                        .with_hint(format!("write the first day first: {last}..{first}")));
                }
                Ok(DayRange { first: a, last: b })
            }
        }
    }
}
