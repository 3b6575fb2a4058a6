//! Tickets: one per seat of a confirmed reservation, each with a signed
//! printed code and a live code that changes every 30 seconds (`code`),
//! shown as QR codes (`qr`), mailed to the buyer (`mail`), admitted once at
//! any gate of the market (`gate`).
//!
//! - `GET  /api/reservations/{id}/tickets` (the buyer; tickets passed on show as such)
//! - `GET  /api/tickets/{id}/qr.svg`, `GET /api/tickets/{id}/qr.png` (owner)
//! - `GET  /api/tickets/{id}/live`, `GET /api/tickets/{id}/live.svg` (owner):
//!   the live code
//! - `PUT  /api/tickets/{id}/holder` `{"name", "email"?}` (owner): who the
//!   seat is for (`holder`)
//! - `POST|DELETE /api/tickets/{id}/transfer`, `POST /api/transfers/accept`,
//!   `GET /api/tickets/received`: a ticket passed on to another person, who
//!   gets a new code (`transfer`)
//! - `POST /api/tickets/check-in` `{"code", "matchNumber"}` (staff or admin)
//! - `GET  /api/tickets/public-key`: the key that verifies this platform's codes
//!
//! Holders are reminded the day before kick-off and told when the organisers
//! move their match (`notices`).

pub mod code;
pub mod gate;
pub mod holder;
pub mod mail;
pub mod notices;
pub mod qr;
pub mod store;
pub mod transfer;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Serialize;
use ticktak_kit::auth::{Caller, Role};
use ticktak_kit::http::{Json, Path};
use ticktak_kit::{ApiError, ApiResult};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
pub use ticktak_contracts::tickets::{CheckIn, CheckInResult, LiveCode, Ticket, TicketList};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/reservations/{id}/tickets", get(of_reservation))
        .route("/api/tickets/{id}/qr.svg", get(qr_svg))
        .route("/api/tickets/{id}/qr.png", get(qr_png))
        .route("/api/tickets/{id}/live", get(live))
        .route("/api/tickets/{id}/live.svg", get(live_svg))
        .route("/api/tickets/{id}/holder", axum::routing::put(holder::name))
        .route("/api/tickets/{id}/transfer", post(transfer::offer).delete(transfer::withdraw))
        .route("/api/tickets/received", get(transfer::received))
        .route("/api/transfers/accept", post(transfer::accept))
        .route("/api/tickets/check-in", post(check_in))
        .route("/api/tickets/public-key", get(public_key))
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

/// The match of `ticket` as the shop describes it (its kick-off decides the
/// cut-offs of naming and passing on; the mails name it).
pub(crate) async fn match_of(s: &AppState, ticket: &Ticket) -> ApiResult<ticktak_contracts::catalogue::MatchView> {
    let number =
        ticktak_core::MatchNumber::new(i64::from(ticket.match_number)).map_err(|e| ApiError::Unprocessable(e.0))?;
    s.shop
        .match_view(number)
        .await
        .ok()
        .flatten()
        .ok_or_else(|| ApiError::Unavailable("the match's kick-off is unknown right now; try again".into()))
}

/// The caller's own ticket `raw`.
pub(crate) async fn own_ticket(s: &AppState, caller: &ticktak_kit::auth::Claims, raw: &str) -> ApiResult<Ticket> {
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

/// The live code of the caller's valid ticket `raw`.
async fn live_code(s: &AppState, caller: &ticktak_kit::auth::Claims, raw: &str) -> ApiResult<LiveCode> {
    let ticket = own_ticket(s, caller, raw).await?;
    if ticket.status != "VALID" {
        return Err(ApiError::Conflict(format!("this ticket is {}: it has no live code", ticket.status)));
    }
    let claims =
        code::CodeClaims { ticket_id: ticket.id, match_number: ticket.match_number, category: ticket.category };
    let now = chrono::Utc::now();
    let window = code::window_at(now);
    let code = code::live(&s.settings.trust, &s.settings.platform_id, &claims, window)
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no platform key to sign live codes with")))?;
    let valid_until = code::window_end(window);
    Ok(LiveCode { code, valid_until, refresh_in_seconds: (valid_until - now).num_seconds().max(1) })
}

#[utoipa::path(get, path = "/api/tickets/{id}/live", tag = "tickets", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "the code to show at the gate now; a new one every 30 seconds", body = LiveCode),
        (status = 404, description = "not yours or no such ticket"),
        (status = 409, description = "the ticket was used or revoked")))]
pub async fn live(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<LiveCode>> {
    Ok(Json(live_code(&s, &caller, &id).await?))
}

#[utoipa::path(get, path = "/api/tickets/{id}/live.svg", tag = "tickets", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, content_type = "image/svg+xml", description = "the live code's QR code"),
        (status = 404, description = "not yours or no such ticket"),
        (status = 409, description = "the ticket was used or revoked")))]
pub async fn live_svg(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let live = live_code(&s, &caller, &id).await?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "private, no-store")], qr::svg(&live.code))
        .into_response())
}

#[utoipa::path(post, path = "/api/tickets/check-in", tag = "tickets", security(("bearer" = [])),
    request_body = CheckIn,
    responses((status = 200, description = "ADMITTED: let the holder in", body = CheckInResult),
        (status = 409, description = "ALREADY_USED (at any gate of the market), REVOKED (refunded), WRONG_MATCH, \
            EXPIRED_CODE (an old live code) or LIVE_CODE_REQUIRED (the ticket admits by its live code only)", body = CheckInResult),
        (status = 404, description = "INVALID: forged, altered, or not a ticket of the market's platforms", body = CheckInResult),
        (status = 403, description = "not staff"),
        (status = 503, description = "the gate log did not decide in time: scan again")))]
