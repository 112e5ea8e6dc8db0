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
/// Where reconciliation's ledger check got to (unix ms).
const LEDGER_MARK: &str = "ledger";
/// How far before its last round's start the next round looks: a transaction that stamped
/// a payment then may have committed after (requests end within 30 s).
const LEDGER_OVERLAP_MS: i64 = 5 * 60 * 1000;

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
        self.check_journals(None).await
    }

    /// Reconciliation's ledger check: the payments changed since its last round began (less
    /// an overlap for transactions then still open), so that a round costs what changed, not
    /// the whole history; the first round ever checks everything. `GET /admin/ledger` still
    /// checks everything. Answers how many paid payments it checked.
    pub async fn check_recent_journals(&self) -> AppResult<u64> {
        let started = now_millis();
        let mark = self.mark(LEDGER_MARK).await?;
        let ledger = self
            .check_journals(mark.map(|at| at - LEDGER_OVERLAP_MS))
            .await?;
        self.set_mark(LEDGER_MARK, started, mark.is_some()).await?;
        Ok(ledger.payments_checked as u64)
    }

    /// The check of every payment (`since` None: with the accounts' balances) or of those
    /// updated at or after `since` (unix ms).
    async fn check_journals(&self, since: Option<i64>) -> AppResult<Ledger> {
        let started = now_millis();
        let pool = self.db.pool();
        let mut ledger = Ledger::default();
        // Postings of the payments in scope, and those payments.
        let (postings_in_scope, payments_in_scope) = match since {
            None => ("", ""),
            Some(_) => (
                "payment_id IN (SELECT id FROM payments WHERE updated_at >= ?)",
                " AND updated_at >= ?",
            ),
        };
        if since.is_none() {
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
        }
        let mut found: BTreeMap<(i64, &'static str), String> = BTreeMap::new();
        let scoped = if since.is_some() { "WHERE " } else { "" };
        for row in sqlx::query(&format!(
            "SELECT journal, MIN(payment_id) AS payment_id, CAST(SUM(amount) AS SIGNED) AS total \
             FROM ledger_postings {scoped}{postings_in_scope} GROUP BY journal HAVING SUM(amount) <> 0"
        ))
        .bind_scope(since)
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
        // A partial check goes by payment: `+account` keeps SQLite, without statistics,
        // from taking the account's index through half of all postings instead.
        let (account, and) = match since {
            None => ("account", ""),
            Some(_) => ("+account", " AND "),
        };
        for row in sqlx::query(&format!(
            "SELECT payment_id, kind, CAST(SUM(amount) AS SIGNED) AS total FROM ledger_postings \
             WHERE {account} = ? AND payment_id IS NOT NULL{and}{postings_in_scope} \
             GROUP BY payment_id, kind"
        ))
        .bind(&escrow)
        .bind_scope(since)
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
        let mut checked = BTreeSet::new();
        for row in sqlx::query(&format!(
            "SELECT id, amount, refunded_amount, released_amount FROM payments \
             WHERE paid_at IS NOT NULL{payments_in_scope}"
        ))
        .bind_scope(since)
        .fetch_all(pool)
        .await?
        {
            let id: i64 = row.try_get("id")?;
            checked.insert(id);
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
            checked.insert(id);
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
        // A partial check resolves only what it looked at.
        let scope = since.is_some().then_some(&checked);
        self.record_journal_findings(&found, scope, started).await?;
        ledger.divergences = self.divergences().await?;
        metrics::gauge!("escrow_ledger_divergences").set(ledger.divergences.len() as f64);
        Ok(ledger)
    }

    /// Records what the journals check found, and marks resolved what it no longer finds
    /// among the payments it `checked` (None: all of them). Only what was detected before the
    /// check `started` reading: a concurrent check may have found what this one read too early.
    async fn record_journal_findings(
        &self,
        found: &BTreeMap<(i64, &'static str), String>,
        checked: Option<&BTreeSet<i64>>,
        started: i64,
    ) -> AppResult<()> {
        for ((payment_id, kind), what) in found {
            if *payment_id > 0 {
                self.record_divergence(*payment_id, kind, what).await?;
            }
        }
        let still: BTreeSet<(i64, &str)> = found.keys().map(|(id, kind)| (*id, *kind)).collect();
        let open = sqlx::query(
            "SELECT payment_id, kind FROM ledger_divergences WHERE resolved_at IS NULL \
             AND kind IN (?, ?) AND detected_at < ?",
        )
        .bind(JOURNAL_MISMATCH)
        .bind(UNBALANCED_JOURNAL)
        .bind(started)
        .fetch_all(self.db.pool())
        .await?;
        for row in open {
            let payment_id: i64 = row.try_get("payment_id")?;
            let kind: String = row.try_get("kind")?;
            let looked_at = checked.is_none_or(|ids| ids.contains(&payment_id));
            if looked_at && !still.contains(&(payment_id, kind.as_str())) {
                self.db
                    .write(
                        "UPDATE ledger_divergences SET resolved_at = ? WHERE payment_id = ? \
                         AND kind = ? AND resolved_at IS NULL AND detected_at < ?",
                        &[
                            now_millis().into(),
                            payment_id.into(),
                            kind.as_str().into(),
                            started.into(),
                        ],
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

/// Binds the scope's time to a statement of a partial check; a full check's has none.
trait BindScope {
    fn bind_scope(self, since: Option<i64>) -> Self;
}

impl<'q> BindScope for sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    fn bind_scope(self, since: Option<i64>) -> Self {
        match since {
            Some(at) => self.bind(at),
            None => self,
        }
    }
}
