//! Buyer authentication: `Authorization: Bearer <JWT>`, HS256 signed with
//! `JWT_SECRET`, claims `sub` (account id), `role` (`buyer`|`admin`), `exp`.
//! Every service verifies tokens through [`Caller`]; the security service
//! issues them (and `mint-token` does for development).

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Buyer,
    Admin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    pub exp: i64,
}

/// Signing and verification keys from `JWT_SECRET`.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys(..)")
    }
}

impl JwtKeys {
    pub fn new(secret: &str) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
        }
    }

    /// A token for `sub` with `role`, valid for `ttl`.
    pub fn mint(&self, sub: &str, role: Role, ttl: std::time::Duration) -> String {
        let exp = chrono::Utc::now().timestamp() + ttl.as_secs() as i64;
        let claims = Claims { sub: sub.to_string(), role, exp };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing cannot fail")
    }

    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map_err(|_| ApiError::Unauthorized)?;
        if data.claims.sub.is_empty() || data.claims.sub.len() > 200 {
            return Err(ApiError::Unauthorized);
        }
        Ok(data.claims)
    }
}

/// The authenticated caller of a public endpoint. 401 JSON without a valid
/// token.
#[derive(Debug, Clone)]
pub struct Caller(pub Claims);

impl<S> FromRequestParts<S> for Caller
where
    Arc<JwtKeys>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let keys = Arc::<JwtKeys>::from_ref(state);
        let header = parts.headers.get("authorization").and_then(|v| v.to_str().ok()).ok_or(ApiError::Unauthorized)?;
        let token = header.strip_prefix("Bearer ").ok_or(ApiError::Unauthorized)?;
        keys.verify(token.trim()).map(Caller)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn tokens_verify_only_with_the_same_secret_and_before_expiry() {
        let keys = JwtKeys::new("a-secret-long-enough-for-hs256-signing");
        let token = keys.mint("alice", Role::Buyer, Duration::from_secs(60));
        let claims = keys.verify(&token).unwrap();
        assert_eq!((claims.sub.as_str(), claims.role), ("alice", Role::Buyer));
        assert!(JwtKeys::new("another-secret-long-enough-for-hs256").verify(&token).is_err());
        assert!(keys.verify("not.a.token").is_err());
        let expired = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &Claims { sub: "bob".into(), role: Role::Buyer, exp: chrono::Utc::now().timestamp() - 60 },
            &keys.encoding,
        )
        .unwrap();
        assert!(keys.verify(&expired).is_err());
    }
}
