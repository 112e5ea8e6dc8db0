//! Hot reads: single-statement, read-only queries on the request path (the catalogue, a
//! payment by id) that skip sqlx's `Any` layer.
//!
//! sqlx's SQLite driver hands every statement and row to a worker thread and converts each
//! row to an `AnyRow`, which is where a catalogue read spent its time (BENCHMARKS.md). Here
//! SQLite is read in place on the calling thread, from a few read-only connections: in WAL
//! mode a reader never waits for the writer, and an indexed read takes less time than the
//! hand-off it replaces. MySQL is read through its typed driver, and reads that arrive
//! while others are in flight are sent together as one statement (see [`MySqlReads`]).
//!
//! Callers keep scans (e.g. `LIKE` searches) on the `Any` pool: only indexed lookups may
//! run on an async worker thread.

use crate::db::Dialect;
use crate::error::{classify, StoreError};
use crate::lease::Lender;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions, MySqlRow};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{MySql, Row};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, Semaphore};

/// One result row, its columns by name: the `AS` alias, or else the column's own name
/// (`p.amount` is `amount`). Select lists alias every column whose name would repeat or
/// that is an expression; the name is matched exactly, on both backends.
pub trait ReadRow {
    fn int(&self, name: &str) -> Result<i64, StoreError>;
    fn text(&self, name: &str) -> Result<String, StoreError>;
    fn opt_int(&self, name: &str) -> Result<Option<i64>, StoreError>;
    fn opt_text(&self, name: &str) -> Result<Option<String>, StoreError>;
}

/// A failure to read column `name` of a row.
fn column_error(name: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Column {
        name: name.to_owned(),
        message: err.to_string(),
    }
}

#[derive(Debug, Clone)]
pub struct Reads {
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(Arc<SqliteReaders>),
    MySql(MySqlReads),
}

impl Reads {
    pub(crate) fn new(
        dialect: Dialect,
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Self, StoreError> {
        let backend = match dialect {
            Dialect::Sqlite => {
                let options = SqliteConnectOptions::from_str(url)?;
                Backend::Sqlite(Arc::new(SqliteReaders {
                    path: options.get_filename().to_path_buf(),
                    idle: Mutex::new(Vec::new()),
                }))
            }
            Dialect::MySql => {
                let options = MySqlConnectOptions::from_str(url)?;
                // Statements in flight at once. Fewer make bigger batches (less CPU per read
                // for both ends), but a batch's parts run one after another on the server,
                // so reads that miss the buffer pool wait for each other's disk reads
                // (BENCHMARKS.md).
                let lanes = (max_connections / 8).max(1);
                let pool = MySqlPoolOptions::new()
                    .max_connections(lanes)
                    .min_connections(0)
                    .acquire_timeout(acquire_timeout)
                    // Session settings of the main pool (time zone, isolation) do not
                    // matter to autocommit SELECTs of integers and strings.
                    .test_before_acquire(false)
                    .before_acquire(|conn, meta| Box::pin(crate::db::ping_if_idle(conn, meta)))
                    .connect_lazy_with(options);
                let lender = Lender::new(pool, Some(crate::db::PING_WHEN_IDLE_FOR));
                Backend::MySql(MySqlReads::start(lender, lanes as usize, acquire_timeout))
            }
        };
        Ok(Self { backend })
    }

    /// Runs one read-only `SELECT` with integer parameters and maps every row.
    ///
    /// On MySQL the statement may run batched with others (a `UNION ALL`), which defines no
    /// order across its parts: a caller that needs the rows in order sorts them.
    pub async fn fetch_all<T, E: From<StoreError>>(
        &self,
        sql: &str,
        params: &[i64],
        map: impl Fn(&dyn ReadRow) -> Result<T, E>,
    ) -> Result<Vec<T>, E> {
        self.fetch(sql, params, Shape::Rows, map).await
    }

    /// Runs a read-only look-up by key: `sql` selects the key as its first column and ends
    /// in `IN (?)`, its one parameter. On MySQL look-ups of the same statement that arrive
    /// together are sent as one `IN` list, which MariaDB parses, plans and answers once
    /// (a `UNION ALL` of them costs it the per-statement work once per part).
    pub async fn fetch_by_key<T, E: From<StoreError>>(
        &self,
        sql: &str,
        key: i64,
        map: impl Fn(&dyn ReadRow) -> Result<T, E>,
    ) -> Result<Vec<T>, E> {
        self.fetch(sql, &[key], Shape::ByKey, map).await
    }

    async fn fetch<T, E: From<StoreError>>(
        &self,
        sql: &str,
        params: &[i64],
        shape: Shape,
        map: impl Fn(&dyn ReadRow) -> Result<T, E>,
    ) -> Result<Vec<T>, E> {
        match &self.backend {
            Backend::Sqlite(readers) => readers.with(|conn| {
                sqlite_rows(
                    conn,
                    sql,
                    rusqlite::params_from_iter(params),
                    usize::MAX,
                    map,
                )
            }),
            Backend::MySql(reads) => {
                let answer = reads.fetch(sql, params, shape).await?;
                answer
                    .rows
                    .iter()
                    .map(|row| {
                        map(&Shifted {
                            row,
                            by: answer.shift,
                        })
                    })
                    .collect()
            }
        }
    }

    pub(crate) async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(readers) => readers.close(),
            Backend::MySql(reads) => reads.connections.close().await,
        }
    }
}

