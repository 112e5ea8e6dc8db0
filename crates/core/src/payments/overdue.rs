//! The settlement deadline: released money not paid out within `settlement_deadline` of its
//! release is overdue — listed for admins, counted in `/metrics`, announced once per line.

use super::model::OverdueSettlement;
use super::{only, Payments};
use crate::auth::Caller;
use crate::error::AppResult;
use crate::records;
use escrow_domain::ledger::{Account, JournalKind};
use escrow_store::{now_millis, ReadRow};
use std::collections::BTreeMap;

/// Settlement lines read at a time while looking for the owed ones.
const LINES_PAGE: i64 = 100;

impl Payments {
    /// `GET /admin/settlements/overdue`, oldest first.
    pub async fn overdue_settlements(&self, caller: Caller) -> AppResult<Vec<OverdueSettlement>> {
        only(caller.is_admin(), "admins")?;
        self.check_overdue().await
    }

    /// Finds the overdue lines, sets the gauges, and raises `settlement.overdue` for each line
    /// the first time it is found.
    pub async fn check_overdue(&self) -> AppResult<Vec<OverdueSettlement>> {
        let now = now_millis();
        let deadline =
            i64::try_from(self.settings.settlement_deadline.as_millis()).unwrap_or(i64::MAX);
        // Only what was paid out is needed here: the sellers' whole balances summed every
        // release ever posted. A range, not LIKE, which SQLite answers by a full scan.
        let mut paid_out: BTreeMap<i64, i64> = BTreeMap::new();
        for row in escrow_store::sqlx::query(
            "SELECT account, CAST(SUM(amount) AS SIGNED) AS total FROM ledger_postings \
             WHERE account >= 'in_payout:' AND account < 'in_payout;' AND kind = ? \
             GROUP BY account",
        )
        .bind(JournalKind::PayoutPaid.as_str())
        .fetch_all(self.db.pool())
        .await?
        {
            let row: &dyn ReadRow = &row;
            if let Ok(Account::InPayout(seller)) = Account::parse(&row.text("account")?) {
                paid_out.insert(seller, -row.int("total")?);
            }
        }
        // What each seller is still owed: every line's net (chargebacks negative) less what
        // was paid out. Payouts pay the oldest lines first, so the owed money is the newest.
        let mut owed: BTreeMap<i64, i64> = BTreeMap::new();
        for (seller, net) in self.seller_nets().await? {
            let left = net - paid_out.get(&seller).copied().unwrap_or(0);
            if left > 0 {
                owed.insert(seller, left);
            }
        }
        let mut overdue = Vec::new();
        let mut fresh = Vec::new();
        for (seller, mut left) in owed {
            // Newest first, a page at a time: the owed money is in the newest lines, and the
            // seller's whole history need not be read to find them.
            let mut before = i64::MAX;
            while left > 0 {
                let rows = escrow_store::sqlx::query(
                    "SELECT s.id, s.payment_id, p.order_id, s.net_amount, s.released_at, \
                     s.overdue_at FROM settlements s JOIN payments p ON p.id = s.payment_id \
                     WHERE s.seller_id = ? AND s.kind = ? AND s.id < ? ORDER BY s.id DESC LIMIT ?",
                )
                .bind(seller)
                .bind(JournalKind::Release.as_str())
                .bind(before)
                .bind(LINES_PAGE)
                .fetch_all(self.db.pool())
                .await?;
                let Some(last) = rows.last() else { break };
                before = (last as &dyn ReadRow).int("id")?;
                for row in &rows {
                    if left <= 0 {
                        break;
                    }
                    let row: &dyn ReadRow = row;
                    let net = row.int("net_amount")?;
                    let unpaid = net.min(left);
                    left -= unpaid;
                    let released_at = row.int("released_at")?;
                    let due_at = released_at.saturating_add(deadline);
                    if due_at > now || unpaid <= 0 {
                        continue;
                    }
                    let line = OverdueSettlement {
                        payment_id: row.int("payment_id")?,
                        order_id: row.int("order_id")?,
                        seller_id: seller,
                        net_amount: net,
                        unpaid_amount: unpaid,
                        released_at,
                        due_at,
                    };
                    if row.opt_int("overdue_at")?.is_none() {
                        fresh.push((row.int("id")?, line.clone()));
                    }
                    overdue.push(line);
                }
            }
        }
        overdue.sort_by_key(|line| (line.released_at, line.payment_id));
        for (line_id, line) in &fresh {
            self.announce_overdue(*line_id, line, now).await?;
        }
        metrics::gauge!("escrow_settlements_overdue").set(overdue.len() as f64);
        metrics::gauge!("escrow_settlements_overdue_won")
            .set(overdue.iter().map(|line| line.unpaid_amount).sum::<i64>() as f64);
        Ok(overdue)
    }

    /// Marks a line announced and raises its event, once even when instances race.
    async fn announce_overdue(
        &self,
        line_id: i64,
        line: &OverdueSettlement,
        now: i64,
    ) -> AppResult<()> {
        let mut tx = self.db.begin().await?;
        let marked = tx
            .execute(
                "UPDATE settlements SET overdue_at = ? WHERE id = ? AND overdue_at IS NULL",
                &[now.into(), line_id.into()],
            )
            .await?;
        if marked == 1 {
            tracing::warn!(
                payment.id = line.payment_id,
                seller.id = line.seller_id,
                unpaid = line.unpaid_amount,
                "settlement overdue"
            );
            records::event(
                &mut tx,
                "settlement.overdue",
                line.order_id,
                serde_json::json!({
                    "payment_id": line.payment_id,
                    "seller_id": line.seller_id,
                    "unpaid_amount": line.unpaid_amount,
                    "released_at": line.released_at,
                    "due_at": line.due_at,
                }),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
