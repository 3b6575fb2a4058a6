//! The visitor's session, in cookies:
//!
//! - `tt_access`: the access token the security service issued at sign-in
//!   (HttpOnly, SameSite=Lax, Secure with `COOKIE_SECURE`); every page
//!   calls the other services with it.
//! - `tt_refresh`: the single-use refresh token; when the access token has
//!   expired, the next request exchanges it for a new pair. Requests that
//!   overlap (a page and the next click, two tabs) share that exchange
//!   ([`Renewals`]): the security service would take a second use of the
//!   token for theft and sign the visitor out.
//! - `tt_csrf`: a random value (SameSite=Strict). Every form carries, in a
//!   hidden field, an HMAC of it and of the signed-in account (signed
//!   double-submit, [`form_value`]); a POST whose field differs is refused.
//!   Knowing or planting the cookie is not enough to forge a form: the
//!   value is bound to the session and made with a key only the site has.
//!
//! - `tt_cart`: the lines of the visitor's cart until they hold them
//!   (`pages::cart`; nothing secret, checked again when held).
//!
//! [`layer`] reads them on every request and hands the handlers a
//! [`Visitor`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use cookie::{Cookie, SameSite};
use ticktak_contracts::accounts::{RefreshRequest, TokenPair};
use ticktak_kit::auth::{Claims, Role};
use ticktak_kit::screen::Screened;

use crate::apis::As;
use crate::error::WebError;
use crate::AppState;

pub const ACCESS: &str = "tt_access";
pub const REFRESH: &str = "tt_refresh";
pub const CSRF: &str = "tt_csrf";
/// The cart's lines before they are held (`pages::cart`).
pub const CART: &str = "tt_cart";

/// Who is asking for a page.
#[derive(Debug, Clone)]
pub struct Visitor {
    /// The signed-in account, from a verified access token.
    pub claims: Option<Claims>,
    pub token: Option<String>,
    /// The value every form of this visitor carries ([`form_value`]).
    pub csrf: String,
    /// The client address the screening layer settled on.
    pub ip: Option<IpAddr>,
}

impl Visitor {
    /// Calls to the other services on this visitor's behalf.
    pub fn who(&self) -> As<'_> {
        As { token: self.token.as_deref(), ip: self.ip, solution: None }
    }

    /// The account, or a trip to the sign-in page.
    pub fn account(&self) -> Result<&Claims, WebError> {
        self.claims.as_ref().ok_or(WebError::SignIn)
    }

    /// The account when it has one of `roles`; 403 otherwise.
    pub fn with_role(&self, roles: &[Role]) -> Result<&Claims, WebError> {
        let claims = self.account()?;
        match roles.contains(&claims.role) {
            true => Ok(claims),
            false => Err(WebError::Forbidden("This page is for staff of the platform only.".into())),
        }
    }

    /// The form's copy of the CSRF value must equal the cookie's.
    pub fn check_csrf(&self, sent: &str) -> Result<(), WebError> {
        let (a, b) = (self.csrf.as_bytes(), sent.as_bytes());
        let same = a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0;
        match same {
            true => Ok(()),
            false => Err(WebError::bad_request("This form has expired. Go back, reload the page and try again.")),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Visitor {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Visitor>().cloned().ok_or(WebError::Unavailable)
    }
}

/// The key of form values, derived from the site's internal credential
/// (one secret to keep, a key of its own for this use).
pub fn form_key(internal_token: &str) -> ring::hmac::Key {
    let root = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, internal_token.as_bytes());
    let derived = ring::hmac::sign(&root, b"ticktak-web-csrf-v1");
    ring::hmac::Key::new(ring::hmac::HMAC_SHA256, derived.as_ref())
}

