//! Other teams validate bodies strictly: everything this platform produces
//! must pass schemas written from the course format (not from our types).

use ticktak_core::{Action, Category, MatchNumber, Price, Quantity, SaleMessage, TicketType};

fn validator(schema: &str) -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_str(schema).unwrap();
    jsonschema::validator_for(&schema).expect("schema compiles")
}

#[test]
fn every_sale_body_we_produce_passes_the_strict_course_schema() {
    let v = validator(include_str!("../../docs/schemas/ticket-sale.schema.json"));
    let prices = [75, 125, 195];
    for action in [Action::TicketPending, Action::TicketReserved, Action::TicketCancelled] {
        for m in [1, 33, 64] {
            for c in 1..=3 {
                for q in 1..=2 {
                    let tt = TicketType::new(MatchNumber::new(m).unwrap(), Category::new(c).unwrap());
                    let sale = SaleMessage::single(
                        action,
                        tt,
                        Quantity::new(q).unwrap(),
                        Price::new(prices[c as usize - 1]).unwrap(),
                    );
                    let body: serde_json::Value = serde_json::from_slice(&sale.to_json()).unwrap();
                    let errors: Vec<String> = v.iter_errors(&body).map(|e| e.to_string()).collect();
                    assert!(errors.is_empty(), "{body}: {errors:?}");
                }
            }
        }
    }
    // The schema is strict: an extra key fails it.
    let extra = serde_json::json!({"meta":{"action":"TICKET_PENDING","by":"a"},"body":{"matchNumber":1,"tickets":{"category":1,"quantity":1,"price":75}}});
    assert!(!v.is_valid(&extra));
}

#[test]
fn every_master_list_message_we_publish_passes_the_strict_course_schema() {
    let v = validator(include_str!("../../docs/schemas/masterlist-match.schema.json"));
    for m in ticktak_core::masterlist::fixture() {
        let body: serde_json::Value = serde_json::from_slice(&m.to_json()).unwrap();
        let errors: Vec<String> = v.iter_errors(&body).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "match {}: {errors:?}", m.match_number);
    }
}

