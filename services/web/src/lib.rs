//! web (:9000): the web site. Server-rendered pages (maud) on top of the
//! other services' public APIs, called with the signed-in visitor's token;
//! it owns no inventory logic and no data of its own.
//!
//! - `pages`: one module per part of the site (matches, account, checkout,
//!   my tickets, the admin dashboard, the gate).
//! - `session`: the session and CSRF cookies; `apis`: calls to the other
//!   services; `layout`: the frame of every page; `charts`: SVG charts.
//! - `assets`: the stylesheet and the two small scripts (live availability
//!   and countdowns; card payment with Stripe.js), served by this service.
//!
//! Pages work without JavaScript except for paying. Every response carries
//! a strict Content-Security-Policy (`security_headers`).

pub mod apis;
pub mod assets;
pub mod charts;
pub mod config;
pub mod error;
pub mod layout;
pub mod pages;
pub mod session;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use ticktak_kit::config::Env;
use ticktak_kit::service::{screening_note, Running};
use ticktak_kit::Settings;
use tokio_util::sync::CancellationToken;

use crate::config::WebConfig;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<WebConfig>,
    pub apis: apis::Apis,
    pub verifier: Arc<ticktak_kit::auth::Verifier>,
    /// `Content-Security-Policy` of every page.
    pub csp: HeaderValue,
    /// Refresh tokens exchanged lately, shared by overlapping requests.
    pub renewals: Arc<session::Renewals>,
    /// The key of the forms' CSRF values (`session::form_value`).
    pub csrf_key: Arc<ring::hmac::Key>,
}

pub async fn start(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Running> {
    let config = WebConfig::from(&settings, &Env::process())?;
    start_with(settings, config, shutdown).await
}

/// Start with explicit web settings (tests point it at their services).
pub async fn start_with(settings: Settings, config: WebConfig, shutdown: CancellationToken) -> anyhow::Result<Running> {
    let verifier = ticktak_kit::auth::Verifier::start(&settings.auth, shutdown.clone()).await;
    let csp = HeaderValue::from_str(&content_security_policy(&config.stripe_origin()))?;
    let state = AppState {
        config: Arc::new(config),
        apis: apis::Apis::new()?,
        verifier: verifier.clone(),
        csp,
        renewals: Default::default(),
        csrf_key: Arc::new(session::form_key(settings.internal_token())),
    };
    let screen = Arc::new(
        ticktak_kit::screen::Screen::new(
            settings.service.name(),
            &settings.screen,
            settings.trusted_proxies.clone(),
            settings.internal_token(),
        )
        .with_classes(pages::route_class),
    );
    let public = pages::router()
        .merge(assets::router())
        .layer(axum::middleware::from_fn_with_state(state.clone(), session::layer))
        .layer(axum::middleware::from_fn_with_state(state.clone(), security_headers))
        .with_state(state);
    let ops = ticktak_kit::http::ops_router(
        settings.service.name(),
        vec![("keys", verifier.ready_check())],
        vec![("screening", screening_note(screen.clone()))],
    );
    ticktak_kit::service::serve(&settings, screen, ops, public, axum::Router::new(), shutdown).await
}

/// Scripts, styles and images only from this site; Stripe.js and its calls
/// from Stripe's origin; no framing, no plugins, forms only to this site.
pub fn content_security_policy(stripe_origin: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' {stripe_origin}; connect-src 'self' {stripe_origin}; \
         frame-src {stripe_origin}; img-src 'self' data:; style-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

async fn security_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(HeaderName::from_static("content-security-policy"), state.csp.clone());
    h.insert(HeaderName::from_static("x-content-type-options"), HeaderValue::from_static("nosniff"));
    h.insert(HeaderName::from_static("referrer-policy"), HeaderValue::from_static("same-origin"));
    h.insert(HeaderName::from_static("x-frame-options"), HeaderValue::from_static("DENY"));
    res
}
