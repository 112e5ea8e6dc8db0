//! Publishes the outbox's domain events to NATS JetStream (stream `ESCROW_EVENTS`, subjects
//! `escrow.<event type>`), at least once. Each message carries the event id as
//! `Nats-Msg-Id`, so JetStream drops a re-publish inside its duplicate window and consumers
//! can de-duplicate beyond it.

use anyhow::Context;
use async_nats::jetstream;
use escrow_core::{outbox, Db};
use escrow_store::Trouble;
use std::time::Duration;

pub const STREAM: &str = "ESCROW_EVENTS";
pub const SUBJECT_PREFIX: &str = "escrow.";
/// How long JetStream remembers a `Nats-Msg-Id` to drop a re-publish of it.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// Where the relay publishes.
#[derive(Debug, Clone)]
pub struct Stream {
    /// The NATS servers: one, or several of a cluster, comma-separated. The client connects
    /// to one of them and moves to another when it goes away.
    pub url: String,
    /// How many servers of a JetStream cluster keep the stream (1 on a single server).
    pub replicas: usize,
    /// How long JetStream keeps an event (the stream's `max_age`).
    pub max_age: Duration,
}

/// The servers of a comma-separated list, each trimmed, empty entries skipped.
pub fn servers(urls: &str) -> Vec<&str> {
    urls.split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .collect()
}

/// Connects and makes sure the stream exists.
async fn connect(stream: &Stream) -> anyhow::Result<jetstream::Context> {
    let servers = servers(&stream.url);
    let client = async_nats::connect(servers.as_slice())
        .await
        .with_context(|| {
            let redacted: Vec<String> = servers
                .iter()
                .map(|url| escrow_store::redact_url(url))
                .collect();
            format!("connecting to NATS at {}", redacted.join(","))
        })?;
    let context = jetstream::new(client);
    ensure_stream(&context, stream).await?;
    Ok(context)
}

/// Creates the stream, or brings an existing one's settings (e.g. one made by an older
/// version without a `max_age`) to these.
async fn ensure_stream(context: &jetstream::Context, stream: &Stream) -> anyhow::Result<()> {
    context
        .create_or_update_stream(jetstream::stream::Config {
            name: STREAM.into(),
            subjects: vec![format!("{SUBJECT_PREFIX}>")],
            duplicate_window: DUPLICATE_WINDOW,
            max_age: stream.max_age,
            num_replicas: stream.replicas,
            ..Default::default()
        })
        .await
        .context("creating the JetStream stream")?;
    Ok(())
}

/// Events one round of the relay claims at most.
const BATCH: i64 = 500;
/// The least time between the ends of rounds; it bounds how long an event waits under load.
const GATHER: Duration = Duration::from_millis(20);
/// How long a round's claim holds before another relay may take its events over.
const LEASE_MS: i64 = 30_000;

/// Relays forever. It first connects to NATS at `stream.url`, again every second (or
/// `every`, if shorter) while it is unreachable: the service serves and writes its events
/// to the outbox meanwhile (a payment must not wait for the event bus), and they go out
/// once it is up. Then it claims a batch, publishes it and marks what JetStream
/// acknowledged as published, each time a transaction that wrote events commits
/// (`Db::announced_commits`) and every `every` for what no commit of this instance
/// announced (another instance's lapsed claims). While a round finds a full batch it goes
/// on at once, so a backlog drains at the speed of NATS. After a failure it tries again
/// after the same pause as a connection, whatever commits announce meanwhile (or another
/// instance does); the client reconnects by itself after a later outage.
pub async fn relay(db: Db, stream: Stream, every: Duration) {
    let retry_after = every.min(Duration::from_secs(1));
    let mut trouble = Trouble::default();
    let context = loop {
        match connect(&stream).await {
            Ok(context) => break context,
            Err(err) => {
                trouble.failed(&err, "NATS is unreachable; events wait in the outbox");
                tokio::time::sleep(retry_after).await;
            }
        }
    };
    if trouble.over() {
        tracing::info!("connected to NATS; publishing the outbox's events");
    }
    let holder = format!("relay-{}", uuid::Uuid::new_v4().simple());
    let mut rounds: u64 = 0;
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if trouble.ongoing() {
            // Not at the next commit: under load that would be a failing round every
            // `GATHER`, each a claim and a release of the whole batch.
            tokio::time::sleep(retry_after).await;
            // The stream is made sure of again: a NATS server that came back without its
            // store (or with the stream deleted) would refuse every event.
            if let Err(err) = ensure_stream(&context, &stream).await {
                trouble.failed(&err, "relaying outbox events failed; will retry");
                continue;
            }
        } else {
            tokio::select! {
                // In order, not at random: either only starts the same round.
                biased;
                _ = ticker.tick() => {}
                _ = db.announced_commits().notified() => {}
            }
        }
        loop {
            rounds += 1;
            match round(&db, &context, &format!("{holder}-{rounds}")).await {
                Ok(claimed) => {
                    if trouble.over() {
                        tracing::info!("relaying outbox events again");
                    }
                    if claimed as i64 != BATCH {
                        break;
                    }
                }
                Err(err) => {
                    trouble.failed(&err, "relaying outbox events failed; will retry");
                    break;
                }
            }
        }
        // Under load nearly every commit announces events: this pause lets them gather
        // into the next round's batch rather than cost two write transactions per few.
        tokio::time::sleep(GATHER).await;
    }
}

/// One round: claim, publish, settle. Returns how many events it claimed.
async fn round(db: &Db, context: &jetstream::Context, claim: &str) -> anyhow::Result<usize> {
    let events = outbox::claim(db, claim, BATCH, LEASE_MS).await?;
    if events.is_empty() {
        return Ok(0);
    }
    // All are sent before any acknowledgement is awaited, on one connection, so JetStream
    // stores them in order and the round waits for one round trip rather than one per event.
    let mut pending = Vec::with_capacity(events.len());
    let mut failure = None;
    for event in &events {
        match send(context, event).await {
            Ok(ack) => pending.push(ack),
            Err(err) => {
                failure = Some(err);
                break;
            }
        }
    }
    // What is published is the run up to the first failure, so one range marks it; any
    // after the failure that JetStream did store are sent again by a later round and
    // dropped there as duplicates (same `Nats-Msg-Id`).
    let mut published_through = None;
    for (event, ack) in events.iter().zip(pending) {
        if let Err(err) = ack.await {
            failure.get_or_insert(err.into());
            break;
        }
        published_through = Some(event.id);
    }
    outbox::settle(db, claim, &events, published_through).await?;
    match failure {
        Some(err) => Err(err.context("publishing an event")),
        None => Ok(events.len()),
    }
}

async fn send(
    context: &jetstream::Context,
    event: &outbox::OutboxEvent,
) -> anyhow::Result<jetstream::context::PublishAckFuture> {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", event.event_id.as_str());
    let subject = format!("{SUBJECT_PREFIX}{}", event.event_type);
    Ok(context
        .publish_with_headers(subject, headers, event.payload.clone().into())
        .await?)
}
