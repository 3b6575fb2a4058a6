//! How fast one platform applies a backlog of the sales log: produce N
//! mixed messages, then start shop + shop-consumer and time the apply.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ticktak_tests::log::{caught_up, generate, log_end, produce_all, read_back, reference_fold, reference_types};
use ticktak_tests::process::{free_port, spawn, terminate, wait_ready};
use ticktak_tests::{ensure_topics, masterlist_with_capacity, publish_masterlist, unique, PlatformEnv};

pub async fn run(n: usize) -> anyhow::Result<()> {
    let env = PlatformEnv::new("a", &unique("bench"));
    let topics = env.topics();
    let list = masterlist_with_capacity(64, 2_000);
    ensure_topics(&topics).await;
    publish_masterlist(&topics, &list).await;

    let produce_start = Instant::now();
    let generated = generate(42, n, &list, &["a", "b", "c"]);
    produce_all(&topics, generated.clone()).await;
    let produce_secs = produce_start.elapsed().as_secs_f64();
    println!("produced {n} messages in {produce_secs:.1} s ({:.0} msg/s)", n as f64 / produce_secs);
    // The reference folds the log as the broker holds it (read back), not
    // the producer's delivery reports, which tansu does not always get right.
    let log = read_back(&topics, &generated, env.settings(ticktak_kit::Service::Shop).kafka.partitions).await;
    anyhow::ensure!(log.len() == n, "the log holds {} of {n} messages", log.len());
    let end = log_end(&log);
    let reference = reference_types(&reference_fold(&list, &log));

    let (snapshot, secs) = apply_as_platform("a", &env.topic_env, &topics, &end).await?;
    let equal = snapshot["types"].as_array() == Some(&reference);
    println!(
        "applied {n} messages in {secs:.2} s: {:.0} msg/s (consumer start included); ledger equals reference fold: {equal}",
        n as f64 / secs
    );
    if !equal {
        // Tell a consumer-side loss from a producer-side report mismatch: a
        // second platform reading the same log must reach the same ledger.
        let (second, _) = apply_as_platform("b", &env.topic_env, &topics, &end).await?;
        let same = second["types"] == snapshot["types"];
        println!("second platform equals the first: {same}");
        let diffs: Vec<String> = reference
            .iter()
            .zip(snapshot["types"].as_array().into_iter().flatten())
            .filter(|(r, a)| r != a)
            .map(|(r, a)| format!("ref {r} got {a}"))
            .take(5)
            .collect();
        println!("first differences: {diffs:#?}");
    }
    anyhow::ensure!(equal, "ledger differs from the reference fold");
    Ok(())
}

/// Start a platform's shop + shop-consumer on the log, wait until it has
/// applied everything up to `end`, stop it, and return its ledger and the
/// seconds from the consumer's start to the last message applied.
async fn apply_as_platform(
    name: &str,
    topic_env: &str,
    topics: &ticktak_kit::kafka::Topics,
    end: &std::collections::BTreeMap<i32, i64>,
) -> anyhow::Result<(serde_json::Value, f64)> {
    let env = PlatformEnv::new(name, topic_env);
    let (shop_port, consumer_port) = (free_port(), free_port());
    let shop_url = format!("http://127.0.0.1:{shop_port}");
    let mut vars: HashMap<String, String> = env.vars();
    vars.insert("SHOP_PORT".into(), shop_port.to_string());
    vars.insert("SHOP_CONSUMER_PORT".into(), consumer_port.to_string());
    vars.insert("SHOP_URL".into(), shop_url.clone());
    let mut shop = spawn("shop", &vars);
    wait_ready(&format!("{shop_url}/ready")).await;
    let started = Instant::now();
    let mut consumer = spawn("shop-consumer", &vars);
    let http = reqwest::Client::new();
    let snapshot = loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let Ok(res) = http
            .get(format!("{shop_url}/internal/ledger"))
            .header("authorization", ticktak_kit::internal::bearer(ticktak_kit::config::DEV_INTERNAL_TOKEN))
            .send()
            .await
        else {
            continue;
        };
        let s: serde_json::Value = res.json().await?;
        if caught_up(&s, &topics.sales, end) {
            break s;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(900), "backlog not applied within 15 minutes");
    };
    let secs = started.elapsed().as_secs_f64();
    terminate(&consumer);
    terminate(&shop);
    consumer.wait().await?;
    shop.wait().await?;
    Ok((snapshot, secs))
}
