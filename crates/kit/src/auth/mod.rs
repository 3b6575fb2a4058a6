//! Who is calling a public endpoint: `Authorization: Bearer <JWT>`, an
//! EdDSA (Ed25519) access token issued by a security service.
//!
//! - `keys`: signing keys (the security service and `mint-token` only).
//! - `verify`: the [`Verifier`] every other service uses, public keys only.
//!
//! Handlers take a [`Caller`] (any signed-in account) or an [`Admin`]
//! (role `admin`, else 403).

pub mod keys;
pub mod verify;

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use serde::{Deserialize, Deserializer, Serialize};

pub use keys::SigningKey;
pub use ticktak_contracts::accounts::Role;
pub use verify::{AuthSettings, KeySource, Verifier};

use crate::error::ApiError;

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The account id.
    pub sub: String,
    pub email: String,
    pub role: Role,
    /// ISO 3166-1 alpha-2 code the buyer gave at sign-up.
    pub country: String,
    /// Whether the account's owner confirmed the address (OpenID Connect's
    /// claim). Absent counts as not: only a confirmed address buys.
    #[serde(default)]
    pub email_verified: bool,
    pub iss: String,
    /// The platforms that accept the token (`ticktak-{PLATFORM_ID}`).
    #[serde(deserialize_with = "one_or_many")]
    pub aud: Vec<String>,
    pub iat: i64,
    pub exp: i64,
    /// Unique per token.
    pub jti: String,
}

/// Who a token is for, before it is stamped with issuer and lifetime.
#[derive(Debug, Clone)]
pub struct Subject {
    pub sub: String,
    pub email: String,
    pub role: Role,
    pub country: String,
    pub email_verified: bool,
}

impl Claims {
    /// Buying (a hold, a place in a waiting room) needs a confirmed address:
    /// a token without `email_verified` — an unconfirmed account, or a
    /// trusted peer's token that does not say — is refused with 403
    /// `email_unverified`.
    pub fn require_verified_email(&self) -> Result<(), ApiError> {
        if self.email_verified {
            Ok(())
        } else {
            Err(ApiError::EmailUnverified)
        }
    }

    /// Claims for `subject`, issued now by `iss` for `aud`, valid for `ttl`.
    pub fn issue(subject: Subject, iss: &str, aud: &[String], ttl: std::time::Duration) -> Self {
        let now = chrono::Utc::now().timestamp();
        Self {
            sub: subject.sub,
            email: subject.email,
            role: subject.role,
            country: subject.country,
            email_verified: subject.email_verified,
            iss: iss.to_string(),
            aud: aud.to_vec(),
            iat: now,
            exp: now + ttl.as_secs() as i64,
            jti: uuid::Uuid::now_v7().to_string(),
        }
    }
}

/// `aud` is a string or an array of strings (RFC 7519 §4.1.3).
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// The authenticated caller of a public endpoint; 401 JSON without a valid
/// token.
#[derive(Debug, Clone)]
pub struct Caller(pub Claims);

impl<S> FromRequestParts<S> for Caller
where
    Arc<Verifier>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = Arc::<Verifier>::from_ref(state);
        let header = parts.headers.get("authorization").and_then(|v| v.to_str().ok()).ok_or(ApiError::Unauthorized)?;
        let token = header.strip_prefix("Bearer ").ok_or(ApiError::Unauthorized)?;
        let claims = verifier.verify(token.trim()).await?;
        // On a public listener, the account's own rate limit for this route
        // class (the client's address was checked before the handler).
        if let Some(screened) = parts.extensions.get::<crate::screen::Screened>() {
            screened.check_account(&claims.sub)?;
        }
        Ok(Caller(claims))
    }
}

/// A caller who may be anonymous: no `Authorization` header is `None`; a
/// header with a bad token is still 401.
#[derive(Debug, Clone)]
pub struct MaybeCaller(pub Option<Claims>);

impl<S> FromRequestParts<S> for MaybeCaller
where
    Arc<Verifier>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if !parts.headers.contains_key("authorization") {
            return Ok(MaybeCaller(None));
        }
        let Caller(claims) = Caller::from_request_parts(parts, state).await?;
        Ok(MaybeCaller(Some(claims)))
    }
}

