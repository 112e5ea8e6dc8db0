//! The simulator's memory and the gateway's rules: tokens, payments, prepared amounts,
//! cancellations and escrow deliveries. No I/O here; handlers lock, call, unlock.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::config::SandboxConfig;
use crate::faults::{Fault, FaultTarget};
use crate::webhooks::WebhookAttempt;

mod listing;
mod vbank;

pub(crate) use listing::{BatchQuery, ListQuery};
pub(crate) use vbank::{kftc_of, RefundAccount, VbankAsk};

/// Unix time in milliseconds (sandbox-internal precision; the wire uses seconds).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

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

#[derive(Debug, Clone, Serialize)]
pub(crate) struct CancelRecord {
    pub pg_tid: String,
    pub amount: i64,
    pub cancelled_at: i64,
    pub reason: String,
    pub receipt_url: String,
    pub cancellation_id: String,
}

/// The payment object exactly as `GET /payments/{imp_uid}` serializes it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PaymentRecord {
    pub imp_uid: String,
    pub merchant_uid: String,
    pub pay_method: String,
    pub channel: String,
    pub pg_provider: String,
    pub emb_pg_provider: Option<String>,
    pub pg_tid: Option<String>,
    pub pg_id: String,
    pub escrow: bool,
    pub apply_num: Option<String>,
    pub bank_code: Option<String>,
    pub bank_name: Option<String>,
    pub card_code: Option<String>,
    pub card_name: Option<String>,
    pub card_quota: i64,
    pub card_number: Option<String>,
    pub card_type: Option<i64>,
    pub vbank_code: Option<String>,
    pub vbank_name: Option<String>,
    pub vbank_num: Option<String>,
    pub vbank_holder: Option<String>,
    pub vbank_date: i64,
    pub vbank_issued_at: i64,
    pub name: Option<String>,
    pub amount: i64,
    pub cancel_amount: i64,
    pub currency: String,
    pub buyer_name: Option<String>,
    pub buyer_email: Option<String>,
    pub buyer_tel: Option<String>,
    pub buyer_addr: Option<String>,
    pub buyer_postcode: Option<String>,
    pub custom_data: Option<String>,
    pub user_agent: Option<String>,
    pub status: &'static str,
    pub started_at: i64,
    pub paid_at: i64,
    pub failed_at: i64,
    pub cancelled_at: i64,
    pub fail_reason: Option<String>,
    pub cancel_reason: Option<String>,
    pub receipt_url: Option<String>,
    pub cancel_history: Vec<CancelRecord>,
    pub cancel_receipt_urls: Vec<String>,
    pub cash_receipt_issued: bool,
    pub customer_uid: Option<String>,
    pub customer_uid_usage: Option<String>,
    #[serde(skip)]
    pub notice_url: Option<String>,
    /// Creation order, to break ties between payments started in the same second.
    #[serde(skip)]
    pub seq: u64,
    #[serde(skip)]
    pub updated_at: i64,
}

/// What a buyer finishing the checkout chose, plus the merchant's `request_pay` params.
#[derive(Debug, Clone, Default)]
pub(crate) struct NewPayment {
    pub merchant_uid: String,
    pub amount: i64,
    pub pay_method: Option<String>,
    pub pg_provider: Option<String>,
    pub decline: bool,
    pub escrow: bool,
    pub notice_url: Option<String>,
    pub skip_prepare_check: bool,
    pub name: Option<String>,
    pub buyer_name: Option<String>,
    pub buyer_email: Option<String>,
    pub buyer_tel: Option<String>,
    pub buyer_addr: Option<String>,
    pub buyer_postcode: Option<String>,
    pub custom_data: Option<String>,
    pub card_number: Option<String>,
    pub channel: &'static str,
    pub user_agent: Option<String>,
    /// When the checkout happened (unix seconds, not in the future); now when `None`.
    pub at: Option<i64>,
    /// For `pay_method: "vbank"`: the account to issue.
    pub vbank: VbankAsk,
}

/// Escrow delivery party; which fields are required depends on the PG.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Party {
    pub name: Option<String>,
    pub tel: Option<String>,
    pub addr: Option<String>,
    pub postcode: Option<String>,
    pub relationship: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct LogisInfo {
    pub company: Option<String>,
    pub invoice: Option<String>,
    pub sent_at: Option<i64>,
    pub receiving_at: Option<String>,
    pub address: Option<String>,
}

