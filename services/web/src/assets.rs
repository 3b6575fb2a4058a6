//! The site's stylesheet and scripts, compiled into the binary and served
//! by this service (no CDN). `live.js`: live availability, countdowns,
//! search as you type; `checkout.js`: the card form (Stripe.js).

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::AppState;

const SITE_CSS: &str = include_str!("../static/site.css");
const LIVE_JS: &str = include_str!("../static/live.js");
const CHECKOUT_JS: &str = include_str!("../static/checkout.js");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/static/site.css", get(|| async { asset("text/css; charset=utf-8", SITE_CSS) }))
        .route("/static/live.js", get(|| async { asset("text/javascript; charset=utf-8", LIVE_JS) }))
        .route("/static/checkout.js", get(|| async { asset("text/javascript; charset=utf-8", CHECKOUT_JS) }))
}

fn asset(kind: &'static str, body: &'static str) -> impl IntoResponse {
    ([(CONTENT_TYPE, kind), (CACHE_CONTROL, "public, max-age=300")], body)
}
