//! `ticktak-bench fuzz [--examples N] [--service NAME] [--seed S]`:
//! schemathesis against every service's OpenAPI description (or only
//! NAME's) with N examples per operation (default 1,000) and a random seed
//! (or S, to repeat a run); prints each service's summary, and the whole
//! report (every failure with a curl command to reproduce it) of a service
//! that failed.

use ticktak_tests::fuzz::{self, Targets};

pub async fn run(examples: u32, only: Option<&str>, seed: Option<u128>) -> anyhow::Result<()> {
    let targets = Targets::start().await;
    let mut failed = Vec::new();
    for (name, base) in targets.bases().into_iter().filter(|(name, _)| only.is_none_or(|o| o == *name)) {
        let token = targets.token(name);
        let started = std::time::Instant::now();
        let outcome = tokio::task::spawn_blocking(move || fuzz::run(&base, &token, examples, seed)).await?;
        let shown = if outcome.passed { 25 } else { usize::MAX };
        let summary: Vec<&str> = outcome.report.lines().rev().take(shown).collect();
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
