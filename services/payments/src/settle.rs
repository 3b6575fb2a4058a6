//! How a payment moves, whoever notices the change first: the webhook, the
//! reconciler or the buyer. Every step locks the payment row, so they take
//! turns, and every outside call is idempotent (the reservation's confirm
//! and refund, the provider's refund under a key), so a step cut short is
//! simply done again.
//!
//! ```text
//! OPEN ──intent succeeded──▶ confirm reservation ──ok──▶ SUCCEEDED
//!   │                              └─hold ended─▶ REFUNDING ─▶ REFUNDED (+ e-mail)
//!   └──intent canceled──▶ CANCELED
//! SUCCEEDED ──buyer asks, before the cut-off──▶ refund reservation ─▶ REFUNDING ─▶ REFUNDED
//! SUCCEEDED ──refunded at the provider, or disputed──▶ revoke reservation ─▶ REFUNDED
//! ```

use ticktak_contracts::reservations::{self as contract, ReservationRecord};
use ticktak_kit::auth::Claims;
use ticktak_kit::mail::Mail;
use ticktak_kit::{ApiError, ApiResult};
use uuid::Uuid;

use crate::provider::{Intent, IntentStatus, ProviderError};
use crate::store::{self, Payment, PaymentStatus};
use crate::AppState;

/// Why a step could not finish now; the reconciler tries again.
#[derive(Debug, thiserror::Error)]
pub enum Later {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Unreachable(String),
}

impl From<Later> for ApiError {
    fn from(e: Later) -> Self {
        match e {
            Later::Database(e) => ApiError::from(e),
            Later::Unreachable(m) => ApiError::Unavailable(m),
        }
    }
}

/// Bring payment `id` up to date with what the provider says of its intent.
pub async fn apply_intent(s: &AppState, id: Uuid, intent: &Intent) -> Result<PaymentStatus, Later> {
    let mut tx = s.pool.begin().await?;
    let Some(p) = store::lock(&mut tx, id).await? else {
        return Ok(PaymentStatus::Canceled);
    };
    match (p.status, intent.status) {
        (PaymentStatus::Open, IntentStatus::Succeeded) => {
            // An order's lines share one intent: it pays for all of them.
            let owed = store::intent_total(&mut tx, &p.intent_id).await?;
            let matches = intent.amount == owed && intent.currency.eq_ignore_ascii_case(&p.currency);
            let confirmed = if matches {
                let reservation = p.reservation_id.to_string();
                s.reservations
                    .post_or_refusal::<_, ReservationRecord>(&contract::confirm_path(&reservation), &())
                    .await
                    .map_err(|e| Later::Unreachable(format!("{e:#}")))?
            } else {
                tracing::error!(payment = %p.id, intent.amount, p.amount, "paid amount differs from the reservation's");
                metrics::counter!("payments_amount_mismatch_total").increment(1);
                Err(ticktak_kit::internal::Refusal { status: 409, message: "paid amount differs".into() })
            };
            match confirmed {
                Ok(_) => {
                    store::set_status(&mut tx, p.id, PaymentStatus::Succeeded, None, None).await?;
                    tx.commit().await?;
                    metrics::counter!("payments_succeeded_total").increment(1);
                    Ok(PaymentStatus::Succeeded)
                }
                Err(refusal) => {
                    // Paid for a hold that is gone: the money goes back.
                    tracing::info!(payment = %p.id, reason = %refusal.message, "paid too late; refunding");
                    store::set_status(&mut tx, p.id, PaymentStatus::Refunding, None, Some(store::REFUND_HOLD_ENDED))
                        .await?;
                    tx.commit().await?;
                    finish_refund(s, p.id).await
                }
            }
        }
        (PaymentStatus::Open, IntentStatus::Canceled) => {
            store::set_status(&mut tx, p.id, PaymentStatus::Canceled, intent.last_error.as_deref(), None).await?;
            tx.commit().await?;
            Ok(PaymentStatus::Canceled)
        }
        (PaymentStatus::Open, _) => {
            // Still waiting; note why the last attempt failed (a declined card).
            // The update also moves the payment to the back of the
            // reconciler's queue.
            store::set_status(&mut tx, p.id, PaymentStatus::Open, intent.last_error.as_deref(), None).await?;
            tx.commit().await?;
            Ok(PaymentStatus::Open)
        }
        (settled, _) => Ok(settled),
    }
}

/// [`apply_intent`] to every payment `intent` pays for (one, or an order's
/// lines); the last one's status.
pub async fn apply_intent_to_all(s: &AppState, payments: &[Payment], intent: &Intent) -> Result<PaymentStatus, Later> {
    let mut last = PaymentStatus::Canceled;
    for p in payments {
        last = apply_intent(s, p.id, intent).await?;
    }
    Ok(last)
}

