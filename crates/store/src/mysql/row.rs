//! Rows of MySQL's typed driver, read by column name.

use crate::error::StoreError;
use crate::row::{column_error, column_position, ReadRow};
use sqlx::mysql::MySqlRow;
use sqlx::{Column as _, MySql, Row as _};
use std::cell::Cell;

/// A MySQL row whose first `by` columns are not the caller's: a batch's tag column, read
/// by no name even if a caller's column has the same one.
pub(crate) struct Shifted<'a> {
    pub(crate) row: &'a MySqlRow,
    pub(crate) by: usize,
    /// Where the next name is looked for first ([`column_position`]).
    pub(crate) next_column: &'a Cell<usize>,
}

impl Shifted<'_> {
    fn index(&self, name: &str) -> Result<usize, StoreError> {
        let columns = &self.row.columns()[self.by..];
        Ok(column_position(columns, |c| c.name(), name, self.next_column)? + self.by)
    }

    fn get<'r, T>(&'r self, name: &str) -> Result<T, StoreError>
    where
        T: sqlx::Decode<'r, MySql> + sqlx::Type<MySql>,
    {
        self.row
            .try_get(self.index(name)?)
            .map_err(|err| column_error(name, err))
    }
}

impl ReadRow for Shifted<'_> {
    fn int(&self, name: &str) -> Result<i64, StoreError> {
        self.get(name)
    }

    /// As bytes: the typed driver refuses `String` for columns with a binary collation
    /// (ours compare case-sensitively), which the `Any` driver decoded as text.
    fn text(&self, name: &str) -> Result<String, StoreError> {
        self.opt_text(name)?
            .ok_or_else(|| column_error(name, "is NULL"))
    }

    fn opt_int(&self, name: &str) -> Result<Option<i64>, StoreError> {
        self.get(name)
    }

    fn opt_text(&self, name: &str) -> Result<Option<String>, StoreError> {
        let bytes: Option<&[u8]> = self.get(name)?;
        bytes
            .map(|bytes| {
                std::str::from_utf8(bytes)
                    .map(str::to_owned)
                    .map_err(|err| column_error(name, format!("not UTF-8: {err}")))
            })
            .transpose()
    }
}
