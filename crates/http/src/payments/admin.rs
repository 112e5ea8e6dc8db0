//! The admins' ledger report and reconciliation.

use crate::error::{ApiError, Problem};
use crate::extract::Auth;
use crate::state::AppState;
use crate::wire::rfc3339;
use axum::extract::State;
use axum::Json;
use escrow_core::AppError;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A payment whose record disagrees with its journals or with the gateway.
#[derive(Debug, Serialize, ToSchema)]
pub struct DivergenceBody {
    pub payment_id: i64,
    pub kind: String,
    pub found: String,
    pub detected_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerBody {
    /// Account to balance in won: money moved in minus money moved out (`gateway`, the
    /// outside source, goes negative as money comes in).
    pub accounts: BTreeMap<String, i64>,
    /// Every journal balances, and `escrow` holds what the payments table says is held.
    pub balanced: bool,
    /// Unrepaired disagreements between payments and their journals or the gateway.
    pub divergences: Vec<DivergenceBody>,
    /// From the payments table: what was paid, refunded, released, and is held.
    pub paid: i64,
    pub refunded: i64,
    pub held: i64,
    pub released: i64,
    pub payments_checked: i64,
}

/// Account balances, whether the books balance, and divergences (admins).
#[utoipa::path(get, path = "/admin/ledger", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = LedgerBody), (status = 403, body = Problem)))]
pub async fn get_ledger(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<LedgerBody>, ApiError> {
    let l = state.payments.ledger(caller).await?;
    Ok(Json(LedgerBody {
        accounts: l.accounts,
        balanced: l.balanced,
        divergences: l
            .divergences
            .into_iter()
            .map(|d| DivergenceBody {
                payment_id: d.payment_id,
                kind: d.kind,
                found: d.found,
                detected_at: rfc3339(d.detected_at),
            })
            .collect(),
        paid: l.paid,
        refunded: l.refunded,
        held: l.held,
        released: l.released,
        payments_checked: l.payments_checked,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReconcileBody {
    pub success: bool,
    pub message: String,
    pub checked: u64,
    pub repaired: u64,
}

/// Compares what is open or changed with the gateway and repairs ours (admins).
#[utoipa::path(post, path = "/admin/reconcile", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = ReconcileBody), (status = 403, body = Problem)))]
pub async fn run_reconcile(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<ReconcileBody>, ApiError> {
    if !caller.is_admin() {
        return Err(AppError::Forbidden("only admins can do this".into()).into());
    }
    let report = state.payments.reconcile().await?;
    Ok(Json(ReconcileBody {
        success: true,
        message: "reconciled".into(),
        checked: report.checked,
        repaired: report.repaired,
    }))
}
