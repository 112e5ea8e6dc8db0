//! Outgoing webhooks for integrators (api.md §12): endpoints registered by admins, and
//! deliveries fanned out from the outbox, claimed by one instance per attempt, signed as
//! Standard Webhooks says and retried on a schedule. The HTTP sending itself lives with the
//! composition root (`escrow::webhooks`), which owns the HTTP client.

pub mod address;
pub mod delivery;
/// Standard Webhooks signing: the one implementation, shared with the sandbox.
pub use webhook_signing as signing;

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::page::{Page, PageRequest};
use address::UrlPolicy;
use escrow_store::{now_millis, params, Db};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How endpoints are checked and deliveries retried.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub urls: UrlPolicy,
    /// Each entry the wait before one attempt; the first the first attempt's.
    pub retry_schedule: Vec<Duration>,
    /// How long a receiver has to answer.
    pub timeout: Duration,
}

/// A registered endpoint, without its secret.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub id: i64,
    pub url: String,
    pub event_types: Vec<String>,
    pub created_at: i64,
}

/// One endpoint's delivery of one event.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: i64,
    pub event_id: String,
    pub event_type: String,
    pub status: String,
    pub attempts: i64,
    pub last_status_code: Option<i64>,
    pub next_attempt_at: Option<i64>,
    pub created_at: i64,
}

/// Most event types one endpoint may filter on.
const MAX_EVENT_TYPES: usize = 50;

#[derive(Clone)]
pub struct Webhooks {
    db: Db,
    settings: Arc<WebhookSettings>,
    /// Raised when a delivery may have become due (a resend, a settled attempt), so that
    /// the sender looks now rather than on its next tick.
    due_now: Arc<Notify>,
}

fn admin_only(caller: Caller) -> AppResult<()> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(AppError::Forbidden("only admins manage webhooks".into()))
    }
}

/// Event types are names such as `payment.paid`: lower case, digits, `_` and `.`.
fn parse_event_types(types: Option<Vec<String>>) -> AppResult<Vec<String>> {
    let types = types.unwrap_or_default();
    if types.len() > MAX_EVENT_TYPES {
        return Err(AppError::field(
            "event_types",
            format!("at most {MAX_EVENT_TYPES} event types"),
        ));
    }
    let mut parsed: Vec<String> = Vec::with_capacity(types.len());
    for name in types {
        let valid = (1..=64).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
        if !valid {
            return Err(AppError::field(
                "event_types",
                format!("`{name}` is not an event type (such as payment.paid)"),
            ));
        }
        if !parsed.contains(&name) {
            parsed.push(name);
        }
    }
    Ok(parsed)
}

fn endpoint_from(row: &dyn escrow_store::ReadRow) -> AppResult<Endpoint> {
    let types = row.text("event_types")?;
    Ok(Endpoint {
        id: row.int("id")?,
        url: row.text("url")?,
        event_types: types
            .split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        created_at: row.int("created_at")?,
    })
}

fn delivery_from(row: &dyn escrow_store::ReadRow) -> AppResult<Delivery> {
    Ok(Delivery {
        id: row.int("id")?,
        event_id: row.text("event_id")?,
        event_type: row.text("event_type")?,
        status: row.text("status")?,
        attempts: row.int("attempts")?,
        last_status_code: row.opt_int("last_status_code")?,
        next_attempt_at: row.opt_int("next_attempt_at")?,
        created_at: row.int("created_at")?,
    })
}

impl Webhooks {
    pub fn new(db: Db, settings: WebhookSettings) -> Self {
        Self {
            db,
            settings: Arc::new(settings),
            due_now: Arc::new(Notify::new()),
        }
    }

