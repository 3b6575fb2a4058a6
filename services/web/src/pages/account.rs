//! Register, sign in, sign out: forms in front of the security service's
//! `/api/auth/*`; the tokens it issues live in HttpOnly cookies.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use ticktak_contracts::accounts::{self, RefreshRequest, TokenPair};

use crate::error::WebError;
use crate::layout::{self, csrf_field};
use crate::session::{self, Visitor};
use crate::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct Next {
    /// Where to go after signing in: a path of this site only.
    #[serde(default)]
    pub next: String,
}

/// `next` when it is a path of this site; `/` otherwise (no open redirect).
/// Browsers drop tabs and line feeds from a URL and read `\` as `/`, so
/// `/\t/evil.example` would leave the site: any whitespace, control
/// character or backslash refuses it.
fn local(next: &str) -> &str {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && next.len() < 200
        && !next.chars().any(|c| c == '\\' || c.is_whitespace() || c.is_control());
    if ok {
        next
    } else {
        "/"
    }
}

fn signin_form(visitor: &Visitor, next: &str, email: &str, error: Option<&str>) -> Markup {
    html! {
        h1 { "Sign in" }
        @if let Some(e) = error { (layout::notice("error", e)) }
        form.stack method="post" action="/signin" {
            (csrf_field(visitor))
            input type="hidden" name="next" value=(local(next));
            div { label for="email" { "E-mail" } input #email type="email" name="email" value=(email) autocomplete="username" required; }
            div { label for="password" { "Password" } input #password type="password" name="password" autocomplete="current-password" required; }
            button type="submit" { "Sign in" }
        }
        p { a href="/forgot-password" { "Forgot your password?" } }
        p { "New here? " a href="/register" { "Register" } }
    }
}

/// `GET /signin`.
pub async fn signin_page(visitor: Visitor, Query(next): Query<Next>) -> Response {
    layout::page(Some(&visitor), "Sign in", signin_form(&visitor, &next.next, "", None)).into_response()
}

#[derive(Deserialize)]
pub struct SignIn {
    pub csrf: String,
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub next: String,
}

/// `POST /signin`.
pub async fn signin(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<SignIn>,
) -> Result<Response, WebError> {
    visitor.check_csrf(&form.csrf)?;
    let url = format!("{}/api/auth/login", state.config.security);
    let body = accounts::Login { email: form.email.clone(), password: form.password.clone() };
    let reply = state.apis.post(url, visitor.who(), &body).await?;
    if let (true, Some(pair)) = (reply.ok(), reply.read::<TokenPair>()) {
        let mut res = Redirect::to(local(&form.next)).into_response();
        session::set(res.headers_mut(), &session::signed_in(&pair, state.config.secure_cookies));
        return Ok(res);
    }
    if reply.status >= 500 {
        return Err(WebError::Unavailable);
    }
    let message = match reply.status {
        401 => "Wrong e-mail or password.".to_string(),
        _ => reply.message(),
    };
    let page = layout::page(Some(&visitor), "Sign in", signin_form(&visitor, &form.next, &form.email, Some(&message)));
    Ok((StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_REQUEST), page).into_response())
}

fn register_form(visitor: &Visitor, values: Option<&Register>, error: Option<&str>) -> Markup {
    let value = |f: fn(&Register) -> &str| values.map(f).unwrap_or_default().to_string();
    html! {
        h1 { "Register" }
        @if let Some(e) = error { (layout::notice("error", e)) }
        form.stack method="post" action="/register" {
            (csrf_field(visitor))
            div { label for="name" { "Name" } input #name type="text" name="name" value=(value(|r| &r.name)) autocomplete="name" required; }
            div { label for="email" { "E-mail" } input #email type="email" name="email" value=(value(|r| &r.email)) autocomplete="email" required; }
            div { label for="password" { "Password (at least 10 characters)" } input #password type="password" name="password" autocomplete="new-password" minlength="10" required; }
            div {
                label for="country" { "Country (two letters, e.g. AR, DE, MA)" }
                input #country type="text" name="country" value=(value(|r| &r.country)) maxlength="2" autocomplete="country" required;
            }
            button type="submit" { "Create my account" }
        }
        p { "Already registered? " a href="/signin" { "Sign in" } }
    }
}

/// `GET /register`.
pub async fn register_page(visitor: Visitor) -> Response {
    layout::page(Some(&visitor), "Register", register_form(&visitor, None, None)).into_response()
}

#[derive(Deserialize)]
pub struct Register {
    pub csrf: String,
    pub name: String,
    pub email: String,
    pub password: String,
    pub country: String,
}

/// `POST /register`: ask for the account; the visitor is told to confirm
/// the address from the mail (the same page whether or not the address
/// had an account), then signs in.
pub async fn register(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<Register>,
) -> Result<Response, WebError> {
    visitor.check_csrf(&form.csrf)?;
    let body = accounts::Register {
        email: form.email.clone(),
        password: form.password.clone(),
        name: form.name.clone(),
        country: form.country.trim().to_ascii_uppercase(),
    };
    let reply = state.apis.post(format!("{}/api/auth/register", state.config.security), visitor.who(), &body).await?;
    if !reply.ok() {
        if reply.status >= 500 {
            return Err(WebError::Unavailable);
        }
        let page =
            layout::page(Some(&visitor), "Register", register_form(&visitor, Some(&form), Some(&reply.message())));
        return Ok((StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_REQUEST), page).into_response());
    }
    let email = form.email.trim();
    Ok(layout::page(Some(&visitor), "Check your e-mail", super::verify::check_your_email(&visitor, email))
        .into_response())
}

#[derive(Deserialize)]
pub struct SignOut {
    pub csrf: String,
}

/// `POST /signout`: the refresh token is revoked and the cookies cleared.
pub async fn signout(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Form(form): Form<SignOut>,
) -> Result<Response, WebError> {
    visitor.check_csrf(&form.csrf)?;
    if let Some(refresh) = session::refresh_token(&headers) {
        let url = format!("{}/api/auth/logout", state.config.security);
        // Signed out here whatever the security service says.
        let _ = state.apis.post(url, visitor.who(), &RefreshRequest { refresh_token: refresh }).await;
    }
    let mut res = Redirect::to("/").into_response();
    session::set(res.headers_mut(), &session::signed_out(state.config.secure_cookies));
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::local;

    #[test]
    fn only_paths_of_this_site_are_followed_after_sign_in() {
        for ok in ["/", "/matches/1", "/tickets?x=1"] {
            assert_eq!(local(ok), ok);
        }
        for bad in [
            "//evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\\evil.example",
            "https://evil.example",
            "/ /x",
            "evil",
        ] {
            assert_eq!(local(bad), "/", "{bad:?}");
        }
    }
}
