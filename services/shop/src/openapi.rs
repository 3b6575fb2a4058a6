//! The OpenAPI description of the shop's public API, served at
//! `GET /api/openapi.json`.

use axum::routing::get;
use axum::Router;
use ticktak_kit::openapi::StandardResponses;
use utoipa::OpenApi;

use crate::AppState;
use crate::{matches, recommend};

#[derive(OpenApi)]
#[openapi(
    info(title = "ticktak shop", description = "FIFA World Cup Qatar 2022 matches, prices and availability."),
    paths(matches::list, matches::one, matches::availability, recommend::recommendations),
    components(schemas(matches::MatchPage, matches::MatchView, matches::CategoryView, ticktak_contracts::catalogue::WaitingRoom, matches::Availability,
        recommend::Recommendations, recommend::Recommendation)),
    modifiers(&StandardResponses)
)]
pub struct ApiDoc;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/openapi.json", get(|| async { axum::Json(ApiDoc::openapi()) }))
}
