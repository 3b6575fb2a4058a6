//! Scenario 1, the hot category race: P platforms, one category with
//! capacity C, buyers asking for C × X tickets (one per request) through the
//! public API with real tokens. Reports decided holds/s, latency
//! percentiles, hold propagation between platforms, peak memory per
//! process, and checks that nothing was oversold.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use ticktak_tests::dev_token;

use crate::market::Market;

#[derive(Debug, Clone)]
pub struct RaceOptions {
    pub platforms: usize,
    pub capacity: u32,
    pub oversubscribe: u32,
    pub buyers: usize,
    /// Open-loop arrival rate in requests/s; 0 = closed loop.
    pub rate: f64,
    /// Also run wrk against platform a's availability during the race.
    pub with_reads: bool,
    /// Scenario 4: SIGKILL and restart a random service every this many
    /// seconds during the race (0 = never).
    pub chaos_every_s: f64,
    /// Scenario 5: run the platforms with the naive course protocol.
    pub naive: bool,
    /// With chaos: run an own broker with durable (PostgreSQL) storage and
    /// kill it too.
    pub chaos_broker: bool,
    /// With chaos and `chaos_broker`: kill only the broker, no service.
    pub chaos_broker_only: bool,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub granted: u64,
    pub rejected_by_log: u64,
    pub rejected_fast: u64,
    pub pending: u64,
    pub errors: u64,
}

impl Tally {
    pub fn add(&mut self, o: Tally) {
        self.granted += o.granted;
        self.rejected_by_log += o.rejected_by_log;
        self.rejected_fast += o.rejected_fast;
        self.pending += o.pending;
        self.errors += o.errors;
    }
}

#[derive(Debug, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

#[derive(Debug, Serialize)]
pub struct RaceReport {
    pub mode: String,
    pub platforms: usize,
    pub capacity: u32,
    pub requests: u64,
    pub buyers: usize,
    pub duration_s: f64,
    pub granted: u64,
    pub rejected_by_log: u64,
    pub rejected_fast: u64,
    pub pending_at_answer: u64,
    pub errors: u64,
    /// Holds decided through the log (granted + rejected by the log) per second.
    pub decided_per_s: f64,
    pub granted_per_s: f64,
    /// Until the capacity was all granted.
    pub granting_phase_s: f64,
    pub granted_per_s_while_granting: f64,
    pub latency_ms: Percentiles,
    /// Granted on platform a → applied on platform b.
    pub propagation_ms: Option<(f64, f64)>,
    /// Where a hold's time goes on platform a: (hop, p50 ms, p99 ms).
    pub hops_ms: Vec<(String, f64, f64)>,
    /// Platform a's shop-consumer: produced → received, and the shop's apply
    /// of a batch (p50 ms, p99 ms).
    pub receive_delay_ms: Option<(f64, f64)>,
    pub batch_apply_ms: Option<(f64, f64)>,
    pub oversell: i64,
    pub ledgers_equal: bool,
    pub peak_rss_mib: Vec<(String, f64)>,
    /// CPU seconds each process used during the run (the bench client included).
    pub cpu_s: Vec<(String, f64)>,
    /// Scenario 3: reads while idle (before the race) and during it.
    pub reads_idle: Option<crate::reads::ReadResult>,
    pub reads_during_race: Option<crate::reads::ReadResult>,
    /// Scenario 4: the processes killed (and restarted) during the race.
    pub killed: Vec<String>,
    /// Scenario 4: seconds from the last kill until every reservation was
    /// decided and every ledger equal.
    pub settled_after_last_kill_s: Option<f64>,
    /// Reservations still REQUESTED once everything settled (must be 0).
    pub left_requested: i64,
}

