//! ticktak-bench: see BENCHMARKS.md for every command and its results.
//!
//!     ticktak-bench backlog [MESSAGES]
//!     ticktak-bench broker [--rate R] [--seconds S] [--producers P] [--kill-every S]
//!     ticktak-bench login [--samples N]
//!     ticktak-bench trust [--messages N]
//!     ticktak-bench race [--platforms P] [--capacity C] [--oversubscribe X]
//!                        [--buyers N] [--rate R] [--with-reads] [--chaos SECONDS [--chaos-broker | --chaos-broker-only]] [--naive] [--json FILE]
//!
//!     ticktak-bench jepsen [--seed N] [--minutes M | --seconds S] [--platforms P] [--clients N]
//!                          [--fault-every S] [--capacity C] [--mutant capacity] [--no-network]
//!
//!     ticktak-bench draw [--applications N] [--tickets T] [--types K] [--window S] [--clients C]
//!                        [--decline PERCENT] [--twice PERCENT]
//!
//!     ticktak-bench onsale [--platforms P] [--requests N] [--buyers N] [--rate R] [--people N] [--zipf S]
//!                          [--seed S] [--capacity C]
//!
//! `race` and `onsale` are closed-loop (N buyers, each sending its next request when the
//! previous one is answered) unless `--rate` sets an open-loop arrival rate
//! (requests/s; latency measured from each request's intended start, so
//! coordinated omission is corrected). It exits non-zero on any oversell.

use ticktak_bench::race::{self, RaceOptions};

fn flag<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> anyhow::Result<T> {
    Ok(optional_flag(args, name)?.unwrap_or(default))
}