pub async fn check_in(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Json(body): Json<CheckIn>,
) -> ApiResult<(StatusCode, Json<CheckInResult>)> {
    if !matches!(caller.role, Role::Staff | Role::Admin) {
        return Err(ApiError::Forbidden("check-in is for staff".into()));
    }
    if !(1..=64).contains(&body.match_number) {
        return Err(ApiError::BadRequest("matchNumber must be between 1 and 64".into()));
    }
    let own = &s.settings.platform_id;
    let verified = code::verify(&s.settings.trust, own, s.config.ticket_key.public_key(), &body.code);
    let Some(verified) = verified else {
        return scanned(StatusCode::NOT_FOUND, "INVALID", "not a ticket code of this market".into(), None, None, None);
    };
    let refuse = |result, message: String| scanned(StatusCode::CONFLICT, result, message, Some(&verified), None, None);
    match verified.kind {
        code::Kind::Printed { admits: false } => {
            return refuse(
                "LIVE_CODE_REQUIRED",
                "this ticket admits by the live code in its holder's account only".into(),
            )
        }
        code::Kind::Live { window } if !code::is_current(window, chrono::Utc::now()) => {
            return refuse(
                "EXPIRED_CODE",
                "this live code has expired: ask the holder to show the code on screen now".into(),
            )
        }
        _ => {}
    }
    if verified.claims.match_number != body.match_number {
        let message = format!("a ticket for match {}, not for this match", verified.claims.match_number);
        return refuse("WRONG_MATCH", message);
    }
    // This platform's own ticket: it must be one it issued, not revoked
    // here (a refund's REVOKE may still be on its way to the log).
    let ours = verified.issuer == *own;
    if ours {
        match store::find(&s.pool, verified.claims.ticket_id).await? {
            None => {
                return scanned(StatusCode::NOT_FOUND, "INVALID", "unknown ticket".into(), Some(&verified), None, None)
            }
            Some(t) if t.status == "REVOKED" => {
                return scanned(
                    StatusCode::CONFLICT,
                    "REVOKED",
                    "this ticket was refunded".into(),
                    Some(&verified),
                    None,
                    Some(t),
                )
            }
            Some(_) => {}
        }
    }
    let decision = match gate::decided(&s.pool, verified.claims.ticket_id).await? {
        Some(d) => (None, d),
        None => match s.gate.admit(&s.pool, &verified.issuer, &verified.claims).await? {
            Some((mine, d)) => (Some(mine), d),
            None => return Err(ApiError::Unavailable("the gate log did not answer in time: scan again".into())),
        },
    };
    let ticket = match ours {
        true => store::find(&s.pool, verified.claims.ticket_id).await?,
        false => None,
    };
    match decision {
        (Some(mine), d) if d.admitted && d.event_id == mine => {
            scanned(StatusCode::OK, "ADMITTED", "welcome".into(), Some(&verified), None, ticket)
        }
        (_, d) if d.admitted => scanned(
            StatusCode::CONFLICT,
            "ALREADY_USED",
            format!("this ticket was already scanned, at {}'s gate", d.gate),
            Some(&verified),
            Some(&d),
            ticket,
        ),
        _ => scanned(StatusCode::CONFLICT, "REVOKED", "this ticket was refunded".into(), Some(&verified), None, ticket),
    }
}

/// A gate's answer, counted by result.
fn scanned(
    status: StatusCode,
    result: &'static str,
    message: String,
    verified: Option<&code::Verified>,
    used: Option<&gate::Decided>,
    ticket: Option<Ticket>,
) -> ApiResult<(StatusCode, Json<CheckInResult>)> {
    metrics::counter!("tickets_scanned_total", "result" => result).increment(1);
    Ok((
        status,
        Json(CheckInResult {
            result: result.to_string(),
            message,
            issuer: verified.map(|v| v.issuer.to_string()),
            match_number: verified.map(|v| v.claims.match_number),
            category: verified.map(|v| v.claims.category),
            used_at: used.map(|d| d.at),
            used_at_gate: used.map(|d| d.gate.clone()),
            ticket,
        }),
    ))
}

/// `GET /api/tickets/public-key`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicKey {
    /// Always `Ed25519`.
    pub algorithm: &'static str,
    /// This platform's key (its `PLATFORM_KEYS` entry), raw 32 bytes,
    /// base64url without padding: it verifies `TT2.`/`TL2.` codes.
    pub key: String,
    /// The key of the `TT1.` codes issued before.
    #[serde(rename = "legacyKey")]
    pub legacy_key: String,
    /// How codes are laid out and what is signed.
    pub format: &'static str,
}

#[utoipa::path(get, path = "/api/tickets/public-key", tag = "tickets",
    responses((status = 200, description = "verifies ticket codes offline", body = PublicKey)))]
pub async fn public_key(State(s): State<AppState>) -> Json<PublicKey> {
    Json(PublicKey {
        algorithm: "Ed25519",
        key: s.settings.trust.public_key().map(|k| URL_SAFE_NO_PAD.encode(k)).unwrap_or_default(),
        legacy_key: URL_SAFE_NO_PAD.encode(s.config.ticket_key.public_key()),
        format: "TT2.<issuer>.<base64url(ticket id 16 bytes | match 1 | category 1 | flags 1)>.<base64url(Ed25519 \
                 signature of \"ticktak-ticket-v2\\n<issuer>\\n\" followed by those 19 bytes)>; live codes \
                 TL2.<issuer>.<base64url(ticket id | match | category | u32 big-endian Unix seconds / 30)>.<signature \
                 of \"ticktak-live-ticket-v2\\n<issuer>\\n\" + those 22 bytes>",
    })
}
