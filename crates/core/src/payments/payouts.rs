//! Sellers' bank accounts and payout batches: every available balance of at least a minimum,
//! moved into a batch, written as a bank's bulk-transfer file, then marked paid or failed.
//! Each step is a journal: `seller:<id>` → `in_payout:<id>` when batched, then
//! `in_payout:<id>` → `payouts` when paid or back to `seller:<id>` when failed.

use super::model::{BankAccountRecord, Payout, PayoutItem, PayoutOutcome};
use super::settlements::{today, BalanceQueries, Sellers, BALANCES_GUARD};
use super::{only, Payments};
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::records;
use escrow_domain::banks::{BankAccount, BANKS};
use escrow_domain::ledger::{Account, Journal, JournalKind};
use escrow_domain::validation::bounded_text;
use escrow_domain::{Role, Won};
use escrow_store::{now_millis, ReadRow};

/// `POST /admin/payouts` without `min_amount`.
pub const DEFAULT_MIN_PAYOUT: i64 = 1_000;
/// How many batches `GET /admin/payouts` lists.
const LISTED_PAYOUTS: i64 = 50;
const CREATED: &str = "created";
const PAID: &str = "paid";
const FAILED: &str = "failed";

fn bank_name(code: &str) -> String {
    BANKS
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, name)| (*name).to_owned())
        .unwrap_or_default()
}

fn item_from_row(row: &dyn ReadRow) -> AppResult<(i64, PayoutItem)> {
    Ok((
        row.int("payout_id")?,
        PayoutItem {
            seller_id: row.int("seller_id")?,
            amount: row.int("amount")?,
            bank_code: row.text("bank_code")?,
            account_number: row.text("account_number")?,
            holder: row.text("holder")?,
            status: row.text("status")?,
            failure: row.opt_text("failure")?,
            settled_at: row.opt_int("settled_at")?,
        },
    ))
}

/// One CSV field, quoted when it holds a separator, a quote or a line break.
fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

