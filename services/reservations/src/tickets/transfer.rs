//! Passing a ticket on. Its holder offers it to an address; the person
//! with that address accepts it signed in to this platform (a confirmed
//! address); in one transaction the old ticket is revoked (a `REVOKE` on
//! the market's gate log, so no gate admits its code) and a new ticket —
//! new id, new signed code — is issued to them. Offers and acceptances
//! stay in `ticket_transfers`: the trail of who passed what to whom.
//!
//! - `POST   /api/tickets/{id}/transfer` `{"email"}` (the holder): offer it;
//!   the address gets a link (`{SITE_URL}/transfers/accept?token=…`).
//! - `DELETE /api/tickets/{id}/transfer` (the holder): withdraw the offer.
//! - `POST   /api/transfers/accept` `{"token"}` (the recipient).
//! - `GET    /api/tickets/received`: the tickets passed to the caller.
//!
//! Rules: a valid ticket only, until [`NAMING_CUTOFF`] before kick-off
//! (offer and acceptance); not to oneself; one open offer per ticket and
//! [`OFFERS_PER_DAY`]; the ticket counts against the recipient's cap of
//! tickets per match, and still against the giver's (the cap is on what a
//! person buys: passing tickets on never frees it); a ticket offered back
//! to its buyer is theirs as bought; an order with a ticket passed on is
//! not refunded.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use sqlx::Row;
use ticktak_contracts::catalogue::MatchView;
use ticktak_kit::auth::Caller;
use ticktak_kit::http::{Json, Path};
use ticktak_kit::{link_token, ApiError, ApiResult};
use uuid::Uuid;

use super::holder::NAMING_CUTOFF;
use super::{code, mail, match_of, own_ticket, store, Ticket, TicketList};
use crate::AppState;

pub use ticktak_contracts::tickets::{AcceptTicket, Offer, OfferTicket};

/// How long an offer stands at most (it ends at the cut-off before that).
pub const OFFER_TTL: chrono::Duration = chrono::Duration::days(7);

/// Offers of one ticket a day, at most (each mails someone).
pub const OFFERS_PER_DAY: i64 = 3;

/// The end of passing tickets of `m` on.
fn cutoff(m: &MatchView) -> DateTime<Utc> {
    m.date_utc - NAMING_CUTOFF
}

fn past_cutoff(m: &MatchView) -> ApiError {
    ApiError::Conflict(format!(
        "tickets are passed on until {} h before kick-off ({})",
        NAMING_CUTOFF.num_hours(),
        m.date_utc.format("%Y-%m-%d %H:%M UTC")
    ))
}

#[utoipa::path(post, path = "/api/tickets/{id}/transfer", tag = "tickets", request_body = OfferTicket,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 202, description = "offered: the address gets a link to accept it", body = Offer),
        (status = 404, description = "not yours or no such ticket"),
        (status = 409, description = "used, revoked or passed on; already offered; or less than 24 h before kick-off"),
        (status = 422, description = "not an e-mail address, or your own"),
        (status = 503, description = "the match's kick-off is unknown right now")))]
pub async fn offer(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Json(req): Json<OfferTicket>,
) -> ApiResult<(StatusCode, Json<Offer>)> {
    let to = ticktak_core::text::email(req.email.trim())
        .ok_or_else(|| ApiError::Unprocessable("email must be an e-mail address such as fan@example.com".into()))?
        .to_lowercase();
    if to.eq_ignore_ascii_case(caller.email.trim()) {
        return Err(ApiError::Unprocessable("a ticket cannot be passed to yourself".into()));
    }
    let ticket = own_ticket(&s, &caller, &id).await?;
    if ticket.status != "VALID" {
        return Err(ApiError::Conflict(format!("a {} ticket is not passed on", ticket.status.to_lowercase())));
    }
    let m = match_of(&s, &ticket).await?;
    let now = Utc::now();
    if now >= cutoff(&m) {
        return Err(past_cutoff(&m));
    }
    let expires_at = (now + OFFER_TTL).min(cutoff(&m));
    let (token, token_hash) = link_token::new();
    let mut tx = s.pool.begin().await?;
    // Each offer mails an address of the giver's choosing: a few a day per
    // ticket, so nobody uses our sender to flood an inbox.
    let recent: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM ticket_transfers WHERE ticket_id = $1 AND created_at > now() - interval '1 day'",
    )
    .bind(ticket.id)
    .fetch_one(&mut *tx)
    .await?;
    if recent >= OFFERS_PER_DAY {
        return Err(ApiError::Conflict(format!(
            "this ticket was offered {OFFERS_PER_DAY} times today: try again tomorrow, or give the code yourself"
        )));
    }
    // An offer past its time no longer blocks a new one.
    sqlx::query("UPDATE ticket_transfers SET status = 'WITHDRAWN', decided_at = now() WHERE ticket_id = $1 AND status = 'OFFERED' AND expires_at <= now()")
        .bind(ticket.id)
        .execute(&mut *tx)
        .await?;
    let inserted = sqlx::query(
        "INSERT INTO ticket_transfers (id, ticket_id, from_account, to_email, token_hash, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (ticket_id) WHERE status = 'OFFERED' DO NOTHING",
    )
    .bind(Uuid::now_v7())
    .bind(ticket.id)
    .bind(&caller.sub)
    .bind(&to)
    .bind(&token_hash)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(ApiError::Conflict("this ticket is offered to someone already: withdraw that offer first".into()));
    }
    let link = format!("{}/transfers/accept?token={token}", s.config.site_url);
    ticktak_kit::mail::enqueue(&mut tx, &mail::offer(&ticket, &to, &link, &m, expires_at)).await?;
    tx.commit().await?;
    metrics::counter!("ticket_transfers_offered_total").increment(1);
    tracing::info!(ticket = %ticket.id, "ticket offered");
    Ok((StatusCode::ACCEPTED, Json(Offer { ticket_id: ticket.id, to_email: to, expires_at })))
}

