//! The OpenAPI description of the security service's public API, served at
//! `GET /api/openapi.json`.

use axum::routing::get;
use axum::Router;
use ticktak_kit::openapi::StandardResponses;
use utoipa::OpenApi;

use ticktak_kit::auth::BearerAuth;

use crate::{accounts, screening, sessions, AppState};

#[derive(OpenApi)]
#[openapi(
    info(title = "ticktak security", description = "Sign-up (an account signs in once its address is confirmed by the mailed link), sign-in, token refresh, the accounts admins manage, the blocklist and security events. \
        Access tokens are EdDSA JWTs; their public keys are at /.well-known/jwks.json."),
    paths(accounts::register, accounts::verify_email, accounts::resend_link,
        accounts::password::request, accounts::password::confirm, accounts::password::change, accounts::me, accounts::edit_me, accounts::mine::export, accounts::mine::delete, accounts::list, accounts::set_role,
        sessions::login, sessions::refresh, sessions::logout,
        screening::list, screening::add, screening::remove, screening::events, ticktak_kit::audit::audit),
    components(schemas(accounts::Register, accounts::CheckYourEmail, accounts::LinkToken, accounts::Verified,
        accounts::ResendLink, accounts::password::ResetRequest, accounts::password::ResetConfirm,
        accounts::password::PasswordChanged, accounts::password::ChangePassword, accounts::EditMe, accounts::mine::DeleteMe, accounts::AccountView, accounts::AccountList, accounts::SetRole,
        sessions::Login, sessions::RefreshRequest, sessions::TokenPair,
        screening::NewBlock, screening::Blocklist, screening::Events, screening::store::Entry, screening::store::Event,
        ticktak_contracts::desk::AuditTrail, ticktak_contracts::desk::AuditEntry)),
    modifiers(&BearerAuth, &StandardResponses)
)]
pub struct ApiDoc;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/openapi.json", get(|| async { axum::Json(ApiDoc::openapi()) }))
}
