//! Kafka clients: settings (with optional SASL/SSL), topic names, the
//! idempotent producer, consumers and topic creation.

mod admin;
mod consumer;
pub mod decode;
pub mod follow;
mod producer;
mod to_end;
pub mod trust;

pub use admin::{ensure_topics, probe, UNLIMITED_RETENTION};
pub use consumer::{consumer, header_pairs};
pub use producer::{producer, send, send_to_partition, warm_up, Record};
pub use to_end::ToEnd;

use rdkafka::ClientConfig;

use crate::env::{ConfigError, Env};

/// How to reach the broker(s).
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// `KAFKA_BROKERS`, comma-separated `host:port`.
    pub brokers: String,
    /// `KAFKA_SECURITY_PROTOCOL`: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
    pub security_protocol: String,
    pub sasl_mechanism: Option<String>,
    pub sasl_username: Option<String>,
    pub sasl_password: Option<secrecy::SecretString>,
    /// Partitions of topics this platform creates (`KAFKA_PARTITIONS`).
    pub partitions: i32,
    /// Replication factor of topics this platform creates (`KAFKA_REPLICATION`).
    pub replication: i32,
    /// How long a producer gathers messages into one batch (`KAFKA_LINGER_MS`,
    /// default 10): more means fewer, larger batches and that much latency.
    /// Each produce request is one transaction of the broker's storage, and
    /// the holds of one hot match all go to one partition, so fewer,
    /// larger batches are what keeps the broker's latency flat (BENCHMARKS.md:
    /// produce → receive p50 43 ms at 2 ms, 20 ms at 10 ms).
    pub linger_ms: u32,
    /// How long the broker may hold a fetch that has no new data
    /// (`KAFKA_FETCH_WAIT_MS`, default 100). Apache Kafka answers as soon as
    /// data arrives; nisshi re-reads every fetched partition from its storage
    /// after half the remaining wait, again and again, and those reads
    /// contend with produces: with 3 ms the broker stalled, with 20 ms the
    /// two-platform race stalled, with 100 ms it runs (BENCHMARKS.md).
    pub fetch_wait_ms: u32,
    /// Idempotent producers (`KAFKA_IDEMPOTENCE`, default true). Nothing here
    /// depends on it — a duplicate hold message is a no-op by its hold id —
    /// but it keeps retries from duplicating.
    pub idempotence: bool,
}

impl KafkaSettings {
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let security_protocol = env.string("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").to_ascii_uppercase();
        if !["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"].contains(&security_protocol.as_str()) {
            return Err(env.error("KAFKA_SECURITY_PROTOCOL", "must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"));
        }
        let sasl = security_protocol.starts_with("SASL");
        let sasl_mechanism = env.get("KAFKA_SASL_MECHANISM").or_else(|| sasl.then(|| "PLAIN".into()));
        let sasl_username = env.get("KAFKA_SASL_USERNAME");
        let sasl_password = env.get("KAFKA_SASL_PASSWORD").map(secrecy::SecretString::from);
        if sasl && sasl_username.is_none() {
            return Err(env.error("KAFKA_SASL_USERNAME", "required when KAFKA_SECURITY_PROTOCOL is SASL_*"));
        }
        if sasl && sasl_password.is_none() {
            return Err(env.error("KAFKA_SASL_PASSWORD", "required when KAFKA_SECURITY_PROTOCOL is SASL_*"));
        }
        let partitions: i32 = env.parse_in("KAFKA_PARTITIONS", 3, 1..=1000)?;
        let replication: i32 = env.parse_in("KAFKA_REPLICATION", 1, 1..=10)?;
        let linger_ms: u32 = env.parse_in("KAFKA_LINGER_MS", 10, 0..=1000)?;
        let fetch_wait_ms: u32 = env.parse_in("KAFKA_FETCH_WAIT_MS", 100, 1..=1000)?;
        let idempotence = match env.string("KAFKA_IDEMPOTENCE", "true").as_str() {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => return Err(env.error("KAFKA_IDEMPOTENCE", "must be true or false")),
        };
        Ok(Self {
            idempotence,
            linger_ms,
            fetch_wait_ms,
            brokers: env.string("KAFKA_BROKERS", "127.0.0.1:9092"),
            security_protocol,
            sasl_mechanism,
            sasl_username,
            sasl_password,
            partitions,
            replication,
        })
    }

    /// Settings for a local plaintext broker (tests and tools).
    pub fn plaintext(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            security_protocol: "PLAINTEXT".into(),
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password: None,
            partitions: 3,
            replication: 1,
            linger_ms: 10,
            fetch_wait_ms: 100,
            idempotence: true,
        }
    }

    /// The client configuration every producer, consumer and admin client
    /// starts from.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("security.protocol", &self.security_protocol)
            .set("socket.timeout.ms", "10000")
            .set("socket.nagle.disable", "true")
            .set("log_level", "4");
        if let Some(m) = &self.sasl_mechanism {
            c.set("sasl.mechanisms", m);
        }
        if let Some(u) = &self.sasl_username {
            c.set("sasl.username", u);
        }
        if let Some(p) = &self.sasl_password {
            c.set("sasl.password", secrecy::ExposeSecret::expose_secret(p));
        }
        c
    }
}

/// The shared topics: `{prefix}-masterlist-{env}`, the organisers' sale
/// schedule `{prefix}-sale-schedule-{env}` (`ticktak_core::schedule`),
/// `{prefix}-ticket-sales-{env}`, the gate log
/// `{prefix}-ticket-admissions-{env}` (`ticktak_core::gate`) and the
/// waiting rooms' `{prefix}-queue-lengths-{env}` (`ticktak_core::queue`),
/// the draws' `{prefix}-draws-{env}` (`ticktak_core::draw`);
/// and each platform's own bookings topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    pub masterlist: String,
    pub schedule: String,
    pub sales: String,
    pub admissions: String,
    pub queue_lengths: String,
    pub draws: String,
    prefix: String,
    env: String,
}

impl Topics {
    pub fn new(prefix: &str, env: &str) -> Self {
        Self {
            masterlist: format!("{prefix}-masterlist-{env}"),
            schedule: format!("{prefix}-sale-schedule-{env}"),
            sales: format!("{prefix}-ticket-sales-{env}"),
            admissions: format!("{prefix}-ticket-admissions-{env}"),
            queue_lengths: format!("{prefix}-queue-lengths-{env}"),
            draws: format!("{prefix}-draws-{env}"),
            prefix: prefix.to_string(),
            env: env.to_string(),
        }
    }

    /// The topics every platform of the market shares.
    pub fn shared(&self) -> [&str; 6] {
        [&self.masterlist, &self.schedule, &self.sales, &self.admissions, &self.queue_lengths, &self.draws]
    }

    /// `{prefix}-bookings-{platform}-{env}`: a platform's booking events
    /// with buyer context, for its own analytics only (never shared).
    pub fn bookings(&self, platform: &str) -> String {
        format!("{}-bookings-{platform}-{}", self.prefix, self.env)
    }

    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let valid = |s: &str| {
            !s.is_empty()
                && s.len() <= 100
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        };
        let prefix = env.string("TOPIC_PREFIX", "fifa-world-cup-2022");
        if !valid(&prefix) {
            return Err(env.error("TOPIC_PREFIX", "must be letters, digits, '-', '_' or '.'"));
        }
        let suffix = env.string("TOPIC_ENV", "dev");
        if !valid(&suffix) {
            return Err(env.error("TOPIC_ENV", "must be letters, digits, '-', '_' or '.'"));
        }
        Ok(Self::new(&prefix, &suffix))
    }
}
