//! Settings of the security service beyond the common ones.

use std::time::Duration;

use ticktak_kit::auth::SigningKey;
use ticktak_kit::config::Env;
use ticktak_kit::{ConfigError, Settings};

#[derive(Debug, Clone)]
pub struct SecurityConfig {
    /// Signs access tokens (`JWT_SIGNING_KEY`, PKCS#8 Ed25519 in PEM or one
    /// base64 line; the public development key when unset, refused in
    /// production). `make up` generates one per platform.
    pub signing_key: SigningKey,
    /// The key before the last rotation (`JWT_PREVIOUS_SIGNING_KEY`): no
    /// longer signs, still published so its tokens stay valid until expiry.
    pub previous_key: Option<SigningKey>,
    /// Lifetime of access tokens (`ACCESS_TOKEN_TTL_SECS`, default 900).
    pub access_ttl: Duration,
    /// Lifetime of refresh tokens (`REFRESH_TOKEN_TTL_SECS`, default 30 days).
    pub refresh_ttl: Duration,
    /// The `aud` of issued tokens: this platform, plus the platforms that
    /// accept its sign-ins (`JWT_EXTRA_AUDIENCES`, e.g. `ticktak-b`).
    pub audiences: Vec<String>,
    /// Networks to block from the start (`BLOCKLIST_FILE`, one `CIDR
    /// reason…` per line).
    pub blocklist_file: Option<std::path::PathBuf>,
    /// Whether suspects are challenged and then blocked automatically
    /// (`REPUTATION=on|off`, default on).
    pub reputation: bool,
    /// The web site's address, for the links mailed to buyers (`SITE_URL`;
    /// default the web site on this machine; required in production).
    pub site_url: String,
    /// Where those mails go (`SMTP_URL`, `MAIL_FROM`).
    pub mail: ticktak_kit::mail::MailSettings,
    /// The internal listeners of reservations and payments
    /// (`RESERVATIONS_URL`, `PAYMENTS_URL`; default this platform's ports),
    /// asked for an account's records on export and erasure.
    pub reservations_url: String,
    pub payments_url: String,
}

impl SecurityConfig {
    pub fn from_env(settings: &Settings) -> Result<Self, ConfigError> {
        Self::from(settings, &Env::process())
    }

    pub fn from(settings: &Settings, env: &Env<'_>) -> Result<Self, ConfigError> {
        let key = |var: &str| -> Result<Option<SigningKey>, ConfigError> {
            env.get(var).map(|raw| SigningKey::parse(&raw).map_err(|e| env.error(var, e))).transpose()
        };
        let signing_key = match key("JWT_SIGNING_KEY")? {
            Some(k) if settings.production && k.is_dev() => {
                return Err(env.error("JWT_SIGNING_KEY", "the development key is refused in production"))
            }
            Some(k) => k,
            None if settings.production => return Err(env.error("JWT_SIGNING_KEY", "required in production")),
            None => SigningKey::dev(),
        };
        let previous_key = key("JWT_PREVIOUS_SIGNING_KEY")?;
        if settings.production && previous_key.as_ref().is_some_and(SigningKey::is_dev) {
            return Err(env.error("JWT_PREVIOUS_SIGNING_KEY", "the development key is refused in production"));
        }
        let access: u64 = env.parse_in("ACCESS_TOKEN_TTL_SECS", 900, 1..=86_400)?;
        let refresh: u64 = env.parse_in("REFRESH_TOKEN_TTL_SECS", 30 * 86_400, 60..=365 * 86_400)?;
        // An address named here became admin when anyone registered it, and
        // no address is verified: roles come from an admin or the CLI only.
        if env.get("ADMIN_EMAILS").is_some_and(|v| !v.trim().is_empty()) {
            return Err(env.error(
                "ADMIN_EMAILS",
                "is no longer read: grant roles with `security grant-role EMAIL admin` on the platform's database",
            ));
        }
        let site_url = settings.site_url(env)?;
        let mut audiences = vec![settings.auth.audience.clone()];
        audiences.extend(list(env, "JWT_EXTRA_AUDIENCES").filter(|a| *a != settings.auth.audience));
        Ok(Self {
            signing_key,
            previous_key,
            access_ttl: Duration::from_secs(access),
            refresh_ttl: Duration::from_secs(refresh),
            audiences,
            blocklist_file: env.get("BLOCKLIST_FILE").filter(|p| !p.trim().is_empty()).map(Into::into),
            reputation: match env.string("REPUTATION", "on").as_str() {
                "on" => true,
                "off" => false,
                _ => return Err(env.error("REPUTATION", "must be on or off")),
            },
            site_url,
            mail: ticktak_kit::mail::MailSettings::from_env(settings.production, env)?,
            reservations_url: settings.peer_url(ticktak_kit::Service::Reservations, env)?,
            payments_url: settings.peer_url(ticktak_kit::Service::Payments, env)?,
        })
    }

