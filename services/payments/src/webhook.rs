//! `POST /webhooks/stripe`: the provider tells us an intent changed.
//!
//! The signature (`Stripe-Signature`, HMAC-SHA256 with
//! `STRIPE_WEBHOOK_SECRET`, at most 5 minutes old; `signature`) is checked
//! before anything is read. Each event is handled once (its id is noted); intents
//! of other platforms sharing the account are acknowledged and ignored.
//! Webhooks get lost: the reconciler asks the provider about payments still
//! open, so a missed webhook delays a confirmation, never loses it.
//!
//! Money that goes back outside our refunds — a full refund from the
//! provider's dashboard (`charge.refunded`), a dispute
//! (`charge.dispute.created`) — revokes the order's tickets
//! (`settle::money_returned`). A partial refund from the dashboard is left
//! to an operator.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use ticktak_kit::http::Json;
use ticktak_kit::{ApiError, ApiResult};
use utoipa::ToSchema;

use crate::provider::Intent;
use crate::{settle, signature, store, AppState};

/// The answer to the provider.
#[derive(Debug, Serialize, ToSchema)]
pub struct Received {
    pub received: bool,
    /// `applied`, `duplicate`, `ignored` (not ours, or not an event we act on).
    pub outcome: &'static str,
}

fn answer(outcome: &'static str) -> ApiResult<(StatusCode, Json<Received>)> {
    metrics::counter!("payments_webhooks_total", "outcome" => outcome).increment(1);
    Ok((StatusCode::OK, Json(Received { received: true, outcome })))
}

/// The events that move a payment.
const ACTED_ON: [&str; 3] = ["payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled"];

/// The events that say money went back without a refund of ours.
const MONEY_BACK: [&str; 2] = ["charge.refunded", "charge.dispute.created"];

/// The envelope of a provider event.
#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: serde_json::Value,
}

/// Largest webhook body accepted.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

#[utoipa::path(post, path = "/webhooks/stripe", tag = "webhooks",
    params(("Stripe-Signature" = String, Header)),
    responses((status = 200, body = Received), (status = 400, description = "missing or bad signature, or too old"),
        (status = 503, description = "could not act on it now; the provider sends it again")))]
pub async fn receive(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: String,
) -> ApiResult<(StatusCode, Json<Received>)> {
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::BadRequest("missing Stripe-Signature".into()))?;
    let secret = secrecy::ExposeSecret::expose_secret(&s.config.webhook_secret);
    match signature::verify(body.as_bytes(), signature, secret.as_bytes(), chrono::Utc::now().timestamp()) {
        Ok(()) => {}
        Err(why) => {
            metrics::counter!("payments_webhooks_total", "outcome" => "refused").increment(1);
            return Err(ApiError::BadRequest(why.to_string()));
        }
    }
    // Signed, so it is the provider's; anything we do not read is
    // acknowledged and left alone.
    let Ok(event) = serde_json::from_str::<Event>(&body) else {
        return answer("ignored");
    };
    if MONEY_BACK.contains(&event.kind.as_str()) {
        return money_back(&s, event).await;
    }
    if !ACTED_ON.contains(&event.kind.as_str())
        || event.data.object.get("object").and_then(|o| o.as_str()) != Some("payment_intent")
    {
        return answer("ignored");
    }
    let intent = match serde_json::from_value::<stripe::PaymentIntent>(event.data.object) {
        Ok(pi) => Intent::from(pi),
        Err(e) => {
            // The reconciler will read the intent itself.
            tracing::warn!(error = %e, event = %event.id, "unreadable payment intent in a webhook");
            return answer("ignored");
        }
    };
    if !s.provider.is_ours(&intent) {
        return answer("ignored");
    }
    let payments = store::of_intent(&s.pool, &intent.id).await?;
    if payments.is_empty() {
        return answer("ignored");
    }
    once(&s, &event.id, &event.kind, settle::apply_intent_to_all(&s, &payments, &intent)).await
}

/// Act on event `id` unless it was handled before, then note it: an event is
/// applied once however often the provider sends it. A step that could not
/// finish leaves it unnoted, for the provider's next delivery.
async fn once(
    s: &AppState,
    id: &str,
    kind: &str,
    act: impl std::future::Future<Output = Result<store::PaymentStatus, settle::Later>>,
) -> ApiResult<(StatusCode, Json<Received>)> {
    if seen(s, id).await? {
        return answer("duplicate");
    }
    act.await?;
    let mut tx = s.pool.begin().await?;
    let first = store::first_sight_of_event(&mut tx, id, kind).await?;
    tx.commit().await?;
    answer(if first { "applied" } else { "duplicate" })
}

/// A charge refunded or disputed at the provider: its payment, if it is one
/// of ours, is taken back.
async fn money_back(s: &AppState, event: Event) -> ApiResult<(StatusCode, Json<Received>)> {
    let object = &event.data.object;
    let Some(intent_id) = object.get("payment_intent").and_then(|v| v.as_str()) else {
        return answer("ignored");
    };
    let (disputed, whole) = match event.kind.as_str() {
        "charge.dispute.created" => (true, true),
        _ => (false, object.get("refunded").and_then(|v| v.as_bool()) == Some(true)),
    };
    let payments = store::of_intent(&s.pool, intent_id).await?;
    if payments.is_empty() {
        return answer("ignored");
    }
    if !whole {
        tracing::warn!(intent = %intent_id, event = %event.id, "part of a payment was refunded at the provider; tickets kept");
        return answer("ignored");
    }
    let reason = if disputed { store::REFUND_DISPUTED } else { store::REFUND_BY_PROVIDER };
    let all = async {
        let mut last = store::PaymentStatus::Refunded;
        for p in &payments {
            last = settle::money_returned(s, p.id, reason).await?;
        }
        Ok(last)
    };
    once(s, &event.id, &event.kind, all).await
}

async fn seen(s: &AppState, id: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM webhook_events WHERE id = $1)").bind(id).fetch_one(&s.pool).await
}
