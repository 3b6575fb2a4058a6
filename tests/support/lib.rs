//! Helpers of the end-to-end tests: a fresh database, topic names and
//! consumer groups per test; platforms started in-process (on port 0) or as
//! processes; producing to and reading from the real broker.
//!
//! `make test` starts PostgreSQL and a throw-away broker and sets
//! `TEST_DATABASE_URL` and `TEST_KAFKA_BROKERS`.

pub mod broker;
pub mod browser;
pub mod checkout;
pub mod fuzz;
pub mod log;
pub mod mail;
pub mod postgres;
pub mod process;
pub mod simulate;

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use ticktak_core::headers::SaleHeaders;
use ticktak_core::{MasterListMatch, SaleMessage};
use ticktak_kit::config::Env;
use ticktak_kit::kafka::{self, KafkaSettings, Record, Topics};
use ticktak_kit::service::Running;
use ticktak_kit::{Service, Settings};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub fn database_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://ticktak:ticktak@127.0.0.1:5432/postgres".into())
}

static BROKERS_OVERRIDE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The broker every helper uses: a process-wide override (a benchmark that
/// runs its own broker), else `TEST_KAFKA_BROKERS`.
pub fn brokers() -> String {
    if let Some(b) = BROKERS_OVERRIDE.get() {
        return b.clone();
    }
    std::env::var("TEST_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:19092".into())
}

/// Use `addr` as the broker from now on (once per process).
pub fn override_brokers(addr: String) -> bool {
    BROKERS_OVERRIDE.set(addr).is_ok()
}

/// A short unique name for this test's resources.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", &Uuid::now_v7().simple().to_string()[20..])
}

/// The URL of a database name on the test server (created by the service
/// on first connect).
pub fn database_url(name: &str) -> String {
    let admin = database_admin_url();
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin);
    format!("{base}/{name}")
}

/// The environment of one platform of a test: its own database, the
/// test's topic suffix, every port 0.
#[derive(Debug, Clone)]
pub struct PlatformEnv {
    pub platform_id: String,
    pub topic_env: String,
    pub database: String,
    pub extra: HashMap<String, String>,
}

impl PlatformEnv {
    pub fn new(platform_id: &str, topic_env: &str) -> Self {
        Self {
            platform_id: platform_id.into(),
            topic_env: topic_env.into(),
            database: unique(&format!("t_{platform_id}_")),
            extra: HashMap::new(),
        }
    }