/// `name`'s value, or `None` when `name` is not given.
fn optional_flag<T: std::str::FromStr>(args: &[String], name: &str) -> anyhow::Result<Option<T>> {
    match args.iter().position(|a| a == name) {
        None => Ok(None),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .map(Some)
            .ok_or_else(|| anyhow::anyhow!("{name} needs a value")),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("backlog") => {
            let n = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(100_000);
            ticktak_bench::backlog::run(n).await
        }
        Some("broker") => {
            let opts = ticktak_bench::broker::BrokerOptions {
                rate: flag(&args, "--rate", 1000.0)?,
                seconds: flag(&args, "--seconds", 20.0)?,
                producers: flag(&args, "--producers", 2)?,
                kill_every: flag(&args, "--kill-every", 0.0)?,
            };
            ticktak_bench::broker::run(&opts).await
        }
        Some("login") => ticktak_bench::login::run(flag(&args, "--samples", 200)?).await,
        Some("attack") => {
            ticktak_bench::attack::run(
                flag(&args, "--seconds", 30)?,
                flag(&args, "--honest", 50)?,
                flag(&args, "--bots", 50)?,
            )
            .await
        }
        Some("recommend") => {
            let bookings = flag(&args, "--bookings", 20_000)?;
            let buyers = flag(&args, "--buyers", 4_000)?;
            ticktak_bench::recommend::run(bookings, buyers, flag(&args, "--seed", 2022)?).await
        }
        Some("fuzz") => {
            let only: Option<String> = optional_flag(&args, "--service")?;
            ticktak_bench::fuzz::run(flag(&args, "--examples", 1000)?, only.as_deref(), optional_flag(&args, "--seed")?)
                .await
        }
        Some("trust") => ticktak_bench::trust::run(flag(&args, "--messages", 20_000)?),
        Some("screening") => {
            ticktak_bench::screening::run(flag(&args, "--seconds", 5)?, flag(&args, "--networks", 1000)?).await
        }
        Some("queue") => {
            let opts = ticktak_bench::queue::QueueOptions {
                buyers: flag(&args, "--buyers", 50_000)?,
                spread_s: flag(&args, "--spread", 10.0)?,
                admit_per_minute: flag(&args, "--admit-per-minute", 15_000)?,
                capacity: flag(&args, "--capacity", 20_000)?,
                seed: flag(&args, "--seed", 2022)?,
                floor_per_minute: 0,
            };
            let opts = ticktak_bench::queue::QueueOptions {
                floor_per_minute: flag(&args, "--floor", opts.admit_per_minute)?,
                ..opts
            };
            let report = ticktak_bench::queue::run(&opts).await?;
            report.print();
            anyhow::ensure!(report.oversell == 0, "OVERSELL");
            anyhow::ensure!(report.holds_without_admission_granted == 0, "a hold without admission was granted");
            Ok(())
        }
        Some("draw") => {
            let opts = ticktak_bench::draw::DrawOptions {
                applications: flag(&args, "--applications", 100_000)?,
                tickets: flag(&args, "--tickets", 1_000)?,
                types: flag(&args, "--types", 12)?,
                window_s: flag(&args, "--window", 300)?,
                clients: flag(&args, "--clients", 64)?,
                decline_percent: flag(&args, "--decline", 10)?,
                twice_percent: flag(&args, "--twice", 1)?,
            };
            let report = ticktak_bench::draw::run(&opts).await?;
            report.print();
            anyhow::ensure!(report.oversell == 0, "OVERSELL");
            anyhow::ensure!(report.digests_agree && report.verify_agrees, "the platforms or draw verify disagree");
            anyhow::ensure!(report.ledgers_agree, "the ledgers disagree");
            Ok(())
        }
        Some("jepsen") => {
            let minutes: Option<f64> = optional_flag(&args, "--minutes")?;
            let opts = ticktak_bench::jepsen::JepsenOptions {
                seed: flag(&args, "--seed", 1)?,
                seconds: minutes.map(|m| m * 60.0).unwrap_or(flag(&args, "--seconds", 60.0)?),
                platforms: flag(&args, "--platforms", 2)?,
                clients: flag(&args, "--clients", 12)?,
                fault_every_s: flag(&args, "--fault-every", 8.0)?,
                capacity: flag(&args, "--capacity", 30)?,
                mutant: optional_flag(&args, "--mutant")?,
                network: !args.iter().any(|a| a == "--no-network"),
            };
            let run = ticktak_bench::jepsen::run(&opts).await?;
            run.print();
            anyhow::ensure!(run.report.violations.is_empty(), "{} violations", run.report.violations.len());
            Ok(())
        }
        Some("onsale") => {
            let opts = ticktak_bench::onsale::OnsaleOptions {
                platforms: flag(&args, "--platforms", 2)?,
                requests: flag(&args, "--requests", 1_000_000)?,
                buyers: flag(&args, "--buyers", 256)?,
                rate: flag(&args, "--rate", 0.0)?,
                people: flag(&args, "--people", 20_000)?,
                zipf_s: flag(&args, "--zipf", 1.0)?,
                seed: flag(&args, "--seed", 2022)?,
                capacity: optional_flag(&args, "--capacity")?,
            };
            let report = ticktak_bench::onsale::run(&opts).await?;
            report.print();
            if let Some(path) = args.iter().position(|a| a == "--json").and_then(|i| args.get(i + 1)) {
                std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
                println!("wrote {path}");
            }
            anyhow::ensure!(report.oversell == 0 && report.ledgers_equal, "OVERSELL or diverging ledgers");
            anyhow::ensure!(report.left_requested == 0, "reservations left REQUESTED");
            Ok(())
        }
        Some("race") => {
            let opts = RaceOptions {
                platforms: flag(&args, "--platforms", 2)?,
                capacity: flag(&args, "--capacity", 10_000)?,
                oversubscribe: flag(&args, "--oversubscribe", 20)?,
                buyers: flag(&args, "--buyers", 256)?,
                rate: flag(&args, "--rate", 0.0)?,
                with_reads: args.iter().any(|a| a == "--with-reads"),
                chaos_every_s: flag(&args, "--chaos", 0.0)?,
                naive: args.iter().any(|a| a == "--naive"),
                chaos_broker: args.iter().any(|a| a.starts_with("--chaos-broker")),
                chaos_broker_only: args.iter().any(|a| a == "--chaos-broker-only"),
            };
            let report = race::run(&opts).await?;
            report.print();
            if let Some(path) = args.iter().position(|a| a == "--json").and_then(|i| args.get(i + 1)) {
                std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
                println!("wrote {path}");
            }
            if opts.naive {
                // The baseline is expected to oversell: report, do not fail.
                return Ok(());
            }
            anyhow::ensure!(report.oversell == 0 && report.ledgers_equal, "OVERSELL or diverging ledgers");
            anyhow::ensure!(report.left_requested == 0, "reservations left REQUESTED");
            Ok(())
        }
        _ => {
            eprintln!("usage: ticktak-bench backlog [MESSAGES] | broker [--rate R] [--seconds S] [--producers P] [--kill-every S] | login [--samples N] | screening [--seconds S] [--networks N] | fuzz [--examples N] [--service NAME] [--seed S] | recommend [--bookings N] [--buyers B] [--seed S] | attack [--seconds S] [--honest N] [--bots B] | onsale [--platforms P] [--requests N] [--buyers N] [--rate R] [--people N] [--zipf S] [--seed S] [--capacity C] [--json FILE] | draw [--applications N] [--tickets T] [--types K] [--window S] [--clients C] [--decline P] [--twice P] | queue [--buyers N] [--spread S] [--admit-per-minute R] [--floor F] [--capacity C] [--seed S] | race [--platforms P] [--capacity C] [--oversubscribe X] [--buyers N] [--rate R] [--with-reads] [--chaos SECONDS [--chaos-broker | --chaos-broker-only]] [--naive] [--json FILE]");
            std::process::exit(2);
        }
    }
}
