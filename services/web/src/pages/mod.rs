//! Every page of the site, by part. Each handler takes the [`Visitor`]
//! (`crate::session`) and calls the other services' public APIs as them.

pub mod account;
pub mod admin;
pub mod checkin;
pub mod checkout;
pub mod matches;
pub mod tickets;

use axum::routing::{get, post};
use axum::Router;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(matches::home))
        .route("/matches/results", get(matches::results))
        .route("/matches/{n}", get(matches::one))
        .route("/matches/{n}/hold", post(checkout::hold))
        .route("/live/matches", get(matches::live_all))
        .route("/live/matches/{n}", get(matches::live))
        .route("/orders/{id}", get(checkout::order))
        .route("/orders/{id}/pay", post(checkout::pay))
        .route("/orders/{id}/cancel", post(checkout::cancel))
        .route("/orders/{id}/refund", post(tickets::refund))
        .route("/tickets", get(tickets::mine))
        .route("/tickets/{id}/qr.svg", get(tickets::qr))
        .route("/signin", get(account::signin_page).post(account::signin))
        .route("/register", get(account::register_page).post(account::register))
        .route("/signout", post(account::signout))
        .route("/admin", get(admin::dashboard))
        .route("/checkin", get(checkin::page).post(checkin::check))
}
