//! Accounts: sign-up, the signed-in account, and the admins' account
//! management.
//!
//! - `POST /api/auth/register`
//! - `GET /api/me`
//! - `GET /api/admin/accounts?q=&limit=&offset=`, `PUT /api/admin/accounts/{id}/role`

pub mod store;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ticktak_core::Country;
use ticktak_kit::auth::{Admin, Caller, Role};
use ticktak_kit::http::{Json, Path, Query};
use ticktak_kit::{ApiError, ApiResult};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::passwords;
use crate::AppState;
use store::Account;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/register", post(register))
        .route("/api/me", get(me))
        .route("/api/admin/accounts", get(list))
        .route("/api/admin/accounts/{id}/role", put(set_role))
}

/// Body of `POST /api/auth/register`.
// No `Debug`: it holds a secret.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Register {
    pub email: String,
    pub password: String,
    pub name: String,
    /// ISO 3166-1 alpha-2, e.g. `AR`.
    pub country: String,
}

/// An account as its owner and admins see it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub country: String,
    /// buyer, staff or admin.
    #[schema(value_type = String)]
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

impl From<Account> for AccountView {
    fn from(a: Account) -> Self {
        Self { id: a.id, email: a.email, name: a.name, country: a.country, role: a.role.0, created_at: a.created_at }
    }
}

/// An e-mail address as stored: trimmed, one `@`, a dotted domain, no
/// spaces or control characters. Compared without regard to case.
pub fn normalize_email(raw: &str) -> Result<String, ApiError> {
    let email = raw.trim();
    let invalid = || ApiError::Unprocessable("email must be an e-mail address such as fan@example.com".into());
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    let fine = email.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if fine {
        Ok(email.to_string())
    } else {
        Err(invalid())
    }
}

fn normalize_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::Unprocessable("name must have 1 to 100 characters".into()));
    }
    Ok(name.to_string())
}

#[utoipa::path(post, path = "/api/auth/register", tag = "identity", request_body = Register,
    responses(
        (status = 201, description = "account created; sign in next", body = AccountView),
        (status = 409, description = "an account with this e-mail address exists"),
        (status = 422, description = "invalid e-mail, name or country, or a weak password")))]
pub async fn register(
    State(s): State<AppState>,
    screened: Option<axum::Extension<ticktak_kit::screen::Screened>>,
    Json(req): Json<Register>,
) -> ApiResult<(StatusCode, Json<AccountView>)> {
    let email = normalize_email(&req.email)?;
    let name = normalize_name(&req.name)?;
    let country = Country::new(&req.country).map_err(|e| ApiError::Unprocessable(e.0))?;
    if let Some(why) = passwords::policy_violation(&req.password, &email, &name) {
        return Err(ApiError::Unprocessable(why));
    }
    // Every account starts as a buyer: a role comes from an admin or the
    // operator's CLI, never from the address someone signed up with.
    let role = Role::Buyer;
    let hash = s.passwords.hash(req.password).await?;
    let account = store::insert(&s.pool, &email, &name, country.as_str(), role, &hash)
        .await?
        .ok_or_else(|| ApiError::Conflict("an account with this e-mail address already exists".into()))?;
    metrics::counter!("accounts_registered_total").increment(1);
    // Many accounts from one network is a bot farm's signature.
    if let Some(axum::Extension(screened)) = screened {
        crate::screening::store::note(&s.pool, "signup", Some(screened.ip()), "").await?;
        crate::screening::review(&s, screened.ip()).await?;
    }
    Ok((StatusCode::CREATED, Json(account.into())))
}

#[utoipa::path(get, path = "/api/me", tag = "identity", security(("bearer" = [])),
    responses((status = 200, body = AccountView), (status = 401, description = "no or bad token")))]
pub async fn me(State(s): State<AppState>, Caller(caller): Caller) -> ApiResult<Json<AccountView>> {
    let id = Uuid::parse_str(&caller.sub).map_err(|_| ApiError::Unauthorized)?;
    let account = store::by_id(&s.pool, id).await?.ok_or(ApiError::Unauthorized)?;
    Ok(Json(account.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AccountQuery {
    /// Part of an e-mail address or name.
    #[serde(default)]
    pub q: String,
    /// At most 200; default 50.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountList {
    pub accounts: Vec<AccountView>,
    pub total: i64,
}

#[utoipa::path(get, path = "/api/admin/accounts", tag = "admin", params(AccountQuery), security(("bearer" = [])),
    responses((status = 200, body = AccountList), (status = 401, description = "no or bad token"),
        (status = 403, description = "not an admin")))]
pub async fn list(
    State(s): State<AppState>,
    Admin(_): Admin,
    Query(q): Query<AccountQuery>,
) -> ApiResult<Json<AccountList>> {
    let limit = q.limit.unwrap_or(50);
    let offset = q.offset.unwrap_or(0);
    if !(1..=200).contains(&limit) || offset < 0 || q.q.len() > 200 {
        return Err(ApiError::BadRequest("limit must be 1..=200, offset ≥ 0, q at most 200 characters".into()));
    }
    let (accounts, total) = store::search(&s.pool, q.q.trim(), limit, offset).await?;
    Ok(Json(AccountList { accounts: accounts.into_iter().map(Into::into).collect(), total }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRole {
    /// buyer, staff or admin.
    #[schema(value_type = String)]
    pub role: Role,
}

#[utoipa::path(put, path = "/api/admin/accounts/{id}/role", tag = "admin", request_body = SetRole,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = AccountView), (status = 403, description = "not an admin"),
        (status = 404, description = "no such account"), (status = 409, description = "an admin's own role")))]
pub async fn set_role(
    State(s): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<Uuid>,
    Json(req): Json<SetRole>,
) -> ApiResult<Json<AccountView>> {
    if admin.sub == id.to_string() {
        return Err(ApiError::Conflict("admins cannot change their own role".into()));
    }
    let account =
        store::set_role(&s.pool, id, req.role).await?.ok_or_else(|| ApiError::NotFound("no such account".into()))?;
    tracing::info!(account = %id, role = req.role.as_str(), by = %admin.sub, "role changed");
    Ok(Json(account.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_checked() {
        assert_eq!(normalize_email("  Fan@Example.com ").unwrap(), "Fan@Example.com");
        for bad in [
            "",
            "fan",
            "fan@",
            "@example.com",
            "fan@example",
            "fan@@example.com",
            "f an@example.com",
            "fan@example..com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
    }
}