    /// The keys published at `/.well-known/jwks.json`.
    pub fn public_keys(&self) -> Vec<&SigningKey> {
        std::iter::once(&self.signing_key).chain(self.previous_key.as_ref()).collect()
    }
}

fn list(env: &Env<'_>, var: &str) -> impl Iterator<Item = String> {
    let raw = env.get(var).unwrap_or_default();
    raw.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect::<Vec<_>>().into_iter()
}

#[cfg(test)]
mod tests {
    use ticktak_kit::Service;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env<'static> {
        Env::from_pairs(pairs)
    }

    #[test]
    fn development_signs_with_the_dev_key_production_requires_a_real_one() {
        let dev = env(&[("JWT_EXTRA_AUDIENCES", "ticktak-b")]);
        let settings = Settings::from(Service::Security, &dev).unwrap();
        let c = SecurityConfig::from(&settings, &dev).unwrap();
        assert!(c.signing_key.is_dev());
        assert_eq!(c.audiences, ["ticktak-a", "ticktak-b"]);
        let admins = env(&[("ADMIN_EMAILS", "ops@example.com")]);
        assert_eq!(SecurityConfig::from(&settings, &admins).unwrap_err().var, "ADMIN_EMAILS");
        assert_eq!(c.access_ttl, Duration::from_secs(900));

        let prod = [
            ("APP_ENV", "production"),
            ("INTERNAL_TOKEN", "a-real-internal-token"),
            ("DATABASE_URL", "postgres://ticktak:real-pw@db/ticktak_a"),
            ("SITE_URL", "https://tickets.example.com/"),
            ("SMTP_URL", "smtps://user:pw@smtp.example.com"),
        ];
        let settings = Settings::from(Service::Security, &env(&prod)).unwrap();
        assert_eq!(SecurityConfig::from(&settings, &env(&prod)).unwrap_err().var, "JWT_SIGNING_KEY");
        let with_dev: Vec<_> =
            prod.iter().copied().chain([("JWT_SIGNING_KEY", ticktak_kit::auth::keys::DEV_SIGNING_KEY)]).collect();
        assert_eq!(SecurityConfig::from(&settings, &env(&with_dev)).unwrap_err().var, "JWT_SIGNING_KEY");
        let pem = SigningKey::generate().to_pem();
        let with_real: Vec<_> = prod.iter().copied().chain([("JWT_SIGNING_KEY", pem.as_str())]).collect();
        assert!(!SecurityConfig::from(&settings, &env(&with_real)).unwrap().signing_key.is_dev());
        let dev_previous: Vec<_> = with_real
            .iter()
            .copied()
            .chain([("JWT_PREVIOUS_SIGNING_KEY", ticktak_kit::auth::keys::DEV_SIGNING_KEY)])
            .collect();
        assert_eq!(SecurityConfig::from(&settings, &env(&dev_previous)).unwrap_err().var, "JWT_PREVIOUS_SIGNING_KEY");
        assert_eq!(SecurityConfig::from(&settings, &env(&with_real)).unwrap().site_url, "https://tickets.example.com");
    }

    #[test]
    fn links_point_at_the_web_site_over_tls_in_production() {
        let dev = env(&[("PORT_OFFSET", "100")]);
        let settings = Settings::from(Service::Security, &dev).unwrap();
        assert_eq!(SecurityConfig::from(&settings, &dev).unwrap().site_url, "http://127.0.0.1:9100");
        let pem = SigningKey::generate().to_pem();
        let prod = |site: Option<&'static str>| {
            let mut pairs = vec![
                ("APP_ENV", "production"),
                ("INTERNAL_TOKEN", "a-real-internal-token"),
                ("DATABASE_URL", "postgres://ticktak:real-pw@db/ticktak_a"),
                ("SMTP_URL", "smtps://user:pw@smtp.example.com"),
                ("JWT_SIGNING_KEY", Box::leak(pem.clone().into_boxed_str())),
            ];
            pairs.extend(site.map(|s| ("SITE_URL", s)));
            env(&pairs)
        };
        let settings = Settings::from(Service::Security, &prod(None)).unwrap();
        assert_eq!(SecurityConfig::from(&settings, &prod(None)).unwrap_err().var, "SITE_URL");
        let plain = prod(Some("http://tickets.example.com"));
        assert_eq!(SecurityConfig::from(&settings, &plain).unwrap_err().var, "SITE_URL");
        assert!(SecurityConfig::from(&settings, &prod(Some("https://tickets.example.com"))).is_ok());
    }
}
