//! Settings of the reservations service beyond the common ones.

use std::time::Duration;

use ticktak_kit::auth::SigningKey;
use ticktak_kit::config::Env;
use ticktak_kit::{ConfigError, Service, Settings};

#[derive(Debug, Clone)]
pub struct ReservationConfig {
    /// How long a granted hold waits for payment (`HOLD_TTL_SECS`, default 600).
    pub hold_ttl: Duration,
    /// How long `POST /api/reservations` waits for the log's decision before
    /// answering 202 (`DECISION_WAIT_MS`, default 2000).
    pub decision_wait: Duration,
    /// Where the shop listens (`SHOP_URL`, default the platform's shop port).
    pub shop_url: String,
    /// Where payments' internal listener is (`PAYMENTS_URL`, default the
    /// platform's payments port), for the order desk's payment of an order.
    pub payments_url: String,
    /// The web site's address, for the links of transfer offers
    /// (`SITE_URL`, as security's).
    pub site_url: String,
    /// How often expiry and the decision poller run (`SWEEP_INTERVAL_MS`, default 1000).
    pub sweep_interval: Duration,
    /// How long the shop's availability of a match is reused for the fast
    /// "sold out" answer (`AVAILABILITY_TTL_MS`, default 100; 0 asks the shop
    /// on every request). Only the fast answer uses it: the log decides.
    pub availability_ttl: Duration,
    /// A request the shop has not seen after this long has its
    /// TICKET_PENDING published again, and again after as long
    /// (`REPUBLISH_AFTER_SECS`, default 10).
    pub republish_after: Duration,
    /// A request still undecided after this long is rejected ("not decided
    /// in time") and its hold cancelled in the log (`REQUEST_TIMEOUT_SECS`,
    /// default 120).
    pub request_timeout: Duration,
    /// How often holders' reminders and move notices are looked for
    /// (`NOTICES_EVERY_MS`, default 60000).
    pub notices_every: Duration,
    /// Purchase caps per account (`MAX_TICKETS_PER_MATCH`, default 4, over
    /// its requested, held and paid reservations; `MAX_OPEN_HOLDS`, default
    /// 2, unpaid holds); 0 lifts a cap.
    pub caps: crate::store::Caps,
    /// `SALES_PROTOCOL=naive`: the course's naive protocol, for the benchmark
    /// baseline only — decide on this platform's own copy and publish
    /// without a hold id. It can oversell; never run it for real sales.
    pub naive: bool,
    /// Verifies the `TT1.` ticket codes issued before codes were signed with
    /// the platform key (`TICKET_SIGNING_KEY`, PKCS#8 Ed25519 PEM; the
    /// development key outside production; without it in production no
    /// `TT1.` code verifies). New codes: `tickets::code`.
    pub ticket_key: ticktak_kit::auth::SigningKey,
    /// Whether a ticket's printed (e-mailed) code admits at the gate, or
    /// only the live code in the holder's account does
    /// (`EMAILED_CODE_ADMITS`, default true). Written into each code, so
    /// every gate of the market follows the issuer's choice.
    pub emailed_code_admits: bool,
    /// Paid reservations can be refunded until this long before kick-off
    /// (`REFUND_CUTOFF_HOURS`, default 48).
    pub refund_cutoff: chrono::Duration,
    /// A ticket this platform revoked in the gate log, still valid here
    /// this long after (by the database's clock), was revoked by a refund or
    /// an acceptance that died before committing: the sweeper issues it
    /// anew (`REVOKED_ORPHAN_AFTER_SECS`, default 120; far above the few
    /// seconds a refund waits for the log).
    pub orphaned_after: Duration,
    /// Where ticket e-mails go (`SMTP_URL`, `MAIL_FROM`).
    pub mail: ticktak_kit::mail::MailSettings,
    /// The market's buyer key (`MARKET_BUYER_KEY`): each hold names its
    /// buyer's pseudonym, the same on every platform, for the ledger's cap
    /// per buyer across the market.
    pub buyer_key: ticktak_kit::buyer::BuyerKey,
    /// The waiting room's pace and admissions (`QUEUE_*`).
    pub queue: QueueConfig,
}

/// How the waiting room admits buyers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueConfig {
    /// How long an admission lasts once given
    /// (`QUEUE_ADMISSION_TTL_SECS`, default 600).
    pub admission_ttl: Duration,
    /// `QUEUE_ADMIT_FLOOR_PER_MIN` (default 600), `QUEUE_ADMIT_CEILING_PER_MIN`
    /// (default 6000), `QUEUE_TARGET_HOLD_P99_MS` (default 1000),
    /// `QUEUE_MAX_UNDECIDED` (default 500), `QUEUE_MAX_OUTBOX` (default 2000).
    pub pace: crate::queue::pace::PaceSettings,
}

