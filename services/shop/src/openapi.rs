//! The OpenAPI description of the shop's public API, served at
//! `GET /api/openapi.json`.

use axum::routing::get;
use axum::Router;
use ticktak_kit::openapi::StandardResponses;
use utoipa::OpenApi;

use crate::matches;
use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "ticktak shop", description = "FIFA World Cup Qatar 2022 matches, prices and availability."),
    paths(matches::list, matches::one, matches::availability),
    components(schemas(matches::MatchPage, matches::MatchView, matches::CategoryView, matches::Availability)),
    modifiers(&StandardResponses)
)]
pub struct ApiDoc;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/openapi.json", get(|| async { axum::Json(ApiDoc::openapi()) }))
}
