//! draw: the organisers' side of a random selection draw, and the check
//! anyone with the market's public keys can run (`ticktak_core::draw`).
//!
//! ```text
//! draw open --draw ID --stock M-C=N... --opens TIME --closes TIME [--draws TIME]
//!           [--payment-window-minutes N] [--max-quantity Q] [--then PHASE@TIME] --secret-file FILE
//! draw reveal --draw ID --secret-file FILE
//! draw verify --draw ID [--expect DIGEST] [--winners]
//! ```
//! `open` draws a secret seed, keeps it in FILE (never on the topic) and
//! publishes the draw's terms with the seed's commitment, then the sale
//! schedule of each ticket type: `draw` from the opening, `closed` from the
//! close (or `--then` from its time). `reveal` publishes the seed of FILE
//! after the close; every platform then draws. `verify` reads the draw
//! topic from its beginning, checks every signature and rule as the
//! platforms do, re-runs the draw and prints the winners' digest (the one
//! `GET /api/draws/{id}` of every platform shows); it exits 1 when the
//! draw cannot be re-run (no seed, or none matching the commitment) or
//! when the digest is not `--expect`'s.
//!
//! Reads `KAFKA_BROKERS`, `TOPIC_PREFIX`, `TOPIC_ENV`,
//! `KAFKA_SECURITY_PROTOCOL`/`KAFKA_SASL_*`; `open` and `reveal` sign with
//! `ORGANISERS_SIGNING_KEY` (as `publish-schedule`), `verify` checks with
//! `ORGANISERS_KEY` and `PLATFORM_KEYS` (development keys by default).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rdkafka::Message;
use ticktak_core::draw::{DrawMessage, DrawTerms, SeedReveal, Stock};
use ticktak_core::schedule::{Phase, ScheduleMessage, Scope, Step};
use ticktak_core::{Category, MatchNumber, PlatformId};
use ticktak_kit::config::Env;
use ticktak_kit::kafka::follow;
use ticktak_kit::kafka::trust::{self, Trust};
use ticktak_kit::kafka::{self, KafkaSettings, Record, ToEnd, Topics};

const USAGE: &str = "usage: draw open --draw ID --stock M-C=N... --opens TIME --closes TIME [--draws TIME] \
                     [--payment-window-minutes N] [--max-quantity Q] [--then PHASE@TIME] --secret-file FILE\n       \
                     draw reveal --draw ID --secret-file FILE\n       \
                     draw verify --draw ID [--expect DIGEST] [--winners]";

/// The arguments, as flag → values.
fn flags(args: &[String]) -> Result<BTreeMap<String, Vec<String>>, String> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let name = flag.strip_prefix("--").ok_or_else(|| format!("{flag:?} is not a flag"))?;
        let value = match name {
            "winners" => String::new(),
            _ => args.next().ok_or_else(|| format!("--{name} needs a value"))?.clone(),
        };
        out.entry(name.to_string()).or_default().push(value);
    }
    Ok(out)
}

fn one<'f>(flags: &'f BTreeMap<String, Vec<String>>, name: &str) -> Option<&'f str> {
    flags.get(name).and_then(|v| v.last()).map(String::as_str)
}

fn required<'f>(flags: &'f BTreeMap<String, Vec<String>>, name: &str) -> Result<&'f str, String> {
    one(flags, name).ok_or_else(|| format!("--{name} is required"))
}

fn time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    match text {
        "now" => Ok(now),
        t => DateTime::parse_from_rfc3339(t).map(|t| t.with_timezone(&Utc)).map_err(|e| format!("{t:?}: {e}")),
    }
}

