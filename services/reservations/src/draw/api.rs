//! The draws' public API: the draws anyone may check, and a buyer's
//! applications — one per account, draw and ticket type, changed or
//! withdrawn until the close, each version published on the draw topic,
//! signed, with the buyer's pseudonym.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::Router;
use chrono::{DateTime, Utc};
use ticktak_contracts::draws::{
    ApplicationList, ApplicationState, ApplicationView, ApplyForDraw, ChangeApplication, DrawList, DrawView,
};
use ticktak_core::draw::{Application, DrawMessage, DrawTerms};
use ticktak_core::headers::{CLIENT_ID, SIGNATURE};
use ticktak_kit::auth::Caller;
use ticktak_kit::http::{Json, Path};
use ticktak_kit::{ApiError, ApiResult};
use uuid::Uuid;

use super::store::{self, Own};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/draws", get(list_draws))
        .route("/api/draws/applications", get(my_applications).post(apply_for_draw))
        .route("/api/draws/applications/{id}", put(change_application).delete(withdraw_application))
        .route("/api/draws/{draw}", get(one_draw))
}

#[utoipa::path(get, path = "/api/draws", tag = "draws",
    responses((status = 200, description = "every draw of the market this platform follows, latest first", body = DrawList)))]
pub async fn list_draws(State(s): State<AppState>) -> ApiResult<Json<DrawList>> {
    let now = Utc::now();
    Ok(Json(DrawList { draws: store::draws(&s.pool).await?.iter().map(|d| d.view(now)).collect() }))
}

#[utoipa::path(get, path = "/api/draws/{draw}", tag = "draws",
    params(("draw" = String, Path, description = "the draw id")),
    responses(
        (status = 200, description = "the draw: terms, commitment, and once drawn its seed and winners' digest", body = DrawView),
        (status = 404, description = "no such draw")))]
pub async fn one_draw(State(s): State<AppState>, Path(draw): Path<String>) -> ApiResult<Json<DrawView>> {
    ticktak_core::draw::check_id(&draw).map_err(|_| ApiError::NotFound("no such draw".into()))?;
    let d = store::draw(&s.pool, &draw).await?.ok_or_else(|| ApiError::NotFound("no such draw".into()))?;
    Ok(Json(d.view(Utc::now())))
}

#[utoipa::path(get, path = "/api/draws/applications", tag = "draws", security(("bearer" = [])),
    responses((status = 200, description = "the buyer's applications and where each stands", body = ApplicationList)))]
pub async fn my_applications(State(s): State<AppState>, Caller(caller): Caller) -> ApiResult<Json<ApplicationList>> {
    let applications = store::mine(&s.pool, &s.settings.platform_id, &caller.sub, Utc::now()).await?;
    Ok(Json(ApplicationList { applications }))
}

#[utoipa::path(post, path = "/api/draws/applications", tag = "draws", request_body = ApplyForDraw, security(("bearer" = [])),
    responses(
        (status = 201, description = "in the draw", body = ApplicationView),
        (status = 401, description = "no or bad token"),
        (status = 403, description = "the account's address is not confirmed (error `email_unverified`)"),
        (status = 404, description = "unknown match"),
        (status = 409, description = "no draw takes applications for the ticket type now (error `sale_closed`), or the buyer applied for it in this draw already (error `conflict`: change it with PUT)"),
        (status = 422, description = "invalid body, or a quantity outside 1 to the draw's cap")))]
pub async fn apply_for_draw(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Json(req): Json<ApplyForDraw>,
) -> ApiResult<(StatusCode, Json<ApplicationView>)> {
    caller.require_verified_email()?;
    s.erased.check(&caller.sub)?;
    let tt = crate::input::ticket_type(req.match_number, req.category)?;
    s.availability.known(tt).await?;
    let now = Utc::now();
    let terms = store::open_for(&s.pool, tt, now).await?.ok_or_else(|| {
        ApiError::SaleClosed(format!(
            "no draw takes applications for match {} category {} now (GET /api/draws lists the draws)",
            tt.match_number, tt.category
        ))
    })?;
    let quantity = quantity_within(req.quantity, &terms)?;
    let mut tx = s.pool.begin().await?;
    let buyer = s.origin.buyers.buyer_of(&caller.email);
    let own = store::apply(&mut tx, &terms.draw, &caller, buyer, tt, quantity).await?.ok_or_else(|| {
        ApiError::Conflict(format!(
            "you applied for match {} category {} in this draw already: change it with PUT /api/draws/applications/{{id}} or withdraw it with DELETE",
            tt.match_number, tt.category
        ))
    })?;
    let queued = enqueue(&s, &mut tx, &own, now).await?;
    tx.commit().await?;
    s.outbox.publish(vec![queued]);
    metrics::counter!("draw_applications_total").increment(1);
    Ok((StatusCode::CREATED, Json(view(&own, &terms, now))))
}

#[utoipa::path(put, path = "/api/draws/applications/{id}", tag = "draws", request_body = ChangeApplication, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the application")),
    responses(
        (status = 200, description = "changed (a new version in the draw)", body = ApplicationView),
        (status = 404, description = "not this account's application"),
        (status = 409, description = "the draw is closed (error `sale_closed`), or the application was withdrawn (error `conflict`: apply again)"),
        (status = 422, description = "a quantity outside 1 to the draw's cap")))]
