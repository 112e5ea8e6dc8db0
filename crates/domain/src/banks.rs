//! Korean banks by their KFTC standard code (금융결제원 표준코드), the codes the API speaks,
//! and the form each PG wants them in; a buyer's refund account and a seller's payout account.

use crate::validation::{bounded_text, FieldErrors};

/// The banks the service knows: KFTC code and name (virtual accounts, refunds, payouts).
pub const BANKS: &[(&str, &str)] = &[
    ("002", "KDB산업은행"),
    ("003", "IBK기업은행"),
    ("004", "KB국민은행"),
    ("007", "수협은행"),
    ("011", "NH농협은행"),
    ("012", "지역농축협"),
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
    ("050", "저축은행"),
    ("064", "산림조합"),
    ("071", "우체국"),
    ("081", "하나은행"),
    ("088", "신한은행"),
    ("089", "케이뱅크"),
    ("090", "카카오뱅크"),
    ("092", "토스뱅크"),
];

/// The name of the bank with KFTC code `code`.
pub fn bank_name(code: &str) -> Option<&'static str> {
    BANKS.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}

/// `kftc`'s code as `pg` (a PortOne PG id such as `html5_inicis`) wants it: two digits at
/// KG Inicis, `BK` and two digits at NHN KCP, the KFTC code itself elsewhere.
pub fn pg_bank_code(pg: &str, kftc: &str) -> String {
    let short = kftc.get(1..).unwrap_or(kftc);
    if pg.contains("inicis") {
        short.to_owned()
    } else if pg.starts_with("kcp") {
        format!("BK{short}")
    } else {
        kftc.to_owned()
    }
}

/// PortOne V2's `Bank` enum names of the banks above, by KFTC code: V2 names banks so,
/// never by a code.
const V2_BANKS: &[(&str, &str)] = &[
    ("002", "KDB"),
    ("003", "IBK"),
    ("004", "KOOKMIN"),
    ("007", "SUHYUP"),
    ("011", "NONGHYUP"),
    ("012", "LOCAL_NONGHYUP"),
    ("020", "WOORI"),
    ("023", "STANDARD_CHARTERED"),
    ("027", "CITI"),
    ("031", "DAEGU"),
    ("032", "BUSAN"),
    ("034", "KWANGJU"),
    ("035", "JEJU"),
    ("037", "JEONBUK"),
    ("039", "KYONGNAM"),
    ("045", "KFCC"),
    ("048", "SHINHYUP"),
    ("050", "SAVINGS_BANK"),
    ("064", "NATIONAL_FORESTRY_COOPERATIVE_FEDERATION"),
    ("071", "POST"),
    ("081", "HANA"),
    ("088", "SHINHAN"),
    ("089", "K_BANK"),
    ("090", "KAKAO"),
    ("092", "TOSS"),
];

/// The V2 `Bank` name of KFTC code `kftc`.
pub fn v2_bank(kftc: &str) -> Option<&'static str> {
    V2_BANKS.iter().find(|(c, _)| *c == kftc).map(|(_, n)| *n)
}

/// The KFTC code of V2 `Bank` name `name`.
pub fn kftc_of_v2_bank(name: &str) -> Option<&'static str> {
    V2_BANKS.iter().find(|(_, n)| *n == name).map(|(c, _)| *c)
}

/// Where a refund of a virtual-account payment is sent: the buyer's own account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundAccount {
    /// KFTC code.
    pub bank_code: String,
    /// Digits only.
    pub account_number: String,
    pub holder: String,
}

impl RefundAccount {
    /// Checks each field; errors name them as `refund_account.<field>`.
    pub fn parse(bank_code: &str, account_number: &str, holder: &str) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let bank_code = bank_code.trim();
        if bank_name(bank_code).is_none() {
            errors.add(
                "refund_account.bank_code",
                "must be a KFTC bank code from GET /banks, such as 004",
            );
        }
        let number: String = account_number
            .trim()
            .chars()
            .filter(|c| *c != '-' && *c != ' ')
            .collect();
        if !(6..=20).contains(&number.len()) || !number.chars().all(|c| c.is_ascii_digit()) {
            errors.add(
                "refund_account.account_number",
                "must be 6 to 20 digits (hyphens allowed)",
            );
        }
        let holder = holder.trim();
        if holder.is_empty() || holder.chars().count() > 30 || holder.chars().any(char::is_control)
        {
            errors.add("refund_account.holder", "must be 1 to 30 characters");
        }
        errors.finish()?;
        Ok(Self {
            bank_code: bank_code.to_owned(),
            account_number: number,
            holder: holder.to_owned(),
        })
    }
}

/// A seller's account for payouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankAccount {
    pub bank_code: String,
    /// Digits only; the hyphens people type are dropped.
    pub account_number: String,
    pub holder: String,
}

