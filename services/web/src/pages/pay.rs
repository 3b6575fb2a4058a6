//! Paying on the site: the card form (Stripe.js confirms the payment in the
//! browser, 3-D Secure included; the card never reaches this site) and the
//! step after it, which asks payments how the confirmation ended. One form
//! serves a reservation's checkout and an order's.

use maud::{html, Markup};
use serde::Deserialize;
use ticktak_contracts::payments::{OrderPayment, PaymentView};
use uuid::Uuid;

use super::forms::uuid_like;
use crate::error::WebError;
use crate::layout::{cents, csrf_field, script};
use crate::session::Visitor;
use crate::AppState;

/// What the card form pays: a reservation's payment or an order's.
pub struct Charge {
    /// The payment the form posts back (any line's, for an order).
    pub payment_id: Option<Uuid>,
    /// Minor units (cents).
    pub amount: i64,
    /// For Stripe.js, while the payment is open.
    pub client_secret: Option<String>,
}

impl Charge {
    pub fn of_payment(p: &PaymentView) -> Self {
        Self { payment_id: Some(p.payment_id), amount: p.amount, client_secret: p.client_secret.clone() }
    }

    pub fn of_order(p: &OrderPayment) -> Self {
        Self {
            payment_id: p.payments.first().map(|line| line.payment_id),
            amount: p.amount,
            client_secret: p.client_secret.clone(),
        }
    }
}

/// The checkout's two cards: the card form (Stripe.js confirms `payment`
/// in the browser, then the form posts to `{base}/pay`) and the form that
/// backs out (`{base}/cancel`). `what` follows the amount in the heading.
pub fn pay_and_back_out(
    state: &AppState,
    visitor: &Visitor,
    base: &str,
    payment: &Charge,
    what: &str,
    back_out: &str,
) -> Markup {
    let payment_id = payment.payment_id.map(|id| id.to_string()).unwrap_or_default();
    html! {
        div.two {
            section.card aria-labelledby="pay" {
                h2 #pay { "Pay " (cents(payment.amount)) (what) }
                form #pay-form.stack method="post" action={ (base) "/pay" }
                    data-key=(state.config.stripe_publishable_key) data-secret=(payment.client_secret.as_deref().unwrap_or_default()) {
                    (csrf_field(visitor))
                    input type="hidden" name="payment" value=(payment_id);
                    div {
                        label for="card-element" { "Card" }
                        div #card-element {}
                    }
                    p #card-message role="status" aria-live="polite" {}
                    button type="submit" { "Pay now" }
                }
                noscript { p { "Paying by card needs JavaScript." } }
            }
            section.card aria-labelledby="back" {
                h2 #back { "Changed your mind?" }
                form method="post" action={ (base) "/cancel" } {
                    (csrf_field(visitor))
                    button.secondary type="submit" { (back_out) }
                }
            }
        }
        script src=(state.config.stripe_js_url) {}
        (script("/static/checkout.js"))
    }
}

#[derive(Debug, Deserialize)]
pub struct PayForm {
    pub csrf: String,
    pub payment: String,
}

/// The browser confirmed the payment of `form` with Stripe.js (the card
/// never reaches this site; 3-D Secure, when the card asks for it, ran
/// there too): payments asks the provider how it ended. `Ok(None)` when
/// the page should simply be shown again, `Ok(Some(why))` when the card was
/// declined or not authenticated.
pub async fn sync_payment(state: &AppState, visitor: &Visitor, form: &PayForm) -> Result<Option<String>, WebError> {
    visitor.account()?;
    visitor.check_csrf(&form.csrf)?;
    let payment = uuid_like(&form.payment).ok_or_else(|| WebError::bad_request("No such payment."))?;
    let url = format!("{}/api/payments/{payment}/sync", state.config.payments);
    let reply = state.apis.post(url, visitor.who(), &serde_json::json!({})).await?;
    match reply.status {
        200..=299 | 409 => Ok(None),
        402 => Ok(Some(reply.message())),
        _ => Err(WebError::from_reply(&reply)),
    }
}
