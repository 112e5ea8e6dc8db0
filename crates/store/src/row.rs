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

/// Where the column with `name` is among `columns`, looked at first where `hint` points,
/// which is then left after it: callers read a row's columns in the select list's order, so
/// a name is found at its first comparison, with no hashing.
pub(crate) fn column_position<C>(
    columns: &[C],
    name_of: impl Fn(&C) -> &str,
    name: &str,
    hint: &Cell<usize>,
) -> Result<usize, StoreError> {
    let index = match columns.get(hint.get()) {
        Some(column) if name_of(column) == name => hint.get(),
        _ => columns
            .iter()
            .position(|column| name_of(column) == name)
            .ok_or_else(|| column_error(name, "no such column"))?,
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_found_by_name_whatever_the_hint() {
        let columns = ["id", "name", "price"];
        // (hint before, name, position found, hint after)
        let cases = [
            (0, "id", Some(0), 1),
            (1, "name", Some(1), 2),
            (2, "id", Some(0), 1),
            (3, "price", Some(2), 3),
            (9, "name", Some(1), 2),
            (1, "stock", None, 1),
            (0, "ID", None, 0),
        ];
        for (before, name, found, after) in cases {
            let hint = Cell::new(before);
            let position = column_position(&columns, |c| *c, name, &hint).ok();
            assert_eq!(
                (position, hint.get()),
                (found, after),
                "{name} from {before}"
            );
        }
    }
}