impl Payments {
    /// `PUT /sellers/me/bank-account`.
    pub async fn set_bank_account(
        &self,
        caller: Caller,
        bank_code: &str,
        account_number: &str,
        holder: &str,
    ) -> AppResult<BankAccountRecord> {
        only(caller.role == Role::Seller, "sellers")?;
        let account = BankAccount::parse(bank_code, account_number, holder)?;
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        tx.execute(
            "DELETE FROM bank_accounts WHERE seller_id = ?",
            &[caller.user_id.into()],
        )
        .await?;
        tx.execute(
            "INSERT INTO bank_accounts (seller_id, bank_code, account_number, holder, updated_at) \
             VALUES (?, ?, ?, ?, ?)",
            &[
                caller.user_id.into(),
                account.bank_code.as_str().into(),
                account.account_number.as_str().into(),
                account.holder.as_str().into(),
                now.into(),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(BankAccountRecord {
            bank_name: bank_name(&account.bank_code),
            bank_code: account.bank_code,
            account_number: account.account_number,
            holder: account.holder,
            updated_at: now,
        })
    }

    /// `GET /sellers/me/bank-account`: 404 until one is given.
    pub async fn bank_account(&self, caller: Caller) -> AppResult<BankAccountRecord> {
        only(caller.role == Role::Seller, "sellers")?;
        let row = escrow_store::sqlx::query(
            "SELECT bank_code, account_number, holder, updated_at FROM bank_accounts \
             WHERE seller_id = ?",
        )
        .bind(caller.user_id)
        .fetch_optional(self.db.pool())
        .await?
        .ok_or_else(|| AppError::NotFound("no bank account yet".into()))?;
        let row: &dyn ReadRow = &row;
        let bank_code = row.text("bank_code")?;
        Ok(BankAccountRecord {
            bank_name: bank_name(&bank_code),
            bank_code,
            account_number: row.text("account_number")?,
            holder: row.text("holder")?,
            updated_at: row.int("updated_at")?,
        })
    }

    /// `POST /admin/payouts`: one batch of every seller's available balance of at least
    /// `min_amount` who has a bank account. Two at once make one batch: the second finds the
    /// money batched and nothing left to pay (409).
    pub async fn create_payout(
        &self,
        caller: Caller,
        min_amount: Option<i64>,
    ) -> AppResult<Payout> {
        only(caller.is_admin(), "admins")?;
        let min_amount = min_amount.unwrap_or(DEFAULT_MIN_PAYOUT);
        if min_amount < 1 {
            return Err(AppError::field("min_amount", "must be at least 1"));
        }
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        tx.execute(BALANCES_GUARD, &[now.into()]).await?;
        let sheet = BalanceQueries::new(Sellers::All, &today())
            .run_in(&mut tx)
            .await?;
        let accounts = tx
            .fetch_all(
                "SELECT seller_id, bank_code, account_number, holder FROM bank_accounts",
                &[],
                |row| {
                    Ok::<_, AppError>((
                        row.int("seller_id")?,
                        (
                            row.text("bank_code")?,
                            row.text("account_number")?,
                            row.text("holder")?,
                        ),
                    ))
                },
            )
            .await?
            .into_iter()
            .collect::<std::collections::BTreeMap<_, _>>();
        let items: Vec<PayoutItem> = sheet
            .balances
            .iter()
            .filter(|(_, balance)| balance.available >= min_amount)
            .filter_map(|(seller_id, balance)| {
                let (bank_code, account_number, holder) = accounts.get(seller_id)?.clone();
                Some(PayoutItem {
                    seller_id: *seller_id,
                    amount: balance.available,
                    bank_code,
                    account_number,
                    holder,
                    status: CREATED.into(),
                    failure: None,
                    settled_at: None,
                })
            })
            .collect();
        if items.is_empty() {
            return Err(AppError::InvalidState(format!(
                "nothing to pay out: no seller with a bank account has {min_amount} won or more \
                 available"
            )));
        }
        let id = tx
            .insert_returning_id(
                "INSERT INTO payouts (min_amount, created_by, created_at) VALUES (?, ?, ?)",
                &[min_amount.into(), caller.user_id.into(), now.into()],
            )
            .await?;
        for item in &items {
            tx.execute(
                "INSERT INTO payout_items (payout_id, seller_id, amount, bank_code, \
                 account_number, holder, status) VALUES (?, ?, ?, ?, ?, ?, ?)",
                &[
                    id.into(),
                    item.seller_id.into(),
                    item.amount.into(),
                    item.bank_code.as_str().into(),
                    item.account_number.as_str().into(),
                    item.holder.as_str().into(),
                    CREATED.into(),
                ],
            )
            .await?;
            let amount = Won::new(item.amount).map_err(|e| AppError::internal("payout", e))?;
            records::journal(
                &mut tx,
                None,
                &Journal::transfer(
                    JournalKind::Payout,
                    Account::Seller(item.seller_id),
                    Account::InPayout(item.seller_id),
                    amount,
                ),
            )
            .await?;
        }
        let total = items.iter().map(|item| item.amount).sum();
        records::event(
            &mut tx,
            "payout.created",
            0,
            serde_json::json!({
                "payout_id": id,
                "total": total,
                "items": items.iter().map(|item| serde_json::json!({
                    "seller_id": item.seller_id, "amount": item.amount,
                })).collect::<Vec<_>>(),
            }),
        )
        .await?;
        tx.commit().await?;
        metrics::counter!("escrow_payouts_created_total").increment(1);
        Ok(Payout {
            id,
            status: CREATED,
            min_amount,
            created_at: now,
            total,
            items,
        })
    }

    /// `GET /admin/payouts`: the latest batches, newest first.
    pub async fn payouts(&self, caller: Caller) -> AppResult<Vec<Payout>> {
        only(caller.is_admin(), "admins")?;
        let ids: Vec<i64> =
            escrow_store::sqlx::query_scalar("SELECT id FROM payouts ORDER BY id DESC LIMIT ?")
                .bind(LISTED_PAYOUTS)
                .fetch_all(self.db.pool())
                .await?;
        let mut payouts = Vec::with_capacity(ids.len());
        for id in ids {
            payouts.push(self.load_payout(id).await?);
        }
        Ok(payouts)
    }

    pub async fn payout(&self, caller: Caller, payout_id: i64) -> AppResult<Payout> {
        only(caller.is_admin(), "admins")?;
        self.load_payout(payout_id).await
    }

    async fn load_payout(&self, payout_id: i64) -> AppResult<Payout> {
        let head =
            escrow_store::sqlx::query("SELECT min_amount, created_at FROM payouts WHERE id = ?")
                .bind(payout_id)
                .fetch_optional(self.db.pool())
                .await?
                .ok_or_else(|| AppError::NotFound(format!("payout {payout_id} does not exist")))?;
        let (min_amount, created_at) = {
            let head: &dyn ReadRow = &head;
            (head.int("min_amount")?, head.int("created_at")?)
        };
        let items = escrow_store::sqlx::query(
            "SELECT payout_id, seller_id, amount, bank_code, account_number, holder, status, \
             failure, settled_at FROM payout_items WHERE payout_id = ? ORDER BY seller_id",
        )
        .bind(payout_id)
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(|row| item_from_row(row).map(|(_, item)| item))
        .collect::<AppResult<Vec<_>>>()?;
        Ok(Payout {
            id: payout_id,
            status: if items.iter().any(|item| item.status == CREATED) {
                CREATED
            } else {
                "settled"
            },
            min_amount,
            created_at,
            total: items.iter().map(|item| item.amount).sum(),
            items,
        })
    }

    /// `GET /admin/payouts/{id}/transfer.csv`: the bulk-transfer file, a header row then one
    /// row per item.
    pub async fn transfer_file(&self, caller: Caller, payout_id: i64) -> AppResult<String> {
        let payout = self.payout(caller, payout_id).await?;
        let mut file = String::from("bank_code,account_number,holder,amount,memo\r\n");
        for item in &payout.items {
            let memo = format!("정산 {payout_id}");
            let row = [
                item.bank_code.as_str(),
                item.account_number.as_str(),
                item.holder.as_str(),
                &item.amount.to_string(),
                &memo,
            ]
            .map(csv_field)
            .join(",");
            file.push_str(&row);
            file.push_str("\r\n");
        }
        Ok(file)
    }

    /// `POST /admin/payouts/{id}/items/{seller_id}/paid` and `/failed`: a failed item's money
    /// returns to the seller's available balance.
    pub async fn settle_payout_item(
        &self,
        caller: Caller,
        payout_id: i64,
        seller_id: i64,
        outcome: PayoutOutcome,
    ) -> AppResult<Payout> {
        only(caller.is_admin(), "admins")?;
        let (status, failure) = match &outcome {
            PayoutOutcome::Paid => (PAID, None),
            PayoutOutcome::Failed { reason } => (
                FAILED,
                Some(bounded_text(reason, 1, 500).map_err(|e| AppError::field("reason", e))?),
            ),
        };
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        let item = tx
            .fetch_optional(
                "SELECT payout_id, seller_id, amount, bank_code, account_number, holder, status, \
                 failure, settled_at FROM payout_items WHERE payout_id = ? AND seller_id = ?",
                &[payout_id.into(), seller_id.into()],
                item_from_row,
            )
            .await?
            .map(|(_, item)| item)
            .ok_or_else(|| {
                AppError::NotFound(format!(
                    "payout {payout_id} has no item of seller {seller_id}"
                ))
            })?;
        let changed = tx
            .execute(
                "UPDATE payout_items SET status = ?, failure = ?, settled_at = ? \
                 WHERE payout_id = ? AND seller_id = ? AND status = ?",
                &[
                    status.into(),
                    failure.as_deref().into(),
                    now.into(),
                    payout_id.into(),
                    seller_id.into(),
                    CREATED.into(),
                ],
            )
            .await?;
        if changed == 0 {
            return Err(AppError::InvalidState(format!(
                "this item is already {}",
                if item.status == CREATED {
                    "being settled"
                } else {
                    &item.status
                }
            )));
        }
        let amount = Won::new(item.amount).map_err(|e| AppError::internal("payout", e))?;
        let (kind, to, event) = match outcome {
            PayoutOutcome::Paid => (JournalKind::PayoutPaid, Account::Payouts, "payout.paid"),
            PayoutOutcome::Failed { .. } => (
                JournalKind::PayoutFailed,
                Account::Seller(seller_id),
                "payout.failed",
            ),
        };
        records::journal(
            &mut tx,
            None,
            &Journal::transfer(kind, Account::InPayout(seller_id), to, amount),
        )
        .await?;
        records::event(
            &mut tx,
            event,
            0,
            serde_json::json!({
                "payout_id": payout_id,
                "seller_id": seller_id,
                "amount": item.amount,
                "reason": failure,
            }),
        )
        .await?;
        tx.commit().await?;
        self.load_payout(payout_id).await
    }
}
