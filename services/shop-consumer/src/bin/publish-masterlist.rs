//! publish-masterlist: plays the organisers' role. Sends a master list (the
//! bundled 64-match fixture, or a JSON file given as argument) to the
//! master-list topic, one message per match, key = matchNumber.
//!
//! `--years-later N` moves every kick-off N years on (the fixture's are in
//! 2022): for a demo of what depends on the kick-off, such as the refund
//! cut-off. Publishing again with other dates updates them everywhere.
//! Publishing the same list again changes nothing on any platform.
//!
//! Each message is signed with the organisers' key, `ORGANISERS_SIGNING_KEY`
//! (PKCS#8 PEM; required with `APP_ENV=production`, else the development
//! organisers' key, which platforms accept only in development): platforms
//! with an organisers' key (`ORGANISERS_KEY`) take only signed master-list
//! messages.
//!
//! Reads `KAFKA_BROKERS`, `TOPIC_PREFIX`, `TOPIC_ENV` and the optional
//! `KAFKA_SECURITY_PROTOCOL`/`KAFKA_SASL_*` like the services.

use std::process::ExitCode;

use ticktak_core::masterlist;
use ticktak_kit::config::Env;
use ticktak_kit::kafka::{self, trust, KafkaSettings, Record, Topics};

fn main() -> ExitCode {
    let env = Env::process();
    let settings = KafkaSettings::from_env(&env).and_then(|k| Ok((k, Topics::from_env(&env)?)));
    let (kafka_settings, topics) = match settings {
        Ok(s) => s,
        Err(e) => {
            eprintln!("publish-masterlist: {e}");
            return ExitCode::from(2);
        }
    };
    let key = match trust::organisers_signing_key(&env) {
        Ok(key) => key,
        Err(e) => {
            eprintln!("publish-masterlist: {e}");
            return ExitCode::from(2);
        }
    };
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let years_later = match args.iter().position(|a| a == "--years-later") {
        Some(i) => match args.get(i + 1).and_then(|n| n.parse::<u32>().ok()) {
            Some(n) => {
                args.drain(i..=i + 1);
                n
            }
            None => {
                eprintln!("publish-masterlist: --years-later needs a number of years");
                return ExitCode::from(2);
            }
        },
        None => 0,
    };
    let list = match args.first() {
        None => Ok(masterlist::fixture()),
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {path}: {e}"))
            .and_then(|text| masterlist::parse_list(&text)),
    };
    let list = match list {
        Ok(l) => masterlist::years_later(l, years_later),
        Err(e) => {
            eprintln!("publish-masterlist: {e}");
            return ExitCode::from(2);
        }
    };
    ticktak_kit::telemetry::init_logs(false);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let result = runtime.block_on(async {
        kafka::ensure_topics(&kafka_settings, &topics.shared()).await?;
        let producer = kafka::producer(&kafka_settings, "ticktak-masterlist-publisher")?;
        for m in &list {
            let payload = m.to_json();
            let headers = trust::sign_masterlist(&key, &payload);
            let record =
                Record { topic: &topics.masterlist, key: &m.kafka_key(), payload: &payload, headers: &headers };
            kafka::send(&producer, &record).await?;
        }
        anyhow::Ok(())
    });
    match result {
        Ok(()) => {
            println!("published {} matches to {}", list.len(), topics.masterlist);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("publish-masterlist: {e:#}");
            ExitCode::FAILURE
        }
    }
}
