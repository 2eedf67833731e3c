//! How many rows of a table have a value in a field: the catalog's
//! coverage (README, "The field catalog").

use crate::error::{EngineError, Result};
use crate::expr::{DayRange, Expr};
use crate::schema::FieldKind;
use crate::table::Table;

impl Table {
    /// The rows with a value in user or system field `field`: for ENUM,
    /// SET, BOOL and INT the rows whose field is not null (its not-null
    /// bitmaps, `field IS NOT NULL`); for EVENT the rows with an event on
    /// any day (the union of its per-day active bitmaps, `did(field)` over
    /// every day); for TEXT, which has no index, the rows whose text is
    /// set, counted by reading each shard's text column.
    pub fn rows_with_value(&self, field: &str) -> Result<u64> {
        let i = self
            .schema()
            .field_index(field)
            .ok_or_else(|| EngineError::UnknownField {
                table: self.name().to_owned(),
                field: field.to_owned(),
            })?;
        match self.schema().fields[i].kind {
            FieldKind::Enum | FieldKind::Set | FieldKind::Bool | FieldKind::Int => {
                self.count(&Expr::NotNull {
                    field: field.to_owned(),
                })
            }
            FieldKind::Event => self.count(&Expr::did(
                field,
                DayRange {
                    first: i32::MIN,
                    last: i32::MAX,
                },
            )),
            FieldKind::Text => {
                let f = i as u32;
                let mut n = 0u64;
                for s in 0..self.num_shards() {
                    let Some(part) = self.part(s) else { continue };
                    for r in 0..part.text_rows(f)? {
                        if part.text(f, r)?.is_some() {
                            n += 1;
                        }
                    }
                }
                Ok(n)
            }
        }
    }
}