#[utoipa::path(delete, path = "/api/tickets/{id}/transfer", tag = "tickets",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204, description = "withdrawn: the link no longer works"),
        (status = 404, description = "not yours, no such ticket, or no offer open")))]
pub async fn withdraw(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let ticket = own_ticket(&s, &caller, &id).await?;
    let withdrawn = sqlx::query(
        "UPDATE ticket_transfers SET status = 'WITHDRAWN', decided_at = now() WHERE ticket_id = $1 AND status = 'OFFERED'",
    )
    .bind(ticket.id)
    .execute(&s.pool)
    .await?
    .rows_affected();
    match withdrawn {
        0 => Err(ApiError::NotFound("no offer of this ticket is open".into())),
        _ => Ok(StatusCode::NO_CONTENT),
    }
}

#[utoipa::path(get, path = "/api/tickets/received", tag = "tickets", security(("bearer" = [])),
    responses((status = 200, description = "the tickets others passed to you (those you bought are under their reservations)", body = TicketList)))]
pub async fn received(State(s): State<AppState>, Caller(caller): Caller) -> ApiResult<Json<TicketList>> {
    Ok(Json(TicketList { tickets: store::received(&s.pool, &caller.sub).await? }))
}

#[utoipa::path(post, path = "/api/transfers/accept", tag = "tickets", request_body = AcceptTicket, security(("bearer" = [])),
    responses((status = 200, description = "the ticket is yours: a new code, the old one revoked", body = Ticket),
        (status = 403, description = "offered to another address, or your address is not confirmed"),
        (status = 404, description = "no such offer"),
        (status = 409, description = "accepted, withdrawn or expired; the ticket was used or refunded; past the cut-off; \
            or over your cap of tickets for this match"),
        (status = 422, description = "the offer is your own")))]
pub async fn accept(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Json(req): Json<AcceptTicket>,
) -> ApiResult<Json<Ticket>> {
    caller.require_verified_email()?;
    s.erased.check(&caller.sub)?;
    let missing = || ApiError::NotFound("no such offer: the link may be mistyped".into());
    let token = req.token.trim();
    if !link_token::well_formed(token) {
        return Err(missing());
    }
    let token_hash = link_token::hash(token);
    // What the offer is for, read first: the match's kick-off comes from the
    // shop, never asked while rows are locked.
    let ticket_id: Uuid = sqlx::query_scalar("SELECT ticket_id FROM ticket_transfers WHERE token_hash = $1")
        .bind(&token_hash)
        .fetch_optional(&s.pool)
        .await?
        .ok_or_else(missing)?;
    let before = store::find(&s.pool, ticket_id).await?.ok_or_else(missing)?;
    let m = match_of(&s, &before).await?;
    // The old ticket's REVOKE goes through the gate log first, as a
    // refund's does: a scan of it at any gate at this moment may come first,
    // and then the giver used it and the recipient gets nothing. Asked only
    // for an acceptance that would go through (the same checks, in a
    // transaction rolled back), so that no link can revoke a ticket for
    // nothing.
    let mut dry = s.pool.begin().await?;
    acceptable(&mut dry, &s, &caller, &token_hash, &before, &m).await?;
    dry.rollback().await?;
    let revoked = code::CodeClaims { ticket_id, match_number: before.match_number, category: before.category };
    let decided = super::gate::revoke_or_unavailable(&s.gate, &s.pool, std::slice::from_ref(&revoked)).await?;
    if decided.iter().any(|d| d.admitted) {
        return Err(ApiError::Conflict("the ticket was used at a gate meanwhile".into()));
    }
    // Refused now (another acceptance at the same moment): a ticket revoked
    // for nothing is issued anew by the sweeper (`workers`).
    let mut tx = s.pool.begin().await?;
    let Acceptable { offer_id, old, owner } = acceptable(&mut tx, &s, &caller, &token_hash, &before, &m).await?;
    let issuer = store::Issuer::of(&s);
    let claims = code::CodeClaims { ticket_id: Uuid::new_v4(), match_number: old.match_number, category: old.category };
    let new = store::reissue(&mut tx, &issuer, &old, &claims, owner.as_deref(), &caller.email).await?;
    sqlx::query(
        "UPDATE ticket_transfers SET status = 'ACCEPTED', accepted_by = $2, new_ticket = $3, decided_at = now() \
         WHERE id = $1",
    )
    .bind(offer_id)
    .bind(&caller.sub)
    .bind(new.id)
    .execute(&mut *tx)
    .await?;
    ticktak_kit::mail::enqueue(&mut tx, &mail::received(&new, &caller.email, &m)).await?;
    // The holder's address: the buyer's, or the last recipient's.
    if old.holder.contains('@') {
        ticktak_kit::mail::enqueue(&mut tx, &mail::passed_on(&old, &old.holder, &m)).await?;
    }
    tx.commit().await?;
    metrics::counter!("ticket_transfers_accepted_total").increment(1);
    tracing::info!(old = %old.id, new = %new.id, "ticket passed on");
    Ok(Json(new))
}