/// `POST|PUT /escrows/logis/{imp_uid}` body.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct LogisRequest {
    #[serde(default)]
    pub sender: Party,
    #[serde(default)]
    pub receiver: Party,
    #[serde(default)]
    pub logis: LogisInfo,
}

/// A registered delivery as answered by the logis calls.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LogisRecord {
    pub company: String,
    pub invoice: String,
    pub sent_at: i64,
    pub applied_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receiving_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Who the merchant said sends and receives it: the gateway keeps them but its logis
    /// calls do not answer them; `GET /_sandbox/escrows/{imp_uid}` shows them.
    #[serde(skip)]
    pub sender: Party,
    #[serde(skip)]
    pub receiver: Party,
}

/// A registered delivery with its parties, as `GET /_sandbox/escrows/{imp_uid}` shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RegisteredDelivery {
    pub sender: Party,
    pub receiver: Party,
    pub logis: LogisRecord,
}

/// Courier codes the gateway knows; anything else is recorded as `ETC`.
///
/// The gateway's table (developers.portone.io "택배사 코드": HYUNDAI, HANARO, SAGAWA, KGB,
/// YELLOWCAP, DONGBU, EPOST, CJGLS, HANJIN, DAESIN, ETC) plus the codes of
/// `shared/portone-v1.md`.
const COURIERS: &[&str] = &[
    "HANARO",
    "SAGAWA",
    "YELLOWCAP",
    "DONGBU",
    "CJGLS",
    "HANJIN",
    "EPOST",
    "HYUNDAI",
    "KGB",
    "DAESIN",
    "ILYANG",
    "KDEXP",
    "CVSNET",
    "CHUNIL",
    "HDEXP",
    "HONAM",
    "REGISTPOST",
    "ETC",
];

/// A cancellation done, and what to notify.
pub(crate) struct Cancelled {
    pub payment: PaymentRecord,
    pub cancellation_id: String,
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
    payments: Vec<PaymentRecord>,
    by_imp_uid: HashMap<String, usize>,
    /// Every payment of an order (a retried checkout makes another), for `find` without a
    /// scan of all payments under the state's lock.
    by_merchant_uid: HashMap<String, Vec<usize>>,
    by_status_time: listing::StatusTimeIndex,
    prepared: HashMap<String, i64>,
    logis: HashMap<String, LogisRecord>,
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

fn missing(value: &Option<String>) -> bool {
    value.as_deref().is_none_or(|v| v.trim().is_empty())
}

impl State {
    // ---- tokens -------------------------------------------------------------------

    /// `/users/getToken`: same token while valid, extended in its last window, a new one
    /// after expiry. Returns (token, now s, expired_at s).
    pub(crate) fn issue_token(&mut self, cfg: &SandboxConfig) -> (String, i64, i64) {
        let now = now_ms();
        self.token_requests += 1;
        self.tokens.retain(|_, exp| *exp > now);
        let window = i64::try_from(cfg.token_renew_window.as_millis()).unwrap_or(i64::MAX);
        let extension = i64::try_from(cfg.token_extension.as_millis()).unwrap_or(i64::MAX);
        if let Some(token) = self.current_token.clone() {
            if let Some(exp) = self.tokens.get_mut(&token) {
                if *exp - now <= window {
                    *exp = exp.saturating_add(extension);
                }
                return (token, now / 1000, *exp / 1000);
            }
        }
        let token = hex(40);
        let ttl = i64::try_from(cfg.token_ttl.as_millis()).unwrap_or(i64::MAX);
        let exp = now.saturating_add(ttl);
        self.tokens.insert(token.clone(), exp);
        self.current_token = Some(token.clone());
        self.tokens_issued += 1;
        (token, now / 1000, exp / 1000)
    }

    pub(crate) fn token_valid(&self, token: &str) -> bool {
        self.tokens.get(token).is_some_and(|exp| *exp > now_ms())
    }

    /// Test control: every issued token expires now.
    pub(crate) fn expire_tokens(&mut self) {
        self.tokens.clear();
        self.current_token = None;
    }

    // ---- faults -------------------------------------------------------------------

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

    // ---- payments -----------------------------------------------------------------

    pub(crate) fn payment(&self, imp_uid: &str) -> Option<&PaymentRecord> {
        self.by_imp_uid.get(imp_uid).map(|&i| &self.payments[i])
    }

