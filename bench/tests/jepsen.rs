//! The short form of `make bench ARGS="jepsen"` that runs in `make test`:
//! two platforms, each on a network of its own, clients holding and
//! cancelling for about a minute while one fault of each kind strikes (a
//! platform's process killed, one paused, the broker killed, the broker
//! paused, a platform's PostgreSQL killed or its clock set off, a platform
//! cut from the broker, from its database and from
//! both, its packets lost, its traffic delayed); the checker must find the
//! history, the log and every ledger consistent, and every ledger must
//! catch up after each heal. (`jepsen_mutant.rs`: it must also find a
//! platform planted with a bug; each run owns a broker, one per test
//! process.)

use ticktak_bench::jepsen::{run, JepsenOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_under_faults_of_every_kind_keeps_every_guarantee() {
    let opts = JepsenOptions { seed: 2022, seconds: 74.0, fault_every_s: 6.5, clients: 8, ..JepsenOptions::default() };
    let run = run(&opts).await.expect("the run completes");
    run.print();
    let kinds: Vec<_> = run.faults.iter().map(|f| f.fault.kind).collect();
    for kind in ticktak_bench::jepsen::faults::KINDS {
        assert!(kinds.contains(&kind), "{kind:?} was not injected: {kinds:?}");
    }
    for f in &run.faults {
        assert!(f.error.is_none(), "{} not injected or healed: {:?}", f.fault, f.error);
        assert!(f.converged_s.is_some(), "the ledgers did not catch up after {}", f.fault);
    }
    assert!(run.ledgers_agreed, "every ledger the same once settled");
    // A fault is an outage (503, with Retry-After), never an internal
    // error: PostgreSQL's kill answered 500s until the kit told them apart.
    let internal: Vec<_> = run.report.answers.iter().filter(|(a, _)| a.contains("500")).collect();
    assert!(internal.is_empty(), "answers of 500 under faults: {internal:?}");
    let r = &run.report;
    assert!(r.holds >= 50, "the clients got holds decided: {}", r.holds);
    assert!(r.violations.is_empty(), "{} violations, first: {}", r.violations.len(), r.violations[0]);
}
