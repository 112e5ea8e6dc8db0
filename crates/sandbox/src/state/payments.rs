//! Payments: prepared amounts, the checkout's outcome, and finding them.

use super::{digits, vbank, NewPayment, PaymentRecord, PaymentStatus, Refusal, State};
use crate::clock::now_ms;
use crate::config::SandboxConfig;

impl State {
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
            .filter(|p| status.is_none_or(|s| p.status.as_str() == s));
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
            status: if paid {
                PaymentStatus::Paid
            } else {
                PaymentStatus::Failed
            },
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
        let index = self.payments.len();
        if paid && record.pay_method == "vbank" {
            vbank::issue(&mut record, &new.vbank, now);
        }
        self.by_status_time.insert(&record, index);
        self.by_imp_uid.insert(imp_uid, index);
        self.by_merchant_uid
            .entry(record.merchant_uid.clone())
            .or_default()
            .push(index);
        self.payments.push(record.clone());
        Ok(record)
    }
}
