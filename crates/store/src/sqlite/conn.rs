//! `rusqlite` connections to the database file and their rows, shared by the hot readers
//! and the one writer.

use crate::error::StoreError;
use crate::row::{column_error, column_position, ReadRow};
use std::cell::Cell;
use std::path::Path;

/// A `rusqlite` connection to the database file with `pragmas` applied, for a thread to use
/// in place (the hot readers, SQLite's one writer). No CREATE: the file exists once
/// migrations ran; a missing file is an error.
pub(crate) fn open_sqlite(path: &Path, pragmas: &str) -> Result<rusqlite::Connection, StoreError> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.execute_batch(pragmas)?;
    Ok(conn)
}

/// Runs `sql` on `conn` in place and maps up to `max_rows` of its rows.
pub(crate) fn sqlite_rows<T, E: From<StoreError>>(
    conn: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
    max_rows: usize,
    map: impl Fn(&dyn ReadRow) -> Result<T, E>,
) -> Result<Vec<T>, E> {
    let mut statement = conn.prepare_cached(sql).map_err(StoreError::from)?;
    // Once per statement: rusqlite finds a name by asking SQLite for every column's.
    let names: Vec<String> = statement
        .column_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut rows = statement.query(params).map_err(StoreError::from)?;
    let mut mapped = Vec::new();
    let next_column = Cell::new(0);
    while mapped.len() < max_rows {
        match rows.next().map_err(StoreError::from)? {
            Some(row) => mapped.push(map(&SqliteRow {
                row,
                names: &names,
                next_column: &next_column,
            })?),
            None => break,
        }
    }
    Ok(mapped)
}

/// A SQLite row with its statement's column names.
struct SqliteRow<'a, 'stmt> {
    row: &'a rusqlite::Row<'stmt>,
    names: &'a [String],
    /// Where the next name is looked for first ([`column_position`]).
    next_column: &'a Cell<usize>,
}

impl SqliteRow<'_, '_> {
    fn get<T: rusqlite::types::FromSql>(&self, name: &str) -> Result<T, StoreError> {
        let index = column_position(self.names, String::as_str, name, self.next_column)?;
        self.row.get(index).map_err(|err| column_error(name, err))
    }
}

impl ReadRow for SqliteRow<'_, '_> {
    fn int(&self, name: &str) -> Result<i64, StoreError> {
        self.get(name)
    }

    fn text(&self, name: &str) -> Result<String, StoreError> {
        self.get(name)
    }

    fn opt_int(&self, name: &str) -> Result<Option<i64>, StoreError> {
        self.get(name)
    }

    fn opt_text(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Mapper = fn(&dyn ReadRow) -> Result<String, StoreError>;

    #[test]
    fn sqlite_rows_read_columns_by_their_exact_names() -> Result<(), StoreError> {
        let conn = rusqlite::Connection::open_in_memory()?;
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER, name TEXT, note TEXT); \
             INSERT INTO t VALUES (7, 'seven', NULL);",
        )?;
        let sql = "SELECT t.name, t.id, t.note, t.id + 1 AS next_id FROM t";
        let read = |map: Mapper| sqlite_rows(&conn, sql, [], usize::MAX, map);
        let row = read(|row| {
            Ok(format!(
                "{} {} {:?} {}",
                row.int("id")?,
                row.text("name")?,
                row.opt_text("note")?,
                row.opt_int("next_id")?.unwrap_or(0),
            ))
        })?;
        assert_eq!(row, ["7 seven None 8"]);
        let error = |map: Mapper| read(map).err().map(|err| err.to_string());
        let missing = error(|row| row.text("ID"));
        assert_eq!(
            missing.as_deref(),
            Some("cannot read column `ID`: no such column")
        );
        let null = error(|row| row.text("note")).unwrap_or_default();
        assert!(null.starts_with("cannot read column `note`: "), "{null}");
        let mistyped = error(|row| row.int("name").map(|n| n.to_string())).unwrap_or_default();
        assert!(
            mistyped.starts_with("cannot read column `name`: "),
            "{mistyped}"
        );
        Ok(())
    }
}
