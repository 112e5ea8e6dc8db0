//! The HTTP surface of the escrow service: one router table, thin handlers per resource,
//! extractors that turn every malformed input into problem+json, and the OpenAPI document.

mod error;
mod extract;
mod idempotency;
mod members;
mod middleware;
mod openapi;
mod orders;
mod payments;
mod products;
pub mod router;
mod security_headers;
mod state;
mod system;
mod web;
mod webhooks;
mod wire;

pub use error::{ApiError, Problem};
pub use openapi::ApiDoc;
pub use router::router;
pub use state::{AppState, BrowserConfig, BrowserV2, Services, WebhookSources};
