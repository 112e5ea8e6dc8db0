//! What every transition writes beside the state change, in the same transaction: the
//! history row, the ledger movement, and the domain event for the outbox.

use crate::error::AppResult;
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
    let mut query = sqlx::query(&sql);
    for change in changes {
        query = query
            .bind(order_id)
            .bind(change.entity)
            .bind(change.from)
            .bind(change.to)
            .bind(&actor.0)
            .bind(reason.clone())
            .bind(at);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// Ledger accounts: the buyer (outside), escrow (held), the seller (released), refunds
/// (returned to the buyer).
pub mod account {
    pub const BUYER: &str = "buyer";
    pub const ESCROW: &str = "escrow";
    pub const SELLER: &str = "seller";
    pub const REFUNDS: &str = "refunds";
}

/// Moves `amount` won between two accounts for a payment.
pub async fn ledger(
    tx: &mut Tx,
    payment_id: i64,
    kind: &str,
    from_account: &str,
    to_account: &str,
    amount: i64,
) -> AppResult<()> {
    if amount <= 0 {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO ledger_entries (payment_id, kind, debit_account, credit_account, amount, created_at) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(payment_id)
    .bind(kind)
    .bind(from_account)
    .bind(to_account)
    .bind(amount)
    .bind(now_millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes a domain event to the outbox; a relay publishes it after commit. The event id is
/// stable so consumers can drop duplicates of an at-least-once delivery.
pub async fn event(
    tx: &mut Tx,
    event_type: &str,
    order_id: i64,
    payload: serde_json::Value,
) -> AppResult<()> {
    let event_id = uuid::Uuid::new_v4().to_string();
    let body = serde_json::json!({
        "event_id": event_id,
        "type": event_type,
        "order_id": order_id,
        "at": now_millis(),
        "data": payload,
    });
    sqlx::query(
        "INSERT INTO outbox_events (event_id, event_type, order_id, payload, created_at) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(&event_id)
    .bind(event_type)
    .bind(order_id)
    .bind(body.to_string())
    .bind(now_millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