/// What an acceptance needs, once its checks passed.
struct Acceptable {
    offer_id: Uuid,
    old: Ticket,
    /// Who holds the new ticket: none, the order's buyer.
    owner: Option<String>,
}

/// The checks of an acceptance of the offer `token_hash` of ticket
/// `before`, its rows locked in `tx` (and the recipient counted within
/// their cap).
async fn acceptable(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    s: &AppState,
    caller: &ticktak_kit::auth::Claims,
    token_hash: &[u8],
    before: &Ticket,
    m: &MatchView,
) -> ApiResult<Acceptable> {
    let missing = || ApiError::NotFound("no such offer: the link may be mistyped".into());
    // Locks in the order of a refund (the reservation, then its tickets), so
    // the two wait for each other instead of deadlocking; a second
    // acceptance waits on the offer.
    let buyer: String = sqlx::query_scalar("SELECT buyer_id FROM reservations WHERE id = $1 FOR UPDATE")
        .bind(before.reservation_id)
        .fetch_one(&mut **tx)
        .await?;
    let offer = sqlx::query(
        // Whether it is still open by the database's clock, which every
        // other check of an offer's time uses.
        "SELECT id, from_account, to_email, status, expires_at > now() AS open FROM ticket_transfers \
         WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(token_hash)
    .fetch_one(&mut **tx)
    .await?;
    let offer_id: Uuid = offer.get("id");
    let from: String = offer.get("from_account");
    match offer.get::<String, _>("status").as_str() {
        "OFFERED" if offer.get::<bool, _>("open") => {}
        "OFFERED" => return Err(ApiError::Conflict("the offer expired: ask for a new one".into())),
        other => return Err(ApiError::Conflict(format!("the offer was {}", other.to_lowercase()))),
    }
    if from == caller.sub {
        return Err(ApiError::Unprocessable("this is your own offer".into()));
    }
    if !offer.get::<String, _>("to_email").eq_ignore_ascii_case(caller.email.trim()) {
        return Err(ApiError::Forbidden(
            "this ticket was offered to another address: sign in with the address the link was sent to".into(),
        ));
    }
    let locked: Option<Uuid> = sqlx::query_scalar("SELECT id FROM tickets WHERE id = $1 FOR UPDATE")
        .bind(before.id)
        .fetch_optional(&mut **tx)
        .await?;
    let old = match locked {
        Some(id) => store::find_in(tx, id).await?.ok_or_else(missing)?,
        None => return Err(missing()),
    };
    if old.status != "VALID" || old.passed_on {
        return Err(ApiError::Conflict("the ticket was used, refunded or passed on meanwhile".into()));
    }
    if Utc::now() >= cutoff(m) {
        return Err(past_cutoff(m));
    }
    // A ticket back with its buyer is theirs as bought; anyone else holds it
    // within their cap of tickets per match. The giver's count stays: the
    // cap is on what a person buys, so passing tickets on never frees it.
    let owner = (caller.sub != buyer).then(|| caller.sub.clone());
    if let Some(owner) = &owner {
        let cap = i32::try_from(s.config.caps.tickets_per_match).unwrap_or(i32::MAX);
        let counted = sqlx::query(
            "INSERT INTO buyer_match_tickets AS t (buyer_id, match_number, tickets) VALUES ($1, $2, 1) \
             ON CONFLICT (buyer_id, match_number) DO UPDATE SET tickets = t.tickets + 1 \
               WHERE $3 = 0 OR t.tickets + 1 <= $3",
        )
        .bind(owner)
        .bind(i16::from(old.match_number))
        .bind(cap)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if counted == 0 {
            return Err(ApiError::Conflict(format!(
                "you hold {cap} tickets for this match already, the most one person may"
            )));
        }
    }
    Ok(Acceptable { offer_id, old, owner })
}
