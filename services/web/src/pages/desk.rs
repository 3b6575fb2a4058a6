//! The operators' order desk (role `admin`; the APIs check the role again):
//! - `/admin/orders?q=`: find orders by the buyer's e-mail, an order or
//!   ticket id, a ticket code or a payment id;
//! - `/admin/orders/{id}`: the order's whole story, with the actions — mail
//!   the tickets again, refund on the buyer's behalf, revoke a ticket — each
//!   with the admin's reason where it takes one;
//! - `/admin/audit`: every service's audit trail, merged, newest first;
//! - `/admin/export/orders.csv`, `/admin/export/sales.csv`: the exports,
//!   downloaded.
//!
//! Answers are read as their contract types (`ticktak_contracts::desk`).

use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;
use ticktak_contracts::desk::{AuditEntry, AuditTrail, OrderList, OrderStory, OrderSummary, Reason};
use ticktak_kit::auth::Role;

use super::forms::{query_value, uuid_like, CsrfForm};
use crate::error::WebError;
use crate::layout::{self, cents, csrf_field, notice};
use crate::session::Visitor;
use crate::AppState;

fn when(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn maybe_when(at: &Option<DateTime<Utc>>) -> String {
    at.as_ref().map(when).unwrap_or_else(|| "–".into())
}

#[derive(Debug, Deserialize)]
pub struct Search {
    #[serde(default)]
    pub q: String,
}

/// `GET /admin/orders`.
pub async fn search(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(search): Query<Search>,
) -> Result<Response, WebError> {
    visitor.with_role(&[Role::Admin])?;
    let q = search.q.trim();
    let (found, refusal) = match q.is_empty() {
        true => (None, None),
        false => {
            let mut url = reqwest::Url::parse(&format!("{}/api/admin/orders", state.config.reservations))
                .map_err(|_| WebError::Unavailable)?;
            url.query_pairs_mut().append_pair("q", q);
            let reply = state.apis.get(url.to_string(), visitor.who()).await?;
            match reply.status {
                400 => (None, Some(reply.message())),
                _ => (Some(reply.parse::<OrderList>()?.orders), None),
            }
        }
    };
    let body = html! {
        h1 { "Order desk" }
        p { a href="/admin/audit" { "Audit trail" } " · "
            a href="/admin/export/orders.csv" download { "Export orders (CSV)" } " · "
            a href="/admin/export/sales.csv" download { "Export sales per match and category (CSV)" } }
        form.stack method="get" action="/admin/orders" role="search" {
            label for="q" { "E-mail address, order id, ticket id or code, or payment id" }
            input #q type="search" name="q" value=(q) required maxlength="320" autocomplete="off";
            button type="submit" { "Find orders" }
        }
        @if let Some(message) = &refusal { (notice("error", message)) }
        @if let Some(orders) = &found {
            @if orders.is_empty() {
                p data-found="0" { "No order matches " strong { (q) } "." }
            } @else {
                p data-found=(orders.len()) { (orders.len()) " order(s) match " strong { (q) } "." }
                (order_table(orders))
            }
        }
    };
    Ok(layout::page(Some(&visitor), "Order desk", body).into_response())
}

fn order_table(orders: &[OrderSummary]) -> Markup {
    html! {
        div.scroll {
            table {
                thead { tr {
                    th scope="col" { "Order" } th scope="col" { "Placed" } th scope="col" { "Buyer" }
                    th scope="col" { "Match" } th scope="col" { "Tickets" } th scope="col" { "Amount" } th scope="col" { "Status" }
                } }
                tbody {
                    @for o in orders {
                        tr data-order=(o.order_id) {
                            td { a href={ "/admin/orders/" (o.order_id) } { (o.order_id) } }
                            td { (when(&o.created_at)) }
                            td { (o.buyer_email.as_deref().unwrap_or("(deleted account)")) }
                            td { "Match " (o.match_number) ", category " (o.category) }
                            td { (o.quantity) }
                            td { (cents(o.amount)) }
                            td data-status { (o.status) }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct Done {
    pub done: Option<String>,
}

/// `GET /admin/orders/{id}`.
pub async fn order(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, WebError> {
    visitor.with_role(&[Role::Admin])?;
    let id = uuid_like(&id).ok_or_else(|| WebError::NotFound("No such order.".into()))?;
    let url = format!("{}/api/admin/orders/{id}", state.config.reservations);
    let story: OrderStory = state.apis.get(url, visitor.who()).await?.parse()?;
    // The refunds on the buyer's behalf are payments' actions.
    let url = format!("{}/api/admin/audit?target={id}", state.config.payments);
    // Shown when payments answers; the story stands without it.
    let mut audit = match state.apis.get(url, visitor.who()).await.and_then(|r| r.parse::<AuditTrail>()) {
        Ok(trail) => trail.entries,
        Err(_) => Vec::new(),
    };
    audit.extend(story.audit.iter().cloned());
    audit.sort_by_key(|e| std::cmp::Reverse(e.at));
    let done = match done.done.as_deref() {
        Some("resent") => Some("The tickets were mailed to the buyer again."),
        Some("refunded") => Some("The refund was made on the buyer's behalf."),
        Some("revoked") => Some("The ticket was revoked: no gate of the market admits it."),
        _ => None,
    };
    let o = &story.order;
    let body = html! {
        h1 { "Order " span.id { (o.order_id) } }
        @if let Some(done) = done { (notice("ok", done)) }
        p { a href={ "/admin/orders?q=" (query_value(o.buyer_email.as_deref().unwrap_or(&o.buyer_id))) } { "Other orders of this buyer" } }
        section.card aria-labelledby="summary" {
            h2 #summary { "Summary" }
            dl.facts {
                dt { "Status" } dd data-order-status { (o.status) }
                dt { "Buyer" } dd { (o.buyer_email.as_deref().unwrap_or("(deleted account)")) " · account " (o.buyer_id) }
                dt { "Tickets" } dd { (o.quantity) " × match " (o.match_number) ", category " (o.category) }
                dt { "Amount" } dd { (cents(o.amount)) }
                dt { "Placed" } dd { (when(&o.created_at)) }
                @if matches!(o.status.as_str(), "REQUESTED" | "HELD") { dt { "Hold ends" } dd { (maybe_when(&story.expires_at)) } }
                @if let Some(reason) = &story.reason { dt { "Reason" } dd { (reason) } }
            }
        }
        section.card aria-labelledby="log" {
            h2 #log { "In the ticket-sales log" }
            @match &story.hold {
                Some(h) => {
                    p data-hold-status { "The market's ledger has it " strong { (format!("{:?}", h.status).to_uppercase()) }
                        @if let Some(origin) = &h.origin { ", sold by platform " (origin) } "." }
                    @if let Some(p) = &h.position {
                        p data-hold-position { "Decided at partition " (p.partition) ", offset " (p.decided_offset)
                            "; last changed at offset " (p.last_offset) "." }
                    }
                }
                None => { p { "Not decided in this platform's copy of the ledger (yet), or the shop did not answer." } }
            }
            @if !story.messages.is_empty() {
                div.scroll { table {
                    thead { tr { th scope="col" { "Message" } th scope="col" { "Topic" } th scope="col" { "Written" } th scope="col" { "Published" } } }
                    tbody { @for m in &story.messages {
                        tr { td { (m.action) } td { (m.topic) } td { (when(&m.created_at)) } td { (maybe_when(&m.sent_at)) } }
                    } }
                } }
            }
        }
        section.card aria-labelledby="payment" {
            h2 #payment { "Payment" }
            @match &story.payment {
                Some(p) => {
                    dl.facts {
                        dt { "Status" } dd data-payment-status { (p.status) }
                        dt { "Payment" } dd { (p.payment_id) @if let Some(r) = &p.provider_ref { " · " (r) } }
                        dt { "Amount" } dd { (cents(p.amount)) " " (p.currency.to_uppercase()) }
                        @if let Some(r) = &p.refund_reason { dt { "Refunded because" } dd { (r) } }
                        @if let Some(e) = &p.last_error { dt { "Last error" } dd { (e) } }
                    }
                    @if p.status == "SUCCEEDED" {
                        form.stack method="post" action={ "/admin/orders/" (o.order_id) "/refund" } {
                            (csrf_field(&visitor))
                            input type="hidden" name="payment" value=(p.payment_id);
                            label for="refund-reason" { "Why refund on the buyer's behalf" }
                            input #refund-reason type="text" name="reason" required maxlength="500";
                            button type="submit" { "Refund the whole order" }
                        }
                    }
                }
                None => { p { "No payment (or payments did not answer)." } }
            }
        }
        section.card aria-labelledby="tickets" {
            h2 #tickets { "Tickets and check-in" }
            @if story.tickets.is_empty() {
                p { "No tickets: the order was not paid." }
            } @else {
                @if o.status == "CONFIRMED" {
                    form.inline method="post" action={ "/admin/orders/" (o.order_id) "/resend" } {
                        (csrf_field(&visitor))
                        button type="submit" { "Mail the tickets to the buyer again" }
                    }
                }
                div.scroll { table {
                    thead { tr { th scope="col" { "Seat" } th scope="col" { "Ticket" } th scope="col" { "Status" } th scope="col" { "Holder" }
                        th scope="col" { "Gate log" } th scope="col" { "Revoke" } } }
                    tbody { @for t in &story.tickets {
                        tr data-ticket=(t.ticket_id) {
                            td { (t.seat) }
                            td { (t.ticket_id) }
                            td data-ticket-status { (t.status) }
                            td { (t.holder_name.as_deref().unwrap_or("–")) @if let Some(e) = &t.holder_email { " (" (e) ")" } }
                            td { @match &t.gate { Some(g) => { (g.state) " by " (g.by) ", " (when(&g.at)) } None => { "–" } } }
                            td { @if t.status == "VALID" {
                                form.inline method="post" action={ "/admin/tickets/" (t.ticket_id) "/revoke" } {
                                    (csrf_field(&visitor))
                                    input type="hidden" name="order" value=(o.order_id);
                                    label.visually-hidden for={ "revoke-" (t.ticket_id) } { "Why revoke seat " (t.seat) }
                                    input id={ "revoke-" (t.ticket_id) } type="text" name="reason" required maxlength="500" placeholder="reason";
                                    button type="submit" { "Revoke" }
                                }
                            } }
                        }
                    } }
                } }
            }
        }
        section.card aria-labelledby="mails" {
            h2 #mails { "E-mails" }
            @if story.mails.is_empty() { p { "None." } } @else {
                div.scroll { table {
                    thead { tr { th scope="col" { "To" } th scope="col" { "Subject" } th scope="col" { "Written" } th scope="col" { "Sent" } } }
                    tbody { @for m in &story.mails {
                        tr data-mail { td { (m.recipient) } td { (m.subject) } td { (when(&m.created_at)) }
                            td { @match &m.sent_at { Some(at) => { (when(at)) } None => { "not yet (" (m.attempts) " attempts)" } } } }
                    } }
                } }
            }
        }
        section.card aria-labelledby="audit" {
            h2 #audit { "Admin actions" }
            (audit_table(&audit))
        }
    };
    Ok(layout::page(Some(&visitor), "Order", body).into_response())
}

fn audit_table(entries: &[AuditEntry]) -> Markup {
    html! {
        @if entries.is_empty() { p { "None." } } @else {
            div.scroll { table {
                thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "What" } th scope="col" { "On" } th scope="col" { "Why" } } }
                tbody { @for e in entries {
                    tr data-action=(e.action) { td { (when(&e.at)) } td { (e.actor_email) } td { (e.action) } td { (e.target) } td { (e.detail) } }
                } }
            } }
        }
    }
}

/// `POST /admin/orders/{id}/resend`.
pub async fn resend(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    visitor.with_role(&[Role::Admin])?;
    visitor.check_csrf(&form.csrf)?;
    let id = uuid_like(&id).ok_or_else(|| WebError::NotFound("No such order.".into()))?;
    let url = format!("{}/api/admin/orders/{id}/resend-tickets", state.config.reservations);
    state.apis.post(url, visitor.who(), &json!({})).await?.success()?;
    Ok(Redirect::to(&format!("/admin/orders/{id}?done=resent")).into_response())
}

#[derive(Debug, Deserialize)]
pub struct RefundForm {
    pub csrf: String,
    pub payment: String,
    pub reason: String,
}

/// `POST /admin/orders/{id}/refund`.
pub async fn refund(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<RefundForm>,
) -> Result<Response, WebError> {
    visitor.with_role(&[Role::Admin])?;
    visitor.check_csrf(&form.csrf)?;
    let id = uuid_like(&id).ok_or_else(|| WebError::NotFound("No such order.".into()))?;
    let payment = uuid_like(&form.payment).ok_or_else(|| WebError::NotFound("No such payment.".into()))?;
    let url = format!("{}/api/admin/payments/{payment}/refund", state.config.payments);
    state.apis.post(url, visitor.who(), &Reason { reason: form.reason.clone() }).await?.success()?;
    Ok(Redirect::to(&format!("/admin/orders/{id}?done=refunded")).into_response())
}

#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    pub csrf: String,
    pub order: String,
    pub reason: String,
}

/// `POST /admin/tickets/{id}/revoke`.
pub async fn revoke(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<RevokeForm>,
) -> Result<Response, WebError> {
    visitor.with_role(&[Role::Admin])?;
    visitor.check_csrf(&form.csrf)?;
    let id = uuid_like(&id).ok_or_else(|| WebError::NotFound("No such ticket.".into()))?;
    let order = uuid_like(&form.order).ok_or_else(|| WebError::NotFound("No such order.".into()))?;
    let url = format!("{}/api/admin/tickets/{id}/revoke", state.config.reservations);
    state.apis.post(url, visitor.who(), &Reason { reason: form.reason.clone() }).await?.success()?;
    Ok(Redirect::to(&format!("/admin/orders/{order}?done=revoked")).into_response())
}

/// `GET /admin/audit`: the trails of every service with admin actions.
pub async fn audit(State(state): State<AppState>, visitor: Visitor) -> Result<Response, WebError> {
    visitor.with_role(&[Role::Admin])?;
    let c = &state.config;
    let mut entries = Vec::new();
    let mut missing = Vec::new();
    for (name, base) in [
        ("reservations", &c.reservations),
        ("payments", &c.payments),
        ("security", &c.security),
        ("analytics", &c.analytics),
    ] {
        let url = format!("{base}/api/admin/audit?limit=200");
        match state.apis.get(url, visitor.who()).await.and_then(|r| r.parse::<AuditTrail>()) {
            Ok(trail) => entries.extend(trail.entries),
            // One service's trail missing does not hide the others'.
            Err(_) => missing.push(name),
        }
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.at));
    let body = html! {
        h1 { "Audit trail" }
        p { "What admins did through every service of this platform, newest first (the latest 200 of each service). "
            a href="/admin/orders" { "Order desk" } }
        @if !missing.is_empty() { (notice("error", &format!("Not shown, the service did not answer: {}.", missing.join(", ")))) }
        (audit_table(&entries))
    };
    Ok(layout::page(Some(&visitor), "Audit trail", body).into_response())
}

/// `GET /admin/export/orders.csv` and `GET /admin/export/sales.csv`: the export of
/// reservations' desk, downloaded as a file.
pub async fn export(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(name): Path<String>,
) -> Result<Response, WebError> {
    visitor.with_role(&[Role::Admin])?;
    let file = match name.as_str() {
        "orders.csv" => "orders.csv",
        "sales.csv" => "sales.csv",
        _ => return Err(WebError::NotFound("No such export.".into())),
    };
    let url = format!("{}/api/admin/{file}", state.config.reservations);
    let (kind, bytes) = state.apis.bytes(url, visitor.who()).await?;
    Ok(([(CONTENT_TYPE, kind), (CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\""))], bytes)
        .into_response())
}