pub async fn change_application(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
    Json(req): Json<ChangeApplication>,
) -> ApiResult<Json<ApplicationView>> {
    let (own, terms, now) = still_open(&s, id, &caller.sub).await?;
    let quantity = quantity_within(req.quantity, &terms)?;
    if own.quantity == 0 {
        return Err(ApiError::Conflict("the application was withdrawn: apply again with POST".into()));
    }
    if own.quantity == quantity {
        return Ok(Json(view(&own, &terms, now)));
    }
    Ok(Json(set_quantity(&s, id, &caller.sub, quantity, &terms, now).await?))
}

#[utoipa::path(delete, path = "/api/draws/applications/{id}", tag = "draws", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the application")),
    responses(
        (status = 200, description = "withdrawn (again: the same answer)", body = ApplicationView),
        (status = 404, description = "not this account's application"),
        (status = 409, description = "the draw is closed (error `sale_closed`)")))]
pub async fn withdraw_application(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<ApplicationView>> {
    let (own, terms, now) = still_open(&s, id, &caller.sub).await?;
    if own.quantity == 0 {
        return Ok(Json(view(&own, &terms, now)));
    }
    Ok(Json(set_quantity(&s, id, &caller.sub, 0, &terms, now).await?))
}

/// `account`'s application `id` and its draw's terms, while the draw still
/// takes applications.
async fn still_open(s: &AppState, id: Uuid, account: &str) -> ApiResult<(Own, DrawTerms, DateTime<Utc>)> {
    let own =
        store::own(&s.pool, id, account).await?.ok_or_else(|| ApiError::NotFound("no such application".into()))?;
    let draw =
        store::draw(&s.pool, &own.draw).await?.ok_or_else(|| ApiError::NotFound("no such application".into()))?;
    let now = Utc::now();
    if !draw.terms.takes_applications_at(now) || draw.seed.is_some() {
        return Err(ApiError::SaleClosed(format!(
            "the draw closed at {}: applications can no longer change",
            draw.terms.closes_at.to_rfc3339()
        )));
    }
    Ok((own, draw.terms, now))
}

async fn set_quantity(
    s: &AppState,
    id: Uuid,
    account: &str,
    quantity: u8,
    terms: &DrawTerms,
    now: DateTime<Utc>,
) -> ApiResult<ApplicationView> {
    let mut tx = s.pool.begin().await?;
    let own = store::change(&mut tx, id, account, quantity)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such application".into()))?;
    let queued = enqueue(s, &mut tx, &own, now).await?;
    tx.commit().await?;
    s.outbox.publish(vec![queued]);
    Ok(view(&own, terms, now))
}

/// The quantity asked, if within 1 and the draw's cap.
fn quantity_within(quantity: i64, terms: &DrawTerms) -> ApiResult<u8> {
    u8::try_from(quantity).ok().filter(|q| (1..=terms.max_quantity).contains(q)).ok_or_else(|| {
        ApiError::Unprocessable(format!("quantity must be 1 to {} in this draw, got {quantity}", terms.max_quantity))
    })
}

/// The application's current version, signed, in the outbox for the draw
/// topic.
async fn enqueue(
    s: &AppState,
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    own: &Own,
    at: DateTime<Utc>,
) -> ApiResult<crate::outbox::Queued> {
    let me = &s.settings.platform_id;
    let application = Application {
        draw: own.draw.clone(),
        platform: me.clone(),
        application: own.id,
        version: u32::try_from(own.version).unwrap_or(u32::MAX),
        buyer: ticktak_core::BuyerId::parse(&own.buyer)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("a stored pseudonym: {}", e.0)))?,
        match_number: own.ticket_type.match_number,
        category: own.ticket_type.category,
        quantity: own.quantity,
        at,
    };
    application.check().map_err(|e| ApiError::Conflict(format!("the application cannot change again: {e}")))?;
    let body = DrawMessage::Application(application).to_json();
    let signature = s
        .settings
        .trust
        .sign_bytes(&Application::signed_bytes(&body))
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no platform key to sign draw applications with")))?;
    let headers = vec![(CLIENT_ID.to_string(), me.to_string()), (SIGNATURE.to_string(), signature)];
    Ok(crate::outbox::enqueue_message(tx, &s.settings.topics.draws, &own.draw, body, headers).await?)
}

fn view(own: &Own, terms: &DrawTerms, now: DateTime<Utc>) -> ApplicationView {
    let state = match own.quantity {
        0 => ApplicationState::Withdrawn,
        _ if terms.takes_applications_at(now) => ApplicationState::Open,
        _ => ApplicationState::Closed,
    };
    ApplicationView {
        id: own.id,
        draw: own.draw.clone(),
        match_number: own.ticket_type.match_number.get(),
        category: own.ticket_type.category.get(),
        quantity: own.quantity,
        state,
        closes_at: terms.closes_at,
        draws_at: terms.draws_at,
        reservation_id: None,
        place: None,
        updated_at: own.updated_at,
    }
}
