//! `/payments/*`, the gateway's webhook, settlements, and the admin's ledger and
//! reconciliation.

mod admin;
mod handlers;
mod payouts;
mod settlements;
mod webhooks;
mod wire;

pub use admin::*;
pub use handlers::*;
pub use payouts::*;
pub use settlements::*;
pub use webhooks::*;
