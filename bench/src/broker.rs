//! The broker alone, as the baseline of the race's latency: one producer
//! per platform at the race's rate, all on one partition (one hot ticket
//! type), with the services' producer and consumer settings and a hold's
//! four headers; one consumer
//! reads them back. Prints produce → receive latency per window of the
//! run, so how it changes as the log grows is visible.
//!
//! With `--kill-every S` it checks the broker's storage instead: the run
//! starts a broker of its own (`BENCH_BROKER_STORAGE`: `postgres` or
//! `sqlite`), SIGKILLs and restarts it every `S` seconds while the
//! producers send, and at the end reads the topic back: every message the
//! broker acknowledged must be there, at the offset it acknowledged, with
//! its payload.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use ticktak_kit::kafka::{self, Record};
use ticktak_tests::{ensure_topics, unique, PlatformEnv};

pub struct BrokerOptions {
    /// Messages per second, over all producers.
    pub rate: f64,
    pub seconds: f64,
    pub producers: usize,
    /// Seconds between kills of the run's own broker; 0 for none.
    pub kill_every: f64,
}

pub async fn run(o: &BrokerOptions) -> anyhow::Result<()> {
    if o.kill_every > 0.0 {
        return durability(o).await;
    }
    let mut env = PlatformEnv::new("a", &unique("broker"));
    for var in ["KAFKA_LINGER_MS", "KAFKA_FETCH_WAIT_MS", "KAFKA_IDEMPOTENCE"] {
        if let Ok(v) = std::env::var(var) {
            env.extra.insert(var.into(), v);
        }
    }
    let topics = env.topics();
    ensure_topics(&topics).await;
    let settings = env.settings(ticktak_kit::Service::ShopConsumer).kafka;
    let consumer = kafka::consumer(&settings, &unique("bench-broker"))?;
    let mut tpl = TopicPartitionList::new();
    for partition in 0..settings.partitions {
        tpl.add_partition_offset(&topics.sales, partition, Offset::Offset(0))?;
    }
    consumer.assign(&tpl)?;

    let total = (o.rate * o.seconds) as usize;
    let mut producers = Vec::new();
    for p in 0..o.producers {
        let producer = kafka::producer(&settings, &format!("bench-broker-{p}"))?;
        kafka::warm_up(&producer, &topics.sales).await;
        producers.push(producer);
    }
    let started = Instant::now();
    let mut sends = Vec::new();
    for (p, producer) in producers.into_iter().enumerate() {
        let topic = topics.sales.clone();
        let (producers, rate) = (o.producers, o.rate);
        sends.push(tokio::spawn(async move {
            let mut inflight = Vec::new();
            for i in (p..total).step_by(producers) {
                let due = started + Duration::from_secs_f64(i as f64 / rate);
                tokio::time::sleep_until(due.into()).await;
                let producer = producer.clone();
                let topic = topic.clone();
                inflight.push(tokio::spawn(async move {
                    // The payload is the send time in µs since the start; one
                    // key, so every message lands on one partition.
                    let payload = (started.elapsed().as_micros() as u64).to_string();
                    // The headers a hold carries (ids, origin, time), so the broker
                    // stores what it stores in the race.
                    let headers = [
                        ("client-id", "bench".to_string()),
                        ("event-id", format!("{p}-{i}")),
                        ("hold-id", format!("{p}-{i}")),
                        ("produced-at", payload.clone()),
                    ];
                    let record = Record { topic: &topic, key: "hot", payload: payload.as_bytes(), headers: &headers };
                    kafka::send(&producer, &record).await
                }));
            }
            for f in inflight {
                let _ = f.await;
            }
        }));
    }

    let window = Duration::from_secs(5);
    let mut windows: Vec<Histogram<u64>> = Vec::new();
    let mut received = 0usize;
    let deadline = Instant::now() + Duration::from_secs_f64(o.seconds) + Duration::from_secs(30);
    while received < total && Instant::now() < deadline {
        let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(1), consumer.recv()).await else { continue };
        let Some(sent) = m.payload().and_then(|p| std::str::from_utf8(p).ok()?.parse::<u64>().ok()) else {
            continue;
        };
        let now = started.elapsed();
        let w = (Duration::from_micros(sent).as_secs_f64() / window.as_secs_f64()) as usize;
        while windows.len() <= w {
            windows.push(Histogram::new(3)?);
        }
        windows[w].record(now.as_micros().saturating_sub(u128::from(sent)) as u64)?;
        received += 1;
    }
    for s in sends {
        let _ = s.await;
    }
    println!("| broker alone: {} msg/s from {} producers to one partition | |", o.rate, o.producers);
    println!("|---|---|");
    for (i, h) in windows.iter().enumerate() {
        println!(
            "| produce → receive, {:>3}–{:<3} s ({} messages, log so far ≈ {}) | p50 {:.1} / p99 {:.1} / max {:.1} ms |",
            i * 5,
            (i + 1) * 5,
            h.len(),
            (i as f64 * window.as_secs_f64() * o.rate) as u64,
            h.value_at_quantile(0.5) as f64 / 1000.0,
            h.value_at_quantile(0.99) as f64 / 1000.0,
            h.max() as f64 / 1000.0
        );
    }
    println!("| received | {received} of {total} |");
    anyhow::ensure!(received == total, "the broker delivered {received} of {total} messages");
    Ok(())
}

