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
    imp_code: String,
    iamport_js: String,
}

async fn get_browser_config(State(state): State<AppState>) -> impl IntoResponse {
    Json(BrowserConfigBody {
        imp_code: state.browser.imp_code.clone(),
        iamport_js: state.browser.iamport_js.clone(),
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
    let policy = ui_policy(&state.browser.iamport_js);
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
