//! Configuration from environment variables, with the defaults the README
//! documents. A missing or malformed value becomes one [`ConfigError`] naming
//! the variable; `service::main` prints it on one line and exits non-zero.

use std::net::IpAddr;

use secrecy::{ExposeSecret, SecretString};
use ticktak_core::PlatformId;

pub use crate::env::{ConfigError, Env};

use crate::auth::AuthSettings;
use crate::kafka::{KafkaSettings, Topics};

/// The six services of a platform and their base ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Shop,
    ShopConsumer,
    Reservations,
    Payments,
    Security,
    Analytics,
    /// The web site: pages on top of the other services' public APIs; no
    /// database, no broker.
    Web,
}

impl Service {
    /// The services behind the web site, each with its own database schema
    /// and the broker.
    pub const BACKEND: [Service; 6] = [
        Service::Shop,
        Service::ShopConsumer,
        Service::Reservations,
        Service::Payments,
        Service::Security,
        Service::Analytics,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Service::Shop => "shop",
            Service::ShopConsumer => "shop-consumer",
            Service::Reservations => "reservations",
            Service::Payments => "payments",
            Service::Security => "security",
            Service::Analytics => "analytics",
            Service::Web => "web",
        }
    }

    /// The Postgres schema the service owns.
    pub fn schema(self) -> &'static str {
        match self {
            Service::ShopConsumer => "shop_consumer",
            other => other.name(),
        }
    }

    pub fn base_port(self) -> u16 {
        match self {
            Service::Shop => 3000,
            Service::ShopConsumer => 3010,
            Service::Reservations => 3020,
            Service::Payments => 3040,
            Service::Security => 3050,
            Service::Analytics => 3060,
            Service::Web => 9000,
        }
    }

    /// The variable that overrides the base port, e.g. `SHOP_PORT`.
    pub fn port_var(self) -> String {
        format!("{}_PORT", self.schema().to_ascii_uppercase())
    }

    /// The port of the internal listener (the base port + 5): the service's
    /// public routes plus `/internal/*`, for the platform's own services
    /// only — never published to the host.
    pub fn base_internal_port(self) -> u16 {
        self.base_port() + 5
    }

    /// The variable that overrides the internal port, e.g. `SHOP_INTERNAL_PORT`.
    pub fn internal_port_var(self) -> String {
        format!("{}_INTERNAL_PORT", self.schema().to_ascii_uppercase())
    }
}

/// Development default of the internal credential; production must set
/// `INTERNAL_TOKEN`.
pub const DEV_INTERNAL_TOKEN: &str = "dev-internal-token";

/// The password of the development database role, refused in production.
pub const DEV_DATABASE_PASSWORD: &str = "ticktak";

/// Settings every service reads.
#[derive(Debug, Clone)]
pub struct Settings {
    pub service: Service,
    pub platform_id: PlatformId,
    /// `DATABASE_URL`; a secret (it holds the password).
    pub database_url: SecretString,
    /// Connections of the service's pool (`DATABASE_POOL_SIZE`, default 10).
    pub database_pool_size: u32,
    pub kafka: KafkaSettings,
    pub topics: Topics,
    pub bind_addr: IpAddr,
    pub port_offset: u16,
    /// The port of the public listener (0 = any free port, for tests).
    pub port: u16,
    /// The port of the internal listener (`/internal/*` besides the public
    /// routes; 0 = any free port).
    pub internal_port: u16,
    /// Bearer credential of the internal endpoints (`INTERNAL_TOKEN`).
    pub internal_token: SecretString,
    /// `APP_ENV=production`: development defaults of secrets are refused.
    pub production: bool,
    /// Which access tokens the service accepts.
    pub auth: AuthSettings,
    /// This platform's sales signing key and the market's platform keys
    /// (`PLATFORM_SIGNING_KEY`, `PLATFORM_KEYS`).
    pub trust: crate::kafka::trust::Trust,
    /// Proxies whose `X-Forwarded-For` names the client (`TRUSTED_PROXIES`).
    pub trusted_proxies: crate::client_ip::TrustedProxies,
    /// Where the security service's internal listener is (`SECURITY_URL`).
    pub security_url: String,
    /// Rate limits of the screening layer (`RATE_*`).
    pub screen: crate::screen::ScreenSettings,
    pub log_json: bool,
}

