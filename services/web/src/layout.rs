//! The frame of every page (head, skip link, navigation, footer) and the
//! small pieces many pages share.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use maud::{html, Markup, DOCTYPE};
use ticktak_kit::auth::Role;

use crate::error::WebError;
use crate::session::Visitor;

/// A whole page: `title` in the tab and `body` as its main content.
pub fn page(visitor: Option<&Visitor>, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · ticktak" }
                link rel="stylesheet" href="/static/site.css";
                link rel="icon" href="data:,";
                script src="/static/live.js" defer {}
                // Solves a proof-of-work puzzle when a service asks for one.
                script src="/challenge.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { "ticktak" span.tagline { " · World Cup Qatar 2022 tickets" } }
                    nav aria-label="Main" { (navigation(visitor)) }
                }
                main #main { (body) }
                footer.bottom {
                    p { "Prices in US dollars. Tickets are sold by every approved platform from one shared inventory." }
                    p { a href="/contact" { "Contact us" } }
                }
            }
        }
    }
}

fn navigation(visitor: Option<&Visitor>) -> Markup {
    let claims = visitor.and_then(|v| v.claims.as_ref());
    html! {
        ul {
            li { a href="/" { "Matches" } }
            li { a href="/draws" { "Draws" } }
            @if let Some(c) = claims {
                li { a href="/cart" { "Cart" } }
                li { a href="/tickets" { "My tickets" } }
                li { a href="/account" { "Account" } }
                @if c.role == Role::Admin {
                    li { a href="/admin" { "Dashboard" } }
                    li { a href="/admin/orders" { "Order desk" } }
                }
                @if matches!(c.role, Role::Admin | Role::Staff) {
                    li { a href="/checkin" { "Check-in" } }
                }
                @if let Some(v) = visitor {
                    li {
                        form.inline method="post" action="/signout" {
                            (csrf_field(v))
                            button.link type="submit" { "Sign out " span.who { "(" (c.email) ")" } }
                        }
                    }
                }
            } @else {
                li { a href="/signin" { "Sign in" } }
                li { a href="/register" { "Register" } }
            }
        }
    }
}

/// The hidden field every form carries (see `session`).
pub fn csrf_field(visitor: &Visitor) -> Markup {
    html! { input type="hidden" name="csrf" value=(visitor.csrf); }
}

/// A message above a page's content.
pub fn notice(kind: &str, text: &str) -> Markup {
    html! { p class={ "notice " (kind) } role=(if kind == "error" { "alert" } else { "status" }) { (text) } }
}

/// Whole dollars, e.g. `$1,250`.
pub fn dollars(amount: i64) -> String {
    let digits = amount.unsigned_abs().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{}${grouped}", if amount < 0 { "-" } else { "" })
}

/// Cents as dollars with cents, e.g. `$150.00`.
pub fn cents(amount: i64) -> String {
    format!("{}.{:02}", dollars(amount / 100), (amount % 100).abs())
}

/// Kick-off as fans read it: `Sun 20 Nov 2022, 16:00 UTC`.
pub fn kickoff(at: &DateTime<Utc>) -> String {
    at.format("%a %-d %b %Y, %H:%M UTC").to_string()
}

/// A category's status as a badge: AVAILABLE, TEMPORARILY UNAVAILABLE or
/// SOLD OUT.
pub fn status_badge(status: &str) -> Markup {
    let (class, label) = match status {
        "AVAILABLE" => ("ok", "Available"),
        "TEMPORARILY_UNAVAILABLE" => ("wait", "Temporarily unavailable"),
        "SOLD_OUT" => ("out", "Sold out"),
        other => ("wait", other),
    };
    html! { span class={ "badge " (class) } data-status=(status) { (label) } }
}

/// A script of this site with its nonce-free `src` (the CSP allows 'self').
pub fn script(path: &str) -> Markup {
    html! { script src=(path) defer {} }
}

/// The page of a [`WebError`].
impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            WebError::SignIn => return Redirect::to("/signin").into_response(),
            WebError::Forbidden(m) => (StatusCode::FORBIDDEN, "Not allowed", m),
            WebError::NotFound(m) => (StatusCode::NOT_FOUND, "Not found", m),
            WebError::Refused { status, message } => (status, "That did not work", message),
            WebError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "Part of the shop is not answering right now. Please try again in a moment.".to_string(),
            ),
        };
        let body = html! {
            h1 { (title) }
            p.notice.error role="alert" { (message) }
            p { a href="/" { "Back to the matches" } }
        };
        (status, page(None, title, body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_like_money() {
        assert_eq!(dollars(0), "$0");
        assert_eq!(dollars(1250), "$1,250");
        assert_eq!(dollars(1_234_567), "$1,234,567");
        assert_eq!(cents(15000), "$150.00");
        assert_eq!(cents(1999), "$19.99");
    }
}
