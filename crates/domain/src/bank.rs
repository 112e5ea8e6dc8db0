//! A seller's bank account for payouts: a KFTC bank code, the account's digits, the holder.

use crate::validation::{bounded_text, FieldErrors};

/// KFTC (금융결제원) codes of the banks that take bulk transfers.
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
