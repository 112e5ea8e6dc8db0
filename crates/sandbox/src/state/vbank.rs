//! Virtual accounts: issuing one, the buyer's bank transfer into it, revoking it, and the
//! refund account a cancel of a paid one needs, in the PG's own bank-code format.

use super::{digits, listing, PaymentRecord, PaymentStatus, Refusal, State};
use crate::clock::now_ms;

/// Banks the sandbox issues accounts at and refunds to: KFTC standard code and name.
pub(crate) const BANKS: &[(&str, &str)] = &[
    ("002", "KDB산업은행"),
    ("003", "IBK기업은행"),
    ("004", "KB국민은행"),
    ("007", "수협은행"),
    ("011", "NH농협은행"),
    ("020", "우리은행"),
    ("023", "SC제일은행"),
    ("027", "한국씨티은행"),
    ("031", "iM뱅크"),
    ("032", "부산은행"),
    ("034", "광주은행"),
    ("035", "제주은행"),
    ("037", "전북은행"),
    ("039", "경남은행"),
    ("045", "새마을금고"),
    ("048", "신협"),
    ("071", "우체국"),
    ("081", "하나은행"),
    ("088", "신한은행"),
    ("089", "케이뱅크"),
    ("090", "카카오뱅크"),
    ("092", "토스뱅크"),
];

/// Where an account is issued when the checkout names no bank.
pub(crate) const DEFAULT_BANK: &str = "004";
/// How long an account waits for its deposit when the checkout names no due time.
const DEFAULT_DUE_S: i64 = 24 * 60 * 60;
const HOLDER: &str = "(주)에스크로샌드박스";

/// `kftc`'s code in `pg`'s own format: two digits at KG Inicis, `BK` and two digits at
/// NHN KCP, the KFTC code itself elsewhere.
pub(crate) fn pg_bank_code(pg: &str, kftc: &str) -> String {
    let short = kftc.get(1..).unwrap_or(kftc);
    if pg.contains("inicis") {
        short.to_owned()
    } else if pg.starts_with("kcp") {
        format!("BK{short}")
    } else {
        kftc.to_owned()
    }
}

/// Whether `POST /vbanks` at `pg` needs `vbank_holder` (the V1 reference's per-PG rule;
/// elsewhere the merchant's name is used).
pub(crate) fn holder_required(pg: &str) -> bool {
    pg.contains("inicis") || matches!(pg, "nice" | "settle" | "smartro_v2")
}

/// The known bank a code in `pg`'s format names, as its KFTC code.
pub(crate) fn kftc_of(pg: &str, code: &str) -> Option<&'static str> {
    BANKS
        .iter()
        .map(|(kftc, _)| *kftc)
        .find(|kftc| pg_bank_code(pg, kftc) == code)
}

fn bank_name(kftc: &str) -> Option<&'static str> {
    BANKS.iter().find(|(k, _)| *k == kftc).map(|(_, n)| *n)
}

/// What an issue asks for beyond the payment itself.
#[derive(Debug, Clone, Default)]
pub(crate) struct VbankAsk {
    /// KFTC code; [`DEFAULT_BANK`] when `None`.
    pub bank: Option<String>,
    /// Unix seconds; a day ahead when `None`.
    pub due: Option<i64>,
    pub holder: Option<String>,
}

/// Where a cancel of a paid virtual-account payment sends the money back.
#[derive(Debug, Clone, Default)]
pub(crate) struct RefundAccount {
    pub holder: Option<String>,
    pub bank: Option<String>,
    pub account: Option<String>,
}

/// Checks the ask before a payment is made of it.
pub(crate) fn check_ask(ask: &VbankAsk, now: i64) -> Result<(), Refusal> {
    if let Some(bank) = ask.bank.as_deref() {
        if bank_name(bank).is_none() {
            return Err(Refusal::new(
                400,
                format!("지원하지 않는 은행코드입니다: {bank}"),
            ));
        }
    }
    if ask.due.is_some_and(|due| due <= now) {
        return Err(Refusal::new(400, "가상계좌 입금기한이 이미 지났습니다."));
    }
    Ok(())
}

/// Turns a just-accepted checkout into an issued account waiting for its deposit.
pub(crate) fn issue(record: &mut PaymentRecord, ask: &VbankAsk, now: i64) {
    let bank = ask.bank.as_deref().unwrap_or(DEFAULT_BANK);
    record.status = PaymentStatus::Ready;
    record.paid_at = 0;
    record.apply_num = None;
    record.receipt_url = None;
    record.vbank_code = Some(bank.to_owned());
    record.vbank_name = bank_name(bank).map(str::to_owned);
    record.vbank_num = Some(format!("{}{}", digits(4), digits(10)));
    record.vbank_holder = Some(ask.holder.clone().unwrap_or_else(|| HOLDER.to_owned()));
    record.vbank_date = ask.due.unwrap_or(now + DEFAULT_DUE_S);
    record.vbank_issued_at = now;
}