    pub fn settings(&self) -> &WebhookSettings {
        &self.settings
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Raised when a delivery may have become due.
    pub fn due_now(&self) -> &Notify {
        &self.due_now
    }

    /// Registers an endpoint; returns it and its secret (shown this once).
    pub async fn create_endpoint(
        &self,
        caller: Caller,
        url: &str,
        event_types: Option<Vec<String>>,
    ) -> AppResult<(Endpoint, String)> {
        admin_only(caller)?;
        let event_types = parse_event_types(event_types)?;
        let url = self.settings.urls.check(url).await?;
        let secret = signing::new_secret();
        let created_at = now_millis();
        let mut tx = self.db.begin().await?;
        // Without endpoints the sender leaves events alone; the first endpoint starts from
        // now rather than inherit them.
        let others = tx
            .fetch_optional("SELECT id FROM webhook_endpoints LIMIT 1", &[], |row| {
                row.int("id")
            })
            .await?;
        if others.is_none() {
            tx.execute(
                "UPDATE outbox_events SET fanned_out_at = ? WHERE fanned_out_at IS NULL",
                &[created_at.into()],
            )
            .await?;
        }
        let id = tx
            .insert_returning_id(
                "INSERT INTO webhook_endpoints (url, event_types, secret, created_at) \
                 VALUES (?, ?, ?, ?)",
                &[
                    url.as_str().into(),
                    event_types.join(",").into(),
                    secret.as_str().into(),
                    created_at.into(),
                ],
            )
            .await?;
        tx.commit().await?;
        Ok((
            Endpoint {
                id,
                url,
                event_types,
                created_at,
            },
            secret,
        ))
    }

    pub async fn list_endpoints(&self, caller: Caller) -> AppResult<Vec<Endpoint>> {
        admin_only(caller)?;
        let mut tx = self.db.begin().await?;
        let endpoints = tx
            .fetch_all(
                "SELECT id, url, event_types, created_at FROM webhook_endpoints ORDER BY id",
                &[],
                endpoint_from,
            )
            .await?;
        tx.commit().await?;
        Ok(endpoints)
    }

    /// Deletes an endpoint and its deliveries; an attempt in flight finds its row gone.
    pub async fn delete_endpoint(&self, caller: Caller, endpoint_id: i64) -> AppResult<()> {
        admin_only(caller)?;
        let mut tx = self.db.begin().await?;
        tx.execute(
            "DELETE FROM webhook_deliveries WHERE endpoint_id = ?",
            &[endpoint_id.into()],
        )
        .await?;
        let deleted = tx
            .execute(
                "DELETE FROM webhook_endpoints WHERE id = ?",
                &[endpoint_id.into()],
            )
            .await?;
        if deleted == 0 {
            return Err(AppError::NotFound("no such webhook endpoint".into()));
        }
        tx.commit().await?;
        Ok(())
    }

    async fn endpoint_exists(&self, endpoint_id: i64) -> AppResult<()> {
        let found = self
            .db
            .reads()
            .fetch_all(
                "SELECT id FROM webhook_endpoints WHERE id = ?",
                params![endpoint_id],
                |row| row.int("id"),
            )
            .await?;
        if found.is_empty() {
            return Err(AppError::NotFound("no such webhook endpoint".into()));
        }
        Ok(())
    }

    /// An endpoint's deliveries, newest first.
    pub async fn list_deliveries(
        &self,
        caller: Caller,
        endpoint_id: i64,
        page: PageRequest,
    ) -> AppResult<Page<Delivery>> {
        admin_only(caller)?;
        self.endpoint_exists(endpoint_id).await?;
        let before = page.before_id.unwrap_or(i64::MAX);
        let mut rows = self
            .db
            .reads()
            .fetch_all(
                "SELECT id, event_id, event_type, status, attempts, last_status_code, \
                 next_attempt_at, created_at FROM webhook_deliveries \
                 WHERE endpoint_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
                params![endpoint_id, before, page.limit + 1],
                delivery_from,
            )
            .await?;
        rows.sort_by_key(|d| std::cmp::Reverse(d.id));
        Ok(page.into_page(rows, |d| d.id))
    }

    /// Makes a delivery due now, whatever its status; one more attempt when it fails.
    pub async fn resend(
        &self,
        caller: Caller,
        endpoint_id: i64,
        delivery_id: i64,
    ) -> AppResult<()> {
        admin_only(caller)?;
        let changed = self
            .db
            .write(
                "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?, \
                 settled_at = NULL WHERE id = ? AND endpoint_id = ?",
                &[now_millis().into(), delivery_id.into(), endpoint_id.into()],
            )
            .await?;
        if changed == 0 {
            return Err(AppError::NotFound("no such delivery".into()));
        }
        self.due_now.notify_one();
        Ok(())
    }
}
