//! Settings of the payments service beyond the common ones.

use std::time::Duration;

use secrecy::SecretString;
use ticktak_kit::config::Env;
use ticktak_kit::{ConfigError, Service, Settings};

/// The Stripe stand-in of development (`make up` starts it when
/// `STRIPE_SECRET_KEY` is unset).
pub const STANDIN_API_BASE: &str = "http://127.0.0.1:8420/";
/// Development-only secrets, refused in production.
pub const DEV_STRIPE_SECRET_KEY: &str = "sk_test_ticktak_development";
pub const DEV_WEBHOOK_SECRET: &str = "whsec_ticktak_development";

#[derive(Debug, Clone)]
pub struct PaymentsConfig {
    /// `STRIPE_SECRET_KEY`; unset in development means the stand-in.
    pub stripe_secret_key: SecretString,
    /// `STRIPE_API_BASE`: where the Stripe API is (default api.stripe.com,
    /// or the stand-in when no secret key is set in development). Only the
    /// URL changes: the calls are the same.
    pub stripe_api_base: String,
    /// Verifies `Stripe-Signature` (`STRIPE_WEBHOOK_SECRET`).
    pub webhook_secret: SecretString,
    /// ISO 4217 code, lower case (`PAYMENT_CURRENCY`, default `usd`).
    pub currency: stripe::Currency,
    /// Where reservations listens (`RESERVATIONS_URL`).
    pub reservations_url: String,
    /// How often the reconciler looks at open payments and unfinished
    /// refunds (`RECONCILE_EVERY_SECS`, default 30).
    pub reconcile_every: Duration,
    /// A payment is asked about once it is this old: its webhook had time
    /// to come (`RECONCILE_AFTER_SECS`, default 60).
    pub reconcile_after: Duration,
    /// Where refund notices go (`SMTP_URL`, `MAIL_FROM`).
    pub mail: ticktak_kit::mail::MailSettings,
}

impl PaymentsConfig {
    pub fn from_env(settings: &Settings) -> Result<Self, ConfigError> {
        Self::from(settings, &Env::process())
    }

    pub fn from(settings: &Settings, env: &Env<'_>) -> Result<Self, ConfigError> {
        let production = settings.production;
        let secret_key = env.get("STRIPE_SECRET_KEY");
        let api_base = match (env.get("STRIPE_API_BASE"), &secret_key) {
            (Some(url), _) => url,
            (None, None) if !production => STANDIN_API_BASE.to_string(),
            (None, _) => "https://api.stripe.com/".to_string(),
        };
        if !(api_base.starts_with("http://") || api_base.starts_with("https://")) {
            return Err(env.error("STRIPE_API_BASE", "must be an http(s) URL"));
        }
        let stripe_secret_key = match secret_key {
            Some(k) if production && k == DEV_STRIPE_SECRET_KEY => {
                return Err(env.error("STRIPE_SECRET_KEY", "the development key is refused in production"))
            }
            Some(k) if k.starts_with("sk_") || k.starts_with("rk_") => k,
            Some(_) => return Err(env.error("STRIPE_SECRET_KEY", "must be a Stripe secret key (sk_… or rk_…)")),
            None if production => return Err(env.error("STRIPE_SECRET_KEY", "is required in production")),
            None => DEV_STRIPE_SECRET_KEY.to_string(),
        };
        let webhook_secret = match env.get("STRIPE_WEBHOOK_SECRET") {
            Some(s) if production && s == DEV_WEBHOOK_SECRET => {
                return Err(env.error("STRIPE_WEBHOOK_SECRET", "the development secret is refused in production"))
            }
            Some(s) if !s.is_empty() => s,
            Some(_) => return Err(env.error("STRIPE_WEBHOOK_SECRET", "must not be empty")),
            None if production => return Err(env.error("STRIPE_WEBHOOK_SECRET", "is required in production")),
            None => DEV_WEBHOOK_SECRET.to_string(),
        };
        let currency_code = env.string("PAYMENT_CURRENCY", "usd").to_ascii_lowercase();
        let currency: stripe::Currency = currency_code
            .parse()
            .map_err(|_| env.error("PAYMENT_CURRENCY", format!("unknown currency {currency_code:?}")))?;
        Ok(Self {
            stripe_secret_key: stripe_secret_key.into(),
            stripe_api_base: api_base,
            webhook_secret: webhook_secret.into(),
            currency,
            reservations_url: settings.peer_url(Service::Reservations, env)?,
            reconcile_every: Duration::from_secs(env.parse_in("RECONCILE_EVERY_SECS", 30, 1..=3600)?),
            reconcile_after: Duration::from_secs(env.parse_in("RECONCILE_AFTER_SECS", 60, 0..=86_400)?),
            mail: ticktak_kit::mail::MailSettings::from_env(production, env)?,
        })
    }
}
