//! `Idempotency-Key` storage: the first request under a key claims it; its response, whatever
//! its status, is saved and replayed for the same request, refused for a different one. A
//! key is never run twice: a failed request may have moved money before it failed (the
//! gateway refunded, recording it did not), so its key answers the failure again, and a
//! claim whose request never finished (its instance died) stays claimed. Keys live 24 h.

use crate::error::{AppError, AppResult};
use escrow_store::{now_millis, params, Db, DbErrorKind};
use sqlx::Row;

/// How long a key is remembered.
pub const KEY_LIFETIME_MS: i64 = 24 * 3600 * 1000;

/// What to do with a request carrying a key.
#[derive(Debug)]
pub enum Claim {
    /// First time: run it, then `finish`.
    Run,
    /// Seen before with the same request: answer this again.
    Replay { status: u16, body: Vec<u8> },
}

pub async fn claim(db: &Db, user_id: i64, key: &str, request_hash: &str) -> AppResult<Claim> {
    let now = now_millis();
    let inserted = db
        .write(
            "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, status_code, \
             response_body, created_at) VALUES (?, ?, ?, 0, NULL, ?)",
            params![user_id, key, request_hash, now],
        )
        .await;
    match inserted {
        Ok(_) => return Ok(Claim::Run),
        Err(err) if err.kind() == DbErrorKind::UniqueViolation => {}
        Err(err) => return Err(err.into()),
    }
    let row = sqlx::query(
        "SELECT request_hash, status_code, response_bytes, response_body FROM idempotency_keys \
         WHERE user_id = ? AND idem_key = ?",
    )
    .bind(user_id)
    .bind(key)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else {
        // Expired and swept between our insert and select: try once more.
        return Box::pin(claim(db, user_id, key, request_hash)).await;
    };
    let stored_hash: String = row.try_get("request_hash")?;
    let status: i64 = row.try_get("status_code")?;
    if stored_hash != request_hash {
        return Err(AppError::IdempotencyKeyReused);
    }
    if status == 0 {
        return Err(AppError::IdempotencyKeyInFlight);
    }
    let body: Option<Vec<u8>> = row.try_get("response_bytes")?;
    let saved_as_text: Option<String> = row.try_get("response_body")?;
    Ok(Claim::Replay {
        status: u16::try_from(status).unwrap_or(500),
        body: body
            .or_else(|| saved_as_text.map(String::into_bytes))
            .unwrap_or_default(),
    })
}

/// Saves the response of a claimed request, whatever its size.
pub async fn finish(db: &Db, user_id: i64, key: &str, status: u16, body: &[u8]) -> AppResult<()> {
    db.write(
        "UPDATE idempotency_keys SET status_code = ?, response_bytes = ? WHERE user_id = ? AND \
         idem_key = ?",
        params![i64::from(status), body, user_id, key],
    )
    .await?;
    Ok(())
}

/// Forgets keys older than their lifetime, claims that never finished included.
pub async fn sweep(db: &Db) -> AppResult<u64> {
    Ok(db
        .delete_older_than(
            "idempotency_keys",
            "created_at",
            now_millis() - KEY_LIFETIME_MS,
        )
        .await?)
}
