//! The shared ledger: every platform applies every platform's sales in log
//! order, exactly once, and reaches the same state as the reference fold.

use std::collections::HashMap;
use std::time::Duration;

use ticktak_tests::log::{caught_up, generate, log_end, produce_all, read_back, reference_fold, reference_types};
use ticktak_tests::process::{free_port, metric, spawn, terminate, wait_ready};
use ticktak_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_platforms_fed_the_same_mixed_log_end_with_the_reference_ledger() {
    let topic_env = unique("agree");
    let list = masterlist_with_capacity(4, 6);
    let envs: Vec<PlatformEnv> = ["a", "b", "c"].iter().map(|p| PlatformEnv::new(p, &topic_env)).collect();
    let topics = envs[0].topics();
    ensure_topics(&topics).await;
    publish_masterlist(&topics, &list).await;
    let mut platforms = Vec::new();
    for env in &envs {
        platforms.push(Platform::start(env.clone()).await);
    }

    let generated = generate(7, 600, &list, &["a", "b", "c"]);
    produce_all(&topics, generated.clone()).await;
    let log = read_back(&topics, &generated, envs[0].settings(ticktak_kit::Service::Shop).kafka.partitions).await;
    assert_eq!(log.len(), 600);
    let end = log_end(&log);
    let reference = reference_types(&reference_fold(&list, &log));

    let mut digests = Vec::new();
    for p in &platforms {
        let snapshot = eventually(Duration::from_secs(90), "platform caught up", || async {
            let s = p.ledger().await;
            caught_up(&s, &topics.sales, &end).then_some(s)
        })
        .await;
        assert_eq!(snapshot["types"].as_array().unwrap(), &reference, "platform {}", p.env.platform_id);
        digests.push(snapshot["digest"].clone());
    }
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "every platform has the same ledger: {digests:?}");

    // The public view agrees with the ledger and never shows more than capacity.
    let (_, page) = platforms[1].get("/api/matches").await;
    for m in page["matches"].as_array().unwrap() {
        for c in m["categories"].as_array().unwrap() {
            assert_eq!(c["pending"], c["sellable"]);
            assert!(c["sellable"].as_u64().unwrap() <= c["capacity"].as_u64().unwrap());
        }
    }
    for p in platforms {
        p.stop().await;
    }
}

fn with(vars: &HashMap<String, String>, extra: &[(&str, String)]) -> HashMap<String, String> {
    let mut v = vars.clone();
    for (k, val) in extra {
        v.insert(k.to_string(), val.clone());
    }
    v
}

/// A platform's shop and shop-consumer as processes, both ready; their
/// URLs are those of their internal listeners.
struct Processes {
    vars: HashMap<String, String>,
    shop_url: String,
    consumer_url: String,
    shop: tokio::process::Child,
    consumer: tokio::process::Child,
}

async fn start_processes(env: &PlatformEnv) -> Processes {
    let (shop_port, consumer_port) = (free_port(), free_port());
    let shop_url = format!("http://127.0.0.1:{shop_port}");
    let consumer_url = format!("http://127.0.0.1:{consumer_port}");
    let vars = with(
        &env.vars(),
        &[
            ("SHOP_INTERNAL_PORT", shop_port.to_string()),
            ("SHOP_CONSUMER_INTERNAL_PORT", consumer_port.to_string()),
            ("SHOP_URL", shop_url.clone()),
        ],
    );
    let shop = spawn("shop", &vars);
    wait_ready(&format!("{shop_url}/ready")).await;
    let consumer = spawn("shop-consumer", &vars);
    wait_ready(&format!("{consumer_url}/ready")).await;
    Processes { vars, shop_url, consumer_url, shop, consumer }
}

async fn applied_sales(shop_url: &str, topic: &str) -> i64 {
    let http = reqwest::Client::new();
    let res = http
        .get(format!("{shop_url}/internal/ledger"))
        .header("authorization", ticktak_kit::internal::bearer(ticktak_kit::config::DEV_INTERNAL_TOKEN))
        .send()
        .await;
    let Ok(res) = res else { return 0 };
    let s: serde_json::Value = res.json().await.unwrap_or_default();
    s["offsets"]
        .as_array()
        .map(|a| a.iter().filter(|o| o["topic"] == topic).map(|o| o["lastOffset"].as_i64().unwrap() + 1).sum())
        .unwrap_or(0)
}

