//! The reconciler: asks the provider about payments still open once their
//! webhook had time to come, cancels intents whose hold ended before they
//! were paid, and finishes refunds a failed call left half done.

use ticktak_contracts::reservations::{self as contract, ReservationRecord, ReservationStatus};
use tokio_util::sync::CancellationToken;

use crate::provider::IntentStatus;
use crate::store::{self, PaymentStatus};
use crate::{settle, AppState};

/// Payments looked at per round.
const BATCH: i64 = 100;

pub async fn run(s: AppState, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(s.config.reconcile_every) => {}
        }
        if let Err(e) = round(&s).await {
            tracing::warn!(error = %e, "reconciliation round failed");
        }
    }
}

/// One pass over the unsettled payments; returns how many were looked at.
pub async fn round(s: &AppState) -> anyhow::Result<usize> {
    let ids = store::unsettled(&s.pool, s.config.reconcile_after, BATCH).await?;
    for id in &ids {
        let Some(p) = store::get(&s.pool, *id).await? else { continue };
        let done = match p.status {
            PaymentStatus::Open => reconcile_open(s, &p).await,
            PaymentStatus::Refunding => settle::finish_refund(s, p.id).await.map(|_| ()).map_err(anyhow::Error::from),
            _ => Ok(()),
        };
        if let Err(e) = done {
            tracing::warn!(payment = %p.id, error = %e, "not reconciled this round");
        }
    }
    metrics::counter!("payments_reconciled_total").increment(ids.len() as u64);
    Ok(ids.len())
}

async fn reconcile_open(s: &AppState, p: &store::Payment) -> anyhow::Result<()> {
    let mut intent = s.provider.intent(&p.intent_id).await?;
    if matches!(intent.status, IntentStatus::Open | IntentStatus::NeedsAuthentication) {
        // Nobody can pay for holds that ended: close the intent once every
        // hold it pays for (one, or an order's lines) has.
        let mut ended = true;
        for line in store::of_intent(&s.pool, &p.intent_id).await? {
            let reservation: Option<ReservationRecord> =
                s.reservations.get(&contract::reservation_path(&line.reservation_id.to_string())).await?;
            ended &= reservation.is_some_and(|r| {
                matches!(
                    r.status,
                    ReservationStatus::Expired | ReservationStatus::Cancelled | ReservationStatus::Rejected
                )
            });
        }
        if ended {
            intent = match s.provider.cancel(&p.intent_id).await {
                Ok(canceled) => canceled,
                // Paid in the meantime: read it again and settle that.
                Err(_) => s.provider.intent(&p.intent_id).await?,
            };
        }
    }
    settle::apply_intent_to_all(s, &store::of_intent(&s.pool, &p.intent_id).await?, &intent).await?;
    Ok(())
}
