//! The payments service of a test platform, against the Stripe stand-in
//! `make test` starts (`TEST_STRIPE_API_BASE`, default
//! http://127.0.0.1:8420/), and what a buyer's browser does with Stripe.js:
//! attach a card to the intent and confirm it.

use std::time::Duration;

use payments::config::PaymentsConfig;
use serde_json::{json, Value};
use ticktak_kit::service::Running;
use ticktak_kit::Service;
use tokio_util::sync::CancellationToken;

use crate::Platform;

pub fn standin_url() -> String {
    std::env::var("TEST_STRIPE_API_BASE").unwrap_or_else(|_| "http://127.0.0.1:8420/".into())
}

/// Cards of the stand-in (Stripe's test numbers).
pub const CARD_OK: &str = "4242424242424242";
pub const CARD_DECLINED: &str = "4000000000000341";
/// A card whose bank asks the buyer to authenticate (3-D Secure).
pub const CARD_3DS: &str = "4000002500003155";
/// Any `pk_` key satisfies the stand-in.
const PUBLISHABLE_KEY: &str = "pk_test_ticktak_tests";

/// A running payments service and how to reach it.
pub struct Payments {
    pub running: Running,
    pub webhook_secret: String,
    pub http: reqwest::Client,
}

impl Payments {
    /// Start the payments service of `platform`. Its webhook endpoint is
    /// registered with the stand-in unless `webhooks` is false (a lost
    /// webhook); `adjust` changes the test defaults.
    pub async fn start(platform: &Platform, webhooks: bool, adjust: impl FnOnce(&mut PaymentsConfig)) -> Self {
        let secret = format!("whsec_{}", crate::unique("t"));
        let mut config = PaymentsConfig {
            stripe_secret_key: payments::config::DEV_STRIPE_SECRET_KEY.to_string().into(),
            stripe_api_base: standin_url(),
            webhook_secret: secret.clone().into(),
            currency: "usd".parse().expect("a currency"),
            reservations_url: platform.reservations.internal_url(),
            reconcile_every: Duration::from_secs(1),
            // As in production (60 s), a payment the webhook did not settle
            // is asked of the provider: the stand-in delivers each event once
            // and does not retry, so a webhook lost under load is made good
            // here. Tests of the webhook path post to it directly.
            reconcile_after: Duration::from_secs(10),
            mail: crate::mail::settings(&crate::mail::smtp_url()),
        };
        adjust(&mut config);
        let running = payments::start_with(platform.env.settings(Service::Payments), config, CancellationToken::new())
            .await
            .expect("payments starts");
        let http = reqwest::Client::new();
        if webhooks {
            let id = crate::unique(&platform.env.platform_id);
            let res = http
                .post(format!("{}_config/webhooks/{id}", standin_url()))
                .json(&json!({"url": format!("{}/webhooks/stripe", running.url()), "secret": secret}))
                .send()
                .await
                .expect("the Stripe stand-in answers");
            assert!(res.status().is_success(), "webhook registered: {}", res.status());
        }
        Self { running, webhook_secret: secret, http }
    }

    /// Call the payments API as `buyer` of `platform`.
    pub async fn call(
        &self,
        platform: &Platform,
        method: reqwest::Method,
        path: &str,
        buyer: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req =
            self.http.request(method, format!("{}{path}", self.running.url())).bearer_auth(platform.token(buyer));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("payments answers");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Wait until the payment `id` of `buyer` reaches `status`; returns it.
    pub async fn wait_status(
        &self,
        platform: &Platform,
        buyer: &str,
        id: &str,
        status: &str,
        within: Duration,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let (_, p) = self.call(platform, reqwest::Method::GET, &format!("/api/payments/{id}"), buyer, None).await;
            if p["status"] == status || tokio::time::Instant::now() >= deadline {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The intent id inside a client secret (`pi_…_secret_…`).
pub fn intent_of(client_secret: &str) -> String {
    client_secret.split("_secret_").next().expect("a client secret").to_string()
}

async fn stripe(path: &str, body: Value) -> Value {
    let res = reqwest::Client::new()
        .post(format!("{}v1/{path}", standin_url()))
        .bearer_auth(payments::config::DEV_STRIPE_SECRET_KEY)
        .json(&body)
        .send()
        .await
        .expect("the Stripe stand-in answers");
    let status = res.status();
    let body: Value = res.json().await.expect("JSON");
    assert!(status.is_success(), "stand-in {path}: {status} {body}");
    body
}

/// A card payment method (`pm_…`), as Stripe.js's `createPaymentMethod`
/// makes one in a buyer's browser or app.
pub async fn payment_method(card: &str) -> String {
    let pm = stripe(
        "payment_methods",
        json!({"type": "card", "card": {"number": card, "exp_month": "12", "exp_year": "2034", "cvc": "123"}}),
    )
    .await;
    pm["id"].as_str().expect("a payment method id").to_string()
}

/// What Stripe.js does in the buyer's browser: a card payment method,
/// attached to the intent, then the confirmation (the stand-in refuses the
/// card in the confirm call itself, hence two calls).
pub async fn pay(client_secret: &str, card: &str) -> Value {
    let intent = intent_of(client_secret);
    stripe(&format!("payment_intents/{intent}"), json!({"payment_method": payment_method(card).await})).await;
    let res = reqwest::Client::new()
        .post(format!("{}v1/payment_intents/{intent}/confirm", standin_url()))
        .bearer_auth(payments::config::DEV_STRIPE_SECRET_KEY)
        .send()
        .await
        .expect("the Stripe stand-in answers");
    res.json().await.unwrap_or(Value::Null)
}

/// What Stripe.js's `confirmCardPayment(clientSecret, {payment_method:
/// {card}})` sends from the buyer's browser: the card, the publishable key
/// and the intent's client secret, straight to the provider. Returns the
/// provider's answer (the intent, or an error for a declined card).
pub async fn confirm_in_browser(client_secret: &str, card: &str) -> Value {
    let intent = intent_of(client_secret);
    browser_call(
        &format!("payment_intents/{intent}/confirm"),
        json!({
            "key": PUBLISHABLE_KEY,
            "client_secret": client_secret,
            "payment_method_data": {"type": "card", "card": {"number": card, "exp_month": "12", "exp_year": "2034", "cvc": "123"}},
        }),
    )
    .await
}

/// The buyer's answer to their bank's 3-D Secure question, as Stripe.js
/// sends it.
pub async fn authenticate(client_secret: &str, success: bool) -> Value {
    let intent = intent_of(client_secret);
    browser_call(
        &format!("payment_intents/{intent}/_authenticate?success={success}"),
        json!({"key": PUBLISHABLE_KEY, "client_secret": client_secret}),
    )
    .await
}

async fn browser_call(path: &str, body: Value) -> Value {
    let res = reqwest::Client::new()
        .post(format!("{}v1/{path}", standin_url()))
        .body(body.to_string())
        .send()
        .await
        .expect("the Stripe stand-in answers");
    res.json().await.unwrap_or(Value::Null)
}

/// The intent as the stand-in has it now.
pub async fn intent(id: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}v1/payment_intents/{id}", standin_url()))
        .bearer_auth(payments::config::DEV_STRIPE_SECRET_KEY)
        .send()
        .await
        .expect("the Stripe stand-in answers")
        .json()
        .await
        .expect("JSON")
}
