//! My tickets: every reservation of the visitor with its status, the
//! tickets of paid ones with their QR codes, and refunds while allowed.

use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde_json::{json, Value};

use super::forms::{uuid_like, CsrfForm};
use crate::error::WebError;
use crate::layout::{self, csrf_field, dollars, text};
use crate::session::Visitor;
use crate::AppState;

/// The tickets of one reservation (`{"tickets": [...]}`), as cards; with
/// the visitor, each valid one has the forms that name who it is for and
/// pass it on (or withdraw the offer).
pub fn ticket_cards(list: &Value, naming: Option<&Visitor>) -> Markup {
    let tickets = list["tickets"].as_array().cloned().unwrap_or_default();
    html! {
        div.tickets {
            @for t in &tickets {
                @let id = t["id"].as_str().unwrap_or_default();
                article.card.ticket {
                    h3 { "Match " (text(&t["matchNumber"])) " · Category " (text(&t["category"])) " · Seat " (text(&t["seat"])) }
                    img src={ "/tickets/" (id) "/qr.svg" } alt={ "QR code of ticket " (text(&t["seat"])) " for match " (text(&t["matchNumber"])) } width="192" height="192";
                    p { "Status: " strong { (t["status"].as_str().unwrap_or_default()) } }
                    @if let Some(name) = t["holderName"].as_str() {
                        p.holder { "For: " strong { (name) } }
                    }
                    @if t["passedOn"] == true {
                        p.passed { "Passed on: the person who accepted it has a new code." }
                    }
                    @if t["status"] == "VALID" {
                        p { a href={ "/tickets/" (id) "/live" } { "Show the live code at the gate" } }
                        @if let (Some(v), Some(to)) = (naming, t["offeredTo"].as_str()) {
                            p.offered { "Offered to " strong { (to) } " until they accept." }
                            form method="post" action={ "/tickets/" (id) "/transfer/withdraw" } {
                                (csrf_field(v))
                                button.secondary type="submit" { "Withdraw the offer" }
                            }
                        }
                        @if let (Some(v), None) = (naming, t["offeredTo"].as_str()) {
                            details.pass-on {
                                summary { "Pass this ticket on" }
                                form.stack method="post" action={ "/tickets/" (id) "/transfer" } {
                                    (csrf_field(v))
                                    div { label for={ "pass-email-" (id) } { "Their e-mail: they accept with an account of this address" } input id={ "pass-email-" (id) } type="email" name="email" autocomplete="off" required; }
                                    button type="submit" { "Offer the ticket" }
                                }
                            }
                        }
                        @if let Some(v) = naming {
                            details.name-holder {
                                summary { "Name who this ticket is for" }
                                form.stack method="post" action={ "/tickets/" (id) "/holder" } {
                                    (csrf_field(v))
                                    div { label for={ "holder-name-" (id) } { "Name (as on their identity document)" } input id={ "holder-name-" (id) } type="text" name="name" value=(t["holderName"].as_str().unwrap_or_default()) maxlength="100" required; }
                                    div { label for={ "holder-email-" (id) } { "Their e-mail, to send them the ticket (optional)" } input id={ "holder-email-" (id) } type="email" name="email" autocomplete="off"; }
                                    button type="submit" { "Save the name" }
                                }
                            }
                        }
                    }
                    details { summary { "Ticket code" } code { (t["code"].as_str().unwrap_or_default()) } }
                }
            }
        }
    }
}

