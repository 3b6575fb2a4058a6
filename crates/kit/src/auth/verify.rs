//! Verifying access tokens with public keys only.
//!
//! A token is accepted when its header names an Ed25519 key (`kid`) of an
//! issuer this platform trusts, its signature verifies with that key (the
//! algorithm is pinned to EdDSA: `none`, HS256 and the rest are refused), its
//! `iss` is that key's issuer, its `aud` contains this platform's audience and
//! it has not expired.
//!
//! The keys of this platform's issuer come from its security service's
//! `GET /.well-known/jwks.json` (or `JWT_PUBLIC_KEYS`); other platforms'
//! issuers are trusted only when listed in `JWT_TRUSTED_ISSUERS`. Fetched
//! key sets are refreshed every minute, and at once (at most every 5 s) when
//! a token names a key not seen yet, so a key rotation logs nobody out.
//!
//! A token verified once is remembered (the last [`VERIFIED_TOKENS`] of at
//! most [`REMEMBERED_TOKEN_BYTES`], by the SHA-256 of its exact text) until
//! it expires or the key that verified it is no longer its issuer's under
//! that `kid`: a buyer's next request with the same token skips the Ed25519
//! check, which was half of a hold request's instructions (BENCHMARKS.md,
//! "Instructions per hold").

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tokio_util::sync::CancellationToken;

use super::{Claims, SigningKey};
use crate::env::{ConfigError, Env};
use crate::error::ApiError;

/// How often fetched key sets are read again.
const REFRESH_EVERY: Duration = Duration::from_secs(60);
/// The least time between two fetches of one issuer's keys.
const REFETCH_AFTER: Duration = Duration::from_secs(5);
/// Longest token looked at.
const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Tokens remembered as verified (this platform's are about 600 bytes).
pub const VERIFIED_TOKENS: usize = 8 * 1024;
/// Longer tokens are verified every time (they are not this platform's),
/// so the remembered claims stay small: 8,192 of them take at most 20 MiB.
pub const REMEMBERED_TOKEN_BYTES: usize = 2 * 1024;

/// A token that verified: its claims as seen here and the key that checked
/// it (its issuer, `kid` and public bytes).
struct Verified {
    claims: Claims,
    issuer: usize,
    kid: String,
    x: String,
}

/// Where an issuer's public keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A JWKS document fetched (and refreshed) from this URL.
    Url(String),
    /// A key set the operator configured (`JWT_PUBLIC_KEYS`).
    Fixed(JwkSet),
}

/// Who may sign tokens this platform accepts, and for which audience.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// This platform's issuer, `ticktak-{PLATFORM_ID}`: the `iss` its
    /// security service writes.
    pub issuer: String,
    /// The audience every service of this platform requires in `aud`,
    /// `ticktak-{PLATFORM_ID}`.
    pub audience: String,
    /// The keys of this platform's issuer.
    pub keys: KeySource,
    /// Other platforms' issuers and their JWKS URLs (`JWT_TRUSTED_ISSUERS`).
    pub trusted: Vec<(String, String)>,
    /// Production: the development key is never trusted, not even when a
    /// fetched key set lists it.
    pub refuse_dev_key: bool,
}

impl AuthSettings {
    /// `JWT_PUBLIC_KEYS` (a JWKS document; default: fetch from
    /// `{security_url}/.well-known/jwks.json`) and `JWT_TRUSTED_ISSUERS`
    /// (`ticktak-b=http://b-security:3050/.well-known/jwks.json,…`).
    /// In production the development key is refused.
    pub fn from_env(platform: &str, security_url: &str, production: bool, env: &Env<'_>) -> Result<Self, ConfigError> {
        let keys = match env.get("JWT_PUBLIC_KEYS") {
            None => KeySource::Url(format!("{}/.well-known/jwks.json", security_url.trim_end_matches('/'))),
            Some(raw) => {
                let set: JwkSet = serde_json::from_str(&raw)
                    .map_err(|e| env.error("JWT_PUBLIC_KEYS", format!("not a JWKS document: {e}")))?;
                let usable = decoding_keys(&set, false);
                if usable.is_empty() {
                    return Err(env.error("JWT_PUBLIC_KEYS", "holds no Ed25519 key with a kid"));
                }
                if production && usable.contains_key(SigningKey::dev().kid()) {
                    return Err(env.error("JWT_PUBLIC_KEYS", "trusts the development key in production"));
                }
                KeySource::Fixed(set)
            }
        };
        let mut trusted = Vec::new();
        for pair in env.get("JWT_TRUSTED_ISSUERS").unwrap_or_default().split(',').filter(|p| !p.trim().is_empty()) {
            let Some((issuer, url)) = pair.split_once('=') else {
                return Err(env.error("JWT_TRUSTED_ISSUERS", "expected ISSUER=JWKS_URL pairs separated by commas"));
            };
            let (issuer, url) = (issuer.trim(), url.trim());
            if issuer.is_empty() || !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(env.error("JWT_TRUSTED_ISSUERS", format!("{pair:?}: expected ISSUER=http(s)://…")));
            }
            // Another platform's keys cross a network this platform does
            // not control: in production only over TLS.
            if production && !url.starts_with("https://") {
                return Err(
                    env.error("JWT_TRUSTED_ISSUERS", format!("{pair:?}: production fetches keys over https only"))
                );
            }
            trusted.push((issuer.to_string(), url.to_string()));
        }
        Ok(Self {
            issuer: format!("ticktak-{platform}"),
            audience: format!("ticktak-{platform}"),
            keys,
            trusted,
            refuse_dev_key: production,
        })
    }
}

