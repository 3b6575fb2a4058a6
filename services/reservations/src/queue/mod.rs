//! The waiting room: an on-sale the organisers scheduled with a `queue`
//! phase is sold to buyers in turn.
//!
//! - `POST /api/queue` (a ticket type): join its room — the on-sale its
//!   schedule names (`waitingRoom` on the shop's categories) — or get the
//!   place taken before; one place per account per on-sale.
//! - `GET /api/queue/{queueTicket}`: the place, buyers ahead, an estimated
//!   wait and `Retry-After`; when the buyer's turn has come, an admission.
//! - `POST /api/reservations` with `admission`: while a ticket type is in
//!   its queue phase a hold needs one, and spends it (`api::reserve`).
//!
//! Who joins before the room opens is drawn into a uniformly random order
//! when it opens; later arrivals queue in arrival order behind them
//! (`store`). The admitter lets buyers in at the platform's pace (`pace`),
//! shared by the rooms that have buyers waiting; where the organisers set
//! a market rate for the on-sale, a room takes no more than this
//! platform's share of it, in proportion to the queues every platform
//! reports (`market`). Tokens: `token`.

pub mod market;
pub mod pace;
pub mod store;
pub mod token;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use ticktak_contracts::catalogue::{CategoryView, WaitingRoom};
use ticktak_core::TicketType;
use ticktak_kit::auth::Caller;
use ticktak_kit::http::{Json, Path};
use ticktak_kit::{ApiError, ApiResult};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use self::pace::{Health, HoldClock, Pace, PaceSettings};
use self::token::{Admission, QueueKey, QueueTicket};
use crate::AppState;

pub use ticktak_contracts::queue::{JoinQueue, PlatformQueue, QueueBoard, QueueState, QueueStatus, RoomBoard};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/queue", post(join))
        .route("/api/queue/{ticket}", get(status))
        .route("/api/admin/queues", get(board))
}

/// The waiting room's settings and what it shares between handlers.
#[derive(Clone)]
pub struct WaitingRooms {
    key: QueueKey,
    /// How long an admission lasts once given (`QUEUE_ADMISSION_TTL_SECS`).
    admission_ttl: chrono::Duration,
    pace: PaceSettings,
    /// How long recent holds took, for the pace.
    pub clock: Arc<HoldClock>,
    /// Every platform's queues, and this platform's reports of its own.
    pub market: market::MarketRooms,
    /// The platform's pace now, buyers per minute (`f64` bits).
    pace_now: Arc<std::sync::atomic::AtomicU64>,
    /// Woken by a join, so an admitter with no room to look after can
    /// sleep instead of asking the database every second.
    joined: Arc<tokio::sync::Notify>,
    /// Every room as the last tick left it: a status read of a place that
    /// is still waiting is answered from here.
    rooms: Arc<std::sync::RwLock<std::collections::HashMap<String, store::RoomState>>>,
}

impl WaitingRooms {
    pub fn new(key: QueueKey, admission_ttl: Duration, pace: PaceSettings, market: market::MarketRooms) -> Self {
        Self {
            key,
            admission_ttl: chrono::Duration::from_std(admission_ttl).unwrap_or(chrono::Duration::minutes(10)),
            pace,
            clock: Default::default(),
            market,
            pace_now: Arc::new(std::sync::atomic::AtomicU64::new(pace.floor.to_bits())),
            rooms: Default::default(),
            joined: Default::default(),
        }
    }

    /// The place a ticket names, when the last tick shows it still waiting.
    fn still_waiting(&self, ticket: &QueueTicket) -> Option<store::Place> {
        let place = ticket.place?;
        let rooms = self.rooms.read().expect("rooms lock");
        let room = rooms.get(&ticket.room).filter(|r| r.opened && place > r.admitted_through)?;
        Some(store::Place {
            room: room.room.clone(),
            account: ticket.account.clone(),
            opens_at: room.opens_at,
            opened: true,
            place: Some(place),
            admitted_through: room.admitted_through,
            rate_per_min: room.rate_per_min,
            admission_nonce: None,
            admission_expires_at: None,
            used_by: None,
        })
    }

    /// A room's rate this second: its part of the platform's pace, and
    /// never more than this platform's share of the market's rate.
    fn rate_of(&self, pace: f64, room: &store::RoomState, rooms_waiting: usize) -> f64 {
        let own = pace / rooms_waiting.max(1) as f64;
        match room.admit_per_minute {
            Some(market) => own.min(self.market.share(room, f64::from(market))),
            None => own,
        }
    }
}

