//! Every service starts, migrates its own schema and answers its
//! operational endpoints; SIGTERM stops a service with exit code 0.

use std::time::Duration;

use ticktak_kit::Service;
use ticktak_tests::process::{spawn, terminate};
use ticktak_tests::*;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_six_services_answer_health_ready_and_metrics() {
    let env = PlatformEnv::new("a", &unique("ops"));
    ticktak_kit::telemetry::init_metrics();
    let shop = shop::start(env.settings(Service::Shop), CancellationToken::new()).await.unwrap();
    let mut running = vec![
        shop_consumer::start_with(env.settings(Service::ShopConsumer), shop.url(), None, CancellationToken::new())
            .await
            .unwrap(),
        reservations::start(env.settings(Service::Reservations), CancellationToken::new()).await.unwrap(),
        payments::start(env.settings(Service::Payments), CancellationToken::new()).await.unwrap(),
        security::start(env.settings(Service::Security), CancellationToken::new()).await.unwrap(),
        analytics::start(env.settings(Service::Analytics), CancellationToken::new()).await.unwrap(),
    ];
    running.insert(0, shop);
    let http = reqwest::Client::new();
    for (service, r) in Service::ALL.iter().zip(&running) {
        let (status, body) = get_json(&http, &format!("{}/health", r.url())).await;
        assert_eq!((status, body["service"].as_str()), (200, Some(service.name())));
        if *service == Service::ShopConsumer {
            // Not ready until the master list is read and sales are followed
            // (the catch-up waits for the master-list topic to go quiet).
            let (status, body) = get_json(&http, &format!("{}/ready", r.url())).await;
            assert_eq!((status, body["failures"]["consumer"].is_string()), (503, true), "{body}");
        }
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
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
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
