//! Background work: expiring unpaid holds, and fetching decisions that were
//! not forwarded (shop-consumer or this service restarted in between).

use std::time::Duration;

use ticktak_contracts::decisions::HoldDecision;
use ticktak_core::HoldId;
use tokio_util::sync::CancellationToken;

use crate::internal::apply;
use crate::{store, AppState};

/// How often the sweeper looks for tickets of refunds that died.
const ORPHANS_EVERY: Duration = Duration::from_secs(10);

/// Every sweep interval: HELD past `expiresAt` → EXPIRED + TICKET_CANCELLED,
/// each reported to screening (accounts that let holds expire again and
/// again are held back); idempotency keys older than 24 hours forgotten;
/// and every ten seconds, the tickets of a refund that died after revoking
/// them in the gate log issued anew.
pub async fn expire_holds(state: AppState, shutdown: CancellationToken) {
    let mut orphans_looked_at = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(state.config.sweep_interval) => {}
        }
        match store::expire_due(&state.pool, &state.origin, 500).await {
            Ok(expired) if expired.queued.is_empty() => {}
            Ok(expired) => {
                metrics::counter!("reservations_expired_total").increment(expired.queued.len() as u64);
                state.outbox.publish(expired.queued);
                for buyer in &expired.buyers {
                    state.screen.note_hold_expired(buyer);
                }
            }
            Err(e) => tracing::warn!(error = %e, "hold expiry failed"),
        }
        if let Err(e) = crate::idempotency::forget_old(&state.pool).await {
            tracing::warn!(error = %e, "cannot forget old idempotency keys");
        }
        if orphans_looked_at.elapsed() >= ORPHANS_EVERY {
            orphans_looked_at = tokio::time::Instant::now();
            if let Err(e) = reissue_orphaned(&state).await {
                tracing::warn!(error = %format!("{e:#}"), "cannot issue anew the tickets of a refund that died");
            }
        }
    }
}

/// Tickets a refund (or an acceptance of a ticket passed on) revoked in the
/// gate log before it was killed, its order still paid: each issued anew to
/// whoever held it (the seat stays theirs; they may ask again).
async fn reissue_orphaned(state: &AppState) -> anyhow::Result<()> {
    let orphans =
        crate::tickets::gate::orphaned_revocations(&state.pool, state.gate.platform(), state.config.orphaned_after)
            .await?;
    for (id, owner) in orphans {
        if let Err(e) = reissue_orphan(state, id, owner.as_deref()).await {
            tracing::warn!(ticket = %id, error = %format!("{e:#}"), "cannot issue anew a ticket of a refund that died");
        }
    }
    Ok(())
}

async fn reissue_orphan(state: &AppState, id: uuid::Uuid, owner: Option<&str>) -> anyhow::Result<()> {
    use crate::tickets::store as tickets;
    let mut tx = state.pool.begin().await?;
    // Locks in the order of a refund and an acceptance: the reservation,
    // then its tickets.
    let locked: Option<uuid::Uuid> = sqlx::query_scalar(
        "SELECT r.id FROM reservations r JOIN tickets t ON t.reservation_id = r.id WHERE t.id = $1 FOR UPDATE OF r",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    if locked.is_none() {
        return Ok(());
    }
    sqlx::query("SELECT id FROM tickets WHERE id = $1 FOR UPDATE").bind(id).execute(&mut *tx).await?;
    let Some(old) = tickets::find_in(&mut tx, id).await?.filter(|t| t.status == "VALID") else { return Ok(()) };
    let new = tickets::issue_anew(&mut tx, &tickets::Issuer::of(state), &old, owner).await?;
    tx.commit().await?;
    metrics::counter!("tickets_reissued_after_dead_refund_total").increment(1);
    tracing::warn!(old = %old.id, new = %new.id, "a refund or an acceptance died after revoking this ticket: issued anew");
    Ok(())
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
        if !ids.is_empty() {
            let hold_ids: Vec<HoldId> = ids.iter().copied().map(HoldId).collect();
            match state.shop.holds(&hold_ids).await {
                Ok(found) => {
                    let decisions: Vec<HoldDecision> =
                        found.iter().map(|h| HoldDecision { hold_id: h.hold_id, status: h.status }).collect();
                    if let Err(e) = apply(&state, &decisions).await {
                        tracing::warn!(error = %e, "cannot record polled decisions");
                    }
                    let seen: std::collections::HashSet<uuid::Uuid> = found.iter().map(|h| h.hold_id.0).collect();
                    let unseen: Vec<uuid::Uuid> = ids.into_iter().filter(|id| !seen.contains(id)).collect();
                    republish(&state, &unseen).await;
                }
                Err(e) => tracing::debug!(error = %format!("{e:#}"), "shop not reachable for decisions"),
            }
        }
        time_out(&state).await;
    }
}

/// Requests the shop has not seen: publish their PENDING again.
async fn republish(state: &AppState, unseen: &[uuid::Uuid]) {
    if unseen.is_empty() {
        return;
    }
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

/// Requests undecided for too long: give up on them.
async fn time_out(state: &AppState) {
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
