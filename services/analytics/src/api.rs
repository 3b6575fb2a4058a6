//! The admin API: `GET /api/admin/stats`, `GET /api/admin/stats/timeseries`,
//! `GET /api/admin/lake`, `GET /api/admin/models`,
//! `POST /api/admin/model/train`; and for the shop `GET /internal/model`.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ticktak_contracts::analytics::{Evaluation, Model, MODEL};
use ticktak_kit::auth::{Admin, BearerAuth};
use ticktak_kit::http::{Json, Query};
use ticktak_kit::openapi::StandardResponses;
use ticktak_kit::{ApiError, ApiResult};
use utoipa::ToSchema;

use crate::market::Market;
use crate::{store, training, AppState};

pub use ticktak_contracts::analytics::{MatchStats, Minute, PlatformStats, Position, Stats, Totals, TypeStats};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/stats", get(stats))
        .route("/api/admin/stats/timeseries", get(timeseries))
        .route("/api/admin/lake", get(lake))
        .route("/api/admin/models", get(models))
        .route("/api/admin/model/train", post(train))
        .route("/api/openapi.json", get(|| async { axum::Json(<ApiDoc as utoipa::OpenApi>::openapi()) }))
}

pub fn internal_router() -> Router<AppState> {
    Router::new().route(MODEL, get(current_model))
}

/// The OpenAPI description served at `GET /api/openapi.json`.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "ticktak analytics", description = "Market-wide sales statistics, the data lake and the recommendation model (admins)."),
    paths(stats, timeseries, lake, models, train, ticktak_kit::audit::audit),
    components(schemas(Stats, TypeStats, MatchStats, PlatformStats, Minute, Position, Totals, Timeseries, Point,
        LakeFiles, LakeFile, Models, ModelSummary, Evaluation,
        ticktak_contracts::desk::AuditTrail, ticktak_contracts::desk::AuditEntry)),
    modifiers(&BearerAuth, &StandardResponses)
)]
pub struct ApiDoc;

#[derive(Debug, Deserialize)]
pub struct StatsQuery {
    pub window: Option<i64>,
    pub top: Option<usize>,
}

fn percent(part: f64, whole: f64) -> f64 {
    if whole <= 0.0 {
        0.0
    } else {
        (part / whole * 10_000.0).round() / 100.0
    }
}

fn minute_time(minute: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(minute * 60, 0).unwrap_or_default()
}

fn compute(m: &Market, window: i64, top: usize) -> Stats {
    let types: Vec<TypeStats> = m
        .counts()
        .map(|(tt, c)| {
            let price = m.price(tt);
            TypeStats {
                match_number: tt.match_number.get(),
                category: tt.category.get(),
                capacity: c.capacity,
                sold: c.sold,
                held: c.held,
                price,
                revenue: i64::from(c.sold) * i64::from(price),
                sell_through: percent(f64::from(c.sold), f64::from(c.capacity)),
            }
        })
        .collect();
    let mut matches: BTreeMap<u8, MatchStats> = BTreeMap::new();
    for t in &types {
        let info = m.matches.get(&t.match_number);
        let e = matches.entry(t.match_number).or_insert_with(|| MatchStats {
            match_number: t.match_number,
            home_team: info.map(|i| i.home_team.clone()).unwrap_or_default(),
            away_team: info.map(|i| i.away_team.clone()).unwrap_or_default(),
            date_utc: info.map(|i| i.date_utc).unwrap_or_default(),
            capacity: 0,
            sold: 0,
            revenue: 0,
            sell_through: 0.0,
        });
        e.capacity += u64::from(t.capacity);
        e.sold += u64::from(t.sold);
        e.revenue = e.revenue.saturating_add(t.revenue);
    }
    let mut top_matches: Vec<MatchStats> = matches
        .into_values()
        .map(|mut s| {
            s.sell_through = percent(s.sold as f64, s.capacity as f64);
            s
        })
        .filter(|s| s.sold > 0)
        .collect();
    top_matches.sort_by(|a, b| b.sold.cmp(&a.sold).then(a.match_number.cmp(&b.match_number)));
    top_matches.truncate(top);

    let mut by_platform: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for ((_, _, platform), sold) in &m.sold_per_minute {
        let e = by_platform.entry(platform.clone()).or_default();
        e.0 += sold.tickets;
        e.1 += sold.revenue;
    }
    let all_sold: i64 = by_platform.values().map(|v| v.0).sum();
    let platforms = by_platform
        .into_iter()
        .map(|(platform, (sold, revenue))| PlatformStats {
            platform,
            sold,
            revenue,
            share: percent(sold as f64, all_sold as f64),
        })
        .collect();

    let now = Utc::now().timestamp().div_euclid(60);
    let first = now - window + 1;
    let mut per_minute: BTreeMap<i64, (i64, i64)> = (first..=now).map(|t| (t, (0, 0))).collect();
    for ((minute, _, _), sold) in m.sold_per_minute.range((first, 0, String::new())..) {
        if let Some(e) = per_minute.get_mut(minute) {
            e.0 += sold.tickets;
            e.1 += sold.revenue;
        }
    }
    let (capacity, sold, held, revenue) = types.iter().fold((0u64, 0u64, 0u64, 0i64), |acc, t| {
        (acc.0 + u64::from(t.capacity), acc.1 + u64::from(t.sold), acc.2 + u64::from(t.held), acc.3 + t.revenue)
    });
    Stats {
        position: m.applied().into_iter().map(|(partition, offset)| Position { partition, offset }).collect(),
        totals: Totals { capacity, sold, held, revenue, sell_through: percent(sold as f64, capacity as f64) },
        types,
        top_matches,
        platforms,
        sales_per_minute: per_minute
            .into_iter()
            .map(|(t, (tickets, revenue))| Minute { minute: minute_time(t), tickets, revenue })
            .collect(),
        anomalies: m.anomalies.clone(),
    }
}

