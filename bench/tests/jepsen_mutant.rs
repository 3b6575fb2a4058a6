//! The checker is not blind: a short Jepsen run with a platform planted
//! with a bug (its ledger sells past the master list's capacity, as a rule
//! without the capacity check would) must be reported, with the operations
//! behind the first violation. Its own test process, as each run owns a
//! broker.

use ticktak_bench::jepsen::{run, JepsenOptions, Mutant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_that_sells_past_the_capacity_is_found_by_the_checker() {
    let opts = JepsenOptions {
        seed: 7,
        seconds: 15.0,
        fault_every_s: 1_000.0,
        clients: 8,
        capacity: 4,
        mutant: Some(Mutant::Capacity),
        // No faults: the platforms need no network of their own.
        network: false,
        ..JepsenOptions::default()
    };
    let run = run(&opts).await.expect("the run completes");
    run.print();
    assert!(run.faults.is_empty());
    assert!(!run.ledgers_agreed, "the mutated ledger differs from the others");
    let found: Vec<&str> = run.report.violations.iter().map(|v| v.property).collect();
    for property in ["serial", "capacity"] {
        assert!(found.contains(&property), "{property} not found: {found:?}");
    }
    let capacity = run.report.violations.iter().find(|v| v.property == "capacity").unwrap();
    assert!(capacity.detail.starts_with("by b's decisions"), "only the mutated platform: {capacity}");
    assert!(!capacity.context.is_empty(), "with the operations behind it: {capacity}");
}
