//! The web site's own settings: where the other services' public APIs are,
//! and how the browser reaches Stripe.

use ticktak_kit::config::{ConfigError, Env};
use ticktak_kit::{Service, Settings};

/// Stripe.js as the development stand-in serves it.
pub const DEV_STRIPE_JS_URL: &str = "http://127.0.0.1:8420/js.stripe.com/v3/";
/// Any `pk_` key satisfies the stand-in.
pub const DEV_STRIPE_PUBLISHABLE_KEY: &str = "pk_test_ticktak_development";
/// The contact address of development (`.example` never delivers).
pub const DEV_CONTACT_EMAIL: &str = "help@ticktak.example";

#[derive(Debug, Clone)]
pub struct WebConfig {
    /// The public base URLs of the services the pages are built on
    /// (`SHOP_PUBLIC_URL`, …; default the service's public port on this
    /// machine). Calls carry the visitor's address in `X-Forwarded-For`, so
    /// those services screen the visitor, not the web site: list the web
    /// site's address in their `TRUSTED_PROXIES`.
    pub shop: String,
    pub reservations: String,
    pub payments: String,
    pub security: String,
    pub analytics: String,
    /// Where the browser loads Stripe.js from (`STRIPE_JS_URL`).
    pub stripe_js_url: String,
    /// The publishable key Stripe.js is started with (`STRIPE_PUBLISHABLE_KEY`).
    pub stripe_publishable_key: String,
    /// Cookies only over TLS (`COOKIE_SECURE`, default on in production).
    pub secure_cookies: bool,
    /// Where buyers write to the platform's operator (`CONTACT_EMAIL`,
    /// shown on `/contact`; required in production).
    pub contact_email: String,
}

impl WebConfig {
    pub fn from(settings: &Settings, env: &Env<'_>) -> Result<Self, ConfigError> {
        let public = |service: Service| -> Result<String, ConfigError> {
            let var = format!("{}_PUBLIC_URL", service.schema().to_ascii_uppercase());
            match env.get(&var) {
                Some(url) => Ok(url.trim_end_matches('/').to_string()),
                None => Ok(format!("http://127.0.0.1:{}", Settings::port_of(service, settings.port_offset, env)?)),
            }
        };
        let stripe_js_url = env.string("STRIPE_JS_URL", DEV_STRIPE_JS_URL);
        let stripe_publishable_key = env.string("STRIPE_PUBLISHABLE_KEY", DEV_STRIPE_PUBLISHABLE_KEY);
        if !stripe_publishable_key.starts_with("pk_") {
            return Err(env.error("STRIPE_PUBLISHABLE_KEY", "must be a publishable key (pk_…)"));
        }
        if settings.production && stripe_publishable_key == DEV_STRIPE_PUBLISHABLE_KEY {
            return Err(env.error("STRIPE_PUBLISHABLE_KEY", "the development default is refused in production"));
        }
        if stripe_origin_of(&stripe_js_url).is_none() {
            return Err(env.error("STRIPE_JS_URL", "must be an http(s) URL"));
        }
        let secure_cookies =
            match env.string("COOKIE_SECURE", if settings.production { "true" } else { "false" }).as_str() {
                "true" => true,
                "false" => false,
                _ => return Err(env.error("COOKIE_SECURE", "must be true or false")),
            };
        let contact_email = ticktak_core::text::email(&env.string("CONTACT_EMAIL", DEV_CONTACT_EMAIL))
            .map(str::to_string)
            .ok_or_else(|| env.error("CONTACT_EMAIL", "must be an e-mail address"))?;
        if settings.production && contact_email == DEV_CONTACT_EMAIL {
            return Err(
                env.error("CONTACT_EMAIL", "set the address buyers write to (the development default is refused)")
            );
        }
        Ok(Self {
            shop: public(Service::Shop)?,
            reservations: public(Service::Reservations)?,
            payments: public(Service::Payments)?,
            security: public(Service::Security)?,
            analytics: public(Service::Analytics)?,
            stripe_js_url,
            stripe_publishable_key,
            secure_cookies,
            contact_email,
        })
    }

    /// The origin Stripe.js comes from and talks to (for the
    /// Content-Security-Policy).
    pub fn stripe_origin(&self) -> String {
        stripe_origin_of(&self.stripe_js_url).unwrap_or_default()
    }
}

/// `scheme://host[:port]` of an http(s) URL.
fn stripe_origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if !(scheme == "http" || scheme == "https") {
        return None;
    }
    let host = rest.split('/').next().filter(|h| !h.is_empty())?;
    Some(format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<WebConfig, ConfigError> {
        let env = Env::from_pairs(pairs);
        let settings = Settings::from(Service::Web, &env).unwrap();
        WebConfig::from(&settings, &env)
    }

    #[test]
    fn peers_default_to_their_public_ports_shifted_by_the_offset() {
        let c = config(&[("PORT_OFFSET", "100")]).unwrap();
        assert_eq!(c.shop, "http://127.0.0.1:3100");
        assert_eq!(c.analytics, "http://127.0.0.1:3160");
        let c = config(&[("SHOP_PUBLIC_URL", "https://shop.example/")]).unwrap();
        assert_eq!(c.shop, "https://shop.example");
    }

    #[test]
    fn stripe_settings_are_checked() {
        assert_eq!(config(&[]).unwrap().stripe_origin(), "http://127.0.0.1:8420");
        assert_eq!(config(&[("STRIPE_PUBLISHABLE_KEY", "sk_live_x")]).unwrap_err().var, "STRIPE_PUBLISHABLE_KEY");
        assert_eq!(config(&[("STRIPE_JS_URL", "javascript:alert(1)")]).unwrap_err().var, "STRIPE_JS_URL");
        assert_eq!(config(&[("COOKIE_SECURE", "maybe")]).unwrap_err().var, "COOKIE_SECURE");
    }

    #[test]
    fn the_contact_address_is_an_address() {
        assert_eq!(config(&[]).unwrap().contact_email, DEV_CONTACT_EMAIL);
        let c = config(&[("CONTACT_EMAIL", " help@fifa-tickets.example ")]).unwrap();
        assert_eq!(c.contact_email, "help@fifa-tickets.example");
        for bad in ["help", "help@localhost", "a b@example.com"] {
            assert_eq!(config(&[("CONTACT_EMAIL", bad)]).unwrap_err().var, "CONTACT_EMAIL", "{bad:?}");
        }
    }
}