    /// The latest payment for `merchant_uid` (optionally in `status`), by `sorting`
    /// (`-started` default, also `started`, `-paid`, `paid`, `-updated`, `updated`).
    pub(crate) fn find(
        &self,
        merchant_uid: &str,
        status: Option<&str>,
        sorting: Option<&str>,
    ) -> Option<&PaymentRecord> {
        let sorting = sorting.unwrap_or("-started");
        let key = |p: &PaymentRecord| {
            let t = match sorting.trim_start_matches('-') {
                "paid" => p.paid_at,
                "updated" => p.updated_at,
                _ => p.started_at,
            };
            (t, p.seq)
        };
        let candidates = self
            .by_merchant_uid
            .get(merchant_uid)
            .into_iter()
            .flatten()
            .map(|&i| &self.payments[i])
            .filter(|p| status.is_none_or(|s| p.status == s));
        if sorting.starts_with('-') {
            candidates.max_by_key(|p| key(p))
        } else {
            candidates.min_by_key(|p| key(p))
        }
    }

    pub(crate) fn prepare(&mut self, merchant_uid: &str, amount: i64) -> Result<(), Refusal> {
        if merchant_uid.is_empty() || merchant_uid.len() > 40 {
            return Err(Refusal::new(400, "merchant_uid는 1~40자여야 합니다."));
        }
        if amount <= 0 {
            return Err(Refusal::new(400, "결제예정금액은 0보다 커야 합니다."));
        }
        if self.prepared.contains_key(merchant_uid) {
            return Err(Refusal::new(400, "이미 등록된 merchant_uid 입니다."));
        }
        self.prepared.insert(merchant_uid.to_owned(), amount);
        Ok(())
    }

    pub(crate) fn prepared(&self, merchant_uid: &str) -> Option<i64> {
        self.prepared.get(merchant_uid).copied()
    }

