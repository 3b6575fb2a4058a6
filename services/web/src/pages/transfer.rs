//! Passing a ticket on, in the browser:
//! - `POST /tickets/{id}/transfer` (email) and
//!   `POST /tickets/{id}/transfer/withdraw`: the holder offers a ticket to
//!   an address, or withdraws the offer (forms on `/tickets`);
//! - `GET /transfers/accept?token=` and `POST /transfers/accept`: the
//!   person the mailed link went to accepts it, signed in with that address.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use serde::Deserialize;
use ticktak_contracts::tickets;

use super::forms::{query_value, uuid_like, CsrfForm};
use crate::error::WebError;
use crate::layout::{self, csrf_field};
use crate::session::Visitor;
use crate::AppState;

#[derive(Debug, Deserialize)]
pub struct OfferForm {
    pub csrf: String,
    pub email: String,
}

/// `POST /tickets/{id}/transfer`.
pub async fn offer(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<OfferForm>,
) -> Result<Response, WebError> {
    visitor.account()?;
    visitor.check_csrf(&form.csrf)?;
    let id = uuid_like(&id).ok_or_else(|| WebError::NotFound("No such ticket.".into()))?;
    let url = format!("{}/api/tickets/{id}/transfer", state.config.reservations);
    state.apis.post(url, visitor.who(), &tickets::OfferTicket { email: form.email.clone() }).await?.success()?;
    Ok(Redirect::to("/tickets").into_response())
}

/// `POST /tickets/{id}/transfer/withdraw`.
pub async fn withdraw(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    visitor.account()?;
    visitor.check_csrf(&form.csrf)?;
    let id = uuid_like(&id).ok_or_else(|| WebError::NotFound("No such ticket.".into()))?;
    let url = format!("{}/api/tickets/{id}/transfer", state.config.reservations);
    state.apis.delete(url, visitor.who()).await?.success()?;
    Ok(Redirect::to("/tickets").into_response())
}

#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    pub token: String,
}

/// `GET /transfers/accept?token=`: a button accepts (a mail scanner's
/// fetch of the link does not).
pub async fn accept_page(visitor: Visitor, Query(q): Query<TokenQuery>) -> Response {
    let token = q.token.trim();
    let here = format!("/transfers/accept?token={}", query_value(token));
    let body = html! {
        h1 { "A ticket for you" }
        @if token.is_empty() {
            p { "This link has no offer in it: open the link of the e-mail as it is." }
        } @else if visitor.claims.is_none() {
            p { "Someone passes you a ticket. Sign in with the address the e-mail went to (or register with it), then accept it." }
            p { a.button href={ "/signin?next=" (query_value(&here)) } { "Sign in to accept" } " " a href="/register" { "Register" } }
        } @else {
            p { "Someone passes you a ticket. Once you accept, it is yours alone: a new code is issued to you and the old one stops working." }
            form.stack method="post" action="/transfers/accept" {
                (csrf_field(&visitor))
                input type="hidden" name="token" value=(token);
                button type="submit" { "Accept the ticket" }
            }
        }
    };
    layout::page(Some(&visitor), "A ticket for you", body).into_response()
}

#[derive(Debug, Deserialize)]
pub struct AcceptForm {
    pub csrf: String,
    pub token: String,
}

/// `POST /transfers/accept`.
pub async fn accept(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<AcceptForm>,
) -> Result<Response, WebError> {
    visitor.account()?;
    visitor.check_csrf(&form.csrf)?;
    let url = format!("{}/api/transfers/accept", state.config.reservations);
    state.apis.post(url, visitor.who(), &tickets::AcceptTicket { token: form.token.clone() }).await?.success()?;
    Ok(Redirect::to("/tickets").into_response())
}
