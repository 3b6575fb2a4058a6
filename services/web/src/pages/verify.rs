//! Confirming an e-mail address: the "check your e-mail" page after
//! registering, the page the mailed link opens, and "send the link again".
//! The link's page spends the link only when the visitor presses its
//! button (a POST), so a mail scanner that fetches every link in a message
//! does not use it up.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use ticktak_contracts::accounts;

use crate::error::WebError;
use crate::layout::{self, csrf_field};
use crate::session::Visitor;
use crate::AppState;

/// What the visitor sees once a sign-up or a new link was asked for: the
/// same whether or not the address has an account.
pub fn check_your_email(visitor: &Visitor, email: &str) -> Markup {
    html! {
        h1 { "Check your e-mail" }
        (layout::notice("ok", "If the address can be used, a message is on its way to it."))
        p { "Open the link in the message sent to " strong { (email) } " to confirm the address, then sign in. The link works once, for 48 hours." }
        (resend_form(visitor, email))
    }
}

fn resend_form(visitor: &Visitor, email: &str) -> Markup {
    html! {
        form.stack method="post" action="/verify-email/resend" {
            (csrf_field(visitor))
            div { label for="resend-email" { "No message after a few minutes? Your e-mail" } input #resend-email type="email" name="email" value=(email) autocomplete="email" required; }
            button type="submit" { "Send the link again" }
        }
    }
}

#[derive(Deserialize)]
pub struct LinkQuery {
    #[serde(default)]
    pub token: String,
}

/// `GET /verify-email?token=…`: a button that spends the link.
pub async fn page(visitor: Visitor, Query(q): Query<LinkQuery>) -> Response {
    let body = html! {
        h1 { "Confirm your e-mail address" }
        form.stack method="post" action="/verify-email" {
            (csrf_field(&visitor))
            input type="hidden" name="token" value=(q.token);
            button type="submit" { "Confirm my address" }
        }
    };
    layout::page(Some(&visitor), "Confirm your e-mail address", body).into_response()
}

#[derive(Deserialize)]
pub struct Confirm {
    pub csrf: String,
    pub token: String,
}

/// `POST /verify-email`.
pub async fn confirm(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<Confirm>,
) -> Result<Response, WebError> {
    visitor.check_csrf(&form.csrf)?;
    let url = format!("{}/api/auth/verify-email", state.config.security);
    let reply = state.apis.post(url, visitor.who(), &accounts::LinkToken { token: form.token.clone() }).await?;
    if reply.status >= 500 {
        return Err(WebError::Unavailable);
    }
    if !reply.ok() {
        let body = html! {
            h1 { "This link does not work" }
            (layout::notice("error", "It was used already, has expired, or was cut short. Ask for a new one:"))
            (resend_form(&visitor, ""))
        };
        return Ok((StatusCode::BAD_REQUEST, layout::page(Some(&visitor), "Link not valid", body)).into_response());
    }
    let body = html! {
        h1 { "Address confirmed" }
        (layout::notice("ok", "Your e-mail address is confirmed: your account can sign in and buy."))
        p { a href="/signin" { "Sign in" } }
    };
    Ok(layout::page(Some(&visitor), "Address confirmed", body).into_response())
}

#[derive(Deserialize)]
pub struct Resend {
    pub csrf: String,
    pub email: String,
}

/// `POST /verify-email/resend`.
pub async fn resend(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<Resend>,
) -> Result<Response, WebError> {
    visitor.check_csrf(&form.csrf)?;
    let url = format!("{}/api/auth/verify-email/resend", state.config.security);
    let reply = state.apis.post(url, visitor.who(), &accounts::ResendLink { email: form.email.clone() }).await?;
    if reply.status >= 500 {
        return Err(WebError::Unavailable);
    }
    if !reply.ok() {
        let body = html! {
            h1 { "Send the link again" }
            (layout::notice("error", &reply.message()))
            (resend_form(&visitor, &form.email))
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, layout::page(Some(&visitor), "Send the link again", body))
            .into_response());
    }
    Ok((
        StatusCode::ACCEPTED,
        layout::page(Some(&visitor), "Check your e-mail", check_your_email(&visitor, &form.email)),
    )
        .into_response())
}
