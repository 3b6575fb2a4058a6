//! Accounts: sign-up, the signed-in account, and the admins' account
//! management.
//!
//! - `POST /api/auth/register`: 202 whether or not the address has an
//!   account (the answer never tells who is a customer): a new account gets
//!   a confirmation link by mail, the owner of a taken address a note.
//! - `POST /api/auth/verify-email`, `POST /api/auth/verify-email/resend`:
//!   the link, and a new one (answered alike for any address).
//! - `GET /api/me`
//! - `GET /api/admin/accounts?q=&limit=&offset=`, `PUT /api/admin/accounts/{id}/role`

pub mod links;
pub mod mine;
pub mod password;
pub mod store;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::Router;
use serde::{Deserialize, Serialize};
use ticktak_core::Country;
use ticktak_kit::auth::{Admin, Caller, Role};
use ticktak_kit::http::{Json, Path, Query};
use ticktak_kit::{ApiError, ApiResult};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::passwords;
use crate::AppState;
use links::Purpose;
use store::Account;

pub use ticktak_contracts::accounts::{AccountList, AccountView, EditMe, LinkToken, Register, ResendLink};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/register", post(register))
        .route("/api/auth/verify-email", post(verify_email))
        .route("/api/auth/verify-email/resend", post(resend_link))
        .route("/api/auth/password-reset", post(password::request))
        .route("/api/auth/password-reset/confirm", post(password::confirm))
        .route("/api/me/password", post(password::change))
        .route("/api/me", get(me).patch(edit_me).delete(mine::delete))
        .route("/api/me/export", get(mine::export))
        .route("/api/admin/accounts", get(list))
        .route("/api/admin/accounts/{id}/role", put(set_role))
}

impl From<Account> for AccountView {
    fn from(a: Account) -> Self {
        Self {
            id: a.id,
            email: a.email,
            name: a.name,
            country: a.country,
            role: a.role.0,
            created_at: a.created_at,
            email_verified: a.email_verified_at.is_some(),
        }
    }
}

/// The answer to a sign-up, and to a request for a new link: the same for
/// any address.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckYourEmail {
    /// Always `check_your_email`.
    pub status: &'static str,
    pub message: &'static str,
}

const CHECK_YOUR_EMAIL: CheckYourEmail = CheckYourEmail {
    status: "check_your_email",
    message: "If the address can be used, a message is on its way to it: follow its link to confirm the address, \
              then sign in.",
};

/// An e-mail address as stored (`ticktak_core::text::email`: trimmed, one
/// `@`, a dotted domain, no spaces or control characters). Compared without
/// regard to case.
pub fn normalize_email(raw: &str) -> Result<String, ApiError> {
    ticktak_core::text::email(raw)
        .map(str::to_string)
        .ok_or_else(|| ApiError::Unprocessable("email must be an e-mail address such as fan@example.com".into()))
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
        (status = 202, description = "a new account gets a confirmation link by mail, a taken address a note \
            to its owner (an address signed up with and never confirmed takes the latest sign-up's details); the \
            answer is the same", body = CheckYourEmail),
        (status = 422, description = "invalid e-mail, name or country, or a weak password")))]
pub async fn register(
    State(s): State<AppState>,
    screened: Option<axum::Extension<ticktak_kit::screen::Screened>>,
    Json(req): Json<Register>,
) -> ApiResult<(StatusCode, Json<CheckYourEmail>)> {
    let email = normalize_email(&req.email)?;
    let name = normalize_name(&req.name)?;
    let country = Country::new(&req.country).map_err(|e| ApiError::Unprocessable(e.0))?;
    if let Some(why) = passwords::policy_violation(&req.password, &email, &name) {
        return Err(ApiError::Unprocessable(why));
    }
    // Every account starts as a buyer: a role comes from an admin or the
    // operator's CLI, never from the address someone signed up with.
    let role = Role::Buyer;
    // Hashed whether or not the address is taken, so the time does not
    // tell either.
    let hash = s.passwords.hash(req.password).await?;
    let mut tx = s.pool.begin().await?;
    match store::insert(&mut *tx, &email, &name, country.as_str(), role, &hash).await? {
        Some(account) => {
            links::mail_link(&mut tx, &s.config.site_url, Purpose::VerifyEmail, account.id, &account.email).await?;
            tx.commit().await?;
            metrics::counter!("accounts_registered_total").increment(1);
        }
        None => match store::retake_unconfirmed(&mut *tx, &email, &name, country.as_str(), &hash).await? {
            // Signed up before and never confirmed: the latest sign-up's
            // details count, so whoever signed up first with someone
            // else's address does not keep it for when its owner comes.
            // The address's owner confirms with any link mailed to it.
            Some(account) => {
                links::mail_link(&mut tx, &s.config.site_url, Purpose::VerifyEmail, account.id, &account.email).await?;
                tx.commit().await?;
            }
            None => {
                tx.rollback().await?;
                links::mail_taken_note(&s.pool, &s.config.site_url, &email).await?;
            }
        },
    }
    // Many sign-ups from one network is a bot farm's signature.
    if let Some(axum::Extension(screened)) = screened {
        crate::screening::store::note(&s.pool, "signup", Some(screened.ip()), "").await?;
        crate::screening::review(&s, screened.ip()).await?;
    }
    Ok((StatusCode::ACCEPTED, Json(CHECK_YOUR_EMAIL)))
}

