//! The V2 face's rules over the shared store: a V2 payment is a [`PaymentRecord`] whose
//! `merchant_uid` is the V2 `paymentId`, plus what only V2 shows ([`V2Extra`]): the order
//! name, the escrow's status at the PG, cancellations still refunding, a closed account.
//! Refusals are V2's typed errors ([`V2Refusal`]).

use std::collections::HashMap;

use super::{vbank, NewPayment, PaymentRecord, PaymentStatus, RefundAccount, Refusal, State};
use crate::clock::now_ms;
use crate::config::SandboxConfig;

/// A V2 failure: HTTP status and the `{type, message}` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct V2Refusal {
    pub status: u16,
    pub kind: &'static str,
    pub message: String,
}

impl V2Refusal {
    pub(crate) fn new(status: u16, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "INVALID_REQUEST", message)
    }

    fn not_found() -> Self {
        Self::new(404, "PAYMENT_NOT_FOUND", "결제 건이 존재하지 않습니다.")
    }

    fn not_paid() -> Self {
        Self::new(409, "PAYMENT_NOT_PAID", "결제가 완료되지 않았습니다.")
    }
}

/// V2 bank enum names of the banks the sandbox knows, with their KFTC codes.
const BANKS: &[(&str, &str)] = &[
    ("KDB", "002"),
    ("IBK", "003"),
    ("KOOKMIN", "004"),
    ("SUHYUP", "007"),
    ("NONGHYUP", "011"),
    ("WOORI", "020"),
    ("STANDARD_CHARTERED", "023"),
    ("CITI", "027"),
    ("DAEGU", "031"),
    ("BUSAN", "032"),
    ("KWANGJU", "034"),
    ("JEJU", "035"),
    ("JEONBUK", "037"),
    ("KYONGNAM", "039"),
    ("KFCC", "045"),
    ("SHINHYUP", "048"),
    ("POST", "071"),
    ("HANA", "081"),
    ("SHINHAN", "088"),
    ("K_BANK", "089"),
    ("KAKAO", "090"),
    ("TOSS", "092"),
];

/// The V2 `Bank` name of a KFTC code.
pub(crate) fn bank_name(kftc: &str) -> Option<&'static str> {
    BANKS.iter().find(|(_, k)| *k == kftc).map(|(n, _)| *n)
}

fn bank_kftc(name: &str) -> Option<&'static str> {
    BANKS.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
}

/// `PaymentEscrow` as the PG holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct V2Escrow {
    /// `BEFORE_REGISTERED`, `REGISTERED`, `DELIVERED`, `CONFIRMED`, `REJECTED`,
    /// `REJECT_CONFIRMED` or `CANCELLED`.
    pub status: &'static str,
    pub company: String,
    pub invoice_number: String,
    /// RFC 3339, as the merchant sent it.
    pub sent_at: String,
    pub applied_at_ms: i64,
    pub automatically_confirmed: bool,
}

/// What V2 shows of a payment beyond the shared record.
#[derive(Debug, Clone, Default)]
pub(crate) struct V2Extra {
    pub order_name: String,
    pub escrow: Option<V2Escrow>,
    /// Cancellations whose refund into the buyer's account is still under way (virtual
    /// accounts): `REQUESTED` until then, `SUCCEEDED` after.
    pub refunding: Vec<String>,
    /// `PaymentMethodVirtualAccountRefundStatus` once a cancel asked for a refund.
    pub refund_status: Option<&'static str>,
}

/// What a buyer finishing the V2 checkout chose.
#[derive(Debug, Clone, Default)]
pub(crate) struct V2NewPayment {
    pub payment_id: String,
    pub amount: i64,
    pub virtual_account: bool,
    pub escrow: bool,
    pub decline: bool,
    pub order_name: Option<String>,
    pub notice_urls: Vec<String>,
    pub customer_name: Option<String>,
}

