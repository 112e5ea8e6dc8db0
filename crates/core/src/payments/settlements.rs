//! A seller's settlement lines and balance, chargebacks after release, and overdue
//! settlements. Balances are sums of the ledger's postings; a line only says from which date
//! its posting counts as available.

use super::model::{Balance, Settlement, SettlementTotals, SettlementsView};
use super::{only, Payments};
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::page::PageRequest;
use crate::records;
use escrow_domain::ledger::{Account, Journal, JournalKind};
use escrow_domain::settlement::{format_date, korean_date};
use escrow_domain::validation::bounded_text;
use escrow_domain::{EscrowStatus, Role, Won};
use escrow_store::{now_millis, Param, ReadRow, Tx};
use std::collections::BTreeMap;

/// The lock row that whatever takes money out of sellers' balances takes first.
pub(super) const BALANCES_GUARD: &str =
    "UPDATE payout_guard SET taken_at = ? WHERE name = 'balances'";

const LINE_COLUMNS: &str = "s.id, s.payment_id, p.order_id, s.kind, s.gross_amount, \
    s.fee_amount, s.fee_vat_amount, s.net_amount, s.released_at, s.available_on, s.reason";

fn line_from_row(row: &dyn ReadRow) -> AppResult<Settlement> {
    Ok(Settlement {
        id: row.int("id")?,
        payment_id: row.int("payment_id")?,
        order_id: row.int("order_id")?,
        kind: row.text("kind")?,
        gross_amount: row.int("gross_amount")?,
        fee_amount: row.int("fee_amount")?,
        fee_vat_amount: row.int("fee_vat_amount")?,
        net_amount: row.int("net_amount")?,
        released_at: row.int("released_at")?,
        available_on: row.text("available_on")?,
        reason: row.opt_text("reason")?,
    })
}

/// Which sellers' balances to sum: one, or every seller with postings.
#[derive(Debug, Clone, Copy)]
pub(super) enum Sellers {
    One(i64),
    All,
}

impl Sellers {
    /// A condition on `column` (an account name) and its parameter.
    fn filter(self, column: &str, prefix: &str) -> (String, Param) {
        match self {
            Sellers::One(id) => (format!("{column} = ?"), format!("{prefix}{id}").into()),
            Sellers::All => (format!("{column} LIKE ?"), format!("{prefix}%").into()),
        }
    }
}

fn seller_of(account: &str) -> Option<(bool, i64)> {
    match Account::parse(account).ok()? {
        Account::Seller(id) => Some((true, id)),
        Account::InPayout(id) => Some((false, id)),
        _ => None,
    }
}

/// The statements that sum balances, run in a transaction or on the pool alike.
pub(super) struct BalanceQueries {
    statements: [(String, Vec<Param>); 3],
}

impl BalanceQueries {
    pub(super) fn new(sellers: Sellers, today: &str) -> Self {
        let (seller_filter, seller_param) = sellers.filter("account", "seller:");
        let (payout_filter, payout_param) = sellers.filter("account", "in_payout:");
        let (pending_filter, pending_param) = sellers.filter("lp.account", "seller:");
        Self {
            statements: [
                (
                    format!(
                        "SELECT account, kind, CAST(SUM(amount) AS SIGNED) AS total \
                         FROM ledger_postings WHERE {seller_filter} GROUP BY account, kind"
                    ),
                    vec![seller_param],
                ),
                (
                    format!(
                        "SELECT account, kind, CAST(SUM(amount) AS SIGNED) AS total \
                         FROM ledger_postings WHERE {payout_filter} GROUP BY account, kind"
                    ),
                    vec![payout_param],
                ),
                // A release's money is pending until its line's date.
                (
                    format!(
                        "SELECT lp.account, s.available_on AS kind, \
                         CAST(SUM(lp.amount) AS SIGNED) AS total FROM ledger_postings lp \
                         JOIN settlements s ON s.payment_id = lp.payment_id AND s.kind = ? \
                         WHERE lp.kind = ? AND {pending_filter} AND s.available_on > ? \
                         GROUP BY lp.account, s.available_on"
                    ),
                    vec![
                        JournalKind::Release.as_str().into(),
                        JournalKind::Release.as_str().into(),
                        pending_param,
                        today.into(),
                    ],
                ),
            ],
        }
    }

