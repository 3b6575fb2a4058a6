//! Scenario: an on-sale through the waiting room. Two platforms (one with
//! 4× the other's buyers), match 1 closed until T then sold through a
//! waiting room at a market rate; N buyers arrive uniformly over the
//! `spread` seconds before and after T, join, follow their place as
//! `Retry-After` says, and hold one ticket with their admission.
//!
//! Reports: hold p50/p99 of admitted buyers, queue-status p99, time from
//! T to the last admission, holds without admission (tried: all refused),
//! oversell; fairness: the pre-queue's places against arrival order
//! (chi-square of a 10 × 10 table of arrival and place deciles), FIFO for
//! later arrivals, and the mean wait on the small platform against the
//! big one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use serde::Serialize;
use ticktak_tests::dev_token;
use tokio::sync::Mutex;

use crate::market::Market;

#[derive(Debug, Clone)]
pub struct QueueOptions {
    pub buyers: usize,
    /// Arrivals over this many seconds before T and as many after.
    pub spread_s: f64,
    /// The market's admission rate, buyers per minute.
    pub admit_per_minute: u32,
    /// Tickets of match 1 category 1.
    pub capacity: u32,
    /// Each platform's `QUEUE_ADMIT_FLOOR_PER_MIN`.
    pub floor_per_minute: u32,
    pub seed: u64,
}

/// One buyer's story.
#[derive(Debug, Clone, Default)]
struct Buyer {
    platform: usize,
    /// Seconds from T (negative: before).
    arrives_s: f64,
    /// Joined the pre-queue (the room had not opened yet).
    joined_before_t: bool,
    /// Seconds from T its join was sent.
    sent_s: f64,
    place: Option<i64>,
    /// Seconds from T.
    joined_at_s: f64,
    admitted_at_s: Option<f64>,
    held: bool,
    error: Option<String>,
    /// Answers 503 (busy) it came back after.
    busy: u32,
}

#[derive(Debug, Serialize)]
pub struct QueueReport {
    pub buyers: usize,
    pub per_platform: Vec<usize>,
    pub admit_per_minute: u32,
    pub capacity: u32,
    pub admitted: usize,
    pub held: usize,
    pub errors: usize,
    pub first_error: Option<String>,
    /// 503 answers (busy), each followed by another try after `Retry-After`.
    pub busy_answers: u64,
    pub join_p99_ms: f64,
    pub status_p50_ms: f64,
    pub status_p99_ms: f64,
    pub status_requests: u64,
    pub hold_p50_ms: f64,
    pub hold_p99_ms: f64,
    pub last_admission_after_t_s: f64,
    pub holds_without_admission_tried: usize,
    pub holds_without_admission_granted: usize,
    pub oversell: i64,
    /// Chi-square of arrival decile × place decile in the pre-queue (81
    /// degrees of freedom: 113.5 is the 1 % critical value).
    pub prequeue_chi_square: f64,
    pub prequeue_uniform: bool,
    /// Later arrivals (per platform) whose place is below that of someone
    /// whose join was answered before theirs was sent.
    pub fifo_inversions: usize,
    /// Mean wait (admission − max(arrival, T)) per platform, seconds.
    pub mean_wait_s: Vec<f64>,
    /// Small platform's mean wait over the big one's.
    pub wait_ratio_small_over_big: f64,
    /// The same, with each buyer's turn timed on the server (when the
    /// platform's admitted count passed their place, sampled every 200 ms)
    /// instead of when the buyer saw it.
    pub server_mean_wait_s: Vec<f64>,
    pub server_wait_ratio_small_over_big: f64,
}