/// What a verified token is remembered by.
fn token_digest(token: &str) -> [u8; 32] {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref().try_into().expect("SHA-256 is 32 bytes")
}

/// An issuer's public key: for verifying, and its bytes (the JWK's `x`),
/// which tell whether a `kid` still names the same key.
struct PublicKey {
    decoding: DecodingKey,
    x: String,
}

/// The usable keys of a set: Ed25519 keys with a `kid`.
/// Keys by `kid`, shared so a request takes one without copying it.
type Keys = HashMap<String, Arc<PublicKey>>;

fn decoding_keys(set: &JwkSet, refuse_dev_key: bool) -> Keys {
    let dev = SigningKey::dev().kid().to_string();
    set.keys
        .iter()
        .filter(|k| matches!(&k.algorithm, AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519))
        .filter(|k| !(refuse_dev_key && (k.common.key_id.as_deref() == Some(dev.as_str()) || is_dev_jwk(k))))
        .filter_map(|k| {
            let AlgorithmParameters::OctetKeyPair(p) = &k.algorithm else { return None };
            let key = PublicKey { decoding: DecodingKey::from_jwk(k).ok()?, x: p.x.clone() };
            Some((k.common.key_id.clone()?, Arc::new(key)))
        })
        .collect()
}

/// Whether a JWK is the development key's public half, whatever `kid` it
/// was given.
fn is_dev_jwk(k: &jsonwebtoken::jwk::Jwk) -> bool {
    let AlgorithmParameters::OctetKeyPair(p) = &k.algorithm else { return false };
    match SigningKey::dev().jwk().algorithm {
        AlgorithmParameters::OctetKeyPair(dev) => dev.x == p.x,
        _ => false,
    }
}

/// One trusted issuer and the keys known for it.
struct Issuer {
    name: String,
    url: Option<String>,
    keys: RwLock<Keys>,
    /// What a token of this issuer must satisfy (built once, not per request).
    validation: Validation,
    /// When the keys were last fetched; held during a fetch, so concurrent
    /// requests wait for one fetch instead of starting their own.
    fetched: tokio::sync::Mutex<Option<Instant>>,
}

/// Verifies access tokens; shared by every handler of a service.
pub struct Verifier {
    audience: String,
    issuers: Vec<Issuer>,
    http: reqwest::Client,
    refuse_dev_key: bool,
    /// By the SHA-256 of the token; shared, so a hit copies only the claims.
    verified: Mutex<lru::LruCache<[u8; 32], Arc<Verified>>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").field("audience", &self.audience).finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier for `settings`: fetches the key sets once (a failure is
    /// logged, not fatal: the security service may start later) and keeps
    /// them fresh until `shutdown`.
    pub async fn start(settings: &AuthSettings, shutdown: CancellationToken) -> Arc<Self> {
        let verifier = Arc::new(Self::new(settings));
        for issuer in &verifier.issuers {
            verifier.refresh(issuer, Duration::ZERO).await;
        }
        let background = verifier.clone();
        tokio::spawn(async move {
            loop {
                // Every second until the platform's own keys are known (its
                // security service may start after this service).
                let wait = if background.has_own_keys() { REFRESH_EVERY } else { Duration::from_secs(1) };
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
                for issuer in &background.issuers {
                    background.refresh(issuer, wait.min(REFETCH_AFTER)).await;
                }
            }
        });
        verifier
    }

