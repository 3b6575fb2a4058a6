//! From a hold to paid tickets: place the hold, the order page (countdown
//! and card form while HELD; tickets once CONFIRMED; the cancelled page
//! when the buyer backs out or the hold runs out), pay, cancel.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};
use ticktak_core::Quantity;

use super::forms::{uuid_like, CsrfForm};
use super::matches::HoldForm;
use crate::error::WebError;
use crate::layout::{self, cents, csrf_field, dollars, script};
use crate::session::Visitor;
use crate::AppState;

/// `POST /matches/{n}/hold`.
pub async fn hold(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(n): Path<u8>,
    Form(form): Form<HoldForm>,
) -> Result<Response, WebError> {
    visitor.account()?;
    visitor.check_csrf(&form.csrf)?;
    if form.key.is_empty() || form.key.len() > 64 {
        return Err(WebError::bad_request("This form has expired. Go back, reload the page and try again."));
    }
    if form.quantity > Quantity::MAX && form.admission.is_empty() {
        // More tickets than one hold takes: an order of one line, held as
        // several holds (see `cart`).
        let line = super::cart::Line { match_number: n, category: form.category, quantity: form.quantity };
        let solution = Some(form.challenge.as_str()).filter(|s| !s.is_empty() && s.len() <= 2048);
        return match super::cart::place(&state, &visitor, &[line], &form.key, solution).await? {
            Ok(id) => Ok(Redirect::to(&format!("/carts/{id}")).into_response()),
            Err(reply) if reply.status == 428 && solution.is_none() => {
                let mut page = super::matches::page(&state, &visitor, n, None, Some(&form), None).await?;
                *page.status_mut() = axum::http::StatusCode::PRECONDITION_REQUIRED;
                Ok(page)
            }
            Err(reply) if matches!(reply.status, 400 | 403 | 404 | 409 | 422) => {
                let mut page = super::matches::page(&state, &visitor, n, Some(&reply.message()), None, None).await?;
                *page.status_mut() = axum::http::StatusCode::CONFLICT;
                Ok(page)
            }
            Err(reply) => Err(WebError::from_reply(&reply)),
        };
    }
    let mut body = json!({"matchNumber": n, "category": form.category, "quantity": form.quantity});
    if !form.admission.is_empty() {
        body["admission"] = json!(form.admission);
    }
    let url = format!("{}/api/reservations", state.config.reservations);
    let solution = Some(form.challenge.as_str()).filter(|s| !s.is_empty() && s.len() <= 2048);
    let who = crate::apis::As { solution, ..visitor.who() };
    let reply = state.apis.send(Method::POST, url, who, Some(&body), Some(&form.key)).await?;
    match (reply.status, reply.body["id"].as_str()) {
        (200..=299, Some(id)) => Ok(Redirect::to(&format!("/orders/{id}")).into_response()),
        // This account must solve a puzzle first: the page solves it and
        // sends the same order again.
        (428, _) if solution.is_none() => {
            let mut page = super::matches::page(&state, &visitor, n, None, Some(&form), None).await?;
            *page.status_mut() = axum::http::StatusCode::PRECONDITION_REQUIRED;
            Ok(page)
        }
        (409 | 422 | 400, _) | (403, _) if reply.status != 403 || reply.body["error"] == "admission_required" => {
            let why = match reply.body["status"].as_str() {
                Some("REJECTED") => "Those tickets were just taken. Try another category or fewer tickets.".to_string(),
                _ => reply.message(),
            };
            // An admission refused is not offered again.
            let admission =
                Some(form.admission.as_str()).filter(|a| !a.is_empty() && reply.body["error"] != "admission_required");
            let mut page = super::matches::page(&state, &visitor, n, Some(&why), None, admission).await?;
            *page.status_mut() = axum::http::StatusCode::CONFLICT;
            Ok(page)
        }
        _ => Err(WebError::from_reply(&reply)),
    }
}

async fn reservation(state: &AppState, visitor: &Visitor, id: &str) -> Result<Value, WebError> {
    if uuid_like(id).is_none() {
        return Err(WebError::NotFound("No such order.".into()));
    }
    let url = format!("{}/api/reservations/{id}", state.config.reservations);
    state.apis.get(url, visitor.who()).await?.success()
}

/// The payment of a held reservation (created once; the same one after).
async fn payment_of(state: &AppState, visitor: &Visitor, reservation: &str) -> Result<Value, WebError> {
    let url = format!("{}/api/payments", state.config.payments);
    state.apis.post(url, visitor.who(), &json!({"reservationId": reservation})).await?.success()
}

fn summary(r: &Value) -> Markup {
    let n = r["matchNumber"].as_u64().unwrap_or(0);
    html! {
        p {
            (r["quantity"].as_u64().unwrap_or(0)) " × Category " (r["category"].as_u64().unwrap_or(0))
            " · " a href={ "/matches/" (n) } { "Match " (n) }
            " · " (dollars(r["total"].as_i64().unwrap_or(0)))
        }
    }
}

/// `GET /orders/{id}`: whatever the reservation's status calls for.
pub async fn order(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    visitor.account()?;
    let r = reservation(&state, &visitor, &id).await?;
    if let Some(order) = r["orderId"].as_str() {
        // A line of a cart is paid and shown with its order.
        return Ok(Redirect::to(&format!("/carts/{order}")).into_response());
    }
    order_page(&state, &visitor, &id, &r, None).await
}

