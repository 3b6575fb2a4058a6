//! publish-schedule: plays the organisers' role for the sale schedule
//! (`ticktak_core::schedule`). Sends one scope's steps to the schedule topic,
//! signed with the organisers' key as `publish-masterlist` signs the master
//! list; every platform follows the latest message of each scope.
//!
//! ```text
//! publish-schedule [--match N [--category C]] [--admit-per-minute R] PHASE[@TIME]...
//!   PHASE  closed | draw | queue | open
//!   TIME   RFC 3339 (2026-12-04T18:00:00Z), or `now` (the default)
//!   R      the market's admission rate of the scope's waiting rooms,
//!          buyers per minute over every platform (default: each
//!          platform admits at its own pace)
//! ```
//! For example, match 1 closed now and on sale with a waiting room from
//! 18:00 UTC: `publish-schedule --match 1 closed@now queue@2026-12-04T18:00:00Z`.
//! Without `--match` the steps are the whole tournament's; a match's or a
//! ticket type's own steps take precedence over it.
//!
//! Reads `ORGANISERS_SIGNING_KEY`, `APP_ENV`, `KAFKA_BROKERS`,
//! `TOPIC_PREFIX`, `TOPIC_ENV` and `KAFKA_SECURITY_PROTOCOL`/`KAFKA_SASL_*`
//! like `publish-masterlist`.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use ticktak_core::schedule::{Phase, ScheduleMessage, Scope, Step};
use ticktak_core::{Category, MatchNumber};
use ticktak_kit::config::Env;
use ticktak_kit::kafka::{self, trust, KafkaSettings, Record, Topics};

const USAGE: &str = "usage: publish-schedule [--match N [--category C]] [--admit-per-minute R] PHASE[@TIME]... \
                     (PHASE: closed, draw, queue or open; TIME: RFC 3339 or now; R: buyers per minute)";

/// The message the arguments describe.
fn parse(args: &[String], now: DateTime<Utc>) -> Result<ScheduleMessage, String> {
    let mut scope = Scope::TOURNAMENT;
    let mut steps = Vec::new();
    let mut admit_per_minute = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--match" => {
                let n = args.next().and_then(|n| n.parse::<i64>().ok()).ok_or("--match needs a match number")?;
                scope.match_number = Some(MatchNumber::new(n).map_err(|e| e.0)?);
            }
            "--admit-per-minute" => {
                let r = args.next().and_then(|r| r.parse::<u32>().ok()).ok_or("--admit-per-minute needs a number")?;
                admit_per_minute = Some(r);
            }
            "--category" => {
                let c = args.next().and_then(|c| c.parse::<i64>().ok()).ok_or("--category needs 1, 2 or 3")?;
                scope.category = Some(Category::new(c).map_err(|e| e.0)?);
            }
            step => {
                let (phase, at) = step.split_once('@').unwrap_or((step, "now"));
                let phase = match phase {
                    "closed" => Phase::Closed,
                    "queue" => Phase::Queue,
                    "draw" => Phase::Draw,
                    "open" => Phase::Open,
                    other => return Err(format!("{other:?} is no phase (closed, draw, queue or open)")),
                };
                let from = match at {
                    "now" => now,
                    t => DateTime::parse_from_rfc3339(t).map_err(|e| format!("{t:?}: {e}"))?.with_timezone(&Utc),
                };
                steps.push(Step { from, phase });
            }
        }
    }
    let message = ScheduleMessage { scope, steps, admit_per_minute };
    message.check()?;
    Ok(message)
}

fn main() -> ExitCode {
    let env = Env::process();
    let settings = KafkaSettings::from_env(&env).and_then(|k| Ok((k, Topics::from_env(&env)?)));
    let (kafka_settings, topics) = match settings {
        Ok(s) => s,
        Err(e) => {
            eprintln!("publish-schedule: {e}");
            return ExitCode::from(2);
        }
    };
    let key = match trust::organisers_signing_key(&env) {
        Ok(key) => key,
        Err(e) => {
            eprintln!("publish-schedule: {e}");
            return ExitCode::from(2);
        }
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let message = match parse(&args, Utc::now()) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("publish-schedule: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    ticktak_kit::telemetry::init_logs(false);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let result = runtime.block_on(async {
        kafka::ensure_topics(&kafka_settings, &topics.shared()).await?;
        let producer = kafka::producer(&kafka_settings, "ticktak-schedule-publisher")?;
        let payload = message.to_json();
        let headers = trust::sign_organisers(&key, trust::SCHEDULE_LABEL, &payload);
        let record =
            Record { topic: &topics.schedule, key: &message.scope.key(), payload: &payload, headers: &headers };
        kafka::send(&producer, &record).await?;
        anyhow::Ok(())
    });
    match result {
        Ok(()) => {
            println!("published the schedule of {} to {}", message.scope.key(), topics.schedule);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("publish-schedule: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn steps_and_scopes_are_read_from_the_arguments() {
        let now = Utc::now();
        let m =
            parse(&args(&["--match", "7", "--category", "2", "closed", "queue@2099-01-01T00:00:00Z"]), now).unwrap();
        assert_eq!(m.scope.key(), "7-2");
        assert_eq!(m.steps[0], Step { from: now, phase: Phase::Closed });
        assert_eq!(m.steps[1].phase, Phase::Queue);
        assert_eq!(m.admit_per_minute, None);
        assert_eq!(parse(&args(&["open"]), now).unwrap().scope, Scope::TOURNAMENT);
        let paced = parse(&args(&["--admit-per-minute", "6000", "queue"]), now).unwrap();
        assert_eq!(paced.admit_per_minute, Some(6000));
        for bad in [
            &["--match", "65", "open"][..],
            &["sold"],
            &[],
            &["--category", "1", "open"],
            &["open@tomorrow"],
            &["--admit-per-minute", "0", "queue"],
            &["--admit-per-minute", "many", "queue"],
        ] {
            assert!(parse(&args(bad), now).is_err(), "{bad:?}");
        }
    }
}
