//! What every service's `main` does, and the handle of a running service.

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Service, Settings};

/// A service started by its `start` function: where it listens and how to
/// stop it. Tests start services in-process on port 0 through this.
pub struct Running {
    /// The public listener.
    pub addr: SocketAddr,
    /// The internal listener: the public routes plus `/internal/*`.
    pub internal_addr: SocketAddr,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// The public base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The base URL the platform's other services use.
    pub fn internal_url(&self) -> String {
        format!("http://{}", self.internal_addr)
    }

    /// The same listeners, finished by `finish` (which gets this server's
    /// own wait): how a service joins its workers to its server.
    pub fn then<F, Fut>(self, finish: F) -> Self
    where
        F: FnOnce(Self) -> Fut,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let (addr, internal_addr, shutdown) = (self.addr, self.internal_addr, self.shutdown.clone());
        let task = tokio::spawn(finish(self));
        Self { addr, internal_addr, shutdown, task }
    }

    /// Ask the service to stop and wait until it has.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.wait().await
    }

    /// Wait until the service stops by itself (or through its token).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.map_err(|e| anyhow::anyhow!("service task failed: {e}"))?
    }
}

/// config → telemetry → start → wait for SIGTERM/Ctrl-C → drain. A bad
/// setting (common, or the service's own read by `start`) is one line on
/// stderr and exit code 2; any other failure at start or at run time is
/// exit code 1.
pub fn main<F, Fut>(service: Service, start: F) -> ExitCode
where
    F: FnOnce(Settings, CancellationToken) -> Fut,
    Fut: Future<Output = anyhow::Result<Running>>,
{
    let settings = match Settings::from_env(service) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}: {e}", service.name());
            return ExitCode::from(2);
        }
    };
    crate::telemetry::init_logs(settings.log_json);
    crate::telemetry::init_metrics();
    crate::telemetry::record_build_info(service.name());
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{}: cannot start the runtime: {e}", service.name());
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let shutdown = crate::shutdown::on_signal();
        let platform = settings.platform_id.clone();
        let running = start(settings, shutdown).await?;
        tracing::info!(service = service.name(), %platform, addr = %running.addr, internal = %running.internal_addr, "listening");
        running.wait().await
    });
    // Blocking calls still waiting on a broker or database that is gone
    // (metadata, a commit) must not hold up the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => {
            tracing::info!(service = service.name(), "stopped");
            ExitCode::SUCCESS
        }
        // A service's own setting, read at start: the same one line and
        // exit code as the common ones.
        Err(e) if e.downcast_ref::<crate::ConfigError>().is_some() => {
            eprintln!("{}: {e}", service.name());
            ExitCode::from(2)
        }
        Err(e) => {
            tracing::error!(service = service.name(), error = ?e, "failed");
            eprintln!("{}: {e:#}", service.name());
            ExitCode::FAILURE
        }
    }
}

/// What every service holds: its settings, its database pool (own schema,
/// migrated) and a Kafka producer (topics created).
#[derive(Clone)]
pub struct Base {
    pub settings: Settings,
    pub pool: sqlx::PgPool,
    pub producer: rdkafka::producer::FutureProducer,
    /// Readiness checks of the service itself, beside database and broker.
    checks: Vec<(&'static str, crate::http::ReadyCheck)>,
    /// Screens every request to the public listener.
    pub screen: std::sync::Arc<crate::screen::Screen>,
}

impl Base {
    /// Connect to Postgres and the broker, migrate, create the topics.
    pub async fn connect(settings: Settings, migrator: &sqlx::migrate::Migrator) -> anyhow::Result<Self> {
        let service = settings.service;
        let pool = crate::db::connect(
            secrecy::ExposeSecret::expose_secret(&settings.database_url),
            service.schema(),
            migrator,
            settings.database_pool_size,
        )
        .await?;
        let client_id = format!("ticktak-{}-{}", settings.platform_id, service.name());
        let producer = crate::kafka::producer(&settings.kafka, &client_id)?;
        let bookings = settings.topics.bookings(settings.platform_id.as_str());
        let [masterlist, schedule, sales, admissions, queue_lengths, draws] = settings.topics.shared();
        crate::kafka::ensure_topics(
            &settings.kafka,
            &[masterlist, schedule, sales, admissions, queue_lengths, draws, &bookings],
        )
        .await
        .map_err(|e| anyhow::anyhow!("broker at {} not usable: {e:#}", settings.kafka.brokers))?;
        // The first sale should not wait for the producer to learn the topic.
        crate::kafka::warm_up(&producer, &settings.topics.sales).await;
        let screen = std::sync::Arc::new(crate::screen::Screen::new(
            service.name(),
            &settings.screen,
            settings.trusted_proxies.clone(),
            settings.internal_token(),
        ));
        Ok(Self { settings, pool, producer, checks: Vec::new(), screen })
    }

