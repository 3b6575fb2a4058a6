//! `ticktak-bench attack [--seconds S] [--honest N] [--bots B]`: the hot
//! category under attack, with screening, purchase caps and reputation as
//! they ship (default limits). Every client has a loopback address of its
//! own (127.0.x.y), so per-address limits see them apart:
//!
//! - N honest buyers (127.0.1.x), each its own account, place a hold about
//!   every 4 s (under the account's 20 a minute) and cancel it again: their `POST /api/reservations` latency
//!   is measured, first with nobody else (baseline), then under attack.
//! - a flooder (127.0.0.2, one account) sends holds as fast as 8
//!   connections allow;
//! - a credential stuffer (127.0.0.3) tries sign-ins for ever new e-mail
//!   addresses;
//! - a botnet of B addresses (127.0.2.x, an account each) stays just under
//!   the per-address hold limit (60 a minute) and keeps what it gets.
//!
//! Reported: honest POST p99 under attack against the baseline (target
//! ratio ≤ 2), tickets each attacker holds (must stay within the caps: 4
//! per match, 2 unpaid holds), and how long until each attacker was first
//! throttled (429), challenged (428) or blocked (403).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ticktak_tests::process::{free_port, spawn, terminate, wait_ready};
use ticktak_tests::{dev_token, unique, PlatformEnv};

use crate::market::Market;

fn client(from: IpAddr) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().local_address(from).timeout(Duration::from_secs(30)).build()?)
}

fn addr(b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, b, c, d))
}

/// When an attacker first met each refusal, from the attack's start.
#[derive(Default)]
struct Firsts {
    throttled: Option<Duration>,
    challenged: Option<Duration>,
    blocked: Option<Duration>,
}

impl Firsts {
    fn see(&mut self, status: u16, since: Instant) {
        let slot = match status {
            429 => &mut self.throttled,
            428 => &mut self.challenged,
            403 => &mut self.blocked,
            _ => return,
        };
        slot.get_or_insert(since.elapsed());
    }

    fn show(d: Option<Duration>) -> String {
        d.map(|d| format!("{:.1} s", d.as_secs_f64())).unwrap_or_else(|| "never".into())
    }
}

struct Target {
    reservations: String,
    security: String,
    platform: String,
}

