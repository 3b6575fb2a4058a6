//! Screening: every public route of every service refuses a blocked
//! network within a second of an admin blocking it (the routes are walked
//! from each service's own OpenAPI description, plus the operational
//! endpoints and unknown paths); services keep screening with their last
//! policy while the security service is down; rate limits answer 429 with
//! `Retry-After`, per client address and per account; admins read what was
//! refused in the security events.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use ticktak_kit::auth::Role;
use ticktak_kit::config::Env;
use ticktak_kit::service::Running;
use ticktak_kit::{Service, Settings};
use ticktak_tests::*;
use tokio_util::sync::CancellationToken;

/// The reverse proxy in front of the platform: the tests' own address.
const PROXY: &str = "127.0.0.1/32";
const BLOCKED: &str = "198.51.100.7";
const ALLOWED: &str = "192.0.2.1";

struct Services {
    env: PlatformEnv,
    security: Running,
    /// Every other service, by name.
    others: Vec<(Service, Running)>,
    http: reqwest::Client,
}

fn settings(env: &PlatformEnv, service: Service) -> (Settings, std::collections::HashMap<String, String>) {
    let vars = env.vars();
    let lookup = vars.clone();
    (Settings::from(service, &Env::from_fn(move |k| lookup.get(k).cloned())).expect("settings"), vars)
}

async fn start_all(extra: &[(&str, &str)]) -> Services {
    ticktak_kit::telemetry::init_test_logs();
    let mut env = PlatformEnv::new("a", &unique("scr"));
    env.extra.insert("TRUSTED_PROXIES".into(), PROXY.into());
    env.extra.insert("REPUTATION".into(), "on".into());
    for (k, v) in extra {
        env.extra.insert(k.to_string(), v.to_string());
    }
    ensure_topics(&env.topics()).await;
    publish_masterlist(&env.topics(), &masterlist_with_capacity(64, 100)).await;
    let (s, _) = settings(&env, Service::Security);
    let security = security::start(s, CancellationToken::new()).await.expect("security starts");
    env.extra.insert("SECURITY_URL".into(), security.internal_url());
    let shop = shop::start(settings(&env, Service::Shop).0, CancellationToken::new()).await.unwrap();
    env.extra.insert("SHOP_URL".into(), shop.internal_url());
    // Reservations' own settings from the test's variables too (hold TTL).
    let (rs, vars) = settings(&env, Service::Reservations);
    let config = reservations::config::ReservationConfig::from(&rs, &Env::from_fn(move |k| vars.get(k).cloned()))
        .expect("reservation settings");
    let reservations = reservations::start_with(rs, config, CancellationToken::new()).await.unwrap();
    env.extra.insert("RESERVATIONS_URL".into(), reservations.internal_url());
    let consumer = shop_consumer::start_with(
        settings(&env, Service::ShopConsumer).0,
        shop.internal_url(),
        Some(reservations.internal_url()),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let payments = payments::start(settings(&env, Service::Payments).0, CancellationToken::new()).await.unwrap();
    let analytics = start_analytics(&env).await;
    let others = vec![
        (Service::Shop, shop),
        (Service::ShopConsumer, consumer),
        (Service::Reservations, reservations),
        (Service::Payments, payments),
        (Service::Analytics, analytics),
    ];
    Services { env, security, others, http: reqwest::Client::new() }
}

impl Services {
    fn admin(&self) -> String {
        dev_token_as("admin-1", &self.env.platform_id, Role::Admin)
    }

    fn all(&self) -> Vec<(Service, &Running)> {
        std::iter::once((Service::Security, &self.security)).chain(self.others.iter().map(|(s, r)| (*s, r))).collect()
    }

    async fn from(&self, client: &str, method: Method, url: &str) -> (u16, Value) {
        let res = self
            .http
            .request(method, url)
            .header("x-forwarded-for", client)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .expect("answers");
        (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
    }

    async fn admin_call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.security.url()))
            .header("x-forwarded-for", ALLOWED)
            .bearer_auth(self.admin());
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
    }
}