    /// Add a readiness check: `/ready` answers 503 with `name: error` while
    /// `check` fails.
    pub fn with_ready_check(mut self, name: &'static str, check: crate::http::ReadyCheck) -> Self {
        self.checks.push((name, check));
        self
    }

    /// `/health`, `/ready` (database, broker and the service's own checks)
    /// and `/metrics`.
    pub fn ops_router(&self) -> axum::Router {
        let pool = self.pool.clone();
        let producer = self.producer.clone();
        let db: crate::http::ReadyCheck = std::sync::Arc::new(move || {
            let pool = pool.clone();
            Box::pin(async move { crate::db::probe(&pool).await })
        });
        let broker: crate::http::ReadyCheck = std::sync::Arc::new(move || {
            let producer = producer.clone();
            Box::pin(async move {
                if crate::kafka::probe(&producer, std::time::Duration::from_secs(2)).await {
                    Ok(())
                } else {
                    Err("broker unreachable".to_string())
                }
            })
        });
        let mut checks = vec![("database", db), ("broker", broker)];
        checks.extend(self.checks.iter().cloned());
        crate::http::ops_router(
            self.settings.service.name(),
            checks,
            vec![("screening", screening_note(self.screen.clone()))],
        )
    }

    /// Serve until `shutdown`: on the public port the ops endpoints and
    /// `public`; on the internal port the same plus `internal`, which also
    /// requires the internal credential. Only the public port is for the
    /// outside world.
    pub async fn serve(
        &self,
        public: axum::Router,
        internal: axum::Router,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Running> {
        serve(&self.settings, self.screen.clone(), self.ops_router(), public, internal, shutdown).await
    }
}

/// The `/ready` note of a service screening with no policy, or an old one.
pub fn screening_note(screen: std::sync::Arc<crate::screen::Screen>) -> crate::http::ReadyNote {
    std::sync::Arc::new(move || match screen.policy_age() {
        None => Some("no screening policy from the security service yet; screening with an empty blocklist".into()),
        Some(age) if age > std::time::Duration::from_secs(3) => Some(format!(
            "the security service has not answered for {} s; screening with the last policy",
            age.as_secs()
        )),
        Some(_) => None,
    })
}

/// The listeners of a service: on the public port `ops` and `public`,
/// screened by `screen` (every route and the 404s); on the internal port the
/// same plus `internal`, which also requires the internal credential. The
/// screening policy is kept in sync from the security service until
/// `shutdown`.
pub async fn serve(
    settings: &Settings,
    screen: std::sync::Arc<crate::screen::Screen>,
    ops: axum::Router,
    public: axum::Router,
    internal: axum::Router,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    let protected = crate::internal::protect(internal, settings.internal_token());
    // Only the public listener is screened: the internal one serves the
    // platform's own services.
    let public = public.merge(crate::screen::challenge_router(screen.clone()));
    let outside =
        crate::http::finish(ops.clone().merge(public.clone())).layer(crate::screen::ScreenLayer::new(screen.clone()));
    let inside = crate::http::finish(ops.merge(public).merge(protected));
    let bind = |port| crate::http::bind(SocketAddr::new(settings.bind_addr, port));
    let (outside_listener, inside_listener) = (bind(settings.port).await?, bind(settings.internal_port).await?);
    let addr = outside_listener.local_addr()?;
    let internal_addr = inside_listener.local_addr()?;
    // The screening policy comes from the security service; the security
    // service reads its own from its internal listener.
    let security_url = match settings.service {
        crate::Service::Security => {
            let ip = match internal_addr.ip() {
                ip if !ip.is_unspecified() => ip,
                std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            };
            format!("http://{}", SocketAddr::new(ip, internal_addr.port()))
        }
        _ => settings.security_url.clone(),
    };
    crate::screen::spawn_sync(
        screen,
        crate::internal::Client::new(&security_url, settings.internal_token(), std::time::Duration::from_secs(2))?,
        settings.screen.refresh_every,
        shutdown.clone(),
    );
    // One listener failing stops the other: the service is not whole.
    let run = |listener, router, token: CancellationToken| {
        tokio::spawn(async move {
            let served = crate::http::serve(listener, router, token.clone()).await;
            token.cancel();
            served
        })
    };
    let outside_task = run(outside_listener, outside, shutdown.clone());
    let inside_task = run(inside_listener, inside, shutdown.clone());
    let task = tokio::spawn(async move {
        let (a, b) = tokio::join!(outside_task, inside_task);
        a.map_err(|e| anyhow::anyhow!("public listener failed: {e}"))??;
        b.map_err(|e| anyhow::anyhow!("internal listener failed: {e}"))??;
        Ok(())
    });
    Ok(Running { addr, internal_addr, shutdown, task })
}