/// `GET /tickets`.
pub async fn mine(State(state): State<AppState>, visitor: Visitor) -> Result<Response, WebError> {
    visitor.account()?;
    let url = format!("{}/api/reservations", state.config.reservations);
    let list = state.apis.get(url, visitor.who()).await?.success()?;
    let reservations = list["reservations"].as_array().cloned().unwrap_or_default();
    let mut paid = Vec::new();
    for r in reservations.iter().filter(|r| r["status"] == "CONFIRMED") {
        let id = r["id"].as_str().unwrap_or_default();
        let url = format!("{}/api/reservations/{id}/tickets", state.config.reservations);
        paid.push((id.to_string(), state.apis.get(url, visitor.who()).await?.success()?));
    }
    let url = format!("{}/api/tickets/received", state.config.reservations);
    let received = state.apis.get(url, visitor.who()).await?.success()?;
    let has_received = received["tickets"].as_array().is_some_and(|t| !t.is_empty());
    let body = html! {
        h1 { "My tickets" }
        @if reservations.is_empty() && !has_received {
            p { "No orders yet. " a href="/" { "Find a match" } }
        }
        @if has_received {
            section.card aria-labelledby="received" {
                h2 #received { "Tickets passed to you" }
                (ticket_cards(&received, Some(&visitor)))
            }
        }
        @for (id, tickets) in &paid {
            @let r = reservations.iter().find(|r| r["id"] == id.as_str()).cloned().unwrap_or_default();
            section.card aria-label={ "Order for match " (text(&r["matchNumber"])) } {
                h2 { "Match " (text(&r["matchNumber"])) " · " (text(&r["quantity"])) " × Category " (text(&r["category"])) }
                (ticket_cards(tickets, Some(&visitor)))
                form method="post" action={ "/orders/" (id) "/refund" } {
                    (csrf_field(&visitor))
                    button.secondary type="submit" { "Refund this order" }
                }
            }
        }
        @if !reservations.is_empty() {
            h2 { "All orders" }
            div.scroll {
                table {
                    thead { tr { th scope="col" { "Order" } th scope="col" { "Match" } th scope="col" { "Tickets" } th scope="col" { "Total" } th scope="col" { "Status" } } }
                    tbody {
                        @for r in &reservations {
                            @let id = r["id"].as_str().unwrap_or_default();
                            tr {
                                td { a href={ "/orders/" (id) } { (id.get(..8).unwrap_or(id)) } }
                                td { a href={ "/matches/" (text(&r["matchNumber"])) } { "Match " (text(&r["matchNumber"])) } }
                                td { (text(&r["quantity"])) " × Category " (text(&r["category"])) }
                                td { (dollars(r["total"].as_i64().unwrap_or(0))) }
                                td data-order-status { (r["status"].as_str().unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(Some(&visitor), "My tickets", body).into_response())
}

/// `GET /tickets/{id}/qr.svg`: the ticket's QR code, for its holder only.
pub async fn qr(State(state): State<AppState>, visitor: Visitor, Path(id): Path<String>) -> Result<Response, WebError> {
    visitor.account()?;
    let id = uuid_like(&id).ok_or_else(|| WebError::NotFound("No such ticket.".into()))?;
    let url = format!("{}/api/tickets/{id}/qr.svg", state.config.reservations);
    let (_, bytes) = state.apis.bytes(url, visitor.who()).await?;
    Ok(([(CONTENT_TYPE, "image/svg+xml"), (CACHE_CONTROL, "private, max-age=3600")], bytes).into_response())
}

/// `GET /tickets/{id}/live`: the ticket's live code, a new one every 30
/// seconds, to show at the gate (a screenshot stops working).
pub async fn live_page(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    visitor.account()?;
    let id = uuid_like(&id).ok_or_else(|| WebError::NotFound("No such ticket.".into()))?;
    let url = format!("{}/api/tickets/{id}/live", state.config.reservations);
    let live = state.apis.get(url, visitor.who()).await?.success()?;
    let body = html! {
        h1 { "Your ticket at the gate" }
        img data-refresh-every=(live["refreshInSeconds"].as_i64().unwrap_or(30).clamp(5, 30)) src={ "/tickets/" (id) "/live.svg" }
            alt="The ticket's live QR code" width="288" height="288";
        p { "Show this code at the gate. It changes every 30 seconds, so a screenshot or a copy stops working." }
        p { a href="/tickets" { "Back to my tickets" } }
    };
    Ok(layout::page(Some(&visitor), "Live ticket code", body).into_response())
}

/// `GET /tickets/{id}/live.svg`: the live code's QR code, never cached.
pub async fn live_qr(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    visitor.account()?;
    let id = uuid_like(&id).ok_or_else(|| WebError::NotFound("No such ticket.".into()))?;
    let url = format!("{}/api/tickets/{id}/live.svg", state.config.reservations);
    let (_, bytes) = state.apis.bytes(url, visitor.who()).await?;
    Ok(([(CONTENT_TYPE, "image/svg+xml"), (CACHE_CONTROL, "private, no-store")], bytes).into_response())
}

/// `POST /orders/{id}/refund`: refund a paid order (until the cut-off
/// before kick-off).
#[derive(serde::Deserialize)]
pub struct NameHolder {
    pub csrf: String,
    pub name: String,
    #[serde(default)]
    pub email: String,
}

/// `POST /tickets/{id}/holder`: name who a ticket is for (and mail it to
/// them when an address is given).
pub async fn name_holder(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<NameHolder>,
) -> Result<Response, WebError> {
    visitor.account()?;
    visitor.check_csrf(&form.csrf)?;
    let id = uuid_like(&id).ok_or_else(|| WebError::NotFound("No such ticket.".into()))?;
    let email = Some(form.email.trim()).filter(|e| !e.is_empty());
    let url = format!("{}/api/tickets/{id}/holder", state.config.reservations);
    let body = json!({"name": form.name, "email": email});
    state.apis.send(axum::http::Method::PUT, url, visitor.who(), Some(&body), None).await?.success()?;
    Ok(Redirect::to("/tickets").into_response())
}

pub async fn refund(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    visitor.account()?;
    visitor.check_csrf(&form.csrf)?;
    let id = uuid_like(&id).ok_or_else(|| WebError::NotFound("No such order.".into()))?;
    // The reservation's payment: asking for it again returns the same one.
    let url = format!("{}/api/payments", state.config.payments);
    let payment = state.apis.post(url, visitor.who(), &json!({"reservationId": id})).await?.success()?;
    let payment_id = payment["paymentId"].as_str().unwrap_or_default();
    let url = format!("{}/api/payments/{payment_id}/refund", state.config.payments);
    state.apis.post(url, visitor.who(), &json!({})).await?.success()?;
    Ok(Redirect::to(&format!("/orders/{id}")).into_response())
}
