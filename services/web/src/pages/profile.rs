//! `/account`: the signed-in buyer's own account — name and country, a new
//! password (with the current one), a download of everything kept about
//! them, and deleting the account. The address is shown, not changed: a new
//! one would need confirming first.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use ticktak_contracts::accounts::{self, AccountView, DeleteMe, EditMe, TokenPair};

use crate::error::WebError;
use crate::layout::{self, csrf_field};
use crate::session::{self, Visitor};
use crate::AppState;

fn page_of(visitor: &Visitor, me: &AccountView, notice: Option<(&str, &str)>) -> Markup {
    html! {
        h1 { "My account" }
        @if let Some((kind, message)) = notice { (layout::notice(kind, message)) }
        p { "Signed in as " strong { (me.email) } "." }
        h2 { "Name and country" }
        form.stack method="post" action="/account" {
            (csrf_field(visitor))
            div { label for="name" { "Name" } input #name type="text" name="name" value=(me.name) autocomplete="name" required; }
            div {
                label for="country" { "Country (two letters, e.g. AR, DE, MA)" }
                input #country type="text" name="country" value=(me.country) maxlength="2" autocomplete="country" required;
            }
            button type="submit" { "Save" }
        }
        h2 { "Password" }
        form.stack method="post" action="/account/password" {
            (csrf_field(visitor))
            div { label for="current" { "Current password" } input #current type="password" name="current" autocomplete="current-password" required; }
            div { label for="new-password" { "New password (at least 10 characters)" } input #new-password type="password" name="new" autocomplete="new-password" minlength="10" required; }
            button type="submit" { "Change my password" }
        }
        p { "Changing the password signs every other session out." }
        h2 { "Your data" }
        p { a href="/account/export" download="ticktak-my-data.json" { "Download everything we keep about you" } " (JSON: the account, sign-ins, orders, tickets, payments)." }
        h2 { "Delete the account" }
        p { "Your name, address and country are erased from this platform; orders and payments stay under an anonymous number for the accounts. Not possible while an order is open or a ticket is valid for a match still to be played." }
        form.stack method="post" action="/account/delete" {
            (csrf_field(visitor))
            div { label for="delete-password" { "Your password, to confirm" } input #delete-password type="password" name="password" autocomplete="current-password" required; }
            button.secondary type="submit" { "Delete my account" }
        }
    }
}

async fn me(state: &AppState, visitor: &Visitor) -> Result<AccountView, WebError> {
    state.apis.get_as(format!("{}/api/me", state.config.security), visitor.who()).await
}

/// `GET /account`.
pub async fn page(State(state): State<AppState>, visitor: Visitor) -> Result<Response, WebError> {
    visitor.account()?;
    let me = me(&state, &visitor).await?;
    Ok(layout::page(Some(&visitor), "My account", page_of(&visitor, &me, None)).into_response())
}

#[derive(Deserialize)]
pub struct Edit {
    pub csrf: String,
    pub name: String,
    pub country: String,
}

/// `POST /account`: name and country.
pub async fn edit(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<Edit>,
) -> Result<Response, WebError> {
    visitor.check_csrf(&form.csrf)?;
    visitor.account()?;
    let body = EditMe { name: Some(form.name.clone()), country: Some(form.country.trim().to_ascii_uppercase()) };
    let url = format!("{}/api/me", state.config.security);
    let reply = state.apis.send(Method::PATCH, url, visitor.who(), Some(&body), None).await?;
    if reply.status >= 500 || reply.status == 401 {
        return Err(WebError::from_reply(&reply));
    }
    let me = me(&state, &visitor).await?;
    let (status, notice) = if reply.ok() {
        (StatusCode::OK, ("ok", "Saved.".to_string()))
    } else {
        (StatusCode::UNPROCESSABLE_ENTITY, ("error", reply.message()))
    };
    let page = page_of(&visitor, &me, Some((notice.0, &notice.1)));
    Ok((status, layout::page(Some(&visitor), "My account", page)).into_response())
}

#[derive(Deserialize)]
pub struct ChangePassword {
    pub csrf: String,
    pub current: String,
    pub new: String,
}

/// `POST /account/password`: this session goes on with the new tokens.
pub async fn change_password(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<ChangePassword>,
) -> Result<Response, WebError> {
    visitor.check_csrf(&form.csrf)?;
    visitor.account()?;
    let body = accounts::ChangePassword { current_password: form.current.clone(), new_password: form.new.clone() };
    let url = format!("{}/api/me/password", state.config.security);
    let reply = state.apis.post(url, visitor.who(), &body).await?;
    if reply.status >= 500 || reply.status == 429 {
        return Err(WebError::from_reply(&reply));
    }
    let me = me(&state, &visitor).await?;
    if !reply.ok() {
        let message = match reply.status {
            401 => "The current password is not right.".to_string(),
            _ => reply.message(),
        };
        let page = page_of(&visitor, &me, Some(("error", &message)));
        let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_REQUEST);
        return Ok((status, layout::page(Some(&visitor), "My account", page)).into_response());
    }
    let pair = reply.read::<TokenPair>().ok_or(WebError::Unavailable)?;
    let page = page_of(&visitor, &me, Some(("ok", "Password changed. Every other session was signed out.")));
    let mut res = layout::page(Some(&visitor), "My account", page).into_response();
    session::set(res.headers_mut(), &session::signed_in(&pair, state.config.secure_cookies));
    Ok(res)
}

/// `GET /account/export`: the security service's export, as a download.
pub async fn export(State(state): State<AppState>, visitor: Visitor) -> Result<Response, WebError> {
    visitor.account()?;
    let url = format!("{}/api/me/export", state.config.security);
    let document = state.apis.get(url, visitor.who()).await?.success()?;
    let body = serde_json::to_string_pretty(&document).unwrap_or_default();
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "application/json"),
            (axum::http::header::CONTENT_DISPOSITION, "attachment; filename=\"ticktak-my-data.json\""),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct DeleteAccount {
    pub csrf: String,
    pub password: String,
}

/// `POST /account/delete`: the account goes, and the visitor is signed out.
pub async fn delete(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<DeleteAccount>,
) -> Result<Response, WebError> {
    visitor.check_csrf(&form.csrf)?;
    visitor.account()?;
    let url = format!("{}/api/me", state.config.security);
    let body = DeleteMe { password: form.password.clone() };
    let reply = state.apis.send(Method::DELETE, url, visitor.who(), Some(&body), None).await?;
    if reply.status >= 500 || reply.status == 429 {
        return Err(WebError::from_reply(&reply));
    }
    if !reply.ok() {
        let me = me(&state, &visitor).await?;
        let message = match reply.status {
            401 => "The password is not right.".to_string(),
            _ => reply.message(),
        };
        let page = page_of(&visitor, &me, Some(("error", &message)));
        let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_REQUEST);
        return Ok((status, layout::page(Some(&visitor), "My account", page)).into_response());
    }
    let body = html! {
        h1 { "Your account is deleted" }
        (layout::notice("ok", "Your name, address and country are erased from this platform. Thank you for coming."))
        p { a href="/" { "Back to the matches" } }
    };
    let mut res = layout::page(None, "Account deleted", body).into_response();
    session::set(res.headers_mut(), &session::signed_out(state.config.secure_cookies));
    Ok(res)
}
