//! The shop's public API: filters, text search, paging, errors as JSON 4xx,
//! the internal API closed without the credential, the OpenAPI description.

use std::time::Duration;

use ticktak_core::masterlist::fixture;
use ticktak_tests::*;

async fn numbers(p: &Platform, query: &str) -> (u16, Vec<u64>, serde_json::Value) {
    let (status, body) = p.get(&format!("/api/matches{query}")).await;
    let n = body["matches"]
        .as_array()
        .map(|a| a.iter().map(|m| m["matchNumber"].as_u64().unwrap()).collect())
        .unwrap_or_default();
    (status, n, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matches_can_be_filtered_searched_and_paged() {
    let env = PlatformEnv::new("a", &unique("api"));
    ensure_topics(&env.topics()).await;
    publish_masterlist(&env.topics(), &fixture()).await;
    let p = Platform::start(env).await;
    eventually(Duration::from_secs(60), "64 matches", || async { (numbers(&p, "").await.1.len() == 64).then_some(()) })
        .await;

    let (_, brazil, _) = numbers(&p, "?team=BRAZIL").await;
    assert_eq!(brazil.len(), 3);
    let (_, group_a, _) = numbers(&p, "?group=a").await;
    assert_eq!(group_a.len(), 6);
    let (_, round16, body) = numbers(&p, "?round=4").await;
    assert_eq!(round16.len(), 8);
    assert!(body["matches"].as_array().unwrap().iter().all(|m| m["group"].is_null()));
    let (_, lusail, _) = numbers(&p, "?venue=lusail%20stadium").await;
    assert_eq!(lusail, [8, 16, 24, 32, 40, 48], "the fixture's Lusail matches, in kick-off order");
    let (_, december, _) = numbers(&p, "?from=2022-12-01T00:00:00Z&to=2022-12-31T00:00:00Z").await;
    assert!(december.len() >= 16 && !december.contains(&1));

    // Text search: team or venue, case- and accent-insensitive, words ANDed.
    let (_, qatar, _) = numbers(&p, "?q=qat%C3%A1r").await;
    assert_eq!(qatar.len(), 3, "Qatár finds Qatar's three matches");
    let (_, khalifa, _) = numbers(&p, "?q=KHALIFA%20england").await;
    assert_eq!(khalifa, [3]);
    let (_, none, body) = numbers(&p, "?q=%25").await;
    assert!(none.is_empty(), "LIKE wildcards are literal");
    assert_eq!(body["total"], 0);
    // Fans' own names and typos: the same matches as the master list's names.
    for (typed, team) in [
        ("Brasil", "brazil"),
        ("Deutschland", "germany"),
        ("Maroc", "morocco"),
        ("United%20States", "usa"),
        ("South%20Korea", "korea%20republic"),
        ("argentnia", "argentina"),
        ("portu", "portugal"),
    ] {
        let (_, found, _) = numbers(&p, &format!("?q={typed}")).await;
        let (_, wanted, _) = numbers(&p, &format!("?team={team}")).await;
        assert_eq!(found, wanted, "{typed} finds {team}'s matches");
        assert!(!found.is_empty());
    }

    // Paging keeps a stable order and reports the total.
    let (_, page, body) = numbers(&p, "?limit=10&offset=60").await;
    assert_eq!((page.len(), body["total"].as_u64()), (4, Some(64)));
    let (_, first, _) = numbers(&p, "?limit=5").await;
    let (_, all, _) = numbers(&p, "").await;
    assert_eq!(first, all[..5]);

    let (_, one) = p.get("/api/matches/64").await;
    assert_eq!(one["matchNumber"], 64);
    assert_eq!(one["categories"].as_array().unwrap().len(), 3);
    let (status, avail) = p.get("/api/matches/1/availability").await;
    assert_eq!(status, 200);
    assert_eq!(
        avail["categories"][0],
        serde_json::json!({
            "category": 1, "price": 75, "capacity": 5, "held": 0, "sold": 0, "sellable": 5,
            "status": "AVAILABLE", "available": 5, "pending": 5, "phase": "open"
        })
    );
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_json_errors_and_internal_endpoints_need_the_credential() {
    let env = PlatformEnv::new("a", &unique("bad"));
    ensure_topics(&env.topics()).await;
    let p = Platform::start(env).await;
    for (path, status) in [
        ("/api/matches?limit=0", 400),
        ("/api/matches?limit=101", 400),
        ("/api/matches?limit=abc", 400),
        ("/api/matches?round=9", 400),
        ("/api/matches?from=yesterday", 400),
        ("/api/matches?from=2022-12-02T00:00:00Z&to=2022-12-01T00:00:00Z", 400),
        ("/api/matches?colour=red", 400),
        ("/api/matches/abc", 400),
        ("/api/matches/65", 404),
        ("/api/matches/0/availability", 404),
        ("/api/matches/1", 404), // not published yet in this test
    ] {
        let (got, body) = p.get(path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(body["error"].is_string() && body["message"].is_string(), "{path}: {body}");
    }

    let http = reqwest::Client::new();
    // Internal endpoints are not on the public listener at all…
    let res = http
        .get(format!("{}/internal/ledger", p.shop.url()))
        .header("authorization", ticktak_kit::internal::bearer(ticktak_kit::config::DEV_INTERNAL_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    // …and on the internal one they need the credential.
    for auth in [None, Some("Bearer wrong-token-of-enough-length"), Some("dev-internal-token")] {
        let mut req = http.get(format!("{}/internal/ledger", p.shop.internal_url()));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401, "{auth:?}");
    }
    let res = http
        .post(format!("{}/internal/sales", p.shop.internal_url()))
        .header("content-type", "application/json")
        .body(r#"{"messages":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    let (status, doc) = p.get("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["paths"]["/api/matches"]["get"].is_object());
    assert!(doc["paths"]["/api/matches/{matchNumber}/availability"]["get"].is_object());
    p.stop().await;
}