/// Produce through kills of the broker, then check that every acknowledged
/// message reads back where the broker said it put it.
async fn durability(o: &BrokerOptions) -> anyhow::Result<()> {
    let broker = ticktak_tests::broker::OwnedBroker::start().await?;
    anyhow::ensure!(ticktak_tests::override_brokers(broker.addr()), "broker already chosen");
    let storage = std::env::var("BENCH_BROKER_STORAGE").unwrap_or_else(|_| "postgres".into());
    let mut env = PlatformEnv::new("a", &unique("durable"));
    for var in ["KAFKA_LINGER_MS", "KAFKA_IDEMPOTENCE"] {
        if let Ok(v) = std::env::var(var) {
            env.extra.insert(var.into(), v);
        }
    }
    let topics = env.topics();
    ensure_topics(&topics).await;
    let settings = env.settings(ticktak_kit::Service::ShopConsumer).kafka;

    let total = (o.rate * o.seconds) as usize;
    let started = Instant::now();
    let killer = {
        let every = Duration::from_secs_f64(o.kill_every);
        let seconds = o.seconds;
        tokio::spawn(async move {
            let mut broker = broker;
            let mut kills = 0;
            while started.elapsed().as_secs_f64() + every.as_secs_f64() < seconds {
                tokio::time::sleep(every).await;
                broker.kill_and_restart().await?;
                kills += 1;
            }
            anyhow::Ok((broker, kills))
        })
    };
    let mut sends = Vec::new();
    for p in 0..o.producers {
        let producer = kafka::producer(&settings, &format!("bench-durable-{p}"))?;
        kafka::warm_up(&producer, &topics.sales).await;
        let topic = topics.sales.clone();
        let (producers, rate) = (o.producers, o.rate);
        sends.push(tokio::spawn(async move {
            let mut inflight = Vec::new();
            for i in (p..total).step_by(producers) {
                tokio::time::sleep_until((started + Duration::from_secs_f64(i as f64 / rate)).into()).await;
                let (producer, topic) = (producer.clone(), topic.clone());
                inflight.push(tokio::spawn(async move {
                    let payload = format!("{p}-{i}");
                    let headers = [("event-id", payload.clone())];
                    let record = Record { topic: &topic, key: "hot", payload: payload.as_bytes(), headers: &headers };
                    kafka::send(&producer, &record).await.map(|at| (at, payload))
                }));
            }
            let mut acknowledged = Vec::new();
            let mut failed = 0usize;
            for f in inflight {
                match f.await {
                    Ok(Ok(sent)) => acknowledged.push(sent),
                    _ => failed += 1,
                }
            }
            (acknowledged, failed)
        }));
    }
    let mut acknowledged = Vec::new();
    let mut failed = 0;
    for s in sends {
        let (acked, f) = s.await?;
        acknowledged.extend(acked);
        failed += f;
    }
    let (broker, kills) = killer.await??;

    // Read every partition back, from a consumer that never saw a kill.
    let consumer = kafka::consumer(&settings, &unique("bench-durable-read"))?;
    let mut ends = Vec::new();
    let mut tpl = TopicPartitionList::new();
    for partition in 0..settings.partitions {
        let (_, high) = consumer.fetch_watermarks(&topics.sales, partition, Duration::from_secs(10))?;
        ends.push(high);
        tpl.add_partition_offset(&topics.sales, partition, Offset::Offset(0))?;
    }
    consumer.assign(&tpl)?;
    let stored: usize = ends.iter().map(|e| *e as usize).sum();
    let mut read = std::collections::BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while read.len() < stored && Instant::now() < deadline {
        let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(1), consumer.recv()).await else { continue };
        let payload = m.payload().map(|p| String::from_utf8_lossy(p).into_owned()).unwrap_or_default();
        read.insert((m.partition(), m.offset()), payload);
    }
    // Where each payload was stored (every payload is sent once).
    let mut stored_at: std::collections::HashMap<&str, Vec<(i32, i64)>> = std::collections::HashMap::new();
    for (at, payload) in &read {
        stored_at.entry(payload.as_str()).or_default().push(*at);
    }
    let lost: Vec<_> = acknowledged.iter().filter(|(_, payload)| !stored_at.contains_key(payload.as_str())).collect();
    // Stored, but not where the acknowledgement said (-1: "stored, offset
    // unknown", which a producer retrying after a reconnect can be told).
    let misplaced: Vec<_> = acknowledged
        .iter()
        .filter(|(at, payload)| stored_at.get(payload.as_str()).is_some_and(|places| !places.contains(at)))
        .collect();
    let duplicated = stored_at.values().filter(|places| places.len() > 1).count();
    println!(
        "| broker storage `{storage}`, SIGKILL every {} s, {} msg/s for {} s | |",
        o.kill_every, o.rate, o.seconds
    );
    println!("|---|---|");
    println!("| kills (each followed by a restart) | {kills} |");
    println!("| sends acknowledged / failed (the broker was down) | {} / {failed} |", acknowledged.len());
    println!("| stored after the last restart (high watermarks) / read back | {stored} / {} |", read.len());
    println!("| acknowledged but not in the log | **{}** |", lost.len());
    println!(
        "| acknowledged at another offset than the one stored (of which offset -1) | {} ({}) |",
        misplaced.len(),
        misplaced.iter().filter(|(at, _)| at.1 < 0).count()
    );
    println!("| stored twice | {duplicated} |");
    for (at, payload) in lost.iter().chain(&misplaced).take(10) {
        let places = stored_at.get(payload.as_str());
        println!("|   {payload}: acknowledged at {}:{} | stored at {places:?} |", at.0, at.1);
    }
    broker.stop().await;
    anyhow::ensure!(lost.is_empty(), "{} acknowledged messages did not survive the kills", lost.len());
    Ok(())
}
