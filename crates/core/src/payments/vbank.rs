//! Virtual accounts: the due time in the PG's format, the issued account as we keep it,
//! closing an account at the gateway before its order ends, and the refund account a
//! refund of a paid one sends the money to.

use super::gateway::gateway_error;
use super::model::{PaymentRecord, VbankAccount};
use super::Payments;
use crate::error::{AppError, AppResult};
use crate::gateway::{GatewayError, GatewayStatus as Gw, PaymentRef};
use crate::records::Actor;
use escrow_store::{now_millis, params};
use sqlx::Row;
use time::{OffsetDateTime, UtcOffset};

/// Korean time, which the PGs' due times are written in (no daylight saving).
const KST_SECS: i32 = 9 * 3600;

/// `at` (unix ms) as the browser SDK's `vbank_due`: `YYYYMMDDhhmm` in Korean time, the
/// format KG Inicis wants and the other V1 PGs accept. Rounded up to the minute: the
/// account must not close before the order does (the order's expiry revokes it).
pub(super) fn pg_due_text(_pg: &str, at: i64) -> String {
    let offset = UtcOffset::from_whole_seconds(KST_SECS).unwrap_or(UtcOffset::UTC);
    let minutes = at.div_euclid(60_000) + i64::from(at.rem_euclid(60_000) > 0);
    let t = OffsetDateTime::from_unix_timestamp(minutes * 60)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(offset);
    format!(
        "{:04}{:02}{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// What closing a payment's account at the gateway found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AccountClosed {
    /// No transfer can arrive any more (revoked now, or never issued).
    Closed,
    /// The deposit had arrived: the payment was completed from the gateway's record.
    Paid,
}

impl Payments {
    /// The order waits for its account until the due time, `ESCROW_VBANK_DUE` from now,
    /// and expires then. Returns the due time (unix ms).
    pub(super) async fn extend_to_vbank_due(&self, order_id: i64) -> AppResult<i64> {
        let wait = i64::try_from(self.settings.vbank_due.as_millis()).unwrap_or(i64::MAX / 4);
        let due = now_millis().saturating_add(wait);
        self.db
            .write(
                "UPDATE orders SET expires_at = ? WHERE id = ?",
                params![due, order_id],
            )
            .await?;
        Ok(due)
    }

    /// The account a payment waits on, as the gateway issued it.
    pub(super) async fn vbank_account(&self, payment_id: i64) -> AppResult<Option<VbankAccount>> {
        let row = sqlx::query(
            "SELECT bank_code, bank_name, account_number, holder, due_at \
             FROM vbank_accounts WHERE payment_id = ?",
        )
        .bind(payment_id)
        .fetch_optional(self.db.pool())
        .await?;
        row.map(|row| {
            Ok(VbankAccount {
                bank_code: row.try_get("bank_code")?,
                bank_name: row.try_get("bank_name")?,
                account_number: row.try_get("account_number")?,
                holder: row.try_get("holder")?,
                due_at: row.try_get("due_at")?,
            })
        })
        .transpose()
    }

    /// Revokes the payment's virtual account at the gateway so that no transfer can arrive
    /// once its order ended. When the gateway says the money came anyway, the payment is
    /// completed from its record instead: money is never lost.
    pub(super) async fn close_account(
        &self,
        payment: &PaymentRecord,
        actor: &Actor,
    ) -> AppResult<AccountClosed> {
        let Some(gw) = self.find_at_gateway(payment).await? else {
            return Ok(AccountClosed::Closed);
        };
        let gw = if gw.status == Gw::Ready {
            match self.gateway.close_account(&gw.to_ref()).await {
                Ok(_) => {
                    crate::chaos::crash_point("after-gateway-revoke");
                    return Ok(AccountClosed::Closed);
                }
                // Refused (no longer `ready`: paid or revoked meanwhile), or an unknown
                // outcome: the gateway's record says which.
                Err(GatewayError::NotFound(_)) => return Ok(AccountClosed::Closed),
                Err(_) => self
                    .gateway
                    .payment(&gw.to_ref())
                    .await
                    .map_err(gateway_error)?,
            }
        } else {
            gw
        };
        match gw.status {
            Gw::Paid => {
                self.apply_gateway(payment, &gw, actor).await?;
                Ok(AccountClosed::Paid)
            }
            Gw::Ready => Err(AppError::Gateway(
                "the gateway did not revoke the virtual account".into(),
            )),
            _ => Ok(AccountClosed::Closed),
        }
    }

    /// Revokes the account of a payment we ended; logged, since reconciliation retries it.
    pub(super) async fn revoke_logged(&self, payment: &PaymentRecord, at_gateway: &PaymentRef) {
        if let Err(err) = self.gateway.close_account(at_gateway).await {
            tracing::warn!(payment.id = payment.id, error = %err, "revoking a virtual account failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_times_in_korean_time() {
        let rows = [
            (0, "197001010900"),
            (1_796_482_740_000, "202612052359"),
            (1_796_482_740_001, "202612060000"),
            (1_796_482_799_999, "202612060000"),
            (1_709_175_600_000, "202402291200"),
        ];
        for (at, text) in rows {
            assert_eq!(pg_due_text("html5_inicis", at), text, "{at}");
        }
    }
}
