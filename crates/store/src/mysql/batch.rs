//! MySQL hot reads, coalesced: reads that arrive while others are in flight are sent
//! together as one statement.

use crate::error::{classify, StoreError};
use crate::mysql::ping::{ping_if_idle, PING_WHEN_IDLE_FOR};
use crate::mysql::row::Shifted;
use crate::param::{bind_all, Param};
use crate::pool::Lender;
use crate::row::ReadRow;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions, MySqlRow};
use sqlx::{MySql, Row as _};
use std::cell::Cell;
use std::fmt::Write as _;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, Semaphore};

/// MySQL hot reads, through the typed driver. Each read is a round trip that costs MariaDB
/// about as much CPU as the service spends on the whole request (BENCHMARKS.md), most of it
/// per statement, not per row. So reads go through a queue: at most `lanes` statements are
/// in flight, and each takes everything that queued meanwhile (up to [`MAX_BATCH`]), one
/// statement per distinct SQL text. Under light load a read runs alone at once; under
/// heavy load batches grow by themselves. No read waits for a timer, and none sees older
/// data than it would alone: its statement starts after it was queued. Nor does it wait
/// longer than a connection would make it wait: a read still queued after the pool's
/// acquire timeout (the database is slow or gone) fails as a pool timeout does (503).
#[derive(Debug, Clone)]
pub(crate) struct MySqlReads {
    connections: Lender<MySql>,
    queue: mpsc::UnboundedSender<QueuedRead>,
}

/// Reads sent together at most: bounds the statement's size and the prepared-statement
/// variants (one per SQL text and batch size) each connection caches.
const MAX_BATCH: usize = 16;

/// How reads of one SQL text may be sent together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Shape {
    /// Any `SELECT`: as a tagged `UNION ALL`.
    Rows,
    /// A look-up whose first column is its one integer parameter, `… IN (?)`: as one `IN`
    /// list. Any other look-up runs alone.
    ByKey,
}

#[derive(Debug)]
struct QueuedRead {
    queued_at: Instant,
    sql: Box<str>,
    shape: Shape,
    params: Box<[Param]>,
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
    /// A pool of its own, opened lazily, and the task that forms the batches.
    pub(crate) fn connect(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Self, StoreError> {
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
            .before_acquire(|conn, meta| Box::pin(ping_if_idle(conn, meta)))
            .connect_lazy_with(options);
        let lender = Lender::new(pool, Some(PING_WHEN_IDLE_FOR));
        Ok(Self::start(lender, lanes as usize, acquire_timeout))
    }

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

    /// Queues one read-only statement and maps every row of its answer.
    pub(crate) async fn fetch_all<T, E: From<StoreError>>(
        &self,
        sql: &str,
        params: &[Param],
        shape: Shape,
        map: impl Fn(&dyn ReadRow) -> Result<T, E>,
    ) -> Result<Vec<T>, E> {
        let answer = self.fetch(sql, params, shape).await?;
        let next_column = Cell::new(0);
        answer
            .rows
            .iter()
            .map(|row| {
                map(&Shifted {
                    row,
                    by: answer.shift,
                    next_column: &next_column,
                })
            })
            .collect()
    }

    async fn fetch(&self, sql: &str, params: &[Param], shape: Shape) -> Result<Answer, StoreError> {
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

    pub(crate) async fn close(&self) {
        self.connections.close().await;
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
                        let rows = fetch(&mut conn, &read.sql, read.params.iter()).await;
                        let ok = rows.is_ok();
                        let _ = read.answer.send(
                            rows.map(|rows| Answer { rows, shift: 0 })
                                .map_err(StoreError::from),
                        );
                        ok
                    }
                    Statement::Batched { sql, reads } => {
                        let params = reads.iter().flat_map(|read| read.params.iter());
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
                group[0].sql.ends_with(IN_ONE)
                    && group
                        .iter()
                        .all(|r| matches!(r.params[..], [Param::Int(_)]))
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
                match lists
                    .iter_mut()
                    .find(|list| list.iter().all(|other| other.params[0] != read.params[0]))
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

/// One statement with its parameters, every row.
async fn fetch<'q>(
    conn: &mut sqlx::MySqlConnection,
    sql: &'q str,
    params: impl Iterator<Item = &'q Param>,
) -> Result<Vec<MySqlRow>, sqlx::Error> {
    bind_all(sqlx::query(sql), params).fetch_all(conn).await
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
            Shape::ByKey => reads
                .iter()
                .position(|read| read.params[0] == Param::Int(first)),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(sql: &str, shape: Shape, params: &[Param]) -> QueuedRead {
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

    #[test]
    fn reads_of_one_sql_text_become_one_tagged_union() {
        let sql = "SELECT id, name FROM products WHERE id < ? ORDER BY id DESC LIMIT ?";
        let group = vec![
            queued(sql, Shape::Rows, crate::params![10_i64, 3_i64]),
            queued(sql, Shape::Rows, crate::params![99_i64, 3_i64]),
        ];
        assert_eq!(
            sql_of(&plan(group)),
            ["2 (SELECT 0 AS batch_tag, id, name FROM products WHERE id < ? ORDER BY id DESC LIMIT ?) \
              UNION ALL (SELECT 1 AS batch_tag, id, name FROM products WHERE id < ? ORDER BY id DESC LIMIT ?)"]
        );
        // One read runs as it is; so does anything that is not a plain SELECT.
        assert_eq!(
            sql_of(&plan(vec![queued(
                sql,
                Shape::Rows,
                crate::params![1_i64, 3_i64]
            )])),
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
        let group = [7_i64, 8, 7, 9, 7].map(|key| queued(sql, Shape::ByKey, crate::params![key]));
        assert_eq!(
            sql_of(&plan(group.into())),
            [
                "3 SELECT id, name FROM products WHERE id IN (?, ?, ?)".to_string(),
                "alone SELECT id, name FROM products WHERE id IN (?)".into(),
                "alone SELECT id, name FROM products WHERE id IN (?)".into(),
            ]
        );
        // Not ending in the one-key list, or keyed by text: each alone.
        let eq = "SELECT id FROM products WHERE id = ?";
        let group = vec![
            queued(eq, Shape::ByKey, crate::params![1_i64]),
            queued(eq, Shape::ByKey, crate::params![2_i64]),
        ];
        assert_eq!(
            sql_of(&plan(group)),
            [format!("alone {eq}"), format!("alone {eq}")]
        );
        let by_text = "SELECT merchant_uid FROM payments WHERE merchant_uid IN (?)";
        let group = ["a", "b"].map(|key| queued(by_text, Shape::ByKey, crate::params![key]));
        assert_eq!(
            sql_of(&plan(group.into())),
            [format!("alone {by_text}"), format!("alone {by_text}")]
        );
    }
}
