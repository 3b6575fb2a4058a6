//! Logs (`tracing`, text or JSON, filtered by `RUST_LOG`) and the Prometheus
//! metrics registry behind `/metrics`: each service's own metrics, HTTP
//! traffic by route (`http`), process metrics and build info.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

/// Install the log subscriber; later calls (tests) are no-ops.
pub fn init_logs(json: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,rdkafka=warn,sqlx=warn,tower_http=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(true);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}

/// Buckets of `http_request_duration_seconds` (exported as a histogram, so
/// an operator can aggregate it over instances).
/// Seconds from request to response, by method, route and status (recorded
/// by `http`'s layer; its buckets are set here with the registry).
pub const HTTP_DURATION: &str = "http_request_duration_seconds";

const HTTP_BUCKETS: [f64; 14] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0];

struct Registry {
    handle: PrometheusHandle,
    process: metrics_process::Collector,
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), &HTTP_BUCKETS)
            .expect("buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Several in-process services in one test share one registry.
        let _ = metrics::set_global_recorder(recorder);
        let process = metrics_process::Collector::default();
        process.describe();
        Registry { handle, process }
    })
}

/// Install the metrics registry (idempotent).
pub fn init_metrics() {
    registry();
}

/// `build_info{service, version} 1`, so every scrape names what runs.
pub fn record_build_info(service: &'static str) {
    metrics::gauge!("build_info", "service" => service, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
}

/// The Prometheus text exposition of every metric recorded so far, with
/// the process's own (CPU, resident memory, open files, threads) read now.
/// Export counters of rare events at zero from the start, so a dashboard's
/// `rate()` sees them before the first event: `(name, labels)`.
pub fn zero_counters(counters: &[(&'static str, &[(&'static str, &'static str)])]) {
    for (name, labels) in counters {
        let labels: Vec<(&'static str, &'static str)> = labels.to_vec();
        metrics::counter!(*name, &labels).increment(0);
    }
}

pub fn render_metrics() -> String {
    let r = registry();
    r.process.collect();
    r.handle.run_upkeep();
    r.handle.render()
}

/// Logs for tests: captured by the test harness, shown for failing tests.
pub fn init_test_logs() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,rdkafka=warn,sqlx=warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
}
