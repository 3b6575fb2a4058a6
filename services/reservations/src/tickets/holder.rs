//! Named tickets: the buyer says who each seat is for, until
//! [`NAMING_CUTOFF`] before kick-off. The name is on the ticket and the
//! gate's answer shows it; an address given gets the ticket by mail, with
//! its QR code (once per ticket and address).
//!
//! - `PUT /api/tickets/{id}/holder` `{"name", "email"?}` (the buyer)

use axum::extract::State;
use ticktak_kit::auth::Caller;
use ticktak_kit::http::{Json, Path};
use ticktak_kit::{ApiError, ApiResult};

use super::{mail, match_of, own_ticket, store, Ticket};
use crate::AppState;

pub use ticktak_contracts::tickets::NameHolder;

/// Names can be given or changed until this long before kick-off.
pub const NAMING_CUTOFF: chrono::Duration = chrono::Duration::hours(24);

/// At most this many people get one ticket by mail (a name given to
/// another address, and another): our sender carries no one's messages.
pub const MAILS_PER_TICKET: i64 = 3;

/// A holder's name: trimmed, 1–100 characters, no control characters, no
/// web address (the name travels in a mail to the address given).
fn holder_name(raw: &str) -> ApiResult<String> {
    let name = raw.trim();
    if ticktak_core::text::line_problem(name, 100).is_some() {
        return Err(ApiError::Unprocessable(
            "name must have 1 to 100 characters, none of them control characters".into(),
        ));
    }
    if name.contains("://") || name.to_ascii_lowercase().contains("www.") {
        return Err(ApiError::Unprocessable("name must be a person's name, not a web address".into()));
    }
    Ok(name.to_string())
}

#[utoipa::path(put, path = "/api/tickets/{id}/holder", tag = "tickets", request_body = NameHolder,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, description = "named; an address given gets the ticket by mail", body = Ticket),
        (status = 404, description = "not yours or no such ticket"),
        (status = 409, description = "used or refunded, or less than 24 h before kick-off"),
        (status = 422, description = "an empty, over-long or control-character name, or a bad address"),
        (status = 503, description = "the match's kick-off is unknown right now")))]
pub async fn name(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Json(req): Json<NameHolder>,
) -> ApiResult<Json<Ticket>> {
    let name = holder_name(&req.name)?;
    let email = match req.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        Some(raw) => Some(
            ticktak_core::text::email(raw)
                .ok_or_else(|| {
                    ApiError::Unprocessable("email must be an e-mail address such as fan@example.com".into())
                })?
                .to_string(),
        ),
        None => None,
    };
    let ticket = own_ticket(&s, &caller, &id).await?;
    if ticket.status != "VALID" {
        return Err(ApiError::Conflict(format!("a {} ticket keeps its holder", ticket.status.to_lowercase())));
    }
    let details = match_of(&s, &ticket).await?;
    if chrono::Utc::now() + NAMING_CUTOFF > details.date_utc {
        return Err(ApiError::Conflict(format!(
            "tickets are named until {} h before kick-off ({})",
            NAMING_CUTOFF.num_hours(),
            details.date_utc.format("%Y-%m-%d %H:%M UTC")
        )));
    }
    let mut tx = s.pool.begin().await?;
    let named = store::name_holder(&mut tx, ticket.id, &name, email.as_deref())
        .await?
        .ok_or_else(|| ApiError::Conflict("the ticket was used or refunded meanwhile".into()))?;
    if let Some(to) = &email {
        // Other addresses this ticket was mailed to (the same one again is
        // deduplicated by its key).
        let mailed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM mail_outbox WHERE left(dedupe_key, 44) = 'holder:' || $1::text || ':' \
               AND dedupe_key <> 'holder:' || $1::text || ':' || lower($2)",
        )
        .bind(named.id)
        .bind(to)
        .fetch_one(&mut *tx)
        .await?;
        if mailed >= MAILS_PER_TICKET {
            return Err(ApiError::Conflict(format!(
                "this ticket was mailed to {MAILS_PER_TICKET} people already: give them the code yourself"
            )));
        }
        ticktak_kit::mail::enqueue(&mut tx, &mail::named(&named, to, &details)).await?;
    }
    tx.commit().await?;
    tracing::info!(ticket = %named.id, mailed = email.is_some(), "ticket named");
    Ok(Json(named))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_is_named_in_1_to_100_printable_characters() {
        assert_eq!(holder_name("  Lionel Messi ").unwrap(), "Lionel Messi");
        assert_eq!(holder_name("Zoë Ñúñez").unwrap(), "Zoë Ñúñez");
        for bad in ["", "   ", "a\u{0}b", "line\nbreak", "Win at https://evil.example", "see WWW.evil.example"] {
            assert!(holder_name(bad).is_err(), "{bad:?}");
        }
        assert!(holder_name(&"x".repeat(101)).is_err());
        assert!(holder_name(&"é".repeat(100)).is_ok());
    }
}