/// MySQL hot reads, coalesced. Each read is a round trip that costs MariaDB about as much
/// CPU as the service spends on the whole request (BENCHMARKS.md), most of it per
/// statement, not per row. So reads go through a queue: at most `lanes` statements are in
/// flight, and each takes everything that queued meanwhile (up to [`MAX_BATCH`]), one
/// statement per distinct SQL text. Under light load a read runs alone at once; under
/// heavy load batches grow by themselves. No read waits for a timer, and none sees older
/// data than it would alone: its statement starts after it was queued. Nor does it wait
/// longer than a connection would make it wait: a read still queued after the pool's
/// acquire timeout (the database is slow or gone) fails as a pool timeout does (503).
#[derive(Debug, Clone)]
struct MySqlReads {
    connections: Lender<MySql>,
    queue: mpsc::UnboundedSender<QueuedRead>,
}

/// Reads sent together at most: bounds the statement's size and the prepared-statement
/// variants (one per SQL text and batch size) each connection caches.
const MAX_BATCH: usize = 16;

/// How reads of one SQL text may be sent together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Shape {
    /// Any `SELECT`: as a tagged `UNION ALL`.
    Rows,
    /// A look-up whose first column is its one parameter, `… IN (?)`: as one `IN` list.
    ByKey,
}

#[derive(Debug)]
struct QueuedRead {
    queued_at: Instant,
    sql: Box<str>,
    shape: Shape,
    params: Box<[i64]>,
    answer: oneshot::Sender<Result<Answer, StoreError>>,
}

/// A read's rows; in a `UNION ALL` each row starts with the batch's tag column, hidden by
/// `shift`.
#[derive(Debug)]
struct Answer {
    rows: Vec<MySqlRow>,
    shift: usize,
}

impl MySqlReads {
    fn start(connections: Lender<MySql>, lanes: usize, acquire_timeout: Duration) -> Self {
        let (queue, queued) = mpsc::unbounded_channel();
        tokio::spawn(Self::dispatch(
            connections.clone(),
            queued,
            lanes,
            acquire_timeout,
        ));
        Self { connections, queue }
    }

    async fn fetch(&self, sql: &str, params: &[i64], shape: Shape) -> Result<Answer, StoreError> {
        let (answer, answered) = oneshot::channel();
        let read = QueuedRead {
            queued_at: Instant::now(),
            sql: sql.into(),
            shape,
            params: params.into(),
            answer,
        };
        let closed = || StoreError::Sqlx(sqlx::Error::PoolClosed);
        self.queue.send(read).map_err(|_| closed())?;
        answered.await.map_err(|_| closed())?
    }