/// What a form of this session carries: HMAC of the CSRF cookie and the
/// signed-in account (`""` before sign-in), URL-safe base64.
pub fn form_value(key: &ring::hmac::Key, cookie: &str, account: &str) -> String {
    let tag = ring::hmac::sign(key, format!("{cookie}|{account}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag.as_ref())
}

/// 32 random bytes, URL-safe base64.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).expect("the system's random source");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn cookie_of(name: &'static str, value: String, same_site: SameSite, secure: bool) -> Cookie<'static> {
    Cookie::build((name, value)).path("/").http_only(true).same_site(same_site).secure(secure).build()
}

fn removal(name: &'static str, secure: bool) -> Cookie<'static> {
    let mut c = cookie_of(name, String::new(), SameSite::Lax, secure);
    c.make_removal();
    c
}

/// The cookies of a signed-in session from the security service's token
/// pair (`{"accessToken", "refreshToken"}`).
pub fn signed_in(pair: &TokenPair, secure: bool) -> Vec<Cookie<'static>> {
    vec![
        cookie_of(ACCESS, pair.access_token.clone(), SameSite::Lax, secure),
        cookie_of(REFRESH, pair.refresh_token.clone(), SameSite::Lax, secure),
    ]
}

/// The cookies that end a session.
pub fn signed_out(secure: bool) -> Vec<Cookie<'static>> {
    vec![removal(ACCESS, secure), removal(REFRESH, secure)]
}

/// Put `cookies` on `headers` as `Set-Cookie`.
pub fn set(headers: &mut HeaderMap, cookies: &[Cookie<'static>]) {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c.to_string()) {
            headers.append(SET_COOKIE, v);
        }
    }
}

/// A cookie of the request that only this site reads (HttpOnly,
/// SameSite=Lax), e.g. the cart; `value` empty removes it.
pub fn site_cookie(name: &'static str, value: String, secure: bool) -> Cookie<'static> {
    if value.is_empty() {
        return removal(name, secure);
    }
    cookie_of(name, value, SameSite::Lax, secure)
}

/// The value of cookie `name` of the request.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    cookies(headers).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// The refresh token of the request, for signing out.
pub fn refresh_token(headers: &HeaderMap) -> Option<String> {
    cookies(headers).into_iter().find(|(k, _)| k == REFRESH).map(|(_, v)| v)
}

fn cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .map(|c| (c.name().to_string(), c.value().to_string()))
        .collect()
}

/// Read the session, refresh an expired access token, hand the handler a
/// [`Visitor`], and set whatever cookies changed.
pub async fn layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let jar = cookies(req.headers());
    let get = |name: &str| jar.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
    let secure = state.config.secure_cookies;
    let ip = req.extensions().get::<Screened>().map(Screened::ip);
    let mut changed = Vec::new();
    let csrf = match get(CSRF) {
        Some(v) if v.len() == 43 => v,
        _ => {
            let v = random_token();
            changed.push(cookie_of(CSRF, v.clone(), SameSite::Strict, secure));
            v
        }
    };
    let mut token = get(ACCESS);
    let mut claims = match &token {
        Some(t) => state.verifier.verify(t).await.ok(),
        None => None,
    };
    if claims.is_none() {
        token = None;
        match get(REFRESH) {
            Some(refresh) => match state.renewals.renew(&state, &refresh, ip).await {
                Some((pair, fresh)) => {
                    token = Some(pair.access_token.clone());
                    claims = Some(fresh);
                    changed.extend(signed_in(&pair, secure));
                }
                None => changed.extend(signed_out(secure)),
            },
            None if get(ACCESS).is_some() => changed.push(removal(ACCESS, secure)),
            None => {}
        }
    }
    let account = claims.as_ref().map_or("", |c| c.sub.as_str());
    let csrf = form_value(&state.csrf_key, &csrf, account);
    req.extensions_mut().insert(Visitor { claims, token, csrf, ip });
    let mut res = next.run(req).await;
    // A handler's own cookies (signing in or out) win over ours.
    let own: Vec<String> = res
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split('=').next().map(str::to_string))
        .collect();
    changed.retain(|c| !own.iter().any(|name| name == c.name()));
    set(res.headers_mut(), &changed);
    res
}

/// How long the answer to one refresh token is kept for the requests that
/// still carry it: those sent before the new cookies reached the browser.
const RENEWAL_KEPT: Duration = Duration::from_secs(30);
/// Renewals kept at most (beyond it, refreshes are not shared).
const RENEWALS_KEPT_MAX: usize = 10_000;

