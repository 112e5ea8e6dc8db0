//! The deliveries' life: fanned out from committed outbox events (one row per endpoint and
//! event), claimed for one attempt by one instance (a lease and a conditional UPDATE), and
//! settled after the attempt: succeeded, due again on the retry schedule, or failed.

use crate::error::{AppError, AppResult};
use escrow_store::{now_millis, params, placeholders, Db, Param};
use std::time::Duration;

/// Outbox events one fan-out transaction takes at most.
pub const FAN_OUT_BATCH: i64 = 200;

/// Turns the outbox events not yet fanned out into deliveries, in one transaction each
/// batch: an event is marked and its deliveries written together, so a crash loses
/// neither. Returns how many events it took.
pub async fn fan_out(db: &Db, first_wait: Duration) -> AppResult<usize> {
    // Read outside the transaction: an idle sender then never takes SQLite's one writer,
    // and without endpoints events are left alone (the first endpoint marks them). Two
    // reads: in one, SQLite walked every waiting event when no endpoint existed.
    let reads = db.reads();
    let endpoints = reads
        .fetch_all(
            "SELECT id FROM webhook_endpoints LIMIT ?",
            params![1i64],
            |row| row.int("id"),
        )
        .await?;
    if endpoints.is_empty() {
        return Ok(0);
    }
    let waiting = reads
        .fetch_all(
            "SELECT id FROM outbox_events WHERE fanned_out_at IS NULL ORDER BY id LIMIT ?",
            params![1i64],
            |row| row.int("id"),
        )
        .await?;
    if waiting.is_empty() {
        return Ok(0);
    }
    let mut tx = db.begin().await?;
    let events = tx
        .fetch_all(
            "SELECT id, event_id, event_type, payload, created_at FROM outbox_events \
             WHERE fanned_out_at IS NULL ORDER BY id LIMIT ?",
            &[FAN_OUT_BATCH.into()],
            |row| {
                Ok::<_, AppError>((
                    row.int("id")?,
                    row.text("event_id")?,
                    row.text("event_type")?,
                    row.text("payload")?,
                    row.int("created_at")?,
                ))
            },
        )
        .await?;
    if events.is_empty() {
        return Ok(0);
    }
    let now = now_millis();
    // Conditional: another instance fanning out the same events (MySQL lets both read
    // them) changes fewer rows here, and this transaction then gives way.
    let marks = placeholders(events.len());
    let mut params: Vec<Param> = vec![now.into()];
    params.extend(events.iter().map(|e| Param::from(e.0)));
    let marked = tx
        .execute(
            &format!(
                "UPDATE outbox_events SET fanned_out_at = ? \
                 WHERE fanned_out_at IS NULL AND id IN ({marks})"
            ),
            &params,
        )
        .await?;
    if marked != events.len() as u64 {
        return Ok(0);
    }
    let endpoints = tx
        .fetch_all(
            "SELECT id, event_types FROM webhook_endpoints",
            &[],
            |row| Ok::<_, AppError>((row.int("id")?, row.text("event_types")?)),
        )
        .await?;
    let due = now.saturating_add(i64::try_from(first_wait.as_millis()).unwrap_or(i64::MAX));
    for (_, event_id, event_type, payload, created_at) in &events {
        let body = body(event_type, *created_at, payload);
        for (endpoint_id, types) in &endpoints {
            let wanted = types.is_empty() || types.split(',').any(|t| t == event_type);
            if !wanted {
                continue;
            }
            tx.execute(
                "INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, body, \
                 status, attempts, next_attempt_at, created_at) \
                 VALUES (?, ?, ?, ?, 'pending', 0, ?, ?)",
                &[
                    (*endpoint_id).into(),
                    event_id.into(),
                    event_type.into(),
                    body.as_str().into(),
                    due.into(),
                    now.into(),
                ],
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(events.len())
}

/// The body every attempt sends: `{type, timestamp, data}`, `data` the event's payload
/// with its order id.
pub fn body(event_type: &str, created_at: i64, payload: &str) -> String {
    let stored: serde_json::Value = serde_json::from_str(payload).unwrap_or_default();
    let mut data = stored.get("data").cloned().unwrap_or_default();
    if let (Some(fields), Some(order_id)) = (data.as_object_mut(), stored.get("order_id")) {
        fields.entry("order_id").or_insert_with(|| order_id.clone());
    }
    let timestamp =
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(created_at) * 1_000_000)
            .ok()
            .and_then(|at| {
                at.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default();
    serde_json::json!({ "type": event_type, "timestamp": timestamp, "data": data }).to_string()
}

/// One attempt to make, as claimed.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub delivery_id: i64,
    pub endpoint_id: i64,
    pub url: String,
    pub secret: String,
    pub event_id: String,
    pub body: String,
    /// Attempts made before this one.
    pub attempts: i64,
}

/// A due delivery, before it is claimed.
#[derive(Debug, Clone, Copy)]
pub struct Due {
    pub delivery_id: i64,
    pub endpoint_id: i64,
}

/// Up to `limit` deliveries due now and not held by anyone, soonest first.
pub async fn due(db: &Db, limit: i64) -> AppResult<Vec<Due>> {
    let now = now_millis();
    let mut due = db
        .reads()
        .fetch_all(
            "SELECT id, endpoint_id, next_attempt_at FROM webhook_deliveries \
             WHERE status = 'pending' AND next_attempt_at <= ? \
             AND (claim_until IS NULL OR claim_until < ?) \
             ORDER BY next_attempt_at, id LIMIT ?",
            params![now, now, limit],
            |row| {
                Ok::<_, AppError>((
                    row.int("next_attempt_at")?,
                    Due {
                        delivery_id: row.int("id")?,
                        endpoint_id: row.int("endpoint_id")?,
                    },
                ))
            },
        )
        .await?;
    due.sort_by_key(|(at, d)| (*at, d.delivery_id));
    Ok(due.into_iter().map(|(_, d)| d).collect())
}

/// Claims `ids` under `claim` (unique to this round) for `lease`; returns what this claim
/// got. The conditions are checked again as each row is changed, so of instances racing for
/// a delivery exactly one gets it, and one attempt is sent once.
pub async fn claim(db: &Db, claim: &str, ids: &[i64], lease: Duration) -> AppResult<Vec<Attempt>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let now = now_millis();
    let until = now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
    let marks = placeholders(ids.len());
    let mut params: Vec<Param> = vec![claim.into(), until.into(), now.into(), now.into()];
    params.extend(ids.iter().map(|id| Param::from(*id)));
    let mut tx = db.begin().await?;
    tx.execute(
        &format!(
            "UPDATE webhook_deliveries SET claimed_by = ?, claim_until = ? \
             WHERE status = 'pending' AND next_attempt_at <= ? \
             AND (claim_until IS NULL OR claim_until < ?) AND id IN ({marks})"
        ),
        &params,
    )
    .await?;
    let attempts = tx
        .fetch_all(
            "SELECT d.id, d.endpoint_id, e.url, e.secret, d.event_id, d.body, d.attempts \
             FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
             WHERE d.claimed_by = ? AND d.claim_until = ? ORDER BY d.id",
            &[claim.into(), until.into()],
            |row| {
                Ok::<_, AppError>(Attempt {
                    delivery_id: row.int("id")?,
                    endpoint_id: row.int("endpoint_id")?,
                    url: row.text("url")?,
                    secret: row.text("secret")?,
                    event_id: row.text("event_id")?,
                    body: row.text("body")?,
                    attempts: row.int("attempts")?,
                })
            },
        )
        .await?;
    tx.commit().await?;
    Ok(attempts)
}

/// What became of one attempt: the receiver's status code, if it answered in time.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    pub status_code: Option<u16>,
}

impl Outcome {
    pub fn succeeded(self) -> bool {
        self.status_code
            .is_some_and(|code| (200..300).contains(&code))
    }
}

/// The next wait after `attempts_made` failed attempts, or `None`: no attempt is left.
pub fn next_wait(schedule: &[Duration], attempts_made: i64) -> Option<Duration> {
    usize::try_from(attempts_made)
        .ok()
        .and_then(|made| schedule.get(made))
        .copied()
}

/// Records an attempt's outcome, if `claim` still holds the delivery (it is released).
pub async fn settle(
    db: &Db,
    claim: &str,
    attempt: &Attempt,
    outcome: Outcome,
    schedule: &[Duration],
) -> AppResult<()> {
    let made = attempt.attempts.saturating_add(1);
    let now = now_millis();
    let (status, next, settled) = if outcome.succeeded() {
        ("succeeded", None, Some(now))
    } else {
        match next_wait(schedule, made) {
            Some(wait) => (
                "pending",
                Some(now.saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX))),
                None,
            ),
            None => ("failed", None, Some(now)),
        }
    };
    db.write(
        "UPDATE webhook_deliveries SET status = ?, attempts = ?, last_status_code = ?, \
         next_attempt_at = ?, settled_at = ?, claimed_by = NULL, claim_until = NULL \
         WHERE id = ? AND claimed_by = ?",
        &[
            status.into(),
            made.into(),
            outcome.status_code.map(i64::from).into(),
            next.into(),
            settled.into(),
            attempt.delivery_id.into(),
            claim.into(),
        ],
    )
    .await?;
    Ok(())
}