/// `CancelPaymentBody`'s fields the rules look at.
#[derive(Debug, Clone, Default)]
pub(crate) struct V2Cancel {
    pub amount: Option<i64>,
    pub current_cancellable_amount: Option<i64>,
    pub reason: String,
    /// `(bank name, number, holder name)`.
    pub refund_account: Option<(String, String, String)>,
}

/// A cancel done: the payment after it, the cancellation's id, and whether its refund is
/// still under way (a virtual account's).
pub(crate) struct V2Cancelled {
    pub payment: PaymentRecord,
    pub cancellation_id: String,
    pub refunding: bool,
}

impl State {
    fn v2_index(&self, payment_id: &str) -> Result<usize, V2Refusal> {
        let payment = self
            .find(payment_id, None, None)
            .ok_or_else(V2Refusal::not_found)?;
        self.by_imp_uid
            .get(&payment.imp_uid)
            .copied()
            .ok_or_else(V2Refusal::not_found)
    }

    /// The payment `paymentId` names (the latest attempt), with what V2 adds to it.
    pub(crate) fn v2_payment(
        &self,
        payment_id: &str,
    ) -> Result<(PaymentRecord, V2Extra), V2Refusal> {
        let index = self.v2_index(payment_id)?;
        Ok(self.v2_view(index))
    }

    fn v2_view(&self, index: usize) -> (PaymentRecord, V2Extra) {
        let payment = self.payments[index].clone();
        let extra = self
            .v2
            .get(&payment.imp_uid)
            .cloned()
            .unwrap_or_else(|| V2Extra {
                order_name: payment.name.clone().unwrap_or_default(),
                ..V2Extra::default()
            });
        (payment, extra)
    }

    /// Every payment with its V2 view, oldest first (the sandbox holds few).
    pub(crate) fn v2_all(&self) -> Vec<(PaymentRecord, V2Extra)> {
        (0..self.payments.len()).map(|i| self.v2_view(i)).collect()
    }

    /// The V2 checkout finishing: paid by card, an account issued, or failed.
    pub(crate) fn v2_create(
        &mut self,
        cfg: &SandboxConfig,
        new: V2NewPayment,
    ) -> Result<PaymentRecord, V2Refusal> {
        if self.find(&new.payment_id, Some("paid"), None).is_some() {
            return Err(V2Refusal::new(
                409,
                "ALREADY_PAID",
                "이미 결제가 완료된 paymentId 입니다.",
            ));
        }
        let order_name = new.order_name.unwrap_or_else(|| new.payment_id.clone());
        let record = self
            .create_payment(
                cfg,
                NewPayment {
                    merchant_uid: new.payment_id,
                    amount: new.amount,
                    pay_method: Some(if new.virtual_account { "vbank" } else { "card" }.into()),
                    decline: new.decline,
                    escrow: new.escrow,
                    notice_url: new.notice_urls,
                    // V2 pre-registers no amount.
                    skip_prepare_check: true,
                    name: Some(order_name.clone()),
                    buyer_name: new.customer_name,
                    channel: "api",
                    ..NewPayment::default()
                },
            )
            .map_err(|r: Refusal| V2Refusal::invalid(r.message))?;
        let escrow = record.escrow.then(|| V2Escrow {
            status: "BEFORE_REGISTERED",
            company: String::new(),
            invoice_number: String::new(),
            sent_at: String::new(),
            applied_at_ms: 0,
            automatically_confirmed: false,
        });
        self.v2.insert(
            record.imp_uid.clone(),
            V2Extra {
                order_name,
                escrow,
                ..V2Extra::default()
            },
        );
        Ok(record)
    }

