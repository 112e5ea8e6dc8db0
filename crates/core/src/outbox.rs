//! The transactional outbox: events are written with the change that caused them
//! (`records::event`) and handed out here to a relay, at least once. Rows are claimed in
//! batches with a lease so several instances share the work; a crashed relay's claims
//! lapse and are taken over.

use crate::error::{AppError, AppResult};
use escrow_store::{now_millis, params, Db};

/// One event ready to publish.
#[derive(Debug, Clone)]
pub struct OutboxEvent {
    pub id: i64,
    /// Stable across re-deliveries, for consumers (and JetStream) to drop duplicates.
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
}

/// Claims up to `limit` unpublished events, oldest first, for `lease_ms` under `claim` (a
/// name for this one claim, unique to its relay and round), in one write transaction.
///
/// A round of the relay costs two commits (this and [`settle`]) however many events it
/// carries: with a commit per event, the relay's commits outnumbered the requests' own
/// and it fell behind any sustained load.
pub async fn claim(db: &Db, claim: &str, limit: i64, lease_ms: i64) -> AppResult<Vec<OutboxEvent>> {
    let now = now_millis();
    // Read outside the transaction: an idle relay then never takes SQLite's one writer.
    let last: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(id) FROM (SELECT id FROM outbox_events \
         WHERE published_at IS NULL AND (claim_until IS NULL OR claim_until < ?) \
         ORDER BY id LIMIT ?) AS batch",
    )
    .bind(now)
    .bind(limit)
    .fetch_one(db.pool())
    .await?;
    let Some(last) = last else {
        return Ok(Vec::new());
    };
    let mut tx = db.begin().await?;
    // Another relay may have claimed some of them since; the condition, checked again on
    // each row as it is changed, leaves those to it.
    tx.execute(
        "UPDATE outbox_events SET claimed_by = ?, claim_until = ? \
         WHERE published_at IS NULL AND id <= ? AND (claim_until IS NULL OR claim_until < ?)",
        params![claim, now + lease_ms, last, now],
    )
    .await?;
    let events = tx
        .fetch_all(
            "SELECT id, event_id, event_type, payload FROM outbox_events \
             WHERE published_at IS NULL AND id <= ? AND claimed_by = ? ORDER BY id",
            params![last, claim],
            |row| {
                Ok::<_, AppError>(OutboxEvent {
                    id: row.int("id")?,
                    event_id: row.text("event_id")?,
                    event_type: row.text("event_type")?,
                    payload: row.text("payload")?,
                })
            },
        )
        .await?;
    tx.commit().await?;
    Ok(events)
}

/// Ends a round of `claim`: its events up to `published_through` (in id order) are
/// published; the rest of the claim is given back at once, for the next round to retry
/// rather than waiting for the lease to lapse.
pub async fn settle(
    db: &Db,
    claim: &str,
    claimed: &[OutboxEvent],
    published_through: Option<i64>,
) -> AppResult<()> {
    let Some(last) = claimed.last().map(|e| e.id) else {
        return Ok(());
    };
    let mut tx = db.begin().await?;
    if let Some(through) = published_through {
        tx.execute(
            "UPDATE outbox_events SET published_at = ?, claim_until = NULL \
             WHERE published_at IS NULL AND id <= ? AND claimed_by = ?",
            params![now_millis(), through, claim],
        )
        .await?;
    }
    if published_through != Some(last) {
        tx.execute(
            "UPDATE outbox_events SET claimed_by = NULL, claim_until = NULL \
             WHERE published_at IS NULL AND id <= ? AND claimed_by = ?",
            params![last, claim],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Deletes the events published before `published_before` (unix ms); returns how many.
pub async fn sweep(db: &Db, published_before: i64) -> AppResult<u64> {
    Ok(db
        .delete_older_than("outbox_events", "published_at", published_before)
        .await?)
}
