//! Scenario: a random selection draw over the whole market. Two platforms
//! (60 % and 40 % of the applicants) take N applications through their API
//! for T tickets of K ticket types (4 matches' categories), a share of the
//! people applying on both platforms; the organisers reveal the seed after
//! the close; both platforms draw; `draw verify` re-runs the draw from the
//! topic; winners pay (a share let their hold go), their tickets pass down
//! the order, and the passed-on allocations are paid too.
//!
//! Reports: applications per second, the time until both platforms hold
//! every application, the draw's time (in-process over the same entries,
//! and from the seed to "drawn" on each platform), `draw verify`'s time and
//! verdict, the winners' digests, the winners' uniformity (chi-square over
//! application-time deciles and over the two platforms), the allocations
//! passed on, and the sold count against the stock on both ledgers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::Row;
use ticktak_tests::dev_token;

use crate::market::Market;
use crate::stats::chi_square;

#[derive(Debug, Clone)]
pub struct DrawOptions {
    pub applications: usize,
    pub tickets: u32,
    /// Ticket types in the draw (categories of matches 1, 2, …; at most 12).
    pub types: usize,
    /// Seconds the draw takes applications.
    pub window_s: u64,
    /// Requests in flight at once.
    pub clients: usize,
    /// Of every 100 first-round winners, how many let their hold go.
    pub decline_percent: usize,
    /// Of every 100 people, how many apply on the second platform too.
    pub twice_percent: usize,
}

#[derive(Debug, Serialize)]
pub struct DrawReport {
    pub applications_sent: usize,
    pub applications_accepted: usize,
    pub applications_refused: usize,
    pub first_refusal: Option<String>,
    pub apply_rate_per_s: f64,
    pub applied_everywhere_s: f64,
    pub counted: i64,
    pub duplicates: i64,
    pub winners: i64,
    pub draw_in_process_ms: f64,
    pub drawn_after_seed_s: Vec<f64>,
    pub digests: Vec<String>,
    pub digests_agree: bool,
    pub verify_s: f64,
    pub verify_agrees: bool,
    /// Chi-square of winners over application-time deciles (9 dof; 21.67 is
    /// the 1 % critical value) and over the two platforms (1 dof; 6.63).
    pub chi_square_deciles: f64,
    pub chi_square_platforms: f64,
    pub uniform: bool,
    pub declined: usize,
    pub passed_on: usize,
    pub paid: usize,
    pub stock: u32,
    pub sold: Vec<i64>,
    pub held_left: Vec<i64>,
    pub oversell: i64,
    pub ledgers_agree: bool,
}

impl DrawReport {
    pub fn print(&self) {
        let rows = [
            ("applications sent / accepted", format!("{} / {}", self.applications_sent, self.applications_accepted)),
            ("refused", format!("{} {}", self.applications_refused, self.first_refusal.clone().unwrap_or_default())),
            ("applications per second", format!("{:.0}", self.apply_rate_per_s)),
            ("on both platforms after", format!("{:.1} s", self.applied_everywhere_s)),
            ("counted / duplicates / winners", format!("{} / {} / {}", self.counted, self.duplicates, self.winners)),
            ("draw, in process", format!("{:.0} ms", self.draw_in_process_ms)),
            (
                "seed → drawn, per platform",
                format!("{:?} s", self.drawn_after_seed_s.iter().map(|s| format!("{s:.1}")).collect::<Vec<_>>()),
            ),
            (
                "digests agree",
                format!("{} ({})", self.digests_agree, self.digests.first().cloned().unwrap_or_default()),
            ),
            ("draw verify", format!("agrees: {} in {:.1} s", self.verify_agrees, self.verify_s)),
            ("chi-square deciles (9 dof, 1 %: 21.67)", format!("{:.2}", self.chi_square_deciles)),
            ("chi-square platforms (1 dof, 1 %: 6.63)", format!("{:.2}", self.chi_square_platforms)),
            ("declined / passed on / paid", format!("{} / {} / {}", self.declined, self.passed_on, self.paid)),
            ("stock / sold per platform", format!("{} / {:?}", self.stock, self.sold)),
            ("held left", format!("{:?}", self.held_left)),
            ("oversell", self.oversell.to_string()),
            ("ledgers agree", self.ledgers_agree.to_string()),
        ];
        for (k, v) in rows {
            println!("{k:<40} {v}");
        }
    }
}