    pub(super) async fn run_in(&self, tx: &mut Tx) -> AppResult<BalanceSheet> {
        let mut rows = Vec::new();
        for (sql, params) in &self.statements {
            rows.push(tx.fetch_all(sql, params, sum_row).await?);
        }
        Ok(BalanceSheet::from_sums(rows))
    }

    pub(super) async fn run(&self, payments: &Payments) -> AppResult<BalanceSheet> {
        let mut rows = Vec::new();
        for (sql, params) in &self.statements {
            rows.push(payments.db.reads().fetch_all(sql, params, sum_row).await?);
        }
        Ok(BalanceSheet::from_sums(rows))
    }
}

type Sum = (String, String, i64);

fn sum_row(row: &dyn ReadRow) -> AppResult<Sum> {
    Ok((row.text("account")?, row.text("kind")?, row.int("total")?))
}

/// Balances by seller, and each seller's pending money by date.
#[derive(Debug, Default)]
pub(super) struct BalanceSheet {
    pub balances: BTreeMap<i64, Balance>,
    pub upcoming: BTreeMap<i64, Vec<(String, i64)>>,
}

impl BalanceSheet {
    fn from_sums(sums: Vec<Vec<Sum>>) -> Self {
        let mut sheet = BalanceSheet::default();
        let mut sums = sums.into_iter();
        let owed = sums.next().unwrap_or_default();
        let in_payout = sums.next().unwrap_or_default();
        let pending = sums.next().unwrap_or_default();
        for (account, _, total) in owed {
            if let Some((true, id)) = seller_of(&account) {
                sheet.balances.entry(id).or_default().available += total;
            }
        }
        let paid = JournalKind::PayoutPaid.as_str();
        for (account, kind, total) in in_payout {
            if let Some((false, id)) = seller_of(&account) {
                let balance = sheet.balances.entry(id).or_default();
                balance.in_payout += total;
                if kind == paid {
                    balance.paid_out -= total;
                }
            }
        }
        for (account, date, total) in pending {
            if let Some((true, id)) = seller_of(&account) {
                let balance = sheet.balances.entry(id).or_default();
                balance.pending += total;
                balance.available -= total;
                sheet.upcoming.entry(id).or_default().push((date, total));
            }
        }
        for dates in sheet.upcoming.values_mut() {
            dates.sort();
        }
        sheet
    }
}

/// Today's date in Korea, as the lines' dates are written.
pub(super) fn today() -> String {
    format_date(korean_date(now_millis()))
}

impl Payments {
    /// `GET /settlements`: the seller's lines, newest first, with the balance.
    pub async fn settlements(
        &self,
        caller: Caller,
        page: PageRequest,
    ) -> AppResult<SettlementsView> {
        only(caller.role == Role::Seller, "sellers")?;
        let seller = caller.user_id;
        let before = page.before_id.unwrap_or(i64::MAX);
        let rows = escrow_store::sqlx::query(&format!(
            "SELECT {LINE_COLUMNS} FROM settlements s JOIN payments p ON p.id = s.payment_id \
             WHERE s.seller_id = ? AND s.id < ? ORDER BY s.id DESC LIMIT ?"
        ))
        .bind(seller)
        .bind(before)
        .bind(page.limit + 1)
        .fetch_all(self.db.pool())
        .await?;
        let lines = rows
            .iter()
            .map(|row| line_from_row(row))
            .collect::<AppResult<Vec<_>>>()?;
        let totals = escrow_store::sqlx::query(
            "SELECT CAST(COALESCE(SUM(gross_amount), 0) AS SIGNED) AS gross, \
             CAST(COALESCE(SUM(fee_amount), 0) AS SIGNED) AS fee, \
             CAST(COALESCE(SUM(fee_vat_amount), 0) AS SIGNED) AS fee_vat, \
             CAST(COALESCE(SUM(net_amount), 0) AS SIGNED) AS net \
             FROM settlements WHERE seller_id = ?",
        )
        .bind(seller)
        .fetch_one(self.db.pool())
        .await?;
        let totals = {
            let row: &dyn ReadRow = &totals;
            SettlementTotals {
                gross: row.int("gross")?,
                fee: row.int("fee")?,
                fee_vat: row.int("fee_vat")?,
                net: row.int("net")?,
            }
        };
        let mut sheet = BalanceQueries::new(Sellers::One(seller), &today())
            .run(self)
            .await?;
        Ok(SettlementsView {
            lines: page.into_page(lines, |line| line.id),
            balance: sheet.balances.remove(&seller).unwrap_or_default(),
            totals,
            upcoming: sheet.upcoming.remove(&seller).unwrap_or_default(),
        })
    }

