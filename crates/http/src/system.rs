//! Operational endpoints: liveness, readiness, metrics, and the fallback for unknown paths.

use crate::error::ApiError;
use crate::middleware::metrics_handle;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use escrow_core::AppError;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    pub status: String,
    /// `ok` or `unavailable`.
    pub database: String,
    /// `ok` or `unavailable`: a gateway token can be had.
    pub gateway: String,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, body = Health)))]
pub async fn get_health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// The service can serve: its database and the payment gateway answer.
#[utoipa::path(get, path = "/readyz", tag = "system",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn get_readiness(State(state): State<AppState>) -> impl IntoResponse {
    let limit = std::time::Duration::from_secs(2);
    let (database, gateway) = tokio::join!(
        tokio::time::timeout(limit, state.db.ping()),
        tokio::time::timeout(limit, state.gateway.ping()),
    );
    let database_ok = database.is_ok_and(|ping| ping.is_ok());
    let gateway_ok = gateway.is_ok_and(|ping| ping.is_ok());
    let ready = database_ok && gateway_ok;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = |ok: bool| if ok { "ok" } else { "unavailable" }.to_string();
    (
        status,
        Json(Readiness {
            status: if ready { "ready" } else { "unavailable" }.into(),
            database: word(database_ok),
            gateway: word(gateway_ok),
        }),
    )
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "system", responses((status = 200, content_type = "text/plain")))]
pub async fn get_metrics(State(state): State<AppState>) -> impl IntoResponse {
    // Read at scrape time: the store counts them itself (its tests read the counts too).
    if let Some(counts) = state.db.commit_counts() {
        metrics::counter!("sqlite_transactions_committed_total").absolute(counts.transactions);
        metrics::counter!("sqlite_commits_total").absolute(counts.commits);
        metrics::counter!("sqlite_wal_checkpoints_total").absolute(counts.checkpoints);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics_handle().render(),
    )
}

pub async fn not_found() -> ApiError {
    ApiError(AppError::NotFound("there is nothing at this path".into()))
}