impl QueueReport {
    pub fn print(&self) {
        let rows = [
            ("buyers (per platform)", format!("{} ({:?})", self.buyers, self.per_platform)),
            ("market rate", format!("{} buyers/min", self.admit_per_minute)),
            ("admitted / held", format!("{} / {} (capacity {})", self.admitted, self.held, self.capacity)),
            ("errors", format!("{} {}", self.errors, self.first_error.clone().unwrap_or_default())),
            ("busy answers (503, tried again)", self.busy_answers.to_string()),
            ("join p99", format!("{:.1} ms", self.join_p99_ms)),
            (
                "queue status p50 / p99",
                format!("{:.1} / {:.1} ms ({} requests)", self.status_p50_ms, self.status_p99_ms, self.status_requests),
            ),
            ("hold p50 / p99 (admitted buyers)", format!("{:.1} / {:.1} ms", self.hold_p50_ms, self.hold_p99_ms)),
            ("T → last admission", format!("{:.1} s", self.last_admission_after_t_s)),
            (
                "holds without admission",
                format!(
                    "{} granted of {} tried",
                    self.holds_without_admission_granted, self.holds_without_admission_tried
                ),
            ),
            ("oversell", self.oversell.to_string()),
            (
                "pre-queue chi-square (81 dof)",
                format!("{:.1} (uniform at 1 %: {})", self.prequeue_chi_square, self.prequeue_uniform),
            ),
            ("FIFO inversions, later arrivals", self.fifo_inversions.to_string()),
            (
                "mean wait per platform",
                format!("{:?} s", self.mean_wait_s.iter().map(|w| format!("{w:.1}")).collect::<Vec<_>>()),
            ),
            ("wait ratio small / big", format!("{:.3}", self.wait_ratio_small_over_big)),
            (
                "mean wait per platform, on the server",
                format!("{:?} s", self.server_mean_wait_s.iter().map(|w| format!("{w:.1}")).collect::<Vec<_>>()),
            ),
            ("wait ratio small / big, on the server", format!("{:.3}", self.server_wait_ratio_small_over_big)),
        ];
        for (k, v) in rows {
            println!("{k:<36} {v}");
        }
    }
}

fn retry_after(r: &reqwest::Response) -> Option<u64> {
    r.headers().get("retry-after")?.to_str().ok()?.parse().ok()
}

/// Most requests the simulated buyers have in flight at once.
const IN_FLIGHT: usize = 512;

/// A small deterministic generator for arrival times (SplitMix64).
struct SplitMix(u64);

impl SplitMix {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Shared {
    http: reqwest::Client,
    /// Requests in flight at once (one machine cannot hold a socket for
    /// each of 50,000 buyers; a buyer waiting between reads holds none).
    in_flight: tokio::sync::Semaphore,
    /// Per platform: its reservations URL and platform id.
    platforms: Vec<(String, String)>,
    start: Instant,
    t_instant: Instant,
    status_ms: std::sync::Mutex<Histogram<u64>>,
    join_ms: std::sync::Mutex<Histogram<u64>>,
    hold_ms: std::sync::Mutex<Histogram<u64>>,
}

impl Shared {
    fn since_t(&self) -> f64 {
        let now = Instant::now();
        if now >= self.t_instant {
            (now - self.t_instant).as_secs_f64()
        } else {
            -(self.t_instant - now).as_secs_f64()
        }
    }

    fn record(h: &std::sync::Mutex<Histogram<u64>>, since: Instant) {
        h.lock().expect("histogram").record(since.elapsed().as_micros().max(1) as u64).ok();
    }

