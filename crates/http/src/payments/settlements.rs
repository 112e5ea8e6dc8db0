//! A seller's settlements: what each release owes them.

use crate::error::ApiError;
use crate::extract::Auth;
use crate::state::AppState;
use crate::wire::rfc3339;
use axum::extract::State;
use axum::Json;
use escrow_core::payments::Settlement;
use escrow_domain::Won;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct SettlementBody {
    pub payment_id: i64,
    pub order_id: i64,
    pub gross_amount: i64,
    pub fee_amount: i64,
    /// VAT on the fee, also charged to the seller.
    pub fee_vat_amount: i64,
    pub net_amount: i64,
    pub released_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SettlementsBody {
    pub items: Vec<SettlementBody>,
    pub total_gross: i64,
    pub total_fee: i64,
    pub total_fee_vat: i64,
    pub total_net: i64,
}

/// The seller's released payments, less the platform fee.
#[utoipa::path(get, path = "/settlements", tag = "payments", security(("bearer" = [])),
    responses((status = 200, body = SettlementsBody)))]
pub async fn list_settlements(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<SettlementsBody>, ApiError> {
    let items = state.payments.settlements(caller).await?;
    let total = |amount: fn(&Settlement) -> Won| items.iter().map(|s| amount(s).get()).sum::<i64>();
    let body = SettlementsBody {
        total_gross: total(|s| s.gross_amount),
        total_fee: total(|s| s.fee_amount),
        total_fee_vat: total(|s| s.fee_vat_amount),
        total_net: total(|s| s.net_amount),
        items: items
            .into_iter()
            .map(|s| SettlementBody {
                payment_id: s.payment_id,
                order_id: s.order_id,
                gross_amount: s.gross_amount.get(),
                fee_amount: s.fee_amount.get(),
                fee_vat_amount: s.fee_vat_amount.get(),
                net_amount: s.net_amount.get(),
                released_at: rfc3339(s.released_at),
            })
            .collect(),
    };
    Ok(Json(body))
}