/// `node tests/asyncapi/check.mjs docs/asyncapi.yaml [samples]`: the
/// AsyncAPI parser (installed by `make test`).
fn asyncapi_check(samples: Option<&std::path::Path>) -> std::process::Output {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    assert!(
        root.join("tests/asyncapi/node_modules/@asyncapi/parser").exists(),
        "the AsyncAPI parser is not installed: run `make test` (npm ci in tests/asyncapi)"
    );
    let mut command = std::process::Command::new("node");
    command.current_dir(&root).arg("tests/asyncapi/check.mjs").arg("docs/asyncapi.yaml");
    if let Some(s) = samples {
        command.arg(s);
    }
    command.output().expect("node runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_asyncapi_document_describes_every_message_the_platform_publishes() {
    use reqwest::Method;
    use ticktak_tests::*;

    let env = PlatformEnv::new("a", &unique("asyncapi"));
    let topics = env.topics();
    let partitions = env.settings(ticktak_kit::Service::Shop).kafka.partitions;
    ensure_topics(&topics).await;
    publish_masterlist(&topics, &masterlist_with_capacity(2, 10)).await;
    let p = Platform::start(env).await;
    eventually(std::time::Duration::from_secs(60), "the master list", || async {
        let (_, a) = p.get("/api/matches/1/availability").await;
        (a["categories"][0]["capacity"] == 10).then_some(())
    })
    .await;
    // A hold paid, a hold cancelled, and a peer's line off its home
    // partition (re-homed by the platform).
    let (_, paid) = p.reserve("ada", 1, 1, 2, None).await;
    assert_eq!(p.confirm(paid["id"].as_str().unwrap()).await.0, 200);
    let (_, dropped) = p.reserve("ada", 1, 3, 1, None).await;
    let path = format!("/api/reservations/{}", dropped["id"].as_str().unwrap());
    assert_eq!(p.as_buyer(Method::DELETE, &path, Some("ada")).await.0, 200);
    let off_home = (ticktak_core::partition::home_partition(MatchNumber::new(1).unwrap(), partitions) + 1) % partitions;
    let stray = br#"{"meta":{"action":"TICKET_PENDING"},"body":{"matchNumber":1,"tickets":[{"category":2,"quantity":1,"price":125}]}}"#;
    let record = ticktak_kit::kafka::Record { topic: &topics.sales, key: "", payload: stray, headers: &[] };
    ticktak_kit::kafka::send_to_partition(&producer(), &record, off_home).await.unwrap();

    let sales = eventually(std::time::Duration::from_secs(60), "every message in the log", || async {
        let sales = log::read_topic(&topics.sales, partitions).await;
        let ours = sales.iter().filter(|m| m.headers.iter().any(|(k, v)| k == "client-id" && v == "a")).count();
        let rehomed = sales.iter().any(|m| m.headers.iter().any(|(k, _)| k == "rehomed-from"));
        (ours >= 4 && rehomed).then_some(sales)
    })
    .await;
    let masterlist = log::read_topic(&topics.masterlist, partitions).await;
    p.stop().await;

    let sample = |message: &str, m: &log::Raw| {
        let headers: serde_json::Map<String, serde_json::Value> =
            m.headers.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
        serde_json::json!({
            "message": message,
            "key": m.key,
            "headers": headers,
            "payload": serde_json::from_slice::<serde_json::Value>(&m.payload).unwrap(),
        })
    };
    let mut samples: Vec<serde_json::Value> = masterlist.iter().map(|m| sample("MasterListMatch", m)).collect();
    // What this platform published (the peer's own message is not ours to describe).
    let published_here = |m: &&log::Raw| m.headers.iter().any(|(k, _)| k == "client-id" || k == "rehomed-from");
    samples.extend(sales.iter().filter(published_here).map(|m| sample("TicketSale", m)));
    let actions: std::collections::BTreeSet<String> =
        samples.iter().filter_map(|s| s["payload"]["meta"]["action"].as_str().map(String::from)).collect();
    assert_eq!(actions.len(), 3, "every action published: {actions:?}");
    // Schedules as `publish-schedule` writes them (`ticktak_core::schedule`).
    for scope in [
        ticktak_core::schedule::Scope::TOURNAMENT,
        ticktak_core::schedule::Scope {
            match_number: Some(MatchNumber::new(64).unwrap()),
            category: Some(Category::new(3).unwrap()),
        },
    ] {
        let now = chrono::Utc::now();
        let message = ticktak_core::schedule::ScheduleMessage {
            scope,
            steps: vec![
                ticktak_core::schedule::Step { from: now, phase: ticktak_core::schedule::Phase::Closed },
                ticktak_core::schedule::Step {
                    from: now + chrono::Duration::hours(1),
                    phase: ticktak_core::schedule::Phase::Queue,
                },
            ],
            admit_per_minute: scope.match_number.map(|_| 6000),
        };
        let payload = message.to_json();
        let headers: serde_json::Map<String, serde_json::Value> = ticktak_kit::kafka::trust::sign_organisers(
            &ticktak_kit::kafka::trust::development_organisers_key(),
            ticktak_kit::kafka::trust::SCHEDULE_LABEL,
            &payload,
        )
        .into_iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v)))
        .collect();
        samples.push(serde_json::json!({
            "message": "SaleSchedule",
            "key": message.scope.key(),
            "headers": headers,
            "payload": serde_json::from_slice::<serde_json::Value>(&payload).unwrap(),
        }));
    }
    // Gate events as every platform writes them (`ticktak_core::gate`).
    let trust = ticktak_kit::kafka::trust::Trust::development(&ticktak_core::PlatformId::new("a").unwrap());
    for action in [ticktak_core::gate::GateAction::Admit, ticktak_core::gate::GateAction::Revoke] {
        let event = ticktak_core::gate::GateEvent {
            action,
            event_id: uuid::Uuid::now_v7(),
            ticket_id: uuid::Uuid::now_v7(),
            issuer: ticktak_core::PlatformId::new("a").unwrap(),
            match_number: 64,
            category: 3,
            gate: ticktak_core::PlatformId::new("a").unwrap(),
            at: chrono::Utc::now(),
        };
        let body = serde_json::to_vec(&event).unwrap();
        let signature = trust.sign_bytes(&ticktak_core::gate::GateEvent::signed_bytes(&body)).unwrap();
        samples.push(serde_json::json!({
            "message": "GateEvent",
            "key": event.ticket_id.to_string(),
            "headers": {"client-id": "a", "signature": signature, "produced-at": "2022-11-20T16:00:00.000000Z"},
            "payload": serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
        }));
    }

    // Queue lengths as every platform reports them (`ticktak_core::queue`).
    let length = ticktak_core::queue::QueueLength {
        room: "64-3@1764842400".into(),
        platform: ticktak_core::PlatformId::new("a").unwrap(),
        waiting: 1200,
        admitted: 300,
        at: chrono::Utc::now(),
    };
    let body = length.to_json();
    let signature = trust.sign_bytes(&ticktak_core::queue::QueueLength::signed_bytes(&body)).unwrap();
    samples.push(serde_json::json!({
        "message": "QueueLength",
        "key": length.room,
        "headers": {"client-id": "a", "signature": signature},
        "payload": serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
    }));

    let file = std::env::temp_dir().join(format!("{}.json", unique("asyncapi-samples-")));
    std::fs::write(&file, serde_json::to_vec(&samples).unwrap()).unwrap();
    let out = asyncapi_check(Some(&file));
    let _ = std::fs::remove_file(&file);
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

