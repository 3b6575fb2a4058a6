//! Sign-in sessions: an access token (EdDSA JWT, 15 minutes) and a refresh
//! token (opaque, single use, rotated) per sign-in.
//!
//! - `POST /api/auth/login`: e-mail and password → a token pair. A wrong
//!   e-mail and a wrong password answer alike and cost alike (one argon2
//!   verification either way); repeated failures back off (`throttle`). An
//!   account whose address is not confirmed answers as a wrong password.
//! - `POST /api/auth/refresh`: a refresh token → the next pair. A token used
//!   twice revokes its family: whoever holds the newer tokens is signed out.
//! - `POST /api/auth/logout`: revokes the refresh token's family.

pub mod store;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use ticktak_kit::auth::{Claims, Subject};
use ticktak_kit::http::Json;
use ticktak_kit::{ApiError, ApiResult};

use crate::accounts::store::{self as accounts, Account};
use crate::throttle::{self, Attempt};
use crate::AppState;
use store::Rotation;

pub use ticktak_contracts::accounts::{Login, RefreshRequest, TokenPair};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/login", post(login))
        .route("/api/auth/refresh", post(refresh))
        .route("/api/auth/logout", post(logout))
}

#[utoipa::path(post, path = "/api/auth/login", tag = "identity", request_body = Login,
    responses((status = 200, body = TokenPair), (status = 401, description = "wrong e-mail or password"),
        (status = 429, description = "too many failed attempts; see Retry-After")))]
pub async fn login(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    Json(req): Json<Login>,
) -> ApiResult<Json<TokenPair>> {
    // Control characters (a NUL above all) cannot be stored, nor be part
    // of an address: drop them, and the attempt counts as a wrong one.
    let email: String = req.email.trim().to_lowercase().chars().filter(|c| !c.is_control()).collect();
    let client = client_of(&s, peer, &headers);
    let attempt = Attempt::new(client, &email);
    if let Err(wait) = throttle::admit(&s.pool, &attempt).await? {
        metrics::counter!("logins_total", "outcome" => "throttled").increment(1);
        crate::screening::store::note(&s.pool, "throttled", Some(client), "sign-in back-off").await?;
        crate::screening::review(&s, client).await?;
        return Err(ApiError::TooManyRequests { retry_after_secs: wait });
    }
    let found = match ticktak_core::text::email(&email) {
        Some(_) => accounts::by_email_with_hash(&s.pool, &email).await?,
        None => None,
    };
    let (account, hash) = found.map_or((None, None), |(a, h)| (Some(a), Some(h)));
    let right_password = s.passwords.verify(req.password, hash).await?;
    // An account whose address is not confirmed yet answers exactly as a
    // wrong password: else "sign up with someone's address, then sign in"
    // would tell whether that address was a customer.
    let confirmed = account.as_ref().is_some_and(|a| a.email_verified_at.is_some());
    if !(right_password && confirmed) {
        // Counted as a failure already, when it was admitted.
        crate::screening::store::login_failed(&s.pool, client, &email).await?;
        crate::screening::review(&s, client).await?;
        metrics::counter!("logins_total", "outcome" => "failed").increment(1);
        return Err(ApiError::InvalidCredentials);
    }
    let account = account.expect("a confirmed account was found");
    throttle::record_success(&s.pool, &attempt).await?;
    metrics::counter!("logins_total", "outcome" => "succeeded").increment(1);
    Ok(Json(start(&s, &account).await?))
}

/// The client's address: the TCP peer, or behind `TRUSTED_PROXIES` the
/// rightmost `X-Forwarded-For` hop that is not a trusted proxy.
pub fn client_of(s: &AppState, peer: SocketAddr, headers: &axum::http::HeaderMap) -> std::net::IpAddr {
    let forwarded_for = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    s.settings.trusted_proxies.client_ip(peer.ip(), forwarded_for)
}

/// A new session of `account`: its first token pair.
pub async fn start(s: &AppState, account: &Account) -> sqlx::Result<TokenPair> {
    let (refresh_token, hash) = store::new_token();
    store::start_family(&s.pool, account.id, &hash, refresh_expiry(s)).await?;
    Ok(pair(s, account, refresh_token))
}

#[utoipa::path(post, path = "/api/auth/refresh", tag = "identity", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair),
        (status = 401, description = "unknown, expired, used or revoked refresh token")))]
pub async fn refresh(State(s): State<AppState>, Json(req): Json<RefreshRequest>) -> ApiResult<Json<TokenPair>> {
    if req.refresh_token.len() > 100 {
        return Err(ApiError::Unauthorized);
    }
    let (next, next_hash) = store::new_token();
    match store::rotate(&s.pool, &store::hash(&req.refresh_token), &next_hash, refresh_expiry(&s)).await? {
        Rotation::Rotated { account } => {
            let account = accounts::by_id(&s.pool, account).await?.ok_or(ApiError::Unauthorized)?;
            Ok(Json(pair(&s, &account, next)))
        }
        Rotation::Reused => {
            metrics::counter!("refresh_token_reuse_total").increment(1);
            tracing::warn!("a used refresh token was presented again; its family is revoked");
            Err(ApiError::Unauthorized)
        }
        Rotation::Invalid => Err(ApiError::Unauthorized),
    }
}

#[utoipa::path(post, path = "/api/auth/logout", tag = "identity", request_body = RefreshRequest,
    responses((status = 204, description = "signed out (also for an unknown token)")))]
pub async fn logout(State(s): State<AppState>, Json(req): Json<RefreshRequest>) -> ApiResult<StatusCode> {
    if req.refresh_token.len() <= 100 {
        store::revoke_family_of(&s.pool, &store::hash(&req.refresh_token)).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

fn refresh_expiry(s: &AppState) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() + s.config.refresh_ttl
}

/// A fresh access token for `account` beside its refresh token.
fn pair(s: &AppState, account: &Account, refresh_token: String) -> TokenPair {
    let subject = Subject {
        sub: account.id.to_string(),
        email: account.email.clone(),
        role: account.role.0,
        country: account.country.clone(),
        email_verified: account.email_verified_at.is_some(),
    };
    let claims = Claims::issue(subject, &s.settings.auth.issuer, &s.config.audiences, s.config.access_ttl);
    TokenPair {
        access_token: s.config.signing_key.sign(&claims),
        refresh_token,
        expires_in: s.config.access_ttl.as_secs(),
        token_type: "Bearer".into(),
    }
}