    /// A verifier without background refresh (fixed keys, tests).
    pub fn new(settings: &AuthSettings) -> Self {
        let own = match &settings.keys {
            KeySource::Url(url) => Issuer::new(&settings.issuer, &settings.audience, Some(url), Keys::new()),
            KeySource::Fixed(set) => {
                Issuer::new(&settings.issuer, &settings.audience, None, decoding_keys(set, settings.refuse_dev_key))
            }
        };
        let others =
            settings.trusted.iter().map(|(name, url)| Issuer::new(name, &settings.audience, Some(url), Keys::new()));
        Self {
            audience: settings.audience.clone(),
            issuers: std::iter::once(own).chain(others).collect(),
            http: reqwest::Client::builder().timeout(Duration::from_secs(2)).build().expect("HTTP client"),
            refuse_dev_key: settings.refuse_dev_key,
            verified: Mutex::new(lru::LruCache::new(NonZeroUsize::new(VERIFIED_TOKENS).expect("not zero"))),
        }
    }

    fn has_own_keys(&self) -> bool {
        !self.issuers[0].keys.read().expect("keys lock").is_empty()
    }

    /// Ready once this platform's own issuer has keys: until then no buyer
    /// can be authenticated.
    pub fn ready_check(self: &Arc<Self>) -> crate::http::ReadyCheck {
        let verifier = self.clone();
        Arc::new(move || {
            let has_keys = verifier.has_own_keys();
            Box::pin(async move {
                if has_keys {
                    Ok(())
                } else {
                    Err("no token keys yet".to_string())
                }
            })
        })
    }

    /// The claims of a valid token, else 401.
    pub async fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(ApiError::Unauthorized);
        }
        // Only tokens short enough to be remembered are looked up.
        let digest = (token.len() <= REMEMBERED_TOKEN_BYTES).then(|| token_digest(token));
        if let Some(claims) = digest.as_ref().and_then(|d| self.verified_before(d)) {
            return Ok(claims);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| ApiError::Unauthorized)?;
        if header.alg != Algorithm::EdDSA {
            return Err(ApiError::Unauthorized);
        }
        let kid = header.kid.filter(|k| k.len() <= 128).ok_or(ApiError::Unauthorized)?;
        let (issuer, validation, key) = match self.find(&kid) {
            Some(found) => found,
            None => {
                for issuer in &self.issuers {
                    self.refresh(issuer, REFETCH_AFTER).await;
                }
                self.find(&kid).ok_or(ApiError::Unauthorized)?
            }
        };
        let data =
            jsonwebtoken::decode::<Claims>(token, &key.decoding, validation).map_err(|_| ApiError::Unauthorized)?;
        if data.claims.sub.is_empty() || data.claims.sub.len() > 200 {
            return Err(ApiError::Unauthorized);
        }
        let claims = self.as_seen_here(data.claims);
        if let Some(digest) = digest {
            let remembered = Arc::new(Verified { claims: claims.clone(), issuer, kid, x: key.x.clone() });
            self.verified.lock().unwrap_or_else(PoisonError::into_inner).put(digest, remembered);
        }
        Ok(claims)
    }

    /// The claims of the token whose SHA-256 is `digest` if it verified
    /// before, has not expired since (no leeway: past `exp` the full check
    /// runs, with its leeway) and its issuer still has the key that checked
    /// it under the same `kid`.
    fn verified_before(&self, digest: &[u8; 32]) -> Option<Claims> {
        let v = self.verified.lock().unwrap_or_else(PoisonError::into_inner).get(digest)?.clone();
        let key_kept = self.issuers[v.issuer].keys.read().expect("keys lock").get(&v.kid).is_some_and(|k| k.x == v.x);
        if v.claims.exp > chrono::Utc::now().timestamp() && key_kept {
            return Some(v.claims.clone());
        }
        self.verified.lock().unwrap_or_else(PoisonError::into_inner).pop(digest);
        None
    }

    /// A trusted issuer's account is a buyer here, whatever role it holds
    /// where it signed up (its admins are not ours), and an account of its
    /// own, `{iss}:{sub}`, never one of this platform's accounts.
    fn as_seen_here(&self, mut claims: Claims) -> Claims {
        if claims.iss != self.issuers[0].name {
            claims.role = super::Role::Buyer;
            claims.sub = format!("{}:{}", claims.iss, claims.sub);
        }
        claims
    }

    /// The validation and key of the issuer that published `kid`.
    fn find(&self, kid: &str) -> Option<(usize, &Validation, Arc<PublicKey>)> {
        self.issuers
            .iter()
            .enumerate()
            .find_map(|(n, i)| i.keys.read().expect("keys lock").get(kid).map(|k| (n, &i.validation, k.clone())))
    }

    /// Fetch an issuer's keys unless they were fetched less than `fresh` ago.
    async fn refresh(&self, issuer: &Issuer, fresh: Duration) {
        let Some(url) = &issuer.url else { return };
        let mut fetched = issuer.fetched.lock().await;
        if fetched.is_some_and(|at| at.elapsed() < fresh) {
            return;
        }
        *fetched = Some(Instant::now());
        match self.fetch(url).await {
            Ok(keys) => *issuer.keys.write().expect("keys lock") = keys,
            Err(e) => {
                metrics::counter!("auth_key_fetch_failures_total", "issuer" => issuer.name.clone()).increment(1);
                tracing::warn!(issuer = %issuer.name, %url, error = %e, "cannot fetch token keys; keeping the last ones");
            }
        }
    }

    async fn fetch(&self, url: &str) -> anyhow::Result<Keys> {
        let set: JwkSet = self.http.get(url).send().await?.error_for_status()?.json().await?;
        Ok(decoding_keys(&set, self.refuse_dev_key))
    }
}

