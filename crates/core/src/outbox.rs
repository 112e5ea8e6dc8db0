//! The transactional outbox: events are written with the change that caused them
//! (`records::event`) and handed out here to a relay, at least once. Rows are claimed with
//! a lease so several instances share the work; a crashed relay's claims lapse and are
//! taken over.

use crate::error::AppResult;
use escrow_store::{now_millis, params, Db};
use sqlx::Row;

/// One event ready to publish.
#[derive(Debug, Clone)]
pub struct OutboxEvent {
    pub id: i64,
    /// Stable across re-deliveries, for consumers (and JetStream) to drop duplicates.
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
}

/// Claims up to `limit` unpublished events for `holder` for `lease_ms`.
pub async fn claim(
    db: &Db,
    holder: &str,
    limit: i64,
    lease_ms: i64,
) -> AppResult<Vec<OutboxEvent>> {
    let now = now_millis();
    let candidates = sqlx::query(
        "SELECT id, event_id, event_type, payload FROM outbox_events \
         WHERE published_at IS NULL AND (claim_until IS NULL OR claim_until < ?) ORDER BY id LIMIT ?",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    let mut claimed = Vec::with_capacity(candidates.len());
    for row in candidates {
        let id: i64 = row.try_get("id")?;
        let won = db
            .write(
                "UPDATE outbox_events SET claimed_by = ?, claim_until = ? \
             WHERE id = ? AND published_at IS NULL AND (claim_until IS NULL OR claim_until < ?)",
                params![holder, now + lease_ms, id, now],
            )
            .await?;
        if won == 1 {
            claimed.push(OutboxEvent {
                id,
                event_id: row.try_get("event_id")?,
                event_type: row.try_get("event_type")?,
                payload: row.try_get("payload")?,
            });
        }
    }
    Ok(claimed)
}

pub async fn mark_published(db: &Db, id: i64) -> AppResult<()> {
    db.write(
        "UPDATE outbox_events SET published_at = ? WHERE id = ?",
        params![now_millis(), id],
    )
    .await?;
    Ok(())
}

/// How many events wait to be published (for metrics and tests).
pub async fn backlog(db: &Db) -> AppResult<i64> {
    let count = sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM outbox_events WHERE published_at IS NULL",
    )
    .fetch_one(db.pool())
    .await?;
    Ok(count)
}
