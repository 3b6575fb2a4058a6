//! Calls to the other services' public APIs, as the visitor: their access
//! token and their address (`X-Forwarded-For`), so every rule of those
//! services — ownership, roles, caps, screening — applies to the web site
//! exactly as to any API client.

use std::net::IpAddr;
use std::time::Duration;

use axum::http::StatusCode;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::error::WebError;

/// Who a call is made for.
#[derive(Debug, Clone, Copy)]
pub struct As<'a> {
    pub token: Option<&'a str>,
    pub ip: Option<IpAddr>,
    /// A solved proof-of-work puzzle, when the service asked for one.
    pub solution: Option<&'a str>,
}

/// An answer of another service: its status and JSON body (`Null` when it
/// had none).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The service's own explanation (`message` of its JSON error).
    pub fn message(&self) -> String {
        self.body["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("the service answered {}", self.status))
    }

    /// The stable code of the service's JSON error (`error`), if any.
    pub fn error_code(&self) -> Option<&str> {
        self.body["error"].as_str()
    }

    /// The body read as the contract type `T`, whatever the status (a
    /// refused hold answers 409 with the reservation it refused).
    pub fn read<T: DeserializeOwned>(&self) -> Option<T> {
        T::deserialize(&self.body).ok()
    }

    /// A successful answer read as the contract type `T` (an answer that
    /// does not match the contract is the service failing).
    pub fn parse<T: DeserializeOwned>(self) -> Result<T, WebError> {
        let body = self.success()?;
        serde_json::from_value(body).map_err(|e| {
            tracing::warn!(error = %e, "a service's answer does not match its contract");
            WebError::Unavailable
        })
    }

    /// This answer when it is a success; a screening refusal, a sign-in
    /// prompt or an error page otherwise.
    pub fn success(self) -> Result<Value, WebError> {
        match self.status {
            200..=299 => Ok(self.body),
            _ => Err(WebError::from_reply(&self)),
        }
    }
}

/// A call without a body.
const NO_BODY: Option<&()> = None;

#[derive(Clone)]
pub struct Apis {
    http: reqwest::Client,
}

impl Apis {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self { http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build()? })
    }

    pub async fn get(&self, url: String, who: As<'_>) -> Result<Reply, WebError> {
        self.send(Method::GET, url, who, NO_BODY, None).await
    }

    pub async fn post(&self, url: String, who: As<'_>, body: &impl Serialize) -> Result<Reply, WebError> {
        self.send(Method::POST, url, who, Some(body), None).await
    }

    pub async fn delete(&self, url: String, who: As<'_>) -> Result<Reply, WebError> {
        self.send(Method::DELETE, url, who, NO_BODY, None).await
    }

    /// A GET whose success is read as the contract type `T`; a refusal is
    /// the page's error.
    pub async fn get_as<T: DeserializeOwned>(&self, url: String, who: As<'_>) -> Result<T, WebError> {
        self.get(url, who).await?.parse()
    }

    /// A POST whose success is read as the contract type `T`.
    pub async fn post_as<T: DeserializeOwned>(
        &self,
        url: String,
        who: As<'_>,
        body: &impl Serialize,
    ) -> Result<T, WebError> {
        self.post(url, who, body).await?.parse()
    }

    /// A call with an optional JSON body (a contract type) and an optional
    /// `Idempotency-Key`.
    pub async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: String,
        who: As<'_>,
        body: Option<&B>,
        idempotency_key: Option<&str>,
    ) -> Result<Reply, WebError> {
        let res =
            self.request(method, &url, who, body, idempotency_key).send().await.map_err(|e| unreachable(&url, e))?;
        let status = res.status().as_u16();
        let text = res.text().await.map_err(|e| unreachable(&url, e))?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Reply { status, body })
    }

    /// Bytes and content type of a successful GET (a QR code).
    pub async fn bytes(&self, url: String, who: As<'_>) -> Result<(String, Vec<u8>), WebError> {
        let res = self.request(Method::GET, &url, who, NO_BODY, None).send().await.map_err(|e| unreachable(&url, e))?;
        let status = res.status().as_u16();
        if !(200..300).contains(&status) {
            let body = res.json().await.unwrap_or(Value::Null);
            return Err(WebError::from_reply(&Reply { status, body }));
        }
        let kind = res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_string();
        let bytes = res.bytes().await.map_err(|e| unreachable(&url, e))?;
        Ok((kind, bytes.to_vec()))
    }

    fn request<B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: &str,
        who: As<'_>,
        body: Option<&B>,
        idempotency_key: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut req = self.http.request(method, url);
        if let Some(token) = who.token {
            req = req.bearer_auth(token);
        }
        if let Some(ip) = who.ip {
            req = req.header("x-forwarded-for", ip.to_string());
        }
        if let Some(solution) = who.solution {
            req = req.header(ticktak_kit::challenge::HEADER, solution);
        }
        if let Some(key) = idempotency_key {
            req = req.header("idempotency-key", key);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        req
    }
}

fn unreachable(url: &str, e: reqwest::Error) -> WebError {
    // The URL names a service of this platform, never a secret.
    let service = url.split('/').take(3).collect::<Vec<_>>().join("/");
    tracing::warn!(%service, error = %e, "a service the pages need did not answer");
    WebError::Unavailable
}

impl WebError {
    /// What a service's refusal means for the page.
    pub fn from_reply(reply: &Reply) -> Self {
        let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_GATEWAY);
        match reply.status {
            401 => WebError::SignIn,
            403 => WebError::Forbidden(reply.message()),
            404 => WebError::NotFound(reply.message()),
            400..=499 => WebError::Refused { status, message: reply.message() },
            _ => {
                tracing::warn!(status = reply.status, message = %reply.message(), "a service the pages need failed");
                WebError::Unavailable
            }
        }
    }
}