impl Issuer {
    fn new(name: &str, audience: &str, url: Option<&str>, keys: Keys) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = 5;
        validation.set_audience(&[audience]);
        validation.set_issuer(&[name]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        Self {
            name: name.to_string(),
            url: url.map(String::from),
            keys: RwLock::new(keys),
            validation,
            fetched: tokio::sync::Mutex::new(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::tests::{claims, settings_with};

    #[tokio::test]
    async fn a_token_verified_before_fails_once_its_key_leaves_the_issuers_set() {
        let key = SigningKey::generate();
        let verifier = Verifier::new(&settings_with(&[&key]));
        let token = key.sign(&claims("ticktak-a", 60));
        let first = verifier.verify(&token).await.unwrap();
        assert_eq!(verifier.verify(&token).await.unwrap(), first);
        // The key is withdrawn (a refresh found it gone): the remembered
        // token verifies no more.
        verifier.issuers[0].keys.write().unwrap().clear();
        assert!(verifier.verify(&token).await.is_err());
    }

    #[tokio::test]
    async fn a_remembered_token_fails_when_its_kid_names_another_key_or_only_another_issuers_key() {
        let (key, other) = (SigningKey::generate(), SigningKey::generate());
        let mut settings = settings_with(&[&key]);
        settings.trusted = vec![("ticktak-b".into(), "http://127.0.0.1:9/jwks".into())];
        let verifier = Verifier::new(&settings);
        let token = key.sign(&claims("ticktak-a", 60));
        let kid = key.kid().to_string();
        let public = |k: &SigningKey| crate::auth::jwks(&[k]);
        let set = |issuer: usize, keys: Keys| *verifier.issuers[issuer].keys.write().unwrap() = keys;
        let under_kid = |k: &SigningKey| -> Keys {
            decoding_keys(&public(k), false).into_values().map(|v| (kid.clone(), v)).collect()
        };
        assert!(verifier.verify(&token).await.is_ok());
        // The same kid now names another key of this issuer.
        set(0, under_kid(&other));
        assert!(verifier.verify(&token).await.is_err(), "the kid names another key now");
        // Remembered again, then withdrawn here while another issuer lists
        // the same kid (with the very key): not this token's issuer.
        set(0, under_kid(&key));
        assert!(verifier.verify(&token).await.is_ok());
        assert_eq!(verifier.verified.lock().unwrap().len(), 1);
        set(0, Keys::new());
        set(1, under_kid(&key));
        assert!(verifier.verify(&token).await.is_err(), "only another issuer has the key");
    }

    #[tokio::test]
    async fn long_tokens_are_verified_every_time() {
        let key = SigningKey::generate();
        let verifier = Verifier::new(&settings_with(&[&key]));
        let mut long = claims("ticktak-a", 60);
        long.jti = "j".repeat(REMEMBERED_TOKEN_BYTES);
        assert!(verifier.verify(&key.sign(&long)).await.is_ok());
        assert!(verifier.verified.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_remembered_token_past_its_expiry_is_checked_again_and_refused() {
        let key = SigningKey::generate();
        let verifier = Verifier::new(&settings_with(&[&key]));
        let expired = claims("ticktak-a", -60);
        let token = key.sign(&expired);
        let AlgorithmParameters::OctetKeyPair(p) = key.jwk().algorithm else { unreachable!() };
        let remembered = Verified { claims: expired, issuer: 0, kid: key.kid().to_string(), x: p.x };
        verifier.verified.lock().unwrap().put(token_digest(&token), Arc::new(remembered));
        assert!(verifier.verify(&token).await.is_err());
        assert!(verifier.verified.lock().unwrap().is_empty(), "forgotten");
    }

    #[tokio::test]
    async fn refused_tokens_are_not_remembered() {
        let (key, other) = (SigningKey::generate(), SigningKey::generate());
        let verifier = Verifier::new(&settings_with(&[&key]));
        let forged = other.sign(&claims("ticktak-a", 60));
        for _ in 0..2 {
            assert!(verifier.verify(&forged).await.is_err());
        }
        assert!(verifier.verified.lock().unwrap().is_empty());
    }
}