impl RaceReport {
    pub fn print(&self) {
        println!("| scenario 1: hot category race | {} |", self.mode);
        println!("|---|---|");
        let rows: Vec<(&str, String)> = vec![
            ("platforms × capacity", format!("{} × {}", self.platforms, self.capacity)),
            ("requests (1 ticket each)", self.requests.to_string()),
            ("buyers / connections", self.buyers.to_string()),
            ("duration", format!("{:.1} s", self.duration_s)),
            (
                "granted / rejected by log / fast sold-out / 202 / errors",
                format!(
                    "{} / {} / {} / {} / {}",
                    self.granted, self.rejected_by_log, self.rejected_fast, self.pending_at_answer, self.errors
                ),
            ),
            ("decided holds/s through the log", format!("{:.0}", self.decided_per_s)),
            ("granted holds/s (whole run)", format!("{:.0}", self.granted_per_s)),
            (
                "granted holds/s until sold out",
                format!("{:.0} (in {:.1} s)", self.granted_per_s_while_granting, self.granting_phase_s),
            ),
            (
                "POST latency p50 / p90 / p99 / p99.9 / max",
                format!(
                    "{:.1} / {:.1} / {:.1} / {:.1} / {:.1} ms",
                    self.latency_ms.p50,
                    self.latency_ms.p90,
                    self.latency_ms.p99,
                    self.latency_ms.p999,
                    self.latency_ms.max
                ),
            ),
            (
                "propagation a → b p50 / p99",
                self.propagation_ms.map(|(a, b)| format!("{a:.1} / {b:.1} ms")).unwrap_or_else(|| "n/a".into()),
            ),
            (
                "hops on a p50 / p99: request → published · published → shop applies · shop applies → decided",
                self.hops_ms.iter().map(|(_, a, b)| format!("{a:.1} / {b:.1}")).collect::<Vec<_>>().join(" · ") + " ms",
            ),
            (
                "consumer on a p50 / p99: produced → received · batch applied by the shop",
                [self.receive_delay_ms, self.batch_apply_ms]
                    .iter()
                    .map(|q| q.map(|(a, b)| format!("{a:.1} / {b:.1}")).unwrap_or_else(|| "n/a".into()))
                    .collect::<Vec<_>>()
                    .join(" · ")
                    + " ms",
            ),
            ("oversell (market-wide)", self.oversell.to_string()),
            ("ledgers equal on every platform", self.ledgers_equal.to_string()),
            ("reservations left REQUESTED after settling", self.left_requested.to_string()),
            (
                "peak RSS max per service",
                format!("{:.1} MiB", self.peak_rss_mib.iter().map(|(_, m)| *m).fold(0.0, f64::max)),
            ),
        ];
        for (k, v) in rows {
            println!("| {k} | {v} |");
        }
        if !self.killed.is_empty() {
            println!("| killed and restarted during the race | {} |", self.killed.join(", "));
            if let Some(s) = self.settled_after_last_kill_s {
                println!("| settled after the last kill | {s:.1} s |");
            }
        }
        let cpu: Vec<String> = self.cpu_s.iter().map(|(n, s)| format!("{n} {s:.1}")).collect();
        println!("| CPU seconds during the run | {} |", cpu.join(", "));
        for (label, r) in [
            ("availability reads, idle", &self.reads_idle),
            ("availability reads, during the race", &self.reads_during_race),
        ] {
            if let Some(r) = r {
                println!("| {label} | {:.0} req/s, p99 {:.2} ms |", r.requests_per_s, r.p99_ms);
            }
        }
    }
}

/// What one answer to a hold request counts as.
pub fn classify(status: u16, body: &serde_json::Value) -> Tally {
    let mut t = Tally::default();
    match status {
        201 => t.granted = 1,
        202 => t.pending = 1,
        409 if body["id"].is_null() => t.rejected_fast = 1,
        409 => t.rejected_by_log = 1,
        _ => t.errors = 1,
    }
    t
}

struct Shared {
    http: reqwest::Client,
    urls: Vec<String>,
    /// Per buyer, a token for each platform (its issuer and audience).
    tokens: Vec<Vec<String>>,
    histogram: Mutex<Histogram<u64>>,
    tally: Mutex<Tally>,
    granted: AtomicUsize,
    sold_out_at: Mutex<Option<Instant>>,
    capacity: usize,
}

