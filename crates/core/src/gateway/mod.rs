//! The payment gateway behind one port: `port` says what the service asks of it, in its
//! own words; `v1` and `v2` are the adapters over PortOne's V1 and V2 APIs, chosen by
//! configuration (`PORTONE_API_VERSION`).

mod port;
pub mod v1;
pub mod v2;

pub use port::{
    CancelRequest, Cancellation, ChangedPage, ChangedQuery, Contact, Delivery, EscrowAtPg, Gateway,
    GatewayError, GatewayPayment, GatewayStatus, IssuedAccount, PaymentRef,
};
