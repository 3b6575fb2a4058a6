//! The payment provider: Stripe, through `async-stripe`. The same calls run
//! against api.stripe.com and the development stand-in; only
//! `STRIPE_API_BASE` differs.
//!
//! Every call that creates something carries an `Idempotency-Key` derived
//! from what it is for (the reservation, the refunded payment), so a retry
//! after a lost answer never charges or refunds twice.

use std::collections::HashMap;
use std::str::FromStr;

use stripe::{
    CancelPaymentIntent, CreatePaymentIntent, CreateRefund, PaymentIntent, PaymentIntentConfirmParams, PaymentIntentId,
    PaymentIntentStatus, PaymentMethodId, Refund, RequestStrategy, StripeError, UpdatePaymentIntent,
};

use crate::config::PaymentsConfig;

/// Where a payment intent stands at the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntentStatus {
    /// Waiting for the buyer's card (or another one) and its confirmation.
    Open,
    /// Waiting for the buyer to prove to their bank it is them (3-D
    /// Secure): Stripe.js does it in the browser. Open, as far as paying goes.
    NeedsAuthentication,
    /// The bank is working on it.
    Processing,
    Succeeded,
    Canceled,
}

/// What we read of a payment intent.
#[derive(Debug, Clone)]
pub struct Intent {
    pub id: String,
    pub status: IntentStatus,
    pub amount: i64,
    /// ISO 4217, lower case.
    pub currency: String,
    pub client_secret: Option<String>,
    pub metadata: HashMap<String, String>,
    /// Why the last attempt failed (e.g. `card_declined`).
    pub last_error: Option<String>,
}

impl From<PaymentIntent> for Intent {
    fn from(pi: PaymentIntent) -> Self {
        let status = match pi.status {
            PaymentIntentStatus::Succeeded => IntentStatus::Succeeded,
            PaymentIntentStatus::Canceled => IntentStatus::Canceled,
            PaymentIntentStatus::Processing => IntentStatus::Processing,
            PaymentIntentStatus::RequiresAction => IntentStatus::NeedsAuthentication,
            _ => IntentStatus::Open,
        };
        let last_error = pi.last_payment_error.map(|e| {
            e.decline_code
                .or_else(|| e.code.map(|c| c.to_string()))
                .or(e.message)
                .unwrap_or_else(|| "payment failed".into())
        });
        Self {
            id: pi.id.to_string(),
            status,
            amount: pi.amount,
            currency: pi.currency.to_string(),
            client_secret: pi.client_secret,
            metadata: pi.metadata,
            last_error,
        }
    }
}

/// Metadata keys naming what an intent pays for.
pub const META_RESERVATION: &str = "reservation_id";
pub const META_PLATFORM: &str = "platform_id";
pub const META_PAYMENT: &str = "payment_id";
pub const META_ORDER: &str = "order_id";

/// A provider call that failed: refused (4xx: the request is wrong or the
/// object is in another state) or not reached (retry later).
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("the payment provider refused: {0}")]
    Refused(String),
    #[error("the payment provider is unreachable: {0}")]
    Unreachable(String),
}

impl From<StripeError> for ProviderError {
    fn from(e: StripeError) -> Self {
        match e {
            StripeError::Stripe(r) if (400..500).contains(&r.http_status) => {
                ProviderError::Refused(r.message.unwrap_or_else(|| format!("HTTP {}", r.http_status)))
            }
            other => ProviderError::Unreachable(other.to_string()),
        }
    }
}

#[derive(Clone)]
pub struct Provider {
    client: stripe::Client,
    platform: String,
    currency: stripe::Currency,
}

impl Provider {
    pub fn new(config: &PaymentsConfig, platform: &str) -> Self {
        let secret = secrecy::ExposeSecret::expose_secret(&config.stripe_secret_key).to_string();
        Self {
            client: stripe::Client::from_url(config.stripe_api_base.as_str(), secret),
            platform: platform.to_string(),
            currency: config.currency,
        }
    }

    fn keyed(&self, key: String) -> stripe::Client {
        self.client.clone().with_strategy(RequestStrategy::Idempotent(key))
    }

    /// The currency every payment of this platform is in (ISO 4217, lower case).
    pub fn currency(&self) -> String {
        self.currency.to_string()
    }

    /// Whether `intent` was created by this platform (two platforms may share
    /// one provider account and webhook endpoint).
    pub fn is_ours(&self, intent: &Intent) -> bool {
        intent.metadata.get(META_PLATFORM).is_some_and(|p| *p == self.platform)
    }