/// The terms `open` publishes, and the schedule step after the close.
fn terms_of(
    flags: &BTreeMap<String, Vec<String>>,
    commitment: String,
    now: DateTime<Utc>,
) -> Result<(DrawTerms, Step), String> {
    let number = |name: &str, default: u32| -> Result<u32, String> {
        one(flags, name).map_or(Ok(default), |v| v.parse().map_err(|_| format!("--{name} needs a number")))
    };
    let mut stock = Vec::new();
    for s in flags.get("stock").into_iter().flatten() {
        let parse = || -> Option<Stock> {
            let (tt, tickets) = s.split_once('=')?;
            let (m, c) = tt.split_once('-')?;
            Some(Stock {
                match_number: MatchNumber::new(m.parse().ok()?).ok()?,
                category: Category::new(c.parse().ok()?).ok()?,
                tickets: tickets.parse().ok()?,
            })
        };
        stock.push(parse().ok_or_else(|| format!("--stock {s:?} is not MATCH-CATEGORY=TICKETS"))?);
    }
    let closes_at = time(required(flags, "closes")?, now)?;
    let then = match one(flags, "then") {
        None => Step { from: closes_at, phase: Phase::Closed },
        Some(step) => {
            let (phase, at) = step.split_once('@').ok_or("--then needs PHASE@TIME")?;
            let phase = match phase {
                "closed" => Phase::Closed,
                "queue" => Phase::Queue,
                "open" => Phase::Open,
                other => return Err(format!("--then {other:?}: closed, queue or open")),
            };
            Step { from: time(at, now)?, phase }
        }
    };
    let terms = DrawTerms {
        draw: required(flags, "draw")?.to_string(),
        opens_at: time(required(flags, "opens")?, now)?,
        closes_at,
        draws_at: one(flags, "draws").map_or(Ok(closes_at), |t| time(t, now))?,
        payment_window_minutes: number("payment-window-minutes", 60)?,
        max_quantity: u8::try_from(number("max-quantity", 2)?).map_err(|_| "--max-quantity is 1 or 2")?,
        stock,
        commitment,
    };
    terms.check()?;
    if then.from < closes_at {
        return Err("--then must come at or after the close".into());
    }
    Ok((terms, then))
}

/// A fresh secret seed: 32 random bytes in hex.
fn new_seed() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).map_err(|_| "no randomness")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

async fn send_organisers(
    settings: &KafkaSettings,
    topic: &str,
    key: &str,
    label: &str,
    body: &[u8],
    signing: &ticktak_kit::auth::SigningKey,
) -> anyhow::Result<()> {
    let producer = kafka::producer(settings, "ticktak-draw-organisers")?;
    let headers = trust::sign_organisers(signing, label, body);
    kafka::send(&producer, &Record { topic, key, payload: body, headers: &headers }).await?;
    Ok(())
}

async fn open(
    env: &Env<'_>,
    k: &KafkaSettings,
    topics: &Topics,
    flags: &BTreeMap<String, Vec<String>>,
) -> anyhow::Result<()> {
    let signing = trust::organisers_signing_key(env).map_err(anyhow::Error::msg)?;
    let secret_file = required(flags, "secret-file").map_err(anyhow::Error::msg)?;
    let seed = new_seed().map_err(anyhow::Error::msg)?;
    let (terms, then) =
        terms_of(flags, ticktak_core::draw::commitment_of(&seed), Utc::now()).map_err(anyhow::Error::msg)?;
    // The secret first: a draw whose seed is lost can never be drawn.
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(secret_file)
            .map_err(|e| anyhow::anyhow!("{secret_file}: {e} (a secret file is never overwritten)"))?;
        writeln!(f, "{seed}")?;
    }
    kafka::ensure_topics(k, &topics.shared()).await?;
    let body = DrawMessage::Terms(terms.clone()).to_json();
    send_organisers(k, &topics.draws, &terms.draw, ticktak_core::draw::TERMS_LABEL, &body, &signing).await?;
    for s in &terms.stock {
        let schedule = ScheduleMessage {
            scope: Scope { match_number: Some(s.match_number), category: Some(s.category) },
            steps: vec![Step { from: terms.opens_at, phase: Phase::Draw }, then],
            admit_per_minute: None,
        };
        schedule.check().map_err(anyhow::Error::msg)?;
        let body = schedule.to_json();
        send_organisers(k, &topics.schedule, &schedule.scope.key(), trust::SCHEDULE_LABEL, &body, &signing).await?;
    }
    println!(
        "draw {} open from {} to {}: {} ticket type(s), commitment {}; seed kept in {secret_file}",
        terms.draw,
        terms.opens_at.to_rfc3339(),
        terms.closes_at.to_rfc3339(),
        terms.stock.len(),
        terms.commitment
    );
    Ok(())
}