    /// Forms batches while a lane is free; ends when every sender is gone.
    async fn dispatch(
        connections: Lender<MySql>,
        mut queued: mpsc::UnboundedReceiver<QueuedRead>,
        lanes: usize,
        acquire_timeout: Duration,
    ) {
        let lanes = Arc::new(Semaphore::new(lanes));
        loop {
            let Ok(lane) = lanes.clone().acquire_owned().await else {
                return;
            };
            let Some(first) = queued.recv().await else {
                return;
            };
            let mut batch = Vec::with_capacity(MAX_BATCH);
            let mut expired = Vec::new();
            let mut next = Some(first);
            while let Some(read) = next.take() {
                if read.answer.is_closed() {
                    // Its request is gone (the client left, or the request timed out).
                } else if read.queued_at.elapsed() >= acquire_timeout {
                    expired.push(read);
                } else {
                    batch.push(read);
                }
                if batch.len() < MAX_BATCH {
                    next = queued.try_recv().ok();
                }
            }
            answer_all_with(expired, &sqlx::Error::PoolTimedOut);
            if batch.is_empty() {
                continue;
            }
            let connections = connections.clone();
            tokio::spawn(async move {
                Self::run(&connections, batch).await;
                drop(lane);
            });
        }
    }

    /// One statement per distinct SQL text in the batch (more when look-ups repeat a key),
    /// on one connection.
    async fn run(connections: &Lender<MySql>, mut batch: Vec<QueuedRead>) {
        batch.sort_by(|a, b| (a.shape, &a.sql).cmp(&(b.shape, &b.sql)));
        let mut conn = match connections.lease().await {
            Ok(conn) => conn,
            Err(err) => return answer_all_with(batch, &err),
        };
        // Every statement read to its end: the connection may be lent again unchecked.
        let mut clean = true;
        while !batch.is_empty() {
            let same = batch
                .iter()
                .take_while(|r| r.sql == batch[0].sql && r.shape == batch[0].shape)
                .count();
            let group: Vec<QueuedRead> = batch.drain(..same).collect();
            for part in plan(group) {
                clean &= match part {
                    Statement::Alone(read) => {
                        let rows = fetch(&mut conn, &read.sql, read.params.iter().copied()).await;
                        let ok = rows.is_ok();
                        let _ = read.answer.send(
                            rows.map(|rows| Answer { rows, shift: 0 })
                                .map_err(StoreError::from),
                        );
                        ok
                    }
                    Statement::Batched { sql, reads } => {
                        let params = reads.iter().flat_map(|read| read.params.iter().copied());
                        match fetch(&mut conn, &sql, params).await {
                            Ok(rows) => {
                                answer_each(reads, rows);
                                true
                            }
                            Err(err) => {
                                answer_all_with(reads, &err);
                                false
                            }
                        }
                    }
                };
            }
        }
        if clean {
            conn.finished_cleanly();
        }
    }
}

/// What a group of reads of one SQL text and shape is sent as.
#[derive(Debug)]
enum Statement {
    Alone(QueuedRead),
    /// One statement for all `reads`, its parameters theirs in order.
    Batched {
        sql: String,
        reads: Vec<QueuedRead>,
    },
}

/// Look-ups go as `IN` lists of distinct keys (a repeated key waits for the next list, as
/// one key's rows cannot be told apart); other reads as one `UNION ALL`; a read that cannot
/// be batched, alone.
fn plan(group: Vec<QueuedRead>) -> Vec<Statement> {
    let batchable = group.len() > 1
        && match group[0].shape {
            Shape::Rows => group[0].sql.starts_with("SELECT "),
            Shape::ByKey => {
                group[0].sql.ends_with(IN_ONE) && group.iter().all(|r| r.params.len() == 1)
            }
        };
    if !batchable {
        return group.into_iter().map(Statement::Alone).collect();
    }
    let lists = match group[0].shape {
        Shape::Rows => vec![group],
        Shape::ByKey => {
            let mut lists: Vec<Vec<QueuedRead>> = Vec::new();
            for read in group {
                let key = read.params[0];
                match lists
                    .iter_mut()
                    .find(|list| list.iter().all(|other| other.params[0] != key))
                {
                    Some(list) => list.push(read),
                    None => lists.push(vec![read]),
                }
            }
            lists
        }
    };
    lists
        .into_iter()
        .map(|mut reads| {
            if reads.len() == 1 {
                return Statement::Alone(reads.remove(0));
            }
            let sql = match reads[0].shape {
                Shape::Rows => union_all(&reads[0].sql, reads.len()),
                Shape::ByKey => in_list(&reads[0].sql, reads.len()),
            };
            Statement::Batched { sql, reads }
        })
        .collect()
}

const IN_ONE: &str = "IN (?)";