#[utoipa::path(get, path = "/api/admin/stats", tag = "admin", security(("bearer" = [])),
    params(("window" = Option<i64>, Query, minimum = 1, maximum = 1440,
            description = "minutes of sales per minute, 1..=1440, default 60"),
        ("top" = Option<usize>, Query, minimum = 1, maximum = 64, description = "how many top matches, 1..=64, default 10")),
    responses((status = 200, body = Stats), (status = 403, description = "not an admin"),
        (status = 400, description = "window or top out of range")))]
pub async fn stats(State(s): State<AppState>, Admin(_): Admin, Query(q): Query<StatsQuery>) -> ApiResult<Json<Stats>> {
    let window = q.window.unwrap_or(60);
    if !(1..=1440).contains(&window) {
        return Err(ApiError::BadRequest("window must be between 1 and 1440 minutes".into()));
    }
    let top = q.top.unwrap_or(10);
    if !(1..=64).contains(&top) {
        return Err(ApiError::BadRequest("top must be between 1 and 64".into()));
    }
    let market = s.market.read().expect("not poisoned");
    Ok(Json(compute(&market, window, top)))
}

#[derive(Debug, Deserialize)]
pub struct TimeseriesQuery {
    #[serde(rename = "match")]
    pub match_number: Option<u8>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Minutes per point.
    pub step: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Point {
    /// Start of the step.
    pub at: DateTime<Utc>,
    pub tickets: i64,
    pub revenue: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Timeseries {
    pub match_number: Option<u8>,
    pub step_minutes: i64,
    pub points: Vec<Point>,
}

#[utoipa::path(get, path = "/api/admin/stats/timeseries", tag = "admin", security(("bearer" = [])),
    params(("match" = Option<u8>, Query, minimum = 1, maximum = 64, description = "1..=64; all matches when absent"),
        ("from" = Option<DateTime<Utc>>, Query, description = "RFC 3339; default `to` − 24 h"),
        ("to" = Option<DateTime<Utc>>, Query, description = "RFC 3339; default now"),
        ("step" = Option<i64>, Query, minimum = 1, maximum = 1440,
            description = "minutes per point, 1..=1440, default 60; at most 2,000 points")),
    responses((status = 200, body = Timeseries), (status = 403, description = "not an admin"),
        (status = 400, description = "bad match, range or step")))]
