//! Money: an integer number of Korean won. Never a float.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The largest single amount the service accepts: 10 billion won. Anything above it is a
/// typing error or an attack, and keeping far below `i64::MAX` makes sums overflow-free.
pub const MAX_WON: i64 = 10_000_000_000;

/// An amount of won, always within `0..=MAX_WON`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Won(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("must not be negative")]
    Negative,
    #[error("must be at most {MAX_WON} won")]
    TooLarge,
    #[error("must be greater than 0")]
    Zero,
    #[error("must be at most 10000 basis points (100 %)")]
    RateTooLarge,
}

impl Won {
    pub const ZERO: Won = Won(0);

    /// Any amount from zero up to the limit.
    pub fn new(amount: i64) -> Result<Self, MoneyError> {
        if amount < 0 {
            Err(MoneyError::Negative)
        } else if amount > MAX_WON {
            Err(MoneyError::TooLarge)
        } else {
            Ok(Won(amount))
        }
    }

    /// A price or a payment: strictly positive.
    pub fn positive(amount: i64) -> Result<Self, MoneyError> {
        match Self::new(amount)? {
            Won(0) => Err(MoneyError::Zero),
            won => Ok(won),
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }

    /// `self × quantity`, refused past the limit.
    pub fn times(self, quantity: i64) -> Result<Self, MoneyError> {
        self.0
            .checked_mul(quantity)
            .ok_or(MoneyError::TooLarge)
            .and_then(Self::new)
    }

    pub fn checked_add(self, other: Won) -> Result<Self, MoneyError> {
        Self::new(self.0 + other.0)
    }

    pub fn checked_sub(self, other: Won) -> Result<Self, MoneyError> {
        Self::new(self.0 - other.0)
    }
}

/// A rate in basis points (1/100 of a percent), from 0 to 100 %.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Bps(u32);

impl Bps {
    pub const ZERO: Bps = Bps(0);
    pub const WHOLE: u32 = 10_000;

    pub fn new(bps: u32) -> Result<Self, MoneyError> {
        if bps > Self::WHOLE {
            Err(MoneyError::RateTooLarge)
        } else {
            Ok(Bps(bps))
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }

    /// This share of `amount`, rounded down (nobody pays a fractional won). Total: a share of
    /// at most 100 % of an amount within bounds is within bounds.
    pub fn of(self, amount: Won) -> Won {
        Won(amount.0 * i64::from(self.0) / i64::from(Self::WHOLE))
    }
}

impl fmt::Display for Won {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}원", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert_eq!(Won::new(-1), Err(MoneyError::Negative));
        assert_eq!(Won::new(MAX_WON + 1), Err(MoneyError::TooLarge));
        assert_eq!(Won::positive(0), Err(MoneyError::Zero));
        assert_eq!(Won::positive(1).map(Won::get), Ok(1));
    }

    #[test]
    fn arithmetic_is_checked() {
        let price = Won::positive(MAX_WON / 2).unwrap_or(Won::ZERO);
        assert!(price.times(3).is_err());
        assert!(price.times(i64::MAX).is_err());
        assert_eq!(Won::ZERO.checked_sub(Won(1)), Err(MoneyError::Negative));
    }

    #[test]
    fn rates_round_down_and_stay_within_bounds() {
        for (amount, bps, share) in [
            (10_001, 250, 250),
            (999, 0, 0),
            (999, 10_000, 999),
            (1, 9_999, 0),
            (MAX_WON, 10_000, MAX_WON),
            (250, 1_000, 25),
            (259, 1_000, 25),
        ] {
            let rate = Bps::new(bps).unwrap_or(Bps::ZERO);
            assert_eq!(rate.of(Won(amount)), Won(share), "{bps} bps of {amount}");
        }
        assert_eq!(Bps::new(10_001), Err(MoneyError::RateTooLarge));
    }
}