/// Finish a refund: the provider's refund (once per payment), then
/// REFUNDED, and the buyer told when they did not ask for it.
pub async fn finish_refund(s: &AppState, id: Uuid) -> Result<PaymentStatus, Later> {
    let mut tx = s.pool.begin().await?;
    let Some(p) = store::lock(&mut tx, id).await? else {
        return Ok(PaymentStatus::Canceled);
    };
    if p.status != PaymentStatus::Refunding {
        return Ok(p.status);
    }
    let refund = match s.provider.refund(&p.id.to_string(), &p.intent_id, p.amount).await {
        Ok(refund) => refund,
        Err(ProviderError::Unreachable(e)) => return Err(Later::Unreachable(e)),
        Err(ProviderError::Refused(e)) => {
            // Nothing we can retry into success: leave it for an operator.
            tracing::error!(payment = %p.id, error = %e, "the provider refused the refund");
            metrics::counter!("payments_refund_refused_total").increment(1);
            store::set_status(&mut tx, p.id, PaymentStatus::Refunding, Some(&e), None).await?;
            tx.commit().await?;
            return Ok(PaymentStatus::Refunding);
        }
    };
    store::set_refund_ref(&mut tx, p.id, &refund).await?;
    store::set_status(&mut tx, p.id, PaymentStatus::Refunded, None, None).await?;
    if p.refund_reason.as_deref() == Some(store::REFUND_HOLD_ENDED) {
        if let Some(mail) = late_payment_mail(&p) {
            ticktak_kit::mail::enqueue(&mut tx, &mail).await?;
        }
    }
    tx.commit().await?;
    metrics::counter!("payments_refunded_total").increment(1);
    Ok(PaymentStatus::Refunded)
}

/// The provider says the money went back without a refund of ours (a full
/// refund from its dashboard, a dispute): the reservation is revoked, its
/// tickets stop working and the payment is REFUNDED with `reason`. A payment
/// refunding or refunded already (our own refund's echo) is left alone.
pub async fn money_returned(s: &AppState, id: Uuid, reason: &'static str) -> Result<PaymentStatus, Later> {
    let mut tx = s.pool.begin().await?;
    let Some(p) = store::lock(&mut tx, id).await? else {
        return Ok(PaymentStatus::Canceled);
    };
    if p.status != PaymentStatus::Succeeded {
        return Ok(p.status);
    }
    let reservation = p.reservation_id.to_string();
    let revoked = s
        .reservations
        .post_or_refusal::<_, ReservationRecord>(&contract::revoke_path(&reservation), &())
        .await
        .map_err(|e| Later::Unreachable(format!("{e:#}")))?;
    if let Err(refusal) = revoked {
        // The money is gone all the same: record it, and tell an operator.
        tracing::error!(payment = %p.id, reason = %refusal.message, "the reservation of a taken-back payment was not revoked");
    }
    store::set_status(&mut tx, p.id, PaymentStatus::Refunded, None, Some(reason)).await?;
    tx.commit().await?;
    metrics::counter!("payments_taken_back_total", "reason" => reason).increment(1);
    Ok(PaymentStatus::Refunded)
}

/// Who asked for money back through the API.
pub enum Asker<'a> {
    Buyer,
    /// An admin on the buyer's behalf, recorded in the audit trail.
    Operator {
        admin: &'a Claims,
        reason: &'a str,
    },
}

/// The buyer, or an admin on their behalf, asks for the money back: the
/// same rules (paid, before the cut-off, no ticket used).
pub async fn refund_on_request(s: &AppState, id: Uuid, asker: Asker<'_>) -> ApiResult<PaymentStatus> {
    let mut tx = s.pool.begin().await?;
    let p = store::lock(&mut tx, id).await?.ok_or_else(|| ApiError::NotFound("no such payment".into()))?;
    match p.status {
        PaymentStatus::Succeeded => {
            let reservation = p.reservation_id.to_string();
            let answer = s
                .reservations
                .post_or_refusal::<_, ReservationRecord>(&contract::refund_path(&reservation), &())
                .await
                .map_err(|e| ApiError::Unavailable(format!("reservations unavailable: {e:#}")))?;
            if let Err(refusal) = answer {
                return Err(ApiError::Conflict(refusal.message));
            }
            let why = match asker {
                Asker::Buyer => store::REFUND_BY_BUYER,
                Asker::Operator { admin, reason } => {
                    let target = p.reservation_id.to_string();
                    ticktak_kit::audit::record(&mut *tx, admin, "order.refund", &target, reason).await?;
                    store::REFUND_BY_OPERATOR
                }
            };
            store::set_status(&mut tx, p.id, PaymentStatus::Refunding, None, Some(why)).await?;
            tx.commit().await?;
            // A provider outage leaves it REFUNDING; the reconciler finishes.
            Ok(finish_refund(s, p.id).await.unwrap_or(PaymentStatus::Refunding))
        }
        PaymentStatus::Refunding | PaymentStatus::Refunded => Ok(p.status),
        PaymentStatus::Open | PaymentStatus::Canceled => {
            Err(ApiError::Conflict("the payment did not go through".into()))
        }
    }
}

fn late_payment_mail(p: &Payment) -> Option<Mail> {
    Some(Mail {
        dedupe_key: format!("late-payment-refunded:{}", p.id),
        to: p.buyer_email.clone()?,
        subject: "Your payment was refunded: the hold had ended".into(),
        body: format!(
            "Your payment of {}.{:02} {} for reservation {} arrived after its hold had expired or was cancelled,\n\
             so no tickets were issued for it and that amount is on its way back to your card.\n",
            p.amount / 100,
            p.amount % 100,
            p.currency.to_ascii_uppercase(),
            p.reservation_id
        ),
        attachments: vec![],
    })
}
