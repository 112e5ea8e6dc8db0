//! What every transition writes beside the state change, in the same transaction: the
//! history row, the ledger journal, and the domain event for the outbox.

use crate::error::AppResult;
use escrow_domain::ledger::Journal;
use escrow_store::{now_millis, Tx};

/// Who made a change, as history shows it.
#[derive(Debug, Clone)]
pub struct Actor(pub String);

impl Actor {
    pub fn member(role: escrow_domain::Role, user_id: i64) -> Self {
        Actor(format!("{}:{user_id}", role.as_str()))
    }
    pub fn gateway() -> Self {
        Actor("gateway".into())
    }
    pub fn system() -> Self {
        Actor("system".into())
    }
}

/// One transition of an order, a payment or its escrow, for `histories`.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    pub entity: &'a str,
    pub from: Option<&'a str>,
    pub to: &'a str,
}

/// Records one transition of an order, a payment or its escrow.
pub async fn history(
    tx: &mut Tx,
    order_id: i64,
    entity: &str,
    from: Option<&str>,
    to: &str,
    actor: &Actor,
    reason: Option<&str>,
) -> AppResult<()> {
    histories(tx, order_id, &[Change { entity, from, to }], actor, reason).await
}

/// Records transitions of one order made together, in one multi-row INSERT (one statement
/// instead of one each); ids, hence history order, follow `changes`.
pub async fn histories(
    tx: &mut Tx,
    order_id: i64,
    changes: &[Change<'_>],
    actor: &Actor,
    reason: Option<&str>,
) -> AppResult<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut sql = String::from(
        "INSERT INTO state_history (order_id, entity, from_state, to_state, actor, reason, at) VALUES ",
    );
    for i in 0..changes.len() {
        sql.push_str(if i == 0 { "" } else { ", " });
        sql.push_str("(?, ?, ?, ?, ?, ?, ?)");
    }
    let reason = reason.map(|r| r.chars().take(500).collect::<String>());
    let at = now_millis();
    let mut params = Vec::with_capacity(7 * changes.len());
    for change in changes {
        params.extend([
            order_id.into(),
            change.entity.into(),
            change.from.into(),
            change.to.into(),
            actor.0.as_str().into(),
            reason.as_deref().into(),
            at.into(),
        ]);
    }
    tx.execute(&sql, &params).await?;
    Ok(())
}

/// Posts a journal's postings in one statement; they share a journal id.
pub async fn journal(tx: &mut Tx, payment_id: Option<i64>, journal: &Journal) -> AppResult<()> {
    let postings = journal.postings();
    if postings.is_empty() {
        return Ok(());
    }
    let id = uuid::Uuid::now_v7().to_string();
    let now = now_millis();
    let mut sql = String::from(
        "INSERT INTO ledger_postings (journal, payment_id, kind, account, amount, created_at) VALUES ",
    );
    let mut params = Vec::with_capacity(6 * postings.len());
    for (i, posting) in postings.iter().enumerate() {
        sql.push_str(if i == 0 {
            "(?, ?, ?, ?, ?, ?)"
        } else {
            ", (?, ?, ?, ?, ?, ?)"
        });
        params.extend([
            id.as_str().into(),
            payment_id.into(),
            journal.kind().as_str().into(),
            posting.account.to_string().into(),
            posting.amount.into(),
            now.into(),
        ]);
    }
    tx.execute(&sql, &params).await?;
    Ok(())
}

/// Writes a domain event to the outbox (at commit); a relay publishes it after commit. The
/// event id is stable so consumers can drop duplicates of an at-least-once delivery. A
/// UUIDv7 (time first), so its unique index grows at one end: a random v4 id put each
/// commit's entry in another page of the index, one more page for SQLite to sync.
pub async fn event(
    tx: &mut Tx,
    event_type: &str,
    order_id: i64,
    payload: serde_json::Value,
) -> AppResult<()> {
    let event_id = uuid::Uuid::now_v7().to_string();
    let body = serde_json::json!({
        "event_id": event_id,
        "type": event_type,
        "order_id": order_id,
        "at": now_millis(),
        "data": payload,
    });
    // The relay publishes it as soon as it is committed, not on its next tick.
    tx.announce_commit();
    tx.execute(
        "INSERT INTO outbox_events (event_id, event_type, order_id, payload, created_at) \
         VALUES (?, ?, ?, ?, ?)",
        &[
            event_id.into(),
            event_type.into(),
            order_id.into(),
            body.to_string().into(),
            now_millis().into(),
        ],
    )
    .await?;
    Ok(())
}
