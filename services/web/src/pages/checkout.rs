//! From a hold to paid tickets: place the hold, the order page (countdown
//! and card form while HELD; tickets once CONFIRMED; the cancelled page
//! when the buyer backs out or the hold runs out), pay, cancel.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use reqwest::Method;
use ticktak_contracts::payments::{CreatePayment, PaymentView};
use ticktak_contracts::reservations::{CreateReservation, ReservationStatus, ReservationView};
use ticktak_contracts::tickets::TicketList;
use ticktak_core::Quantity;

use super::forms::{uuid_like, CsrfForm};
use super::matches::HoldForm;
use super::pay::{pay_and_back_out, sync_payment, Charge, PayForm};
use crate::error::WebError;
use crate::layout::{self, dollars};
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
    let body = CreateReservation {
        match_number: i64::from(n),
        category: i64::from(form.category),
        quantity: i64::from(form.quantity),
        admission: Some(form.admission.clone()).filter(|a| !a.is_empty()),
    };
    let url = format!("{}/api/reservations", state.config.reservations);
    let solution = Some(form.challenge.as_str()).filter(|s| !s.is_empty() && s.len() <= 2048);
    let who = crate::apis::As { solution, ..visitor.who() };
    let reply = state.apis.send(Method::POST, url, who, Some(&body), Some(&form.key)).await?;
    let answer = reply.read::<ReservationView>();
    match (reply.status, answer.as_ref().and_then(|r| r.id)) {
        (200..=299, Some(id)) => Ok(Redirect::to(&format!("/orders/{id}")).into_response()),
        // This account must solve a puzzle first: the page solves it and
        // sends the same order again.
        (428, _) if solution.is_none() => {
            let mut page = super::matches::page(&state, &visitor, n, None, Some(&form), None).await?;
            *page.status_mut() = axum::http::StatusCode::PRECONDITION_REQUIRED;
            Ok(page)
        }
        (409 | 422 | 400, _) | (403, _) if reply.status != 403 || reply.error_code() == Some("admission_required") => {
            let why = match answer.map(|r| r.status) {
                Some(ReservationStatus::Rejected) => {
                    "Those tickets were just taken. Try another category or fewer tickets.".to_string()
                }
                _ => reply.message(),
            };
            // An admission refused is not offered again.
            let admission = Some(form.admission.as_str())
                .filter(|a| !a.is_empty() && reply.error_code() != Some("admission_required"));
            let mut page = super::matches::page(&state, &visitor, n, Some(&why), None, admission).await?;
            *page.status_mut() = axum::http::StatusCode::CONFLICT;
            Ok(page)
        }
        _ => Err(WebError::from_reply(&reply)),
    }
}

async fn reservation(state: &AppState, visitor: &Visitor, id: &str) -> Result<ReservationView, WebError> {
    if uuid_like(id).is_none() {
        return Err(WebError::NotFound("No such order.".into()));
    }
    let url = format!("{}/api/reservations/{id}", state.config.reservations);
    state.apis.get_as(url, visitor.who()).await
}

/// The payment of a held reservation (created once; the same one after).
async fn payment_of(state: &AppState, visitor: &Visitor, reservation: &str) -> Result<PaymentView, WebError> {
    let url = format!("{}/api/payments", state.config.payments);
    state.apis.post_as(url, visitor.who(), &CreatePayment { reservation_id: reservation.to_string() }).await
}

fn summary(r: &ReservationView) -> Markup {
    let n = r.match_number;
    html! {
        p {
            (r.quantity) " × Category " (r.category)
            " · " a href={ "/matches/" (n) } { "Match " (n) }
            " · " (dollars(i64::from(r.total)))
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
    if let Some(order) = r.order_id {
        // A line of a cart is paid and shown with its order.
        return Ok(Redirect::to(&format!("/carts/{order}")).into_response());
    }
    order_page(&state, &visitor, &id, &r, None).await
}

async fn order_page(
    state: &AppState,
    visitor: &Visitor,
    id: &str,
    r: &ReservationView,
    error: Option<&str>,
) -> Result<Response, WebError> {
    use ReservationStatus::*;
    let (title, body) = match r.status {
        Held => ("Checkout", checkout(state, visitor, id, r, error).await?),
        Requested => (
            "Waiting for the market",
            html! {
                h1 { "Holding your tickets…" }
                (summary(r))
                p data-reload-after="1000" { "Every platform is deciding who gets the last tickets. This page reloads by itself." }
                p { a href={ "/orders/" (id) } { "Reload" } }
            },
        ),
        Confirmed => ("Payment received", success(state, visitor, id, r).await?),
        Cancelled | Expired => (
            "Order cancelled",
            html! {
                h1 { "Order cancelled" }
                (layout::notice("ok", "Nothing was charged. The tickets you held are back on sale."))
                (summary(r))
                p { a.button href={ "/matches/" (r.match_number) } { "Back to the match" } }
            },
        ),
        Rejected => (
            "Sold out",
            html! {
                h1 { "These tickets were sold out" }
                (summary(r))
                p { "Another buyer was first. Nothing was charged." }
                p { a.button href="/" { "Find other matches" } }
            },
        ),
        Refunded => (
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
    r: &ReservationView,
    error: Option<&str>,
) -> Result<Markup, WebError> {
    let payment = payment_of(state, visitor, id).await?;
    let expires = r.expires_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)).unwrap_or_default();
    Ok(html! {
        h1 { "Checkout" }
        (summary(r))
        p { "Your tickets are held for " strong.countdown data-expires=(expires) { "a few minutes" } " more." }
        @if let Some(e) = error { (layout::notice("error", e)) }
        (pay_and_back_out(state, visitor, &format!("/orders/{id}"), &Charge::of_payment(&payment), "", "Cancel and release the tickets"))
    })
}

async fn success(state: &AppState, visitor: &Visitor, id: &str, r: &ReservationView) -> Result<Markup, WebError> {
    let url = format!("{}/api/reservations/{id}/tickets", state.config.reservations);
    let tickets = state.apis.get_as::<TicketList>(url, visitor.who()).await?.tickets;
    Ok(html! {
        h1 { "Payment received — enjoy the match!" }
        (layout::notice("ok", "Your tickets are below and on their way to your e-mail."))
        (summary(r))
        (super::tickets::ticket_cards(&tickets, Some(visitor)))
        p { a href="/tickets" { "All my tickets" } }
    })
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
    let reply = state.apis.delete(url, visitor.who()).await?;
    match reply.status {
        200..=299 | 409 => Ok(Redirect::to(&format!("/orders/{id}")).into_response()),
        _ => Err(WebError::from_reply(&reply)),
    }
}