async fn snapshot(shop_url: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(format!("{shop_url}/internal/ledger"))
        .header("authorization", ticktak_kit::internal::bearer(ticktak_kit::config::DEV_INTERNAL_TOKEN))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_consumer_and_the_shop_mid_stream_loses_nothing_and_applies_nothing_twice() {
    let env = PlatformEnv::new("a", &unique("kill"));
    let topics = env.topics();
    let list = masterlist_with_capacity(4, 40);
    ensure_topics(&topics).await;
    publish_masterlist(&topics, &list).await;

    let Processes { vars, shop_url, consumer_url, mut shop, mut consumer } = start_processes(&env).await;

    let messages = generate(11, 4000, &list, &["a", "b"]);
    let total = messages.len() as i64;
    let producing = tokio::spawn({
        let topics = topics.clone();
        let messages = messages.clone();
        async move { produce_all(&topics, messages).await }
    });

    // SIGKILL the consumer part-way, then the shop, restarting each.
    eventually(Duration::from_secs(120), "a quarter applied", || async {
        (applied_sales(&shop_url, &topics.sales).await >= total / 4).then_some(())
    })
    .await;
    consumer.start_kill().unwrap();
    consumer.wait().await.unwrap();
    consumer = spawn("shop-consumer", &vars);

    eventually(Duration::from_secs(120), "half applied", || async {
        (applied_sales(&shop_url, &topics.sales).await >= total / 2).then_some(())
    })
    .await;
    shop.start_kill().unwrap();
    shop.wait().await.unwrap();
    shop = spawn("shop", &vars);

    let reported = producing.await.unwrap();
    // The reference is the fold of the log as the broker holds it.
    let log = read_back(&topics, &messages, env.settings(ticktak_kit::Service::Shop).kafka.partitions).await;
    assert_eq!(log.len(), reported.len(), "every produced message is in the log once");
    let end = log_end(&log);
    let reference = reference_types(&reference_fold(&list, &log));
    let done = eventually(Duration::from_secs(180), "everything applied", || async {
        let s = reqwest::Client::new()
            .get(format!("{shop_url}/internal/ledger"))
            .header("authorization", ticktak_kit::internal::bearer(ticktak_kit::config::DEV_INTERNAL_TOKEN))
            .send()
            .await
            .ok()?
            .json::<serde_json::Value>()
            .await
            .ok()?;
        caught_up(&s, &topics.sales, &end).then_some(s)
    })
    .await;
    assert_eq!(done["types"].as_array().unwrap(), &reference, "nothing lost, nothing applied twice");

    // A restart resumes where the shop's applied offsets end: the next new
    // sale is the only one handed to the shop, even under a fresh group.
    terminate(&consumer);
    let status = consumer.wait().await.unwrap();
    assert_eq!(status.code(), Some(0), "graceful stop");
    let mut consumer = spawn("shop-consumer", &with(&vars, &[("CONSUMER_GROUP", unique("fresh-"))]));
    wait_ready(&format!("{consumer_url}/ready")).await;
    produce_all(&topics, generate(12, 1, &list, &["a"])).await;
    eventually(Duration::from_secs(60), "the new sale", || async {
        (applied_sales(&shop_url, &topics.sales).await > total).then_some(())
    })
    .await;
    let handed = metric(&consumer_url, "consumer_sales_applied_total").await
        + metric(&consumer_url, "consumer_sales_redelivered_total").await;
    assert_eq!(handed, 1.0, "only the new sale was read after the restart");
    terminate(&consumer);
    assert_eq!(consumer.wait().await.unwrap().code(), Some(0));
    let done = snapshot(&shop_url).await;

    // Replaying the whole log from offset 0 changes nothing.
    let replay = with(&vars, &[("CONSUMER_GROUP", unique("replay-")), ("CONSUMER_START", "beginning".into())]);
    let mut consumer = spawn("shop-consumer", &replay);
    wait_ready(&format!("{consumer_url}/ready")).await;
    eventually(Duration::from_secs(180), "the replay", || async {
        (metric(&consumer_url, "consumer_sales_redelivered_total").await > total as f64).then_some(())
    })
    .await;
    let after = snapshot(&shop_url).await;
    assert_eq!(after["digest"], done["digest"]);
    assert_eq!(after["types"], done["types"]);

    terminate(&consumer);
    terminate(&shop);
    assert_eq!(consumer.wait().await.unwrap().code(), Some(0));
    assert_eq!(shop.wait().await.unwrap().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_count_as_committed_only_once_the_broker_took_them() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let mut broker = ticktak_tests::broker::OwnedBroker::start().await.expect("own broker");
    let mut env = PlatformEnv::new("a", &unique("commit"));
    env.extra.insert("KAFKA_BROKERS".into(), broker.addr());
    let group = unique("commit-group-");
    env.extra.insert("CONSUMER_GROUP".into(), group.clone());
    let topics = env.topics();
    let settings = env.settings(ticktak_kit::Service::ShopConsumer).kafka;
    let list = masterlist_with_capacity(2, 100);
    ticktak_kit::kafka::ensure_topics(&settings, &[&topics.masterlist, &topics.sales]).await.unwrap();
    let producer = ticktak_kit::kafka::producer(&settings, "commit-test").unwrap();
    for m in &list {
        let (key, payload) = (m.kafka_key(), m.to_json());
        let headers = organisers_signature(&payload);
        let record =
            ticktak_kit::kafka::Record { topic: &topics.masterlist, key: &key, payload: &payload, headers: &headers };
        ticktak_kit::kafka::send(&producer, &record).await.unwrap();
    }

    let Processes { shop_url, consumer_url, mut shop, mut consumer, .. } = start_processes(&env).await;

    // Sales produced through the owned broker, applied and committed.
    let produce = |messages: Vec<ticktak_tests::log::Message>| {
        let (producer, topic) = (producer.clone(), topics.sales.clone());
        async move {
            for m in messages {
                let record =
                    ticktak_kit::kafka::Record { topic: &topic, key: &m.key, payload: &m.body, headers: &m.headers };
                ticktak_kit::kafka::send(&producer, &record).await.unwrap();
            }
        }
    };
    produce(generate(21, 50, &list, &["b"])).await;
    eventually(Duration::from_secs(60), "first commits", || async {
        (applied_sales(&shop_url, &topics.sales).await >= 50
            && metric(&consumer_url, "consumer_commits_total").await >= 1.0)
            .then_some(())
    })
    .await;

    // The next sales are fetched while the shop is paused, so they are
    // acknowledged only after the broker died: that commit must fail, be
    // counted, and not be recorded as done.
    let signal = |sig: &str| {
        std::process::Command::new("kill").arg(sig).arg(shop.id().unwrap().to_string()).status().unwrap();
    };
    signal("-STOP");
    produce(generate(22, 50, &list, &["b"])).await;
    eventually(Duration::from_secs(60), "some of the next 50 fetched", || async {
        // 2 master-list messages, 50 sales, and more.
        (metric(&consumer_url, "consumer_messages_total").await > 52.0).then_some(())
    })
    .await;
    broker.kill().await;
    signal("-CONT");
    eventually(Duration::from_secs(60), "a failed commit", || async {
        (metric(&consumer_url, "consumer_commit_failures_total").await >= 1.0).then_some(())
    })
    .await;
    assert!(applied_sales(&shop_url, &topics.sales).await > 50, "the fetched batch was applied");
    broker.restart().await.unwrap();
    let applied = eventually(Duration::from_secs(60), "all 100 applied", || async {
        let n = applied_sales(&shop_url, &topics.sales).await;
        (n >= 100).then_some(n)
    })
    .await;
    assert_eq!(applied, 100);

    // Once the broker is back, the group holds exactly what the shop applied.
    let applied_next: std::collections::BTreeMap<i32, i64> = snapshot(&shop_url).await["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["topic"] == topics.sales.as_str())
        .map(|o| (o["partition"].as_i64().unwrap() as i32, o["lastOffset"].as_i64().unwrap() + 1))
        .collect();
    let reader: BaseConsumer = settings.client_config().set("group.id", &group).create().unwrap();
    let mut wanted = rdkafka::TopicPartitionList::new();
    for p in applied_next.keys() {
        wanted.add_partition(&topics.sales, *p);
    }
    eventually(Duration::from_secs(30), "the group's offsets caught up", || async {
        let committed = reader.committed_offsets(wanted.clone(), Duration::from_secs(5)).ok()?;
        let got: std::collections::BTreeMap<i32, i64> = committed
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                rdkafka::Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect();
        (got == applied_next).then_some(())
    })
    .await;

    terminate(&consumer);
    terminate(&shop);
    assert_eq!(consumer.wait().await.unwrap().code(), Some(0));
    assert_eq!(shop.wait().await.unwrap().code(), Some(0));
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_sale_with_an_extra_key_or_a_wrong_price_is_applied_and_counted() {
    let env = PlatformEnv::new("a", &unique("postel"));
    let topics = env.topics();
    ensure_topics(&topics).await;
    publish_masterlist(&topics, &masterlist_with_capacity(1, 10)).await;
    let p = Platform::start(env).await;
    let producer = producer();
    // Match 1, category 1 costs 75. A peer adds a key of its own to one
    // sale and states a wrong price in another.
    let sales = [
        r#"{"meta":{"action":"TICKET_PENDING"},"body":{"matchNumber":1,"tickets":{"category":1,"quantity":2,"price":75},"channel":"box-office"}}"#,
        r#"{"meta":{"action":"TICKET_PENDING"},"body":{"matchNumber":1,"tickets":{"category":1,"quantity":1,"price":1}}}"#,
    ];
    let before = metric(&p.shop.url(), "ledger_price_mismatches_total").await;
    let unknown_before = metric(&p.consumer.url(), "consumer_messages_with_unknown_keys_total").await;
    for body in sales {
        let record =
            ticktak_kit::kafka::Record { topic: &topics.sales, key: "1-1", payload: body.as_bytes(), headers: &[] };
        ticktak_kit::kafka::send(&producer, &record).await.unwrap();
    }
    eventually(Duration::from_secs(60), "both sales applied", || async {
        let (_, a) = p.get("/api/matches/1/availability").await;
        (a["categories"][0]["held"] == 3).then_some(())
    })
    .await;
    let after = metric(&p.shop.url(), "ledger_price_mismatches_total").await;
    assert!(after - before >= 1.0, "the wrong price is counted: {before} → {after}");
    let unknown_after = metric(&p.consumer.url(), "consumer_messages_with_unknown_keys_total").await;
    assert!(unknown_after - unknown_before >= 1.0, "the extra key is counted");
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_platform_that_placed_a_hold_can_close_it_and_forged_closes_refunds_and_rehomes_change_nothing() {
    use ticktak_core::headers::SaleHeaders;
    use ticktak_kit::auth::SigningKey;
    use ticktak_kit::kafka::trust::{PlatformKeys, Trust};
    // A market of two approved platforms with real keys: a, and mallory,
    // approved but misbehaving.
    let (key_a, key_mallory) = (SigningKey::generate(), SigningKey::generate());
    let a = ticktak_core::PlatformId::new("a").unwrap();
    let mallory = ticktak_core::PlatformId::new("mallory").unwrap();
    let as_mallory = Trust::new(key_mallory.clone(), PlatformKeys::Development);
    let keys = format!(
        "{},{}",
        Trust::new(key_a.clone(), PlatformKeys::Development).public_entry(&a),
        as_mallory.public_entry(&mallory)
    );
    let mut env = PlatformEnv::new("a", &unique("forge"));
    env.extra.insert("PLATFORM_SIGNING_KEY".into(), key_a.to_pem());
    env.extra.insert("PLATFORM_KEYS".into(), keys);
    let topics = env.topics();
    ensure_topics(&topics).await;
    publish_masterlist(&topics, &masterlist_with_capacity(1, 10)).await;
    let p = Platform::start(env).await;
    eventually(Duration::from_secs(60), "the master list", || async {
        let (_, a) = p.get("/api/matches/1/availability").await;
        (a["categories"][0]["capacity"] == 10).then_some(())
    })
    .await;
    let (status, held) = p.reserve("alice", 1, 1, 2, None).await;
    assert_eq!(status, 201, "{held}");
    let hold = ticktak_core::HoldId(held["id"].as_str().unwrap().parse().unwrap());
    let type_of = |ledger: &serde_json::Value| {
        ledger["types"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["matchNumber"] == 1 && t["category"] == 1)
            .cloned()
            .unwrap()
    };
    let anomalies_before = type_of(&p.ledger().await)["anomalies"].as_u64().unwrap();

    let producer = producer();
    let tt = ticktak_core::TicketType::new(
        ticktak_core::MatchNumber::new(1).unwrap(),
        ticktak_core::Category::new(1).unwrap(),
    );
    let cancel = ticktak_core::SaleMessage::single(
        ticktak_core::Action::TicketCancelled,
        tt,
        ticktak_core::Quantity::new(2).unwrap(),
        ticktak_core::Price::new(75).unwrap(),
    );
    let body = cancel.to_json();
    // Each forgery, signed by mallory's real key:
    let signed_by_mallory = |mut h: SaleHeaders| {
        as_mallory.sign(&mut h, &body);
        h
    };
    let origin = ticktak_core::ledger::LineOrigin { partition: 0, offset: 1_000_000, line: 0 };
    let forgeries = [
        // under its own name: not the hold's owner;
        signed_by_mallory(SaleHeaders::for_hold(&mallory, hold)),
        // as a (a spoofed client-id): the signature is not a's;
        signed_by_mallory(SaleHeaders::for_hold(&a, hold)),
        // as a re-homed copy of a's cancel, claiming an origin to come;
        signed_by_mallory(SaleHeaders {
            rehomed_from: Some(origin),
            rehomed_by: Some(mallory.clone()),
            ..SaleHeaders::for_hold(&a, hold)
        }),
        // and unsigned, as a.
        SaleHeaders { signature: Some("AAAA".into()), ..SaleHeaders::for_hold(&a, hold) },
    ];
    for headers in &forgeries {
        produce_sale(&producer, &topics, &cancel, Some(headers)).await;
    }
    // Every one is an anomaly (not the owner, or an anonymous cancel of
    // tickets nobody held anonymously) and alice's hold stands.
    let ledger = eventually(Duration::from_secs(60), "the forgeries applied", || async {
        let l = p.ledger().await;
        (type_of(&l)["anomalies"].as_u64().unwrap() == anomalies_before + 4).then_some(l)
    })
    .await;
    let counts = type_of(&ledger);
    assert_eq!((counts["held"].as_u64(), counts["sold"].as_u64()), (Some(2), Some(0)), "{counts}");
    let (_, mine) = p.as_buyer(reqwest::Method::GET, &format!("/api/reservations/{}", hold.0), Some("alice")).await;
    assert_eq!(mine["status"], "HELD");

    // The owner still confirms it, and a forged refund of the sold tickets
    // changes nothing either.
    assert_eq!(p.confirm(&hold.0.to_string()).await.0, 200);
    eventually(Duration::from_secs(60), "the owner's confirmation applied", || async {
        let l = p.ledger().await;
        (type_of(&l)["sold"] == 2).then_some(())
    })
    .await;
    produce_sale(&producer, &topics, &cancel, Some(&forgeries[1])).await;
    let ledger = eventually(Duration::from_secs(60), "the forged refund applied", || async {
        let l = p.ledger().await;
        (type_of(&l)["anomalies"].as_u64().unwrap() == anomalies_before + 5).then_some(l)
    })
    .await;
    assert_eq!(type_of(&ledger)["sold"], 2, "{ledger}");
    let (_, mine) = p.as_buyer(reqwest::Method::GET, &format!("/api/reservations/{}", hold.0), Some("alice")).await;
    assert_eq!(mine["status"], "CONFIRMED");
    p.stop().await;
}

/// Start the KafkaJS peer (`tests/peer`) sending `bodies` without keys.
fn kafkajs_peer(topic: &str, bodies: &[serde_json::Value]) -> tokio::process::Child {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    assert!(root.join("tests/peer/node_modules/kafkajs").exists(), "KafkaJS is not installed: run `make test`");
    let file = std::env::temp_dir().join(format!("{}.json", unique("peer-")));
    std::fs::write(&file, serde_json::to_vec(bodies).unwrap()).unwrap();
    tokio::process::Command::new("node")
        .current_dir(&root)
        .args(["tests/peer/peer.mjs", &brokers(), topic])
        .arg(&file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs")
}

/// A peer's sale body in the course format, produced to `partition` without
/// our headers.
async fn peer_sale(
    producer: &rdkafka::producer::FutureProducer,
    topics: &ticktak_kit::kafka::Topics,
    partition: i32,
    action: &str,
    lines: &[(u8, u8)],
) {
    let tickets: Vec<serde_json::Value> = lines
        .iter()
        .map(|(category, quantity)| {
            let price = [75, 125, 195][usize::from(*category) - 1];
            serde_json::json!({"category": category, "quantity": quantity, "price": price})
        })
        .collect();
    let body = serde_json::json!({"meta": {"action": action}, "body": {"matchNumber": 1, "tickets": tickets}});
    let payload = serde_json::to_vec(&body).unwrap();
    let record = ticktak_kit::kafka::Record { topic: &topics.sales, key: "", payload: &payload, headers: &[] };
    ticktak_kit::kafka::send_to_partition(producer, &record, partition).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mis_partitioned_and_mixed_peer_sales_are_rehomed_and_counted_once_during_a_race() {
    use ticktak_core::partition::home_partition;
    let topic_env = unique("rehome");
    let envs = [PlatformEnv::new("a", &topic_env), PlatformEnv::new("b", &topic_env)];
    let topics = envs[0].topics();
    let partitions = envs[0].settings(ticktak_kit::Service::Shop).kafka.partitions;
    ensure_topics(&topics).await;
    publish_masterlist(&topics, &masterlist_with_capacity(1, 12)).await;
    let mut platforms = Vec::new();
    for env in envs {
        platforms.push(Platform::start(env).await);
    }
    for p in &platforms {
        eventually(Duration::from_secs(60), "the master list", || async {
            let (_, a) = p.get("/api/matches/1/availability").await;
            (a["categories"][0]["capacity"] == 12).then_some(())
        })
        .await;
    }
    // Match 1's home partition, and one that is not.
    let home = home_partition(ticktak_core::MatchNumber::new(1).unwrap(), partitions);
    let away = (home + 1) % partitions;

    // Buyers on both platforms race for category 1 while the peer sends:
    let platforms = std::sync::Arc::new(platforms);
    let race: Vec<_> = (0..30)
        .map(|i| {
            let platforms = platforms.clone();
            tokio::spawn(async move { platforms[i % 2].reserve(&format!("racer-{i}"), 1, 1, 1, None).await })
        })
        .collect();
    // A KafkaJS peer, without keys: eight single-line pendings of category 2
    // and two messages mixing all three categories, spread over the
    // partitions by KafkaJS's partitioner.
    let line = |category: u8, quantity: u8| {
        let price = [75, 125, 195][usize::from(category) - 1];
        serde_json::json!({"category": category, "quantity": quantity, "price": price})
    };
    let mut bodies = vec![
        serde_json::json!({"meta": {"action": "TICKET_PENDING"}, "body": {"matchNumber": 1, "tickets": line(2, 1)}});
        8
    ];
    let mixed = serde_json::json!([line(1, 1), line(2, 1), line(3, 2)]);
    let mixed_body =
        serde_json::json!({"meta": {"action": "TICKET_PENDING"}, "body": {"matchNumber": 1, "tickets": mixed}});
    bodies.extend(vec![mixed_body; 2]);
    let peer = kafkajs_peer(&topics.sales, &bodies);
    // And a cancel of category 3 on the match's home, ahead of its pending
    // sent off home.
    let producer = producer();
    peer_sale(&producer, &topics, home, "TICKET_CANCELLED", &[(3, 1)]).await;
    peer_sale(&producer, &topics, away, "TICKET_PENDING", &[(3, 1)]).await;
    for r in race {
        let (status, body) = r.await.unwrap();
        assert!(matches!(status, 201 | 202 | 409), "{status} {body}");
    }
    let out = peer.wait_with_output().await.unwrap();
    assert!(out.status.success(), "the KafkaJS peer: {}", String::from_utf8_lossy(&out.stderr));

    // Every peer line counted once, though both platforms re-published it;
    // the cancel ahead of its pending leaves nothing held.
    let expected_anonymous = [(1, 2), (2, 10), (3, 4)];
    let ledgers = eventually(Duration::from_secs(90), "equal ledgers with every peer line", || async {
        let (a, b) = (platforms[0].ledger().await, platforms[1].ledger().await);
        let types = a["types"].as_array()?.clone();
        let complete = expected_anonymous.iter().all(|(category, anonymous)| {
            types.iter().any(|t| t["category"] == *category && t["anonymousHeld"] == *anonymous)
        });
        (complete && a["digest"] == b["digest"]).then_some((a, b))
    })
    .await;
    for t in ledgers.0["types"].as_array().unwrap() {
        let (held, sold, anonymous) =
            (t["held"].as_u64().unwrap(), t["sold"].as_u64().unwrap(), t["anonymousHeld"].as_u64().unwrap());
        assert!(held - anonymous <= 12, "ticktak holds never exceed capacity: {t}");
        assert_eq!(t["anonymousCredit"], 0, "{t}");
        assert!(sold + held <= 12 + anonymous, "only the peer's own lines go past capacity: {t}");
    }
    assert!(process::metric(&platforms[0].consumer.url(), "consumer_lines_rehomed_total").await >= 1.0);
    for p in std::sync::Arc::try_unwrap(platforms).ok().unwrap() {
        p.stop().await;
    }
}