/// A link followed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Verified {
    /// Always `verified`.
    pub status: &'static str,
}

#[utoipa::path(post, path = "/api/auth/verify-email", tag = "identity", request_body = LinkToken,
    responses((status = 200, description = "the address is confirmed; sign in", body = Verified),
        (status = 400, description = "unknown, used or expired link")))]
pub async fn verify_email(State(s): State<AppState>, Json(req): Json<LinkToken>) -> ApiResult<Json<Verified>> {
    match links::verify(&s.pool, req.token.trim()).await? {
        Some(account) => {
            tracing::info!(%account, "e-mail address confirmed");
            metrics::counter!("accounts_verified_total").increment(1);
            Ok(Json(Verified { status: "verified" }))
        }
        None => Err(ApiError::BadRequest(
            "this link is unknown, used or expired: ask for a new one with POST /api/auth/verify-email/resend".into(),
        )),
    }
}

#[utoipa::path(post, path = "/api/auth/verify-email/resend", tag = "identity", request_body = ResendLink,
    responses((status = 202, description = "a new link is mailed if the address has an unconfirmed account; \
        the same answer for any address, at most one mail per address per 10 minutes", body = CheckYourEmail),
        (status = 422, description = "not an e-mail address")))]
pub async fn resend_link(
    State(s): State<AppState>,
    Json(req): Json<ResendLink>,
) -> ApiResult<(StatusCode, Json<CheckYourEmail>)> {
    let email = normalize_email(&req.email)?;
    // After the answer: the time to answer is the same for any address.
    links::after_answering(&s, email, Purpose::VerifyEmail);
    Ok((StatusCode::ACCEPTED, Json(CHECK_YOUR_EMAIL)))
}

#[utoipa::path(get, path = "/api/me", tag = "identity", security(("bearer" = [])),
    responses((status = 200, body = AccountView), (status = 401, description = "no or bad token")))]
pub async fn me(State(s): State<AppState>, Caller(caller): Caller) -> ApiResult<Json<AccountView>> {
    let id = Uuid::parse_str(&caller.sub).map_err(|_| ApiError::Unauthorized)?;
    let account = store::by_id(&s.pool, id).await?.ok_or(ApiError::Unauthorized)?;
    Ok(Json(account.into()))
}

#[utoipa::path(patch, path = "/api/me", tag = "identity", request_body = EditMe, security(("bearer" = [])),
    responses((status = 200, description = "changed; tokens issued from now on carry the new country", body = AccountView),
        (status = 401, description = "no or bad token"),
        (status = 422, description = "an empty or over-long name, or an unknown country")))]
pub async fn edit_me(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Json(req): Json<EditMe>,
) -> ApiResult<Json<AccountView>> {
    let id = Uuid::parse_str(&caller.sub).map_err(|_| ApiError::Unauthorized)?;
    let name = req.name.as_deref().map(normalize_name).transpose()?;
    let country =
        req.country.as_deref().map(|c| Country::new(c).map_err(|e| ApiError::Unprocessable(e.0))).transpose()?;
    let account = store::edit(&s.pool, id, name.as_deref(), country.as_ref().map(Country::as_str))
        .await?
        .ok_or(ApiError::Unauthorized)?;
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

#[utoipa::path(get, path = "/api/admin/accounts", operation_id = "list_accounts", tag = "admin", params(AccountQuery), security(("bearer" = [])),
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
    let detail = format!("role set to {}", req.role.as_str());
    ticktak_kit::audit::record(&s.pool, &admin, "account.role", &id.to_string(), &detail).await?;
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