    /// One buyer from arrival to hold.
    async fn buy(&self, i: usize, mut b: Buyer) -> Buyer {
        let (url, platform) = &self.platforms[b.platform];
        let token = dev_token(&format!("fan-{i}"), platform);
        let offset = Duration::from_secs_f64(b.arrives_s.abs());
        let arrive = match b.arrives_s < 0.0 {
            true => self.t_instant.checked_sub(offset),
            false => self.t_instant.checked_add(offset),
        };
        if let Some(at) = arrive {
            tokio::time::sleep_until(at.max(self.start).into()).await;
        }
        b.sent_s = self.since_t();
        // Join, coming back after `Retry-After` while the platform is busy (503).
        let body: serde_json::Value = loop {
            let permit = self.in_flight.acquire().await.expect("semaphore open");
            let sent = Instant::now();
            let joined = self
                .http
                .post(format!("{url}/api/queue"))
                .bearer_auth(&token)
                .json(&serde_json::json!({"matchNumber": 1, "category": 1}))
                .send()
                .await;
            Self::record(&self.join_ms, sent);
            b.joined_at_s = self.since_t();
            drop(permit);
            match joined {
                Ok(r) if r.status() == 200 => break r.json().await.unwrap_or_default(),
                Ok(r) if r.status() == 503 => {
                    b.busy += 1;
                    tokio::time::sleep(Duration::from_secs(retry_after(&r).unwrap_or(1))).await;
                }
                Ok(r) => {
                    b.error = Some(format!("join {}", r.status()));
                    return b;
                }
                Err(e) => {
                    b.error = Some(format!("join: {e}"));
                    return b;
                }
            }
        };
        // In the pre-queue: the room had not opened when the join was
        // served (a join sent just before T may be served after it).
        b.joined_before_t = body["state"] == "prequeue";
        let mut ticket = body["queueTicket"].as_str().unwrap_or_default().to_string();
        b.place = body["place"].as_i64();
        let mut retry = 1u64;
        let admission = loop {
            tokio::time::sleep(Duration::from_secs(retry)).await;
            let permit = self.in_flight.acquire().await.expect("semaphore open");
            let sent = Instant::now();
            let res = self.http.get(format!("{url}/api/queue/{ticket}")).bearer_auth(&token).send().await;
            Self::record(&self.status_ms, sent);
            drop(permit);
            let res = match res {
                Ok(r) if r.status() == 200 => r,
                Ok(r) if r.status() == 503 => {
                    b.busy += 1;
                    retry = retry_after(&r).unwrap_or(1);
                    continue;
                }
                Ok(r) => {
                    b.error = Some(format!("status {}", r.status()));
                    return b;
                }
                Err(e) => {
                    b.error = Some(format!("status: {e}"));
                    return b;
                }
            };
            retry = retry_after(&res).unwrap_or(1);
            let s: serde_json::Value = res.json().await.unwrap_or_default();
            if let Some(t) = s["queueTicket"].as_str() {
                ticket = t.to_string();
            }
            if s["place"].is_i64() {
                b.place = s["place"].as_i64();
            }
            match s["state"].as_str() {
                Some("admitted") => break s["admission"].as_str().unwrap_or_default().to_string(),
                Some("prequeue" | "waiting") => continue,
                other => {
                    b.error = Some(format!("state {other:?}"));
                    return b;
                }
            }
        };
        b.admitted_at_s = Some(self.since_t());
        let permit = self.in_flight.acquire().await.expect("semaphore open");
        let sent = Instant::now();
        let held = self
            .http
            .post(format!("{url}/api/reservations"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"matchNumber": 1, "category": 1, "quantity": 1, "admission": admission}))
            .send()
            .await;
        Self::record(&self.hold_ms, sent);
        drop(permit);
        match held {
            Ok(r) if r.status() == 201 => b.held = true,
            Ok(r) if r.status() == 409 || r.status() == 202 => {}
            Ok(r) => b.error = Some(format!("hold {}", r.status())),
            Err(e) => b.error = Some(format!("hold: {e}")),
        }
        b
    }
}