    /// `POST /payments/{paymentId}/cancel`, V2's rules, then the shared cancel.
    pub(crate) fn v2_cancel(
        &mut self,
        payment_id: &str,
        ask: V2Cancel,
    ) -> Result<V2Cancelled, V2Refusal> {
        let index = self.v2_index(payment_id)?;
        let payment = &self.payments[index];
        match payment.status {
            PaymentStatus::Paid => {}
            PaymentStatus::Cancelled if payment.paid_at > 0 => {
                return Err(V2Refusal::new(
                    409,
                    "PAYMENT_ALREADY_CANCELLED",
                    "이미 취소된 결제 건입니다.",
                ))
            }
            _ => return Err(V2Refusal::not_paid()),
        }
        let left = payment.amount - payment.cancel_amount;
        if let Some(current) = ask.current_cancellable_amount {
            if current != left {
                return Err(V2Refusal::new(
                    409,
                    "CANCELLABLE_AMOUNT_CONSISTENCY_BROKEN",
                    format!("취소 가능 금액({left}원)이 currentCancellableAmount({current}원)와 다릅니다."),
                ));
            }
        }
        match ask.amount {
            Some(a) if a <= 0 => return Err(V2Refusal::invalid("취소 금액은 0보다 커야 합니다.")),
            Some(a) if a > left => {
                return Err(V2Refusal::new(
                    409,
                    "CANCEL_AMOUNT_EXCEEDS_CANCELLABLE_AMOUNT",
                    format!("취소 금액({a}원)이 취소 가능 금액({left}원)을 초과합니다."),
                ))
            }
            _ => {}
        }
        let is_vbank = payment.pay_method == "vbank";
        let refund = if is_vbank {
            let Some((bank, number, holder)) = ask.refund_account else {
                return Err(V2Refusal::invalid(
                    "가상계좌 결제 취소에는 refundAccount가 필요합니다.",
                ));
            };
            let kftc = bank_kftc(&bank)
                .ok_or_else(|| V2Refusal::invalid(format!("지원하지 않는 은행입니다: {bank}")))?;
            // In the PG's own bank-code format, as the shared cancel checks it.
            RefundAccount {
                holder: Some(holder),
                bank: Some(vbank::pg_bank_code(&payment.pg_provider, kftc)),
                account: Some(number),
            }
        } else {
            RefundAccount::default()
        };
        let cancelled = self
            .cancel(
                Some(&payment.imp_uid.clone()),
                None,
                ask.amount,
                None,
                Some(ask.reason),
                &refund,
            )
            .map_err(|r| V2Refusal::invalid(r.message))?;
        let extra = self
            .v2
            .entry(cancelled.payment.imp_uid.clone())
            .or_default();
        if is_vbank {
            extra.refunding.push(cancelled.cancellation_id.clone());
            extra.refund_status = Some("PENDING");
        }
        Ok(V2Cancelled {
            payment: cancelled.payment,
            cancellation_id: cancelled.cancellation_id,
            refunding: is_vbank,
        })
    }

    /// A virtual account's refund arrived in the buyer's account: its cancellation
    /// succeeds, and the account's refund status completes when none is left under way.
    pub(crate) fn v2_refund_done(&mut self, imp_uid: &str, cancellation_id: &str) {
        if let Some(extra) = self.v2.get_mut(imp_uid) {
            extra.refunding.retain(|id| id != cancellation_id);
            if extra.refunding.is_empty() {
                extra.refund_status = Some("COMPLETED");
            }
        }
    }

