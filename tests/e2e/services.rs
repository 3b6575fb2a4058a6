//! Every service starts, migrates its own schema and answers its
//! operational endpoints; SIGTERM stops a service with exit code 0, within
//! 10 s even when the broker is gone.

use std::time::Duration;

use ticktak_kit::Service;
use ticktak_tests::broker::OwnedBroker;
use ticktak_tests::process::{free_port, spawn, terminate, wait_ready};
use ticktak_tests::*;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_six_services_answer_health_ready_and_metrics() {
    let env = PlatformEnv::new("a", &unique("ops"));
    ticktak_kit::telemetry::init_metrics();
    let shop = shop::start(env.settings(Service::Shop), CancellationToken::new()).await.unwrap();
    let mut running = vec![
        shop_consumer::start_with(
            env.settings(Service::ShopConsumer),
            shop.internal_url(),
            None,
            CancellationToken::new(),
        )
        .await
        .unwrap(),
        reservations::start(env.settings(Service::Reservations), CancellationToken::new()).await.unwrap(),
        payments::start(env.settings(Service::Payments), CancellationToken::new()).await.unwrap(),
        security::start(env.settings(Service::Security), CancellationToken::new()).await.unwrap(),
        start_analytics(&env).await,
    ];
    running.insert(0, shop);
    let http = reqwest::Client::new();
    for (service, r) in Service::BACKEND.iter().zip(&running) {
        let (status, body) = get_json(&http, &format!("{}/health", r.url())).await;
        assert_eq!((status, body["service"].as_str()), (200, Some(service.name())));
        eventually(Duration::from_secs(30), "ready", || async {
            let (status, _) = get_json(&http, &format!("{}/ready", r.url())).await;
            (status == 200).then_some(())
        })
        .await;
        let metrics = http.get(format!("{}/metrics", r.url())).send().await.unwrap();
        assert_eq!(metrics.status(), 200);
        let (status, body) = get_json(&http, &format!("{}/no-such-thing", r.url())).await;
        assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    }
    // Each service migrated its own schema.
    let pool = sqlx::PgPool::connect(&database_url(&env.database)).await.unwrap();
    let schemas: Vec<String> = sqlx::query_scalar(
        "SELECT schema_name::text FROM information_schema.schemata WHERE schema_name IN ('shop','shop_consumer','reservations','payments','security','analytics') ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(schemas, ["analytics", "payments", "reservations", "security", "shop", "shop_consumer"]);
    pool.close().await;
    for r in running {
        r.stop().await.expect("clean stop");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_a_service_process_with_exit_code_0() {
    let env = PlatformEnv::new("a", &unique("term"));
    let port = free_port();
    let mut vars = env.vars();
    vars.insert("PAYMENTS_PORT".into(), port.to_string());
    let mut child = spawn("payments", &vars);
    let http = reqwest::Client::new();
    eventually(Duration::from_secs(60), "payments ready", || async {
        let res = http.get(format!("http://127.0.0.1:{port}/ready")).send().await.ok()?;
        (res.status() == 200).then_some(())
    })
    .await;
    terminate(&child);
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait()).await.expect("stops in time").unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_stops_within_10_s_of_sigterm_after_the_broker_died() {
    let broker = OwnedBroker::start().await.expect("own broker");
    let env = PlatformEnv::new("a", &unique("gone"));
    let mut vars = env.vars();
    vars.insert("KAFKA_BROKERS".into(), broker.addr());
    let children: Vec<_> = spawn_all(vars).await.into_iter().map(|(s, child, _)| (s.name(), child)).collect();
    // The broker goes away while every service is connected to it.
    broker.stop().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (_, child) in &children {
        terminate(child);
    }
    for (name, mut child) in children {
        let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .unwrap_or_else(|_| panic!("{name} still running 10 s after SIGTERM"))
            .unwrap();
        assert_eq!(status.code(), Some(0), "{name} exits cleanly");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_exports_http_process_and_build_metrics_from_its_first_scrape() {
    let env = PlatformEnv::new("a", &unique("metrics"));
    let running = spawn_all(env.vars()).await;
    let http = reqwest::Client::new();
    for (service, _, url) in &running {
        let text = http.get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
        for expected in [
            "process_resident_memory_bytes",
            "process_cpu_seconds_total",
            "process_open_fds",
            &format!("build_info{{service=\"{}\"", service.name()),
            // wait_ready's own requests, by route template and status.
            "http_requests_total{method=\"GET\",route=\"/ready\",status=\"200\"}",
            "http_request_duration_seconds_bucket{method=\"GET\",route=\"/ready\",status=\"200\",le=\"0.005\"}",
        ] {
            assert!(text.contains(expected), "{}: no {expected} in\n{text}", service.name());
        }
    }
    for (_, child, _) in &running {
        terminate(child);
    }
    for (_, mut child, _) in running {
        let _ = child.wait().await;
    }
}

/// All six services as processes on free ports, each ready before the next
/// starts: (service, process, base URL of its internal listener).
async fn spawn_all(
    mut vars: std::collections::HashMap<String, String>,
) -> Vec<(Service, tokio::process::Child, String)> {
    let urls: Vec<String> = Service::BACKEND
        .iter()
        .map(|service| {
            let port = free_port();
            vars.insert(service.internal_port_var(), port.to_string());
            format!("http://127.0.0.1:{port}")
        })
        .collect();
    let url_of = |wanted: Service| urls[Service::BACKEND.iter().position(|s| *s == wanted).unwrap()].clone();
    vars.insert("SHOP_URL".into(), url_of(Service::Shop));
    vars.insert("RESERVATIONS_URL".into(), url_of(Service::Reservations));
    let mut running = Vec::new();
    for (service, url) in Service::BACKEND.into_iter().zip(urls.clone()) {
        let child = spawn(service.name(), &vars);
        wait_ready(&format!("{url}/ready")).await;
        running.push((service, child, url));
    }
    running
}

/// The metric names the Grafana dashboard in `deploy/grafana/` queries.
fn dashboard_metrics() -> std::collections::BTreeSet<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana/ticktak-dashboard.json");
    let dashboard: serde_json::Value = serde_json::from_slice(&std::fs::read(path).expect("dashboard")).expect("JSON");
    let mut names = std::collections::BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            for token in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                let suffixes = ["_total", "_seconds", "_bytes", "_messages", "_bucket"];
                if suffixes.iter().any(|s| token.ends_with(s)) {
                    names.insert(token.to_string());
                }
            }
        }
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grafana_dashboard_queries_only_metrics_the_services_export() {
    let wanted = dashboard_metrics();
    assert!(wanted.len() >= 15, "{wanted:?}");
    let env = PlatformEnv::new("a", &unique("dashboard"));
    ensure_topics(&env.topics()).await;
    publish_masterlist(&env.topics(), &masterlist_with_capacity(1, 10)).await;
    let running = spawn_all(env.vars()).await;
    let url_of = |wanted: Service| running.iter().find(|(s, _, _)| *s == wanted).unwrap().2.clone();
    let http = reqwest::Client::new();
    // One hold through the platform, so the ledger and the outbox have run.
    eventually(Duration::from_secs(60), "a hold", || async {
        let res = http
            .post(format!("{}/api/reservations", url_of(Service::Reservations)))
            .bearer_auth(dev_token("grafana", "a"))
            .json(&serde_json::json!({"matchNumber": 1, "category": 1, "quantity": 1}))
            .send()
            .await
            .ok()?;
        matches!(res.status().as_u16(), 201 | 202).then_some(())
    })
    .await;
    // Gauges appear with their first report (the consumer lag every 5 s).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let missing = loop {
        let mut exported = String::new();
        for (_, _, url) in &running {
            let text = http.get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
            exported.push_str(&text);
        }
        let names: std::collections::BTreeSet<&str> =
            exported.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split(['{', ' ']).next()).collect();
        let missing: Vec<String> = wanted.iter().filter(|w| !names.contains(w.as_str())).cloned().collect();
        if missing.is_empty() || std::time::Instant::now() > deadline {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(missing.is_empty(), "the dashboard queries metrics no service exports: {missing:?}");
    for (_, child, _) in &running {
        terminate(child);
    }
    for (_, mut child, _) in running {
        let _ = child.wait().await;
    }
}