type Renewal = Option<(TokenPair, Claims)>;
/// One exchange, shared by the requests that wait for it.
type Shared = Arc<tokio::sync::OnceCell<Renewal>>;

/// Recent exchanges of refresh tokens, by the token's SHA-256: each token is
/// exchanged once and the answer handed to every request that carries it
/// within [`RENEWAL_KEPT`].
#[derive(Default)]
pub struct Renewals {
    recent: Mutex<HashMap<Vec<u8>, (Instant, Shared)>>,
}

impl Renewals {
    async fn renew(&self, state: &AppState, refresh: &str, ip: Option<IpAddr>) -> Renewal {
        let key = ring::digest::digest(&ring::digest::SHA256, refresh.as_bytes()).as_ref().to_vec();
        let cell = {
            let mut recent = self.recent.lock().expect("renewals lock");
            recent.retain(|_, (at, _)| at.elapsed() < RENEWAL_KEPT);
            match recent.get(&key) {
                Some((_, cell)) => Some(cell.clone()),
                None if recent.len() < RENEWALS_KEPT_MAX => {
                    let cell = Arc::new(tokio::sync::OnceCell::new());
                    recent.insert(key, (Instant::now(), cell.clone()));
                    Some(cell)
                }
                None => None,
            }
        };
        match cell {
            Some(cell) => cell.get_or_init(|| renew(state, refresh, ip)).await.clone(),
            None => renew(state, refresh, ip).await,
        }
    }
}

/// A new token pair for `refresh`, and its verified claims.
async fn renew(state: &AppState, refresh: &str, ip: Option<IpAddr>) -> Renewal {
    let url = format!("{}/api/auth/refresh", state.config.security);
    let who = As { token: None, ip, solution: None };
    let body = RefreshRequest { refresh_token: refresh.to_string() };
    let pair = state.apis.post_as::<TokenPair>(url, who, &body).await.ok()?;
    let claims = state.verifier.verify(&pair.access_token).await.ok()?;
    Some((pair, claims))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visitor(csrf: &str) -> Visitor {
        Visitor { claims: None, token: None, csrf: csrf.into(), ip: None }
    }

    #[test]
    fn a_form_value_is_bound_to_the_cookie_the_account_and_the_key() {
        let key = form_key("internal secret");
        let cookie = random_token();
        let mine = form_value(&key, &cookie, "account-1");
        assert_eq!(mine, form_value(&key, &cookie, "account-1"));
        assert_ne!(mine, cookie, "the cookie's own value is not the form's");
        assert_ne!(mine, form_value(&key, &cookie, "account-2"));
        assert_ne!(mine, form_value(&key, &random_token(), "account-1"));
        assert_ne!(mine, form_value(&form_key("another secret"), &cookie, "account-1"));
    }

    #[test]
    fn a_form_passes_only_with_the_cookies_csrf_value() {
        let v = visitor(&random_token());
        assert!(v.check_csrf(&v.csrf.clone()).is_ok());
        assert!(v.check_csrf("").is_err());
        assert!(v.check_csrf(&random_token()).is_err());
    }

    #[test]
    fn session_cookies_are_http_only_and_same_site() {
        let pair = TokenPair {
            access_token: "a.b.c".into(),
            refresh_token: "r".into(),
            expires_in: 900,
            token_type: "Bearer".into(),
        };
        let set = signed_in(&pair, true);
        let text: Vec<String> = set.iter().map(|c| c.to_string()).collect();
        assert!(text[0].starts_with("tt_access=a.b.c"), "{text:?}");
        for t in &text {
            assert!(
                t.contains("HttpOnly") && t.contains("SameSite=Lax") && t.contains("Secure") && t.contains("Path=/"),
                "{t}"
            );
        }
        assert!(signed_out(false)[0].to_string().contains("Max-Age=0"));
    }

    #[test]
    fn cookies_are_read_from_every_cookie_header() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("tt_csrf=x; tt_access=y"));
        h.append(COOKIE, HeaderValue::from_static("tt_refresh=z"));
        assert_eq!(refresh_token(&h).as_deref(), Some("z"));
        assert_eq!(cookies(&h).len(), 3);
    }
}