impl Settings {
    pub fn from_env(service: Service) -> Result<Self, ConfigError> {
        Self::from(service, &Env::process())
    }

    pub fn from(service: Service, env: &Env<'_>) -> Result<Self, ConfigError> {
        let platform_id = PlatformId::new(env.string("PLATFORM_ID", "a")).map_err(|e| env.error("PLATFORM_ID", e.0))?;
        let database_url =
            env.string("DATABASE_URL", &format!("postgres://ticktak:ticktak@127.0.0.1:5432/ticktak_{platform_id}"));
        if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
            return Err(env.error("DATABASE_URL", "must start with postgres:// or postgresql://"));
        }
        let database_pool_size: u32 = env.parse_in("DATABASE_POOL_SIZE", 10, 1..=200)?;
        let port_offset: u16 = env.parse("PORT_OFFSET", 0)?;
        let port = Self::port_of(service, port_offset, env)?;
        let internal_port = Self::internal_port_of(service, port_offset, env)?;
        let production = match env.string("APP_ENV", "development").as_str() {
            "development" => false,
            "production" => true,
            _ => return Err(env.error("APP_ENV", "must be development or production")),
        };
        let internal_token = env.string("INTERNAL_TOKEN", DEV_INTERNAL_TOKEN);
        if internal_token.len() < 16 {
            return Err(env.error("INTERNAL_TOKEN", "must be at least 16 characters"));
        }
        if production {
            if internal_token == DEV_INTERNAL_TOKEN {
                return Err(env.error("INTERNAL_TOKEN", "the development default is refused in production"));
            }
            if database_password(&database_url).as_deref() == Some(DEV_DATABASE_PASSWORD) {
                return Err(env.error("DATABASE_URL", "the development password is refused in production"));
            }
        }
        let security_url = match env.get("SECURITY_URL") {
            Some(url) => url,
            None => format!("http://127.0.0.1:{}", Self::internal_port_of(Service::Security, port_offset, env)?),
        };
        let auth = AuthSettings::from_env(platform_id.as_str(), &security_url, production, env)?;
        let trust = crate::kafka::trust::Trust::from_env(&platform_id, service, production, env)?;
        let log_format = env.string("LOG_FORMAT", "text");
        let log_json = match log_format.as_str() {
            "text" => false,
            "json" => true,
            _ => return Err(env.error("LOG_FORMAT", "must be text or json")),
        };
        Ok(Self {
            service,
            kafka: KafkaSettings::from_env(env)?,
            topics: Topics::from_env(env)?,
            platform_id,
            database_url: database_url.into(),
            database_pool_size,
            bind_addr: env.parse("BIND_ADDR", IpAddr::from([127, 0, 0, 1]))?,
            port_offset,
            port,
            internal_port,
            internal_token: internal_token.into(),
            production,
            auth,
            trust,
            trusted_proxies: crate::client_ip::TrustedProxies::from_env(env)?,
            screen: crate::screen::ScreenSettings::from_env(env)?,
            security_url,
            log_json,
        })
    }

    /// The internal credential as its clients send it.
    pub fn internal_token(&self) -> &str {
        self.internal_token.expose_secret()
    }

    /// Where this platform's services reach another one: its `*_URL`
    /// variable (e.g. `SHOP_URL`), else its internal port on this machine.
    /// The internal listener serves the public routes too.
    pub fn peer_url(&self, peer: Service, env: &Env<'_>) -> Result<String, ConfigError> {
        let var = format!("{}_URL", peer.schema().to_ascii_uppercase());
        match env.get(&var) {
            Some(url) => Ok(url),
            None => Ok(format!("http://127.0.0.1:{}", Self::internal_port_of(peer, self.port_offset, env)?)),
        }
    }

    /// The web site's address, for the links mailed to buyers (`SITE_URL`;
    /// `https://` and required in production; in development the site's
    /// port on this machine).
    pub fn site_url(&self, env: &Env<'_>) -> Result<String, ConfigError> {
        match env.get("SITE_URL") {
            Some(url) if url.starts_with("https://") || (!self.production && url.starts_with("http://")) => {
                Ok(url.trim_end_matches('/').to_string())
            }
            Some(_) => Err(env.error("SITE_URL", "must be the web site's https:// address")),
            None if self.production => Err(env.error("SITE_URL", "required in production")),
            None => Ok(format!("http://127.0.0.1:{}", Self::port_of(Service::Web, self.port_offset, env)?)),
        }
    }

    /// The internal port of any service of this platform: its
    /// `*_INTERNAL_PORT` variable or its base internal port, plus `PORT_OFFSET`.
    pub fn internal_port_of(service: Service, offset: u16, env: &Env<'_>) -> Result<u16, ConfigError> {
        let var = service.internal_port_var();
        let base: u16 = env.parse(&var, service.base_internal_port())?;
        base.checked_add(offset).ok_or_else(|| env.error("PORT_OFFSET", format!("{var} + PORT_OFFSET exceeds 65535")))
    }

    /// The port of any service of this platform: its `*_PORT` variable or its
    /// base port, plus `PORT_OFFSET`.
    pub fn port_of(service: Service, offset: u16, env: &Env<'_>) -> Result<u16, ConfigError> {
        let var = service.port_var();
        let base: u16 = env.parse(&var, service.base_port())?;
        base.checked_add(offset).ok_or_else(|| env.error("PORT_OFFSET", format!("{var} + PORT_OFFSET exceeds 65535")))
    }
}

