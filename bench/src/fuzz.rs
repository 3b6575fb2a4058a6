//! `ticktak-bench fuzz [--examples N]`: schemathesis against every
//! service's OpenAPI description with N examples per operation (default
//! 1,000) and a random seed; prints each service's summary.

use ticktak_tests::fuzz::{self, Targets};

pub async fn run(examples: u32) -> anyhow::Result<()> {
    let targets = Targets::start().await;
    let mut failed = Vec::new();
    for (name, base) in targets.bases() {
        let token = targets.token(name);
        let started = std::time::Instant::now();
        let outcome = tokio::task::spawn_blocking(move || fuzz::run(&base, &token, examples, None)).await?;
        let summary: Vec<&str> = outcome.report.lines().rev().take(25).collect();
        println!(
            "== {name}: {} in {:.0} s\n{}",
            if outcome.passed { "passed" } else { "FAILED" },
            started.elapsed().as_secs_f64(),
            summary.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
        if !outcome.passed {
            failed.push(name);
        }
    }
    anyhow::ensure!(failed.is_empty(), "schemathesis found failures in {failed:?}");
    Ok(())
}