impl Shared {
    async fn request(&self, i: usize, intended: Instant) {
        let url = &self.urls[i % self.urls.len()];
        let token = &self.tokens[i % self.tokens.len()][i % self.urls.len()];
        let res = self
            .http
            .post(url)
            .bearer_auth(token)
            .json(&serde_json::json!({"matchNumber": 1, "category": 1, "quantity": 1}))
            .send()
            .await;
        let t = match res {
            Ok(r) => {
                let status = r.status().as_u16();
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                classify(status, &body)
            }
            Err(_) => Tally { errors: 1, ..Tally::default() },
        };
        let micros = intended.elapsed().as_micros() as u64;
        self.histogram.lock().expect("lock").record(micros.max(1)).ok();
        if t.granted == 1 && self.granted.fetch_add(1, Ordering::Relaxed) + 1 == self.capacity {
            *self.sold_out_at.lock().expect("lock") = Some(Instant::now());
        }
        self.tally.lock().expect("lock").add(t);
    }
}

pub async fn run(o: &RaceOptions) -> anyhow::Result<RaceReport> {
    let mut extra: Vec<(&str, String)> = Vec::new();
    if o.naive {
        extra.push(("SALES_PROTOCOL", "naive".into()));
    }
    // Tuning passed on to every service (see README).
    for var in ["KAFKA_LINGER_MS", "KAFKA_FETCH_WAIT_MS", "KAFKA_IDEMPOTENCE", "KAFKA_PARTITIONS", "DATABASE_POOL_SIZE"]
    {
        if let Ok(v) = std::env::var(var) {
            extra.push((var, v));
        }
    }
    let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // Chaos kills the broker too, so the run needs a broker of its own with
    // durable storage.
    let broker = if o.chaos_every_s > 0.0 && o.chaos_broker {
        let b = ticktak_tests::broker::OwnedBroker::start().await?;
        anyhow::ensure!(ticktak_tests::override_brokers(b.addr()), "broker already chosen");
        Some(b)
    } else {
        None
    };
    let mut m = Market::start(o.platforms, 1, o.capacity, &extra).await?;
    m.broker = broker;
    let market = Arc::new(tokio::sync::Mutex::new(m));
    let (report_result, (killed, last_kill)) = {
        let done = Arc::new(tokio::sync::Notify::new());
        let only_broker = o.chaos_broker && o.chaos_broker_only;
        let chaos = (o.chaos_every_s > 0.0)
            .then(|| tokio::spawn(chaos(market.clone(), o.chaos_every_s, only_broker, done.clone())));
        let result = race(o, &market).await;
        done.notify_one();
        let killed = match chaos {
            Some(t) => t.await.unwrap_or_default(),
            None => (Vec::new(), None),
        };
        (result, killed)
    };
    let market = Arc::try_unwrap(market).map_err(|_| anyhow::anyhow!("market still shared"))?.into_inner();
    let mut report = report_result?;
    report.killed = killed;
    settle_and_check(o, market, report, last_kill).await
}