    /// `POST` (`modify == false`) or `PATCH /payments/{paymentId}/escrow/logistics`.
    pub(crate) fn v2_logistics(
        &mut self,
        payment_id: &str,
        company: String,
        invoice_number: String,
        sent_at: String,
        modify: bool,
    ) -> Result<V2Escrow, V2Refusal> {
        let index = self.v2_index(payment_id)?;
        let payment = &self.payments[index];
        if !payment.escrow {
            return Err(V2Refusal::invalid("에스크로 결제 건이 아닙니다."));
        }
        if payment.status != PaymentStatus::Paid {
            return Err(V2Refusal::not_paid());
        }
        let imp_uid = payment.imp_uid.clone();
        let extra = self.v2.entry(imp_uid).or_default();
        let before = extra
            .escrow
            .as_ref()
            .map_or("BEFORE_REGISTERED", |e| e.status);
        match (modify, before) {
            (false, "BEFORE_REGISTERED") | (true, "REGISTERED" | "DELIVERED") => {}
            (false, _) => return Err(V2Refusal::invalid("이미 배송 정보가 등록되었습니다.")),
            (true, "BEFORE_REGISTERED") => {
                return Err(V2Refusal::invalid("등록된 배송 정보가 없습니다."))
            }
            (true, _) => {
                return Err(V2Refusal::invalid(format!(
                    "배송 정보를 수정할 수 없는 에스크로 상태입니다: {before}"
                )))
            }
        }
        let escrow = V2Escrow {
            status: if modify { before } else { "REGISTERED" },
            company,
            invoice_number,
            sent_at,
            applied_at_ms: now_ms(),
            automatically_confirmed: false,
        };
        extra.escrow = Some(escrow.clone());
        Ok(escrow)
    }

    /// The escrow moves at the PG: `POST /payments/{paymentId}/escrow/complete` (the store
    /// confirms), or a control call playing the buyer or the PG (delivered, confirmed,
    /// rejected...). Confirmation needs a registered delivery and no rejection.
    pub(crate) fn v2_escrow_to(
        &mut self,
        payment_id: &str,
        status: &'static str,
        automatically: bool,
    ) -> Result<V2Escrow, V2Refusal> {
        let index = self.v2_index(payment_id)?;
        let payment = &self.payments[index];
        if !payment.escrow {
            return Err(V2Refusal::invalid("에스크로 결제 건이 아닙니다."));
        }
        if payment.status != PaymentStatus::Paid {
            return Err(V2Refusal::not_paid());
        }
        let imp_uid = payment.imp_uid.clone();
        let extra = self.v2.entry(imp_uid).or_default();
        let Some(escrow) = extra
            .escrow
            .as_mut()
            .filter(|e| e.status != "BEFORE_REGISTERED")
        else {
            return Err(V2Refusal::invalid("배송 정보가 등록되지 않았습니다."));
        };
        let allowed = match status {
            "DELIVERED" => escrow.status == "REGISTERED",
            "CONFIRMED" | "REJECTED" => matches!(escrow.status, "REGISTERED" | "DELIVERED"),
            "REJECT_CONFIRMED" => escrow.status == "REJECTED",
            _ => false,
        };
        if !allowed {
            return Err(V2Refusal::invalid(format!(
                "에스크로 상태 {}에서 {status}(으)로 바꿀 수 없습니다.",
                escrow.status
            )));
        }
        escrow.status = status;
        escrow.automatically_confirmed = automatically;
        Ok(escrow.clone())
    }

    /// `POST /payments/{paymentId}/virtual-account/close`: no deposit after this.
    pub(crate) fn v2_close(&mut self, payment_id: &str) -> Result<PaymentRecord, V2Refusal> {
        let index = self.v2_index(payment_id)?;
        let payment = &self.payments[index];
        if payment.pay_method != "vbank" || payment.status != PaymentStatus::Ready {
            return Err(V2Refusal::new(
                409,
                "PAYMENT_NOT_WAITING_FOR_DEPOSIT",
                "입금 대기 중인 가상계좌 결제 건이 아닙니다.",
            ));
        }
        let imp_uid = payment.imp_uid.clone();
        self.revoke_vbank(&imp_uid)
            .map_err(|r| V2Refusal::invalid(r.message))
    }

