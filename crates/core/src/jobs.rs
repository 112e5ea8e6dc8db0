//! Background work: settling refunds whose answer was lost, expiring unpaid orders, the
//! returns' deadlines, automatic confirmation, reconciliation with the gateway, overdue
//! settlements, and forgetting old idempotency keys, published events and settled webhook
//! deliveries. Every instance runs it; each change is a conditional transition (a sweep deletes only what is old enough), so two
//! instances never do the same job twice and a dead instance's work is simply picked up on the
//! next tick by another.

use crate::payments::Payments;
use crate::{idempotency, outbox, webhooks, Db};
use escrow_store::now_millis;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct JobSchedule {
    /// How often expiry, automatic confirmation and the sweeps run.
    pub tick: Duration,
    /// How often every open payment is compared with the gateway.
    pub reconcile_every: Duration,
    /// How long a published event stays in the outbox, and a settled webhook delivery in
    /// its table.
    pub outbox_retention: Duration,
}

/// Runs forever; abort the task to stop it.
pub async fn run(db: Db, payments: Payments, schedule: JobSchedule) {
    let mut ticker = tokio::time::interval(schedule.tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_reconcile = tokio::time::Instant::now();
    loop {
        ticker.tick().await;
        // Before automatic confirmation: an intent settled here no longer holds its release.
        if let Err(err) = payments.settle_stale_refunds().await {
            tracing::warn!(error = %err, "settling refunds from the gateway's record failed");
        }
        if let Err(err) = payments.expire_due().await {
            tracing::warn!(error = %err, "expiring orders failed");
        }
        if let Err(err) = payments.run_return_timers().await {
            tracing::warn!(error = %err, "the returns' timers failed");
        }
        if let Err(err) = payments.confirm_due().await {
            tracing::warn!(error = %err, "automatic confirmation failed");
        }
        // Sweeps run every tick, so that under sustained load each deletes a few seconds'
        // rows in a few short writes rather than an hour's in many back to back.
        let retention = i64::try_from(schedule.outbox_retention.as_millis()).unwrap_or(i64::MAX);
        if let Err(err) = outbox::sweep(&db, now_millis().saturating_sub(retention)).await {
            tracing::warn!(error = %err, "sweeping the outbox failed");
        }
        let settled_before = now_millis().saturating_sub(retention);
        if let Err(err) = webhooks::delivery::sweep(&db, settled_before).await {
            tracing::warn!(error = %err, "sweeping webhook deliveries failed");
        }
        if let Err(err) = idempotency::sweep(&db).await {
            tracing::warn!(error = %err, "sweeping idempotency keys failed");
        }
        if last_reconcile.elapsed() >= schedule.reconcile_every {
            last_reconcile = tokio::time::Instant::now();
            match payments.reconcile().await {
                Ok(report) if report.repaired > 0 => {
                    tracing::info!(
                        checked = report.checked,
                        repaired = report.repaired,
                        "reconciled with the gateway"
                    );
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "reconciliation failed"),
            }
            if let Err(err) = payments.check_overdue().await {
                tracing::warn!(error = %err, "checking overdue settlements failed");
            }
        }
    }
}
