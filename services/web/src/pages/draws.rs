//! The ticket draws: the draws of the market (their window, stock,
//! commitment, and once drawn the seed and the winners' digest anyone can
//! check with `draw verify`), an application form for each ticket type of
//! an open draw, and the buyer's applications with their results —
//! withdrawn here while the draw is open, paid under My tickets when won.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use ticktak_contracts::draws::{
    ApplicationList, ApplicationState, ApplicationView, ApplyForDraw, DrawList, DrawState, DrawView,
};

use super::forms::{uuid_like, CsrfForm};
use crate::error::WebError;
use crate::layout::{self, csrf_field, kickoff, notice};
use crate::session::Visitor;
use crate::AppState;

/// What the last action did, shown once.
#[derive(Debug, Deserialize)]
pub struct Done {
    pub done: Option<String>,
}

/// The application form's fields.
#[derive(Debug, Deserialize)]
pub struct ApplyForm {
    pub csrf: String,
    pub match_number: u8,
    pub category: u8,
    pub quantity: u8,
}

/// `GET /draws`.
pub async fn page(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(done): Query<Done>,
) -> Result<Response, WebError> {
    let url = format!("{}/api/draws", state.config.reservations);
    let draws = state.apis.get_as::<DrawList>(url, visitor.who()).await?.draws;
    let mine = match visitor.claims.is_some() {
        true => {
            let url = format!("{}/api/draws/applications", state.config.reservations);
            state.apis.get_as::<ApplicationList>(url, visitor.who()).await?.applications
        }
        false => vec![],
    };
    let done = match done.done.as_deref() {
        Some("applied") => Some("Your application is in the draw."),
        Some("withdrawn") => Some("Your application was withdrawn."),
        _ => None,
    };
    let body = html! {
        h1 { "Ticket draws" }
        @if let Some(d) = done { (notice("ok", d)) }
        p { "While a draw is open, apply once for each ticket type you want. After it closes, the organisers reveal a seed they committed to in advance, and every platform draws the same winners from it. Winners get a hold to pay for. Tickets that a winner does not pay for go to the next applicant in the draw's order." }
        @if visitor.claims.is_some() {
            section.card aria-labelledby="mine" {
                h2 #mine { "My applications" }
                @if mine.is_empty() {
                    p.meta { "You have not applied for a draw yet." }
                } @else {
                    div.scroll { table {
                        thead { tr { th { "Draw" } th { "Match" } th { "Category" } th { "Tickets" } th { "Result" } th {} } }
                        tbody { @for a in &mine {
                            tr data-application=(a.id) data-state=(state_key(a.state)) {
                                td { (a.draw) }
                                td { (a.match_number) }
                                td { (a.category) }
                                td { (a.quantity) }
                                td { (result_text(a)) }
                                td {
                                    @if a.state == ApplicationState::Open {
                                        form.inline method="post" action={ "/draws/" (a.id) "/withdraw" } {
                                            (csrf_field(&visitor))
                                            button.secondary type="submit" { "Withdraw" }
                                        }
                                    } @else if let (ApplicationState::Won, Some(r)) = (a.state, a.reservation_id) {
                                        a href={ "/orders/" (r) } { "Pay" }
                                    }
                                }
                            }
                        } }
                    } }
                }
            }
        }
        @for d in &draws { (draw_card(&visitor, d, &mine)) }
        @if draws.is_empty() { p.meta { "No draw is scheduled." } }
    };
    Ok(layout::page(Some(&visitor), "Ticket draws", body).into_response())
}

fn state_key(s: ApplicationState) -> &'static str {
    match s {
        ApplicationState::Open => "open",
        ApplicationState::Withdrawn => "withdrawn",
        ApplicationState::Closed => "closed",
        ApplicationState::Won => "won",
        ApplicationState::Waitlisted => "waitlisted",
        ApplicationState::Duplicate => "duplicate",
    }
}

