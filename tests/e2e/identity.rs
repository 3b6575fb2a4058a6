//! Identity end to end: sign-up, sign-in, tokens that reservations accept
//! (on this platform, and on another only when it trusts this issuer),
//! refresh rotation with reuse detection, back-off after failed sign-ins,
//! roles and the operator's `grant-role`.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use ticktak_kit::auth::SigningKey;
use ticktak_kit::config::Env;
use ticktak_kit::service::Running;
use ticktak_kit::{Service, Settings};
use ticktak_tests::*;
use tokio_util::sync::CancellationToken;

/// A platform's security service running in this process.
struct Identity {
    security: Running,
    http: reqwest::Client,
}

impl Identity {
    /// Start the security service of `env` (its extra variables included).
    async fn start(env: &PlatformEnv) -> Self {
        ticktak_kit::telemetry::init_test_logs();
        let vars = env.vars();
        let e = Env::from_fn(move |k| vars.get(k).cloned());
        let settings = Settings::from(Service::Security, &e).expect("settings");
        let config = security::config::SecurityConfig::from(&settings, &e).expect("security settings");
        let security = security::start_with(settings, config, CancellationToken::new()).await.expect("security starts");
        Self { security, http: reqwest::Client::new() }
    }

    fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.security.url())
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let res = self.http.post(format!("{}{path}", self.security.url())).json(&body).send().await.unwrap();
        (res.status(), res.json().await.unwrap_or(Value::Null))
    }

    async fn call(&self, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.security.url())).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        (res.status(), res.json().await.unwrap_or(Value::Null))
    }

    /// Sign up `email`, confirm it with the mailed link and sign in: the
    /// account as `/api/me` shows it.
    async fn register(&self, email: &str) -> Value {
        let body = json!({"email": email, "password": "a long enough secret", "name": "A Fan", "country": "ar"});
        let (status, answer) = self.post("/api/auth/register", body).await;
        assert_eq!((status, answer["status"].as_str()), (StatusCode::ACCEPTED, Some("check_your_email")), "{answer}");
        mail::confirm_address(&self.security.url(), email.trim()).await;
        let token = self.access_token(email.trim()).await;
        let (status, account) = self.call(reqwest::Method::GET, "/api/me", &token, None).await;
        assert_eq!(status, StatusCode::OK, "{account}");
        account
    }

    /// Sign in; the token pair.
    async fn login(&self, email: &str, password: &str) -> (StatusCode, Value) {
        self.post("/api/auth/login", json!({"email": email, "password": password})).await
    }

    async fn access_token(&self, email: &str) -> String {
        let (status, pair) = self.login(email, "a long enough secret").await;
        assert_eq!(status, StatusCode::OK, "{pair}");
        pair["accessToken"].as_str().unwrap().to_string()
    }
}

/// `env` verifying tokens with its security service's published keys
/// instead of the development key.
fn with_fetched_keys(env: &mut PlatformEnv) {
    env.extra.insert("JWT_PUBLIC_KEYS".into(), String::new());
    env.extra.insert("JWT_SIGNING_KEY".into(), SigningKey::generate().to_pem());
}

