//! The escrow service's business rules. Each resource is a module holding its service
//! (which owns the transaction) and its repository functions (which take the transaction).
//! Wire types live in `escrow-http`; rows stay here and never cross the HTTP boundary.

pub mod auth;
pub mod chaos;
pub mod error;
pub mod gateway;
pub mod idempotency;
pub mod jobs;
mod joined;
pub mod members;
pub mod orders;
pub mod outbox;
pub mod page;
pub mod payments;
pub mod products;
mod records;
mod throttle;
mod turns;
pub mod webhooks;

pub use error::{AppError, AppResult};
pub use escrow_store::{Db, Dialect};
pub use records::Actor;
