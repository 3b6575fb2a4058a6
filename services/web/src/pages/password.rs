//! A forgotten password: `/forgot-password` asks for the link (the same
//! answer for any address), `/reset-password?token=…` (the mailed link)
//! sets the new password.

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

fn forgot_form(visitor: &Visitor, email: &str, error: Option<&str>) -> Markup {
    html! {
        h1 { "Forgot your password?" }
        @if let Some(e) = error { (layout::notice("error", e)) }
        p { "We mail a link to choose a new one to the address of your account. It works for an hour." }
        form.stack method="post" action="/forgot-password" {
            (csrf_field(visitor))
            div { label for="email" { "E-mail" } input #email type="email" name="email" value=(email) autocomplete="email" required; }
            button type="submit" { "Mail me a link" }
        }
    }
}

/// `GET /forgot-password`.
pub async fn forgot_page(visitor: Visitor) -> Response {
    layout::page(Some(&visitor), "Forgot your password?", forgot_form(&visitor, "", None)).into_response()
}

#[derive(Deserialize)]
pub struct Forgot {
    pub csrf: String,
    pub email: String,
}

/// `POST /forgot-password`.
pub async fn forgot(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<Forgot>,
) -> Result<Response, WebError> {
    visitor.check_csrf(&form.csrf)?;
    let url = format!("{}/api/auth/password-reset", state.config.security);
    let reply = state.apis.post(url, visitor.who(), &accounts::ResetRequest { email: form.email.clone() }).await?;
    if reply.status >= 500 {
        return Err(WebError::Unavailable);
    }
    if !reply.ok() {
        let page = layout::page(
            Some(&visitor),
            "Forgot your password?",
            forgot_form(&visitor, &form.email, Some(&reply.message())),
        );
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    let body = html! {
        h1 { "Check your e-mail" }
        (layout::notice("ok", "If the address has an account, a link to choose a new password is on its way to it."))
        p { "The link works for an hour. " a href="/signin" { "Back to sign in" } }
    };
    Ok((StatusCode::ACCEPTED, layout::page(Some(&visitor), "Check your e-mail", body)).into_response())
}

#[derive(Deserialize)]
pub struct LinkQuery {
    #[serde(default)]
    pub token: String,
}

fn reset_form(visitor: &Visitor, token: &str, error: Option<&str>) -> Markup {
    html! {
        h1 { "Choose a new password" }
        @if let Some(e) = error { (layout::notice("error", e)) }
        form.stack method="post" action="/reset-password" {
            (csrf_field(visitor))
            input type="hidden" name="token" value=(token);
            div { label for="password" { "New password (at least 10 characters)" } input #password type="password" name="password" autocomplete="new-password" minlength="10" required; }
            button type="submit" { "Set my new password" }
        }
    }
}

/// `GET /reset-password?token=…`.
pub async fn reset_page(visitor: Visitor, Query(q): Query<LinkQuery>) -> Response {
    layout::page(Some(&visitor), "Choose a new password", reset_form(&visitor, &q.token, None)).into_response()
}

#[derive(Deserialize)]
pub struct Reset {
    pub csrf: String,
    pub token: String,
    pub password: String,
}

/// `POST /reset-password`.
pub async fn reset(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<Reset>,
) -> Result<Response, WebError> {
    visitor.check_csrf(&form.csrf)?;
    let url = format!("{}/api/auth/password-reset/confirm", state.config.security);
    let body = accounts::ResetConfirm { token: form.token.clone(), new_password: form.password.clone() };
    let reply = state.apis.post(url, visitor.who(), &body).await?;
    if reply.status >= 500 {
        return Err(WebError::Unavailable);
    }
    if reply.status == 422 {
        let page = layout::page(
            Some(&visitor),
            "Choose a new password",
            reset_form(&visitor, &form.token, Some(&reply.message())),
        );
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    if !reply.ok() {
        let body = html! {
            h1 { "This link does not work" }
            (layout::notice("error", "It was used already, has expired, or was cut short."))
            p { a href="/forgot-password" { "Ask for a new link" } }
        };
        return Ok((StatusCode::BAD_REQUEST, layout::page(Some(&visitor), "Link not valid", body)).into_response());
    }
    let body = html! {
        h1 { "Password changed" }
        (layout::notice("ok", "Your new password is set, and every session of the account was signed out."))
        p { a href="/signin" { "Sign in" } }
    };
    Ok(layout::page(Some(&visitor), "Password changed", body).into_response())
}