/// Every `every_s` seconds until `done`: SIGKILL a random service of a
/// random platform, or the run's own broker, and restart it. Returns what
/// was killed and when the last kill's restart was done.
async fn chaos(
    market: Arc<tokio::sync::Mutex<Market>>,
    every_s: f64,
    only_broker: bool,
    done: Arc<tokio::sync::Notify>,
) -> (Vec<String>, Option<Instant>) {
    let mut killed = Vec::new();
    let mut last = None;
    let mut seed = std::process::id() as u64 | 1;
    loop {
        tokio::select! {
            _ = done.notified() => return (killed, last),
            _ = tokio::time::sleep(Duration::from_secs_f64(every_s)) => {}
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut m = market.lock().await;
        // One chance in four for the broker, else a random service.
        if m.broker.is_some() && (only_broker || (seed >> 20).is_multiple_of(4)) {
            killed.push(m.kill_and_restart_broker().await);
        } else {
            let platform = ((seed >> 4) % m.platforms.len() as u64) as usize;
            let which = ((seed >> 8) % m.platforms[platform].children.len() as u64) as usize;
            killed.push(m.kill_and_restart(platform, which).await);
        }
        last = Some(Instant::now());
    }
}

async fn race(o: &RaceOptions, market: &tokio::sync::Mutex<Market>) -> anyhow::Result<RaceReport> {
    let (urls, platform_ids, shop_url) = {
        let m = market.lock().await;
        (
            m.platforms.iter().map(|p| format!("{}/api/reservations", p.reservations_url)).collect::<Vec<_>>(),
            m.platforms.iter().map(|p| p.env.platform_id.clone()).collect::<Vec<_>>(),
            m.platforms[0].shop_url.clone(),
        )
    };
    let total = (o.capacity as usize) * (o.oversubscribe as usize);
    let shared = Arc::new(Shared {
        http: reqwest::Client::builder().pool_max_idle_per_host(o.buyers).timeout(Duration::from_secs(30)).build()?,
        urls,
        // Enough people that nobody passes the ledger's cap per buyer and
        // match (`TICKETS_PER_BUYER`, across the market): the race
        // measures the market, not the cap. The clients are `buyers`.
        tokens: (0..o.buyers.max(total.div_ceil(ticktak_core::ledger::TICKETS_PER_BUYER as usize)))
            .map(|b| platform_ids.iter().map(|p| dev_token(&format!("bench-buyer-{b}"), p)).collect())
            .collect(),
        histogram: Mutex::new(Histogram::new_with_bounds(1, 120_000_000, 3)?),
        tally: Mutex::new(Tally::default()),
        granted: AtomicUsize::new(0),
        sold_out_at: Mutex::new(None),
        capacity: o.capacity as usize,
    });

    let availability_url = format!("{shop_url}/api/matches/1/availability");
    let reads_idle = if o.with_reads { Some(crate::reads::wrk(&availability_url, 5, 64)?) } else { None };
    let reads_task = o.with_reads.then(|| {
        let url = availability_url.clone();
        tokio::task::spawn_blocking(move || crate::reads::wrk(&url, 5, 64))
    });
    run_hook("BENCH_HOOK_START")?;
    let cpu_before = cpu_snapshot(&*market.lock().await);
    let start = Instant::now();
    if o.rate > 0.0 {
        // Open loop: request i is due at start + i/rate whatever happened before.
        let limit = Arc::new(tokio::sync::Semaphore::new(8192));
        let mut tasks = Vec::with_capacity(total);
        for i in 0..total {
            let due = start + Duration::from_secs_f64(i as f64 / o.rate);
            tokio::time::sleep_until(due.into()).await;
            let permit = limit.clone().acquire_owned().await?;
            let s = shared.clone();
            tasks.push(tokio::spawn(async move {
                s.request(i, due).await;
                drop(permit);
            }));
        }
        for t in tasks {
            t.await?;
        }
    } else {
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..o.buyers {
            let (s, next) = (shared.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    s.request(i, Instant::now()).await;
                }
            }));
        }
        for t in tasks {
            t.await?;
        }
    }
    let duration = start.elapsed().as_secs_f64();
    run_hook("BENCH_HOOK_END")?;
    let reads_during_race = match reads_task {
        Some(t) => Some(t.await??),
        None => None,
    };
    let cpu_s: Vec<(String, f64)> = cpu_snapshot(&*market.lock().await)
        .into_iter()
        .zip(cpu_before)
        .map(|((name, after), (_, before))| (name, after - before))
        .collect();
    let tally = *shared.tally.lock().expect("lock");
    let granting = shared.sold_out_at.lock().expect("lock").map(|t| (t - start).as_secs_f64()).unwrap_or(duration);

    let h = shared.histogram.lock().expect("lock");
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let decided = tally.granted + tally.rejected_by_log;
    Ok(RaceReport {
        mode: format!(
            "{}{}",
            if o.naive { "NAIVE course protocol, " } else { "" },
            if o.rate > 0.0 {
                format!("open loop at {} req/s", o.rate)
            } else {
                format!("closed loop, {} buyers", o.buyers)
            }
        ),
        platforms: o.platforms,
        capacity: o.capacity,
        requests: total as u64,
        buyers: o.buyers,
        duration_s: duration,
        granted: tally.granted,
        rejected_by_log: tally.rejected_by_log,
        rejected_fast: tally.rejected_fast,
        pending_at_answer: tally.pending,
        errors: tally.errors,
        decided_per_s: decided as f64 / duration,
        granted_per_s: tally.granted as f64 / duration,
        granting_phase_s: granting,
        granted_per_s_while_granting: tally.granted as f64 / granting,
        latency_ms: Percentiles {
            p50: ms(0.5),
            p90: ms(0.9),
            p99: ms(0.99),
            p999: ms(0.999),
            max: h.max() as f64 / 1000.0,
        },
        propagation_ms: None,
        hops_ms: Vec::new(),
        receive_delay_ms: None,
        batch_apply_ms: None,
        oversell: 0,
        ledgers_equal: false,
        peak_rss_mib: Vec::new(),
        cpu_s,
        reads_idle,
        reads_during_race,
        killed: Vec::new(),
        settled_after_last_kill_s: None,
        left_requested: 0,
    })
}