async fn honest_round(
    t: &Target,
    seconds: u64,
    honest: u8,
    stop_early: Arc<AtomicBool>,
) -> anyhow::Result<Histogram<u64>> {
    let hist = Arc::new(Mutex::new(Histogram::<u64>::new(3)?));
    let mut tasks = Vec::new();
    let until = Instant::now() + Duration::from_secs(seconds);
    for i in 0..honest {
        let http = client(addr(1, 0, i + 1))?;
        let url = format!("{}/api/reservations", t.reservations);
        let token = dev_token(&format!("honest-{i}-{}", unique("")), &t.platform);
        let hist = hist.clone();
        let stop = stop_early.clone();
        tasks.push(tokio::spawn(async move {
            // Spread the buyers over the 4 s period.
            tokio::time::sleep(Duration::from_millis(u64::from(i) * 80)).await;
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let res = http
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&serde_json::json!({"matchNumber": 1, "category": 1, "quantity": 1}))
                    .send()
                    .await;
                let took = started.elapsed();
                if let Ok(res) = res {
                    let status = res.status().as_u16();
                    let body: serde_json::Value = res.json().await.unwrap_or_default();
                    hist.lock().unwrap().record(took.as_micros() as u64).ok();
                    if status == 201 {
                        if let Some(id) = body["id"].as_str() {
                            let _ = http.delete(format!("{url}/{id}")).bearer_auth(&token).send().await;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_secs(4).saturating_sub(started.elapsed())).await;
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let h = hist.lock().unwrap().clone();
    Ok(h)
}

pub async fn run(seconds: u64, honest: u8, bots: u8) -> anyhow::Result<()> {
    anyhow::ensure!((1..=250).contains(&honest) && (1..=250).contains(&bots), "1 to 250 honest buyers and bots");
    let sec_env = PlatformEnv::new("a", &unique("attack"));
    let (sec_port, sec_internal) = (free_port(), free_port());
    let mut vars: HashMap<String, String> = sec_env.vars();
    vars.insert("SECURITY_PORT".into(), sec_port.to_string());
    vars.insert("SECURITY_INTERNAL_PORT".into(), sec_internal.to_string());
    vars.insert("RATE_LIMIT_SCALE".into(), "1".into());
    vars.insert("REPUTATION".into(), "on".into());
    let security = spawn("security", &vars);
    let security_url = format!("http://127.0.0.1:{sec_port}");
    wait_ready(&format!("{security_url}/ready")).await;
    let policy_url = format!("http://127.0.0.1:{sec_internal}");
    let extra = [
        ("SECURITY_URL", policy_url.as_str()),
        ("RATE_LIMIT_SCALE", "1"),
        ("MAX_TICKETS_PER_MATCH", "4"),
        ("MAX_OPEN_HOLDS", "2"),
    ];
    let market = Market::start(1, 2, 5000, &extra).await?;
    let t = Target {
        // The market's reservations URL is its public (screened) port.
        reservations: market.platforms[0].reservations_url.clone(),
        security: security_url.clone(),
        platform: "a".into(),
    };
    // The master list applied.
    let probe = reqwest::Client::new();
    for _ in 0..600 {
        let url = format!("{}/api/matches/1/availability", market.platforms[0].shop_url);
        if probe.get(url).send().await.is_ok_and(|r| r.status() == 200) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    println!("baseline: {honest} honest buyers for {seconds} s");
    let baseline = honest_round(&t, seconds, honest, Arc::new(AtomicBool::new(false))).await?;

    println!("under attack: the same buyers, a flooder, a credential stuffer and {bots} bots");
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let flood_firsts = Arc::new(Mutex::new(Firsts::default()));
    let stuff_firsts = Arc::new(Mutex::new(Firsts::default()));
    let bot_firsts = Arc::new(Mutex::new(Firsts::default()));
    let flood_sent = Arc::new(AtomicU64::new(0));
    let mut attackers = Vec::new();
    // The flooder.
    for _ in 0..8 {
        let http = client(addr(0, 0, 2))?;
        let url = format!("{}/api/reservations", t.reservations);
        let token = dev_token("flooder", &t.platform);
        let (stop, firsts, sent) = (stop.clone(), flood_firsts.clone(), flood_sent.clone());
        attackers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let res = http
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&serde_json::json!({"matchNumber": 1, "category": 1, "quantity": 2}))
                    .send()
                    .await;
                sent.fetch_add(1, Ordering::Relaxed);
                if let Ok(res) = res {
                    firsts.lock().unwrap().see(res.status().as_u16(), started);
                }
            }
        }));
    }
    // The credential stuffer.
    {
        let http = client(addr(0, 0, 3))?;
        let url = format!("{}/api/auth/login", t.security);
        let (stop, firsts) = (stop.clone(), stuff_firsts.clone());
        attackers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let res = http
                    .post(&url)
                    .json(&serde_json::json!({"email": format!("victim{n}@example.com"), "password": "password123456"}))
                    .send()
                    .await;
                if let Ok(res) = res {
                    firsts.lock().unwrap().see(res.status().as_u16(), started);
                }
            }
        }));
    }
    // The botnet: just under 60 holds a minute per address.
    for b in 0..bots {
        let http = client(addr(2, 0, b + 1))?;
        let url = format!("{}/api/reservations", t.reservations);
        let token = dev_token(&format!("bot-{b}"), &t.platform);
        let (stop, firsts) = (stop.clone(), bot_firsts.clone());
        attackers.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(u64::from(b) * 20)).await;
            while !stop.load(Ordering::Relaxed) {
                let res = http
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&serde_json::json!({"matchNumber": 1, "category": 1, "quantity": 2}))
                    .send()
                    .await;
                if let Ok(res) = res {
                    firsts.lock().unwrap().see(res.status().as_u16(), started);
                }
                tokio::time::sleep(Duration::from_millis(1100)).await;
            }
        }));
    }
    let attacked = honest_round(&t, seconds, honest, Arc::new(AtomicBool::new(false))).await?;
    stop.store(true, Ordering::Relaxed);
    for a in attackers {
        let _ = a.await;
    }

    // What the attackers hold: their accounts' reservations.
    let pool = market.pool(0).await?;
    let held: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT buyer_id, count(*) FILTER (WHERE status IN ('REQUESTED', 'HELD')), \
                coalesce(sum(quantity) FILTER (WHERE status IN ('REQUESTED', 'HELD', 'CONFIRMED')), 0) \
         FROM reservations.reservations WHERE buyer_id = 'flooder' OR buyer_id LIKE 'bot-%' GROUP BY buyer_id",
    )
    .fetch_all(&pool)
    .await?;
    let over_caps: Vec<&(String, i64, i64)> =
        held.iter().filter(|(_, holds, tickets)| *holds > 2 || *tickets > 4).collect();
    let bot_tickets: i64 = held.iter().filter(|h| h.0.starts_with("bot-")).map(|h| h.2).sum();
    let flood_tickets: i64 = held.iter().filter(|h| h.0 == "flooder").map(|h| h.2).sum();

    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!("\n| honest POST /api/reservations | requests | p50 ms | p99 ms |");
    println!("|---|---|---|---|");
    println!("| baseline | {} | {:.1} | {:.1} |", baseline.len(), ms(&baseline, 0.5), ms(&baseline, 0.99));
    println!("| under attack | {} | {:.1} | {:.1} |", attacked.len(), ms(&attacked, 0.5), ms(&attacked, 0.99));
    let ratio = ms(&attacked, 0.99) / ms(&baseline, 0.99);
    println!("p99 ratio under attack / baseline: {ratio:.2} (target ≤ 2)");
    println!("\n| attacker | requests | tickets held | first 429 | first 428 | first 403 |");
    println!("|---|---|---|---|---|---|");
    for (name, firsts, tickets, sent) in [
        (
            "flooder (1 address, 8 connections)",
            &flood_firsts,
            flood_tickets.to_string(),
            flood_sent.load(Ordering::Relaxed).to_string(),
        ),
        ("credential stuffer (1 address)", &stuff_firsts, "—".to_string(), "—".to_string()),
        (
            &*format!("botnet ({bots} addresses, just under the limit)"),
            &bot_firsts,
            bot_tickets.to_string(),
            "—".to_string(),
        ),
    ] {
        let f = firsts.lock().unwrap();
        println!(
            "| {name} | {sent} | {tickets} | {} | {} | {} |",
            Firsts::show(f.throttled),
            Firsts::show(f.challenged),
            Firsts::show(f.blocked)
        );
    }
    println!("accounts over a cap: {}", over_caps.len());
    market.stop().await;
    terminate(&security);
    anyhow::ensure!(over_caps.is_empty(), "attackers hold more than the caps allow: {over_caps:?}");
    Ok(())
}