/// A caller with the admin role; 401 without a valid token, 403 for any
/// other role.
#[derive(Debug, Clone)]
pub struct Admin(pub Claims);

impl<S> FromRequestParts<S> for Admin
where
    Arc<Verifier>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Caller(claims) = Caller::from_request_parts(parts, state).await?;
        if claims.role != Role::Admin {
            return Err(ApiError::Forbidden("this endpoint is for admins".into()));
        }
        Ok(Admin(claims))
    }
}

/// Adds the `bearer` security scheme (JWT) to an OpenAPI description:
/// `modifiers(&ticktak_kit::auth::BearerAuth)`.
pub struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// A JWKS document of the public halves of `keys`.
pub fn jwks(keys: &[&SigningKey]) -> jsonwebtoken::jwk::JwkSet {
    jsonwebtoken::jwk::JwkSet { keys: keys.iter().map(|k| k.jwk()).collect() }
}

/// How the token extractors ([`Caller`], [`Admin`]) find the verifier in a
/// service's state: `verifier_from_state!(AppState)` for a state with a
/// `verifier: Arc<Verifier>` field.
#[macro_export]
macro_rules! verifier_from_state {
    ($state:ty) => {
        impl ::axum::extract::FromRef<$state> for ::std::sync::Arc<$crate::auth::Verifier> {
            fn from_ref(state: &$state) -> Self {
                state.verifier.clone()
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use jsonwebtoken::{Algorithm, EncodingKey, Header};

    use super::*;

    pub(super) fn settings_with(keys: &[&SigningKey]) -> AuthSettings {
        AuthSettings {
            issuer: "ticktak-a".into(),
            audience: "ticktak-a".into(),
            keys: KeySource::Fixed(jwks(keys)),
            trusted: vec![],
            refuse_dev_key: false,
        }
    }

    pub(super) fn claims(aud: &str, ttl_secs: i64) -> Claims {
        let subject = Subject {
            sub: "alice".into(),
            email: "alice@example.com".into(),
            role: Role::Buyer,
            country: "AR".into(),
            email_verified: true,
        };
        let mut c = Claims::issue(subject, "ticktak-a", &[aud.to_string()], Duration::from_secs(60));
        c.exp = c.iat + ttl_secs;
        c
    }

    #[tokio::test]
    async fn only_eddsa_tokens_of_a_trusted_key_for_this_audience_verify() {
        let key = SigningKey::generate();
        let verifier = Verifier::new(&settings_with(&[&key]));
        let good = key.sign(&claims("ticktak-a", 60));
        assert_eq!(verifier.verify(&good).await.unwrap().sub, "alice");

        let other = SigningKey::generate();
        let forged = other.sign(&claims("ticktak-a", 60));
        let expired = key.sign(&claims("ticktak-a", -60));
        let wrong_audience = key.sign(&claims("ticktak-b", 60));
        let mut wrong_issuer = claims("ticktak-a", 60);
        wrong_issuer.iss = "ticktak-b".into();
        let wrong_issuer = key.sign(&wrong_issuer);
        // HS256 keyed with the public key's bytes, naming the real kid.
        let mut hs = Header::new(Algorithm::HS256);
        hs.kid = Some(key.kid().to_string());
        let public = serde_json::to_string(&key.jwk()).unwrap();
        let hs256 =
            jsonwebtoken::encode(&hs, &claims("ticktak-a", 60), &EncodingKey::from_secret(public.as_bytes())).unwrap();
        // alg none: the signed token's payload with an unsigned header.
        let payload = good.split('.').nth(1).unwrap();
        let none_header = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            format!(r#"{{"alg":"none","typ":"JWT","kid":"{}"}}"#, key.kid()),
        );
        let alg_none = format!("{none_header}.{payload}.");
        for (what, token) in [
            ("forged", forged.as_str()),
            ("expired", &expired),
            ("wrong audience", &wrong_audience),
            ("wrong issuer", &wrong_issuer),
            ("HS256", &hs256),
            ("alg none", &alg_none),
            ("garbage", "not.a.token"),
        ] {
            assert!(verifier.verify(token).await.is_err(), "{what} accepted");
        }
    }

    #[tokio::test]
    async fn another_platforms_admin_is_a_buyer_here_with_an_account_of_its_own() {
        let (ours, theirs) = (SigningKey::generate(), SigningKey::generate());
        // Platform b publishes its keys; a trusts b's issuer.
        let set = jwks(&[&theirs]);
        let app = axum::Router::new().route("/jwks", axum::routing::get(move || async move { axum::Json(set) }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let mut settings = settings_with(&[&ours]);
        settings.trusted = vec![("ticktak-b".into(), url)];
        let verifier = Verifier::new(&settings);

        let admin = |iss: &str| {
            let mut c = claims("ticktak-a", 60);
            c.iss = iss.into();
            c.role = Role::Admin;
            c
        };
        let token = theirs.sign(&admin("ticktak-b"));
        let foreign = verifier.verify(&token).await.unwrap();
        assert_eq!((foreign.role, foreign.sub.as_str()), (Role::Buyer, "ticktak-b:alice"));
        // Remembered as seen here, not taken as seen here twice.
        assert_eq!(verifier.verify(&token).await.unwrap(), foreign);
        let local = verifier.verify(&ours.sign(&admin("ticktak-a"))).await.unwrap();
        assert_eq!((local.role, local.sub.as_str()), (Role::Admin, "alice"));
    }

    #[tokio::test]
    async fn in_production_the_development_key_verifies_nothing_even_from_a_fetched_key_set() {
        let real = SigningKey::generate();
        // A key set that lists the development key under another kid.
        let mut renamed = SigningKey::dev().jwk();
        renamed.common.key_id = Some("innocent".into());
        let set = jsonwebtoken::jwk::JwkSet { keys: vec![real.jwk(), renamed, SigningKey::dev().jwk()] };
        let app = axum::Router::new().route("/jwks", axum::routing::get(move || async move { axum::Json(set) }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let settings = AuthSettings { keys: KeySource::Url(url), refuse_dev_key: true, ..settings_with(&[]) };
        let verifier = Verifier::new(&settings);
        assert!(verifier.verify(&real.sign(&claims("ticktak-a", 60))).await.is_ok());
        let dev_signed = SigningKey::dev().sign(&claims("ticktak-a", 60));
        assert!(verifier.verify(&dev_signed).await.is_err());
        let mut header = jsonwebtoken::Header::new(Algorithm::EdDSA);
        header.kid = Some("innocent".into());
        let under_other_kid = jsonwebtoken::encode(
            &header,
            &claims("ticktak-a", 60),
            &jsonwebtoken::EncodingKey::from_ed_der(
                &base64::Engine::decode(
                    &base64::engine::general_purpose::STANDARD,
                    crate::auth::keys::DEV_SIGNING_KEY.lines().nth(1).unwrap(),
                )
                .unwrap(),
            ),
        )
        .unwrap();
        assert!(verifier.verify(&under_other_kid).await.is_err());
    }

    #[tokio::test]
    async fn a_previous_key_still_verifies_during_rotation() {
        let (old, new) = (SigningKey::generate(), SigningKey::generate());
        let verifier = Verifier::new(&settings_with(&[&new, &old]));
        assert!(verifier.verify(&old.sign(&claims("ticktak-a", 60))).await.is_ok());
        assert!(verifier.verify(&new.sign(&claims("ticktak-a", 60))).await.is_ok());
    }

    #[test]
    fn a_token_that_does_not_say_the_address_is_confirmed_does_not_buy() {
        let mut said = serde_json::to_value(claims("ticktak-a", 60)).unwrap();
        let confirmed: Claims = serde_json::from_value(said.clone()).unwrap();
        assert!(confirmed.email_verified && confirmed.require_verified_email().is_ok());
        said.as_object_mut().unwrap().remove("email_verified");
        let silent: Claims = serde_json::from_value(said).unwrap();
        assert!(!silent.email_verified);
        assert!(matches!(silent.require_verified_email(), Err(ApiError::EmailUnverified)));
    }
}
