//! The OpenAPI description of the reservations service's public API, served
//! at `GET /api/openapi.json`.

use axum::routing::get;
use axum::Router;
use ticktak_contracts::reservations::{
    CreateOrder, CreateReservation, OrderLineRequest, OrderView, ReservationList, ReservationView,
};
use ticktak_kit::auth::BearerAuth;
use ticktak_kit::openapi::StandardResponses;
use utoipa::OpenApi;

use crate::{api, AppState};

#[derive(OpenApi)]
#[openapi(
    info(title = "ticktak reservations", description = "Hold tickets, see and cancel your reservations, get their tickets, check tickets in at the gate; apply for ticket draws and check their results; the operators' order desk."),
    paths(api::create, api::one, api::list, api::cancel, crate::queue::join, crate::queue::status, crate::queue::board, crate::tickets::of_reservation, crate::tickets::qr_svg, crate::tickets::qr_png,
        crate::tickets::live, crate::tickets::live_svg, crate::tickets::holder::name, crate::tickets::transfer::offer, crate::tickets::transfer::withdraw,
        crate::tickets::transfer::received, crate::tickets::transfer::accept, crate::tickets::check_in, crate::tickets::public_key,
        crate::desk::search, crate::desk::story, crate::desk::resend_tickets, crate::desk::revoke_ticket, crate::desk::export::orders,
        crate::desk::export::sales, ticktak_kit::audit::audit, crate::orders::create, crate::orders::one, crate::orders::cancel,
        crate::draw::api::list_draws, crate::draw::api::one_draw, crate::draw::api::my_applications,
        crate::draw::api::apply_for_draw, crate::draw::api::change_application, crate::draw::api::withdraw_application),
    components(schemas(CreateReservation, ReservationView, ReservationList, CreateOrder, OrderLineRequest, OrderView, crate::tickets::Ticket,
        crate::tickets::TicketList, crate::tickets::CheckIn, crate::tickets::CheckInResult, crate::tickets::PublicKey,
        crate::tickets::LiveCode, crate::tickets::holder::NameHolder, crate::tickets::transfer::OfferTicket,
        crate::tickets::transfer::Offer, crate::tickets::transfer::AcceptTicket, crate::queue::JoinQueue, crate::queue::QueueStatus, crate::queue::QueueState,
        crate::queue::QueueBoard, crate::queue::RoomBoard, crate::queue::PlatformQueue,
        ticktak_contracts::desk::OrderList, ticktak_contracts::desk::OrderSummary, ticktak_contracts::desk::OrderStory,
        ticktak_contracts::desk::MessageSent, ticktak_contracts::desk::PaymentSummary, ticktak_contracts::desk::TicketStory,
        ticktak_contracts::desk::GateRecord, ticktak_contracts::desk::MailSent, ticktak_contracts::desk::Reason,
        ticktak_contracts::desk::AuditTrail, ticktak_contracts::desk::AuditEntry,
        ticktak_contracts::draws::ApplyForDraw, ticktak_contracts::draws::ChangeApplication, ticktak_contracts::draws::ApplicationView,
        ticktak_contracts::draws::ApplicationState, ticktak_contracts::draws::ApplicationList, ticktak_contracts::draws::DrawView,
        ticktak_contracts::draws::DrawState, ticktak_contracts::draws::DrawStock, ticktak_contracts::draws::DrawList)),
    modifiers(&BearerAuth, &StandardResponses)
)]
pub struct ApiDoc;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/openapi.json", get(|| async { axum::Json(ApiDoc::openapi()) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client that checks answers against the description must accept both
    /// 409s of `POST /api/reservations`: a REJECTED reservation and the
    /// purchase cap's error body.
    #[test]
    fn the_description_of_a_refused_hold_admits_both_of_its_bodies() {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("the description serialises");
        let schema =
            &doc["paths"]["/api/reservations"]["post"]["responses"]["409"]["content"]["application/json"]["schema"];
        let refused = match schema["$ref"].as_str() {
            Some(r) => &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")],
            None => schema,
        };
        let variants: Vec<&str> = refused["oneOf"]
            .as_array()
            .unwrap_or_else(|| panic!("the 409 is not oneOf two bodies: {refused:#}"))
            .iter()
            .filter_map(|v| v["$ref"].as_str())
            .collect();
        assert_eq!(variants, ["#/components/schemas/ReservationView", "#/components/schemas/Error"], "{refused:#}");
        let error = &doc["components"]["schemas"]["Error"];
        assert_eq!(error["required"], serde_json::json!(["error", "message"]), "{error:#}");
    }
}