    /// An intent of `amount` minor units for `reservation`; the same
    /// reservation always gets the same intent back.
    pub async fn create_intent(&self, payment: &str, reservation: &str, amount: i64) -> Result<Intent, ProviderError> {
        let mut params = CreatePaymentIntent::new(amount, self.currency);
        params.metadata = Some(HashMap::from([
            (META_RESERVATION.to_string(), reservation.to_string()),
            (META_PLATFORM.to_string(), self.platform.clone()),
            (META_PAYMENT.to_string(), payment.to_string()),
        ]));
        let key = format!("ticktak-{}-intent-{reservation}", self.platform);
        Ok(PaymentIntent::create(&self.keyed(key), params).await?.into())
    }

    /// One intent of `amount` minor units for the held `lines` of `order`.
    /// The same lines always get the same intent back (the key names them,
    /// and the request is the same for them: a retry after a lost answer, or
    /// two requests at once, meet one intent); lines that changed (one
    /// expired meanwhile) get an intent of their own.
    pub async fn create_order_intent(
        &self,
        order: &str,
        lines: &[String],
        amount: i64,
    ) -> Result<Intent, ProviderError> {
        let mut params = CreatePaymentIntent::new(amount, self.currency);
        params.metadata = Some(HashMap::from([
            (META_ORDER.to_string(), order.to_string()),
            (META_PLATFORM.to_string(), self.platform.clone()),
        ]));
        let digest = ring::digest::digest(&ring::digest::SHA256, lines.join(",").as_bytes());
        let which: String = digest.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
        let key = format!("ticktak-{}-intent-order-{order}-{which}", self.platform);
        Ok(PaymentIntent::create(&self.keyed(key), params).await?.into())
    }

    /// The intent `id` as the provider has it now.
    pub async fn intent(&self, id: &str) -> Result<Intent, ProviderError> {
        let id = PaymentIntentId::from_str(id).map_err(|e| ProviderError::Refused(e.to_string()))?;
        Ok(PaymentIntent::retrieve(&self.client, &id, &[]).await?.into())
    }

    /// Pay `intent` with `method`, a payment method the buyer's browser made
    /// with Stripe.js (`pm_…`, or the `card_…` of a card token): the
    /// "finalize on the server" flow of API clients (the web site confirms in
    /// the browser instead). A declined card is `Ok` with the intent still
    /// open and its `last_error` set; a card that asks for 3-D Secure is `Ok`
    /// with the intent `NeedsAuthentication`.
    pub async fn confirm(&self, intent: &str, method: &str) -> Result<Intent, ProviderError> {
        let id = PaymentIntentId::from_str(intent).map_err(|e| ProviderError::Refused(e.to_string()))?;
        let method = PaymentMethodId::from_str(method)
            .map_err(|_| ProviderError::Refused("not a payment method id (pm_…, card_…)".into()))?;
        let mut update = UpdatePaymentIntent::new();
        update.payment_method = Some(method);
        PaymentIntent::update(&self.client, &id, update).await?;
        match PaymentIntent::confirm(&self.client, intent, PaymentIntentConfirmParams::default()).await {
            Ok(pi) => Ok(pi.into()),
            Err(StripeError::Stripe(r)) if r.http_status == 402 => {
                let mut now = self.intent(intent).await?;
                now.last_error = now.last_error.or(r.code.map(|c| c.to_string())).or(r.message);
                Ok(now)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Cancel an intent that must not be paid any more (its hold ended).
    pub async fn cancel(&self, id: &str) -> Result<Intent, ProviderError> {
        Ok(PaymentIntent::cancel(&self.client, id, CancelPaymentIntent::default()).await?.into())
    }

    /// Refund `amount` minor units of `intent` (all of it for a payment of
    /// its own, a line's part for an order's); the same `payment` is
    /// refunded once. Returns the refund's id.
    pub async fn refund(&self, payment: &str, intent: &str, amount: i64) -> Result<String, ProviderError> {
        let id = PaymentIntentId::from_str(intent).map_err(|e| ProviderError::Refused(e.to_string()))?;
        let mut params = CreateRefund::new();
        params.payment_intent = Some(id);
        params.amount = Some(amount);
        let key = format!("ticktak-{}-refund-{payment}", self.platform);
        let refund = Refund::create(&self.keyed(key), params).await?;
        match refund.status.as_deref() {
            Some("failed") | Some("canceled") => Err(ProviderError::Refused(format!("refund {} failed", refund.id))),
            _ => Ok(refund.id.to_string()),
        }
    }
}
