//! The simulator's memory and the gateway's rules: tokens, payments, prepared amounts,
//! cancellations and escrow deliveries. No I/O here; handlers lock, call, unlock.

use std::collections::HashMap;

use rand::Rng;

use crate::faults::{Fault, FaultTarget};
use crate::webhooks::WebhookAttempt;

mod cancel;
mod escrow;
mod listing;
mod payments;
mod records;
mod tokens;
mod v2;
mod vbank;

pub(crate) use listing::{BatchQuery, ListQuery};
pub(crate) use records::{
    CancelRecord, LogisRecord, LogisRequest, NewPayment, PaymentRecord, PaymentStatus,
    RegisteredDelivery,
};
pub(crate) use v2::{
    bank_name as v2_bank_name, V2Cancel, V2Escrow, V2Extra, V2NewPayment, V2Refusal,
};
pub(crate) use vbank::{holder_required, kftc_of, RefundAccount, VbankAsk};

/// A refusal as the gateway words it: HTTP status, envelope `code` and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub status: u16,
    pub code: i64,
    pub message: String,
}

impl Refusal {
    /// An HTTP error status with envelope `code` -1.
    pub(crate) fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            code: -1,
            message: message.into(),
        }
    }

    /// A refused `POST /payments/cancel`: the gateway answers these with HTTP **200** and
    /// `code: 1` (its docs: "응답 코드가 200이라도 code가 0이 아니면 환불에 실패"; the
    /// official Python client's tests expect `ResponseError(code=1, "취소할 결제건이 존재하지
    /// 않습니다.")`, which it raises only for HTTP 200).
    pub(crate) fn cancel(message: impl Into<String>) -> Self {
        Self {
            status: 200,
            code: 1,
            message: message.into(),
        }
    }
}

#[derive(Default)]
pub(crate) struct State {
    /// Every token handed out, with its expiry (ms); never revoked before expiry.
    tokens: HashMap<String, i64>,
    current_token: Option<String>,
    pub token_requests: u64,
    pub tokens_issued: usize,
    /// `GET /payments/{imp_uid}` calls answered (found or not).
    pub payment_lookups: u64,
    /// `GET /payments/status/{payment_status}` calls answered.
    pub status_list_requests: u64,
    /// `GET /payments?imp_uid[]=` calls answered.
    pub batch_lookup_requests: u64,
    /// Every REST call (any route, tokens included): what a merchant's job cost the gateway.
    pub rest_calls: u64,
    payments: Vec<PaymentRecord>,
    by_imp_uid: HashMap<String, usize>,
    /// Every payment of an order (a retried checkout makes another), for `find` without a
    /// scan of all payments under the state's lock.
    by_merchant_uid: HashMap<String, Vec<usize>>,
    by_status_time: listing::StatusTimeIndex,
    prepared: HashMap<String, i64>,
    logis: HashMap<String, LogisRecord>,
    /// What only the V2 face shows, by `imp_uid`.
    v2: v2::V2Extras,
    api_fault: Option<Fault>,
    webhook_fault: Option<Fault>,
    pub webhook_log: std::collections::VecDeque<WebhookAttempt>,
    seq: u64,
}

fn digits(n: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

fn hex(n: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect()
}

impl State {
    pub(crate) fn set_fault(&mut self, fault: Fault) {
        let slot = match fault.target {
            FaultTarget::Api => &mut self.api_fault,
            FaultTarget::Webhook => &mut self.webhook_fault,
        };
        *slot = (fault.count > 0).then_some(fault);
    }

    pub(crate) fn clear_faults(&mut self) {
        self.api_fault = None;
        self.webhook_fault = None;
    }

    /// Consume one use of the fault on `target`, if any.
    pub(crate) fn take_fault(&mut self, target: FaultTarget) -> Option<Fault> {
        let slot = match target {
            FaultTarget::Api => &mut self.api_fault,
            FaultTarget::Webhook => &mut self.webhook_fault,
        };
        let fault = slot.as_mut()?;
        let taken = fault.clone();
        fault.count -= 1;
        if fault.count == 0 {
            *slot = None;
        }
        Some(taken)
    }
}

#[cfg(test)]
pub(super) mod test_support {
    use super::{NewPayment, Refusal, State};
    use crate::config::SandboxConfig;

    pub(crate) fn paid(state: &mut State, merchant_uid: &str, amount: i64) -> String {
        let new = NewPayment {
            merchant_uid: merchant_uid.into(),
            amount,
            escrow: true,
            channel: "pc",
            ..NewPayment::default()
        };
        match state.create_payment(&SandboxConfig::default(), new) {
            Ok(p) => p.imp_uid,
            Err(e) => panic!("payment refused: {e:?}"),
        }
    }

    pub(crate) fn refusal<T>(result: Result<T, Refusal>) -> Refusal {
        match result {
            Ok(_) => panic!("expected a refusal"),
            Err(e) => e,
        }
    }
}
