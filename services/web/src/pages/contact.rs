//! `GET /contact`: how a buyer reaches the people who run this platform,
//! linked from every page's footer.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::layout;
use crate::session::Visitor;
use crate::AppState;

pub async fn page(State(state): State<AppState>, visitor: Visitor) -> Response {
    let email = &state.config.contact_email;
    let body = html! {
        h1 { "Contact us" }
        p {
            "Questions about an order, a payment, a refund or a ticket: write to "
            a href={ "mailto:" (email) } { (email) }
            ". Give your order number (on My tickets) and the e-mail address you bought with; we answer within two working days."
        }
        h2 { "Before you write" }
        ul {
            li { "Your tickets and their QR codes are on " a href="/tickets" { "My tickets" } " and in the e-mail sent after payment." }
            li { "A refund can be asked for from My tickets until 48 hours before kick-off, while the tickets are unused." }
            li { "Tickets are sold by every approved platform from one shared stock: a category shown as sold out is sold out everywhere." }
        }
        h2 { "Security" }
        p {
            "Found a weakness in this site? Write to the same address rather than telling the world, with what you saw and how to see it again."
        }
    };
    layout::page(Some(&visitor), "Contact", body).into_response()
}
