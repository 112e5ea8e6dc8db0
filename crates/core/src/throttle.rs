//! Login and sign-up throttling, kept in the database so that every instance of the service counts the
//! same attempts (an attacker gains nothing by spreading over instances).
//!
//! An attempt is claimed before its password is verified, by one conditional write that
//! counts it only while the scope is under its limit: a burst of simultaneous guesses gets
//! no more verifications than the limit, however many instances serve it.

use crate::error::{AppError, AppResult};
use escrow_store::{now_millis, params, Db, DbErrorKind};
use sqlx::Row;

/// How many attempts a scope may claim within a window before it is refused.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub attempts: i64,
    pub window_ms: i64,
}

pub const PER_EMAIL: Limit = Limit {
    attempts: 5,
    window_ms: 15 * 60 * 1000,
};
pub const PER_CLIENT: Limit = Limit {
    attempts: 50,
    window_ms: 15 * 60 * 1000,
};

/// Sign-ups per client address: `per_hour` accounts an hour.
pub fn signups(per_hour: i64) -> Limit {
    Limit {
        attempts: per_hour,
        window_ms: 3600 * 1000,
    }
}

pub fn signup_scope(client: &str) -> String {
    format!("signup:{client}")
}

pub fn email_scope(email: &str) -> String {
    format!("email:{email}")
}

pub fn client_scope(client: &str) -> String {
    format!("client:{client}")
}

/// Claims one attempt for the scope, or refuses with 429 when its window's attempts are
/// used up. The row's `failures` column holds the claimed attempts.
pub async fn claim(db: &Db, scope: &str, limit: Limit) -> AppResult<()> {
    let now = now_millis();
    let window_floor = now - limit.window_ms;
    // Counts the attempt only while the window has room or is over (then it starts anew).
    const CLAIM: &str = "UPDATE login_failures SET \
           failures = CASE WHEN window_started_at < ? THEN 1 ELSE failures + 1 END, \
           window_started_at = CASE WHEN window_started_at < ? THEN ? ELSE window_started_at END \
         WHERE scope_key = ? AND (window_started_at < ? OR failures < ?)";
    let claim_params = params![
        window_floor,
        window_floor,
        now,
        scope,
        window_floor,
        limit.attempts
    ];
    let claimed = || db.write(CLAIM, claim_params);
    if claimed().await? > 0 {
        return Ok(());
    }
    let inserted = db
        .write(
            "INSERT INTO login_failures (scope_key, failures, window_started_at) VALUES (?, 1, ?)",
            params![scope, now],
        )
        .await;
    match inserted {
        Ok(_) => return Ok(()),
        // Another request inserted it first: claim on top of theirs.
        Err(err) if err.kind() == DbErrorKind::UniqueViolation => {
            if claimed().await? > 0 {
                return Ok(());
            }
        }
        Err(err) => return Err(err.into()),
    }
    Err(refusal(db, scope, limit).await?)
}

/// The 429 for a scope whose attempts are used up, with the seconds until its window ends.
async fn refusal(db: &Db, scope: &str, limit: Limit) -> AppResult<AppError> {
    let started: Option<i64> =
        sqlx::query("SELECT window_started_at FROM login_failures WHERE scope_key = ?")
            .bind(scope)
            .fetch_optional(db.pool())
            .await?
            .map(|row| row.try_get("window_started_at"))
            .transpose()?;
    let window_ends = started.unwrap_or_default() + limit.window_ms;
    let retry_after_secs = u64::try_from((window_ends - now_millis() + 999) / 1000)
        .unwrap_or(1)
        .max(1);
    Ok(AppError::RateLimited { retry_after_secs })
}

/// Gives back an attempt that succeeded, so that a shared address's good logins do not use
/// up its allowance.
pub async fn release(db: &Db, scope: &str) -> AppResult<()> {
    db.write(
        "UPDATE login_failures SET failures = failures - 1 WHERE scope_key = ? AND failures > 0",
        params![scope],
    )
    .await?;
    Ok(())
}

pub async fn clear(db: &Db, scope: &str) -> AppResult<()> {
    db.write(
        "DELETE FROM login_failures WHERE scope_key = ?",
        params![scope],
    )
    .await?;
    Ok(())
}
