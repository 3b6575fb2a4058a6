//! `ticktak-bench screening [--seconds S] [--networks N]`: what screening
//! costs on the read path. One shop serves the same routes on its public
//! port (screened: blocklist replica of N networks, rate limiter consulted
//! on every request) and on its internal port (not screened); wrk measures
//! both in the same run, alternating, so the ratio compares like with like.

use std::collections::HashMap;

use ticktak_kit::auth::Role;
use ticktak_tests::process::{free_port, spawn, terminate, wait_ready};
use ticktak_tests::{dev_token_as, unique, PlatformEnv};

use crate::market::{cpu_of, Market};
use crate::reads::{wrk_pinned, ReadResult};

/// Screened and unscreened runs per route, one of each per pair.
const PAIRS: usize = 8;

pub async fn run(seconds: u32, networks: usize) -> anyhow::Result<()> {
    // The security service holds the blocklist the shop screens with.
    let sec_env = PlatformEnv::new("a", &unique("screen"));
    let (sec_port, sec_internal) = (free_port(), free_port());
    let mut vars: HashMap<String, String> = sec_env.vars();
    vars.insert("SECURITY_PORT".into(), sec_port.to_string());
    vars.insert("SECURITY_INTERNAL_PORT".into(), sec_internal.to_string());
    let security = spawn("security", &vars);
    let sec = format!("http://127.0.0.1:{sec_port}");
    wait_ready(&format!("{sec}/ready")).await;
    let http = reqwest::Client::new();
    let admin = dev_token_as("bench-admin", "a", Role::Admin);
    println!("blocking {networks} networks");
    for i in 0..networks {
        let cidr = format!("10.{}.{}.0/24", i / 256, i % 256);
        let res = http
            .post(format!("{sec}/api/admin/blocklist"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({"cidr": cidr, "reason": "bench"}))
            .send()
            .await?;
        anyhow::ensure!(res.status() == 201, "blocklist answered {}", res.status());
    }

    let public_port = free_port();
    let security_url = format!("http://127.0.0.1:{sec_internal}");
    let public_port_text = public_port.to_string();
    let extra = [
        ("SHOP_PORT", public_port_text.as_str()),
        ("SECURITY_URL", security_url.as_str()),
        // The limiter runs on every request, with room for wrk's one address.
        ("RATE_LIMIT_SCALE", "1"),
        ("RATE_READS_PER_MIN", "1000000000"),
    ];
    let market = Market::start(1, 64, 1000, &extra).await?;
    let public = format!("http://127.0.0.1:{public_port}");
    let internal = market.platforms[0].shop_url.clone();
    // The master list applied and the replica loaded.
    for _ in 0..600 {
        let ok =
            http.get(format!("{public}/api/matches/64/availability")).send().await.is_ok_and(|r| r.status() == 200);
        let ready: serde_json::Value = http.get(format!("{public}/ready")).send().await?.json().await?;
        if ok && ready.get("notes").is_none() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    println!("{networks} blocked networks in the shop's replica; wrk's 127.0.0.1 is not one of them");

    let paths = ["/api/matches/7/availability", "/api/matches?limit=20", "/api/matches/7"];
    let shop_pid = market.platforms[0]
        .children
        .iter()
        .find(|(name, _)| *name == "shop")
        .and_then(|(_, c)| c.id())
        .ok_or_else(|| anyhow::anyhow!("no shop process"))?;
    // The shop on core 0 and wrk on core 1: otherwise they trade cores at
    // random and the noise is larger than the effect measured.
    let pinned = pin(shop_pid, 0);
    println!("shop pinned to core 0 and wrk to core 1: {pinned}");
    println!(
        "\n| route | screened req/s (median) | unscreened req/s (median) | ratio, median of {PAIRS} pairs | ratio min – max | screened shop CPU µs/req | unscreened shop CPU µs/req | screened p99 ms | unscreened p99 ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut worst: f64 = f64::INFINITY;
    for path in paths {
        let mut on: Vec<(ReadResult, f64)> = Vec::new();
        let mut off: Vec<(ReadResult, f64)> = Vec::new();
        // Pairs in ABBA order, so neither port always goes first.
        for pair in 0..PAIRS {
            let order = if pair % 2 == 0 { [true, false] } else { [false, true] };
            for screened in order {
                let (url, into) = match screened {
                    true => (format!("{public}{path}"), &mut on),
                    false => (format!("{internal}{path}"), &mut off),
                };
                let before = cpu_of(shop_pid);
                let r = wrk_pinned(&url, seconds, 64, pinned.then_some(1))?;
                let cpu = cpu_of(shop_pid) - before;
                let per_request_us = cpu * 1e6 / (r.requests_per_s * f64::from(seconds)).max(1.0);
                into.push((r, per_request_us));
            }
        }
        let mut ratios: Vec<f64> = on.iter().zip(&off).map(|(a, b)| a.0.requests_per_s / b.0.requests_per_s).collect();
        ratios.sort_by(f64::total_cmp);
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let rps = |v: &[(ReadResult, f64)]| median(v.iter().map(|r| r.0.requests_per_s).collect());
        let cpu = |v: &[(ReadResult, f64)]| median(v.iter().map(|r| r.1).collect());
        let p99 = |v: &[(ReadResult, f64)]| median(v.iter().map(|r| r.0.p99_ms).collect());
        let ratio = ratios[ratios.len() / 2];
        worst = worst.min(ratio);
        println!(
            "| `GET {path}` | {:.0} | {:.0} | {:.3} | {:.3} – {:.3} | {:.1} | {:.1} | {:.2} | {:.2} |",
            rps(&on),
            rps(&off),
            ratio,
            ratios[0],
            ratios[ratios.len() - 1],
            cpu(&on),
            cpu(&off),
            p99(&on),
            p99(&off)
        );
    }
    println!("\nworst route's median screened/unscreened ratio: {worst:.3} (target ≥ 0.90)");
    market.stop().await;
    terminate(&security);
    Ok(())
}

/// Pins every thread of `pid` to `core` with `taskset`; false where it cannot
/// (fewer than two cores, no taskset), and the bench runs unpinned.
fn pin(pid: u32, core: usize) -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
        && std::process::Command::new("taskset")
            .args(["-a", "-p", "-c", &core.to_string(), &pid.to_string()])
            .output()
            .is_ok_and(|o| o.status.success())
}
