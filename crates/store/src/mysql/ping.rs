//! Pinging a pooled MySQL connection only when it sat idle.

use std::time::Duration;

/// A pooled MySQL connection idle this long is pinged before it is handed out: one that
/// broke meanwhile (the server restarted, a proxy or firewall dropped it) is then replaced
/// instead of failing a request with 503. Under load connections are idle for far less,
/// so the ping costs nothing there.
pub(crate) const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);

/// For `before_acquire`: `Ok(true)` hands the connection out; an error closes it and the
/// pool takes another idle one or opens a new one.
pub(crate) async fn ping_if_idle<C: sqlx::Connection>(
    conn: &mut C,
    meta: sqlx::pool::PoolConnectionMetadata,
) -> Result<bool, sqlx::Error> {
    if meta.idle_for >= PING_WHEN_IDLE_FOR {
        conn.ping().await?;
    }
    Ok(true)
}
