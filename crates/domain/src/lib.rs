//! Pure domain types of the escrow service: parsed inputs, money, roles and durations.
//! Nothing here does I/O; everything is unit-tested beside it.

pub mod banks;
pub mod duration;
pub mod escrow;
pub mod ledger;
pub mod lifecycle;
pub mod member;
pub mod money;
pub mod settlement;
pub mod validation;

pub use duration::parse_duration;
pub use escrow::{EscrowStatus, FailureCode, OrderStatus, PaymentStatus, RefundStatus};
pub use member::{Email, Password, Role};
pub use money::{Bps, Won};
pub use validation::{FieldError, FieldErrors};
