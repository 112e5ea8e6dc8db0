//! Sellers' bank accounts and the admin's payout batches.

use crate::error::{ApiError, Problem};
use crate::extract::{parse_json, ApiJson, Auth, PathId, PathIds};
use crate::state::AppState;
use crate::wire::rfc3339;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use bytes::Bytes;
use escrow_core::payments::{BankAccountRecord, Payout, PayoutItem, PayoutOutcome};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
pub struct BankAccountRequest {
    /// The KFTC 3-digit bank code, e.g. `004` (KB국민), `088` (신한), `090` (카카오뱅크).
    pub bank_code: String,
    /// 10 to 16 digits; hyphens are dropped.
    pub account_number: String,
    pub holder: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BankAccountBody {
    pub bank_code: String,
    pub bank_name: String,
    pub account_number: String,
    pub holder: String,
    pub updated_at: String,
}

impl From<BankAccountRecord> for BankAccountBody {
    fn from(a: BankAccountRecord) -> Self {
        Self {
            bank_code: a.bank_code,
            bank_name: a.bank_name,
            account_number: a.account_number,
            holder: a.holder,
            updated_at: rfc3339(a.updated_at),
        }
    }
}

/// The seller sets the account payouts go to.
#[utoipa::path(put, path = "/sellers/me/bank-account", tag = "payments", request_body = BankAccountRequest,
    security(("bearer" = [])),
    responses((status = 200, body = BankAccountBody), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn put_bank_account(
    State(state): State<AppState>,
    Auth(caller): Auth,
    ApiJson(body): ApiJson<BankAccountRequest>,
) -> Result<Json<BankAccountBody>, ApiError> {
    let account = state
        .payments
        .set_bank_account(caller, &body.bank_code, &body.account_number, &body.holder)
        .await?;
    Ok(Json(account.into()))
}

/// The seller's bank account; 404 until one is set.
#[utoipa::path(get, path = "/sellers/me/bank-account", tag = "payments", security(("bearer" = [])),
    responses((status = 200, body = BankAccountBody), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_bank_account(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<BankAccountBody>, ApiError> {
    Ok(Json(state.payments.bank_account(caller).await?.into()))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct PayoutRequest {
    /// Only balances of at least this many won are paid (default 1000).
    pub min_amount: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PayoutItemBody {
    pub seller_id: i64,
    pub amount: i64,
    pub bank_code: String,
    pub account_number: String,
    pub holder: String,
    /// `created`, `paid` or `failed`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settled_at: Option<String>,
}

impl From<PayoutItem> for PayoutItemBody {
    fn from(i: PayoutItem) -> Self {
        Self {
            seller_id: i.seller_id,
            amount: i.amount,
            bank_code: i.bank_code,
            account_number: i.account_number,
            holder: i.holder,
            status: i.status,
            failure: i.failure,
            settled_at: i.settled_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PayoutBody {
    pub payout_id: i64,
    /// `created` while an item is neither paid nor failed, then `settled`.
    pub status: String,
    pub min_amount: i64,
    pub created_at: String,
    pub items: Vec<PayoutItemBody>,
    pub total: i64,
}

impl From<Payout> for PayoutBody {
    fn from(p: Payout) -> Self {
        Self {
            payout_id: p.id,
            status: p.status.into(),
            min_amount: p.min_amount,
            created_at: rfc3339(p.created_at),
            items: p.items.into_iter().map(Into::into).collect(),
            total: p.total,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PayoutsBody {
    /// The latest batches, newest first.
    pub items: Vec<PayoutBody>,
}

/// An admin makes one payout batch of every available balance of at least `min_amount` whose
/// seller has a bank account. The body may be empty or `null`.
#[utoipa::path(post, path = "/admin/payouts", tag = "admin", request_body = PayoutRequest, security(("bearer" = [])),
    responses((status = 201, body = PayoutBody), (status = 403, body = Problem),
              (status = 409, description = "invalid_state: nothing to pay out", body = Problem)))]
pub async fn create_payout(
    State(state): State<AppState>,
    Auth(caller): Auth,
    body: Bytes,
) -> Result<(StatusCode, Json<PayoutBody>), ApiError> {
    let request: PayoutRequest = if body.iter().all(u8::is_ascii_whitespace) {
        PayoutRequest::default()
    } else {
        parse_json::<Option<PayoutRequest>>(&body)?.unwrap_or_default()
    };
    let payout = state
        .payments
        .create_payout(caller, request.min_amount)
        .await?;
    Ok((StatusCode::CREATED, Json(payout.into())))
}

/// The latest payout batches.
#[utoipa::path(get, path = "/admin/payouts", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = PayoutsBody), (status = 403, body = Problem)))]
pub async fn list_payouts(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<PayoutsBody>, ApiError> {
    let payouts = state.payments.payouts(caller).await?;
    Ok(Json(PayoutsBody {
        items: payouts.into_iter().map(Into::into).collect(),
    }))
}

/// One payout batch.
#[utoipa::path(get, path = "/admin/payouts/{payout_id}", tag = "admin", params(("payout_id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = PayoutBody), (status = 404, body = Problem)))]
pub async fn get_payout(
    State(state): State<AppState>,
    Auth(caller): Auth,
    PathId(payout_id): PathId,
) -> Result<Json<PayoutBody>, ApiError> {
    Ok(Json(state.payments.payout(caller, payout_id).await?.into()))
}

/// The batch as a bank's bulk-transfer file: a header row, then bank_code, account_number,
/// holder, amount, memo per item (UTF-8, CRLF).
#[utoipa::path(get, path = "/admin/payouts/{payout_id}/transfer.csv", tag = "admin", params(("payout_id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, content_type = "text/csv"), (status = 404, body = Problem)))]
pub async fn get_transfer_file(
    State(state): State<AppState>,
    Auth(caller): Auth,
    PathId(payout_id): PathId,
) -> Result<impl IntoResponse, ApiError> {
    let file = state.payments.transfer_file(caller, payout_id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"payout-{payout_id}.csv\""),
            ),
        ],
        file,
    ))
}

/// The bank paid this item.
#[utoipa::path(post, path = "/admin/payouts/{payout_id}/items/{seller_id}/paid", tag = "admin",
    params(("payout_id" = i64, Path), ("seller_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = PayoutBody), (status = 404, body = Problem),
              (status = 409, description = "invalid_state: already paid or failed", body = Problem)))]
pub async fn mark_payout_paid(
    State(state): State<AppState>,
    Auth(caller): Auth,
    PathIds(payout_id, seller_id): PathIds,
) -> Result<Json<PayoutBody>, ApiError> {
    let payout = state
        .payments
        .settle_payout_item(caller, payout_id, seller_id, PayoutOutcome::Paid)
        .await?;
    Ok(Json(payout.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PayoutFailedRequest {
    pub reason: String,
}

/// The bank refused this item: its money returns to the seller's available balance.
#[utoipa::path(post, path = "/admin/payouts/{payout_id}/items/{seller_id}/failed", tag = "admin",
    request_body = PayoutFailedRequest,
    params(("payout_id" = i64, Path), ("seller_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = PayoutBody), (status = 404, body = Problem),
              (status = 409, description = "invalid_state: already paid or failed", body = Problem)))]
pub async fn mark_payout_failed(
    State(state): State<AppState>,
    Auth(caller): Auth,
    PathIds(payout_id, seller_id): PathIds,
    ApiJson(body): ApiJson<PayoutFailedRequest>,
) -> Result<Json<PayoutBody>, ApiError> {
    let payout = state
        .payments
        .settle_payout_item(
            caller,
            payout_id,
            seller_id,
            PayoutOutcome::Failed {
                reason: body.reason,
            },
        )
        .await?;
    Ok(Json(payout.into()))
}