/// p50 and p99 (in ms) of a Prometheus summary given in seconds.
fn summary_ms(text: &str, name: &str) -> Option<(f64, f64)> {
    let quantile = |q: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{name}{{quantile=\"{q}\"}}")))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .map(|s| s * 1000.0)
    };
    quantile("0.5").zip(quantile("0.99"))
}

/// Per-hop latency of the holds decided on one platform, from the
/// timestamps the services store: the reservation's insert (`created_at`),
/// the publish (`produced-at` header, kept by the shop), the shop's apply
/// transaction (`decided_at`) and the reservation's decision (`updated_at`).
async fn hops(pool: &sqlx::PgPool) -> anyhow::Result<Vec<(String, f64, f64)>> {
    let mut out = Vec::new();
    for (name, from, to) in [
        ("request → published", "r.created_at", "h.produced_at"),
        ("published → shop applies", "h.produced_at", "h.decided_at"),
        ("shop applies → reservation decided", "h.decided_at", "r.updated_at"),
    ] {
        let row: (Option<f64>, Option<f64>) = sqlx::query_as(&format!(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) \
             FROM (SELECT extract(epoch FROM {to} - {from}) * 1000 AS ms FROM reservations.reservations r \
                   JOIN shop.holds h ON h.hold_id = r.id WHERE r.status IN ('HELD', 'REJECTED')) t"
        ))
        .fetch_one(pool)
        .await?;
        if let (Some(p50), Some(p99)) = row {
            out.push((name.to_string(), p50, p99));
        }
    }
    Ok(out)
}

/// CPU seconds so far of every process of the market, PostgreSQL, the
/// broker and this client.
/// Run the shell command in the environment variable `name`, if set: the
/// race runs `BENCH_HOOK_START` as its requests begin and `BENCH_HOOK_END`
/// when the last is answered, so a profiler can count only the race
/// (`callgrind_control -z` and `-d`, for services started under
/// `valgrind --tool=callgrind`; BENCHMARKS.md, "Instructions per hold").
fn run_hook(name: &str) -> anyhow::Result<()> {
    if let Ok(command) = std::env::var(name) {
        let status = std::process::Command::new("sh").args(["-c", &command]).status()?;
        anyhow::ensure!(status.success(), "{name} ({command}) failed: {status}");
    }
    Ok(())
}