async fn order_page(
    state: &AppState,
    visitor: &Visitor,
    id: &str,
    r: &Value,
    error: Option<&str>,
) -> Result<Response, WebError> {
    let status = r["status"].as_str().unwrap_or("");
    let (title, body) = match status {
        "HELD" => ("Checkout", checkout(state, visitor, id, r, error).await?),
        "REQUESTED" => (
            "Waiting for the market",
            html! {
                h1 { "Holding your tickets…" }
                (summary(r))
                p data-reload-after="1000" { "Every platform is deciding who gets the last tickets. This page reloads by itself." }
                p { a href={ "/orders/" (id) } { "Reload" } }
            },
        ),
        "CONFIRMED" => ("Payment received", success(state, visitor, id, r).await?),
        "CANCELLED" | "EXPIRED" => (
            "Order cancelled",
            html! {
                h1 { "Order cancelled" }
                (layout::notice("ok", "Nothing was charged. The tickets you held are back on sale."))
                (summary(r))
                p { a.button href={ "/matches/" (r["matchNumber"].as_u64().unwrap_or(1)) } { "Back to the match" } }
            },
        ),
        "REJECTED" => (
            "Sold out",
            html! {
                h1 { "These tickets were sold out" }
                (summary(r))
                p { "Another buyer was first. Nothing was charged." }
                p { a.button href="/" { "Find other matches" } }
            },
        ),
        _ => (
            "Refunded",
            html! {
                h1 { "Order refunded" }
                (summary(r))
                p { "The money is on its way back and the tickets are no longer valid." }
            },
        ),
    };
    Ok(layout::page(Some(visitor), title, body).into_response())
}

async fn checkout(
    state: &AppState,
    visitor: &Visitor,
    id: &str,
    r: &Value,
    error: Option<&str>,
) -> Result<Markup, WebError> {
    let payment = payment_of(state, visitor, id).await?;
    let expires = r["expiresAt"].as_str().unwrap_or_default();
    Ok(html! {
        h1 { "Checkout" }
        (summary(r))
        p { "Your tickets are held for " strong.countdown data-expires=(expires) { "a few minutes" } " more." }
        @if let Some(e) = error { (layout::notice("error", e)) }
        (pay_and_back_out(state, visitor, &format!("/orders/{id}"), &payment, "", "Cancel and release the tickets"))
    })
}

/// The checkout's two cards: the card form (Stripe.js confirms `payment`
/// in the browser, then the form posts to `{base}/pay`) and the form that
/// backs out (`{base}/cancel`). `what` follows the amount in the heading.
pub fn pay_and_back_out(
    state: &AppState,
    visitor: &Visitor,
    base: &str,
    payment: &Value,
    what: &str,
    back_out: &str,
) -> Markup {
    let payment_id =
        payment["paymentId"].as_str().or_else(|| payment["payments"][0]["paymentId"].as_str()).unwrap_or_default();
    html! {
        div.two {
            section.card aria-labelledby="pay" {
                h2 #pay { "Pay " (cents(payment["amount"].as_i64().unwrap_or(0))) (what) }
                form #pay-form.stack method="post" action={ (base) "/pay" }
                    data-key=(state.config.stripe_publishable_key) data-secret=(payment["clientSecret"].as_str().unwrap_or_default()) {
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

async fn success(state: &AppState, visitor: &Visitor, id: &str, r: &Value) -> Result<Markup, WebError> {
    let url = format!("{}/api/reservations/{id}/tickets", state.config.reservations);
    let tickets = state.apis.get(url, visitor.who()).await?.success()?;
    Ok(html! {
        h1 { "Payment received — enjoy the match!" }
        (layout::notice("ok", "Your tickets are below and on their way to your e-mail."))
        (summary(r))
        (super::tickets::ticket_cards(&tickets, Some(visitor)))
        p { a href="/tickets" { "All my tickets" } }
    })
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
    let reply = state.apis.post(url, visitor.who(), &json!({})).await?;
    match reply.status {
        200..=299 | 409 => Ok(None),
        402 => Ok(Some(reply.message())),
        _ => Err(WebError::from_reply(&reply)),
    }
}

/// `POST /orders/{id}/pay`: see [`sync_payment`].
pub async fn pay(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<PayForm>,
) -> Result<Response, WebError> {
    let id = uuid_like(&id).ok_or_else(|| WebError::NotFound("No such order.".into()))?.to_string();
    match sync_payment(&state, &visitor, &form).await? {
        None => Ok(Redirect::to(&format!("/orders/{id}")).into_response()),
        Some(why) => {
            let r = reservation(&state, &visitor, &id).await?;
            let mut page = order_page(&state, &visitor, &id, &r, Some(&why)).await?;
            *page.status_mut() = axum::http::StatusCode::PAYMENT_REQUIRED;
            Ok(page)
        }
    }
}

/// `POST /orders/{id}/cancel`: the buyer backs out; the hold is released.
pub async fn cancel(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    visitor.account()?;
    visitor.check_csrf(&form.csrf)?;
    let id = uuid_like(&id).ok_or_else(|| WebError::NotFound("No such order.".into()))?;
    let url = format!("{}/api/reservations/{id}", state.config.reservations);
    let reply = state.apis.send(Method::DELETE, url, visitor.who(), None, None).await?;
    match reply.status {
        200..=299 | 409 => Ok(Redirect::to(&format!("/orders/{id}")).into_response()),
        _ => Err(WebError::from_reply(&reply)),
    }
}
