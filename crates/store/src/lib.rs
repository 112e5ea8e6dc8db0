//! Database access for SQLite (embedded default) and MySQL/MariaDB (production) through one
//! code path: the same SQL with `?` placeholders (both backends use them) and one set of
//! portable migrations with a couple of dialect tokens. Statements outside transactions go
//! through sqlx's `Any` driver; write transactions through [`Tx`] (on SQLite `rusqlite`, in
//! place) and hot reads through [`Reads`].
//!
//! Portability rules the queries follow (the `Any` driver decodes only these types on both):
//! integers are `BIGINT` (money in won, times in unix milliseconds UTC, flags 0/1), strings are
//! `VARCHAR(n)`; aggregates that MySQL widens to DECIMAL are cast back with
//! `CAST(... AS SIGNED)`.

mod db;
mod dialect;
mod error;
mod migrate;
mod migration_lock;
mod mysql;
mod param;
mod pool;
mod reads;
mod row;
mod sqlite;
mod trouble;
mod tx;

pub use db::{now_millis, Db, DbConfig};
pub use dialect::{redact_url, Dialect};
pub use error::{classify, DbErrorKind, StoreError};
pub use param::{placeholders, Param};
pub use pool::Lender;
pub use reads::Reads;
pub use row::ReadRow;
pub use sqlite::writer::CommitCounts;
pub use sqlx;
pub use trouble::Trouble;
pub use tx::Tx;