    /// The checkout finishing: the payment ends `paid` or `failed` (declined, or an amount
    /// other than the prepared one). Refused outright only for unusable input or an order
    /// that is already paid.
    pub(crate) fn create_payment(
        &mut self,
        cfg: &SandboxConfig,
        new: NewPayment,
    ) -> Result<PaymentRecord, Refusal> {
        if new.merchant_uid.is_empty() || new.merchant_uid.len() > 40 {
            return Err(Refusal::new(400, "merchant_uid는 1~40자여야 합니다."));
        }
        if new.amount <= 0 {
            return Err(Refusal::new(400, "결제금액은 0보다 커야 합니다."));
        }
        if self.find(&new.merchant_uid, Some("paid"), None).is_some() {
            return Err(Refusal::new(400, "이미 결제완료된 merchant_uid 입니다."));
        }
        let now_ms = now_ms();
        let (now, updated_at) = match new.at {
            None => (now_ms / 1000, now_ms),
            Some(at) if at > 0 && at <= now_ms / 1000 => (at, at * 1000),
            Some(_) => {
                return Err(Refusal::new(
                    400,
                    "at must be a unix time in seconds, not in the future",
                ))
            }
        };
        let pay_method = new.pay_method.unwrap_or_else(|| "card".into());
        if pay_method == "vbank" {
            vbank::check_ask(&new.vbank, now)?;
        }
        self.seq += 1;
        let imp_uid = format!("imp_{}", digits(12));
        let pg_provider = new
            .pg_provider
            .map(|pg| pg.split('.').next().unwrap_or_default().to_owned())
            .filter(|pg| !pg.is_empty())
            .unwrap_or_else(|| cfg.pg_provider.clone());
        let is_card = pay_method == "card";
        let card_digits: String = new
            .card_number
            .as_deref()
            .unwrap_or("4242424242424242")
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let masked = (card_digits.len() >= 10).then(|| {
            format!(
                "{}{}{}",
                &card_digits[..6],
                "*".repeat(card_digits.len() - 10),
                &card_digits[card_digits.len() - 4..]
            )
        });
        let prepared_mismatch = !new.skip_prepare_check
            && self
                .prepared
                .get(&new.merchant_uid)
                .is_some_and(|&p| p != new.amount);
        let fail_reason = if prepared_mismatch {
            Some(format!(
                "사전 등록된 결제금액({}원)과 결제요청금액({}원)이 다릅니다.",
                self.prepared.get(&new.merchant_uid).copied().unwrap_or(0),
                new.amount
            ))
        } else if new.decline {
            Some("[sandbox] 카드사 승인 거절".to_owned())
        } else {
            None
        };
        let paid = fail_reason.is_none();
        let pg_tid = format!("StdpayCARDINIpayTest{}", digits(16));
        let mut record = PaymentRecord {
            imp_uid: imp_uid.clone(),
            merchant_uid: new.merchant_uid,
            pay_method,
            channel: new.channel.to_owned(),
            pg_provider,
            emb_pg_provider: None,
            pg_tid: paid.then(|| pg_tid.clone()),
            pg_id: "INIpayTest".into(),
            escrow: new.escrow,
            apply_num: (paid && is_card).then(|| digits(8)),
            bank_code: None,
            bank_name: None,
            card_code: is_card.then(|| "366".to_owned()),
            card_name: is_card.then(|| "신한카드".to_owned()),
            card_quota: 0,
            card_number: if is_card { masked } else { None },
            card_type: is_card.then_some(0),
            vbank_code: None,
            vbank_name: None,
            vbank_num: None,
            vbank_holder: None,
            vbank_date: 0,
            vbank_issued_at: 0,
            name: new.name,
            amount: new.amount,
            cancel_amount: 0,
            currency: "KRW".into(),
            buyer_name: new.buyer_name,
            buyer_email: new.buyer_email,
            buyer_tel: new.buyer_tel,
            buyer_addr: new.buyer_addr,
            buyer_postcode: new.buyer_postcode,
            custom_data: new.custom_data,
            user_agent: new.user_agent,
            status: if paid { "paid" } else { "failed" },
            started_at: now,
            paid_at: if paid { now } else { 0 },
            failed_at: if paid { 0 } else { now },
            cancelled_at: 0,
            fail_reason,
            cancel_reason: None,
            receipt_url: paid.then(|| {
                format!("https://iniweb.inicis.com/DefaultWebApp/mall/cr/cm/mCmReceipt_head.jsp?noTid={pg_tid}&noMethod=1")
            }),
            cancel_history: Vec::new(),
            cancel_receipt_urls: Vec::new(),
            cash_receipt_issued: false,
            customer_uid: None,
            customer_uid_usage: None,
            notice_url: new.notice_url,
            seq: self.seq,
            updated_at,
        };
        if paid && record.pay_method == "vbank" {
            vbank::issue(&mut record, &new.vbank, now);
        }
        let index = self.payments.len();
        self.by_status_time.insert(&record, index);
        self.by_imp_uid.insert(imp_uid, index);
        self.by_merchant_uid
            .entry(record.merchant_uid.clone())
            .or_default()
            .push(index);
        self.payments.push(record.clone());
        Ok(record)
    }

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
            "paid" => {}
            "cancelled" => return Err(Refusal::cancel("이미 전액취소된 주문입니다.")),
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
            payment.status = "cancelled";
        }
        payment.updated_at = now_ms;
        let payment = payment.clone();
        self.by_status_time.update(indexed_at, &payment, index);
        Ok(Cancelled {
            payment,
            cancellation_id,
        })
    }

    // ---- escrow deliveries ----------------------------------------------------------

    /// Register (`update == false`) or change a delivery for a paid escrow payment.
    pub(crate) fn save_logis(
        &mut self,
        imp_uid: &str,
        request: LogisRequest,
        update: bool,
    ) -> Result<LogisRecord, Refusal> {
        let Some(payment) = self.payment(imp_uid) else {
            return Err(Refusal::new(
                404,
                "배송정보를 등록할 거래건이 존재하지 않습니다.",
            ));
        };
        if !payment.escrow {
            return Err(Refusal::new(400, "에스크로 결제건이 아닙니다."));
        }
        if payment.status != "paid" {
            return Err(Refusal::new(400, "결제완료 상태의 거래건이 아닙니다."));
        }
        let pg = payment.pg_provider.clone();
        match (update, self.logis.contains_key(imp_uid)) {
            (false, true) => {
                return Err(Refusal::new(
                    409,
                    "이미 배송정보가 등록되어 있습니다. 수정은 PUT으로 요청해주세요.",
                ))
            }
            (true, false) => return Err(Refusal::new(409, "등록된 배송정보가 존재하지 않습니다.")),
            _ => {}
        }
        let LogisRequest {
            sender,
            receiver,
            logis,
        } = request;
        let mut required: Vec<(&str, &Option<String>)> = vec![
            ("logis.company", &logis.company),
            ("logis.invoice", &logis.invoice),
        ];
        if pg.contains("inicis") {
            required.extend([
                ("sender.name", &sender.name),
                ("sender.tel", &sender.tel),
                ("sender.addr", &sender.addr),
                ("sender.postcode", &sender.postcode),
                ("receiver.name", &receiver.name),
                ("receiver.tel", &receiver.tel),
                ("receiver.addr", &receiver.addr),
                ("receiver.postcode", &receiver.postcode),
            ]);
        }
        if pg == "daou" {
            required.extend([
                ("sender.relationship", &sender.relationship),
                ("logis.receiving_at", &logis.receiving_at),
                ("logis.address", &logis.address),
            ]);
        }
        if let Some((field, _)) = required.iter().find(|(_, v)| missing(v)) {
            return Err(Refusal::new(
                400,
                format!("{field} 값이 누락되었습니다. ({pg})"),
            ));
        }
        let Some(sent_at) = logis.sent_at.filter(|t| *t > 0) else {
            return Err(Refusal::new(400, "logis.sent_at 값이 누락되었습니다."));
        };
        let company = logis.company.unwrap_or_default().trim().to_uppercase();
        let company = if COURIERS.contains(&company.as_str()) {
            company
        } else {
            "ETC".to_owned()
        };
        let record = LogisRecord {
            company,
            invoice: logis.invoice.unwrap_or_default(),
            sent_at,
            applied_at: now_ms() / 1000,
            receiving_at: logis.receiving_at,
            address: logis.address,
            sender,
            receiver,
        };
        self.logis.insert(imp_uid.to_owned(), record.clone());
        Ok(record)
    }

    pub(crate) fn logis(&self, imp_uid: &str) -> Result<LogisRecord, Refusal> {
        if self.payment(imp_uid).is_none() {
            return Err(Refusal::new(
                404,
                "배송정보를 조회할 거래건이 존재하지 않습니다.",
            ));
        }
        self.logis
            .get(imp_uid)
            .cloned()
            .ok_or_else(|| Refusal::new(409, "등록된 배송정보가 존재하지 않습니다."))
    }

    /// The delivery registered for a payment with the parties the merchant named; `None`
    /// when none is registered.
    pub(crate) fn registered_delivery(&self, imp_uid: &str) -> Option<RegisteredDelivery> {
        self.logis.get(imp_uid).map(|logis| RegisteredDelivery {
            sender: logis.sender.clone(),
            receiver: logis.receiver.clone(),
            logis: logis.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paid(state: &mut State, merchant_uid: &str, amount: i64) -> String {
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

    fn refusal<T>(result: Result<T, Refusal>) -> Refusal {
        match result {
            Ok(_) => panic!("expected a refusal"),
            Err(e) => e,
        }
    }

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

    #[test]
    fn courier_codes_of_the_gateway_table_are_kept() {
        let mut state = State::default();
        let imp_uid = paid(&mut state, "m-2", 1000);
        let party = Party {
            name: Some("a".into()),
            tel: Some("010".into()),
            addr: Some("addr".into()),
            postcode: Some("06018".into()),
            relationship: None,
        };
        let table = [
            "HYUNDAI",
            "HANARO",
            "SAGAWA",
            "KGB",
            "YELLOWCAP",
            "DONGBU",
            "EPOST",
            "CJGLS",
            "HANJIN",
            "DAESIN",
            "ETC",
        ];
        for (i, company) in table.into_iter().chain(["LOGEN", "nope"]).enumerate() {
            let request = LogisRequest {
                sender: party.clone(),
                receiver: party.clone(),
                logis: LogisInfo {
                    company: Some(company.into()),
                    invoice: Some("1".into()),
                    sent_at: Some(1_700_000_000),
                    ..LogisInfo::default()
                },
            };
            let saved = match state.save_logis(&imp_uid, request, i > 0) {
                Ok(r) => r.company,
                Err(e) => panic!("{company}: {e:?}"),
            };
            let expected = if table.contains(&company) {
                company
            } else {
                "ETC"
            };
            assert_eq!(saved, expected);
        }
    }
}
