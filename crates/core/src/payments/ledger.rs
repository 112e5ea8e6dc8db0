//! The ledger report: account balances from the journals, checked against
//! the payments table, and the divergences found there or at the gateway.

use super::model::{Divergence, Ledger};
use super::{only, Payments};
use crate::auth::Caller;
use crate::error::AppResult;
use escrow_domain::ledger::{Account, JournalKind};
use escrow_store::{now_millis, DbErrorKind};
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};

/// The kind of divergence the journals check finds; reconciliation's kinds are its own.
const JOURNAL_MISMATCH: &str = "journal_mismatch";
const UNBALANCED_JOURNAL: &str = "unbalanced_journal";

impl Payments {
    /// `GET /admin/ledger`: balances by account, whether the books balance against the
    /// payments table, and what diverges.
    pub async fn ledger(&self, caller: Caller) -> AppResult<Ledger> {
        only(caller.is_admin(), "admins")?;
        self.check_ledger().await
    }

    /// Sums the journals by account and by payment, compares them with the payments table,
    /// records what disagrees as divergences, and answers the report.
    pub async fn check_ledger(&self) -> AppResult<Ledger> {
        let pool = self.db.pool();
        let mut ledger = Ledger::default();
        for row in sqlx::query(
            "SELECT account, CAST(SUM(amount) AS SIGNED) AS balance FROM ledger_postings \
             GROUP BY account",
        )
        .fetch_all(pool)
        .await?
        {
            ledger
                .accounts
                .insert(row.try_get("account")?, row.try_get("balance")?);
        }
        let mut found: BTreeMap<(i64, &'static str), String> = BTreeMap::new();
        for row in sqlx::query(
            "SELECT journal, MIN(payment_id) AS payment_id, CAST(SUM(amount) AS SIGNED) AS total \
             FROM ledger_postings GROUP BY journal HAVING SUM(amount) <> 0",
        )
        .fetch_all(pool)
        .await?
        {
            let journal: String = row.try_get("journal")?;
            let total: i64 = row.try_get("total")?;
            let payment_id: Option<i64> = row.try_get("payment_id")?;
            found.insert(
                (payment_id.unwrap_or(0), UNBALANCED_JOURNAL),
                format!("journal {journal} sums to {total}"),
            );
        }
        // What each payment's journals moved in and out of escrow, by kind.
        let mut flows: BTreeMap<i64, [i64; 3]> = BTreeMap::new();
        let escrow = Account::Escrow.to_string();
        for row in sqlx::query(
            "SELECT payment_id, kind, CAST(SUM(amount) AS SIGNED) AS total FROM ledger_postings \
             WHERE account = ? AND payment_id IS NOT NULL GROUP BY payment_id, kind",
        )
        .bind(&escrow)
        .fetch_all(pool)
        .await?
        {
            let kind: String = row.try_get("kind")?;
            let slot = match kind.as_str() {
                k if k == JournalKind::Capture.as_str() => 0,
                k if k == JournalKind::Refund.as_str() => 1,
                _ => 2,
            };
            flows.entry(row.try_get("payment_id")?).or_default()[slot] +=
                row.try_get::<i64, _>("total")?;
        }
        for row in sqlx::query(
            "SELECT id, amount, refunded_amount, released_amount FROM payments \
             WHERE paid_at IS NOT NULL",
        )
        .fetch_all(pool)
        .await?
        {
            let id: i64 = row.try_get("id")?;
            let amount: i64 = row.try_get("amount")?;
            let refunded: i64 = row.try_get("refunded_amount")?;
            let released: i64 = row.try_get("released_amount")?;
            ledger.payments_checked += 1;
            ledger.paid += amount;
            ledger.refunded += refunded;
            ledger.released += released;
            ledger.held += amount - refunded - released;
            let [captured, refunds, releases] = flows.remove(&id).unwrap_or_default();
            if captured != amount || -refunds != refunded || -releases != released {
                found.insert(
                    (id, JOURNAL_MISMATCH),
                    format!(
                        "journals: captured {captured}, refunded {}, released {}; payment: paid \
                         {amount}, refunded {refunded}, released {released}",
                        -refunds, -releases
                    ),
                );
            }
        }
        // Journals of payments never paid would be money from nowhere.
        for (id, [captured, refunds, releases]) in flows {
            found.insert(
                (id, JOURNAL_MISMATCH),
                format!(
                    "journals move {captured}/{}/{} for a payment never paid",
                    -refunds, -releases
                ),
            );
        }
        let escrow_balance = ledger.accounts.get(&escrow).copied().unwrap_or(0);
        let journals_balance = !found.keys().any(|(_, kind)| *kind == UNBALANCED_JOURNAL);
        ledger.balanced = journals_balance && escrow_balance == ledger.held;
        self.record_journal_findings(&found).await?;
        ledger.divergences = self.divergences().await?;
        metrics::gauge!("escrow_ledger_divergences").set(ledger.divergences.len() as f64);
        Ok(ledger)
    }

    /// Records what the journals check found, and marks resolved what it no longer finds.
    async fn record_journal_findings(
        &self,
        found: &BTreeMap<(i64, &'static str), String>,
    ) -> AppResult<()> {
        for ((payment_id, kind), what) in found {
            if *payment_id > 0 {
                self.record_divergence(*payment_id, kind, what).await?;
            }
        }
        let still: BTreeSet<(i64, &str)> = found.keys().map(|(id, kind)| (*id, *kind)).collect();
        let open = sqlx::query(
            "SELECT payment_id, kind FROM ledger_divergences WHERE resolved_at IS NULL \
             AND kind IN (?, ?)",
        )
        .bind(JOURNAL_MISMATCH)
        .bind(UNBALANCED_JOURNAL)
        .fetch_all(self.db.pool())
        .await?;
        for row in open {
            let payment_id: i64 = row.try_get("payment_id")?;
            let kind: String = row.try_get("kind")?;
            if !still.contains(&(payment_id, kind.as_str())) {
                self.db
                    .write(
                        "UPDATE ledger_divergences SET resolved_at = ? WHERE payment_id = ? \
                         AND kind = ? AND resolved_at IS NULL",
                        &[now_millis().into(), payment_id.into(), kind.as_str().into()],
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// Lists a divergence once per payment and kind, and raises `ledger.divergence` when it is
    /// new; one found again after it was resolved opens again.
    pub(super) async fn record_divergence(
        &self,
        payment_id: i64,
        kind: &str,
        found: &str,
    ) -> AppResult<()> {
        let found: String = found.chars().take(500).collect();
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        let reopened = tx
            .execute(
                "UPDATE ledger_divergences SET resolved_at = NULL, found = ?, detected_at = ? \
                 WHERE payment_id = ? AND kind = ? AND resolved_at IS NOT NULL",
                &[
                    found.as_str().into(),
                    now.into(),
                    payment_id.into(),
                    kind.into(),
                ],
            )
            .await?;
        if reopened == 0 {
            let inserted = tx
                .execute(
                    "INSERT INTO ledger_divergences (payment_id, kind, found, detected_at) \
                     SELECT ?, ?, ?, ? FROM payments WHERE id = ? AND NOT EXISTS \
                     (SELECT 1 FROM ledger_divergences WHERE payment_id = ? AND kind = ?)",
                    &[
                        payment_id.into(),
                        kind.into(),
                        found.as_str().into(),
                        now.into(),
                        payment_id.into(),
                        payment_id.into(),
                        kind.into(),
                    ],
                )
                .await;
            match inserted {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                // Another instance recorded it at the same moment.
                Err(err) if err.kind() == DbErrorKind::UniqueViolation => return Ok(()),
                Err(err) => return Err(err.into()),
            }
        }
        tracing::error!(payment.id = payment_id, divergence.kind = kind, divergence.found = %found, "ledger divergence");
        let order_id = self.load(payment_id).await.map(|p| p.order_id).unwrap_or(0);
        crate::records::event(
            &mut tx,
            "ledger.divergence",
            order_id,
            serde_json::json!({"payment_id": payment_id, "kind": kind, "found": found}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn divergences(&self) -> AppResult<Vec<Divergence>> {
        let rows = sqlx::query(
            "SELECT payment_id, kind, found, detected_at FROM ledger_divergences \
             WHERE resolved_at IS NULL ORDER BY id",
        )
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Divergence {
                    payment_id: row.try_get("payment_id")?,
                    kind: row.try_get("kind")?,
                    found: row.try_get("found")?,
                    detected_at: row.try_get("detected_at")?,
                })
            })
            .collect()
    }
}
