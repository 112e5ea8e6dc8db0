//! SQLite only: statements run in place through `rusqlite`, on the calling thread, beside
//! the `Any` pool that serves the statements outside transactions.

pub(crate) mod checkpoint;
pub(crate) mod conn;
pub(crate) mod readers;
pub(crate) mod writer;