pub fn cpu_snapshot(market: &Market) -> Vec<(String, f64)> {
    let mut v = market.cpu_seconds();
    v.push(("postgres (all)".into(), crate::market::cpu_of_processes("postgres")));
    // The broker's own database: the bench's broker or a chaos run's own.
    v.push((
        "postgres (broker's database)".into(),
        crate::market::cpu_of_processes_with("postgres", "ticktak_bench_broker")
            + crate::market::cpu_of_processes_with("postgres", "t_broker_"),
    ));
    v.push(("nisshi broker".into(), crate::market::cpu_of_processes("nisshi")));
    v.push(("bench client".into(), crate::market::cpu_of(std::process::id())));
    v
}

/// Wait until every reservation is decided and every ledger is equal, then
/// check for oversell and collect propagation and memory.
async fn settle_and_check(
    o: &RaceOptions,
    market: Market,
    mut report: RaceReport,
    last_kill: Option<Instant>,
) -> anyhow::Result<RaceReport> {
    // Settle: every reservation decided, every platform's ledger equal.
    let mut pools = Vec::new();
    for i in 0..market.platforms.len() {
        pools.push(market.pool(i).await?);
    }
    let settle = Instant::now();
    let (held_reservations, ledgers_equal, left_requested) = loop {
        let mut requested = 0i64;
        let mut held = 0i64;
        for pool in &pools {
            requested += sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM reservations.reservations WHERE status = 'REQUESTED'",
            )
            .fetch_one(pool)
            .await?;
            held +=
                sqlx::query_scalar::<_, i64>("SELECT count(*) FROM reservations.reservations WHERE status = 'HELD'")
                    .fetch_one(pool)
                    .await?;
        }
        let mut digests = Vec::new();
        let mut counts = Vec::new();
        for pool in &pools {
            let (h, s): (i32, i32) =
                sqlx::query_as("SELECT held, sold FROM shop.ticket_types WHERE match_number = 1 AND category = 1")
                    .fetch_one(pool)
                    .await?;
            counts.push((h, s));
            digests.push(crate::market::holds_digest(pool).await?);
        }
        let equal = digests.windows(2).all(|w| w[0] == w[1]) && counts.windows(2).all(|w| w[0] == w[1]);
        if requested == 0 && equal && counts[0].0 as i64 == held {
            report.settled_after_last_kill_s = last_kill.map(|at| at.elapsed().as_secs_f64());
            break (held, true, 0);
        }
        if settle.elapsed() > Duration::from_secs(120) {
            break (held, equal, requested);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut oversell = (held_reservations - i64::from(o.capacity)).max(0);
    for pool in &pools {
        let (h, s): (i32, i32) =
            sqlx::query_as("SELECT held, sold FROM shop.ticket_types WHERE match_number = 1 AND category = 1")
                .fetch_one(pool)
                .await?;
        oversell = oversell.max(i64::from(h + s) - i64::from(o.capacity));
    }
    let propagation = if pools.len() > 1 {
        let row: (Option<f64>, Option<f64>) = sqlx::query_as(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) \
             FROM (SELECT extract(epoch FROM decided_at - produced_at) * 1000 AS ms FROM shop.holds WHERE origin = 'a' AND produced_at IS NOT NULL) t",
        )
        .fetch_one(&pools[1])
        .await?;
        row.0.zip(row.1)
    } else {
        None
    };
    let hops_ms = hops(&pools[0]).await?;
    let consumer_metrics =
        reqwest::get(format!("{}/metrics", market.platforms[0].consumer_url)).await.map(|r| r.text()).ok();
    let consumer_metrics = match consumer_metrics {
        Some(text) => text.await.unwrap_or_default(),
        None => String::new(),
    };
    report.receive_delay_ms = summary_ms(&consumer_metrics, "consumer_receive_delay_seconds");
    report.batch_apply_ms = summary_ms(&consumer_metrics, "consumer_apply_seconds");
    let peak_rss_mib = market.peak_rss_mib();
    for pool in pools {
        pool.close().await;
    }
    market.stop().await;

    report.oversell = oversell;
    report.ledgers_equal = ledgers_equal;
    report.left_requested = left_requested;
    report.propagation_ms = propagation;
    report.hops_ms = hops_ms;
    report.peak_rss_mib = peak_rss_mib;
    Ok(report)
}