/// The password in a `postgres://user:password@host/db` URL.
fn database_password(url: &str) -> Option<String> {
    let authority = url.split_once("://")?.1.split('/').next()?;
    let credentials = authority.rsplit_once('@')?.0;
    Some(credentials.split_once(':')?.1.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env<'static> {
        Env::from_pairs(pairs)
    }

    #[test]
    fn defaults_give_a_runnable_platform_a() {
        let s = Settings::from(Service::Reservations, &env(&[])).unwrap();
        assert_eq!(s.platform_id.as_str(), "a");
        assert_eq!(s.port, 3020);
        assert_eq!(s.database_url.expose_secret(), "postgres://ticktak:ticktak@127.0.0.1:5432/ticktak_a");
        assert_eq!(s.kafka.brokers, "127.0.0.1:9092");
        assert_eq!(s.topics.sales, "fifa-world-cup-2022-ticket-sales-dev");
        assert_eq!(s.topics.masterlist, "fifa-world-cup-2022-masterlist-dev");
        assert_eq!((s.kafka.linger_ms, s.kafka.fetch_wait_ms, s.kafka.idempotence), (10, 100, true));
        let e = env(&[("KAFKA_LINGER_MS", "5"), ("KAFKA_FETCH_WAIT_MS", "50"), ("KAFKA_IDEMPOTENCE", "false")]);
        let s = Settings::from(Service::Reservations, &e).unwrap();
        assert_eq!((s.kafka.linger_ms, s.kafka.fetch_wait_ms, s.kafka.idempotence), (5, 50, false));
    }

    #[test]
    fn port_offset_shifts_every_port_and_platform_names_the_database() {
        let e = env(&[("PORT_OFFSET", "100"), ("PLATFORM_ID", "b")]);
        let s = Settings::from(Service::Analytics, &e).unwrap();
        assert_eq!(s.port, 3160);
        assert!(s.database_url.expose_secret().ends_with("/ticktak_b"));
        assert_eq!(Settings::port_of(Service::Shop, 100, &e).unwrap(), 3100);
    }

    #[test]
    fn peers_are_found_by_url_variable_or_shifted_port() {
        let e = env(&[("PORT_OFFSET", "100"), ("SHOP_URL", "http://shop:3000")]);
        let s = Settings::from(Service::ShopConsumer, &e).unwrap();
        assert_eq!(s.peer_url(Service::Shop, &e).unwrap(), "http://shop:3000");
        assert_eq!(s.peer_url(Service::Reservations, &e).unwrap(), "http://127.0.0.1:3125");
        assert_eq!(s.internal_port, 3115);
    }

    #[test]
    fn malformed_values_name_the_variable() {
        for (var, value) in [
            ("PORT_OFFSET", "abc"),
            ("PORT_OFFSET", "65000"),
            ("SHOP_PORT", "-1"),
            ("PLATFORM_ID", "Not Valid"),
            ("DATABASE_URL", "mysql://x"),
            ("KAFKA_PARTITIONS", "0"),
            ("DATABASE_POOL_SIZE", "0"),
            ("KAFKA_LINGER_MS", "fast"),
            ("KAFKA_FETCH_WAIT_MS", "0"),
            ("KAFKA_IDEMPOTENCE", "maybe"),
            ("KAFKA_SECURITY_PROTOCOL", "carrier-pigeon"),
            ("BIND_ADDR", "here"),
            ("LOG_FORMAT", "xml"),
            ("INTERNAL_TOKEN", "short"),
            ("APP_ENV", "staging"),
            ("JWT_PUBLIC_KEYS", "{}"),
            ("JWT_TRUSTED_ISSUERS", "ticktak-b"),
            ("TOPIC_ENV", "has space"),
        ] {
            let err = Settings::from(Service::Shop, &env(&[(var, value)])).unwrap_err();
            assert_eq!(err.var, var, "{err}");
            assert!(err.to_string().starts_with(&format!("invalid configuration: {var}:")));
        }
    }

    #[test]
    fn production_refuses_development_secrets_and_debug_output_hides_secrets() {
        let e = env(&[("APP_ENV", "production")]);
        assert_eq!(Settings::from(Service::Shop, &e).unwrap_err().var, "INTERNAL_TOKEN");
        let e = env(&[("APP_ENV", "production"), ("INTERNAL_TOKEN", "a-real-internal-token")]);
        assert_eq!(Settings::from(Service::Shop, &e).unwrap_err().var, "DATABASE_URL");
        let dev_keys = serde_json::to_string(&crate::auth::jwks(&[&crate::auth::SigningKey::dev()])).unwrap();
        let sales_key = crate::auth::SigningKey::generate();
        let (sales_pem, platform_keys) = (
            sales_key.to_pem(),
            crate::kafka::trust::Trust::new(sales_key, crate::kafka::trust::PlatformKeys::Development)
                .public_entry(&PlatformId::new("a").unwrap()),
        );
        let without_sales_keys = [
            ("APP_ENV", "production"),
            ("INTERNAL_TOKEN", "a-real-internal-token"),
            ("DATABASE_URL", "postgres://ticktak:s3cr3t-pw@db:5432/ticktak_a"),
        ];
        assert_eq!(
            Settings::from(Service::ShopConsumer, &env(&without_sales_keys)).unwrap_err().var,
            "PLATFORM_SIGNING_KEY"
        );
        assert!(
            Settings::from(Service::Shop, &env(&without_sales_keys)).is_ok(),
            "the shop neither signs nor reads sales"
        );
        let real = [
            ("APP_ENV", "production"),
            ("INTERNAL_TOKEN", "a-real-internal-token"),
            ("DATABASE_URL", "postgres://ticktak:s3cr3t-pw@db:5432/ticktak_a"),
            ("KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
            ("KAFKA_SASL_USERNAME", "platform-a"),
            ("KAFKA_SASL_PASSWORD", "kafka-pw-secret"),
            ("PLATFORM_SIGNING_KEY", sales_pem.as_str()),
            ("PLATFORM_KEYS", platform_keys.as_str()),
        ];
        let s = Settings::from(Service::Shop, &env(&real)).unwrap();
        let debug = format!("{s:?}");
        let seed_line = sales_pem.lines().nth(1).unwrap();
        for secret in ["a-real-internal-token", "s3cr3t-pw", "kafka-pw-secret", seed_line] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
        let with_dev_keys: Vec<_> = real.iter().copied().chain([("JWT_PUBLIC_KEYS", dev_keys.as_str())]).collect();
        assert_eq!(Settings::from(Service::Shop, &env(&with_dev_keys)).unwrap_err().var, "JWT_PUBLIC_KEYS");
    }

    #[test]
    fn sasl_settings_require_credentials() {
        let e = env(&[("KAFKA_SECURITY_PROTOCOL", "SASL_SSL"), ("KAFKA_SASL_MECHANISM", "PLAIN")]);
        let err = Settings::from(Service::Shop, &e).unwrap_err();
        assert_eq!(err.var, "KAFKA_SASL_USERNAME");
    }
}