    /// Every seller's balance (for the ledger's cross-check and the admin's views).
    pub async fn seller_balances(&self, caller: Caller) -> AppResult<BTreeMap<i64, Balance>> {
        only(caller.is_admin(), "admins")?;
        Ok(BalanceQueries::new(Sellers::All, &today())
            .run(self)
            .await?
            .balances)
    }

    /// `POST /payments/{id}/chargeback`: takes `amount` back from the seller of a released
    /// payment, available at once so it is recovered before any payout.
    pub async fn chargeback(
        &self,
        caller: Caller,
        payment_id: i64,
        amount: i64,
        reason: &str,
    ) -> AppResult<Settlement> {
        only(caller.is_admin(), "admins")?;
        let mut errors = escrow_domain::FieldErrors::new();
        let amount = errors.check("amount", Won::new(amount).map_err(|e| e.to_string()));
        if amount == Some(Won::ZERO) {
            errors.add("amount", "must be greater than 0");
        }
        let reason = errors.check("reason", bounded_text(reason, 1, 500));
        errors.finish()?;
        let (amount, reason) = (amount.unwrap_or(Won::ZERO), reason.unwrap_or_default());
        let payment = self.load(payment_id).await?;
        if payment.escrow_status != EscrowStatus::Released {
            return Err(AppError::InvalidState(format!(
                "only a released payment has a chargeback; this one's escrow is {}",
                payment.escrow_status
            )));
        }
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        tx.execute(BALANCES_GUARD, &[now.into()]).await?;
        let left = tx
            .fetch_optional(
                "SELECT CAST(COALESCE(SUM(gross_amount), 0) AS SIGNED) AS left_amount \
                 FROM settlements WHERE payment_id = ?",
                &[payment_id.into()],
                |row| row.int("left_amount").map_err(AppError::from),
            )
            .await?
            .unwrap_or(0);
        if amount.get() > left {
            return Err(AppError::field(
                "amount",
                format!("exceeds the {left} won released and not charged back"),
            ));
        }
        let available_on = format_date(korean_date(now));
        let id = tx
            .insert_returning_id(
                "INSERT INTO settlements (payment_id, seller_id, kind, gross_amount, fee_amount, \
                 fee_vat_amount, net_amount, reason, released_at, available_on) \
                 VALUES (?, ?, ?, ?, 0, 0, ?, ?, ?, ?)",
                &[
                    payment_id.into(),
                    payment.seller_id.into(),
                    JournalKind::Chargeback.as_str().into(),
                    (-amount.get()).into(),
                    (-amount.get()).into(),
                    reason.as_str().into(),
                    now.into(),
                    available_on.as_str().into(),
                ],
            )
            .await?;
        records::journal(
            &mut tx,
            Some(payment_id),
            &Journal::transfer(
                JournalKind::Chargeback,
                Account::Seller(payment.seller_id),
                Account::Chargebacks,
                amount,
            ),
        )
        .await?;
        records::event(
            &mut tx,
            "payment.chargeback",
            payment.order_id,
            serde_json::json!({
                "payment_id": payment_id,
                "seller_id": payment.seller_id,
                "amount": amount.get(),
                "reason": reason,
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(Settlement {
            id,
            payment_id,
            order_id: payment.order_id,
            kind: JournalKind::Chargeback.as_str().into(),
            gross_amount: -amount.get(),
            fee_amount: 0,
            fee_vat_amount: 0,
            net_amount: -amount.get(),
            released_at: now,
            available_on,
            reason: Some(reason),
        })
    }
}