pub async fn run(o: &QueueOptions) -> anyhow::Result<QueueReport> {
    // Each platform's own pace starts at its floor and climbs 10 % a second
    // while healthy; `--floor` sets it (default: the market's rate, so
    // that the market's rule alone is measured).
    let floor = o.floor_per_minute.to_string();
    let extra = [
        ("QUEUE_ADMIT_FLOOR_PER_MIN", floor.as_str()),
        ("QUEUE_ADMIT_CEILING_PER_MIN", "60000"),
        ("QUEUE_ADMISSION_TTL_SECS", "600"),
    ];
    let market = Market::start(2, 1, o.capacity, &extra).await?;
    let lead = Duration::from_secs_f64(o.spread_s + 10.0);
    let t = Utc::now() + chrono::Duration::from_std(lead)?;
    let t_text = t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let t = DateTime::parse_from_rfc3339(&t_text)?.with_timezone(&Utc);
    let out = std::process::Command::new(ticktak_tests::process::bin("publish-schedule"))
        .args(["--match", "1", "--admit-per-minute", &o.admit_per_minute.to_string(), "closed"])
        .arg(format!("queue@{t_text}"))
        .env_clear()
        .env("KAFKA_BROKERS", ticktak_tests::brokers())
        .env("TOPIC_ENV", &market.topic_env)
        .output()?;
    anyhow::ensure!(out.status.success(), "publish-schedule: {}", String::from_utf8_lossy(&out.stderr));
    let http = reqwest::Client::builder().pool_max_idle_per_host(512).timeout(Duration::from_secs(60)).build()?;
    for p in &market.platforms {
        ticktak_tests::eventually(Duration::from_secs(30), "the waiting room on every platform", || async {
            let a: serde_json::Value =
                http.get(format!("{}/api/matches/1/availability", p.shop_url)).send().await.ok()?.json().await.ok()?;
            a["categories"][0]["waitingRoom"]["id"].as_str().map(|_| ())
        })
        .await;
    }
    let until_t = (t - Utc::now()).to_std().unwrap_or_default();
    let start = Instant::now();
    let shared = Arc::new(Shared {
        http: http.clone(),
        in_flight: tokio::sync::Semaphore::new(IN_FLIGHT),
        platforms: market.platforms.iter().map(|p| (p.reservations_url.clone(), p.env.platform_id.clone())).collect(),
        start,
        t_instant: start + until_t,
        status_ms: std::sync::Mutex::new(Histogram::new(3)?),
        join_ms: std::sync::Mutex::new(Histogram::new(3)?),
        hold_ms: std::sync::Mutex::new(Histogram::new(3)?),
    });
    let mut rng = SplitMix(o.seed);
    let results = Arc::new(Mutex::new(Vec::with_capacity(o.buyers)));
    let mut tasks = Vec::with_capacity(o.buyers);
    for i in 0..o.buyers {
        // Four in five buyers on platform a.
        let platform = usize::from(rng.next_f64() >= 0.8);
        let arrives_s = (rng.next_f64() * 2.0 - 1.0) * o.spread_s;
        let b = Buyer { platform, arrives_s, ..Buyer::default() };
        let (shared, results) = (shared.clone(), results.clone());
        tasks.push(tokio::spawn(async move {
            let done = shared.buy(i, b).await;
            results.lock().await.push(done);
        }));
    }
    // Each platform's admitted count over time, from its operators' board.
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (shared, sampling, http) = (shared.clone(), sampling.clone(), http.clone());
        tokio::spawn(async move {
            let mut series: Vec<Vec<(f64, i64)>> = vec![Vec::new(); shared.platforms.len()];
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                for (i, (url, platform)) in shared.platforms.iter().enumerate() {
                    let admin = ticktak_tests::dev_token_as("bench-ops", platform, ticktak_kit::auth::Role::Admin);
                    let board: Option<serde_json::Value> =
                        match http.get(format!("{url}/api/admin/queues")).bearer_auth(admin).send().await {
                            Ok(r) => r.json().await.ok(),
                            Err(_) => None,
                        };
                    let admitted =
                        board.as_ref().and_then(|b| b["rooms"][0]["platforms"][0]["admitted"].as_i64()).unwrap_or(0);
                    series[i].push((shared.since_t(), admitted));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            series
        })
    };
    // While the line moves: holds without an admission, all refused.
    let mut without = (0usize, 0usize);
    tokio::time::sleep(until_t + Duration::from_secs(2)).await;
    for i in 0..20 {
        let (url, platform) = &shared.platforms[i % 2];
        let res = http
            .post(format!("{url}/api/reservations"))
            .bearer_auth(dev_token(&format!("pusher-{i}"), platform))
            .json(&serde_json::json!({"matchNumber": 1, "category": 1, "quantity": 1}))
            .send()
            .await;
        without.0 += 1;
        without.1 += usize::from(res.is_ok_and(|r| r.status().is_success()));
    }
    for task in tasks {
        task.await?;
    }
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let series = sampler.await?;
    let buyers = Arc::try_unwrap(results).map_err(|_| anyhow::anyhow!("results still shared"))?.into_inner();

    // Oversell: every platform's ledger of match 1 category 1.
    let mut oversell = 0i64;
    for i in 0..market.platforms.len() {
        let pool = market.pool(i).await?;
        let (h, s): (i32, i32) =
            sqlx::query_as("SELECT held, sold FROM shop.ticket_types WHERE match_number = 1 AND category = 1")
                .fetch_one(&pool)
                .await?;
        oversell = oversell.max(i64::from(h + s) - i64::from(o.capacity));
        pool.close().await;
    }
    market.stop().await;
    let report = summarise(o, &shared, &buyers, without, oversell, &series);
    Ok(report)
}

