//! Tickets: one per seat of a confirmed reservation, each with a signed code
//! (`code`) that a gate scanner verifies offline, shown as a QR code (`qr`),
//! mailed to the buyer (`mail`), admitted once at the gate.
//!
//! - `GET  /api/reservations/{id}/tickets` (owner)
//! - `GET  /api/tickets/{id}/qr.svg`, `GET /api/tickets/{id}/qr.png` (owner)
//! - `POST /api/tickets/check-in` `{"code"}` (staff or admin)
//! - `GET  /api/tickets/public-key`: the key that verifies codes

pub mod code;
pub mod mail;
pub mod qr;
pub mod store;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use ticktak_kit::auth::{Caller, Role};
use ticktak_kit::http::{Json, Path};
use ticktak_kit::{ApiError, ApiResult};
use utoipa::ToSchema;
use uuid::Uuid;

pub use self::store::Ticket;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/reservations/{id}/tickets", get(of_reservation))
        .route("/api/tickets/{id}/qr.svg", get(qr_svg))
        .route("/api/tickets/{id}/qr.png", get(qr_png))
        .route("/api/tickets/check-in", post(check_in))
        .route("/api/tickets/public-key", get(public_key))
}

#[derive(Serialize, ToSchema)]
pub struct TicketList {
    pub tickets: Vec<Ticket>,
}

fn not_found() -> ApiError {
    ApiError::NotFound("no such reservation".into())
}

#[utoipa::path(get, path = "/api/reservations/{id}/tickets", tag = "tickets", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "empty until the reservation is paid", body = TicketList),
        (status = 404, description = "not yours or no such reservation")))]
pub async fn of_reservation(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<TicketList>> {
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    match crate::store::get(&s.pool, id).await? {
        Some(r) if r.buyer_id == caller.sub => {
            Ok(Json(TicketList { tickets: store::of_reservation(&s.pool, id).await? }))
        }
        _ => Err(not_found()),
    }
}

/// The caller's own ticket `raw`.
async fn own_ticket(s: &AppState, caller: &ticktak_kit::auth::Claims, raw: &str) -> ApiResult<Ticket> {
    let missing = || ApiError::NotFound("no such ticket".into());
    let id = Uuid::parse_str(raw).map_err(|_| missing())?;
    match store::get(&s.pool, id).await? {
        Some((ticket, buyer)) if buyer == caller.sub => Ok(ticket),
        _ => Err(missing()),
    }
}

#[utoipa::path(get, path = "/api/tickets/{id}/qr.svg", tag = "tickets", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, content_type = "image/svg+xml", description = "the ticket's QR code"),
        (status = 404, description = "not yours or no such ticket")))]
pub async fn qr_svg(State(s): State<AppState>, Caller(caller): Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let ticket = own_ticket(&s, &caller, &id).await?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "private, no-store")], qr::svg(&ticket.code))
        .into_response())
}

#[utoipa::path(get, path = "/api/tickets/{id}/qr.png", tag = "tickets", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, content_type = "image/png", description = "the ticket's QR code"),
        (status = 404, description = "not yours or no such ticket")))]
pub async fn qr_png(State(s): State<AppState>, Caller(caller): Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let ticket = own_ticket(&s, &caller, &id).await?;
    Ok(([(header::CONTENT_TYPE, "image/png"), (header::CACHE_CONTROL, "private, no-store")], qr::png(&ticket.code))
        .into_response())
}

/// Body of `POST /api/tickets/check-in`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckIn {
    /// What the QR code holds.
    pub code: String,
}

/// What the gate shows.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckInResult {
    /// ADMITTED, ALREADY_USED, REVOKED or INVALID.
    pub result: &'static str,
    pub message: String,
    /// The ticket, for a code this platform issued.
    pub ticket: Option<Ticket>,
}

/// Longest code accepted (a real one is about 115 characters).
const MAX_CODE_LEN: usize = 512;

#[utoipa::path(post, path = "/api/tickets/check-in", tag = "tickets", security(("bearer" = [])),
    request_body = CheckIn,
    responses((status = 200, description = "ADMITTED: let the holder in", body = CheckInResult),
        (status = 409, description = "ALREADY_USED or REVOKED (refunded)", body = CheckInResult),
        (status = 404, description = "INVALID: forged, altered, or not a ticket of this platform", body = CheckInResult),
        (status = 403, description = "not staff")))]
pub async fn check_in(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Json(body): Json<CheckIn>,
) -> ApiResult<(StatusCode, Json<CheckInResult>)> {
    if !matches!(caller.role, Role::Staff | Role::Admin) {
        return Err(ApiError::Forbidden("check-in is for staff".into()));
    }
    let verified =
        (body.code.len() <= MAX_CODE_LEN).then(|| code::verify(s.config.ticket_key.public_key(), &body.code)).flatten();
    let answer = |status, result, message: &str, ticket| {
        metrics::counter!("tickets_scanned_total", "result" => result).increment(1);
        Ok((status, Json(CheckInResult { result, message: message.to_string(), ticket })))
    };
    let Some(claims) = verified else {
        return answer(StatusCode::NOT_FOUND, "INVALID", "not a ticket code of this platform", None);
    };
    match store::check_in(&s.pool, claims.ticket_id).await? {
        store::Scan::Admitted(t) => answer(StatusCode::OK, "ADMITTED", "welcome", Some(t)),
        store::Scan::AlreadyUsed(t) => {
            answer(StatusCode::CONFLICT, "ALREADY_USED", "this ticket was already scanned", Some(t))
        }
        store::Scan::Revoked(t) => answer(StatusCode::CONFLICT, "REVOKED", "this ticket was refunded", Some(t)),
        // Signed by our key but not in our database: a key shared with a
        // platform whose tickets are not ours to admit.
        store::Scan::Unknown => answer(StatusCode::NOT_FOUND, "INVALID", "unknown ticket", None),
    }
}

/// `GET /api/tickets/public-key`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicKey {
    /// Always `Ed25519`.
    pub algorithm: &'static str,
    /// The raw 32-byte public key, base64url without padding.
    pub key: String,
    /// How codes are laid out and what is signed.
    pub format: &'static str,
}

#[utoipa::path(get, path = "/api/tickets/public-key", tag = "tickets",
    responses((status = 200, description = "verifies ticket codes offline", body = PublicKey)))]
pub async fn public_key(State(s): State<AppState>) -> Json<PublicKey> {
    Json(PublicKey {
        algorithm: "Ed25519",
        key: URL_SAFE_NO_PAD.encode(s.config.ticket_key.public_key()),
        format: "TT1.<base64url(ticket id 16 bytes | match 1 byte | category 1 byte)>.<base64url(Ed25519 signature \
                 of \"ticktak-ticket-v1\" followed by those 18 bytes)>",
    })
}
