//! HTTP pieces every service uses: extractors whose rejections speak our
//! JSON error format, the operational endpoints (`/health`, `/ready`,
//! `/metrics`), the common tower layers, and `serve`.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnFailure, TraceLayer};

use crate::error::ApiError;

/// Largest request body any public endpoint accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// `Json` whose rejections are our JSON errors: 415 without a JSON content
/// type, 400 for malformed JSON, 422 for a body of the wrong shape, 413 when
/// too large.
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::UnsupportedMediaType("expected Content-Type: application/json".into())
        }
        JsonRejection::JsonSyntaxError(e) => ApiError::BadRequest(format!("malformed JSON: {}", source_text(&e))),
        JsonRejection::JsonDataError(e) => ApiError::Unprocessable(format!("invalid body: {}", source_text(&e))),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        other => ApiError::BadRequest(other.body_text()),
    }
}

fn source_text(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = s.to_string();
        source = s.source();
    }
    text
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `Query` with 400 JSON rejections.
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e: QueryRejection| ApiError::BadRequest(source_text(&e)))
    }
}

/// `Path` with 400 JSON rejections.
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|e: PathRejection| ApiError::BadRequest(format!("invalid path: {}", source_text(&e))))
    }
}

/// Checks that tell whether a service can do its work.
pub type ReadyCheck = std::sync::Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// Something `/ready` reports without failing (e.g. working on stale data).
pub type ReadyNote = std::sync::Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// `/health` (process up), `/ready` (every check passes, else 503; notes
/// shown either way) and `/metrics` (Prometheus text).
pub fn ops_router(
    service: &'static str,
    checks: Vec<(&'static str, ReadyCheck)>,
    notes: Vec<(&'static str, ReadyNote)>,
) -> Router {
    Router::new()
        .route(
            "/health",
            get(move || async move { axum::Json(serde_json::json!({"status": "ok", "service": service})) }),
        )
        .route("/ready", get(ready))
        .route("/metrics", get(|| async { crate::telemetry::render_metrics() }))
        .with_state(std::sync::Arc::new((checks, notes)))
}

type ReadyState = std::sync::Arc<(Vec<(&'static str, ReadyCheck)>, Vec<(&'static str, ReadyNote)>)>;

async fn ready(State(state): State<ReadyState>) -> Response {
    let (checks, notes) = (&state.0, &state.1);
    let notes: serde_json::Map<String, serde_json::Value> =
        notes.iter().filter_map(|(name, note)| note().map(|n| ((*name).to_string(), n.into()))).collect();
    let mut failures = serde_json::Map::new();
    for (name, check) in checks.iter() {
        let result = tokio::time::timeout(Duration::from_secs(3), check()).await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                failures.insert((*name).into(), e.into());
            }
            Err(_) => {
                failures.insert((*name).into(), "timed out".into());
            }
        }
    }
    let mut body = if failures.is_empty() {
        serde_json::json!({"status": "ready"})
    } else {
        serde_json::json!({"status": "unavailable", "failures": failures})
    };
    if !notes.is_empty() {
        body["notes"] = notes.into();
    }
    let status = if failures.is_empty() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(body)).into_response()
}

/// The layers every service wraps its router in, once: JSON 404/405, body
/// limit, timeout, panic → 500 JSON, request tracing.
pub fn finish(router: Router) -> Router {
    router
        // Only matched routes, so the label is the route's template and an
        // attacker's random paths cannot grow the metrics without bound.
        .route_layer(axum::middleware::from_fn(record_request))
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
        .method_not_allowed_fallback(|| async {
            (StatusCode::METHOD_NOT_ALLOWED, axum::Json(serde_json::json!({"error": "method_not_allowed", "message": "method not allowed on this endpoint"})))
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            ApiError::Internal(anyhow::anyhow!("handler panicked")).into_response()
        }))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
        // A 5xx answer is logged where it is made (`ApiError`); a 503 from
        // `/ready` while a service starts is no error worth a log line.
        // Spans name the path, never the query: a link's `token=` (address
        // confirmation, password reset, a ticket passed on) stays out of logs.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &axum::extract::Request| {
                    tracing::debug_span!("request", method = %req.method(), path = %req.uri().path())
                })
                .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
        )
}

pub use crate::telemetry::HTTP_DURATION;

/// Count and time one request: `http_requests_total` and
/// `http_request_duration_seconds`, labelled by method, route template and
/// status.
async fn record_request(request: Request, next: axum::middleware::Next) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let response = next.run(request).await;
    let labels = [("method", method), ("route", route), ("status", response.status().as_u16().to_string())];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!(HTTP_DURATION, &labels).record(started.elapsed().as_secs_f64());
    response
}

/// A bound listener, ready to serve.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}

/// Serve until `shutdown` is cancelled, then finish in-flight requests.
/// Responses go out at once (TCP_NODELAY): small JSON answers must not wait
/// for Nagle's algorithm.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::post;
    use tower::ServiceExt;

    use super::*;

    #[derive(serde::Deserialize)]
    struct In {
        #[allow(dead_code)]
        n: u8,
    }

    fn app() -> Router {
        finish(Router::new().route("/x", post(|Json(_): Json<In>| async { "ok" })))
    }

    async fn call(content_type: Option<&str>, body: impl Into<Body>) -> (StatusCode, serde_json::Value) {
        let mut req = Request::post("/x");
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let res = app().oneshot(req.body(body.into()).unwrap()).await.unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
    }

    #[tokio::test]
    async fn bad_bodies_get_json_4xx() {
        let json = Some("application/json");
        assert_eq!(call(None, "{\"n\":1}").await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let (status, body) = call(json, "{nope").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "bad_request");
        assert_eq!(call(json, "{\"n\":\"x\"}").await.0, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(call(json, "{\"n\":999}").await.0, StatusCode::UNPROCESSABLE_ENTITY);
        let big = format!("{{\"n\":1,\"pad\":\"{}\"}}", "x".repeat(MAX_BODY_BYTES));
        let (status, body) = call(json, big).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["error"], "payload_too_large");
        assert_eq!(call(json, "{\"n\":1}").await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn unknown_paths_and_methods_are_json() {
        let res = app().oneshot(Request::get("/nope").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let res = app().oneshot(Request::get("/x").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(res.headers()["content-type"], "application/json");
    }
}