/// One application as sent.
#[derive(Debug, Clone)]
struct Sent {
    /// Its person: `fan-{person}`.
    person: usize,
    platform: usize,
    /// The platform's id of it, when accepted.
    id: Option<uuid::Uuid>,
}

/// The ticket types of the draw and each one's stock (the tickets shared
/// out as evenly as they go).
fn stock(o: &DrawOptions) -> Vec<(u8, u8, u32)> {
    (0..o.types)
        .map(|i| {
            let extra = u32::from((i as u32) < o.tickets % o.types as u32);
            ((i / 3 + 1) as u8, (i % 3 + 1) as u8, o.tickets / o.types as u32 + extra)
        })
        .collect()
}

pub async fn run(o: &DrawOptions) -> anyhow::Result<DrawReport> {
    anyhow::ensure!((1..=12).contains(&o.types), "--types is 1 to 12");
    let stock = stock(o);
    let capacity = stock.iter().map(|s| s.2).max().unwrap_or(1) * 2;
    let market = Market::start(2, o.types.div_ceil(3), capacity, &[]).await?;
    let draw = format!("bench-{}", uuid::Uuid::now_v7().simple());
    let closes = chrono::Utc::now() + chrono::Duration::seconds(o.window_s as i64);
    let secret = std::env::temp_dir().join(format!("{draw}.seed"));
    let tool = |args: Vec<String>| ticktak_tests::draw_tool(&market.topic_env, &args);
    let mut args: Vec<String> = ["open", "--draw", &draw, "--opens", "now", "--payment-window-minutes", "30"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(["--closes".into(), closes.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)]);
    args.extend(["--secret-file".into(), secret.display().to_string()]);
    for (m, c, n) in &stock {
        args.extend(["--stock".into(), format!("{m}-{c}={n}")]);
    }
    let out = tool(args);
    anyhow::ensure!(out.status.success(), "draw open: {}", String::from_utf8_lossy(&out.stderr));
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).timeout(Duration::from_secs(60)).build()?;
    let view = |i: usize| {
        let (http, url) = (http.clone(), format!("{}/api/draws/{draw}", market.platforms[i].reservations_url));
        async move {
            let v: serde_json::Value = http.get(url).send().await.ok()?.json().await.ok()?;
            Some(v)
        }
    };
    for i in 0..2 {
        ticktak_tests::eventually(Duration::from_secs(60), "the draw open on every platform", || async {
            (view(i).await?["state"] == "open").then_some(())
        })
        .await;
    }

    // The applications: person p on platform 0 for 60 % of people, 1 for
    // the rest, for ticket type p mod K, 2 tickets for every third of each
    // type's applicants; then
    // the people who apply twice, on the other platform.
    let people = o.applications * 100 / (100 + o.twice_percent);
    let mut plan: Vec<Sent> =
        (0..people).map(|p| Sent { person: p, platform: usize::from(p % 5 >= 3), id: None }).collect();
    plan.extend((0..o.applications - people).map(|k| {
        let p = k * people / (o.applications - people).max(1);
        Sent { person: p, platform: usize::from(p % 5 < 3), id: None }
    }));
    let plan = Arc::new(std::sync::Mutex::new(plan));
    let next = Arc::new(AtomicUsize::new(0));
    let refusals = Arc::new(std::sync::Mutex::new((0usize, None::<String>)));
    let urls: Arc<Vec<(String, String)>> =
        Arc::new(market.platforms.iter().map(|p| (p.reservations_url.clone(), p.env.platform_id.clone())).collect());
    let started = Instant::now();
    let total = o.applications;
    let mut tasks = Vec::new();
    for _ in 0..o.clients {
        let (http, plan, next, refusals, urls, stock) =
            (http.clone(), plan.clone(), next.clone(), refusals.clone(), urls.clone(), stock.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return;
                }
                let s = plan.lock().expect("plan").get(i).cloned().expect("planned");
                let (m, c, _) = stock[s.person % stock.len()];
                let quantity = 1 + usize::from(s.person / stock.len() % 3 == 0);
                let body = serde_json::json!({"matchNumber": m, "category": c, "quantity": quantity});
                let (url, platform) = &urls[s.platform];
                let token = dev_token(&format!("fan-{}", s.person), platform);
                let answer =
                    http.post(format!("{url}/api/draws/applications")).bearer_auth(token).json(&body).send().await;
                let refused = match answer {
                    Ok(r) if r.status() == 201 => match r.json::<serde_json::Value>().await {
                        Ok(v) => {
                            plan.lock().expect("plan")[i].id = v["id"].as_str().and_then(|id| id.parse().ok());
                            None
                        }
                        Err(e) => Some(e.to_string()),
                    },
                    Ok(r) => Some(format!("{} {}", r.status(), r.text().await.unwrap_or_default())),
                    Err(e) => Some(e.to_string()),
                };
                if let Some(why) = refused {
                    let mut r = refusals.lock().expect("refusals");
                    r.0 += 1;
                    r.1.get_or_insert(why);
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let applying_s = started.elapsed().as_secs_f64();
    let plan: Vec<Sent> = plan.lock().expect("plan").clone();
    let accepted = plan.iter().filter(|s| s.id.is_some()).count();
    let (refused, first_refusal) = refusals.lock().expect("refusals").clone();
    for i in 0..2 {
        ticktak_tests::eventually(Duration::from_secs(600), "every application on every platform", || async {
            (view(i).await?["applications"].as_u64()? as usize >= accepted).then_some(())
        })
        .await;
    }
    let applied_everywhere_s = started.elapsed().as_secs_f64();
    if let Ok(left) = (closes - chrono::Utc::now()).to_std() {
        tokio::time::sleep(left + Duration::from_millis(500)).await;
    }
    let revealed = Instant::now();
    let out = tool(vec![
        "reveal".into(),
        "--draw".into(),
        draw.clone(),
        "--secret-file".into(),
        secret.display().to_string(),
    ]);
    anyhow::ensure!(out.status.success(), "draw reveal: {}", String::from_utf8_lossy(&out.stderr));
    let mut drawn_after_seed_s = vec![0.0; 2];
    let mut views = vec![serde_json::Value::Null; 2];
    while views.iter().any(|v| v["state"] != "drawn") {
        for i in 0..2 {
            if views[i]["state"] != "drawn" {
                if let Some(v) = view(i).await.filter(|v| v["state"] == "drawn") {
                    drawn_after_seed_s[i] = revealed.elapsed().as_secs_f64();
                    views[i] = v;
                }
            }
        }
        anyhow::ensure!(revealed.elapsed() < Duration::from_secs(600), "not drawn after 10 minutes");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let digests: Vec<String> =
        views.iter().map(|v| v["winnersDigest"].as_str().unwrap_or_default().to_string()).collect();

    // The draw in process over the same entries, as the platform ran it.
    let pools = [market.pool(0).await?, market.pool(1).await?];
    let rows = sqlx::query(
        "SELECT platform, application, buyer, match_number, category, quantity FROM reservations.draw_entries \
         WHERE draw = $1 ORDER BY first_offset",
    )
    .bind(&draw)
    .fetch_all(&pools[0])
    .await?;
    let entries: Vec<ticktak_core::draw::Entry> = rows
        .iter()
        .map(|r| ticktak_core::draw::Entry {
            platform: ticktak_core::PlatformId::new(r.get::<String, _>("platform")).expect("a platform"),
            application: r.get("application"),
            buyer: ticktak_core::BuyerId::parse(r.get("buyer")).expect("a buyer"),
            ticket_type: ticktak_core::TicketType::new(
                ticktak_core::MatchNumber::new(i64::from(r.get::<i16, _>("match_number"))).expect("a match"),
                ticktak_core::Category::new(i64::from(r.get::<i16, _>("category"))).expect("a category"),
            ),
            quantity: r.get::<i16, _>("quantity") as u8,
        })
        .collect();
    let terms: serde_json::Value = sqlx::query_scalar("SELECT terms FROM reservations.draws WHERE draw = $1")
        .bind(&draw)
        .fetch_one(&pools[0])
        .await?;
    let terms: ticktak_core::draw::DrawTerms = serde_json::from_value(terms)?;
    let seed: String = sqlx::query_scalar("SELECT seed FROM reservations.draws WHERE draw = $1")
        .bind(&draw)
        .fetch_one(&pools[0])
        .await?;
    let mut times = Vec::new();
    let mut result = None;
    for _ in 0..3 {
        let t = Instant::now();
        result = Some(ticktak_core::draw::run(&terms, &seed, entries.clone()));
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let result = result.expect("drawn");
    anyhow::ensure!(result.digest == digests[0], "the draw in process differs from platform a's");

    let verify_started = Instant::now();
    let out = tool(vec!["verify".into(), "--draw".into(), draw.clone(), "--expect".into(), digests[0].clone()]);
    let verify_s = verify_started.elapsed().as_secs_f64();
    let verify_agrees = out.status.success();

    // Uniformity, from the draw's own winners (before anyone lapsed).
    let index: HashMap<uuid::Uuid, usize> = plan.iter().enumerate().filter_map(|(i, s)| Some((s.id?, i))).collect();
    let winners: Vec<(String, uuid::Uuid, bool)> = sqlx::query(
        "SELECT platform, application, offered FROM reservations.draw_entries WHERE draw = $1 AND position IS NOT NULL",
    )
    .bind(&draw)
    .fetch_all(&pools[0])
    .await?
    .iter()
    .map(|r| (r.get("platform"), r.get("application"), r.get("offered")))
    .collect();
    let (mut by_decile, mut by_platform) = ([[0f64; 2]; 10], [[0f64; 2]; 2]);
    for (platform, application, offered) in &winners {
        let Some(&i) = index.get(application) else { continue };
        let won = usize::from(*offered);
        by_decile[i * 10 / total][won] += 1.0;
        by_platform[usize::from(platform != "a")][won] += 1.0;
    }
    let chi_square_deciles = chi_square(&by_decile);
    let chi_square_platforms = chi_square(&by_platform);

    // Winners pay; one in `decline_percent` of the first round lets the
    // hold go; whoever tickets pass on to pays.
    let first_round: std::collections::HashSet<uuid::Uuid> = winners.iter().filter(|w| w.2).map(|w| w.1).collect();
    let mut handled = std::collections::HashSet::new();
    let (mut declined, mut passed_on, mut paid, mut first_seen) = (0, 0, 0, 0usize);
    let mut quiet_since = Instant::now();
    let stock_total: u32 = stock.iter().map(|s| s.2).sum();
    loop {
        let mut progressed = false;
        for (i, pool) in pools.iter().enumerate() {
            let held = sqlx::query(
                "SELECT a.id, a.account, a.reservation_id FROM reservations.draw_applications a \
                 JOIN reservations.reservations r ON r.id = a.reservation_id WHERE a.draw = $1 AND r.status = 'HELD'",
            )
            .bind(&draw)
            .fetch_all(pool)
            .await?;
            for r in held {
                let (id, account, reservation): (uuid::Uuid, String, uuid::Uuid) =
                    (r.get("id"), r.get("account"), r.get("reservation_id"));
                if !handled.insert(reservation) {
                    continue;
                }
                progressed = true;
                let p = &market.platforms[i];
                let first = first_round.contains(&id);
                // Every (100 / decline_percent)-th first-round winner, the
                // first included, lets the hold go.
                let every = 100 / o.decline_percent.clamp(1, 100);
                let declines = first && o.decline_percent > 0 && first_seen % every == 0;
                first_seen += usize::from(first);
                if declines {
                    declined += 1;
                    let token = dev_token(&account, &p.env.platform_id);
                    http.delete(format!("{}/api/reservations/{reservation}", p.reservations_url))
                        .bearer_auth(token)
                        .send()
                        .await?;
                } else {
                    passed_on += usize::from(!first);
                    paid += 1;
                    http.post(format!("{}/internal/reservations/{reservation}/confirm", p.reservations_internal_url))
                        .header("authorization", ticktak_kit::internal::bearer(ticktak_kit::config::DEV_INTERNAL_TOKEN))
                        .send()
                        .await?;
                }
            }
        }
        let sold: i64 = sqlx::query_scalar("SELECT coalesce(sum(sold), 0)::bigint FROM shop.ticket_types")
            .fetch_one(&pools[0])
            .await?;
        if sold >= i64::from(stock_total) {
            break;
        }
        // Done when every ticket is sold, or when nothing moved for 15 s (a
        // type's last ticket no application left fits stays unsold).
        if progressed {
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() > Duration::from_secs(15) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Both ledgers, settled.
    let mut ledgers = Vec::new();
    for pool in &pools {
        let mut settled = None;
        for _ in 0..100 {
            let rows: Vec<(i16, i16, i32, i32, i32)> = sqlx::query_as(
                "SELECT match_number, category, capacity, held, sold FROM shop.ticket_types ORDER BY 1, 2",
            )
            .fetch_all(pool)
            .await?;
            if rows.iter().all(|r| r.3 == 0) {
                settled = Some(rows);
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        ledgers.push(settled.unwrap_or_default());
    }
    let by_type: HashMap<(i16, i16), u32> =
        stock.iter().map(|(m, c, n)| ((i16::from(*m), i16::from(*c)), *n)).collect();
    let oversell: i64 = ledgers
        .iter()
        .flatten()
        .map(|r| {
            let limit = by_type.get(&(r.0, r.1)).copied().unwrap_or(0).min(r.2 as u32);
            i64::from(r.4 - limit as i32).max(0)
        })
        .sum();
    let report = DrawReport {
        applications_sent: total,
        applications_accepted: accepted,
        applications_refused: refused,
        first_refusal,
        apply_rate_per_s: total as f64 / applying_s,
        applied_everywhere_s,
        counted: views[0]["applications"].as_i64().unwrap_or(0),
        duplicates: views[0]["duplicates"].as_i64().unwrap_or(0),
        winners: views[0]["winners"].as_i64().unwrap_or(0),
        draw_in_process_ms: times[1],
        drawn_after_seed_s,
        digests_agree: digests.iter().all(|d| *d == digests[0]) && !digests[0].is_empty(),
        digests,
        verify_s,
        verify_agrees,
        uniform: chi_square_deciles < 21.67 && chi_square_platforms < 6.63,
        chi_square_deciles,
        chi_square_platforms,
        declined,
        passed_on,
        paid,
        stock: stock_total,
        sold: ledgers.iter().map(|l| l.iter().map(|r| i64::from(r.4)).sum()).collect(),
        held_left: ledgers.iter().map(|l| l.iter().map(|r| i64::from(r.3)).sum()).collect(),
        oversell,
        ledgers_agree: ledgers.windows(2).all(|w| w[0] == w[1]),
    };
    market.stop().await;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stock_is_shared_out() {
        let o = DrawOptions {
            applications: 10,
            tickets: 1000,
            types: 12,
            window_s: 1,
            clients: 1,
            decline_percent: 10,
            twice_percent: 1,
        };
        let s = stock(&o);
        assert_eq!(s.iter().map(|s| s.2).sum::<u32>(), 1000);
        assert_eq!((s[0], s[11]), ((1, 1, 84), (4, 3, 83)));
    }
}