/// Deletes the deliveries settled before `settled_before` (unix ms); returns how many.
/// Pending ones stay, however old.
pub async fn sweep(db: &Db, settled_before: i64) -> AppResult<u64> {
    Ok(db
        .delete_older_than("webhook_deliveries", "settled_at", settled_before)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_gives_the_next_wait_then_none() {
        let s = |n| Duration::from_secs(n);
        let schedule = [s(0), s(30), s(300)];
        let cases = [
            (0, Some(s(0))),
            (1, Some(s(30))),
            (2, Some(s(300))),
            (3, None),
            (-1, None),
        ];
        for (made, wait) in cases {
            assert_eq!(next_wait(&schedule, made), wait, "{made}");
        }
    }

    #[test]
    fn success_is_a_2xx_in_time() {
        let cases = [
            (Some(200), true),
            (Some(204), true),
            (Some(299), true),
            (Some(301), false),
            (Some(500), false),
            (None, false),
        ];
        for (code, ok) in cases {
            assert_eq!(Outcome { status_code: code }.succeeded(), ok, "{code:?}");
        }
    }

    #[test]
    fn the_body_carries_type_timestamp_and_data_with_the_order() {
        let payload = r#"{"event_id":"e","type":"payment.paid","order_id":7,"at":1,"data":{"payment_id":3,"amount":1000}}"#;
        let body: serde_json::Value =
            serde_json::from_str(&body("payment.paid", 1_700_000_000_000, payload)).expect("JSON");
        assert_eq!(
            body,
            serde_json::json!({
                "type": "payment.paid",
                "timestamp": "2023-11-14T22:13:20Z",
                "data": {"payment_id": 3, "amount": 1000, "order_id": 7}
            })
        );
    }
}
