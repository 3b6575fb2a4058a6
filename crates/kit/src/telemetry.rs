//! Logs (`tracing`, text or JSON, filtered by `RUST_LOG`) and the Prometheus
//! metrics registry behind `/metrics`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

/// Install the log subscriber; later calls (tests) are no-ops.
pub fn init_logs(json: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,rdkafka=warn,sqlx=warn,tower_http=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(true);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}

fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        // Several in-process services in one test share one registry.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Install the metrics registry (idempotent).
pub fn init_metrics() {
    handle();
}

/// The Prometheus text exposition of every metric recorded so far.
pub fn render_metrics() -> String {
    let h = handle();
    h.run_upkeep();
    h.render()
}

/// Logs for tests: captured by the test harness, shown for failing tests.
pub fn init_test_logs() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,rdkafka=warn,sqlx=warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
}