#[utoipa::path(post, path = "/api/queue", tag = "queue", request_body = JoinQueue, security(("bearer" = [])),
    responses(
        (status = 200, description = "the buyer's place (the same one on every join)", body = QueueStatus,
            headers(("Retry-After" = u32, description = "seconds until the status is worth asking again"))),
        (status = 403, description = "the account's address is not confirmed (error `email_unverified`)"),
        (status = 404, description = "unknown match"),
        (status = 409, description = "no waiting room: the ticket type is on sale to all (error `conflict`) or not on sale (error `sale_closed`)"),
        (status = 422, description = "invalid body")))]
pub async fn join(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Json(req): Json<JoinQueue>,
) -> ApiResult<Response> {
    caller.require_verified_email()?;
    s.erased.check(&caller.sub)?;
    let tt = crate::input::ticket_type(req.match_number, req.category)?;
    let category = s.availability.known(tt).await?;
    let Some(room) = category.waiting_room.clone() else {
        return Err(no_room(tt, &category));
    };
    let place = store::join(&s.pool, &room, &caller.sub).await?;
    s.queue.joined.notify_one();
    metrics::counter!("queue_joins_total").increment(1);
    answer(&s, place).await
}

fn no_room(tt: TicketType, category: &CategoryView) -> ApiError {
    match category.closed_at(Utc::now()) {
        Some(why) => {
            ApiError::SaleClosed(format!("match {}: {why}, and no waiting room is scheduled", tt.match_number))
        }
        None => ApiError::Conflict(format!(
            "match {} category {} is on sale without a waiting room: hold it with POST /api/reservations",
            tt.match_number, tt.category
        )),
    }
}

#[utoipa::path(get, path = "/api/queue/{ticket}", tag = "queue", security(("bearer" = [])),
    params(("ticket" = String, Path, description = "the queueTicket a join gave")),
    responses(
        (status = 200, description = "the buyer's place", body = QueueStatus,
            headers(("Retry-After" = u32, description = "seconds until the status is worth asking again"))),
        (status = 400, description = "not a queue ticket of this platform, or forged"),
        (status = 404, description = "not this account's place")))]
pub async fn status(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Path(ticket): Path<String>,
) -> ApiResult<Response> {
    let ticket = s.queue.key.read_ticket(&ticket).map_err(|e| ApiError::BadRequest(format!("queue ticket: {e}")))?;
    if ticket.account != caller.sub {
        return Err(ApiError::NotFound("no such place in the queue".into()));
    }
    // Most reads are of places still waiting: no database for those.
    let place = match s.queue.still_waiting(&ticket) {
        Some(place) => place,
        None => store::place(&s.pool, &ticket.room, &caller.sub)
            .await?
            .ok_or_else(|| ApiError::NotFound("no such place in the queue".into()))?,
    };
    answer(&s, place).await
}

/// The status of a place (giving it its admission when its turn has come),
/// with `Retry-After` while it waits.
async fn answer(s: &AppState, mut place: store::Place) -> ApiResult<Response> {
    let now = Utc::now();
    if place.admitted() && place.admission_nonce.is_none() {
        place = store::issue_admission(&s.pool, &place.room, &place.account, s.queue.admission_ttl).await?;
        metrics::counter!("queue_admissions_total").increment(1);
    }
    let view = view_of(&s.queue.key, &place, now);
    let retry = view.retry_after(now);
    let mut res = (StatusCode::OK, axum::Json(view)).into_response();
    if let Some(secs) = retry {
        res.headers_mut().insert("retry-after", HeaderValue::from(secs));
    }
    Ok(res)
}

fn view_of(key: &QueueKey, place: &store::Place, now: DateTime<Utc>) -> QueueStatus {
    let state = match (place.place, place.admitted(), place.admission_expires_at) {
        (None, _, _) => QueueState::Prequeue,
        (Some(_), false, _) => QueueState::Waiting,
        _ if place.used_by.is_some() => QueueState::Used,
        (_, _, Some(until)) if until <= now => QueueState::Expired,
        _ => QueueState::Admitted,
    };
    let ahead = place.ahead().filter(|_| state == QueueState::Waiting);
    let admission = match (state, place.admission_nonce, place.admission_expires_at) {
        (QueueState::Admitted, Some(nonce), Some(expires_at)) => Some(key.admission(&Admission {
            room: place.room.clone(),
            account: place.account.clone(),
            nonce,
            expires_at,
        })),
        _ => None,
    };
    QueueStatus {
        queue_ticket: key.ticket(&QueueTicket {
            room: place.room.clone(),
            account: place.account.clone(),
            place: place.place,
        }),
        room: place.room.clone(),
        opens_at: place.opens_at,
        state,
        place: place.place,
        ahead,
        estimated_wait_seconds: ahead
            .filter(|_| place.rate_per_min > 0.0)
            .map(|a| ((a + 1) as f64 * 60.0 / place.rate_per_min).ceil() as i64),
        admission_expires_at: admission.as_ref().and(place.admission_expires_at),
        admission,
    }
}