async fn reveal(
    env: &Env<'_>,
    k: &KafkaSettings,
    topics: &Topics,
    flags: &BTreeMap<String, Vec<String>>,
) -> anyhow::Result<()> {
    let signing = trust::organisers_signing_key(env).map_err(anyhow::Error::msg)?;
    let draw = required(flags, "draw").map_err(anyhow::Error::msg)?;
    let secret_file = required(flags, "secret-file").map_err(anyhow::Error::msg)?;
    let seed = std::fs::read_to_string(secret_file).map_err(|e| anyhow::anyhow!("{secret_file}: {e}"))?;
    let reveal = SeedReveal { draw: draw.to_string(), seed: seed.trim().to_string() };
    reveal.check().map_err(anyhow::Error::msg)?;
    let body = DrawMessage::Seed(reveal).to_json();
    send_organisers(k, &topics.draws, draw, ticktak_core::draw::SEED_LABEL, &body, &signing).await?;
    println!("draw {draw}: seed revealed");
    Ok(())
}

/// Re-run the draw from the topic; `Ok(false)` when it cannot be re-run or
/// its digest is not the one expected.
async fn verify(
    env: &Env<'_>,
    k: &KafkaSettings,
    topics: &Topics,
    flags: &BTreeMap<String, Vec<String>>,
) -> anyhow::Result<bool> {
    let draw = required(flags, "draw").map_err(anyhow::Error::msg)?;
    // A verifier signs nothing: any id does, its own key goes unused.
    let verifier = PlatformId::new("verifier").expect("a valid id");
    let trust =
        Trust::from_env(&verifier, ticktak_kit::Service::Analytics, false, env).map_err(|e| anyhow::anyhow!("{e}"))?;
    let consumer = Arc::new(kafka::consumer(k, &format!("ticktak-draw-verify-{}", uuid::Uuid::now_v7()))?);
    let mut progress = ToEnd::assign(&consumer, &topics.draws).await?;
    anyhow::ensure!(!progress.some_end_unknown(), "the broker did not tell where {} ends", topics.draws);
    let mut replay = ticktak_core::draw::Replay::default();
    let (mut counted, mut refused) = (0usize, Vec::new());
    while !progress.done() {
        let m = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .map_err(|_| anyhow::anyhow!("no message for 30 s before the topic's end"))??;
        let m = m.detach();
        progress.reached(m.partition(), m.offset() + 1);
        let header = |name: &str| follow::header(&m, name);
        let body = m.payload().unwrap_or_default();
        // Other draws' messages are none of this draw's business.
        let vetted = reservations::draw::follow::vet(
            &trust,
            body,
            header(ticktak_core::headers::CLIENT_ID),
            header(trust::ISSUED_AT),
            header(ticktak_core::headers::SIGNATURE),
        );
        let message = match vetted {
            Ok(message) if message.draw() != draw => continue,
            Ok(message) => message,
            Err(why) => {
                if serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| v["draw"] == draw) {
                    refused.push((m.partition(), m.offset(), why));
                }
                continue;
            }
        };
        match replay.apply(&message, m.partition()) {
            Ok(()) => counted += usize::from(matches!(message, DrawMessage::Application(_))),
            Err(why) => refused.push((m.partition(), m.offset(), why)),
        }
    }
    let Some(terms) = replay.terms(draw) else {
        println!("draw {draw}: no terms signed by the organisers on {}", topics.draws);
        return Ok(false);
    };
    println!("draw {draw}: commitment {}", terms.commitment);
    println!("applications: {counted} message(s) counted, {} application(s)", replay.entries(draw).len());
    for (p, o, why) in &refused {
        println!("refused: partition {p} offset {o}: {why}");
    }
    let Some(result) = replay.result(draw) else {
        println!("not drawn: no seed matching the commitment was revealed");
        return Ok(false);
    };
    println!("seed: {} (matches the commitment)", replay.seed(draw).unwrap_or_default());
    println!(
        "drawn: {} winner(s) among {} applicant(s), {} duplicate(s) left out",
        result.winners,
        result.order.values().map(Vec::len).sum::<usize>(),
        result.duplicates
    );
    if flags.contains_key("winners") {
        for (tt, order) in &result.order {
            let offered = ticktak_core::draw::drawn_offers(order, terms.stock_of(*tt).unwrap_or(0));
            for (e, _) in order.iter().zip(offered).filter(|(_, o)| *o) {
                println!(
                    "winner: {}-{} {} {} {} x{}",
                    tt.match_number, tt.category, e.buyer, e.platform, e.application, e.quantity
                );
            }
        }
    }
    println!("winners' digest: {}", result.digest);
    match one(flags, "expect") {
        Some(expected) if expected != result.digest => {
            println!("MISMATCH: expected {expected}");
            Ok(false)
        }
        Some(_) => {
            println!("matches the expected digest");
            Ok(true)
        }
        None => Ok(true),
    }
}

