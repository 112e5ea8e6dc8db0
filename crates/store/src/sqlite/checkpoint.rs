//! Copying SQLite's WAL into the database file, as one more turn in the writer's queue.

use crate::error::StoreError;
use crate::sqlite::writer::{off_the_runtime, SqliteWriter, WriterGuard};
use crate::trouble::Trouble;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// How often SQLite's WAL is copied into the database file: the WAL holds about this long's
/// commits, and the writer waits for each copy (a few milliseconds at full load).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

impl SqliteWriter {
    /// Checkpoints the WAL every [`CHECKPOINT_EVERY`], each time as one more turn in the
    /// writer's queue, until the writer is dropped.
    ///
    /// Between two transactions nothing is appended while the pages are copied, so the
    /// copy reaches the WAL's end and the next transaction writes from its start again.
    /// A checkpoint on another connection never catches up while transactions keep coming,
    /// and the WAL then grows without bound (BENCHMARKS.md).
    ///
    /// An idle writer is left alone: once a checkpoint has copied the whole WAL, the next
    /// one waits for a `COMMIT`, and the checkpointer sleeps until one comes, so an idle
    /// instance does not wake for it.
    pub(crate) fn spawn_checkpointer(&self) {
        let writer = Arc::downgrade(&self.state);
        let counts = Arc::clone(&self.counts);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(CHECKPOINT_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // A failing checkpoint (a full disk) fails every time: said once a minute, not
            // ten times a second.
            let mut trouble = Trouble::default();
            // The `COMMIT` count when a checkpoint last left nothing in the WAL to copy.
            let mut copied_all_at = None;
            loop {
                every.tick().await;
                let Some(writer) = writer.upgrade() else {
                    return;
                };
                // Read before the checkpoint: a COMMIT that lands meanwhile only costs one
                // more checkpoint.
                let commits = counts.commits.load(Ordering::Relaxed);
                if copied_all_at == Some(commits) {
                    // Let the writer go (its drop wakes us too), then sleep until a COMMIT;
                    // one that came since the count was read left its wake-up behind.
                    drop(writer);
                    counts.committed.notified().await;
                    continue;
                }
                match checkpoint(writer.lock_owned().await).await {
                    Ok(copied_all) => {
                        trouble.over();
                        copied_all_at = copied_all.then_some(commits);
                    }
                    Err(err) => trouble.failed(&err, "WAL checkpoint failed"),
                }
            }
        });
    }
}

/// `PASSIVE`: copies what no reader still needs, without waiting for readers. Done on the
/// blocking pool: it writes and syncs the database file. True when the whole WAL was copied.
async fn checkpoint(state: WriterGuard) -> Result<bool, StoreError> {
    if state.conn.is_none() {
        // Not opened yet (nothing written through it) or closed.
        return Ok(true);
    }
    off_the_runtime("checkpoint", move || {
        let mut state = state;
        // A group whose COMMIT is queued behind this turn is committed now: a checkpoint
        // cannot run inside a transaction.
        let _ = state.commit_group();
        state.counts.checkpoints.fetch_add(1, Ordering::Relaxed);
        // (busy, frames in the WAL, frames copied).
        let (in_wal, copied): (i64, i64) =
            state
                .conn()?
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                    Ok((row.get(1)?, row.get(2)?))
                })?;
        Ok(in_wal == copied)
    })
    .await
}
