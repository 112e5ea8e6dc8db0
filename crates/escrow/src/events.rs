//! Publishes the outbox's domain events to NATS JetStream (stream `ESCROW_EVENTS`, subjects
//! `escrow.<event type>`), at least once. Each message carries the event id as
//! `Nats-Msg-Id`, so JetStream drops a re-publish inside its duplicate window and consumers
//! can de-duplicate beyond it.

use anyhow::Context;
use async_nats::jetstream;
use escrow_core::{outbox, Db};
use std::time::Duration;

pub const STREAM: &str = "ESCROW_EVENTS";
pub const SUBJECT_PREFIX: &str = "escrow.";

/// Connects and makes sure the stream exists.
pub async fn connect(url: &str) -> anyhow::Result<jetstream::Context> {
    let client = async_nats::connect(url)
        .await
        .with_context(|| format!("connecting to NATS at {url}"))?;
    let context = jetstream::new(client);
    context
        .get_or_create_stream(jetstream::stream::Config {
            name: STREAM.into(),
            subjects: vec![format!("{SUBJECT_PREFIX}>")],
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .context("creating the JetStream stream")?;
    Ok(context)
}

/// Relays forever: claim a batch, publish each event and wait for JetStream's ack, then
/// mark it published. A failure leaves the event for the next round (or another instance).
pub async fn relay(db: Db, context: jetstream::Context, every: Duration) {
    let holder = format!("relay-{}", uuid::Uuid::new_v4().simple());
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let events = match outbox::claim(&db, &holder, 100, 30_000).await {
            Ok(events) => events,
            Err(err) => {
                tracing::warn!(error = %err, "claiming outbox events failed");
                continue;
            }
        };
        for event in events {
            if let Err(err) = publish(&context, &event).await {
                tracing::warn!(event.id = %event.event_id, error = %err, "publishing an event failed; will retry");
                break;
            }
            if let Err(err) = outbox::mark_published(&db, event.id).await {
                tracing::warn!(event.id = %event.event_id, error = %err, "marking an event published failed");
            }
        }
    }
}

async fn publish(context: &jetstream::Context, event: &outbox::OutboxEvent) -> anyhow::Result<()> {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", event.event_id.as_str());
    let subject = format!("{SUBJECT_PREFIX}{}", event.event_type);
    let ack = context
        .publish_with_headers(subject, headers, event.payload.clone().into())
        .await?;
    ack.await?;
    Ok(())
}
