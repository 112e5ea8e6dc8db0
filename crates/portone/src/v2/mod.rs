//! PortOne V2 REST client (`https://api.portone.io`): the [`PortOneV2`] trait and
//! [`PortOneV2Client`], authenticated with `Authorization: PortOne <API secret>`.
//!
//! Calls: `GET /payments/{paymentId}`, `POST /payments/{paymentId}/cancel`,
//! `POST|PATCH /payments/{paymentId}/escrow/logistics`, `POST /payments/{paymentId}/escrow/complete`,
//! `POST /payments/{paymentId}/virtual-account/close`, `GET /payments` and
//! `GET /payments-by-cursor`. Refusals are the gateway's typed errors (`{type, message}`) as
//! [`V2Error`] variants; [`V2Error::outcome_known`] says whether the gateway may have acted.

mod client;
mod config;
mod error;
mod types;

pub use client::{PortOneV2, PortOneV2Client};
pub use config::V2Config;
pub use error::V2Error;
pub use types::{
    CancelRequest, CancelResponse, CancellationStatus, CloseVirtualAccountResponse, CursorPage,
    CursorQuery, EscrowCompleteResponse, EscrowLogisticsRequest, EscrowLogisticsResponse,
    EscrowParty, EscrowStatus, Logistics, PageInfo, Payment, PaymentAmount, PaymentCancellation,
    PaymentEscrow, PaymentFailure, PaymentMethod, PaymentMethodCard, PaymentMethodVirtualAccount,
    PaymentStatus, PaymentWithCursor, PaymentsPage, PaymentsQuery, RefundAccount, SelectedChannel,
    TimestampType, VirtualAccountRefundStatus,
};