impl BankAccount {
    pub fn parse(bank_code: &str, account_number: &str, holder: &str) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let bank_code = bank_code.trim();
        if !BANKS.iter().any(|(code, _)| *code == bank_code) {
            errors.add("bank_code", "must be a KFTC bank code such as 004 or 088");
        }
        let digits: String = account_number
            .trim()
            .chars()
            .filter(|c| *c != '-')
            .collect();
        if !digits.chars().all(|c| c.is_ascii_digit()) {
            errors.add("account_number", "must be digits (hyphens allowed)");
        } else if !(10..=16).contains(&digits.len()) {
            errors.add("account_number", "must have 10 to 16 digits");
        }
        let holder = errors.check("holder", bounded_text(holder, 1, 50));
        // A transfer file is opened in spreadsheets, which run cells that start like formulas.
        if holder
            .as_deref()
            .is_some_and(|h| h.starts_with(['=', '+', '-', '@']))
        {
            errors.add("holder", "must not start with =, +, - or @");
        }
        errors.finish()?;
        Ok(Self {
            bank_code: bank_code.to_owned(),
            account_number: digits,
            holder: holder.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_in_each_pgs_format() {
        let rows = [
            ("html5_inicis", "004", "04"),
            ("inicis", "088", "88"),
            ("kcp", "090", "BK90"),
            ("tosspayments", "004", "004"),
            ("nice", "020", "020"),
        ];
        for (pg, kftc, expected) in rows {
            assert_eq!(pg_bank_code(pg, kftc), expected, "{pg} {kftc}");
        }
        assert_eq!(bank_name("088"), Some("신한은행"));
        assert_eq!(bank_name("04"), None);
    }

    #[test]
    fn every_bank_has_its_v2_name_both_ways() {
        for (code, _) in BANKS {
            let name = v2_bank(code).unwrap_or_else(|| panic!("{code} has no V2 name"));
            assert_eq!(kftc_of_v2_bank(name), Some(*code), "{name}");
        }
        assert_eq!(v2_bank("088"), Some("SHINHAN"));
        assert_eq!(kftc_of_v2_bank("NOT_A_BANK"), None);
    }

    #[test]
    fn refund_accounts() {
        let ok = RefundAccount::parse("004", "123-456-789012", " 홍길동 ");
        assert_eq!(
            ok.ok(),
            Some(RefundAccount {
                bank_code: "004".into(),
                account_number: "123456789012".into(),
                holder: "홍길동".into(),
            })
        );
        let rows = [
            ("04", "1234567890", "홍길동", "refund_account.bank_code"),
            ("999", "1234567890", "홍길동", "refund_account.bank_code"),
            ("004", "12345", "홍길동", "refund_account.account_number"),
            (
                "004",
                "12ab567890",
                "홍길동",
                "refund_account.account_number",
            ),
            ("004", "1234567890", "", "refund_account.holder"),
            (
                "004",
                "1234567890",
                &"가".repeat(31),
                "refund_account.holder",
            ),
        ];
        for (bank, number, holder, field) in rows {
            let errors = RefundAccount::parse(bank, number, holder).err().map(|e| {
                e.into_vec()
                    .into_iter()
                    .map(|f| f.field)
                    .collect::<Vec<_>>()
            });
            assert_eq!(
                errors,
                Some(vec![field.to_string()]),
                "{bank} {number} {holder}"
            );
        }
    }

    #[test]
    fn bank_accounts_are_checked_field_by_field() {
        type Case<'a> = (&'a str, &'a str, &'a str, Result<&'a str, &'a [&'a str]>);
        let cases: &[Case] = &[
            ("004", "123-456-789012", "김판매", Ok("123456789012")),
            ("090", "3333012345678", " Kim Seller ", Ok("3333012345678")),
            ("999", "123456789012", "김판매", Err(&["bank_code"])),
            ("4", "123456789012", "김판매", Err(&["bank_code"])),
            ("004", "12345", "김판매", Err(&["account_number"])),
            (
                "004",
                "12345678901234567",
                "김판매",
                Err(&["account_number"]),
            ),
            ("004", "1234a6789012", "김판매", Err(&["account_number"])),
            ("004", "123456789012", "  ", Err(&["holder"])),
            ("004", "123456789012", "=HYPERLINK(1)", Err(&["holder"])),
            ("", "", "", Err(&["bank_code", "account_number", "holder"])),
        ];
        for (code, number, holder, expected) in cases {
            let parsed = BankAccount::parse(code, number, holder);
            match (parsed, expected) {
                (Ok(account), Ok(digits)) => {
                    assert_eq!(account.account_number, *digits);
                    assert_eq!(account.holder, holder.trim());
                }
                (Err(errors), Err(fields)) => {
                    let got: Vec<String> = errors.into_vec().into_iter().map(|e| e.field).collect();
                    assert_eq!(got, *fields, "{code} {number} {holder}");
                }
                (got, _) => panic!("{code} {number} {holder}: {got:?}"),
            }
        }
    }
}
