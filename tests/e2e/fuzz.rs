//! schemathesis against the OpenAPI description of every service that has
//! one, on a platform with the master list published and a buyer's token:
//! a bounded, repeatable run here (`make bench ARGS=fuzz` runs ≥ 1,000
//! examples per operation with random seeds).

use ticktak_tests::fuzz::{self, Targets};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_answers_fuzzed_requests_without_a_5xx_and_as_documented() {
    let targets = Targets::start().await;
    let mut failed = Vec::new();
    for (name, base) in targets.bases() {
        let token = targets.token(name);
        let outcome = tokio::task::spawn_blocking(move || fuzz::run(&base, &token, 20, Some(20261126))).await.unwrap();
        let tail: Vec<&str> = outcome.report.lines().rev().take(60).collect();
        println!("== {name}\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        if !outcome.passed {
            failed.push(name);
        }
    }
    assert!(failed.is_empty(), "schemathesis found failures in {failed:?} (reports above)");
}
