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
    // the producer's delivery reports.
    let log = read_back(&topics, &generated, env.settings(ticktak_kit::Service::Shop).kafka.partitions).await;
    anyhow::ensure!(log.len() == n, "the log holds {} of {n} messages", log.len());
    let end = log_end(&log);
    let reference = reference_types(&reference_fold(&list, &log));

    let (snapshot, secs) = apply_as_platform(&env, "applied", &topics, &end).await?;
    let equal = snapshot["types"].as_array() == Some(&reference);
    println!(
        "applied {n} messages in {secs:.2} s: {:.0} msg/s (consumer start included); ledger equals reference fold: {equal}",
        n as f64 / secs
    );
    if !equal {
        // Tell a consumer-side loss from a producer-side report mismatch: a
        // second platform reading the same log must reach the same ledger.
        let (second, _) = apply_as_platform(&PlatformEnv::new("b", &env.topic_env), "applied", &topics, &end).await?;
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

    // A restart of the same platform over the whole log, timed from the
    // consumer's start until a sale produced at that moment is applied:
    // from offset 0 (every message read again, skipped by the shop's
    // offsets) and from the shop's applied offsets.
    for start in ["beginning", "applied"] {
        let (again, secs) = restart_until_new_sale(&env, start, &topics, &list).await?;
        anyhow::ensure!(again["types"] != serde_json::Value::Null, "no ledger after the restart");
        println!("restart over {n} applied messages with CONSUMER_START={start}: a new sale applied {secs:.2} s after the consumer's start");
    }
    Ok(())
}

/// Start a platform's shop + shop-consumer on the log, wait until it has
/// applied everything up to `end`, stop it, and return its ledger and the
/// seconds from the consumer's start to the last message applied.
async fn apply_as_platform(
    env: &PlatformEnv,
    start: &str,
    topics: &ticktak_kit::kafka::Topics,
    end: &std::collections::BTreeMap<i32, i64>,
) -> anyhow::Result<(serde_json::Value, f64)> {
    let run = Run::start(env, start).await;
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let Ok(res) = run.internal("/internal/offsets").send().await else { continue };
        let offsets = serde_json::json!({ "offsets": res.json::<serde_json::Value>().await? });
        if caught_up(&offsets, &topics.sales, end) {
            break;
        }
        anyhow::ensure!(run.started.elapsed() < Duration::from_secs(900), "backlog not applied within 15 minutes");
    }
    let secs = run.started.elapsed().as_secs_f64();
    run.stop().await.map(|snapshot| (snapshot, secs))
}

/// Restart a platform that has applied the log, produce one new hold as
/// its consumer starts, and time until the shop has decided it.
async fn restart_until_new_sale(
    env: &PlatformEnv,
    start: &str,
    topics: &ticktak_kit::kafka::Topics,
    list: &[ticktak_core::MasterListMatch],
) -> anyhow::Result<(serde_json::Value, f64)> {
    use ticktak_core::headers::SaleHeaders;
    use ticktak_core::{Action, HoldId, PlatformId, SaleMessage};
    let run = Run::start(env, start).await;
    let (tt, _, price) = list[0].ticket_types().next().expect("a ticket type");
    let hold = HoldId::new();
    let sale = SaleMessage::single(Action::TicketPending, tt, ticktak_core::Quantity::new(1)?, price);
    let headers = SaleHeaders::for_hold(&PlatformId::new("z")?, hold);
    ticktak_tests::produce_sale(&ticktak_tests::producer(), topics, &sale, Some(&headers)).await;
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if run.internal(&format!("/internal/holds/{hold}")).send().await.is_ok_and(|r| r.status() == 200) {
            break;
        }
        anyhow::ensure!(run.started.elapsed() < Duration::from_secs(900), "new sale not applied within 15 minutes");
    }
    let secs = run.started.elapsed().as_secs_f64();
    run.stop().await.map(|snapshot| (snapshot, secs))
}

/// A platform's shop and shop-consumer as processes.
struct Run {
    shop: tokio::process::Child,
    consumer: tokio::process::Child,
    shop_url: String,
    http: reqwest::Client,
    /// When the consumer was started.
    started: Instant,
}

impl Run {
    async fn start(env: &PlatformEnv, consumer_start: &str) -> Self {
        let (shop_port, consumer_port) = (free_port(), free_port());
        let shop_url = format!("http://127.0.0.1:{shop_port}");
        let mut vars: HashMap<String, String> = env.vars();
        vars.insert("SHOP_INTERNAL_PORT".into(), shop_port.to_string());
        vars.insert("SHOP_CONSUMER_INTERNAL_PORT".into(), consumer_port.to_string());
        vars.insert("SHOP_URL".into(), shop_url.clone());
        vars.insert("CONSUMER_START".into(), consumer_start.into());
        let shop = spawn("shop", &vars);
        wait_ready(&format!("{shop_url}/ready")).await;
        let started = Instant::now();
        let consumer = spawn("shop-consumer", &vars);
        Self { shop, consumer, shop_url, http: reqwest::Client::new(), started }
    }

    fn internal(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.shop_url))
            .header("authorization", ticktak_kit::internal::bearer(ticktak_kit::config::DEV_INTERNAL_TOKEN))
    }

    /// The ledger, then SIGTERM both and wait.
    async fn stop(mut self) -> anyhow::Result<serde_json::Value> {
        let snapshot: serde_json::Value = self.internal("/internal/ledger").send().await?.json().await?;
        terminate(&self.consumer);
        terminate(&self.shop);
        self.consumer.wait().await?;
        self.shop.wait().await?;
        Ok(snapshot)
    }
}
