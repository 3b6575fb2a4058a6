//! The internal credential: endpoints meant for the platform's own services
//! (`/internal/...`) require `Authorization: Bearer <INTERNAL_TOKEN>`; and
//! [`Client`], how one service calls another's internal listener.

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

/// A peer's 4xx answer: the request was understood and refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    /// The `message` of the peer's JSON error.
    pub message: String,
}

/// A client of another service of this platform: its internal listener's
/// base URL and the internal credential. A non-2xx answer is an error that
/// carries the peer's JSON message.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    auth: String,
}

impl Client {
    pub fn new(base: &str, token: &str, timeout: std::time::Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(16)
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build an HTTP client: {e}"))?;
        Ok(Self { http, base: base.trim_end_matches('/').to_string(), auth: bearer(token) })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path`; `None` on 404.
    pub async fn get<R: serde::de::DeserializeOwned>(&self, path: &str) -> anyhow::Result<Option<R>> {
        self.call(self.http.get(self.url(path)), path).await
    }

    /// `POST path` with a JSON body.
    pub async fn post<B: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<R> {
        self.call(self.http.post(self.url(path)).json(body), path)
            .await?
            .ok_or_else(|| anyhow::anyhow!("{} answered 404", self.url(path)))
    }

    /// `POST path` with a JSON body, telling a refusal (a 4xx answer: the
    /// peer understood and said no) from a failure to get an answer (an
    /// error: try again later).
    pub async fn post_or_refusal<B: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<Result<R, Refusal>> {
        match self.send(self.http.post(self.url(path)).json(body), path).await? {
            Ok(res) => Ok(Ok(Self::body(res, &self.url(path)).await?)),
            Err(refusal) => Ok(Err(refusal)),
        }
    }

    async fn call<R: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        path: &str,
    ) -> anyhow::Result<Option<R>> {
        let url = self.url(path);
        match self.send(request, path).await? {
            Ok(res) => Ok(Some(Self::body(res, &url).await?)),
            Err(Refusal { status: 404, .. }) => Ok(None),
            Err(Refusal { status, message }) => anyhow::bail!("{url} answered {status}: {message}"),
        }
    }

    /// Send with the credential: a 2xx answer, a refusal (4xx), or an error
    /// (no answer, or a 5xx).
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        path: &str,
    ) -> anyhow::Result<Result<reqwest::Response, Refusal>> {
        let url = self.url(path);
        let res = request
            .header("authorization", &self.auth)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("unreachable at {url}: {e}"))?;
        let status = res.status();
        if status.is_success() {
            return Ok(Ok(res));
        }
        let text = res.text().await.unwrap_or_default();
        if !status.is_client_error() {
            anyhow::bail!("{url} answered {status}: {text}");
        }
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_string))
            .unwrap_or(text);
        Ok(Err(Refusal { status: status.as_u16(), message }))
    }

    async fn body<R: serde::de::DeserializeOwned>(res: reqwest::Response, url: &str) -> anyhow::Result<R> {
        res.json().await.map_err(|e| anyhow::anyhow!("unexpected answer from {url}: {e}"))
    }
}