/// One statement with its integer parameters, every row.
async fn fetch(
    conn: &mut sqlx::MySqlConnection,
    sql: &str,
    params: impl Iterator<Item = i64>,
) -> Result<Vec<MySqlRow>, sqlx::Error> {
    let mut query = sqlx::query(sql);
    for param in params {
        query = query.bind(param);
    }
    query.fetch_all(conn).await
}

/// `(SELECT 0 AS batch_tag, …) UNION ALL (SELECT 1, …)`: `count` reads of one `SELECT`.
fn union_all(select: &str, count: usize) -> String {
    let body = select.strip_prefix("SELECT ").unwrap_or(select);
    let mut sql = String::with_capacity((body.len() + 40) * count);
    for tag in 0..count {
        if tag > 0 {
            sql.push_str(" UNION ALL ");
        }
        let _ = write!(sql, "(SELECT {tag} AS batch_tag, {body})");
    }
    sql
}

/// `… IN (?, ?, …)`: `count` look-ups of one `… IN (?)`.
fn in_list(lookup: &str, count: usize) -> String {
    let head = lookup.strip_suffix(IN_ONE).unwrap_or(lookup);
    let mut sql = String::with_capacity(head.len() + 4 + 3 * count);
    sql.push_str(head);
    sql.push_str("IN (?");
    for _ in 1..count {
        sql.push_str(", ?");
    }
    sql.push(')');
    sql
}

/// Hands each read its rows: by the tag column of a `UNION ALL`, by the key (the first
/// column) of an `IN` list.
fn answer_each(reads: Vec<QueuedRead>, rows: Vec<MySqlRow>) {
    let shape = reads[0].shape;
    let mut per_read: Vec<Vec<MySqlRow>> = reads.iter().map(|_| Vec::new()).collect();
    for row in rows {
        let Ok(first) = row.try_get::<i64, _>(0) else {
            continue;
        };
        let index = match shape {
            Shape::Rows => usize::try_from(first).ok(),
            Shape::ByKey => reads.iter().position(|read| read.params[0] == first),
        };
        if let Some(rows) = index.and_then(|index| per_read.get_mut(index)) {
            rows.push(row);
        }
    }
    let shift = match shape {
        Shape::Rows => 1,
        Shape::ByKey => 0,
    };
    for (read, rows) in reads.into_iter().zip(per_read) {
        let _ = read.answer.send(Ok(Answer { rows, shift }));
    }
}

/// sqlx's errors cannot be cloned; each read gets the failure's kind and text.
fn answer_all_with(reads: Vec<QueuedRead>, err: &sqlx::Error) {
    for read in reads {
        let _ = read.answer.send(Err(StoreError::Batched {
            kind: classify(err),
            message: err.to_string(),
        }));
    }
}

/// A MySQL row whose first `by` columns are not the caller's: a batch's tag column, read
/// by no name even if a caller's column has the same one.
struct Shifted<'a> {
    row: &'a MySqlRow,
    by: usize,
}

impl Shifted<'_> {
    fn index(&self, name: &str) -> Result<usize, StoreError> {
        match sqlx::ColumnIndex::index(&name, self.row) {
            Ok(index) if index >= self.by => Ok(index),
            // The name is the tag's: the caller's column of that name, if any, comes after.
            Ok(_) => self.row.columns()[self.by..]
                .iter()
                .position(|column| sqlx::Column::name(column) == name)
                .map(|index| index + self.by)
                .ok_or_else(|| column_error(name, "no such column")),
            Err(err) => Err(column_error(name, err)),
        }
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

/// Read-only SQLite connections, each used by one thread at a time and returned after the
/// statement. At most one per thread that reads at once is ever open.
#[derive(Debug)]
struct SqliteReaders {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

/// Idle connections kept beyond this are closed: enough for the runtime's worker threads.
const MAX_IDLE_READERS: usize = 8;

impl SqliteReaders {
    fn with<T, E: From<StoreError>>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        let result = read(&conn);
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE_READERS {
                idle.push(conn);
            }
        }
        result
    }

    fn open(&self) -> Result<rusqlite::Connection, StoreError> {
        // query_only: these connections can never write, whatever SQL reaches them.
        open_sqlite(
            &self.path,
            "PRAGMA query_only = ON; PRAGMA busy_timeout = 5000;",
        )
    }

    fn close(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}

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
    while mapped.len() < max_rows {
        match rows.next().map_err(StoreError::from)? {
            Some(row) => mapped.push(map(&SqliteRow { row, names: &names })?),
            None => break,
        }
    }
    Ok(mapped)
}

