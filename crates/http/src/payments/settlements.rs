//! A seller's settlements: lines, balance and upcoming dates; chargebacks after release.

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery, Auth, PathId};
use crate::orders::PageQuery;
use crate::state::AppState;
use crate::wire::rfc3339;
use axum::extract::State;
use axum::Json;
use escrow_core::page::PageRequest;
use escrow_core::payments::{Balance, Settlement};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct SettlementBody {
    pub line_id: i64,
    pub payment_id: i64,
    pub order_id: i64,
    /// `release`, or `chargeback` (negative amounts).
    pub kind: String,
    pub gross_amount: i64,
    pub fee_amount: i64,
    /// VAT on the fee, also charged to the seller.
    pub fee_vat_amount: i64,
    pub net_amount: i64,
    pub released_at: String,
    /// `YYYY-MM-DD` (Korean time): from this date the net amount can be paid out.
    pub available_on: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl From<Settlement> for SettlementBody {
    fn from(s: Settlement) -> Self {
        Self {
            line_id: s.id,
            payment_id: s.payment_id,
            order_id: s.order_id,
            kind: s.kind,
            gross_amount: s.gross_amount,
            fee_amount: s.fee_amount,
            fee_vat_amount: s.fee_vat_amount,
            net_amount: s.net_amount,
            released_at: rfc3339(s.released_at),
            available_on: s.available_on,
            reason: s.reason,
        }
    }
}

/// The seller's money, from the ledger.
#[derive(Debug, Serialize, ToSchema)]
pub struct BalanceBody {
    /// Released, not available yet.
    pub pending: i64,
    /// May be paid out; below zero after a chargeback, recovered before any payout.
    pub available: i64,
    /// In a payout batch not yet marked paid: neither available nor paid out.
    pub in_payout: i64,
    pub paid_out: i64,
}

impl From<Balance> for BalanceBody {
    fn from(b: Balance) -> Self {
        Self {
            pending: b.pending,
            available: b.available,
            in_payout: b.in_payout,
            paid_out: b.paid_out,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UpcomingBody {
    pub available_on: String,
    pub amount: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SettlementsBody {
    /// Newest first.
    pub items: Vec<SettlementBody>,
    pub next_cursor: Option<String>,
    pub balance: BalanceBody,
    /// Pending money by the date it becomes available, soonest first.
    pub upcoming: Vec<UpcomingBody>,
    /// Sums over all the seller's lines, not only this page.
    pub total_gross: i64,
    pub total_fee: i64,
    pub total_fee_vat: i64,
    pub total_net: i64,
}

/// The seller's settlement lines, newest first, with the balance.
#[utoipa::path(get, path = "/settlements", tag = "payments", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = SettlementsBody), (status = 403, body = crate::error::Problem)))]
pub async fn list_settlements(
    State(state): State<AppState>,
    Auth(caller): Auth,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<SettlementsBody>, ApiError> {
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let view = state.payments.settlements(caller, page).await?;
    Ok(Json(SettlementsBody {
        items: view.lines.items.into_iter().map(Into::into).collect(),
        next_cursor: view.lines.next_cursor,
        balance: view.balance.into(),
        upcoming: view
            .upcoming
            .into_iter()
            .map(|(available_on, amount)| UpcomingBody {
                available_on,
                amount,
            })
            .collect(),
        total_gross: view.totals.gross,
        total_fee: view.totals.fee,
        total_fee_vat: view.totals.fee_vat,
        total_net: view.totals.net,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChargebackRequest {
    /// Won taken back from the seller.
    pub amount: i64,
    pub reason: String,
}

/// An admin records a chargeback after release: a negative line, recovered before any payout.
#[utoipa::path(post, path = "/payments/{payment_id}/chargeback", tag = "admin", request_body = ChargebackRequest,
    params(("payment_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = SettlementBody), (status = 403, body = crate::error::Problem),
              (status = 409, description = "invalid_state: not released", body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn chargeback_payment(
    State(state): State<AppState>,
    Auth(caller): Auth,
    PathId(payment_id): PathId,
    ApiJson(body): ApiJson<ChargebackRequest>,
) -> Result<Json<SettlementBody>, ApiError> {
    let line = state
        .payments
        .chargeback(caller, payment_id, body.amount, &body.reason)
        .await?;
    Ok(Json(line.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OverdueBody {
    pub payment_id: i64,
    pub order_id: i64,
    pub seller_id: i64,
    pub net_amount: i64,
    /// The part not paid out yet (payouts pay the oldest lines first).
    pub unpaid_amount: i64,
    pub released_at: String,
    /// `released_at` plus `ESCROW_SETTLEMENT_DEADLINE`.
    pub due_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OverdueListBody {
    /// Oldest release first.
    pub items: Vec<OverdueBody>,
}

/// Released money not paid out within the settlement deadline of its release.
#[utoipa::path(get, path = "/admin/settlements/overdue", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = OverdueListBody), (status = 403, body = crate::error::Problem)))]
pub async fn list_overdue_settlements(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<OverdueListBody>, ApiError> {
    let lines = state.payments.overdue_settlements(caller).await?;
    Ok(Json(OverdueListBody {
        items: lines
            .into_iter()
            .map(|line| OverdueBody {
                payment_id: line.payment_id,
                order_id: line.order_id,
                seller_id: line.seller_id,
                net_amount: line.net_amount,
                unpaid_amount: line.unpaid_amount,
                released_at: rfc3339(line.released_at),
                due_at: rfc3339(line.due_at),
            })
            .collect(),
    }))
}