fn main() -> ExitCode {
    let env = Env::process();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let parsed = flags(rest).and_then(|f| {
        let k = KafkaSettings::from_env(&env).map_err(|e| e.to_string())?;
        let t = Topics::from_env(&env).map_err(|e| e.to_string())?;
        Ok((f, k, t))
    });
    let (flags, k, topics) = match parsed {
        Ok(p) => p,
        Err(e) => {
            eprintln!("draw: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    ticktak_kit::telemetry::init_logs(false);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let result = runtime.block_on(async {
        match command.as_str() {
            "open" => open(&env, &k, &topics, &flags).await.map(|()| true),
            "reveal" => reveal(&env, &k, &topics, &flags).await.map(|()| true),
            "verify" => verify(&env, &k, &topics, &flags).await,
            other => Err(anyhow::anyhow!("{other:?} is no command (open, reveal or verify)")),
        }
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("draw: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags_of(a: &[&str]) -> BTreeMap<String, Vec<String>> {
        flags(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn terms_are_read_from_the_arguments() {
        let now = Utc::now();
        let f = flags_of(&[
            "--draw",
            "final",
            "--stock",
            "64-1=100",
            "--stock",
            "64-2=50",
            "--opens",
            "now",
            "--closes",
            "2099-01-01T00:00:00Z",
            "--then",
            "open@2099-01-02T00:00:00Z",
        ]);
        let (t, then) = terms_of(&f, "0".repeat(64), now).unwrap();
        assert_eq!((t.stock.len(), t.stock[1].tickets, t.max_quantity, t.payment_window_minutes), (2, 50, 2, 60));
        assert_eq!(t.draws_at, t.closes_at);
        assert_eq!(then.phase, Phase::Open);
        for bad in [
            &["--draw", "final", "--stock", "64-4=1", "--opens", "now", "--closes", "2099-01-01T00:00:00Z"][..],
            &["--draw", "final", "--opens", "now", "--closes", "2099-01-01T00:00:00Z"],
            &["--draw", "final", "--stock", "64-1=1", "--opens", "now", "--closes", "now"],
            &[
                "--draw",
                "final",
                "--stock",
                "64-1=1",
                "--opens",
                "now",
                "--closes",
                "2099-01-01T00:00:00Z",
                "--max-quantity",
                "3",
            ],
            &[
                "--draw",
                "final",
                "--stock",
                "64-1=1",
                "--opens",
                "now",
                "--closes",
                "2099-01-01T00:00:00Z",
                "--then",
                "open@now",
            ],
        ] {
            assert!(terms_of(&flags_of(bad), "0".repeat(64), now).is_err(), "{bad:?}");
        }
        assert!(flags(&["draw".to_string()]).is_err());
        let seed = new_seed().unwrap();
        assert_eq!(seed.len(), 64);
        assert_ne!(seed, new_seed().unwrap());
    }
}
