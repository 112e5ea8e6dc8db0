//! Failed-login throttling, kept in the database so that every instance of the service
//! counts the same failures (an attacker gains nothing by spreading over instances).

use crate::error::{AppError, AppResult};
use escrow_store::{now_millis, params, Db, DbErrorKind};
use sqlx::Row;

/// How many failures a scope may have within a window before it is refused.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub failures: i64,
    pub window_ms: i64,
}

pub const PER_EMAIL: Limit = Limit {
    failures: 5,
    window_ms: 15 * 60 * 1000,
};
pub const PER_CLIENT: Limit = Limit {
    failures: 50,
    window_ms: 15 * 60 * 1000,
};

pub fn email_scope(email: &str) -> String {
    format!("email:{email}")
}

pub fn client_scope(client: &str) -> String {
    format!("client:{client}")
}

/// Refuses with 429 when the scope used up its failures in the current window.
pub async fn check(db: &Db, scope: &str, limit: Limit) -> AppResult<()> {
    let row =
        sqlx::query("SELECT failures, window_started_at FROM login_failures WHERE scope_key = ?")
            .bind(scope)
            .fetch_optional(db.pool())
            .await?;
    let Some(row) = row else { return Ok(()) };
    let failures: i64 = row.try_get("failures")?;
    let started: i64 = row.try_get("window_started_at")?;
    let window_ends = started + limit.window_ms;
    let now = now_millis();
    if failures >= limit.failures && now < window_ends {
        let retry_after_secs = u64::try_from((window_ends - now + 999) / 1000).unwrap_or(1);
        return Err(AppError::RateLimited { retry_after_secs });
    }
    Ok(())
}

/// Counts one failure, starting a new window when the old one is over.
pub async fn record_failure(db: &Db, scope: &str, limit: Limit) -> AppResult<()> {
    let now = now_millis();
    let window_floor = now - limit.window_ms;
    const BUMP: &str = "UPDATE login_failures SET \
           failures = CASE WHEN window_started_at < ? THEN 1 ELSE failures + 1 END, \
           window_started_at = CASE WHEN window_started_at < ? THEN ? ELSE window_started_at END \
         WHERE scope_key = ?";
    let bump_params = params![window_floor, window_floor, now, scope];
    let bump = || db.write(BUMP, bump_params);
    if bump().await? > 0 {
        return Ok(());
    }
    let inserted = db
        .write(
            "INSERT INTO login_failures (scope_key, failures, window_started_at) VALUES (?, 1, ?)",
            params![scope, now],
        )
        .await;
    match inserted {
        Ok(_) => Ok(()),
        // Another request inserted it first: count on top of theirs.
        Err(err) if err.kind() == DbErrorKind::UniqueViolation => {
            bump().await?;
            Ok(())
        }
        Err(err) => Err(err.into()),
    }
}

pub async fn clear(db: &Db, scope: &str) -> AppResult<()> {
    db.write(
        "DELETE FROM login_failures WHERE scope_key = ?",
        params![scope],
    )
    .await?;
    Ok(())
}
