//! Double-entry bookkeeping: named accounts and journals whose postings always balance.
//!
//! An account's balance is what it holds: money moved in minus money moved out. `gateway` is
//! the outside source (it goes negative as buyers pay), `refunds` and `payouts` are where money
//! leaves us; `escrow` holds buyers' money until release; `seller:<id>` is what we owe a seller;
//! `in_payout:<id>` is the seller's money in a payout batch not yet paid; `chargebacks` is what
//! card networks took back after release.

use crate::money::{MoneyError, Won};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Account {
    Gateway,
    Escrow,
    Seller(i64),
    PlatformFee,
    FeeVat,
    Refunds,
    Payouts,
    InPayout(i64),
    Chargebacks,
}

impl Account {
    pub fn parse(name: &str) -> Result<Self, String> {
        Ok(match name {
            "gateway" => Account::Gateway,
            "escrow" => Account::Escrow,
            "platform_fee" => Account::PlatformFee,
            "fee_vat" => Account::FeeVat,
            "refunds" => Account::Refunds,
            "payouts" => Account::Payouts,
            "chargebacks" => Account::Chargebacks,
            other => {
                let seller = |prefix: &str| other.strip_prefix(prefix).map(str::parse::<i64>);
                match (seller("seller:"), seller("in_payout:")) {
                    (Some(Ok(id)), _) => Account::Seller(id),
                    (_, Some(Ok(id))) => Account::InPayout(id),
                    _ => return Err(format!("unknown ledger account `{other}`")),
                }
            }
        })
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Account::Gateway => f.write_str("gateway"),
            Account::Escrow => f.write_str("escrow"),
            Account::Seller(id) => write!(f, "seller:{id}"),
            Account::PlatformFee => f.write_str("platform_fee"),
            Account::FeeVat => f.write_str("fee_vat"),
            Account::Refunds => f.write_str("refunds"),
            Account::Payouts => f.write_str("payouts"),
            Account::InPayout(id) => write!(f, "in_payout:{id}"),
            Account::Chargebacks => f.write_str("chargebacks"),
        }
    }
}

/// The business event a journal records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JournalKind {
    Capture,
    Refund,
    Release,
    Chargeback,
    /// A seller's available money put in a payout batch.
    Payout,
    PayoutPaid,
    PayoutFailed,
}

impl JournalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JournalKind::Capture => "capture",
            JournalKind::Refund => "refund",
            JournalKind::Release => "release",
            JournalKind::Chargeback => "chargeback",
            JournalKind::Payout => "payout",
            JournalKind::PayoutPaid => "payout_paid",
            JournalKind::PayoutFailed => "payout_failed",
        }
    }
}

/// Money into (`amount > 0`) or out of (`amount < 0`) one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Posting {
    pub account: Account,
    pub amount: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    #[error("a journal's postings must sum to zero; these sum to {0}")]
    Unbalanced(i64),
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// Postings of one business event that sum to zero: the only way postings are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journal {
    kind: JournalKind,
    postings: Vec<Posting>,
}

impl Journal {
    /// Checks the balance; zero postings are dropped (an account a journal does not move).
    pub fn new(kind: JournalKind, postings: Vec<Posting>) -> Result<Self, JournalError> {
        let postings: Vec<Posting> = postings.into_iter().filter(|p| p.amount != 0).collect();
        let sum = postings
            .iter()
            .try_fold(0i64, |sum, p| sum.checked_add(p.amount))
            .ok_or(MoneyError::TooLarge)?;
        if sum != 0 {
            return Err(JournalError::Unbalanced(sum));
        }
        Ok(Self { kind, postings })
    }

    /// `amount` out of `from`, split over `to` (whose shares must add up to it).
    pub fn split(
        kind: JournalKind,
        from: Account,
        amount: Won,
        to: &[(Account, Won)],
    ) -> Result<Self, JournalError> {
        let postings = std::iter::once(Posting {
            account: from,
            amount: -amount.get(),
        })
        .chain(to.iter().map(|(account, share)| Posting {
            account: *account,
            amount: share.get(),
        }))
        .collect();
        Self::new(kind, postings)
    }

    /// `amount` from one account to another: balanced by construction.
    pub fn transfer(kind: JournalKind, from: Account, to: Account, amount: Won) -> Self {
        let postings = vec![
            Posting {
                account: from,
                amount: -amount.get(),
            },
            Posting {
                account: to,
                amount: amount.get(),
            },
        ];
        Self {
            kind,
            postings: postings.into_iter().filter(|p| p.amount != 0).collect(),
        }
    }

    pub fn kind(&self) -> JournalKind {
        self.kind
    }

    pub fn postings(&self) -> &[Posting] {
        &self.postings
    }

    /// What this journal moves into (or out of, negative) `account`.
    pub fn net(&self, account: Account) -> i64 {
        self.postings
            .iter()
            .filter(|p| p.account == account)
            .map(|p| p.amount)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn won(amount: i64) -> Won {
        Won::new(amount).unwrap_or(Won::ZERO)
    }

    #[test]
    fn account_names_round_trip() {
        for account in [
            Account::Gateway,
            Account::Escrow,
            Account::Seller(42),
            Account::PlatformFee,
            Account::FeeVat,
            Account::Refunds,
            Account::Payouts,
            Account::InPayout(42),
            Account::Chargebacks,
        ] {
            assert_eq!(Account::parse(&account.to_string()), Ok(account));
        }
        for bad in ["", "seller:", "seller:x", "in_payout:", "buyer", "Escrow"] {
            assert!(Account::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn journals_balance_or_are_refused() {
        type Case<'a> = (&'a [(Account, i64)], Result<usize, JournalError>);
        let cases: &[Case] = &[
            (&[(Account::Gateway, -100), (Account::Escrow, 100)], Ok(2)),
            (
                &[(Account::Gateway, -100), (Account::Escrow, 99)],
                Err(JournalError::Unbalanced(-1)),
            ),
            (&[(Account::Escrow, 0)], Ok(0)),
            (
                &[
                    (Account::Escrow, -10),
                    (Account::Seller(1), 7),
                    (Account::PlatformFee, 3),
                ],
                Ok(3),
            ),
            (
                &[(Account::Escrow, i64::MAX), (Account::Seller(1), 1)],
                Err(JournalError::Money(MoneyError::TooLarge)),
            ),
        ];
        for (postings, expected) in cases {
            let postings = postings
                .iter()
                .map(|(account, amount)| Posting {
                    account: *account,
                    amount: *amount,
                })
                .collect();
            let made = Journal::new(JournalKind::Release, postings).map(|j| j.postings().len());
            assert_eq!(&made, expected);
        }
    }

    #[test]
    fn a_split_must_add_up() {
        let shares = [
            (Account::Seller(3), won(8_900)),
            (Account::PlatformFee, won(1_000)),
            (Account::FeeVat, won(100)),
        ];
        let journal = Journal::split(JournalKind::Release, Account::Escrow, won(10_000), &shares);
        assert_eq!(journal.map(|j| j.net(Account::Escrow)), Ok(-10_000));
        let short = Journal::split(JournalKind::Release, Account::Escrow, won(10_001), &shares);
        assert_eq!(short, Err(JournalError::Unbalanced(-1)));
        let transfer = Journal::transfer(
            JournalKind::Capture,
            Account::Gateway,
            Account::Escrow,
            won(5),
        );
        assert_eq!(
            transfer.net(Account::Gateway) + transfer.net(Account::Escrow),
            0
        );
    }
}
