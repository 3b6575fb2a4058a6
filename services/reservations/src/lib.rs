//! reservations (:3020): buyers' holds. A reservation is written with its
//! TICKET_PENDING in one transaction (the outbox) and published right after
//! the commit (the relay re-publishes what did not get through);
//! the decision comes back from the shared log (forwarded by shop-consumer,
//! or fetched from the shop by the decision poller); unpaid holds expire.
//!
//! - `api`: the public API (`/api/reservations`), buyers authenticated by JWT.
//! - `internal`: confirm-after-payment and decision intake.
//! - `orders`: orders of several lines (a cart), each line held through the
//!   log as a hold of its own is; paid once.
//! - `availability`: the shop's availability, reused briefly for the fast answer.
//! - `store`: reservation SQL and the outbox rows each transition writes.
//! - `idempotency`: `Idempotency-Key` handling.
//! - `outbox`: publishing committed outbox rows; marking them sent; the relay.
//! - `workers`: hold expiry and the decision poller.
//! - `draw`: random selection draws — applications, the draw every
//!   platform runs alike from the draw topic, allocations held through the
//!   log and passed on when unpaid.
//! - `queue`: the waiting room of on-sales the organisers scheduled with
//!   a queue: places, turns at the platform's pace, admissions for holds.
//! - `desk`: the operators' order desk — find an order, its whole story,
//!   tickets mailed again or revoked, exports; every action audited.
//! - `tickets`: tickets of paid reservations — signed codes, QR codes,
//!   e-mail, check-in at any gate of the market through the gate log.

pub mod accounts;
pub mod api;
pub mod availability;
pub mod config;
pub mod desk;
pub mod draw;
pub mod idempotency;
pub mod input;
pub mod internal;
pub mod openapi;
pub mod orders;
pub mod outbox;
pub mod queue;
pub mod shop;
pub mod store;
pub mod tickets;
pub mod waiters;
pub mod workers;

use std::sync::Arc;

use ticktak_kit::auth::Verifier;
use ticktak_kit::service::{Base, Running};
use ticktak_kit::Settings;
use tokio_util::sync::CancellationToken;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/reservations");

/// Shared by every handler and worker.
#[derive(Clone)]
pub struct AppState {
    pub pool: sqlx::PgPool,
    /// A few connections of their own for the log's decisions and outbox
    /// marks, so they never queue behind a burst of new reservations (the
    /// buyers waiting on those decisions are what the burst is made of).
    pub background_pool: sqlx::PgPool,
    pub settings: Arc<Settings>,
    pub config: Arc<config::ReservationConfig>,
    /// Verifies buyers' access tokens.
    pub verifier: Arc<Verifier>,
    pub shop: shop::ShopClient,
    /// payments' internal API (the order desk asks it about payments).
    pub payments: ticktak_kit::internal::Client,
    pub availability: availability::RecentAvailability,
    pub waiters: waiters::Waiters,
    /// Publishes outbox rows once their transaction committed.
    pub outbox: outbox::Outbox,
    /// Where and how sales are published.
    pub origin: Arc<store::Origin>,
    /// Under the naive protocol only: this platform's own copy of what is
    /// left per ticket type.
    pub naive_copy: Arc<std::sync::Mutex<std::collections::HashMap<ticktak_core::TicketType, i64>>>,
    /// The screening replica; holds that expire unpaid are reported through it.
    pub screen: Arc<ticktak_kit::screen::Screen>,
    /// This platform's end of the market's gate log.
    pub gate: tickets::gate::Gate,
    /// The waiting rooms' keys, settings and hold clock.
    pub queue: queue::WaitingRooms,
    /// Accounts their owners deleted (`accounts`).
    pub erased: accounts::Erased,
}

ticktak_kit::verifier_from_state!(AppState);