pub async fn timeseries(
    State(s): State<AppState>,
    Admin(_): Admin,
    Query(q): Query<TimeseriesQuery>,
) -> ApiResult<Json<Timeseries>> {
    if q.match_number.is_some_and(|m| !(1..=64).contains(&m)) {
        return Err(ApiError::BadRequest("match must be between 1 and 64".into()));
    }
    let step = q.step.unwrap_or(60);
    if !(1..=1440).contains(&step) {
        return Err(ApiError::BadRequest("step must be between 1 and 1440 minutes".into()));
    }
    let to = q.to.unwrap_or_else(Utc::now);
    let from = q.from.unwrap_or(to - chrono::Duration::hours(24));
    if from >= to {
        return Err(ApiError::BadRequest("from must be before to".into()));
    }
    let (first, last) = (from.timestamp().div_euclid(60), to.timestamp().div_euclid(60));
    let points = (last - first) / step + 1;
    if points > 2000 {
        return Err(ApiError::BadRequest("at most 2,000 points: widen the step or narrow the range".into()));
    }
    let market = s.market.read().expect("not poisoned");
    let mut out: Vec<Point> =
        (0..points).map(|i| Point { at: minute_time(first + i * step), tickets: 0, revenue: 0 }).collect();
    for ((minute, m, _), sold) in market.sold_per_minute.range((first, 0, String::new())..) {
        if *minute > last {
            break;
        }
        if q.match_number.is_some_and(|want| want != *m) {
            continue;
        }
        let p = &mut out[((minute - first) / step) as usize];
        p.tickets += sold.tickets;
        p.revenue += sold.revenue;
    }
    Ok(Json(Timeseries { match_number: q.match_number, step_minutes: step, points: out }))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LakeFile {
    pub path: String,
    pub dataset: String,
    pub rows: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LakeFiles {
    /// Where the lake is (`LAKE_URL`).
    pub url: String,
    pub files: Vec<LakeFile>,
}

#[utoipa::path(get, path = "/api/admin/lake", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "the lake's manifest: every file that counts", body = LakeFiles),
        (status = 403, description = "not an admin")))]
pub async fn lake(State(s): State<AppState>, Admin(_): Admin) -> ApiResult<Json<LakeFiles>> {
    let files = store::lake_files(&s.pool).await?;
    Ok(Json(LakeFiles {
        url: s.config.lake_url.clone(),
        files: files.into_iter().map(|(path, dataset, rows)| LakeFile { path, dataset, rows }).collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelSummary {
    pub version: i64,
    pub trained_at: DateTime<Utc>,
    pub evaluation: Evaluation,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Models {
    /// Newest (the one served) first.
    pub models: Vec<ModelSummary>,
}

#[utoipa::path(get, path = "/api/admin/models", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Models), (status = 403, description = "not an admin")))]
pub async fn models(State(s): State<AppState>, Admin(_): Admin) -> ApiResult<Json<Models>> {
    let rows = store::models(&s.pool).await?;
    Ok(Json(Models {
        models: rows
            .into_iter()
            .map(|(version, trained_at, e)| ModelSummary {
                version,
                trained_at,
                evaluation: serde_json::from_value(e).unwrap_or_default(),
            })
            .collect(),
    }))
}

#[utoipa::path(post, path = "/api/admin/model/train", tag = "admin", security(("bearer" = [])),
    responses((status = 201, description = "trained, stored and now served", body = ModelSummary),
        (status = 403, description = "not an admin"),
        (status = 409, description = "no bookings in the lake yet, or a training is running")))]
pub async fn train(State(s): State<AppState>, Admin(admin): Admin) -> ApiResult<(StatusCode, Json<ModelSummary>)> {
    let model = training::train_now(&s).await?;
    let version = model.version.to_string();
    ticktak_kit::audit::record(&s.pool, &admin, "model.train", &version, "trained on demand").await?;
    Ok((
        StatusCode::CREATED,
        Json(ModelSummary { version: model.version, trained_at: model.trained_at, evaluation: model.evaluation }),
    ))
}

async fn current_model(State(s): State<AppState>) -> ApiResult<Json<Model>> {
    match store::current_model(&s.pool).await? {
        Some(m) => Ok(Json(m)),
        None => Err(ApiError::NotFound("no model trained yet".into())),
    }
}
