//! The sandbox's clock.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in milliseconds (sandbox-internal precision; the wire uses seconds).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
