//! Scenario 6, the whole market on sale at once: P platforms, every ticket
//! type of the master list (64 matches × 3 categories) on sale together with
//! the list's own capacities, and hold requests from buyers whose choice of
//! match follows a Zipf law: the opener and the final hottest, then the
//! knock-out rounds latest first, then the favourites' group games, most
//! group games cold. Closed loop (N connections) or open loop (a rate).
//!
//! It reports holds decided through the log per second and answers per
//! second (a sold-out ticket type is answered without the log), POST
//! latency, CPU per process, and checks every ticket type on every platform:
//! nothing oversold, every ledger equal, nothing left REQUESTED. Run it at
//! 1, 4 and 12 partitions (`KAFKA_PARTITIONS`): each match's messages stay
//! in its home partition, so what can run in parallel does.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;
use ticktak_core::masterlist::MasterListMatch;
use ticktak_tests::dev_token;

use crate::market::Market;
use crate::race::{classify, Percentiles, Tally};

#[derive(Debug, Clone)]
pub struct OnsaleOptions {
    pub platforms: usize,
    /// Hold requests in all.
    pub requests: usize,
    /// Closed loop: connections, each sending its next request when the
    /// last is answered.
    pub buyers: usize,
    /// Open loop: requests/s (0 = closed loop).
    pub rate: f64,
    /// Distinct people the requests come from (tokens, round robin).
    pub people: usize,
    /// Zipf exponent over the matches' popularity ranks.
    pub zipf_s: f64,
    pub seed: u64,
    /// Every category's capacity instead of the master list's (short runs).
    pub capacity: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct OnsaleReport {
    pub mode: String,
    pub platforms: usize,
    /// Partitions of the sales topic (`KAFKA_PARTITIONS`).
    pub partitions: String,
    pub ticket_types: usize,
    pub capacity: u64,
    pub requests: u64,
    pub duration_s: f64,
    pub granted: u64,
    pub rejected_by_log: u64,
    pub rejected_fast: u64,
    pub pending_at_answer: u64,
    pub errors: u64,
    /// Holds the log decided (granted + rejected by the log) per second.
    pub decided_per_s: f64,
    /// From the start to the log's last decision: the selling.
    pub selling_s: f64,
    pub decided_per_s_while_selling: f64,
    /// Every answer per second (the fast sold-out answer included).
    pub answered_per_s: f64,
    pub latency_ms: Percentiles,
    /// Share of the requests that went to the ten hottest matches.
    pub hottest_ten_share: f64,
    pub sold_out_types: usize,
    /// The most any ticket type was oversold on any platform (must be 0).
    pub oversell: i64,
    pub ledgers_equal: bool,
    pub left_requested: i64,
    pub peak_rss_mib: f64,
    pub cpu_s: Vec<(String, f64)>,
}

impl OnsaleReport {
    pub fn print(&self) {
        println!("| scenario 6: the whole market on sale | {} |", self.mode);
        println!("|---|---|");
        let rows: Vec<(&str, String)> = vec![
            (
                "platforms × ticket types · partitions",
                format!("{} × {} · {}", self.platforms, self.ticket_types, self.partitions),
            ),
            ("tickets on sale (the market)", self.capacity.to_string()),
            ("requests (Zipf over matches)", self.requests.to_string()),
            ("share of requests for the 10 hottest matches", format!("{:.0} %", self.hottest_ten_share * 100.0)),
            ("duration", format!("{:.1} s", self.duration_s)),
            (
                "granted / rejected by log / fast sold-out / 202 / errors",
                format!(
                    "{} / {} / {} / {} / {}",
                    self.granted, self.rejected_by_log, self.rejected_fast, self.pending_at_answer, self.errors
                ),
            ),
            ("decided holds/s through the log (whole run)", format!("{:.0}", self.decided_per_s)),
            (
                "decided holds/s until the log's last decision",
                format!("{:.0} (in {:.1} s)", self.decided_per_s_while_selling, self.selling_s),
            ),
            ("answers/s (all)", format!("{:.0}", self.answered_per_s)),
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
            ("ticket types sold out at the end", self.sold_out_types.to_string()),
            ("oversell (worst ticket type, any platform)", self.oversell.to_string()),
            ("ledgers equal on every platform", self.ledgers_equal.to_string()),
            ("reservations left REQUESTED after settling", self.left_requested.to_string()),
            ("peak RSS max per service", format!("{:.1} MiB", self.peak_rss_mib)),
        ];
        for (k, v) in rows {
            println!("| {k} | {v} |");
        }
        let cpu: Vec<String> = self.cpu_s.iter().map(|(n, s)| format!("{n} {s:.1}")).collect();
        println!("| CPU seconds during the run | {} |", cpu.join(", "));
    }
}

/// The matches from hottest to coldest: the opener, the final, the other
/// knock-out matches latest round first, the group games of the
/// favourites, then every other group game.
pub fn popularity(list: &[MasterListMatch]) -> Vec<u8> {
    const FAVOURITES: [&str; 8] =
        ["Argentina", "Brazil", "France", "England", "Spain", "Germany", "Portugal", "Netherlands"];
    let n = |m: &MasterListMatch| m.match_number.get();
    let favourite = |m: &MasterListMatch| FAVOURITES.iter().any(|t| m.home_team == *t || m.away_team == *t);
    let mut rest: Vec<&MasterListMatch> = list.iter().filter(|m| n(m) != 1 && n(m) != 64).collect();
    rest.sort_by_key(|m| (m.group.is_some(), !favourite(m), if m.group.is_none() { u8::MAX - n(m) } else { n(m) }));
    let mut ranked: Vec<u8> = list.iter().map(n).filter(|&m| m == 1 || m == 64).collect();
    ranked.sort();
    ranked.extend(rest.iter().map(|m| n(m)));
    ranked
}

/// splitmix64: the same requests for the same seed.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One hold request: match, category, quantity.
#[derive(Debug, Clone, Copy)]
pub struct Ask {
    pub match_number: u8,
    pub category: u8,
    pub quantity: u8,
}

/// `requests` asks, the match by a Zipf law of exponent `s` over `ranked`
/// (hottest first), the category uniform, one or two tickets.
pub fn asks(ranked: &[u8], requests: usize, s: f64, seed: u64) -> Vec<Ask> {
    let weights: Vec<f64> = (1..=ranked.len()).map(|r| 1.0 / (r as f64).powf(s)).collect();
    let total: f64 = weights.iter().sum();
    let cumulative: Vec<f64> = weights
        .iter()
        .scan(0.0, |acc, w| {
            *acc += w / total;
            Some(*acc)
        })
        .collect();
    let mut random = Random(seed);
    (0..requests)
        .map(|_| {
            let u = random.unit();
            let rank = cumulative.partition_point(|c| *c < u).min(ranked.len() - 1);
            Ask {
                match_number: ranked[rank],
                category: 1 + (random.next() % 3) as u8,
                quantity: if random.next() % 10 < 6 { 1 } else { 2 },
            }
        })
        .collect()
}

struct Shared {
    http: reqwest::Client,
    urls: Vec<String>,
    tokens: Vec<Vec<String>>,
    asks: Vec<Ask>,
    histogram: Mutex<Histogram<u64>>,
    tally: Mutex<Tally>,
    /// When the log last decided a hold (granted or rejected): the end of
    /// the selling, after which every answer is the fast sold-out one.
    last_decided: Mutex<Option<Instant>>,
}

impl Shared {
    async fn request(&self, i: usize, intended: Instant) {
        let ask = self.asks[i];
        let platform = i % self.urls.len();
        let token = &self.tokens[i % self.tokens.len()][platform];
        let res = self
            .http
            .post(&self.urls[platform])
            .bearer_auth(token)
            .json(&serde_json::json!({"matchNumber": ask.match_number, "category": ask.category, "quantity": ask.quantity}))
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
        if t.granted + t.rejected_by_log > 0 {
            *self.last_decided.lock().expect("lock") = Some(Instant::now());
        }
        self.tally.lock().expect("lock").add(t);
    }
}

pub async fn run(o: &OnsaleOptions) -> anyhow::Result<OnsaleReport> {
    let mut list = ticktak_core::masterlist::fixture();
    if let Some(c) = o.capacity {
        for m in &mut list {
            for cat in [&mut m.availability.category1, &mut m.availability.category2, &mut m.availability.category3] {
                cat.available = c;
            }
        }
    }
    let capacity: u64 = list
        .iter()
        .map(|m| {
            u64::from(
                m.availability.category1.available
                    + m.availability.category2.available
                    + m.availability.category3.available,
            )
        })
        .sum();
    let ranked = popularity(&list);
    let asks = asks(&ranked, o.requests, o.zipf_s, o.seed);
    let hottest: Vec<u8> = ranked.iter().take(10).copied().collect();
    let hottest_ten_share =
        asks.iter().filter(|a| hottest.contains(&a.match_number)).count() as f64 / asks.len().max(1) as f64;

    let mut extra: Vec<(&str, String)> = Vec::new();
    for var in ["KAFKA_LINGER_MS", "KAFKA_FETCH_WAIT_MS", "KAFKA_IDEMPOTENCE", "KAFKA_PARTITIONS", "DATABASE_POOL_SIZE"]
    {
        if let Ok(v) = std::env::var(var) {
            extra.push((var, v));
        }
    }
    let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let market = Market::start_with_list(o.platforms, &list, &extra).await?;
    let platform_ids: Vec<String> = market.platforms.iter().map(|p| p.env.platform_id.clone()).collect();
    let shared = Arc::new(Shared {
        http: reqwest::Client::builder().pool_max_idle_per_host(o.buyers).timeout(Duration::from_secs(30)).build()?,
        urls: market.platforms.iter().map(|p| format!("{}/api/reservations", p.reservations_url)).collect(),
        tokens: (0..o.people.max(1))
            .map(|b| platform_ids.iter().map(|p| dev_token(&format!("fan-{b}"), p)).collect())
            .collect(),
        asks,
        histogram: Mutex::new(Histogram::new_with_bounds(1, 120_000_000, 3)?),
        tally: Mutex::new(Tally::default()),
        last_decided: Mutex::new(None),
    });

    let cpu_before = crate::race::cpu_snapshot(&market);
    let start = Instant::now();
    let total = o.requests;
    if o.rate > 0.0 {
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
    let cpu_s: Vec<(String, f64)> = crate::race::cpu_snapshot(&market)
        .into_iter()
        .zip(cpu_before)
        .map(|((name, after), (_, before))| (name, after - before))
        .collect();
    let tally = *shared.tally.lock().expect("lock");
    let selling_s = shared.last_decided.lock().expect("lock").map_or(duration, |t| (t - start).as_secs_f64());
    let latency_ms = {
        let h = shared.histogram.lock().expect("lock");
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Percentiles { p50: ms(0.5), p90: ms(0.9), p99: ms(0.99), p999: ms(0.999), max: h.max() as f64 / 1000.0 }
    };
    let checked = settle_and_check(&market).await;
    let peak_rss_mib = market.peak_rss_mib().iter().map(|(_, m)| *m).fold(0.0, f64::max);
    market.stop().await;
    let checked = checked?;
    Ok(OnsaleReport {
        mode: if o.rate > 0.0 {
            format!("open loop at {} req/s", o.rate)
        } else {
            format!("closed loop, {} connections", o.buyers)
        },
        platforms: o.platforms,
        partitions: std::env::var("KAFKA_PARTITIONS").unwrap_or_else(|_| "default".into()),
        ticket_types: list.len() * 3,
        capacity,
        requests: total as u64,
        duration_s: duration,
        granted: tally.granted,
        rejected_by_log: tally.rejected_by_log,
        rejected_fast: tally.rejected_fast,
        pending_at_answer: tally.pending,
        errors: tally.errors,
        decided_per_s: (tally.granted + tally.rejected_by_log) as f64 / duration,
        selling_s,
        decided_per_s_while_selling: (tally.granted + tally.rejected_by_log) as f64 / selling_s.max(1e-3),
        answered_per_s: (tally.granted + tally.rejected_by_log + tally.rejected_fast + tally.pending) as f64 / duration,
        latency_ms,
        hottest_ten_share,
        sold_out_types: checked.sold_out_types,
        oversell: checked.oversell,
        ledgers_equal: checked.ledgers_equal,
        left_requested: checked.left_requested,
        peak_rss_mib,
        cpu_s,
    })
}

struct Checked {
    sold_out_types: usize,
    oversell: i64,
    ledgers_equal: bool,
    left_requested: i64,
}

/// Wait (up to two minutes) until nothing is REQUESTED and every platform's
/// ledger is the same, then check every ticket type: held + sold within its
/// capacity on every platform, and the market's HELD and CONFIRMED
/// reservations within it too.
async fn settle_and_check(market: &Market) -> anyhow::Result<Checked> {
    let mut pools = Vec::new();
    for i in 0..market.platforms.len() {
        pools.push(market.pool(i).await?);
    }
    let started = Instant::now();
    let (ledgers_equal, left_requested) = loop {
        let mut requested = 0i64;
        let mut digests = Vec::new();
        for pool in &pools {
            requested += sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM reservations.reservations WHERE status = 'REQUESTED'",
            )
            .fetch_one(pool)
            .await?;
            let d: String = sqlx::query_scalar(
                "SELECT coalesce(md5(string_agg(hold_id::text || status, ',' ORDER BY hold_id)), '') || \
                 (SELECT coalesce(md5(string_agg(match_number || '.' || category || ':' || held || '/' || sold, ',' \
                   ORDER BY match_number, category)), '') FROM shop.ticket_types) FROM shop.holds",
            )
            .fetch_one(pool)
            .await?;
            digests.push(d);
        }
        let equal = digests.windows(2).all(|w| w[0] == w[1]);
        if (requested == 0 && equal) || started.elapsed() > Duration::from_secs(120) {
            break (equal, requested);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let mut oversell = 0i64;
    let mut sold_out_types = 0;
    let mut market_wide: std::collections::HashMap<(i16, i16), i64> = std::collections::HashMap::new();
    for (i, pool) in pools.iter().enumerate() {
        let rows: Vec<(i16, i16, i32, i32, i32)> =
            sqlx::query_as("SELECT match_number, category, capacity, held, sold FROM shop.ticket_types")
                .fetch_all(pool)
                .await?;
        for (_, _, capacity, held, sold) in &rows {
            oversell = oversell.max(i64::from(held + sold - capacity));
            if i == 0 && held + sold == *capacity {
                sold_out_types += 1;
            }
        }
        let taken: Vec<(i16, i16, i64)> = sqlx::query_as(
            "SELECT match_number, category, sum(quantity)::bigint FROM reservations.reservations \
             WHERE status IN ('HELD', 'CONFIRMED') GROUP BY match_number, category",
        )
        .fetch_all(pool)
        .await?;
        for (m, c, n) in taken {
            *market_wide.entry((m, c)).or_default() += n;
        }
    }
    // The market's reservations, all platforms together, against the first
    // platform's capacities.
    let rows: Vec<(i16, i16, i32)> =
        sqlx::query_as("SELECT match_number, category, capacity FROM shop.ticket_types").fetch_all(&pools[0]).await?;
    for (m, c, capacity) in rows {
        let n = market_wide.get(&(m, c)).copied().unwrap_or(0);
        oversell = oversell.max(n - i64::from(capacity));
    }
    for pool in pools {
        pool.close().await;
    }
    Ok(Checked { sold_out_types, oversell, ledgers_equal, left_requested })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_opener_and_the_final_are_hottest_and_most_group_games_cold() {
        let list = ticktak_core::masterlist::fixture();
        let ranked = popularity(&list);
        assert_eq!(ranked.len(), 64);
        assert_eq!(&ranked[..2], &[1, 64]);
        let asks = asks(&ranked, 100_000, 1.0, 7);
        let share = |m: u8| asks.iter().filter(|a| a.match_number == m).count() as f64 / asks.len() as f64;
        assert!(share(1) > 0.15 && share(64) > 0.07, "{} {}", share(1), share(64));
        let coldest = ranked[63];
        assert!(share(coldest) < 0.01, "{}", share(coldest));
        assert!(asks.iter().all(|a| (1..=3).contains(&a.category) && (1..=2).contains(&a.quantity)));
    }
}