impl QueueConfig {
    pub fn from(env: &Env<'_>) -> Result<Self, ConfigError> {
        let ttl: u64 = env.parse_in("QUEUE_ADMISSION_TTL_SECS", 600, 10..=86_400)?;
        let floor: u32 = env.parse_in("QUEUE_ADMIT_FLOOR_PER_MIN", 600, 1..=1_000_000)?;
        let ceiling: u32 = env.parse_in("QUEUE_ADMIT_CEILING_PER_MIN", 6000, 1..=1_000_000)?;
        if ceiling < floor {
            return Err(env.error("QUEUE_ADMIT_CEILING_PER_MIN", "must not be below QUEUE_ADMIT_FLOOR_PER_MIN"));
        }
        let target: u64 = env.parse_in("QUEUE_TARGET_HOLD_P99_MS", 1000, 10..=60_000)?;
        Ok(Self {
            admission_ttl: Duration::from_secs(ttl),
            pace: crate::queue::pace::PaceSettings {
                floor: f64::from(floor),
                ceiling: f64::from(ceiling),
                target_p99: Duration::from_millis(target),
                max_undecided: env.parse_in("QUEUE_MAX_UNDECIDED", 500, 1..=1_000_000)?,
                max_outbox: env.parse_in("QUEUE_MAX_OUTBOX", 2000, 1..=1_000_000)?,
            },
        })
    }
}

impl Default for QueueConfig {
    /// The defaults of [`QueueConfig::from`].
    fn default() -> Self {
        Self::from(&Env::from_fn(|_| None)).expect("the defaults are valid")
    }
}

impl ReservationConfig {
    pub fn from_env(settings: &Settings) -> Result<Self, ConfigError> {
        Self::from(settings, &Env::process())
    }

    pub fn from(settings: &Settings, env: &Env<'_>) -> Result<Self, ConfigError> {
        let ttl: u64 = env.parse_in("HOLD_TTL_SECS", 600, 1..=86_400)?;
        let wait: u64 = env.parse_in("DECISION_WAIT_MS", 2000, 0..=30_000)?;
        let sweep: u64 = env.parse_in("SWEEP_INTERVAL_MS", 1000, 10..=60_000)?;
        let availability_ttl: u64 = env.parse_in("AVAILABILITY_TTL_MS", 100, 0..=10_000)?;
        let republish_after: u64 = env.parse_in("REPUBLISH_AFTER_SECS", 10, 1..=3600)?;
        let request_timeout: u64 = env.parse_in("REQUEST_TIMEOUT_SECS", 120, 2..=86_400)?;
        let notices_every: u64 = env.parse_in("NOTICES_EVERY_MS", 60_000, 100..=86_400_000)?;
        let caps = crate::store::Caps {
            tickets_per_match: env.parse_in("MAX_TICKETS_PER_MATCH", 4, 0..=10_000)?,
            open_holds: env.parse_in("MAX_OPEN_HOLDS", 2, 0..=10_000)?,
        };
        let shop_url = settings.peer_url(Service::Shop, env)?;
        let payments_url = settings.peer_url(Service::Payments, env)?;
        let site_url = settings.site_url(env)?;
        let naive = match env.string("SALES_PROTOCOL", "ledger").as_str() {
            "ledger" => false,
            "naive" => true,
            _ => return Err(env.error("SALES_PROTOCOL", "must be ledger or naive")),
        };
        let ticket_key = match env.get("TICKET_SIGNING_KEY") {
            Some(pem) => {
                let key = SigningKey::parse(&pem).map_err(|e| env.error("TICKET_SIGNING_KEY", e))?;
                if settings.production && key.is_dev() {
                    return Err(env.error("TICKET_SIGNING_KEY", "the development key is refused in production"));
                }
                key
            }
            // No code of the old format was issued: a key of its own that
            // nothing was signed with.
            None if settings.production => SigningKey::generate(),
            None => SigningKey::dev(),
        };
        let cutoff_hours: i64 = env.parse_in("REFUND_CUTOFF_HOURS", 48, 0..=24 * 365)?;
        let orphaned_after: u64 = env.parse_in("REVOKED_ORPHAN_AFTER_SECS", 120, 1..=86_400)?;
        let emailed_code_admits: bool = env.parse("EMAILED_CODE_ADMITS", true)?;
        Ok(Self {
            buyer_key: ticktak_kit::buyer::BuyerKey::from_env(settings.production, env)?,
            queue: QueueConfig::from(env)?,
            ticket_key,
            emailed_code_admits,
            refund_cutoff: chrono::Duration::hours(cutoff_hours),
            orphaned_after: Duration::from_secs(orphaned_after),
            mail: ticktak_kit::mail::MailSettings::from_env(settings.production, env)?,
            naive,
            hold_ttl: Duration::from_secs(ttl),
            decision_wait: Duration::from_millis(wait),
            shop_url,
            payments_url,
            site_url,
            sweep_interval: Duration::from_millis(sweep),
            availability_ttl: Duration::from_millis(availability_ttl),
            republish_after: Duration::from_secs(republish_after),
            request_timeout: Duration::from_secs(request_timeout),
            notices_every: Duration::from_millis(notices_every),
            caps,
        })
    }
}
