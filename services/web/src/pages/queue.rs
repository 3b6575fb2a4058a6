//! The waiting room of an on-sale: join it from the match page, watch the
//! place move (the page asks again by itself, as often as the `Retry-After`
//! of the reservations API says), and go back to the match page with the
//! admission when the turn comes.

use axum::extract::{Path, State};
use axum::http::header::REFRESH;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use serde::Deserialize;
use ticktak_contracts::queue::{JoinQueue, QueueState, QueueStatus};

use crate::error::WebError;
use crate::layout::{self, kickoff};
use crate::session::Visitor;
use crate::AppState;

/// The join form's fields.
#[derive(Debug, Deserialize)]
pub struct JoinForm {
    pub csrf: String,
    pub category: u8,
}

/// `POST /matches/{n}/queue`: join the category's waiting room (or find
/// the place taken before) and watch it.
pub async fn join(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(n): Path<u8>,
    Form(form): Form<JoinForm>,
) -> Result<Response, WebError> {
    visitor.account()?;
    visitor.check_csrf(&form.csrf)?;
    let url = format!("{}/api/queue", state.config.reservations);
    let body = JoinQueue { match_number: i64::from(n), category: i64::from(form.category) };
    let place = state.apis.post_as::<QueueStatus>(url, visitor.who(), &body).await?;
    Ok(Redirect::to(&place_path(n, &place.queue_ticket)).into_response())
}

fn place_path(n: u8, ticket: &str) -> String {
    format!("/matches/{n}/queue/{ticket}")
}

/// `GET /matches/{n}/queue/{ticket}`: the buyer's place; once admitted, the
/// match page with the admission in its hold form.
pub async fn place(
    State(state): State<AppState>,
    visitor: Visitor,
    Path((n, ticket)): Path<(u8, String)>,
) -> Result<Response, WebError> {
    visitor.account()?;
    if ticket.len() > 1024 || !ticket.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(WebError::NotFound("No such place in the waiting room.".into()));
    }
    let url = format!("{}/api/queue/{ticket}", state.config.reservations);
    let q = state.apis.get_as::<QueueStatus>(url, visitor.who()).await?;
    if let Some(admission) = &q.admission {
        return Ok(Redirect::to(&format!("/matches/{n}?admission={admission}#buy")).into_response());
    }
    let wait = q.estimated_wait_seconds;
    let body = html! {
        p { a href={ "/matches/" (n) } { "← Match " (n) } }
        h1 { "Waiting room" }
        section.card aria-live="polite" data-queue-state=(q.state.as_str()) {
            @match q.state {
                QueueState::Prequeue => {
                    p { "You are in the waiting room." }
                    p { "The sale opens at " (kickoff(&q.opens_at)) ". At that moment everyone already here gets a place in line at random: arriving earlier does not help, and you lose nothing by waiting here." }
                }
                QueueState::Waiting => {
                    p { "Your place in line: " strong data-place { (number(q.place)) } }
                    p { "Ahead of you: " strong data-ahead { (number(q.ahead)) } }
                    @if let Some(w) = wait {
                        p { "Estimated wait: " (about(w)) "." }
                    }
                    p.meta { "Keep this page open: it updates by itself and takes you to the match when it is your turn." }
                }
                QueueState::Used => {
                    p { "You have used your turn in this on-sale. " a href="/tickets" { "See your orders" } }
                }
                _ => {
                    p { "Your turn has passed: the admission expired before it was used." }
                }
            }
        }
    };
    let mut res = layout::page(Some(&visitor), "Waiting room", body).into_response();
    let every = match q.state {
        QueueState::Prequeue => Some((q.opens_at - chrono::Utc::now()).num_seconds().clamp(1, 10)),
        QueueState::Waiting => Some(wait.map_or(2, |w| (w / 4).clamp(1, 10))),
        _ => None,
    };
    if let Some(secs) = every {
        res.headers_mut().insert(REFRESH, HeaderValue::from(secs));
    }
    Ok(res)
}

/// A place or a count; a dash while not yet known.
fn number(n: Option<i64>) -> String {
    n.map_or_else(|| "—".into(), |n| n.to_string())
}

/// A wait as a buyer reads it.
fn about(seconds: i64) -> String {
    match seconds {
        ..=59 => "less than a minute".into(),
        60..=119 => "about a minute".into(),
        _ => format!("about {} minutes", (seconds + 30) / 60),
    }
}