async fn reserve_with(http: &reqwest::Client, reservations_url: &str, token: &str) -> (StatusCode, Value) {
    let res = http
        .post(format!("{reservations_url}/api/reservations"))
        .bearer_auth(token)
        .json(&json!({"matchNumber": 1, "category": 1, "quantity": 1}))
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_signs_up_signs_in_and_reserves_here_and_where_the_issuer_is_trusted() {
    let topic_env = unique("identity");
    let mut env_a = PlatformEnv::new("a", &topic_env);
    with_fetched_keys(&mut env_a);
    // a's sign-ins are meant for b and c too; only b trusts a.
    env_a.extra.insert("JWT_EXTRA_AUDIENCES".into(), "ticktak-b,ticktak-c".into());
    let identity = Identity::start(&env_a).await;
    env_a.extra.insert("SECURITY_URL".into(), identity.security.internal_url());

    let mut env_b = PlatformEnv::new("b", &topic_env);
    with_fetched_keys(&mut env_b);
    env_b.extra.insert("SECURITY_URL".into(), format!("http://127.0.0.1:{}", process::free_port()));
    env_b.extra.insert("JWT_TRUSTED_ISSUERS".into(), format!("ticktak-a={}", identity.jwks_url()));
    let mut env_c = env_b.clone();
    env_c.platform_id = "c".into();
    env_c.database = unique("t_c_");
    env_c.extra.remove("JWT_TRUSTED_ISSUERS");

    ensure_topics(&env_a.topics()).await;
    publish_masterlist(&env_a.topics(), &masterlist_with_capacity(2, 10)).await;
    let a = Platform::start(env_a).await;
    let b = Platform::start(env_b).await;
    let c = Platform::start(env_c).await;
    for p in [&a, &b, &c] {
        eventually(Duration::from_secs(60), "master list", || async {
            let (_, m) = p.get("/api/matches/1/availability").await;
            (m["categories"][0]["capacity"] == 10).then_some(())
        })
        .await;
    }

    let account = identity.register("  Alice@Example.com ").await;
    assert_eq!(account["email"], "Alice@Example.com");
    assert_eq!((account["country"].as_str(), account["role"].as_str()), (Some("AR"), Some("buyer")));
    let (status, pair) = identity.login("alice@example.com", "a long enough secret").await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    assert_eq!(pair["expiresIn"], 900);
    let token = pair["accessToken"].as_str().unwrap();

    let (status, me) = identity.call(reqwest::Method::GET, "/api/me", token, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], account["id"]);

    let (status, held) = reserve_with(&a.http, &a.reservations.url(), token).await;
    assert!(matches!(status.as_u16(), 201 | 202), "{status} {held}");
    let (status, held) = reserve_with(&b.http, &b.reservations.url(), token).await;
    assert!(matches!(status.as_u16(), 201 | 202), "b trusts a: {status} {held}");
    let (status, refused) = reserve_with(&c.http, &c.reservations.url(), token).await;
    assert_eq!((status, refused["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));

    // The keys are published, the private key is not.
    let jwks: Value = reqwest::get(identity.jwks_url()).await.unwrap().json().await.unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
    assert!(jwks["keys"][0].get("d").is_none());

    for p in [a, b, c] {
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_its_family() {
    let identity = Identity::start(&PlatformEnv::new("a", &unique("refresh"))).await;
    identity.register("rotor@example.com").await;
    let (_, first) = identity.login("rotor@example.com", "a long enough secret").await;
    let r1 = first["refreshToken"].as_str().unwrap().to_string();

    let (status, second) = identity.post("/api/auth/refresh", json!({"refreshToken": r1})).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let r2 = second["refreshToken"].as_str().unwrap().to_string();
    assert_ne!(r1, r2);
    let access = second["accessToken"].as_str().unwrap();
    assert_eq!(identity.call(reqwest::Method::GET, "/api/me", access, None).await.0, StatusCode::OK);

    // r1 again: someone holds a copy. r1 and its successor r2 both stop working.
    assert_eq!(identity.post("/api/auth/refresh", json!({"refreshToken": r1})).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(identity.post("/api/auth/refresh", json!({"refreshToken": r2})).await.0, StatusCode::UNAUTHORIZED);

    // Sign-out revokes the session's family; other sessions live on.
    let (_, s1) = identity.login("rotor@example.com", "a long enough secret").await;
    let (_, s2) = identity.login("rotor@example.com", "a long enough secret").await;
    let (status, _) = identity.post("/api/auth/logout", json!({"refreshToken": s1["refreshToken"]})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let refresh = |pair: &Value| json!({"refreshToken": pair["refreshToken"]});
    assert_eq!(identity.post("/api/auth/refresh", refresh(&s1)).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(identity.post("/api/auth/refresh", refresh(&s2)).await.0, StatusCode::OK);
    // The API description covers every identity endpoint.
    let doc: Value =
        reqwest::get(format!("{}/api/openapi.json", identity.security.url())).await.unwrap().json().await.unwrap();
    for path in [
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/refresh",
        "/api/auth/logout",
        "/api/me",
        "/api/admin/accounts",
        "/api/admin/accounts/{id}/role",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing from the OpenAPI description");
    }
    for unknown in ["", "x", &"y".repeat(10_000)] {
        assert_eq!(
            identity.post("/api/auth/refresh", json!({"refreshToken": unknown})).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_refuses_bad_input_and_answers_a_taken_email_in_any_case_as_any_other() {
    let identity = Identity::start(&PlatformEnv::new("a", &unique("signup"))).await;
    identity.register("dup@example.com").await;
    let body = |email: &str, password: &str, country: &str| json!({"email": email, "password": password, "name": "Fan", "country": country});
    for (what, req, expected) in [
        // Taken: answered as any sign-up (the owner is told by mail).
        ("taken, other case", body(" DUP@example.COM", "another long secret", "QA"), 202),
        ("common password", body("new@example.com", "qwertyuiop", "QA"), 422),
        ("short password", body("new@example.com", "short", "QA"), 422),
        ("password is the e-mail", body("newfan@example.com", "newfan@example.com", "QA"), 422),
        ("unknown country", body("new@example.com", "a long enough secret", "XX"), 422),
        ("not an e-mail", body("new.example.com", "a long enough secret", "QA"), 422),
        ("wrong type", json!({"email": 1, "password": "a long enough secret", "name": "x", "country": "QA"}), 422),
        (
            "unknown field",
            json!({"email": "n@example.com", "password": "a long enough secret", "name": "x", "country": "QA", "role": "admin"}),
            422,
        ),
    ] {
        let (status, answer) = identity.post("/api/auth/register", req).await;
        assert_eq!(status.as_u16(), expected, "{what}: {answer}");
        assert!(answer["message"].is_string(), "{what}: {answer}");
    }
    let url = format!("{}/api/auth/register", identity.security.url());
    let res = identity.http.post(&url).header("content-type", "application/json").body("{nope").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = identity.http.post(&url).header("content-type", "text/plain").body("{}").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_answer_alike_and_back_off() {
    let identity = Identity::start(&PlatformEnv::new("a", &unique("backoff"))).await;
    identity.register("carol@example.com").await;
    let (status, unknown) = identity.login("nobody@example.com", "a long enough secret").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, wrong) = identity.login("carol@example.com", "not her password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown, wrong, "an unknown e-mail and a wrong password answer alike");

    // Five failures for carol are free, the sixth starts the back-off.
    for _ in 0..5 {
        assert_eq!(identity.login("carol@example.com", "not her password").await.0, StatusCode::UNAUTHORIZED);
    }
    let res = identity
        .http
        .post(format!("{}/api/auth/login", identity.security.url()))
        .json(&json!({"email": "carol@example.com", "password": "a long enough secret"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "even the right password waits");
    let retry_after: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "too_many_requests");

    // The owner gets in once the short wait is over.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let (status, _) = eventually(Duration::from_secs(10), "the back-off to end", || async {
        let r = identity.login("carol@example.com", "a long enough secret").await;
        (r.0 != StatusCode::TOO_MANY_REQUESTS).then_some(r)
    })
    .await;
    assert_eq!(status, StatusCode::OK);
}

/// Guesses sent all at once are counted as they are admitted, not after
/// their passwords were checked: no more get checked than one after another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_cannot_outrun_the_back_off() {
    let identity = Identity::start(&PlatformEnv::new("a", &unique("parallel"))).await;
    identity.register("dora@example.com").await;
    let guesses = (0..20).map(|i| {
        let identity = &identity;
        async move { identity.login("dora@example.com", &format!("guess number {i}")).await.0 }
    });
    let answers = futures::future::join_all(guesses).await;
    let checked = answers.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let throttled = answers.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(checked + throttled, 20, "{answers:?}");
    assert!(checked <= 6, "the five free guesses and the one that starts the wait, no more: {answers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_manage_roles_buyers_get_403_and_operators_grant_roles() {
    let env = PlatformEnv::new("a", &unique("roles"));
    let identity = Identity::start(&env).await;
    // The operator's command, on the platform's database.
    let grant = |email: &str| {
        std::process::Command::new(process::bin("security"))
            .args(["grant-role", email, "admin"])
            .env_clear()
            .env("DATABASE_URL", database_url(&env.database))
            .output()
            .unwrap()
    };
    let boss = identity.register("boss@example.com").await;
    let bob = identity.register("bob@example.com").await;
    assert_eq!(
        (boss["role"].as_str(), bob["role"].as_str()),
        (Some("buyer"), Some("buyer")),
        "nobody signs up an admin"
    );
    let out = grant("Boss@Example.com");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    use reqwest::Method;
    let bob_token = identity.access_token("bob@example.com").await;
    let (status, body) = identity.call(Method::GET, "/api/admin/accounts", &bob_token, None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));

    let boss_token = identity.access_token("boss@example.com").await;
    let (status, found) = identity.call(Method::GET, "/api/admin/accounts?q=BOB", &boss_token, None).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!((found["total"].as_i64(), &found["accounts"][0]["id"]), (Some(1), &bob["id"]));

    let bob_role = format!("/api/admin/accounts/{}/role", bob["id"].as_str().unwrap());
    let (status, changed) = identity.call(Method::PUT, &bob_role, &boss_token, Some(json!({"role": "staff"}))).await;
    assert_eq!((status, changed["role"].as_str()), (StatusCode::OK, Some("staff")));
    let (status, _) = identity.call(Method::PUT, &bob_role, &boss_token, Some(json!({"role": "emperor"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let own = format!("/api/admin/accounts/{}/role", boss["id"].as_str().unwrap());
    assert_eq!(
        identity.call(Method::PUT, &own, &boss_token, Some(json!({"role": "buyer"}))).await.0,
        StatusCode::CONFLICT
    );
    let nobody = format!("/api/admin/accounts/{}/role", uuid::Uuid::now_v7());
    assert_eq!(
        identity.call(Method::PUT, &nobody, &boss_token, Some(json!({"role": "staff"}))).await.0,
        StatusCode::NOT_FOUND
    );
    // Bob's next sign-in carries the new role.
    let bob_token = identity.access_token("bob@example.com").await;
    assert_eq!(identity.call(Method::GET, "/api/me", &bob_token, None).await.1["role"], "staff");

    // The operator's command grants Bob too.
    let out = grant("BOB@example.com");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bob_token = identity.access_token("bob@example.com").await;
    assert_eq!(identity.call(Method::GET, "/api/me", &bob_token, None).await.1["role"], "admin");
    let out = grant("ghost@example.com");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no account"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_client_address_backs_off_on_its_own() {
    let mut env = PlatformEnv::new("a", &unique("proxy"));
    env.extra.insert("TRUSTED_PROXIES".into(), "127.0.0.1".into());
    let identity = Identity::start(&env).await;
    let url = format!("{}/api/auth/login", identity.security.url());
    let attempt = |from: &'static str, n: usize| {
        let http = identity.http.clone();
        let url = url.clone();
        async move {
            let body = json!({"email": format!("nobody-{n}@example.com"), "password": "a long enough secret"});
            let res = http.post(&url).header("x-forwarded-for", from).json(&body).send().await.unwrap();
            res.status()
        }
    };
    // Ten failures from one address are free (each for another e-mail);
    // the eleventh starts its back-off.
    for n in 0..11 {
        assert_eq!(attempt("198.51.100.7", n).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(attempt("198.51.100.7", 11).await, StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same proxy is not slowed by it.
    assert_eq!(attempt("203.0.113.20", 12).await, StatusCode::UNAUTHORIZED);

    // Without a trusted proxy the header is ignored: all of it is the peer's.
    let identity = Identity::start(&PlatformEnv::new("a", &unique("noproxy"))).await;
    let url = format!("{}/api/auth/login", identity.security.url());
    for n in 0..11 {
        let from = format!("198.51.100.{n}");
        let body = json!({"email": format!("nobody-{n}@example.com"), "password": "a long enough secret"});
        let status =
            identity.http.post(&url).header("x-forwarded-for", from).json(&body).send().await.unwrap().status();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let body = json!({"email": "nobody-x@example.com", "password": "a long enough secret"});
    let res = identity.http.post(&url).header("x-forwarded-for", "192.0.2.1").json(&body).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "a forged header does not escape the back-off");
}

/// Sign-up tells nobody which addresses have an account: a taken address
/// gets the same answer as a new one (its owner is told by mail), and an
/// account signs in only once its address is confirmed — before that, the
/// right password answers exactly as a wrong one. A link works once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_does_not_tell_whether_an_address_is_taken_and_its_link_verifies_once() {
    let identity = Identity::start(&PlatformEnv::new("a", &unique("enum"))).await;
    let owner = format!("{}@example.com", unique("owner"));
    identity.register(&owner).await;
    let fresh = format!("{}@example.com", unique("fresh"));
    let sign_up = |email: String| json!({"email": email, "password": "another long secret", "name": "Mallory Phisher", "country": "QA"});
    let (taken_status, taken) = identity.post("/api/auth/register", sign_up(owner.to_uppercase())).await;
    let (fresh_status, new) = identity.post("/api/auth/register", sign_up(fresh.clone())).await;
    assert_eq!((taken_status, &taken), (fresh_status, &new), "the same answer for a taken and a new address");
    assert_eq!((fresh_status, new["status"].as_str()), (StatusCode::ACCEPTED, Some("check_your_email")));
    // The owner hears of it: the confirmation, then the note.
    let mails = mail::wait_for(&mail::maildev_url(), &owner, 2, Duration::from_secs(20)).await;
    assert!(mails.iter().any(|m| m.subject == "Your ticktak account"), "{mails:?}");
    let note = mails.iter().find(|m| m.subject == "Your ticktak account").unwrap();
    assert!(mail::link_tokens(note).is_empty(), "the note carries no link that could take the account");
    // A second try within ten minutes mails the owner nothing more.
    identity.post("/api/auth/register", sign_up(owner.clone())).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(mail::messages_to(&mail::maildev_url(), &owner).await.len(), 2);

    // Before confirmation: the right password answers as a wrong one.
    let (right_status, right) = identity.login(&fresh, "another long secret").await;
    let (wrong_status, wrong) = identity.login(&fresh, "not the password at all").await;
    assert_eq!((right_status, &right), (wrong_status, &wrong), "{right}");
    assert_eq!(right_status, StatusCode::UNAUTHORIZED);

    // The link: once; bad tokens are 400.
    let mails = mail::wait_for(&mail::maildev_url(), &fresh, 1, Duration::from_secs(20)).await;
    let token = mail::link_tokens(&mails[0]).pop().expect("a link with a token");
    assert!(mails[0].text.as_deref().unwrap().contains("/verify-email?token="), "a link to the web site");
    assert!(!mails[0].text.as_deref().unwrap().contains("Mallory"), "the mail quotes nothing the sign-up typed");
    let verify = |token: String| identity.post("/api/auth/verify-email", json!({ "token": token }));
    let (status, body) = verify(token.clone()).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("verified")), "{body}");
    let (status, body) = verify(token).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")), "used: {body}");
    for bad in [String::new(), "x".into(), "A".repeat(43), "y".repeat(5_000)] {
        assert_eq!(verify(bad.clone()).await.0, StatusCode::BAD_REQUEST, "{}", bad.len());
    }
    // Confirmed: it signs in, and its token says so.
    let (status, pair) = identity.login(&fresh, "another long secret").await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    let (_, me) = identity.call(reqwest::Method::GET, "/api/me", pair["accessToken"].as_str().unwrap(), None).await;
    assert_eq!(me["emailVerified"], true);

    // A new link, asked for an unknown or a confirmed address: the same
    // answer as for an unconfirmed one, and nothing mailed.
    let pending = format!("{}@example.com", unique("pending"));
    identity.post("/api/auth/register", sign_up(pending.clone())).await;
    let resend = |email: &str| identity.post("/api/auth/verify-email/resend", json!({ "email": email }));
    let nobody = format!("{}@example.com", unique("nobody"));
    let answers = [resend(&pending).await, resend(&fresh).await, resend(&nobody).await];
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    assert_eq!(answers[0].0, StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(mail::messages_to(&mail::maildev_url(), &fresh).await.len(), 1, "nothing more to a confirmed address");
    assert!(mail::messages_to(&mail::maildev_url(), &nobody).await.is_empty());
}

/// A forgotten password: a mailed link (answered alike for any address)
/// sets a new one once and signs every session out; a weak password leaves
/// the link usable. A password changed by its owner needs the current one,
/// signs the other sessions out and tells the owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_reset_by_mail_works_once_and_a_change_signs_out_everywhere() {
    let identity = Identity::start(&PlatformEnv::new("a", &unique("reset"))).await;
    let owner = format!("{}@example.com", unique("forgetful"));
    identity.register(&owner).await;
    let (_, session) = identity.login(&owner, "a long enough secret").await;
    let refresh = session["refreshToken"].as_str().unwrap().to_string();

    let reset = |email: &str| identity.post("/api/auth/password-reset", json!({ "email": email }));
    let nobody = format!("{}@example.com", unique("nobody"));
    let (mine, theirs) = (reset(&owner).await, reset(&nobody).await);
    assert_eq!(mine, theirs, "the same answer for any address");
    assert_eq!(mine.0, StatusCode::ACCEPTED);
    let mails = eventually(Duration::from_secs(20), "the reset link", || async {
        let all = mail::messages_to(&mail::maildev_url(), &owner).await;
        all.into_iter().find(|m| m.subject == "Choose a new password")
    })
    .await;
    assert!(mails.text.as_deref().unwrap().contains("/reset-password?token="), "a link to the web site");
    let token = mail::link_tokens(&mails).pop().unwrap();
    assert!(mail::messages_to(&mail::maildev_url(), &nobody).await.is_empty());

    let confirm = |password: &str| {
        identity.post("/api/auth/password-reset/confirm", json!({ "token": token, "newPassword": password }))
    };
    assert_eq!(confirm("short").await.0, StatusCode::UNPROCESSABLE_ENTITY, "weak: refused, the link kept");
    let (status, body) = confirm("a brand new long secret").await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("password_changed")), "{body}");
    assert_eq!(confirm("yet another long secret").await.0, StatusCode::BAD_REQUEST, "once");
    // Every session signed out; only the new password signs in.
    let (status, _) = identity.post("/api/auth/refresh", json!({ "refreshToken": refresh })).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(identity.login(&owner, "a long enough secret").await.0, StatusCode::UNAUTHORIZED);
    let (status, pair) = identity.login(&owner, "a brand new long secret").await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    eventually(Duration::from_secs(20), "the owner told", || async {
        let all = mail::messages_to(&mail::maildev_url(), &owner).await;
        all.iter().any(|m| m.subject == "Your ticktak password was changed").then_some(())
    })
    .await;

    // A change by the owner: the current password first.
    let access = pair["accessToken"].as_str().unwrap();
    let other = identity.login(&owner, "a brand new long secret").await.1;
    let change = |current: &str, new: &str| {
        identity.call(
            reqwest::Method::POST,
            "/api/me/password",
            access,
            Some(json!({ "currentPassword": current, "newPassword": new })),
        )
    };
    let (status, body) = change("not my password at all", "the third long secret").await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_credentials")), "{body}");
    assert_eq!(change("a brand new long secret", "short").await.0, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, fresh) = change("a brand new long secret", "the third long secret").await;
    assert_eq!(status, StatusCode::OK, "{fresh}");
    assert!(fresh["accessToken"].is_string() && fresh["refreshToken"].is_string());
    let (status, _) = identity.post("/api/auth/refresh", json!({ "refreshToken": other["refreshToken"] })).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the other session is signed out");
    let (status, _) = identity.post("/api/auth/refresh", json!({ "refreshToken": fresh["refreshToken"] })).await;
    assert_eq!(status, StatusCode::OK, "this one goes on");
    assert_eq!(identity.login(&owner, "the third long secret").await.0, StatusCode::OK);

    // The owner edits name and country; not the address, not the role.
    let edit = |body: Value| {
        identity.call(reqwest::Method::PATCH, "/api/me", fresh["accessToken"].as_str().unwrap(), Some(body))
    };
    let (status, me) = edit(json!({"name": "  New Name ", "country": "uy"})).await;
    assert_eq!(
        (status, me["name"].as_str(), me["country"].as_str()),
        (StatusCode::OK, Some("New Name"), Some("UY")),
        "{me}"
    );
    assert_eq!(edit(json!({"country": "XX"})).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(edit(json!({"name": ""})).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(edit(json!({"role": "admin"})).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(edit(json!({"email": "other@example.com"})).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, me) = identity.call(reqwest::Method::GET, "/api/me", fresh["accessToken"].as_str().unwrap(), None).await;
    assert_eq!((me["name"].as_str(), me["role"].as_str()), (Some("New Name"), Some("buyer")));
}

/// The owner's data, taken away and then erased, across three services: the
/// export holds the account, its orders, tickets and payments; deletion
/// needs the password, is refused while a ticket is valid for a match to
/// come, and then leaves orders and payments under the account's id
/// without the person. The deleted account's token buys nothing more, and
/// the address can sign up again as a new account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_exports_everything_kept_about_them_and_deletes_the_account() {
    use ticktak_tests::checkout::{self, Payments, CARD_OK};
    let env = PlatformEnv::new("a", &unique("gdpr"));
    ensure_topics(&env.topics()).await;
    publish_masterlist(&env.topics(), &masterlist_match_1_in_future(2, 10)).await;
    let a = Platform::start(env).await;
    eventually(Duration::from_secs(60), "the master list", || async {
        (a.get("/api/matches/1/availability").await.1["categories"][0]["capacity"] == 10).then_some(())
    })
    .await;
    let pay = Payments::start(&a, true, |_| {}).await;
    let mut security_env = a.env.clone();
    security_env.extra.insert("RESERVATIONS_URL".into(), a.reservations.internal_url());
    security_env.extra.insert("PAYMENTS_URL".into(), pay.running.internal_url());
    let identity = Identity::start(&security_env).await;
    let email = format!("{}@example.com", unique("leaving"));
    let account = identity.register(&email).await;
    let account_id = account["id"].as_str().unwrap().to_string();
    let token = identity.access_token(&email).await;

    // A paid order of a match years away.
    let (status, order) = reserve_with(&a.http, &a.reservations.url(), &token).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let order_id = order["id"].as_str().unwrap().to_string();
    let payments_url = pay.running.url();
    let created: Value = a
        .http
        .post(format!("{payments_url}/api/payments"))
        .bearer_auth(&token)
        .json(&json!({ "reservationId": order_id }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    checkout::pay(created["clientSecret"].as_str().unwrap(), CARD_OK).await;
    let payment_id = created["paymentId"].as_str().unwrap().to_string();
    let payment_status = || async {
        let p: Value = a
            .http
            .get(format!("{payments_url}/api/payments/{payment_id}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        p["status"].as_str().map(str::to_string)
    };
    eventually(Duration::from_secs(60), "paid", || async {
        (payment_status().await.as_deref() == Some("SUCCEEDED")).then_some(())
    })
    .await;

    // The export: everything, as a download.
    let res = identity
        .http
        .get(format!("{}/api/me/export", identity.security.url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let export: Value = res.json().await.unwrap();
    assert_eq!(export["account"]["email"], email.as_str(), "{export}");
    assert_eq!(export["reservations"]["orders"][0]["id"], order_id.as_str(), "{export}");
    assert_eq!(export["reservations"]["tickets"].as_array().unwrap().len(), 1, "{export}");
    assert_eq!(export["payments"]["payments"][0]["status"], "SUCCEEDED", "{export}");
    assert!(export["sessions"].as_array().is_some_and(|s| !s.is_empty()), "{export}");
    assert!(!export.to_string().contains("secret"), "no client secret in the export");

    // Deletion: the password, and nothing still to be used.
    let delete = |password: &str| {
        identity.call(reqwest::Method::DELETE, "/api/me", &token, Some(json!({ "password": password })))
    };
    assert_eq!(delete("not my password").await.0, StatusCode::UNAUTHORIZED);
    let (status, refused) = delete("a long enough secret").await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("still valid"), "{refused}");
    let refund = a
        .http
        .post(format!("{payments_url}/api/payments/{payment_id}/refund"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(refund.status().is_success(), "{}", refund.status());
    eventually(Duration::from_secs(60), "refunded", || async {
        (payment_status().await.as_deref() == Some("REFUNDED")).then_some(())
    })
    .await;
    let (status, body) = delete("a long enough secret").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    // Gone: no sign-in, the old token reads and buys nothing.
    assert_eq!(identity.login(&email, "a long enough secret").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(identity.call(reqwest::Method::GET, "/api/me", &token, None).await.0, StatusCode::UNAUTHORIZED);
    let (status, refused) = reserve_with(&a.http, &a.reservations.url(), &token).await;
    assert_eq!((status, refused["message"].as_str()), (StatusCode::FORBIDDEN, Some("this account was deleted")));
    // What the other services keep names nobody, and keeps the amount.
    let internal = ticktak_kit::internal::Client::new(
        &a.reservations.internal_url(),
        ticktak_kit::config::DEV_INTERNAL_TOKEN,
        Duration::from_secs(10),
    )
    .unwrap();
    let path = ticktak_contracts::accounts::export_path(&account_id);
    let kept: ticktak_contracts::accounts::AccountData = internal.get(&path).await.unwrap().unwrap();
    let kept = serde_json::to_string(&kept).unwrap();
    assert!(kept.contains(&order_id) && !kept.contains(&email), "{kept}");
    let internal = ticktak_kit::internal::Client::new(
        &pay.running.internal_url(),
        ticktak_kit::config::DEV_INTERNAL_TOKEN,
        Duration::from_secs(10),
    )
    .unwrap();
    let kept: ticktak_contracts::accounts::AccountData = internal.get(&path).await.unwrap().unwrap();
    assert_eq!(kept.records["payments"][0]["email"], Value::Null, "{kept:?}");
    assert_eq!(kept.records["payments"][0]["amount"], order["total"].as_i64().unwrap() * 100, "{kept:?}");
    // The address signs up again, as a new account.
    let again = identity.register(&email).await;
    assert_ne!(again["id"], account["id"]);
}
