//! Sends the webhook deliveries (escrow_core::webhooks): fans committed outbox events out
//! into deliveries, claims the due ones, POSTs each signed, and records the outcome. Every
//! instance runs it; a claim holds a delivery for one attempt, so two instances never send
//! the same attempt, and a dead instance's claims lapse and are taken over.

use escrow_core::webhooks::address::is_public;
use escrow_core::webhooks::delivery::{self, Attempt, Outcome, FAN_OUT_BATCH};
use escrow_core::webhooks::{signing, Webhooks};
use escrow_store::Trouble;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Deliveries one round looks at.
const ROUND: i64 = 100;
/// The least time between the ends of rounds: under load nearly every commit announces
/// events, and they gather into one fan-out rather than cost a write transaction each.
const GATHER: Duration = Duration::from_millis(20);
/// A claim outlives the attempt's timeout by this much, so it never lapses mid-attempt.
const LEASE_MARGIN: Duration = Duration::from_secs(30);

/// The HTTP client: no redirects (a 3xx is a failed attempt, never a way elsewhere), the
/// configured timeout, and, unless private addresses are allowed, a resolver that drops
/// every address a public URL must not reach (a name may resolve differently later).
fn client(webhooks: &Webhooks) -> anyhow::Result<reqwest::Client> {
    let settings = webhooks.settings();
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout)
        .user_agent("escrow-webhooks");
    if !settings.urls.private_allowed {
        builder = builder.dns_resolver(Arc::new(PublicOnly));
    }
    Ok(builder.build()?)
}

struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|addr| is_public(addr.ip()))
                .collect();
            if found.is_empty() {
                return Err("the host resolves to no public address".into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

/// Runs forever: a round on every announced commit, every resend or settled attempt, and
/// every `every`.
pub async fn run(webhooks: Webhooks, every: Duration, per_endpoint: usize) {
    let client = match client(&webhooks) {
        Ok(client) => client,
        Err(err) => {
            tracing::error!(error = %err, "building the webhook client failed; no webhooks are sent");
            return;
        }
    };
    let holder = format!("webhooks-{}", uuid::Uuid::new_v4().simple());
    let mut in_flight: HashMap<i64, Arc<Semaphore>> = HashMap::new();
    let mut trouble = Trouble::default();
    let mut rounds: u64 = 0;
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = webhooks.db().announced_to_webhooks().notified() => {}
            _ = webhooks.due_now().notified() => {}
        }
        rounds += 1;
        let claim = format!("{holder}-{rounds}");
        match round(&webhooks, &client, &claim, &mut in_flight, per_endpoint).await {
            Ok(()) => {
                if trouble.over() {
                    tracing::info!("sending webhooks again");
                }
            }
            Err(err) => trouble.failed(&err, "sending webhooks failed; will retry"),
        }
        tokio::time::sleep(GATHER).await;
    }
}

async fn round(
    webhooks: &Webhooks,
    client: &reqwest::Client,
    claim: &str,
    in_flight: &mut HashMap<i64, Arc<Semaphore>>,
    per_endpoint: usize,
) -> anyhow::Result<()> {
    let settings = webhooks.settings();
    let first_wait = settings.retry_schedule.first().copied().unwrap_or_default();
    loop {
        let taken = delivery::fan_out(webhooks.db(), first_wait).await?;
        if taken > 0 {
            escrow_core::chaos::crash_point("webhooks_fanned_out");
        }
        if taken != FAN_OUT_BATCH as usize {
            break;
        }
    }
    let due = delivery::due(webhooks.db(), ROUND).await?;
    // Only as many as each endpoint has room for: a slow receiver holds its own permits,
    // never another endpoint's.
    let mut permits = HashMap::new();
    for d in due {
        let slots = in_flight
            .entry(d.endpoint_id)
            .or_insert_with(|| Arc::new(Semaphore::new(per_endpoint)))
            .clone();
        if let Ok(permit) = slots.try_acquire_owned() {
            permits.insert(d.delivery_id, permit);
        }
    }
    let ids: Vec<i64> = permits.keys().copied().collect();
    let lease = settings.timeout + LEASE_MARGIN;
    let attempts = delivery::claim(webhooks.db(), claim, &ids, lease).await?;
    for attempt in attempts {
        let permit = permits.remove(&attempt.delivery_id);
        let webhooks = webhooks.clone();
        let client = client.clone();
        let claim = claim.to_string();
        tokio::spawn(async move {
            let outcome = send(&client, &attempt).await;
            let schedule = &webhooks.settings().retry_schedule;
            if let Err(err) =
                delivery::settle(webhooks.db(), &claim, &attempt, outcome, schedule).await
            {
                tracing::warn!(error = %err, delivery_id = attempt.delivery_id, "recording a webhook attempt failed");
            }
            drop(permit);
            // A retry may be due at once, and the endpoint has room again.
            webhooks.due_now().notify_one();
        });
    }
    Ok(())
}

/// One signed POST; the status code if the receiver answered within the timeout.
async fn send(client: &reqwest::Client, attempt: &Attempt) -> Outcome {
    let timestamp = escrow_store::now_millis() / 1000;
    let Some(signature) =
        signing::sign(&attempt.secret, &attempt.event_id, timestamp, &attempt.body)
    else {
        tracing::error!(
            endpoint_id = attempt.endpoint_id,
            "an endpoint's secret cannot sign"
        );
        return Outcome { status_code: None };
    };
    let sent = client
        .post(&attempt.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", &attempt.event_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(attempt.body.clone())
        .send()
        .await;
    match sent {
        Ok(response) => Outcome {
            status_code: Some(response.status().as_u16()),
        },
        Err(err) => {
            tracing::info!(error = %err, delivery_id = attempt.delivery_id, "a webhook attempt failed");
            Outcome { status_code: None }
        }
    }
}
