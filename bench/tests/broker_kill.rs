//! A short scenario 4 with the broker killed: two platforms race for a small
//! category on a broker this test owns (PostgreSQL storage); the broker is
//! SIGKILLed and restarted during the race. The market must settle — every
//! reservation decided, ledgers equal — with nothing oversold.
//!
//! Its own test binary: the broker override is process-wide.

use ticktak_bench::race::{run, RaceOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_race_survives_a_broker_kill() {
    let report = run(&RaceOptions {
        platforms: 2,
        capacity: 30,
        oversubscribe: 4,
        buyers: 8,
        // 120 requests at 40/s: about 3 s of race, the broker killed once at 2 s.
        rate: 40.0,
        with_reads: false,
        chaos_every_s: 2.0,
        naive: false,
        chaos_broker: true,
        chaos_broker_only: true,
    })
    .await
    .expect("the race runs");
    report.print();
    assert!(report.killed.iter().any(|k| k == "broker"), "the broker was killed and restarted: {:?}", report.killed);
    assert_eq!(report.oversell, 0, "oversold");
    assert!(report.ledgers_equal, "ledgers diverged");
    assert_eq!(report.left_requested, 0, "reservations left REQUESTED");
    assert_eq!(
        report.granted + report.rejected_by_log + report.rejected_fast + report.pending_at_answer + report.errors,
        120
    );
    assert!(report.granted <= 30);
    assert!(report.settled_after_last_kill_s.is_some());
}
