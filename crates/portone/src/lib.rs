//! PortOne REST clients. V1 (I'mport) at the crate's root: the [`PortOne`] trait the service depends on and
//! [`PortOneClient`], its reqwest implementation with a shared access-token cache.
//!
//! Calls: `/users/getToken`, `/payments/*` (one payment, a status list by time window, or
//! many by imp_uid), `/escrows/logis/*`, `/vbanks` (issue, revoke), every answer wrapped in
//! the V1 `{code, message, response}` envelope. Failures are [`PortOneError`]s that say
//! whether the gateway may have acted ([`PortOneError::outcome_known`]).
//!
//! V2 (`https://api.portone.io`, PortOne's current API) is the [`v2`] module.

mod client;
mod config;
mod de;
mod error;
mod types;
pub mod v2;

pub use client::{PortOne, PortOneClient};
pub use config::ClientConfig;
pub use error::PortOneError;
pub use types::{
    AccessToken, CancelHistory, CancelRequest, Envelope, EscrowLogis, EscrowLogisInfo,
    EscrowLogisRecord, EscrowReceiver, EscrowSender, Payment, PaymentListQuery, PaymentPage,
    PaymentStatus, Prepared, Sorting, StatusFilter, VbankRequest,
};