/// A SQLite row with its statement's column names.
struct SqliteRow<'a, 'stmt> {
    row: &'a rusqlite::Row<'stmt>,
    names: &'a [String],
}

impl SqliteRow<'_, '_> {
    fn get<T: rusqlite::types::FromSql>(&self, name: &str) -> Result<T, StoreError> {
        let index = self
            .names
            .iter()
            .position(|column| column == name)
            .ok_or_else(|| column_error(name, "no such column"))?;
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

impl ReadRow for MySqlRow {
    fn int(&self, name: &str) -> Result<i64, StoreError> {
        Shifted { row: self, by: 0 }.int(name)
    }

    fn text(&self, name: &str) -> Result<String, StoreError> {
        Shifted { row: self, by: 0 }.text(name)
    }

    fn opt_int(&self, name: &str) -> Result<Option<i64>, StoreError> {
        Shifted { row: self, by: 0 }.opt_int(name)
    }

    fn opt_text(&self, name: &str) -> Result<Option<String>, StoreError> {
        Shifted { row: self, by: 0 }.opt_text(name)
    }
}

/// For the statements that stay on the `Any` pool (a catalogue search) and map rows alike.
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

    fn queued(sql: &str, shape: Shape, params: &[i64]) -> QueuedRead {
        QueuedRead {
            queued_at: Instant::now(),
            sql: sql.into(),
            shape,
            params: params.into(),
            answer: oneshot::channel().0,
        }
    }

    fn sql_of(plan: &[Statement]) -> Vec<String> {
        plan.iter()
            .map(|part| match part {
                Statement::Alone(read) => format!("alone {}", read.sql),
                Statement::Batched { sql, reads } => format!("{} {sql}", reads.len()),
            })
            .collect()
    }

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

    #[test]
    fn reads_of_one_sql_text_become_one_tagged_union() {
        let sql = "SELECT id, name FROM products WHERE id < ? ORDER BY id DESC LIMIT ?";
        let group = vec![
            queued(sql, Shape::Rows, &[10, 3]),
            queued(sql, Shape::Rows, &[99, 3]),
        ];
        assert_eq!(
            sql_of(&plan(group)),
            ["2 (SELECT 0 AS batch_tag, id, name FROM products WHERE id < ? ORDER BY id DESC LIMIT ?) \
              UNION ALL (SELECT 1 AS batch_tag, id, name FROM products WHERE id < ? ORDER BY id DESC LIMIT ?)"]
        );
        // One read runs as it is; so does anything that is not a plain SELECT.
        assert_eq!(
            sql_of(&plan(vec![queued(sql, Shape::Rows, &[1, 3])])),
            [format!("alone {sql}")]
        );
        let with = "WITH x AS (SELECT 1) SELECT * FROM x";
        let other = vec![
            queued(with, Shape::Rows, &[]),
            queued(with, Shape::Rows, &[]),
        ];
        assert_eq!(
            sql_of(&plan(other)),
            [format!("alone {with}"), format!("alone {with}")]
        );
    }

    #[test]
    fn look_ups_become_in_lists_of_distinct_keys() {
        let sql = "SELECT id, name FROM products WHERE id IN (?)";
        let group = [7, 8, 7, 9, 7].map(|key| queued(sql, Shape::ByKey, &[key]));
        assert_eq!(
            sql_of(&plan(group.into())),
            [
                "3 SELECT id, name FROM products WHERE id IN (?, ?, ?)".to_string(),
                "alone SELECT id, name FROM products WHERE id IN (?)".into(),
                "alone SELECT id, name FROM products WHERE id IN (?)".into(),
            ]
        );
        // Not ending in the one-key list: each alone.
        let eq = "SELECT id FROM products WHERE id = ?";
        let group = vec![
            queued(eq, Shape::ByKey, &[1]),
            queued(eq, Shape::ByKey, &[2]),
        ];
        assert_eq!(
            sql_of(&plan(group)),
            [format!("alone {eq}"), format!("alone {eq}")]
        );
    }
}
