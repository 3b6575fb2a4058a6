//! Every page of the site, by part. Each handler takes the [`Visitor`]
//! (`crate::session`) and calls the other services' public APIs as them.

pub mod account;
pub mod admin;
pub mod cart;
pub mod checkin;
pub mod checkout;
pub mod contact;
pub mod desk;
pub mod draws;
pub mod forms;
pub mod matches;
pub mod password;
pub mod pay;
pub mod profile;
pub mod queue;
pub mod tickets;
pub mod transfer;
pub mod verify;

use axum::http::Method;
use axum::routing::{get, post};
use axum::Router;
use ticktak_kit::screen::RouteClass;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(matches::home))
        .route("/matches/results", get(matches::results))
        .route("/matches/{n}", get(matches::one))
        .route("/matches/{n}/hold", post(checkout::hold))
        .route("/matches/{n}/cart", post(cart::add))
        .route("/matches/{n}/queue", post(queue::join))
        .route("/draws", get(draws::page))
        .route("/draws/apply", post(draws::apply))
        .route("/draws/{id}/withdraw", post(draws::withdraw))
        .route("/cart", get(cart::page))
        .route("/cart/remove", post(cart::remove))
        .route("/cart/hold", post(cart::hold))
        .route("/carts/{id}", get(cart::order_page))
        .route("/carts/{id}/pay", post(cart::pay))
        .route("/carts/{id}/cancel", post(cart::cancel))
        .route("/carts/{id}/refund", post(cart::refund))
        .route("/matches/{n}/queue/{ticket}", get(queue::place))
        .route("/live/matches", get(matches::live_all))
        .route("/live/matches/{n}", get(matches::live))
        .route("/orders/{id}", get(checkout::order))
        .route("/orders/{id}/pay", post(checkout::pay))
        .route("/orders/{id}/cancel", post(checkout::cancel))
        .route("/orders/{id}/refund", post(tickets::refund))
        .route("/tickets", get(tickets::mine))
        .route("/tickets/{id}/qr.svg", get(tickets::qr))
        .route("/tickets/{id}/live", get(tickets::live_page))
        .route("/tickets/{id}/holder", post(tickets::name_holder))
        .route("/tickets/{id}/transfer", post(transfer::offer))
        .route("/tickets/{id}/transfer/withdraw", post(transfer::withdraw))
        .route("/transfers/accept", get(transfer::accept_page).post(transfer::accept))
        .route("/tickets/{id}/live.svg", get(tickets::live_qr))
        .route("/signin", get(account::signin_page).post(account::signin))
        .route("/register", get(account::register_page).post(account::register))
        .route("/signout", post(account::signout))
        .route("/verify-email", get(verify::page).post(verify::confirm))
        .route("/verify-email/resend", post(verify::resend))
        .route("/account", get(profile::page).post(profile::edit))
        .route("/account/password", post(profile::change_password))
        .route("/account/export", get(profile::export))
        .route("/account/delete", post(profile::delete))
        .route("/forgot-password", get(password::forgot_page).post(password::forgot))
        .route("/reset-password", get(password::reset_page).post(password::reset))
        .route("/admin", get(admin::dashboard))
        .route("/admin/orders", get(desk::search))
        .route("/admin/orders/{id}", get(desk::order))
        .route("/admin/orders/{id}/resend", post(desk::resend))
        .route("/admin/orders/{id}/refund", post(desk::refund))
        .route("/admin/tickets/{id}/revoke", post(desk::revoke))
        .route("/admin/audit", get(desk::audit))
        .route("/admin/export/{name}", get(desk::export))
        .route("/checkin", get(checkin::page).post(checkin::check))
        .route("/contact", get(contact::page))
}

/// The screening layer's rate class of a request to the site: its forms
/// count like the API calls they make.
pub fn route_class(method: &Method, path: &str) -> RouteClass {
    if method == Method::POST {
        if matches!(
            path,
            "/signin"
                | "/register"
                | "/verify-email"
                | "/verify-email/resend"
                | "/forgot-password"
                | "/reset-password"
                | "/account/password"
                | "/account/delete"
        ) {
            return RouteClass::Auth;
        }
        if (path.starts_with("/matches/") && path.ends_with("/hold")) || path == "/cart/hold" {
            return RouteClass::Holds;
        }
        if (path.starts_with("/orders/") || path.starts_with("/carts/")) && path.ends_with("/pay") {
            return RouteClass::Payments;
        }
    }
    RouteClass::of(method, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_count_like_the_api_calls_they_make() {
        assert_eq!(route_class(&Method::POST, "/signin"), RouteClass::Auth);
        assert_eq!(route_class(&Method::POST, "/verify-email/resend"), RouteClass::Auth);
        assert_eq!(route_class(&Method::POST, "/matches/7/hold"), RouteClass::Holds);
        assert_eq!(route_class(&Method::POST, "/orders/x/pay"), RouteClass::Payments);
        assert_eq!(route_class(&Method::POST, "/cart/hold"), RouteClass::Holds);
        assert_eq!(route_class(&Method::POST, "/carts/x/pay"), RouteClass::Payments);
        assert_eq!(route_class(&Method::POST, "/orders/x/cancel"), RouteClass::Writes);
        assert_eq!(route_class(&Method::GET, "/matches/7"), RouteClass::Reads);
    }
}
