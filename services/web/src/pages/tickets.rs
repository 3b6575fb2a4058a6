//! My tickets: every reservation of the visitor with its status, the
//! tickets of paid ones with their QR codes, and refunds while allowed.

use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde_json::json;
use ticktak_contracts::payments::{CreatePayment, PaymentView};
use ticktak_contracts::reservations::{ReservationList, ReservationStatus};
use ticktak_contracts::tickets::{LiveCode, Ticket, TicketList};

use super::forms::{uuid_like, CsrfForm};
use crate::error::WebError;
use crate::layout::{self, csrf_field, dollars};
use crate::session::Visitor;
use crate::AppState;

/// Tickets (of one reservation, or passed on to the visitor) as cards;
/// with the visitor, each valid one has the forms that name who it is for
/// and pass it on (or withdraw the offer).
pub fn ticket_cards(tickets: &[Ticket], naming: Option<&Visitor>) -> Markup {
    html! {
        div.tickets {
            @for t in tickets {
                @let id = t.id;
                article.card.ticket {
                    h3 { "Match " (t.match_number) " · Category " (t.category) " · Seat " (t.seat) }
                    img src={ "/tickets/" (id) "/qr.svg" } alt={ "QR code of ticket " (t.seat) " for match " (t.match_number) } width="192" height="192";
                    p { "Status: " strong { (t.status) } }
                    @if let Some(name) = &t.holder_name {
                        p.holder { "For: " strong { (name) } }
                    }
                    @if t.passed_on {
                        p.passed { "Passed on: the person who accepted it has a new code." }
                    }
                    @if t.is_valid() {
                        p { a href={ "/tickets/" (id) "/live" } { "Show the live code at the gate" } }
                        @if let (Some(v), Some(to)) = (naming, &t.offered_to) {
                            p.offered { "Offered to " strong { (to) } " until they accept." }
                            form method="post" action={ "/tickets/" (id) "/transfer/withdraw" } {
                                (csrf_field(v))
                                button.secondary type="submit" { "Withdraw the offer" }
                            }
                        }
                        @if let (Some(v), None) = (naming, &t.offered_to) {
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
                                    div { label for={ "holder-name-" (id) } { "Name (as on their identity document)" } input id={ "holder-name-" (id) } type="text" name="name" value=(t.holder_name.as_deref().unwrap_or_default()) maxlength="100" required; }
                                    div { label for={ "holder-email-" (id) } { "Their e-mail, to send them the ticket (optional)" } input id={ "holder-email-" (id) } type="email" name="email" autocomplete="off"; }
                                    button type="submit" { "Save the name" }
                                }
                            }
                        }
                    }
                    details { summary { "Ticket code" } code { (t.code) } }
                }
            }
        }
    }
}

/// `GET /tickets`.
pub async fn mine(State(state): State<AppState>, visitor: Visitor) -> Result<Response, WebError> {
    visitor.account()?;
    let url = format!("{}/api/reservations", state.config.reservations);
    let reservations = state.apis.get_as::<ReservationList>(url, visitor.who()).await?.reservations;
    let mut paid = Vec::new();
    for r in reservations.iter().filter(|r| r.status == ReservationStatus::Confirmed) {
        let Some(id) = r.id else { continue };
        let url = format!("{}/api/reservations/{id}/tickets", state.config.reservations);
        paid.push((r, state.apis.get_as::<TicketList>(url, visitor.who()).await?.tickets));
    }
    let url = format!("{}/api/tickets/received", state.config.reservations);
    let received = state.apis.get_as::<TicketList>(url, visitor.who()).await?.tickets;
    let body = html! {
        h1 { "My tickets" }
        @if reservations.is_empty() && received.is_empty() {
            p { "No orders yet. " a href="/" { "Find a match" } }
        }
        @if !received.is_empty() {
            section.card aria-labelledby="received" {
                h2 #received { "Tickets passed to you" }
                (ticket_cards(&received, Some(&visitor)))
            }
        }
        @for (r, tickets) in &paid {
            section.card aria-label={ "Order for match " (r.match_number) } {
                h2 { "Match " (r.match_number) " · " (r.quantity) " × Category " (r.category) }
                (ticket_cards(tickets, Some(&visitor)))
                form method="post" action={ "/orders/" (r.id.unwrap_or_default()) "/refund" } {
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
                            @let id = r.id.map(|id| id.to_string()).unwrap_or_default();
                            tr {
                                td { a href={ "/orders/" (id) } { (id.get(..8).unwrap_or(&id)) } }
                                td { a href={ "/matches/" (r.match_number) } { "Match " (r.match_number) } }
                                td { (r.quantity) " × Category " (r.category) }
                                td { (dollars(i64::from(r.total))) }
                                td data-order-status { (r.status.as_str()) }
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
    let live = state.apis.get_as::<LiveCode>(url, visitor.who()).await?;
    let body = html! {
        h1 { "Your ticket at the gate" }
        img data-refresh-every=(live.refresh_in_seconds.clamp(5, 30)) src={ "/tickets/" (id) "/live.svg" }
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
    let body = ticktak_contracts::tickets::NameHolder { name: form.name, email: email.map(str::to_string) };
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
    let body = CreatePayment { reservation_id: id.to_string() };
    let payment = state.apis.post_as::<PaymentView>(url, visitor.who(), &body).await?;
    let url = format!("{}/api/payments/{}/refund", state.config.payments, payment.payment_id);
    state.apis.post(url, visitor.who(), &json!({})).await?.success()?;
    Ok(Redirect::to(&format!("/orders/{id}")).into_response())
}