fn result_text(a: &ApplicationView) -> String {
    match a.state {
        ApplicationState::Open => format!("In the draw; you can withdraw until {}", kickoff(&a.closes_at)),
        ApplicationState::Withdrawn => "Withdrawn".into(),
        ApplicationState::Closed => format!("Closed; the draw is at {}", kickoff(&a.draws_at)),
        ApplicationState::Won => "You won: pay for your hold in time".into(),
        ApplicationState::Waitlisted => match a.place {
            Some(p) => format!("Not drawn yet: number {p} on the list"),
            None => "Not drawn yet".into(),
        },
        ApplicationState::Duplicate => {
            "You applied for this elsewhere first; that application is the one in the draw".into()
        }
    }
}

fn draw_card(visitor: &Visitor, d: &DrawView, mine: &[ApplicationView]) -> Markup {
    let signed_in = visitor.claims.is_some();
    let applied = |m: u8, c: u8| {
        mine.iter().any(|a| {
            a.draw == d.draw && a.match_number == m && a.category == c && a.state != ApplicationState::Withdrawn
        })
    };
    html! {
        section.card.draw data-draw=(d.draw) {
            h2 { "Draw " (d.draw) }
            p.meta {
                "Applications " (kickoff(&d.opens_at)) " – " (kickoff(&d.closes_at))
                " · drawn at " (kickoff(&d.draws_at))
                " · winners have " (d.payment_window_minutes) " minutes to pay"
            }
            p.meta { "Commitment (SHA-256 of the seed): " code { (d.commitment) } }
            @if let Some(seed) = &d.seed { p.meta { "Seed: " code { (seed) } } }
            @if let Some(digest) = &d.winners_digest {
                p { "Winners' digest: " code.digest { (digest) } }
                p.meta { (d.winners.unwrap_or(0)) " winners among " (d.applications) " applications; check with " code { "draw verify --draw " (d.draw) } "." }
            }
            div.scroll { table {
                thead { tr { th { "Match" } th { "Category" } th { "Tickets in the draw" } th {} } }
                tbody { @for s in &d.stock {
                    tr {
                        td { a href={ "/matches/" (s.match_number) } { (s.match_number) } }
                        td { (s.category) }
                        td { (s.tickets) }
                        td {
                            @if d.state == DrawState::Open && applied(s.match_number, s.category) {
                                "Applied: see My applications"
                            } @else if d.state == DrawState::Open && signed_in {
                                form.inline.apply method="post" action="/draws/apply" {
                                    (csrf_field(visitor))
                                    input type="hidden" name="match_number" value=(s.match_number);
                                    input type="hidden" name="category" value=(s.category);
                                    label for={ "qty-" (d.draw) "-" (s.match_number) "-" (s.category) } { "Tickets" }
                                    select id={ "qty-" (d.draw) "-" (s.match_number) "-" (s.category) } name="quantity" {
                                        @for q in 1..=d.max_quantity { option value=(q) { (q) } }
                                    }
                                    button type="submit" { "Apply" }
                                }
                            } @else if d.state == DrawState::Open {
                                a href="/signin" { "Sign in to apply" }
                            }
                        }
                    }
                } }
            } }
        }
    }
}

/// `POST /draws/apply`.
pub async fn apply(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<ApplyForm>,
) -> Result<Response, WebError> {
    visitor.account()?;
    visitor.check_csrf(&form.csrf)?;
    let url = format!("{}/api/draws/applications", state.config.reservations);
    let body = ApplyForDraw {
        match_number: i64::from(form.match_number),
        category: i64::from(form.category),
        quantity: i64::from(form.quantity),
    };
    state.apis.post(url, visitor.who(), &body).await?.success()?;
    Ok(Redirect::to("/draws?done=applied").into_response())
}

/// `POST /draws/{id}/withdraw` (a form cannot send DELETE).
pub async fn withdraw(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    visitor.account()?;
    visitor.check_csrf(&form.csrf)?;
    let id = uuid_like(&id).ok_or_else(|| WebError::NotFound("No such application.".into()))?;
    let url = format!("{}/api/draws/applications/{id}", state.config.reservations);
    state.apis.delete(url, visitor.who()).await?.success()?;
    Ok(Redirect::to("/draws?done=withdrawn").into_response())
}