fn summarise(
    o: &QueueOptions,
    shared: &Shared,
    buyers: &[Buyer],
    without: (usize, usize),
    oversell: i64,
    series: &[Vec<(f64, i64)>],
) -> QueueReport {
    let ms = |h: &std::sync::Mutex<Histogram<u64>>, q: f64| {
        h.lock().expect("histogram").value_at_quantile(q) as f64 / 1000.0
    };
    let per_platform = (0..2).map(|p| buyers.iter().filter(|b| b.platform == p).count()).collect();
    let admitted: Vec<&Buyer> = buyers.iter().filter(|b| b.admitted_at_s.is_some()).collect();
    let mean_wait_s: Vec<f64> = (0..2)
        .map(|p| {
            let waits: Vec<f64> = admitted
                .iter()
                .filter(|b| b.platform == p)
                .map(|b| b.admitted_at_s.unwrap_or(0.0) - b.arrives_s.max(0.0))
                .collect();
            waits.iter().sum::<f64>() / waits.len().max(1) as f64
        })
        .collect();
    let big = if per_platform_count(buyers, 0) >= per_platform_count(buyers, 1) { 0 } else { 1 };
    // When the platform's admitted count first reached each buyer's place.
    let server_mean_wait_s: Vec<f64> = (0..2)
        .map(|p| {
            let waits: Vec<f64> = admitted
                .iter()
                .filter(|b| b.platform == p)
                .filter_map(|b| {
                    let place = b.place?;
                    let at = series.get(p)?.iter().find(|(_, admitted)| *admitted >= place)?.0;
                    Some(at - b.arrives_s.max(0.0))
                })
                .collect();
            waits.iter().sum::<f64>() / waits.len().max(1) as f64
        })
        .collect();
    QueueReport {
        buyers: buyers.len(),
        per_platform,
        admit_per_minute: o.admit_per_minute,
        capacity: o.capacity,
        admitted: admitted.len(),
        held: buyers.iter().filter(|b| b.held).count(),
        errors: buyers.iter().filter(|b| b.error.is_some()).count(),
        first_error: buyers.iter().find_map(|b| b.error.clone()),
        busy_answers: buyers.iter().map(|b| u64::from(b.busy)).sum(),
        join_p99_ms: ms(&shared.join_ms, 0.99),
        status_p50_ms: ms(&shared.status_ms, 0.5),
        status_p99_ms: ms(&shared.status_ms, 0.99),
        status_requests: shared.status_ms.lock().expect("histogram").len(),
        hold_p50_ms: ms(&shared.hold_ms, 0.5),
        hold_p99_ms: ms(&shared.hold_ms, 0.99),
        last_admission_after_t_s: admitted.iter().filter_map(|b| b.admitted_at_s).fold(0.0, f64::max),
        holds_without_admission_tried: without.0,
        holds_without_admission_granted: without.1,
        oversell,
        prequeue_chi_square: chi_square(buyers),
        prequeue_uniform: chi_square(buyers) < 113.5,
        fifo_inversions: fifo_inversions(buyers),
        wait_ratio_small_over_big: mean_wait_s[1 - big] / mean_wait_s[big].max(1e-9),
        mean_wait_s,
        server_wait_ratio_small_over_big: server_mean_wait_s[1 - big] / server_mean_wait_s[big].max(1e-9),
        server_mean_wait_s,
    }
}

fn per_platform_count(buyers: &[Buyer], p: usize) -> usize {
    buyers.iter().filter(|b| b.platform == p).count()
}

/// Chi-square of the pre-queue's 10 × 10 table (arrival decile × place
/// decile, per platform's line, pooled): independent when the draw is fair.
fn chi_square(buyers: &[Buyer]) -> f64 {
    let mut table = [[0f64; 10]; 10];
    for p in 0..2 {
        let mut pre: Vec<&Buyer> =
            buyers.iter().filter(|b| b.platform == p && b.joined_before_t && b.place.is_some()).collect();
        let n = pre.len();
        if n < 100 {
            continue;
        }
        pre.sort_by(|a, b| a.arrives_s.total_cmp(&b.arrives_s));
        for (rank, b) in pre.iter().enumerate() {
            let arrival = rank * 10 / n;
            let place = ((b.place.unwrap_or(1) - 1) as usize * 10 / n).min(9);
            table[arrival][place] += 1.0;
        }
    }
    crate::stats::chi_square(&table)
}

/// Later arrivals whose place comes before someone whose join was answered
/// before theirs was even sent (per platform: each has its own line).
fn fifo_inversions(buyers: &[Buyer]) -> usize {
    let mut inversions = 0;
    for p in 0..2 {
        let later: Vec<&Buyer> =
            buyers.iter().filter(|b| b.platform == p && !b.joined_before_t && b.place.is_some()).collect();
        // Joins in the order they were answered, with the highest place
        // answered so far.
        let mut answered: Vec<(f64, i64)> = later.iter().map(|b| (b.joined_at_s, b.place.unwrap_or(0))).collect();
        answered.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut highest = Vec::with_capacity(answered.len());
        let mut max = i64::MIN;
        for (_, place) in &answered {
            max = max.max(*place);
            highest.push(max);
        }
        for b in &later {
            let before = answered.partition_point(|(at, _)| *at < b.sent_s);
            if before > 0 && b.place.unwrap_or(0) < highest[before - 1] {
                inversions += 1;
            }
        }
    }
    inversions
}