#[utoipa::path(get, path = "/api/admin/queues", tag = "queue", security(("bearer" = [])),
    responses((status = 200, body = QueueBoard), (status = 403, description = "not an admin")))]
pub async fn board(State(s): State<AppState>, Caller(caller): Caller) -> ApiResult<Json<QueueBoard>> {
    if caller.role != ticktak_kit::auth::Role::Admin {
        return Err(ApiError::Forbidden("the waiting rooms are for admins".into()));
    }
    let rooms = store::rooms(&s.pool).await?;
    let me = s.settings.platform_id.to_string();
    let rooms = rooms
        .into_iter()
        .map(|r| {
            let mut platforms = vec![PlatformQueue {
                platform: me.clone(),
                this_platform: true,
                joined: Some(r.joined),
                waiting: r.waiting,
                admitted: r.admitted_through,
            }];
            platforms.extend(s.queue.market.peers(&r.room).into_iter().map(|(platform, waiting, admitted)| {
                PlatformQueue {
                    platform,
                    this_platform: false,
                    joined: None,
                    waiting: i64::from(waiting),
                    admitted: i64::from(admitted),
                }
            }));
            RoomBoard {
                expected_wait_seconds: (r.rate_per_min > 0.0)
                    .then(|| (r.waiting as f64 * 60.0 / r.rate_per_min).ceil() as i64),
                room: r.room,
                opens_at: r.opens_at,
                opened: r.opened,
                market_rate_per_minute: r.admit_per_minute,
                rate_per_minute: r.rate_per_min,
                platforms,
            }
        })
        .collect();
    let pace = f64::from_bits(s.queue.pace_now.load(std::sync::atomic::Ordering::Relaxed));
    Ok(Json(QueueBoard { pace_per_minute: pace, rooms }))
}

/// A hold's admission, checked against the room its ticket type is sold
/// through now; spent later with [`spend`], once the hold is going ahead.
pub fn check(
    s: &AppState,
    caller: &str,
    room: &WaitingRoom,
    tt: TicketType,
    admission: Option<&str>,
) -> ApiResult<Admission> {
    let needed = || {
        format!(
            "match {} category {} is on sale through a waiting room ({}): join it with POST /api/queue and hold with the admission it gives when your turn comes",
            tt.match_number, tt.category, room.id
        )
    };
    let Some(token) = admission else {
        metrics::counter!("queue_holds_refused_total", "reason" => "missing").increment(1);
        return Err(ApiError::AdmissionRequired(needed()));
    };
    let refuse = |reason: &'static str, why: &str| {
        metrics::counter!("queue_holds_refused_total", "reason" => reason).increment(1);
        ApiError::AdmissionRequired(format!("{why}; {}", needed()))
    };
    let a = s.queue.key.read_admission(token).map_err(|e| refuse("invalid", &format!("the admission: {e}")))?;
    if a.account != caller {
        return Err(refuse("invalid", "the admission is another account's"));
    }
    if a.room != room.id {
        return Err(refuse("invalid", "the admission is for another on-sale"));
    }
    if a.expires_at <= Utc::now() {
        return Err(refuse("expired", "the admission has expired"));
    }
    Ok(a)
}

/// Spend a checked admission on reservation `id`.
pub async fn spend(s: &AppState, a: &Admission, id: Uuid) -> ApiResult<()> {
    if store::spend(&s.pool, &a.room, &a.account, a.nonce, id).await? {
        return Ok(());
    }
    metrics::counter!("queue_holds_refused_total", "reason" => "spent").increment(1);
    Err(ApiError::AdmissionRequired(
        "the admission was spent on a hold before, or has expired: one hold per turn in the waiting room".into(),
    ))
}