fn filled(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// The refund account a cancel of a paid vbank payment at `pg` needs, or why it is refused.
pub(crate) fn check_refund_account(pg: &str, refund: &RefundAccount) -> Result<(), Refusal> {
    let (Some(holder), Some(bank), Some(account)) = (
        filled(&refund.holder),
        filled(&refund.bank),
        filled(&refund.account),
    ) else {
        return Err(Refusal::cancel(
            "가상계좌 환불에는 refund_holder, refund_bank, refund_account 가 필요합니다.",
        ));
    };
    if kftc_of(pg, bank).is_none() {
        return Err(Refusal::cancel(format!(
            "환불계좌 은행코드({bank})가 올바르지 않습니다. ({pg})"
        )));
    }
    let digits_only = account.chars().filter(|c| *c != '-').collect::<String>();
    if digits_only.len() < 6 || !digits_only.chars().all(|c| c.is_ascii_digit()) {
        return Err(Refusal::cancel("환불계좌 계좌번호가 올바르지 않습니다."));
    }
    if holder.chars().count() > 30 {
        return Err(Refusal::cancel("환불계좌 예금주명이 너무 깁니다."));
    }
    Ok(())
}

impl State {
    fn vbank_index(&self, imp_uid: &str) -> Result<usize, Refusal> {
        let index = *self
            .by_imp_uid
            .get(imp_uid)
            .ok_or_else(|| Refusal::new(404, "존재하지 않는 결제정보입니다."))?;
        if self.payments[index].pay_method != "vbank" {
            return Err(Refusal::new(400, "가상계좌 결제건이 아닙니다."));
        }
        Ok(index)
    }

    /// A bank transfer into the account: the exact amount before the due time pays it;
    /// anything else is refused (409) and changes nothing.
    pub(crate) fn deposit(&mut self, imp_uid: &str, amount: i64) -> Result<PaymentRecord, Refusal> {
        let index = self.vbank_index(imp_uid).map_err(|r| match r.status {
            404 => r,
            _ => Refusal::new(409, r.message),
        })?;
        let now_ms = now_ms();
        let payment = &mut self.payments[index];
        match payment.status {
            PaymentStatus::Ready => {}
            PaymentStatus::Cancelled => {
                return Err(Refusal::new(
                    409,
                    "말소된 가상계좌입니다. 입금할 수 없습니다.",
                ))
            }
            _ => return Err(Refusal::new(409, "입금대기 상태의 가상계좌가 아닙니다.")),
        }
        if now_ms / 1000 >= payment.vbank_date {
            return Err(Refusal::new(409, "입금기한이 지난 가상계좌입니다."));
        }
        if amount != payment.amount {
            return Err(Refusal::new(
                409,
                format!(
                    "입금액({amount}원)이 가상계좌 입금예정금액({}원)과 다릅니다.",
                    payment.amount
                ),
            ));
        }
        let indexed_at = listing::StatusTimeIndex::position(payment);
        payment.status = PaymentStatus::Paid;
        payment.paid_at = now_ms / 1000;
        payment.updated_at = now_ms;
        payment.receipt_url = payment.pg_tid.as_ref().map(|tid| {
            format!("https://iniweb.inicis.com/DefaultWebApp/mall/cr/cm/mCmReceipt_head.jsp?noTid={tid}&noMethod=4")
        });
        let payment = payment.clone();
        self.by_status_time.update(indexed_at, &payment, index);
        Ok(payment)
    }

    /// `DELETE /vbanks/{imp_uid}`: an account with no deposit is revoked and its payment
    /// cancelled, so that a late transfer is refused.
    pub(crate) fn revoke_vbank(&mut self, imp_uid: &str) -> Result<PaymentRecord, Refusal> {
        let index = self.vbank_index(imp_uid)?;
        let now_ms = now_ms();
        let payment = &mut self.payments[index];
        if payment.status != PaymentStatus::Ready {
            return Err(Refusal::new(
                400,
                "가상계좌가 입금대기 상태(ready)가 아닙니다.",
            ));
        }
        let indexed_at = listing::StatusTimeIndex::position(payment);
        payment.status = PaymentStatus::Cancelled;
        payment.cancelled_at = now_ms / 1000;
        payment.cancel_reason = Some("가상계좌 발급취소".into());
        payment.updated_at = now_ms;
        let payment = payment.clone();
        self.by_status_time.update(indexed_at, &payment, index);
        Ok(payment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bank_codes_in_each_pg_format() {
        let rows = [
            ("html5_inicis", "004", "04"),
            ("inicis", "088", "88"),
            ("kcp", "004", "BK04"),
            ("tosspayments", "090", "090"),
        ];
        for (pg, kftc, code) in rows {
            assert_eq!(pg_bank_code(pg, kftc), code, "{pg} {kftc}");
            assert_eq!(kftc_of(pg, code), Some(kftc), "{pg} {code}");
        }
        assert_eq!(kftc_of("html5_inicis", "004"), None);
        assert_eq!(kftc_of("html5_inicis", "99"), None);
    }

    #[test]
    fn holder_required_where_the_reference_says() {
        let rows = [
            ("html5_inicis", true),
            ("inicis", true),
            ("nice", true),
            ("settle", true),
            ("smartro_v2", true),
            ("tosspayments", false),
            ("ksnet", false),
            ("welcome", false),
            ("kcp", false),
        ];
        for (pg, expected) in rows {
            assert_eq!(holder_required(pg), expected, "{pg}");
        }
    }

    #[test]
    fn refund_account_rules() {
        let account = |holder: &str, bank: &str, number: &str| RefundAccount {
            holder: Some(holder.into()),
            bank: Some(bank.into()),
            account: Some(number.into()),
        };
        assert!(
            check_refund_account("html5_inicis", &account("홍길동", "04", "123-456-7890")).is_ok()
        );
        let refused = [
            RefundAccount::default(),
            account("", "04", "1234567890"),
            account("홍길동", "004", "1234567890"),
            account("홍길동", "04", "12ab567890"),
            account("홍길동", "04", "123"),
        ];
        for refund in refused {
            let r = check_refund_account("html5_inicis", &refund).err();
            assert_eq!(r.map(|r| (r.status, r.code)), Some((200, 1)), "{refund:?}");
        }
    }
}