    pub fn vars(&self) -> HashMap<String, String> {
        let mut v: HashMap<String, String> = [
            ("PLATFORM_ID", self.platform_id.clone()),
            ("TOPIC_ENV", self.topic_env.clone()),
            ("DATABASE_URL", database_url(&self.database)),
            ("KAFKA_BROKERS", brokers()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for s in Service::BACKEND.into_iter().chain([Service::Web]) {
            v.insert(s.port_var(), "0".into());
            v.insert(s.internal_port_var(), "0".into());
        }
        // Services verify tokens with the development key's public half
        // (no security service needed); tests mint with [`dev_token`].
        v.insert("JWT_PUBLIC_KEYS".into(), dev_jwks());
        // Hundreds of test buyers share 127.0.0.1: rate limits are off
        // unless a test turns them on (`extra`). The blocklist still applies.
        v.insert("RATE_LIMIT_SCALE".into(), "0".into());
        // Likewise, sign-ups and failed sign-ins from 127.0.0.1 are no
        // evidence of anything: reputation is off unless a test turns it on.
        v.insert("REPUTATION".into(), "off".into());
        // Each platform of each test has a data lake of its own.
        let lake = std::env::temp_dir().join(format!("ticktak-lake-{}", self.database));
        v.insert("LAKE_URL".into(), lake.display().to_string());
        v.extend(self.extra.clone());
        v
    }

    /// Give payments' internal listener a fixed port, known before payments
    /// starts, so reservations (started first) can ask it (the order desk).
    pub fn with_payments_port(mut self) -> Self {
        self.extra.insert(Service::Payments.internal_port_var(), process::free_port().to_string());
        self
    }

    /// Where payments' internal listener is, or will be: nowhere unless
    /// [`Self::with_payments_port`] fixed its port.
    pub fn payments_internal_url(&self) -> String {
        let port = self.extra.get(&Service::Payments.internal_port_var()).cloned();
        format!("http://127.0.0.1:{}", port.unwrap_or_else(|| process::free_port().to_string()))
    }

    pub fn settings(&self, service: Service) -> Settings {
        let vars = self.vars();
        Settings::from(service, &Env::from_fn(move |k| vars.get(k).cloned())).expect("test settings are valid")
    }

    pub fn topics(&self) -> Topics {
        self.settings(Service::Shop).topics
    }
}

/// A shop, its reservations service and its shop-consumer running in this
/// process.
pub struct Platform {
    pub env: PlatformEnv,
    pub shop: Running,
    pub reservations: Running,
    pub consumer: Running,
    pub http: reqwest::Client,
}

/// What a test may change about a platform it starts.
pub struct PlatformOptions {
    pub reservations: reservations::config::ReservationConfig,
    /// Whether shop-consumer pushes decisions to reservations (else only
    /// the reservations service's poller brings them).
    pub push_decisions: bool,
}

impl Platform {
    pub async fn start(env: PlatformEnv) -> Self {
        Self::start_with_hold_ttl(env, Duration::from_secs(600)).await
    }

    pub async fn start_with_hold_ttl(env: PlatformEnv, hold_ttl: Duration) -> Self {
        Self::start_configured(env, |o| o.reservations.hold_ttl = hold_ttl).await
    }

    /// Start with the test defaults changed by `adjust`.
    pub async fn start_configured(env: PlatformEnv, adjust: impl FnOnce(&mut PlatformOptions)) -> Self {
        ticktak_kit::telemetry::init_test_logs();
        ticktak_kit::telemetry::init_metrics();
        let shop = shop::start(env.settings(Service::Shop), CancellationToken::new()).await.expect("shop starts");
        let mut options = PlatformOptions {
            reservations: reservations::config::ReservationConfig {
                hold_ttl: Duration::from_secs(600),
                decision_wait: Duration::from_secs(2),
                shop_url: shop.internal_url(),
                // Payments starts after reservations: a test that needs
                // the desk's payments gives it a port ([`PlatformEnv::with_payments_port`]).
                payments_url: env.payments_internal_url(),
                site_url: "http://127.0.0.1:9000".into(),
                sweep_interval: Duration::from_millis(200),
                availability_ttl: Duration::from_millis(100),
                republish_after: Duration::from_secs(10),
                request_timeout: Duration::from_secs(120),
                notices_every: Duration::from_millis(300),
                caps: reservations::store::Caps { tickets_per_match: 4, open_holds: 2 },
                naive: false,
                ticket_key: ticktak_kit::auth::SigningKey::dev(),
                emailed_code_admits: true,
                buyer_key: ticktak_kit::buyer::BuyerKey::development(),
                queue: reservations::config::QueueConfig::default(),
                refund_cutoff: chrono::Duration::hours(48),
                orphaned_after: Duration::from_secs(120),
                mail: mail::settings(&mail::smtp_url()),
            },
            push_decisions: true,
        };
        adjust(&mut options);
        let reservations = reservations::start_with(
            env.settings(Service::Reservations),
            options.reservations,
            CancellationToken::new(),
        )
        .await
        .expect("reservations starts");
        // Without the push, decisions go to a port nothing listens on.
        let push_to = match options.push_decisions {
            true => reservations.internal_url(),
            false => format!("http://127.0.0.1:{}", process::free_port()),
        };
        let consumer = shop_consumer::start_with(
            env.settings(Service::ShopConsumer),
            shop.internal_url(),
            Some(push_to),
            CancellationToken::new(),
        )
        .await
        .expect("shop-consumer starts");
        Self { env, shop, reservations, consumer, http: reqwest::Client::new() }
    }

    /// A buyer token of this platform for `sub`.
    pub fn token(&self, sub: &str) -> String {
        dev_token(sub, &self.env.platform_id)
    }

    /// `POST /api/reservations` as `buyer`.
    pub async fn reserve(
        &self,
        buyer: &str,
        match_number: u8,
        category: u8,
        quantity: u8,
        key: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let mut req = self
            .http
            .post(format!("{}/api/reservations", self.reservations.url()))
            .bearer_auth(self.token(buyer))
            .json(&serde_json::json!({"matchNumber": match_number, "category": category, "quantity": quantity}));
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        let res = req.send().await.expect("reservations answers");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Call an endpoint of the reservations service as `buyer` (`None`: no token).
    pub async fn as_buyer(&self, method: reqwest::Method, path: &str, buyer: Option<&str>) -> (u16, serde_json::Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.reservations.url()));
        if let Some(b) = buyer {
            req = req.bearer_auth(self.token(b));
        }
        let res = req.send().await.expect("reservations answers");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// The internal confirm-after-payment call.
    pub async fn confirm(&self, id: &str) -> (u16, serde_json::Value) {
        self.internal_post(&format!("/internal/reservations/{id}/confirm")).await
    }

    /// What payments asks once the money went back: refund reservation `id`.
    pub async fn refund(&self, id: &str) -> (u16, serde_json::Value) {
        self.internal_post(&format!("/internal/reservations/{id}/refund")).await
    }

    async fn internal_post(&self, path: &str) -> (u16, serde_json::Value) {
        let res = self
            .http
            .post(format!("{}{path}", self.reservations.internal_url()))
            .header("authorization", ticktak_kit::internal::bearer(ticktak_kit::config::DEV_INTERNAL_TOKEN))
            .send()
            .await
            .expect("reservations answers");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        get_json(&self.http, &format!("{}{path}", self.shop.url())).await
    }

    /// The ledger snapshot through the internal API.
    pub async fn ledger(&self) -> serde_json::Value {
        let res = self
            .http
            .get(format!("{}/internal/ledger", self.shop.internal_url()))
            .header("authorization", ticktak_kit::internal::bearer(ticktak_kit::config::DEV_INTERNAL_TOKEN))
            .send()
            .await
            .expect("shop answers");
        assert_eq!(res.status(), 200);
        res.json().await.expect("json")
    }

    pub async fn stop(self) {
        self.consumer.stop().await.expect("shop-consumer stops cleanly");
        self.reservations.stop().await.expect("reservations stops cleanly");
        self.shop.stop().await.expect("shop stops cleanly");
    }
}

/// Analytics with `env`'s settings (each platform's own lake), in this
/// process.
pub async fn start_analytics(env: &PlatformEnv) -> Running {
    let settings = env.settings(Service::Analytics);
    let vars = env.vars();
    let config = analytics::config::AnalyticsConfig::from(&settings, &Env::from_fn(move |k| vars.get(k).cloned()))
        .expect("analytics settings");
    analytics::start_with(settings, config, CancellationToken::new()).await.expect("analytics starts")
}

/// A buyer access token for `sub` on `platform`, signed with the development
/// key like the security service signs them (valid 2 hours).
pub fn dev_token(sub: &str, platform: &str) -> String {
    dev_token_as(sub, platform, ticktak_kit::auth::Role::Buyer)
}

/// A token of `platform` for `sub` (e-mail `{sub}@example.com`, country
/// QA) with `role`.
pub fn dev_token_as(sub: &str, platform: &str, role: ticktak_kit::auth::Role) -> String {
    dev_token_from(sub, platform, role, "QA")
}

/// A token of `platform` for `sub` with `role`, whose buyer gave `country`
/// at sign-up.
pub fn dev_token_from(sub: &str, platform: &str, role: ticktak_kit::auth::Role, country: &str) -> String {
    use ticktak_kit::auth::{Claims, SigningKey, Subject};
    let subject = Subject {
        sub: sub.into(),
        email: format!("{sub}@example.com"),
        role,
        country: country.into(),
        email_verified: true,
    };
    let issuer = format!("ticktak-{platform}");
    SigningKey::dev().sign(&Claims::issue(subject, &issuer, std::slice::from_ref(&issuer), Duration::from_secs(7200)))
}

/// The JWKS of the development key (`JWT_PUBLIC_KEYS` of test platforms).
pub fn dev_jwks() -> String {
    let key = ticktak_kit::auth::SigningKey::dev();
    serde_json::to_string(&ticktak_kit::auth::jwks(&[&key])).expect("JWKS serializes")
}

pub async fn get_json(http: &reqwest::Client, url: &str) -> (u16, serde_json::Value) {
    let res = http.get(url).send().await.expect("request sent");
    let status = res.status().as_u16();
    let body = res.json().await.unwrap_or(serde_json::Value::Null);
    (status, body)
}

/// Poll `check` until it returns `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A producer for the test broker.
pub fn producer() -> rdkafka::producer::FutureProducer {
    kafka::producer(&KafkaSettings::plaintext(brokers()), &unique("test-producer-")).expect("producer")
}

/// The partitions of the topics [`ensure_topics`] creates: `KAFKA_PARTITIONS`
/// when set (for benchmarks), else the services' default.
pub fn topic_partitions() -> i32 {
    std::env::var("KAFKA_PARTITIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| KafkaSettings::plaintext(brokers()).partitions)
}

/// Create the shared topics (`KAFKA_PARTITIONS` partitions when set, for benchmarks).
pub async fn ensure_topics(topics: &Topics) {
    let mut settings = KafkaSettings::plaintext(brokers());
    settings.partitions = topic_partitions();
    kafka::ensure_topics(&settings, &topics.shared()).await.expect("topics created");
}

/// The `issued-at` and `signature` headers of a master-list body, by the
/// development organisers' key (what platforms trust in development).
pub fn organisers_signature(payload: &[u8]) -> Vec<(&'static str, String)> {
    kafka::trust::sign_masterlist(&kafka::trust::development_organisers_key(), payload)
}

/// Publish a master list, one message per match, signed as the organisers
/// sign it in development.
pub async fn publish_masterlist(topics: &Topics, list: &[MasterListMatch]) {
    let producer = producer();
    for m in list {
        let payload = m.to_json();
        let key = m.kafka_key();
        let headers = organisers_signature(&payload);
        kafka::send(&producer, &Record { topic: &topics.masterlist, key: &key, payload: &payload, headers: &headers })
            .await
            .expect("master list published");
    }
}

/// `headers` signed for `body` as their signer's platform signs them in
/// development (`ticktak_kit::kafka::trust::development_key`).
pub fn signed(headers: &SaleHeaders, body: &[u8]) -> SaleHeaders {
    let mut headers = headers.clone();
    if let Some(signer) = headers.signer() {
        ticktak_kit::kafka::trust::Trust::development(signer).sign(&mut headers, body);
    }
    headers
}

/// Produce one sales message (with our headers, signed by their signer's
/// development key unless they carry a signature already, or none).
pub async fn produce_sale(
    producer: &rdkafka::producer::FutureProducer,
    topics: &Topics,
    sale: &SaleMessage,
    headers: Option<&SaleHeaders>,
) -> (i32, i64) {
    let payload = sale.to_json();
    let pairs = match headers {
        Some(h) if h.signature.is_none() => signed(h, &payload).to_pairs(),
        Some(h) => h.to_pairs(),
        None => Vec::new(),
    };
    let key = sale.kafka_key();
    kafka::send(producer, &Record { topic: &topics.sales, key: &key, payload: &payload, headers: &pairs })
        .await
        .expect("sale produced")
}

/// A master list of `n` matches (from the fixture) with every category's
/// capacity set to `capacity`.
/// `publish-schedule ARGS` as the organisers run it, on `env`'s topics.
pub fn publish_schedule(env: &PlatformEnv, args: &[&str]) {
    let out = std::process::Command::new(process::bin("publish-schedule"))
        .args(args)
        .env_clear()
        .env("KAFKA_BROKERS", brokers())
        .env("TOPIC_ENV", &env.topic_env)
        .output()
        .expect("publish-schedule runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Run the `draw` tool (`services/reservations/src/bin/draw.rs`) on the
/// topics of `topic_env`, as the organisers or as anyone checking a draw;
/// its output whatever its exit.
pub fn draw_tool<S: AsRef<std::ffi::OsStr>>(topic_env: &str, args: &[S]) -> std::process::Output {
    std::process::Command::new(process::bin("draw"))
        .args(args)
        .env_clear()
        .env("KAFKA_BROKERS", brokers())
        .env("TOPIC_ENV", topic_env)
        .output()
        .expect("draw runs")
}

/// `masterlist_with_capacity` with match 1 kicking off years from now (the
/// fixture's dates are in 2022): refunds of match 1 are open, of the others
/// (match 3 is the second of the fixture) closed.
pub fn masterlist_match_1_in_future(n: usize, capacity: u32) -> Vec<MasterListMatch> {
    let mut list = masterlist_with_capacity(n, capacity);
    let first = ticktak_core::masterlist::years_later(list[..1].to_vec(), 6);
    list[0] = first[0].clone();
    list
}

pub fn masterlist_with_capacity(n: usize, capacity: u32) -> Vec<MasterListMatch> {
    let mut list = ticktak_core::masterlist::fixture();
    list.truncate(n);
    for m in &mut list {
        for c in [&mut m.availability.category1, &mut m.availability.category2, &mut m.availability.category3] {
            c.available = capacity;
        }
    }
    list
}