/// Every second: open the rooms whose time has come, let buyers in at the
/// platform's pace (moved by its health while buyers wait) within its
/// share of the market's rate, and report the queues to the market.
pub async fn admit(state: AppState, shutdown: CancellationToken) {
    let mut pace = Pace::new(state.queue.pace);
    let mut waiting = false;
    let mut no_rooms = false;
    loop {
        // With no room at all, wait for a join (or look again every 10 s:
        // another instance of this service may have taken the join).
        let pause = if no_rooms { Duration::from_secs(10) } else { Duration::from_secs(1) };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = state.queue.joined.notified(), if no_rooms => {}
            _ = tokio::time::sleep(pause) => {}
        }
        if waiting {
            match store::backlog(&state.background_pool).await {
                Ok((undecided, outbox)) => {
                    let health = Health { hold_p99: state.queue.clock.p99(), undecided, outbox };
                    pace.next(&health);
                    if let Some(over) = health.over(&pace.settings) {
                        tracing::debug!(over, rate = pace.rate, "waiting room slows down");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the platform's backlog"),
            }
        }
        let rate = pace.rate;
        state.queue.pace_now.store(rate.to_bits(), std::sync::atomic::Ordering::Relaxed);
        match store::tick(&state.background_pool, |r, n| state.queue.rate_of(rate, r, n)).await {
            Ok(rooms) => {
                no_rooms = rooms.is_empty();
                waiting = rooms.iter().any(|r| r.opened && r.waiting > 0);
                *state.queue.rooms.write().expect("rooms lock") =
                    rooms.iter().map(|r| (r.room.clone(), r.clone())).collect();
                metrics::gauge!("queue_admit_rate_per_min").set(if waiting { pace.rate } else { 0.0 });
                for r in &rooms {
                    metrics::gauge!("queue_waiting", "room" => r.room.clone()).set(r.waiting as f64);
                    metrics::gauge!("queue_joined", "room" => r.room.clone()).set(r.joined as f64);
                    metrics::gauge!("queue_admitted", "room" => r.room.clone()).set(r.admitted_through as f64);
                    metrics::gauge!("queue_room_rate_per_min", "room" => r.room.clone()).set(r.rate_per_min);
                    for (platform, waiting, _) in state.queue.market.peers(&r.room) {
                        metrics::gauge!("queue_peer_waiting", "room" => r.room.clone(), "platform" => platform)
                            .set(f64::from(waiting));
                    }
                }
                state.queue.market.publish(&rooms).await;
            }
            Err(e) => tracing::warn!(error = %e, "waiting room tick failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(place: Option<i64>, admitted_through: i64) -> store::Place {
        store::Place {
            room: "7@1764842400".into(),
            account: "acc-1".into(),
            opens_at: DateTime::from_timestamp(1_764_842_400, 0).unwrap(),
            opened: place.is_some(),
            place,
            admitted_through,
            rate_per_min: 60.0,
            admission_nonce: None,
            admission_expires_at: None,
            used_by: None,
        }
    }

    #[test]
    fn a_place_reads_as_its_state_with_an_honest_wait() {
        let key = QueueKey::derive("secret");
        let now = DateTime::from_timestamp(1_764_842_390, 0).unwrap();
        let pre = view_of(&key, &place(None, 0), now);
        assert_eq!((pre.state, pre.place, pre.ahead), (QueueState::Prequeue, None, None));
        assert_eq!(pre.retry_after(now), Some(10), "ask again when the room opens");
        let waiting = view_of(&key, &place(Some(31), 10), now);
        assert_eq!(
            (waiting.state, waiting.ahead, waiting.estimated_wait_seconds),
            (QueueState::Waiting, Some(20), Some(21))
        );
        assert_eq!(waiting.retry_after(now), Some(5));
        assert!(waiting.admission.is_none());
        assert_eq!(key.read_ticket(&waiting.queue_ticket).unwrap().account, "acc-1");

        let mut turn = place(Some(3), 10);
        turn.admission_nonce = Some(Uuid::new_v4());
        turn.admission_expires_at = Some(now + chrono::Duration::minutes(10));
        let admitted = view_of(&key, &turn, now);
        assert_eq!(admitted.state, QueueState::Admitted);
        let a = key.read_admission(admitted.admission.as_deref().unwrap()).unwrap();
        assert_eq!((a.nonce, a.account.as_str()), (turn.admission_nonce.unwrap(), "acc-1"));
        assert_eq!(admitted.retry_after(now), None);
        let expired = view_of(&key, &turn, now + chrono::Duration::minutes(11));
        assert_eq!((expired.state, expired.admission), (QueueState::Expired, None));
        turn.used_by = Some(Uuid::new_v4());
        assert_eq!(view_of(&key, &turn, now).state, QueueState::Used);
    }
}