    /// The buyer's transfer into a V2 virtual account (control call).
    pub(crate) fn v2_deposit(
        &mut self,
        payment_id: &str,
        amount: Option<i64>,
    ) -> Result<PaymentRecord, V2Refusal> {
        let index = self.v2_index(payment_id)?;
        let payment = &self.payments[index];
        let (imp_uid, amount) = (payment.imp_uid.clone(), amount.unwrap_or(payment.amount));
        self.deposit(&imp_uid, amount)
            .map_err(|r| V2Refusal::new(r.status, "INVALID_REQUEST", r.message))
    }
}

/// The extras of every payment, keyed by `imp_uid`.
pub(crate) type V2Extras = HashMap<String, V2Extra>;

#[cfg(test)]
mod tests {
    use super::*;

    fn with_payments() -> State {
        let cfg = SandboxConfig::default();
        let mut state = State::default();
        for (id, virtual_account) in [("card", false), ("vbank", true)] {
            let new = V2NewPayment {
                payment_id: id.into(),
                amount: 1_000,
                virtual_account,
                escrow: true,
                ..V2NewPayment::default()
            };
            assert!(state.v2_create(&cfg, new).is_ok());
        }
        state
    }

    fn ask(amount: Option<i64>, current: Option<i64>) -> V2Cancel {
        V2Cancel {
            amount,
            current_cancellable_amount: current,
            reason: "test".into(),
            refund_account: None,
        }
    }

    fn refused(result: Result<V2Cancelled, V2Refusal>) -> (u16, &'static str) {
        match result {
            Ok(_) => panic!("expected a refusal"),
            Err(r) => (r.status, r.kind),
        }
    }

    #[test]
    fn cancel_refusals_are_v2s_typed_errors() {
        let mut state = with_payments();
        let cases = [
            ("nobody", ask(None, None), (404, "PAYMENT_NOT_FOUND")),
            ("vbank", ask(None, None), (409, "PAYMENT_NOT_PAID")),
            (
                "card",
                ask(None, Some(999)),
                (409, "CANCELLABLE_AMOUNT_CONSISTENCY_BROKEN"),
            ),
            (
                "card",
                ask(Some(1_001), None),
                (409, "CANCEL_AMOUNT_EXCEEDS_CANCELLABLE_AMOUNT"),
            ),
            ("card", ask(Some(0), None), (400, "INVALID_REQUEST")),
        ];
        for (id, ask, expected) in cases {
            assert_eq!(refused(state.v2_cancel(id, ask)), expected, "{id}");
        }
        assert!(state.v2_cancel("card", ask(None, Some(1_000))).is_ok());
        assert_eq!(
            refused(state.v2_cancel("card", ask(None, None))),
            (409, "PAYMENT_ALREADY_CANCELLED")
        );
    }

    #[test]
    fn the_escrow_moves_in_the_pgs_order() {
        // (moves before, the move, allowed)
        let cases: [(&[&'static str], &'static str, bool); 7] = [
            (&[], "CONFIRMED", true),
            (&[], "DELIVERED", true),
            (&["DELIVERED"], "CONFIRMED", true),
            (&["REJECTED"], "CONFIRMED", false),
            (&["REJECTED"], "REJECT_CONFIRMED", true),
            (&["CONFIRMED"], "REJECTED", false),
            (&[], "REJECT_CONFIRMED", false),
        ];
        for (before, step, allowed) in cases {
            let mut state = with_payments();
            let registered = state.v2_logistics(
                "card",
                "CJ".into(),
                "1".into(),
                "2026-01-01T00:00:00Z".into(),
                false,
            );
            assert!(registered.is_ok());
            for earlier in before {
                assert!(
                    state.v2_escrow_to("card", earlier, false).is_ok(),
                    "{earlier}"
                );
            }
            let result = state.v2_escrow_to("card", step, false);
            assert_eq!(
                result.is_ok(),
                allowed,
                "{before:?} then {step}: {result:?}"
            );
        }
        // Nothing moves before a delivery is registered.
        let mut state = with_payments();
        assert!(state.v2_escrow_to("card", "CONFIRMED", false).is_err());
    }
}