pub async fn start(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Running> {
    let config = config::ReservationConfig::from_env(&settings)?;
    start_with(settings, config, shutdown).await
}

/// Start with explicit reservation settings (tests point at a shop on port 0).
pub async fn start_with(
    settings: Settings,
    config: config::ReservationConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    let verifier = Verifier::start(&settings.auth, shutdown.clone()).await;
    let base = Base::connect(settings, &MIGRATOR).await?.with_ready_check("token keys", verifier.ready_check());
    // Booking events (a trigger writes them to the outbox) go to this
    // platform's bookings topic.
    sqlx::query("UPDATE booking_events_config SET topic = $1")
        .bind(base.settings.topics.bookings(base.settings.platform_id.as_str()))
        .execute(&base.pool)
        .await?;
    let (outbox, delivered) =
        outbox::Outbox::new(base.producer.clone(), base.settings.topics.sales.clone(), base.settings.trust.clone());
    let shop = shop::ShopClient::new(&config.shop_url, base.settings.internal_token())?;
    let background_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(3)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect_lazy_with(base.pool.connect_options().as_ref().clone());
    let state = AppState {
        pool: base.pool.clone(),
        background_pool,
        availability: availability::RecentAvailability::new(shop.clone(), config.availability_ttl),
        settings: Arc::new(base.settings.clone()),
        verifier,
        shop,
        payments: ticktak_kit::internal::Client::new(
            &config.payments_url,
            base.settings.internal_token(),
            std::time::Duration::from_secs(5),
        )?,
        config: Arc::new(config.clone()),
        waiters: waiters::Waiters::default(),
        outbox,
        origin: Arc::new(store::Origin {
            topic: base.settings.topics.sales.clone(),
            platform: base.settings.platform_id.clone(),
            naive: config.naive,
            buyers: config.buyer_key.clone(),
        }),
        naive_copy: Default::default(),
        screen: base.screen.clone(),
        gate: tickets::gate::Gate::new(
            base.producer.clone(),
            base.settings.topics.admissions.clone(),
            base.settings.trust.clone(),
            base.settings.platform_id.clone(),
        ),
        queue: queue::WaitingRooms::new(
            queue::token::QueueKey::derive(base.settings.internal_token()),
            config.queue.admission_ttl,
            config.queue.pace,
            queue::market::MarketRooms::new(
                base.producer.clone(),
                base.settings.topics.queue_lengths.clone(),
                base.settings.trust.clone(),
                base.settings.platform_id.clone(),
            ),
        ),
        erased: accounts::Erased::load(&base.pool).await?,
    };
    ticktak_kit::telemetry::zero_counters(&[
        ("reservations_fast_rejected_total", &[]),
        ("reservations_expired_total", &[]),
        ("reservations_republished_total", &[]),
        ("reservations_timed_out_total", &[]),
        ("outbox_errors_total", &[]),
        ("reservations_confirmed_total", &[]),
        ("reservations_refunded_total", &[]),
        ("tickets_issued_total", &[]),
        ("gate_events_invalid_total", &[]),
        ("queue_joins_total", &[]),
        ("queue_admissions_total", &[]),
        ("queue_lengths_invalid_total", &[]),
        ("draw_messages_invalid_total", &[]),
        ("draw_applications_total", &[]),
    ]);
    let relay = tokio::spawn(outbox::relay(state.pool.clone(), state.outbox.clone(), shutdown.clone()));
    let marker =
        tokio::spawn(outbox::marker(state.background_pool.clone(), state.outbox.clone(), delivered, shutdown.clone()));
    let sweeper = tokio::spawn(workers::expire_holds(state.clone(), shutdown.clone()));
    let poller = tokio::spawn(workers::poll_decisions(state.clone(), shutdown.clone()));
    let gate = tokio::spawn(tickets::gate::follow(
        state.background_pool.clone(),
        state.gate.clone(),
        state.settings.clone(),
        shutdown.clone(),
    ));
    let admitter = tokio::spawn(queue::admit(state.clone(), shutdown.clone()));
    let notices = tokio::spawn(tickets::notices::follow(state.clone(), state.config.notices_every, shutdown.clone()));
    let lengths = tokio::spawn(state.queue.market.clone().follow(state.settings.clone(), shutdown.clone()));
    let draws = tokio::spawn(draw::follow::run(state.clone(), shutdown.clone()));
    let allocator = tokio::spawn(draw::allocate::run(state.clone(), shutdown.clone()));
    let mailer = tokio::spawn(ticktak_kit::mail::deliver(
        state.pool.clone(),
        state.config.mail.clone(),
        std::time::Duration::from_millis(500),
        shutdown.clone(),
    ));
    let audit = ticktak_kit::audit::router(state.pool.clone(), state.verifier.clone());
    let public = api::router()
        .merge(tickets::router())
        .merge(queue::router())
        .merge(draw::router())
        .merge(desk::router())
        .merge(orders::router())
        .merge(openapi::router())
        .with_state(state.clone())
        .merge(audit);
    let internal = internal::router().merge(orders::internal_router()).merge(accounts::router()).with_state(state);
    let server = base.serve(public, internal, shutdown).await?;
    Ok(server.then(|server| async move {
        let served = server.wait().await;
        for worker in [relay, marker, sweeper, poller, gate, admitter, lengths, draws, allocator, mailer, notices] {
            let _ = worker.await;
        }
        served
    }))
}
