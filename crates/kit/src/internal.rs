//! The internal credential: endpoints meant for the platform's own services
//! (`/internal/...`) require `Authorization: Bearer <INTERNAL_TOKEN>`.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::error::ApiError;

/// Largest body an internal endpoint accepts (batches of log messages).
pub const MAX_INTERNAL_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Wrap `router` so every route in it requires the internal credential and
/// accepts batch-sized bodies.
pub fn protect<S: Clone + Send + Sync + 'static>(router: Router<S>, token: &str) -> Router<S> {
    let expected: std::sync::Arc<str> = format!("Bearer {token}").into();
    router
        .layer(axum::extract::DefaultBodyLimit::max(MAX_INTERNAL_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(expected, check))
}

async fn check(State(expected): State<std::sync::Arc<str>>, req: Request, next: Next) -> Response {
    let given = req.headers().get("authorization").map(|v| v.as_bytes()).unwrap_or_default();
    if constant_time_eq(given, expected.as_bytes()) {
        next.run(req).await
    } else {
        ApiError::Unauthorized.into_response()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The header value a client of an internal endpoint sends.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}
