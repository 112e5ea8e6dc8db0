//! Result rows read by column name, whichever path (and backend) produced them.

use crate::error::StoreError;
use sqlx::Row as _;
use std::cell::Cell;

/// One result row, its columns by name: the `AS` alias, or else the column's own name
/// (`p.amount` is `amount`). Select lists alias every column whose name would repeat or
/// that is an expression; the name is matched exactly, on both backends.
pub trait ReadRow {
    fn int(&self, name: &str) -> Result<i64, StoreError>;
    fn text(&self, name: &str) -> Result<String, StoreError>;
    fn opt_int(&self, name: &str) -> Result<Option<i64>, StoreError>;
    fn opt_text(&self, name: &str) -> Result<Option<String>, StoreError>;
}

/// Where the column with `name` is among `names`, looked for first from `hint` on, which is
/// then left after it: callers read a row's columns in the select list's order, so a name is
/// found at its first comparison, with no hashing.
pub(crate) fn column_position<'n>(
    names: impl ExactSizeIterator<Item = &'n str> + Clone,
    name: &str,
    hint: &Cell<usize>,
) -> Result<usize, StoreError> {
    let start = hint.get().min(names.len());
    let found = names
        .clone()
        .skip(start)
        .position(|column| column == name)
        .map(|index| index + start)
        .or_else(|| names.take(start).position(|column| column == name));
    let index = found.ok_or_else(|| column_error(name, "no such column"))?;
    hint.set(index + 1);
    Ok(index)
}

/// A failure to read column `name` of a row.
pub(crate) fn column_error(name: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Column {
        name: name.to_owned(),
        message: err.to_string(),
    }
}

/// For the statements on the `Any` pool (a catalogue search, MySQL transactions) and map
/// rows alike.
impl ReadRow for sqlx::any::AnyRow {
    fn int(&self, name: &str) -> Result<i64, StoreError> {
        self.try_get(name).map_err(|err| column_error(name, err))
    }

    fn text(&self, name: &str) -> Result<String, StoreError> {
        self.try_get(name).map_err(|err| column_error(name, err))
    }

    fn opt_int(&self, name: &str) -> Result<Option<i64>, StoreError> {
        self.try_get(name).map_err(|err| column_error(name, err))
    }

    fn opt_text(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.try_get(name).map_err(|err| column_error(name, err))
    }
}