/// Every (method, path) a service documents, with path parameters filled
/// in, plus the operational endpoints and a path nobody serves.
async fn routes(http: &reqwest::Client, base: &str) -> Vec<(Method, String)> {
    let mut found = vec![
        (Method::GET, "/health".to_string()),
        (Method::GET, "/ready".to_string()),
        (Method::GET, "/metrics".to_string()),
        (Method::GET, "/no-such-route".to_string()),
        (Method::POST, "/no-such-route".to_string()),
    ];
    let res = http.get(format!("{base}/api/openapi.json")).send().await.unwrap();
    if res.status().is_success() {
        let doc: Value = res.json().await.unwrap();
        for (path, ops) in doc["paths"].as_object().expect("paths") {
            let filled: String = path
                .split('/')
                .map(|seg| if seg.starts_with('{') { "00000000-0000-0000-0000-000000000000" } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            for method in ops.as_object().unwrap().keys() {
                found.push((method.to_uppercase().parse().unwrap(), filled.clone()));
            }
        }
        found.push((Method::GET, "/api/openapi.json".to_string()));
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_network_is_refused_on_every_public_route_of_every_service_within_a_second() {
    let s = start_all(&[]).await;
    let shop = s.others[0].1.url();
    assert_eq!(s.from(BLOCKED, Method::GET, &format!("{shop}/api/matches")).await.0, 200);

    let (status, entry) = s
        .admin_call(
            Method::POST,
            "/api/admin/blocklist",
            Some(json!({"cidr": "198.51.100.0/24", "reason": "scalper botnet"})),
        )
        .await;
    assert_eq!(status, 201, "{entry}");
    let blocked_at = std::time::Instant::now();
    eventually(Duration::from_secs(5), "every service refusing the network", || async {
        for (_, r) in s.all() {
            if s.from(BLOCKED, Method::GET, &format!("{}/health", r.url())).await.0 != 403 {
                return None;
            }
        }
        Some(())
    })
    .await;
    assert!(blocked_at.elapsed() < Duration::from_millis(1500), "took {:?}", blocked_at.elapsed());

    let mut walked = 0;
    for (service, r) in s.all() {
        for (method, path) in routes(&s.http, &r.url()).await {
            let url = format!("{}{path}", r.url());
            let (status, body) = s.from(BLOCKED, method.clone(), &url).await;
            assert_eq!((status, body["error"].as_str()), (403, Some("blocked")), "{} {method} {path}", service.name());
            // The same route from elsewhere is not refused by screening.
            let (status, body) = s.from(ALLOWED, method.clone(), &url).await;
            assert!(
                status != 403 || body["error"] != "blocked",
                "{} {method} {path} from an allowed address",
                service.name()
            );
            walked += 1;
        }
    }
    assert!(walked >= 40, "walked only {walked} routes");
    // The internal listener is for the platform's own services: not screened.
    let (status, _) = s.from(BLOCKED, Method::GET, &format!("{}/health", s.others[0].1.internal_url())).await;
    assert_eq!(status, 200);

    // Admins see who was refused, where and why.
    let events = eventually(Duration::from_secs(10), "blocked events", || async {
        let (_, body) = s.admin_call(Method::GET, "/api/admin/security/events?kind=blocked", None).await;
        let events = body["events"].as_array().cloned().unwrap_or_default();
        let services: std::collections::HashSet<String> =
            events.iter().filter_map(|e| e["service"].as_str().map(String::from)).collect();
        (services.len() == 6).then_some(events)
    })
    .await;
    assert!(events.iter().all(|e| e["ip"] == BLOCKED), "{events:?}");
    let (_, changes) = s.admin_call(Method::GET, "/api/admin/security/events?kind=blocklist_added", None).await;
    assert!(changes["events"][0]["detail"].as_str().unwrap().contains("198.51.100.0/24"), "{changes}");

    // With the security service gone, services keep the last policy and
    // say so in /ready.
    let Services { security, others, env, http } = s;
    security.stop().await.unwrap();
    let shop = &others[0].1;
    let (status, ready) = eventually(Duration::from_secs(10), "a note in /ready", || async {
        let (status, body) = get_json(&http, &format!("{}/ready", shop.url())).await;
        body["notes"]["screening"].is_string().then_some((status, body))
    })
    .await;
    assert_eq!(status, 200, "{ready}");
    let res = http.get(format!("{}/api/matches", shop.url())).header("x-forwarded-for", BLOCKED).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 403);
    drop(env);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_lifts_a_block_and_expired_blocks_lapse() {
    let s = start_all(&[]).await;
    let shop = s.others[0].1.url();
    let (status, entry) = s
        .admin_call(Method::POST, "/api/admin/blocklist", Some(json!({"cidr": BLOCKED, "reason": "one address"})))
        .await;
    assert_eq!(status, 201);
    eventually(Duration::from_secs(5), "blocked", || async {
        (s.from(BLOCKED, Method::GET, &format!("{shop}/api/matches")).await.0 == 403).then_some(())
    })
    .await;
    let (status, list) = s.admin_call(Method::GET, "/api/admin/blocklist", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["entries"][0]["cidr"], "198.51.100.7/32");
    let id = entry["id"].as_str().unwrap();
    assert_eq!(s.admin_call(Method::DELETE, &format!("/api/admin/blocklist/{id}"), None).await.0, 204);
    eventually(Duration::from_secs(5), "unblocked", || async {
        (s.from(BLOCKED, Method::GET, &format!("{shop}/api/matches")).await.0 == 200).then_some(())
    })
    .await;
    assert_eq!(s.admin_call(Method::DELETE, &format!("/api/admin/blocklist/{id}"), None).await.0, 404);

    // A block that expires in a moment.
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let (status, _) = s
        .admin_call(
            Method::POST,
            "/api/admin/blocklist",
            Some(json!({"cidr": "198.51.100.0/28", "reason": "cool-off", "expiresAt": soon})),
        )
        .await;
    assert_eq!(status, 201);
    eventually(Duration::from_secs(5), "blocked for a while", || async {
        (s.from(BLOCKED, Method::GET, &format!("{shop}/api/matches")).await.0 == 403).then_some(())
    })
    .await;
    eventually(Duration::from_secs(10), "the block lapsed", || async {
        (s.from(BLOCKED, Method::GET, &format!("{shop}/api/matches")).await.0 == 200).then_some(())
    })
    .await;

    // Bad input is a 400; buyers are not admins.
    for bad in [
        json!({"cidr": "not-a-network", "reason": "x"}),
        json!({"cidr": "10.0.0.0/8", "reason": ""}),
        json!({"cidr": "0.0.0.0/0", "reason": "everyone"}),
        json!({"cidr": "10.0.0.0/8", "reason": "x", "expiresAt": "2001-01-01T00:00:00Z"}),
    ] {
        let (status, body) = s.admin_call(Method::POST, "/api/admin/blocklist", Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad} → {body}");
    }
    let res = s
        .http
        .get(format!("{}/api/admin/blocklist", s.security.url()))
        .bearer_auth(dev_token("buyer-1", &s.env.platform_id))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_a_rate_limit_a_client_gets_429_with_retry_after_per_address_and_per_account() {
    let s =
        start_all(&[("RATE_LIMIT_SCALE", "1"), ("RATE_HOLDS_PER_MIN", "20"), ("RATE_HOLDS_PER_MIN_PER_ACCOUNT", "30")])
            .await;
    let reservations = s.others.iter().find(|(svc, _)| *svc == Service::Reservations).unwrap().1.url();
    let hold = |client: &'static str, buyer: &'static str| {
        let http = s.http.clone();
        let url = format!("{reservations}/api/reservations");
        let token = dev_token(buyer, &s.env.platform_id);
        async move {
            let res = http
                .post(url)
                .header("x-forwarded-for", client)
                .bearer_auth(token)
                .json(&json!({"matchNumber": 1, "category": 1, "quantity": 0}))
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string()))
        }
    };
    // 20 a minute from one address, 2 at once: the third is refused.
    assert_eq!(hold("203.0.113.1", "alice").await.0, 422);
    assert_eq!(hold("203.0.113.1", "bob").await.0, 422);
    let (status, retry) = hold("203.0.113.1", "carol").await;
    assert_eq!(status, 429);
    let retry: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=3).contains(&retry), "Retry-After {retry}");
    // Another address is not held back; reads from the same one neither.
    assert_eq!(hold("203.0.113.2", "dave").await.0, 422);
    let (status, _) = s.from("203.0.113.1", Method::GET, &format!("{reservations}/health")).await;
    assert_eq!(status, 200);

    // One account spread over many addresses: 30 a minute, 3 at once.
    let mut statuses = Vec::new();
    for client in ["203.0.113.10", "203.0.113.11", "203.0.113.12", "203.0.113.13"] {
        statuses.push(hold(client, "mallory").await.0);
    }
    assert_eq!(statuses, [422, 422, 422, 429]);

    let events = eventually(Duration::from_secs(10), "throttle events", || async {
        let (_, body) = s.admin_call(Method::GET, "/api/admin/security/events?kind=throttled", None).await;
        let events = body["events"].as_array().cloned().unwrap_or_default();
        (events.len() >= 2).then_some(events)
    })
    .await;
    assert!(events.iter().any(|e| e["ip"] == "203.0.113.1" && e["routeClass"] == "holds"), "{events:?}");
    assert!(events.iter().any(|e| e["account"] == "mallory"), "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_stuffing_earns_a_challenge_everywhere_then_a_block() {
    let s = start_all(&[]).await;
    let shop = s.others[0].1.url();
    let stuffer = "203.0.113.50";
    // Ten accounts tried from one address.
    for i in 0..10 {
        let res = s
            .http
            .post(format!("{}/api/auth/login", s.security.url()))
            .header("x-forwarded-for", stuffer)
            .json(&json!({"email": format!("victim{i}@example.com"), "password": "password123456"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 401);
    }
    // Now every service asks that address for a solved puzzle.
    let (status, body) = eventually(Duration::from_secs(5), "a challenge", || async {
        let (status, body) = s.from(stuffer, Method::GET, &format!("{shop}/api/matches")).await;
        (status == 428).then_some((status, body))
    })
    .await;
    assert_eq!((status, body["error"].as_str()), (428, Some("challenge_required")), "{body}");
    assert_eq!(s.from(ALLOWED, Method::GET, &format!("{shop}/api/matches")).await.0, 200);

    // A solved puzzle lets one request through, once.
    let puzzle: ticktak_kit::challenge::Challenge = s
        .http
        .get(format!("{shop}/api/challenge"))
        .header("x-forwarded-for", stuffer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(puzzle.maxnumber, 100_000);
    let number = ticktak_kit::challenge::solve(&puzzle).expect("solvable");
    let answer = ticktak_kit::challenge::header_value(&puzzle, number);
    let with = |answer: String| {
        let http = s.http.clone();
        let url = format!("{shop}/api/matches");
        async move {
            http.get(url)
                .header("x-forwarded-for", stuffer)
                .header("x-challenge-solution", answer)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(with(answer.clone()).await, 200);
    assert_eq!(with(answer).await, 428, "a solution is used once");
    let wrong = ticktak_kit::challenge::header_value(&puzzle, number + 1);
    assert_eq!(with(wrong).await, 428);

    // Going on without solving: blocked for an hour.
    for _ in 0..50 {
        s.from(stuffer, Method::GET, &format!("{shop}/api/matches")).await;
    }
    eventually(Duration::from_secs(10), "an automatic block", || async {
        (s.from(stuffer, Method::GET, &format!("{shop}/api/matches")).await.0 == 403).then_some(())
    })
    .await;
    let (_, events) = s.admin_call(Method::GET, "/api/admin/security/events?limit=1000", None).await;
    let kinds: std::collections::HashSet<&str> =
        events["events"].as_array().unwrap().iter().filter_map(|e| e["kind"].as_str()).collect();
    for kind in ["login_failed", "challenged", "challenge_failed", "auto_blocked"] {
        assert!(kinds.contains(kind), "{kind} missing from {kinds:?}");
    }
    let (_, list) = s.admin_call(Method::GET, "/api/admin/blocklist", None).await;
    assert_eq!(list["entries"][0]["createdBy"], "reputation", "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_sign_ups_from_one_network_earn_the_network_a_challenge() {
    let s = start_all(&[]).await;
    let shop = s.others[0].1.url();
    for i in 0..5 {
        let res = s
            .http
            .post(format!("{}/api/auth/register", s.security.url()))
            .header("x-forwarded-for", format!("203.0.113.{}", 60 + i))
            .json(&json!({"email": format!("farm{i}@example.com"), "password": "a long enough secret",
                "name": "Farm", "country": "QA"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 202);
    }
    // Another address of the same /24 is asked for a puzzle; other networks are not.
    eventually(Duration::from_secs(5), "the network challenged", || async {
        (s.from("203.0.113.200", Method::GET, &format!("{shop}/api/matches")).await.0 == 428).then_some(())
    })
    .await;
    assert_eq!(s.from("203.0.114.1", Method::GET, &format!("{shop}/api/matches")).await.0, 200);
    let (_, events) = s.admin_call(Method::GET, "/api/admin/security/events?kind=challenged", None).await;
    assert!(events["events"][0]["detail"].as_str().unwrap().contains("203.0.113.0/24"), "{events}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_that_lets_holds_expire_again_and_again_is_challenged_then_blocked_from_holding() {
    let s = &start_all(&[("HOLD_TTL_SECS", "1"), ("SWEEP_INTERVAL_MS", "200")]).await;
    let reservations = &s.others.iter().find(|(svc, _)| *svc == Service::Reservations).unwrap().1.url();
    // `quantity` 0 probes the screening without placing a hold: screened → 428/403, else 400.
    let hold_of = |buyer: &'static str, quantity: u32, solution: Option<String>| {
        let http = s.http.clone();
        let url = format!("{reservations}/api/reservations");
        let token = dev_token(buyer, &s.env.platform_id);
        async move {
            let mut req = http
                .post(url)
                .header("x-forwarded-for", ALLOWED)
                .bearer_auth(token)
                .json(&json!({"matchNumber": 5, "category": 2, "quantity": quantity}));
            if let Some(answer) = solution {
                req = req.header(ticktak_kit::challenge::HEADER, answer);
            }
            let res = req.send().await.unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let hold_of = &hold_of;
    let hold = |buyer: &'static str, solution: Option<String>| hold_of(buyer, 1, solution);
    let hold = &hold;
    let solved = || async {
        let puzzle: ticktak_kit::challenge::Challenge =
            s.http.get(format!("{reservations}/api/challenge")).send().await.unwrap().json().await.unwrap();
        ticktak_kit::challenge::header_value(&puzzle, ticktak_kit::challenge::solve(&puzzle).unwrap())
    };
    // One hold placed and left to run out unpaid.
    let hold_and_abandon = |solution: Option<String>| async move {
        let (status, body) = eventually(Duration::from_secs(10), "a hold", || async {
            let (status, body) = hold("careless", solution.clone()).await;
            (status != 409).then_some((status, body))
        })
        .await;
        assert_eq!(status, 201, "{body}");
        let id = body["id"].as_str().unwrap().to_string();
        let mine = dev_token("careless", &s.env.platform_id);
        eventually(Duration::from_secs(10), "the hold expires", || async {
            let res = s
                .http
                .get(format!("{reservations}/api/reservations/{id}"))
                .header("x-forwarded-for", ALLOWED)
                .bearer_auth(&mine)
                .send()
                .await
                .unwrap();
            let body: Value = res.json().await.unwrap();
            (body["status"] == "EXPIRED").then_some(())
        })
        .await;
    };
    let verdict = |kind: &'static str| async move {
        eventually(Duration::from_secs(10), kind, || async {
            let (_, body) = s.admin_call(Method::GET, &format!("/api/admin/security/events?kind={kind}"), None).await;
            body["events"].as_array().and_then(|e| e.iter().find(|e| e["account"] == "careless").cloned())
        })
        .await
    };

    for _ in 0..3 {
        hold_and_abandon(None).await;
    }
    let event = verdict("account_challenged").await;
    assert!(event["detail"].as_str().unwrap().starts_with("3 holds expired unpaid"), "{event}");
    // Its next hold needs a solved puzzle; another buyer's does not. (The probe places no hold
    // while the verdict is on its way, so no stray hold can expire and count.)
    eventually(Duration::from_secs(5), "a challenge", || async {
        (hold_of("careless", 0, None).await.0 == 428).then_some(())
    })
    .await;
    let (status, body) = hold("careless", None).await;
    assert_eq!((status, body["error"].as_str()), (428, Some("challenge_required")), "{body}");
    let (status, body) = hold("careful", None).await;
    assert_eq!(status, 201, "{body}");
    for _ in 0..3 {
        hold_and_abandon(Some(solved().await)).await;
    }
    verdict("account_blocked").await;
    // Now no new holds, puzzle or not; reading stays open.
    eventually(Duration::from_secs(5), "a 403", || async {
        (hold_of("careless", 0, Some(solved().await)).await.0 == 403).then_some(())
    })
    .await;
    let (status, body) = hold("careless", Some(solved().await)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "blocked", "{body}");
    assert!(body["message"].as_str().unwrap().contains("6 holds expired unpaid"), "{body}");
    let res = s
        .http
        .get(format!("{reservations}/api/reservations"))
        .header("x-forwarded-for", ALLOWED)
        .bearer_auth(dev_token("careless", &s.env.platform_id))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}
