//! Background work: expiring unpaid holds, and fetching decisions that were
//! not forwarded (shop-consumer or this service restarted in between).

use std::time::Duration;

use ticktak_core::HoldId;
use tokio_util::sync::CancellationToken;

use crate::internal::{apply, HoldDecision};
use crate::{store, AppState};

/// Every sweep interval: HELD past `expiresAt` → EXPIRED + TICKET_CANCELLED;
/// idempotency keys older than 24 hours forgotten.
pub async fn expire_holds(state: AppState, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(state.config.sweep_interval) => {}
        }
        match store::expire_due(&state.pool, &state.origin, 500).await {
            Ok(queued) if queued.is_empty() => {}
            Ok(queued) => {
                metrics::counter!("reservations_expired_total").increment(queued.len() as u64);
                state.outbox.publish(queued);
            }
            Err(e) => tracing::warn!(error = %e, "hold expiry failed"),
        }
        if let Err(e) = crate::idempotency::forget_old(&state.pool).await {
            tracing::warn!(error = %e, "cannot forget old idempotency keys");
        }
    }
}

/// Every sweep interval: ask the shop about reservations still REQUESTED
/// after a second; publish again the PENDING of those the shop has not seen
/// after `REPUBLISH_AFTER_SECS`; reject those undecided after
/// `REQUEST_TIMEOUT_SECS`.
pub async fn poll_decisions(state: AppState, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(state.config.sweep_interval) => {}
        }
        let ids = match store::requested_before(&state.pool, Duration::from_secs(1), 200).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "decision poll failed");
                continue;
            }
        };
        let mut decisions = Vec::new();
        let mut unseen = Vec::new();
        for id in ids {
            match state.shop.hold_status(HoldId(id)).await {
                Ok(Some(status)) => decisions.push(HoldDecision { hold_id: HoldId(id), status }),
                Ok(None) => unseen.push(id),
                Err(e) => {
                    tracing::debug!(error = %format!("{e:#}"), "shop not reachable for decisions");
                    break;
                }
            }
        }
        if let Err(e) = apply(&state, &decisions).await {
            tracing::warn!(error = %e, "cannot record polled decisions");
        }
        undecided(&state, &unseen).await;
    }
}

/// Requests the log has not decided: publish their PENDING again, or give
/// up on them.
async fn undecided(state: &AppState, unseen: &[uuid::Uuid]) {
    if !unseen.is_empty() {
        match store::republish(&state.pool, &state.origin, unseen, state.config.republish_after).await {
            Ok(queued) if queued.is_empty() => {}
            Ok(queued) => {
                tracing::info!(count = queued.len(), "publishing undecided requests again");
                metrics::counter!("reservations_republished_total").increment(queued.len() as u64);
                state.outbox.publish(queued);
            }
            Err(e) => tracing::warn!(error = %e, "cannot publish undecided requests again"),
        }
    }
    match store::time_out(&state.pool, &state.origin, state.config.request_timeout, 200).await {
        Ok(queued) if queued.is_empty() => {}
        Ok(queued) => {
            tracing::warn!(count = queued.len(), "requests not decided in time: rejected, their holds cancelled");
            metrics::counter!("reservations_timed_out_total").increment(queued.len() as u64);
            state.outbox.publish(queued);
        }
        Err(e) => tracing::warn!(error = %e, "cannot time out undecided requests"),
    }
}
