//! The gate: staff choose the match their gate admits to, enter (or scan
//! into the field) a ticket's code — of any platform of the market, printed
//! or live — and see ADMITTED, ALREADY USED, REVOKED, WRONG MATCH, EXPIRED
//! CODE, LIVE CODE REQUIRED or INVALID. Role `staff` or `admin`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use ticktak_contracts::tickets::{self, CheckInResult};
use ticktak_kit::auth::Role;

use crate::error::WebError;
use crate::layout::{self, csrf_field};
use crate::session::Visitor;
use crate::AppState;

const STAFF: [Role; 2] = [Role::Staff, Role::Admin];

fn form(visitor: &Visitor, match_number: Option<u8>, outcome: Option<&CheckInResult>) -> Markup {
    html! {
        h1 { "Check-in" }
        @if let Some(o) = outcome {
            p class={ "result " (o.result) } role="status" { (o.result.replace('_', " ")) }
            p { (o.message) }
            @if let Some(t) = &o.ticket {
                p { "Match " (t.match_number) " · Category " (t.category) " · Seat " (t.seat) " · " (t.holder) }
                @if let Some(name) = &t.holder_name {
                    p.holder { "Named: " strong { (name) } " — check their identity document" }
                }
            } @else if let Some(issuer) = &o.issuer {
                p { "Match " (o.match_number.map(|n| n.to_string()).unwrap_or_default()) " · Category " (o.category.map(|c| c.to_string()).unwrap_or_default()) " · sold by " (issuer) }
            }
        }
        form.stack method="post" action="/checkin" {
            (csrf_field(visitor))
            div {
                label for="match" { "Match at this gate" }
                input #match type="number" name="match" min="1" max="64" required value=[match_number];
            }
            div {
                label for="code" { "Ticket code (type it, or scan the QR code into this field)" }
                input #code type="text" name="code" autocomplete="off" autofocus required;
            }
            button type="submit" { "Check in" }
        }
    }
}

/// `GET /checkin`.
pub async fn page(visitor: Visitor) -> Result<Response, WebError> {
    visitor.with_role(&STAFF)?;
    Ok(layout::page(Some(&visitor), "Check-in", form(&visitor, None, None)).into_response())
}

#[derive(Deserialize)]
pub struct CheckIn {
    pub csrf: String,
    /// The match the gate admits to (kept in the form for the next scan).
    #[serde(rename = "match")]
    pub match_number: u8,
    pub code: String,
}

/// `POST /checkin`: every outcome is an answer for the gate, not an error.
pub async fn check(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(f): Form<CheckIn>,
) -> Result<Response, WebError> {
    visitor.with_role(&STAFF)?;
    visitor.check_csrf(&f.csrf)?;
    let url = format!("{}/api/tickets/check-in", state.config.reservations);
    let body = tickets::CheckIn { code: f.code.trim().to_string(), match_number: f.match_number };
    let reply = state.apis.post(url, visitor.who(), &body).await?;
    // Refusals at the gate (409, 404) are answers too.
    let Some(outcome) = reply.read::<CheckInResult>() else {
        return Err(WebError::from_reply(&reply));
    };
    Ok(layout::page(Some(&visitor), "Check-in", form(&visitor, Some(f.match_number), Some(&outcome))).into_response())
}