/// Every service's OpenAPI description, as served at `/api/openapi.json`.
fn openapi_descriptions() -> Vec<(&'static str, utoipa::openapi::OpenApi)> {
    use utoipa::OpenApi;
    vec![
        ("shop", shop::openapi::ApiDoc::openapi()),
        ("reservations", reservations::openapi::ApiDoc::openapi()),
        ("payments", payments::api::ApiDoc::openapi()),
        ("security", security::openapi::ApiDoc::openapi()),
        ("analytics", analytics::api::ApiDoc::openapi()),
    ]
}

/// An independent validator (`openapi-spec-validator`, installed by `make
/// test` into `var/openapi-venv`) accepts every description: what a client
/// generator or a gateway reads, not only what our own fuzzer tolerates.
#[test]
fn every_openapi_description_passes_an_independent_validator() {
    let bin = std::env::var("OPENAPI_VALIDATOR_BIN")
        .unwrap_or_else(|_| format!("{}/../var/openapi-venv/bin/openapi-spec-validator", env!("CARGO_MANIFEST_DIR")));
    let mut refused = Vec::new();
    for (service, doc) in openapi_descriptions() {
        let file = std::env::temp_dir().join(format!("{}.json", ticktak_tests::unique(&format!("openapi-{service}-"))));
        std::fs::write(&file, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
        let out = std::process::Command::new(&bin)
            .arg(&file)
            .output()
            .unwrap_or_else(|e| panic!("{bin} runs (make test installs it): {e}"));
        let _ = std::fs::remove_file(&file);
        if !out.status.success() {
            refused.push(format!(
                "{service}:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(refused.is_empty(), "openapi-spec-validator refused:\n{}", refused.join("\n"));
}

/// Every service's OpenAPI description names only path parameters its path
/// has (`{name}`): a tool that reads it (a validator, a client generator, a
/// fuzzer) refuses or misreads one that declares a query as a path part.
#[test]
fn every_path_parameter_of_every_openapi_description_is_in_its_path() {
    use utoipa::openapi::path::ParameterIn;
    let documents = openapi_descriptions();
    let mut wrong = Vec::new();
    for (service, doc) in &documents {
        for (path, item) in &doc.paths.paths {
            let operations = [&item.get, &item.put, &item.post, &item.delete, &item.patch];
            for operation in operations.into_iter().flatten() {
                let parameters = operation.parameters.iter().flatten().chain(item.parameters.iter().flatten());
                for p in parameters.filter(|p| matches!(p.parameter_in, ParameterIn::Path)) {
                    if !path.contains(&format!("{{{}}}", p.name)) {
                        wrong.push(format!("{service} {path}: {}", p.name));
                    }
                }
            }
        }
    }
    assert!(wrong.is_empty(), "path parameters missing from their paths: {wrong:?}");
}
