//! The web UI: the built single-page app (`web/dist`) at `/app/`, its runtime
//! configuration at `/app/config.json`, and `/` sending browsers there.

use crate::security_headers::{add_security_headers, ui_policy, DOCS_POLICY};
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use tower_http::services::{ServeDir, ServeFile};

#[derive(Debug, Serialize)]
struct BrowserConfigBody {
    /// `v1` (`IMP.request_pay` from `iamport_js`) or `v2` (`PortOne.requestPayment` from
    /// `browser_sdk`, with `store_id` and `channel_key`).
    api_version: &'static str,
    imp_code: String,
    iamport_js: String,
    browser_sdk: Option<String>,
    store_id: Option<String>,
    channel_key: Option<String>,
}

async fn get_browser_config(State(state): State<AppState>) -> impl IntoResponse {
    let v2 = state.browser.v2.as_ref();
    Json(BrowserConfigBody {
        api_version: if v2.is_some() { "v2" } else { "v1" },
        imp_code: state.browser.imp_code.clone(),
        iamport_js: state.browser.iamport_js.clone(),
        browser_sdk: v2.map(|v2| v2.browser_sdk.clone()),
        store_id: v2.map(|v2| v2.store_id.clone()),
        channel_key: v2.map(|v2| v2.channel_key.clone()),
    })
}

/// `/app/*` serves files from the UI build; unknown paths under it get `index.html` so the
/// app's own router can take them (history-mode URLs survive a reload).
pub fn routes(state: &AppState) -> Router<AppState> {
    let dir = &state.browser.web_dir;
    let index = dir.join("index.html");
    if !index.is_file() {
        tracing::warn!(
            web_dir = %dir.display(),
            "no web UI build here (index.html missing): /app/ will answer 404; build it with \
             `npm ci && npm run build` in web/, or set ESCROW_WEB_DIR"
        );
    }
    let policy = ui_policy(state.browser.sdk());
    // The policy is built from the configured SDK address, which is plain ASCII.
    let policy =
        HeaderValue::from_str(&policy).unwrap_or_else(|_| HeaderValue::from_static(DOCS_POLICY));
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/app/") }))
        .route("/app", get(|| async { Redirect::permanent("/app/") }))
        .route("/app/config.json", get(get_browser_config))
        .nest_service(
            "/app/",
            ServeDir::new(dir)
                .precompressed_gzip()
                .fallback(ServeFile::new(index)),
        )
        .layer(axum::middleware::from_fn_with_state(
            policy,
            add_security_headers,
        ))
}
