//! `ticktak-bench recommend [--bookings N] [--buyers B] [--seed S]`: does
//! the recommendation model recover what buyers want? The market simulator
//! (`ticktak_tests::simulate`, its preferences documented there) publishes
//! N booking events of B buyers on a platform's bookings topic; analytics (a
//! release process) writes them to its lake and trains on them; the model's
//! hit rate and NDCG at 5 on the latest 20 % are compared with ranking by
//! popularity on the same split. Exits non-zero below 2× the baseline.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ticktak_kit::auth::Role;
use ticktak_tests::process::{free_port, spawn, terminate, wait_ready};
use ticktak_tests::{
    brokers, dev_token_as, ensure_topics, masterlist_with_capacity, publish_masterlist, simulate, unique, PlatformEnv,
};

pub async fn run(bookings: usize, buyers: usize, seed: u64) -> anyhow::Result<()> {
    let env = PlatformEnv::new("a", &unique("recommend"));
    let topics = env.topics();
    ensure_topics(&topics).await;
    let list = masterlist_with_capacity(64, 100_000);
    publish_masterlist(&topics, &list).await;
    let port = free_port();
    let mut vars: HashMap<String, String> = env.vars();
    vars.insert("ANALYTICS_PORT".into(), port.to_string());
    let analytics = spawn("analytics", &vars);
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&format!("{base}/ready")).await;
    let admin = dev_token_as("bench-admin", "a", Role::Admin);
    let http = reqwest::Client::new();

    let events = simulate::bookings(&list, bookings, buyers, seed, chrono::Utc::now() - chrono::Duration::days(30));
    let started = Instant::now();
    simulate::publish(&brokers(), &topics.bookings("a"), &events).await?;
    println!("{bookings} bookings of {buyers} simulated buyers published in {:.1} s", started.elapsed().as_secs_f64());
    loop {
        let lake: serde_json::Value =
            http.get(format!("{base}/api/admin/lake")).bearer_auth(&admin).send().await?.json().await?;
        let rows: u64 = lake["files"]
            .as_array()
            .map(|f| f.iter().filter(|f| f["dataset"] == "bookings").map(|f| f["rows"].as_u64().unwrap_or(0)).sum())
            .unwrap_or(0);
        if rows as usize >= bookings {
            break;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(600), "only {rows} bookings reached the lake");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("in the lake after {:.1} s", started.elapsed().as_secs_f64());
    let trained = Instant::now();
    let res = http.post(format!("{base}/api/admin/model/train")).bearer_auth(&admin).send().await?;
    anyhow::ensure!(res.status() == 201, "training answered {}", res.status());
    let model: serde_json::Value = res.json().await?;
    let took = trained.elapsed().as_secs_f64();
    terminate(&analytics);
    let e = &model["evaluation"];
    let f = |k: &str| e[k].as_f64().unwrap_or(f64::NAN);
    println!("trained in {took:.2} s on {} bookings, tested on the latest {}", e["trainBookings"], e["testBookings"]);
    println!("\n| ranking | hit rate@5 | NDCG@5 |\n|---|---|---|");
    println!("| model | {:.3} | {:.3} |", f("hitRateAt5"), f("ndcgAt5"));
    println!("| popularity (baseline) | {:.3} | {:.3} |", f("baselineHitRateAt5"), f("baselineNdcgAt5"));
    let ratio = f("hitRateAt5") / f("baselineHitRateAt5");
    println!("\nhit rate@5: {ratio:.2}× the baseline (target ≥ 2)");
    anyhow::ensure!(ratio >= 2.0, "the model does not recover the simulated preferences");
    Ok(())
}
