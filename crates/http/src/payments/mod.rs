//! `/payments/*`, the gateway's webhook, settlements, and the admin's ledger and
//! reconciliation.

mod admin;
mod handlers;
mod payouts;
mod returns;
mod settlements;
mod vbank;
mod webhooks;
mod wire;

pub use admin::*;
pub use handlers::*;
pub use payouts::*;
pub use returns::*;
pub use settlements::*;
pub use vbank::{__path_list_banks, list_banks};
pub use webhooks::*;
