//! `POST /payments/cancel`: whole and partial cancellations of a paid payment.

use super::{
    hex, listing, vbank, CancelRecord, PaymentRecord, PaymentStatus, RefundAccount, Refusal, State,
};
use crate::clock::now_ms;

/// A cancellation done, and what to notify.
pub(crate) struct Cancelled {
    pub payment: PaymentRecord,
    pub cancellation_id: String,
}

impl State {
    /// `POST /payments/cancel` rules.
    pub(crate) fn cancel(
        &mut self,
        imp_uid: Option<&str>,
        merchant_uid: Option<&str>,
        amount: Option<i64>,
        checksum: Option<i64>,
        reason: Option<String>,
        refund: &RefundAccount,
    ) -> Result<Cancelled, Refusal> {
        let index = match (imp_uid.filter(|s| !s.is_empty()), merchant_uid) {
            (Some(imp_uid), _) => self.by_imp_uid.get(imp_uid).copied(),
            (None, Some(merchant_uid)) if !merchant_uid.is_empty() => {
                // The paid one if any, else the latest attempt (which will be refused).
                let found = self
                    .find(merchant_uid, Some("paid"), None)
                    .or_else(|| self.find(merchant_uid, None, None));
                found.and_then(|p| self.by_imp_uid.get(&p.imp_uid).copied())
            }
            _ => {
                return Err(Refusal::cancel(
                    "imp_uid 또는 merchant_uid 를 지정해주셔야합니다.",
                ))
            }
        };
        let Some(index) = index else {
            return Err(Refusal::cancel("취소할 결제건이 존재하지 않습니다."));
        };
        let payment = &mut self.payments[index];
        let indexed_at = listing::StatusTimeIndex::position(payment);
        match payment.status {
            PaymentStatus::Paid => {}
            PaymentStatus::Cancelled => return Err(Refusal::cancel("이미 전액취소된 주문입니다.")),
            _ => {
                return Err(Refusal::cancel(
                    "결제완료 상태가 아닌 주문은 취소할 수 없습니다.",
                ))
            }
        }
        if payment.pay_method == "vbank" {
            vbank::check_refund_account(&payment.pg_provider, refund)?;
        }
        let left = payment.amount - payment.cancel_amount;
        if let Some(checksum) = checksum {
            if checksum != left {
                return Err(Refusal::cancel(format!(
                    "checksum({checksum}원)이 취소가능금액({left}원)과 일치하지 않습니다."
                )));
            }
        }
        let amount = match amount {
            None | Some(0) => left,
            Some(a) if a < 0 => return Err(Refusal::cancel("취소금액은 0보다 커야 합니다.")),
            Some(a) if a > left => {
                return Err(Refusal::cancel(format!(
                    "취소요청금액({a}원)이 취소가능금액({left}원)을 초과합니다."
                )))
            }
            Some(a) => a,
        };
        let now_ms = now_ms();
        let now = now_ms / 1000;
        let cancellation_id = format!("cancel_{}", hex(16));
        let receipt_url = format!(
            "https://iniweb.inicis.com/DefaultWebApp/mall/cr/cm/mCmReceipt_head.jsp?noTid={}&cancel={}",
            payment.pg_tid.as_deref().unwrap_or_default(),
            payment.cancel_history.len() + 1
        );
        payment.cancel_amount += amount;
        payment.cancel_history.push(CancelRecord {
            pg_tid: payment.pg_tid.clone().unwrap_or_default(),
            amount,
            cancelled_at: now,
            reason: reason.clone().unwrap_or_default(),
            receipt_url: receipt_url.clone(),
            cancellation_id: cancellation_id.clone(),
        });
        payment.cancel_receipt_urls.push(receipt_url);
        payment.cancel_reason = reason;
        payment.cancelled_at = now;
        if payment.cancel_amount == payment.amount {
            payment.status = PaymentStatus::Cancelled;
        }
        payment.updated_at = now_ms;
        let payment = payment.clone();
        self.by_status_time.update(indexed_at, &payment, index);
        Ok(Cancelled {
            payment,
            cancellation_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{paid, refusal};
    use super::*;

    /// The gateway answers every refused cancel with HTTP 200 and code 1 (checked against
    /// the official clients, tests/clients/).
    #[test]
    fn cancel_refusals_are_http_200_code_1() {
        let mut state = State::default();
        let imp_uid = paid(&mut state, "m-1", 1000);
        let cases = [
            (Some("imp_000000000000"), None, None, None),
            (None, Some("nobody"), None, None),
            (None, None, None, None),
            (Some(imp_uid.as_str()), None, Some(1001), None),
            (Some(imp_uid.as_str()), None, Some(100), Some(999)),
        ];
        for (imp, mid, amount, checksum) in cases {
            let r =
                refusal(state.cancel(imp, mid, amount, checksum, None, &RefundAccount::default()));
            assert_eq!((r.status, r.code), (200, 1), "{r:?}");
        }
        let unknown = refusal(state.cancel(
            Some("nothing"),
            None,
            None,
            None,
            None,
            &RefundAccount::default(),
        ));
        assert_eq!(unknown.message, "취소할 결제건이 존재하지 않습니다.");
        assert!(state
            .cancel(
                Some(&imp_uid),
                None,
                None,
                None,
                None,
                &RefundAccount::default()
            )
            .is_ok());
        let again = refusal(state.cancel(
            Some(&imp_uid),
            None,
            None,
            None,
            None,
            &RefundAccount::default(),
        ));
        assert_eq!(
            (again.status, again.code, again.message.as_str()),
            (200, 1, "이미 전액취소된 주문입니다.")
        );
        // Other calls keep their HTTP error statuses.
        assert_eq!(refusal(state.prepare("", 1)).status, 400);
    }
}
