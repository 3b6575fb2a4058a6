//! The web site in a real browser (headless Chromium): a buyer registers,
//! browses, holds, pays through the Stripe stand-in, sees the tickets with
//! their QR codes and refunds; an abandoned checkout reaches the cancelled
//! page and releases the hold; an admin watches the dashboard move after a
//! sale and checks a ticket in at the gate; a buyer is refused the
//! dashboard; an admin finds a buyer's orders at the order desk, mails
//! their tickets again, revokes one, refunds an order for them, reads the
//! audit trail and downloads the exports; a buyer passes a ticket to a
//! friend, who accepts it from the mailed link. Every page is checked with axe-core and photographed at 390
//! and 1280 px (`var/screenshots/`).
//!
//! Plus, without a browser: forms need the CSRF value, and every page
//! carries the Content-Security-Policy.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use ticktak_kit::auth::Role;
use ticktak_kit::config::Env;
use ticktak_kit::service::Running;
use ticktak_kit::{Service, Settings};
use ticktak_tests::browser::Browser;
use ticktak_tests::checkout::{standin_url, CARD_OK};
use ticktak_tests::*;
use tokio_util::sync::CancellationToken;

/// One platform with every service and the web site in front of them.
struct Site {
    env: PlatformEnv,
    web: Running,
    security: Running,
    shop: Running,
    reservations: Running,
    payments: Running,
    /// shop-consumer and analytics.
    rest: Vec<Running>,
    http: reqwest::Client,
}

fn settings(env: &PlatformEnv, service: Service) -> Settings {
    let vars = env.vars();
    Settings::from(service, &Env::from_fn(move |k| vars.get(k).cloned())).expect("settings")
}

async fn start_site() -> Site {
    start_site_with(&[]).await
}

/// The same, with these variables set for every service.
async fn start_site_with(extra: &[(&str, &str)]) -> Site {
    ticktak_kit::telemetry::init_test_logs();
    let mut env = PlatformEnv::new("a", &unique("web"));
    for (k, v) in extra {
        env.extra.insert(k.to_string(), v.to_string());
    }
    // The web site calls the APIs for its visitors, naming them in
    // X-Forwarded-For: it is the services' trusted proxy.
    env.extra.insert("TRUSTED_PROXIES".into(), "127.0.0.1/32".into());
    ensure_topics(&env.topics()).await;
    // Match 1 kicks off years from now, so its tickets can be refunded.
    publish_masterlist(&env.topics(), &masterlist_match_1_in_future(64, 100)).await;
    // Reservations' and payments' internal ports, chosen now: security asks
    // them for an account's records (export, deletion).
    for service in [Service::Reservations, Service::Payments] {
        let port = process::free_port();
        env.extra.insert(service.internal_port_var(), port.to_string());
        env.extra.insert(format!("{}_URL", service.schema().to_ascii_uppercase()), format!("http://127.0.0.1:{port}"));
    }
    let security_settings = settings(&env, Service::Security);
    let vars = env.vars();
    let security_config =
        security::config::SecurityConfig::from(&security_settings, &Env::from_fn(move |k| vars.get(k).cloned()))
            .unwrap();
    let security = security::start_with(security_settings, security_config, CancellationToken::new()).await.unwrap();
    env.extra.insert("SECURITY_URL".into(), security.internal_url());
    let shop = shop::start(settings(&env, Service::Shop), CancellationToken::new()).await.unwrap();
    env.extra.insert("SHOP_URL".into(), shop.internal_url());
    let vars = env.vars();
    let rs = settings(&env, Service::Reservations);
    let config =
        reservations::config::ReservationConfig::from(&rs, &Env::from_fn(move |k| vars.get(k).cloned())).unwrap();
    let reservations = reservations::start_with(rs, config, CancellationToken::new()).await.unwrap();
    env.extra.insert("RESERVATIONS_URL".into(), reservations.internal_url());
    let consumer = shop_consumer::start_with(
        settings(&env, Service::ShopConsumer),
        shop.internal_url(),
        Some(reservations.internal_url()),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let payments_config = payments::config::PaymentsConfig {
        stripe_secret_key: payments::config::DEV_STRIPE_SECRET_KEY.to_string().into(),
        stripe_api_base: standin_url(),
        webhook_secret: format!("whsec_{}", unique("w")).into(),
        currency: "usd".parse().unwrap(),
        reservations_url: reservations.internal_url(),
        reconcile_every: Duration::from_secs(1),
        reconcile_after: Duration::from_secs(3600),
        mail: mail::settings(&mail::smtp_url()),
    };
    let payments = payments::start_with(settings(&env, Service::Payments), payments_config, CancellationToken::new())
        .await
        .unwrap();
    let analytics = start_analytics(&env).await;
    let config = web::config::WebConfig {
        shop: shop.url(),
        reservations: reservations.url(),
        payments: payments.url(),
        security: security.url(),
        analytics: analytics.url(),
        stripe_js_url: format!("{}js.stripe.com/v3/", standin_url()),
        stripe_publishable_key: "pk_test_ticktak".into(),
        secure_cookies: false,
        contact_email: "help@platform-a.example.com".into(),
    };
    let web = web::start_with(settings(&env, Service::Web), config, CancellationToken::new()).await.unwrap();
    Site {
        env,
        web,
        security,
        shop,
        reservations,
        payments,
        rest: vec![consumer, analytics],
        http: reqwest::Client::new(),
    }
}

impl Site {
    /// Stop every service, consumers first, and only once they are past
    /// their start (a consumer dropped mid-assignment can abort librdkafka,
    /// and with it every test of this binary): shop-consumer ready, and
    /// analytics done reading the master list.
    async fn stop(self) {
        let admin = dev_token_as("settle", &self.env.platform_id, Role::Admin);
        let (consumer, analytics) = (self.rest[0].url(), self.rest[1].url());
        eventually(Duration::from_secs(60), "the consumers past their start", || async {
            let ready = self.http.get(format!("{consumer}/ready")).send().await.ok()?;
            let stats = self.http.get(format!("{analytics}/api/admin/stats")).bearer_auth(&admin).send().await.ok()?;
            let stats: Value = stats.json().await.ok()?;
            (ready.status().is_success() && stats["totals"]["capacity"].as_u64() > Some(0)).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        for r in self.rest {
            r.stop().await.expect("stops cleanly");
        }
        for r in [self.web, self.payments, self.reservations, self.shop, self.security] {
            r.stop().await.expect("stops cleanly");
        }
    }

    async fn browser(&self) -> Browser {
        Browser::start(&self.web.url()).await
    }

    /// Register `email` in the browser, confirm it from the link mailed to
    /// it and sign in; it ends signed in on the home page.
    async fn register(&self, b: &Browser, email: &str, country: &str) {
        b.goto("/register").await;
        b.fill("#name", "Test Fan").await;
        b.fill("#email", email).await;
        b.fill("#password", "a long enough secret").await;
        b.fill("#country", country).await;
        b.click("form.stack button[type=submit]").await;
        b.wait_text("h1", "Check your e-mail", false).await;
        // The link in the mail, opened in the browser: a button spends it.
        // The confirmation's link (the address may have had other mail).
        let token = eventually(Duration::from_secs(20), "the confirmation mail", || async {
            let mails = mail::messages_to(&mail::maildev_url(), email).await;
            mails.iter().rev().filter(|m| m.subject.starts_with("Confirm")).find_map(|m| mail::link_tokens(m).pop())
        })
        .await;
        b.goto(&format!("/verify-email?token={token}")).await;
        b.click("form.stack button[type=submit]").await;
        b.wait_text("h1", "Address confirmed", false).await;
        b.goto("/signin").await;
        b.fill("#email", email).await;
        b.fill("#password", "a long enough secret").await;
        b.click("form.stack button[type=submit]").await;
        b.wait_text("nav", email, false).await;
    }

    /// A new account made admin by an admin (the first admin comes from
    /// the security service's command line; here a development token);
    /// returns its address.
    async fn admin(&self) -> String {
        let email = format!("{}@example.com", unique("admin"));
        let root = dev_token_as("root", &self.env.platform_id, Role::Admin);
        let res = self
            .http
            .post(format!("{}/api/auth/register", self.security.url()))
            .json(&json!({"email": email, "password": "a long enough secret", "name": "Ada Admin", "country": "QA"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
        mail::confirm_address(&self.security.url(), &email).await;
        let found: Value = self
            .http
            .get(format!("{}/api/admin/accounts?q={email}", self.security.url()))
            .bearer_auth(&root)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let account = &found["accounts"][0];
        assert_eq!(account["email"], email.as_str(), "{found}");
        let res = self
            .http
            .put(format!("{}/api/admin/accounts/{}/role", self.security.url(), account["id"].as_str().unwrap()))
            .bearer_auth(&root)
            .json(&json!({"role": "admin"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        email
    }

    /// Sign `email` in (with the tests' password); ends with the address in
    /// the menu.
    async fn sign_in(&self, b: &Browser, email: &str) {
        b.goto("/signin").await;
        b.fill("#email", email).await;
        b.fill("#password", "a long enough secret").await;
        b.click("form.stack button[type=submit]").await;
        b.wait_text("nav", email, false).await;
    }

    /// Hold `quantity` of `category` for `match_number` from its page; ends
    /// on the checkout page. Returns the order's id.
    async fn hold(&self, b: &Browser, match_number: u8, category: u8, quantity: u8) -> String {
        b.goto(&format!("/matches/{match_number}")).await;
        b.choose("#category", &category.to_string()).await;
        b.choose("#quantity", &quantity.to_string()).await;
        b.click("form.stack button[type=submit]").await;
        b.wait_text("h1", "Checkout", false).await;
        b.path().await.trim_start_matches("/orders/").to_string()
    }

    async fn held(&self, match_number: u8, category: u8) -> u64 {
        let url = format!("{}/api/matches/{match_number}/availability", self.shop.url());
        let body: Value = self.http.get(url).send().await.unwrap().json().await.unwrap();
        body["categories"].as_array().unwrap().iter().find(|c| c["category"] == category).unwrap()["held"]
            .as_u64()
            .unwrap()
    }

    /// A paid reservation made through the APIs (as another buyer would).
    async fn sale(&self, buyer: &str, match_number: u8, quantity: u8) -> String {
        let token = dev_token(buyer, &self.env.platform_id);
        let r: Value = self
            .http
            .post(format!("{}/api/reservations", self.reservations.url()))
            .bearer_auth(&token)
            .json(&json!({"matchNumber": match_number, "category": 3, "quantity": quantity}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = r["id"].as_str().unwrap_or_else(|| panic!("a hold: {r}")).to_string();
        let p: Value = self
            .http
            .post(format!("{}/api/payments", self.payments.url()))
            .bearer_auth(&token)
            .json(&json!({"reservationId": id}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        // What Stripe.js does in the browser: a card token.
        let card: Value = self
            .http
            .post(format!("{}v1/tokens", standin_url()))
            .form(&[
                ("key", "pk_test_x"),
                ("card[number]", CARD_OK),
                ("card[exp_month]", "12"),
                ("card[exp_year]", "2034"),
                ("card[cvc]", "123"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let paid = self
            .http
            .post(format!("{}/api/payments/{}/confirm", self.payments.url(), p["paymentId"].as_str().unwrap()))
            .bearer_auth(&token)
            .json(&json!({"paymentMethod": card["card"]["id"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(paid.status(), 200, "{:?}", paid.text().await);
        id
    }
}

/// Type a card into the Stripe card element (the stand-in's version of it).
async fn enter_card(b: &Browser, number: &str) {
    for (field, value) in
        [("number", number), ("exp_month", "12"), ("exp_year", "34"), ("cvc", "123"), ("postal_code", "10001")]
    {
        b.fill(&format!("#card-element input[placeholder={field}]"), value).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_registers_browses_holds_pays_sees_the_tickets_and_refunds_in_a_real_browser() {
    let site = start_site().await;
    let b = site.browser().await;
    site.register(&b, &format!("{}@example.com", unique("fan")), "AR").await;

    // Every match, with its categories' status.
    b.wait_text(".count", "64 of 64 matches", false).await;
    // Recommendations, each with its reason (popularity until a model exists).
    let recommended =
        b.client.find_all(fantoccini::Locator::Css("section[aria-labelledby='for-you'] .reason")).await.unwrap();
    assert!(!recommended.is_empty(), "recommended for you");
    assert!(recommended[0].text().await.unwrap().starts_with("popular"), "a human reason");
    assert_eq!(b.client.find_all(fantoccini::Locator::Css("#results article.match")).await.unwrap().len(), 64);
    b.screenshots("home").await;
    b.assert_accessible("home").await;
    // Filters and search narrow the list as the visitor types.
    // Fans' own names are understood: "Brasil" finds Brazil.
    b.fill("#q", "Brasil").await;
    b.wait_until(".count", "narrows", |t| t.ends_with("of 64 matches") && !t.starts_with("64 "), false).await;
    for card in b.client.find_all(fantoccini::Locator::Css("#results article.match h3")).await.unwrap() {
        assert!(card.text().await.unwrap().contains("Brazil"));
    }

    // A match page, then a hold of two tickets.
    b.goto("/matches/1").await;
    b.wait_text("[data-category='1'] .badge", "Available", false).await;
    b.screenshots("match").await;
    b.assert_accessible("match").await;
    let order = site.hold(&b, 1, 1, 2).await;
    assert_eq!(site.held(1, 1).await, 2);
    b.find("#card-element input").await;
    assert!(b.text(".countdown").await.contains(':'), "the hold's countdown runs");
    b.screenshots("checkout").await;
    // The stand-in's card element has no labels of its own (Stripe's real
    // one lives in its own frame): it is left out.
    b.assert_accessible_except("checkout", &["#card-element"]).await;

    // Pay with a card through the stand-in: the success page has the tickets.
    enter_card(&b, CARD_OK).await;
    b.click("#pay-form button[type=submit]").await;
    b.wait_text("h1", "Payment received", false).await;
    let qr_codes = b.client.find_all(fantoccini::Locator::Css(".ticket img")).await.unwrap();
    assert_eq!(qr_codes.len(), 2, "one QR code per ticket");
    let loaded = b
        .client
        .execute(
            "return [...document.querySelectorAll('.ticket img')].every(i => i.complete && i.naturalWidth > 0);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(loaded, Value::Bool(true), "the QR codes load");
    b.screenshots("success").await;
    b.assert_accessible("success").await;

    // My tickets lists the order, and it can be refunded.
    b.goto("/tickets").await;
    assert!(b.text("main table").await.contains("CONFIRMED"));
    b.screenshots("my-tickets").await;
    b.assert_accessible("my tickets").await;
    // Name who the first ticket is for.
    b.click(".ticket details.name-holder summary").await;
    b.fill(".ticket details.name-holder input[name=name]", "Lionel Messi").await;
    b.click(".ticket details.name-holder button[type=submit]").await;
    b.wait_text(".ticket .holder", "For: Lionel Messi", false).await;
    // A ticket's live code for the gate: a QR code the page fetches anew.
    b.click(".ticket a[href$='/live']").await;
    b.wait_text("h1", "Your ticket at the gate", false).await;
    let live = b
        .client
        .execute(
            "const i = document.querySelector('img[data-refresh-every]'); \
             return i && i.complete && i.naturalWidth > 0 ? i.dataset.refreshEvery : null;",
            vec![],
        )
        .await
        .unwrap();
    assert!(live.as_str().is_some_and(|s| s.parse::<u32>().is_ok_and(|n| (5..=30).contains(&n))), "{live}");
    b.assert_accessible("live ticket code").await;
    b.goto("/tickets").await;
    b.click(&format!("form[action='/orders/{order}/refund'] button")).await;
    b.wait_text("h1", "Order refunded", false).await;
    b.goto("/tickets").await;
    assert!(b.text("main table").await.contains("REFUNDED"));

    // Every page's footer leads to the operator's contact address.
    b.click("footer a[href='/contact']").await;
    b.wait_text("h1", "Contact us", false).await;
    assert!(b.text("main").await.contains("help@platform-a.example.com"));
    b.find("main a[href='mailto:help@platform-a.example.com']").await;
    b.assert_accessible("contact").await;
    b.close().await;
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_checkout_reaches_the_cancelled_page_and_releases_the_hold() {
    let site = start_site().await;
    let b = site.browser().await;
    site.register(&b, &format!("{}@example.com", unique("fan")), "MA").await;
    site.hold(&b, 2, 2, 1).await;
    assert_eq!(site.held(2, 2).await, 1);
    b.click("form[action$='/cancel'] button").await;
    b.wait_text("h1", "Order cancelled", false).await;
    assert!(b.text("main").await.contains("Nothing was charged"));
    b.screenshots("cancelled").await;
    b.assert_accessible("cancelled").await;
    eventually(Duration::from_secs(10), "the hold is released", || async {
        (site.held(2, 2).await == 0).then_some(())
    })
    .await;
    // A match page stays live: another buyer's tickets leave without a reload.
    b.goto("/matches/9").await;
    assert_eq!(b.text("[data-category='3'] [data-sellable]").await, "100");
    site.sale("someone-else", 9, 2).await;
    b.wait_text("[data-category='3'] [data-sellable]", "98", false).await;
    // A declined card keeps the buyer on the checkout page with the reason.
    site.hold(&b, 3, 1, 1).await;
    enter_card(&b, ticktak_tests::checkout::CARD_DECLINED).await;
    b.click("#pay-form button[type=submit]").await;
    let notice = b.wait_text("#card-message", "declined", false).await;
    assert!(notice.contains("use another card"), "{notice}");
    b.close().await;
    site.stop().await;
}

/// Press one of the buttons of the 3-D Secure dialog the card's bank shows
/// (the stand-in's version of it).
async fn answer_the_bank(b: &Browser, button: &str) {
    let xpath = format!("//button[normalize-space()='{button}']");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        match b.client.find(fantoccini::Locator::XPath(&xpath)).await {
            Ok(found) => return found.click().await.expect("press the bank's button"),
            Err(_) if tokio::time::Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => panic!("no '{button}' from the bank: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_that_asks_for_3d_secure_is_authenticated_in_the_browser_and_a_failed_check_can_be_tried_again() {
    let site = start_site().await;
    let b = site.browser().await;
    site.register(&b, &format!("{}@example.com", unique("fan")), "DE").await;
    site.hold(&b, 4, 1, 1).await;
    // The bank asks; the buyer fails its check: nothing is paid, the buyer is told.
    enter_card(&b, ticktak_tests::checkout::CARD_3DS).await;
    b.click("#pay-form button[type=submit]").await;
    answer_the_bank(&b, "Fail authentication").await;
    let notice = b.wait_text("#card-message", "unable to authenticate", false).await;
    assert!(notice.contains("Nothing was charged"), "{notice}");
    assert_eq!(b.text("h1").await, "Checkout");
    // Tried again, the bank is satisfied: paid, and the tickets are there.
    enter_card(&b, "4000002760003184").await;
    b.click("#pay-form button[type=submit]").await;
    answer_the_bank(&b, "Complete authentication").await;
    b.wait_text("h1", "Payment received", false).await;
    assert_eq!(b.client.find_all(fantoccini::Locator::Css(".ticket img")).await.unwrap().len(), 1);
    b.close().await;
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sees_the_dashboard_move_after_a_sale_and_checks_a_ticket_in_while_a_buyer_is_refused() {
    let site = start_site().await;
    let email = site.admin().await;
    let b = site.browser().await;
    site.sign_in(&b, &email).await;
    // An on-sale of match 5 tomorrow, through a waiting room one buyer joined.
    {
        let tomorrow =
            (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        publish_schedule(
            &site.env,
            &["--match", "5", "--admit-per-minute", "3000", "closed", &format!("queue@{tomorrow}")],
        );
        eventually(Duration::from_secs(30), "a buyer in match 5's waiting room", || async {
            let res = site
                .http
                .post(format!("{}/api/queue", site.reservations.url()))
                .bearer_auth(dev_token("early-bird", &site.env.platform_id))
                .json(&json!({"matchNumber": 5, "category": 2}))
                .send()
                .await
                .ok()?;
            (res.status() == 200).then_some(())
        })
        .await;
    }
    b.goto("/admin").await;
    let waiting = b.text("section[aria-labelledby='queues'] tr[data-platform='a'] td[data-waiting]").await;
    assert_eq!(waiting.trim(), "1", "the waiting room's line on the dashboard");
    let before: u64 = b.text("[data-kpi='tickets sold']").await.trim().parse().unwrap();
    let order = site.sale("rival-buyer", 7, 2).await;
    let after = b.wait_text("[data-kpi='tickets sold']", &(before + 2).to_string(), true).await;
    assert_eq!(after.trim(), (before + 2).to_string());
    let cells = b.client.find_all(fantoccini::Locator::Css("section[aria-labelledby='heat'] svg rect")).await.unwrap();
    assert_eq!(cells.len(), 192, "a cell per match and category");
    b.screenshots("dashboard").await;
    b.assert_accessible("dashboard").await;

    // The gate: the first scan admits, the second does not.
    let tickets: Value = site
        .http
        .get(format!("{}/api/reservations/{order}/tickets", site.reservations.url()))
        .bearer_auth(dev_token("rival-buyer", &site.env.platform_id))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = tickets["tickets"][0]["code"].as_str().unwrap().to_string();
    b.goto("/checkin").await;
    b.fill("#match", &tickets["tickets"][0]["matchNumber"].to_string()).await;
    b.fill("#code", &code).await;
    b.click("form.stack button[type=submit]").await;
    b.wait_text(".result", "ADMITTED", false).await;
    b.screenshots("checkin").await;
    b.assert_accessible("check-in").await;
    b.fill("#code", &code).await;
    b.click("form.stack button[type=submit]").await;
    b.wait_text(".result", "ALREADY USED", false).await;

    // A buyer gets no dashboard.
    b.click("form[action='/signout'] button").await;
    b.wait_text("nav", "Sign in", false).await;
    site.register(&b, &format!("{}@example.com", unique("fan")), "QA").await;
    b.goto("/admin").await;
    assert_eq!(b.text("h1").await, "Not allowed");
    b.close().await;
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_asked_for_a_proof_of_work_gets_it_solved_by_the_browser_and_the_hold_goes_through() {
    let site = start_site_with(&[("REPUTATION", "on"), ("HOLD_TTL_SECS", "1"), ("SWEEP_INTERVAL_MS", "200")]).await;
    let b = site.browser().await;
    let email = format!("{}@example.com", unique("fan"));
    site.register(&b, &email, "QA").await;
    // The same account lets three holds run out unpaid: it is challenged.
    let login: Value = site
        .http
        .post(format!("{}/api/auth/login", site.security.url()))
        .json(&json!({"email": email, "password": "a long enough secret"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["accessToken"].as_str().unwrap().to_string();
    for _ in 0..3 {
        let id = eventually(Duration::from_secs(10), "a hold", || async {
            let res = site
                .http
                .post(format!("{}/api/reservations", site.reservations.url()))
                .bearer_auth(&token)
                .json(&json!({"matchNumber": 5, "category": 2, "quantity": 1}))
                .send()
                .await
                .unwrap();
            let body: Value = res.json().await.unwrap();
            body["id"].as_str().filter(|_| body["status"] == "HELD").map(str::to_string)
        })
        .await;
        eventually(Duration::from_secs(10), "the hold expires", || async {
            let res = site
                .http
                .get(format!("{}/api/reservations/{id}", site.reservations.url()))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            let body: Value = res.json().await.unwrap();
            (body["status"] == "EXPIRED").then_some(())
        })
        .await;
    }
    let admin = dev_token_as("root", &site.env.platform_id, Role::Admin);
    eventually(Duration::from_secs(10), "the account is challenged", || async {
        let url = format!("{}/api/admin/security/events?kind=account_challenged", site.security.url());
        let body: Value = site.http.get(url).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
        body["events"].as_array().filter(|e| !e.is_empty()).map(|_| ())
    })
    .await;
    // Reservations asks this account for a puzzle; wait until it does.
    eventually(Duration::from_secs(5), "holds need a puzzle", || async {
        let res = site
            .http
            .post(format!("{}/api/reservations", site.reservations.url()))
            .bearer_auth(&token)
            .json(&json!({"matchNumber": 5, "category": 2, "quantity": 0}))
            .send()
            .await
            .unwrap();
        (res.status() == 428).then_some(())
    })
    .await;
    // In the browser, the hold asks for the puzzle, the page solves it in a
    // web worker and sends the same order again by itself.
    b.goto("/matches/6").await;
    b.choose("#category", "1").await;
    b.click("form.stack button[type=submit]").await;
    let reached = eventually(Duration::from_secs(60), "the order page", || async {
        let path = b.path().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        path.starts_with("/orders/").then_some(path)
    })
    .await;
    assert!(reached.starts_with("/orders/"));
    b.close().await;
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_need_the_csrf_value_and_pages_carry_a_strict_content_security_policy() {
    let site = start_site().await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let home = http.get(site.web.url()).send().await.unwrap();
    assert_eq!(home.status(), 200);
    let csp = home.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let cookie = home
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("tt_csrf="))
        .unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    // A signed-in buyer's cookie, but a form from elsewhere (no CSRF value).
    let token = dev_token("victim", &site.env.platform_id);
    let forged = http
        .request(Method::POST, format!("{}/matches/1/hold", site.web.url()))
        .header("cookie", format!("tt_access={token}; {}", cookie.split(';').next().unwrap()))
        .form(&[("csrf", "guessed"), ("category", "1"), ("quantity", "4"), ("key", "k1")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
    // Nor does knowing (or planting) the cookie: the form's value is an
    // HMAC of it and of the account, not the cookie's value itself.
    let planted = cookie.split(';').next().unwrap();
    let forged = http
        .request(Method::POST, format!("{}/matches/1/hold", site.web.url()))
        .header("cookie", format!("tt_access={token}; {planted}"))
        .form(&[("csrf", planted.trim_start_matches("tt_csrf=")), ("category", "1"), ("quantity", "4"), ("key", "k2")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
    assert_eq!(site.held(1, 1).await, 0, "no hold was placed");
    // Signed out, a page that needs an account sends the visitor to sign in.
    let mine = http.get(format!("{}/tickets", site.web.url())).send().await.unwrap();
    assert_eq!((mine.status().as_u16(), mine.headers()["location"].to_str().unwrap()), (303, "/signin"));
    // Bad input is a 4xx page, never a 5xx.
    for path in ["/matches/99", "/matches/abc", "/orders/not-an-id", "/?round=9", "/?date=yesterday"] {
        let res = http
            .get(format!("{}{path}", site.web.url()))
            .header("cookie", format!("tt_access={token}"))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_client_error(), "{path}: {}", res.status());
    }
    site.stop().await;
}

/// Requests that carry the same expired session (a page and the next
/// click, two tabs) share one refresh: the visitor stays signed in, and the
/// session's next refresh works as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_requests_share_one_refresh_and_keep_the_visitor_signed_in() {
    let site = start_site().await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let security = site.security.url();
    let eve = format!("{}@example.com", unique("eve"));
    let account = json!({"email": eve, "password": "a long enough secret", "name": "Eve", "country": "ar"});
    let res = http.post(format!("{security}/api/auth/register")).json(&account).send().await.unwrap();
    assert_eq!(res.status(), 202);
    mail::confirm_address(&security, &eve).await;
    let sign_in = json!({"email": eve, "password": "a long enough secret"});
    let pair: Value =
        http.post(format!("{security}/api/auth/login")).json(&sign_in).send().await.unwrap().json().await.unwrap();
    let refresh = pair["refreshToken"].as_str().unwrap().to_string();

    let tickets = |refresh: String| {
        let (http, url) = (http.clone(), format!("{}/tickets", site.web.url()));
        // An access token that no longer verifies, beside the refresh token.
        async move {
            http.get(url).header("cookie", format!("tt_access=expired; tt_refresh={refresh}")).send().await.unwrap()
        }
    };
    let new_refresh = |res: &reqwest::Response| -> Option<String> {
        res.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| c.strip_prefix("tt_refresh="))
            .map(|c| c.split(';').next().unwrap().to_string())
    };
    let (a, b) = tokio::join!(tickets(refresh.clone()), tickets(refresh.clone()));
    // One that left before the new cookies arrived.
    let late = tickets(refresh.clone()).await;
    let mut renewed = Vec::new();
    for res in [&a, &b, &late] {
        assert_eq!(res.status(), 200, "signed in, not sent to sign in again");
        renewed.push(new_refresh(res).expect("the new refresh token is set"));
    }
    assert!(renewed.iter().all(|r| *r == renewed[0] && *r != refresh), "one exchange: {renewed:?}");
    let next = tickets(renewed[0].clone()).await;
    assert_eq!(next.status(), 200, "the session was not revoked");
    assert!(new_refresh(&next).is_some_and(|r| r != renewed[0]));
    site.stop().await;
}

/// The match page shows each category's sale phase from the organisers'
/// schedule: a closed one says from when it is on sale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_match_page_shows_when_a_closed_category_goes_on_sale() {
    use ticktak_kit::kafka::{self, trust};
    let site = start_site().await;
    let topics = site.env.topics();
    let opens = chrono::Utc::now() + chrono::Duration::days(2);
    let message = ticktak_core::schedule::ScheduleMessage {
        scope: ticktak_core::schedule::Scope {
            match_number: Some(ticktak_core::MatchNumber::new(2).unwrap()),
            category: Some(ticktak_core::Category::new(1).unwrap()),
        },
        steps: vec![
            ticktak_core::schedule::Step { from: chrono::Utc::now(), phase: ticktak_core::schedule::Phase::Closed },
            ticktak_core::schedule::Step { from: opens, phase: ticktak_core::schedule::Phase::Open },
        ],
        admit_per_minute: None,
    };
    let payload = message.to_json();
    let headers = trust::sign_organisers(&trust::development_organisers_key(), trust::SCHEDULE_LABEL, &payload);
    let record =
        kafka::Record { topic: &topics.schedule, key: &message.scope.key(), payload: &payload, headers: &headers };
    kafka::send(&producer(), &record).await.unwrap();
    let page = eventually(Duration::from_secs(30), "the phase on the match page", || async {
        let page = site.http.get(format!("{}/matches/2", site.web.url())).send().await.unwrap().text().await.unwrap();
        page.contains("data-phase=\"closed\"").then_some(page)
    })
    .await;
    let expected = format!("Not on sale yet: from {}", opens.format("%a %-d %b %Y, %H:%M UTC"));
    assert!(page.contains(&expected), "{expected:?} not on the page");
    assert_eq!(page.matches("data-phase=\"open\"").count(), 2, "categories 2 and 3 stay on sale");
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_waits_in_the_waiting_room_and_buys_when_their_turn_comes_in_a_real_browser() {
    let site = start_site().await;
    let b = site.browser().await;
    site.register(&b, &format!("{}@example.com", unique("queuer")), "AR").await;

    // Match 2: closed now, on sale through a waiting room in a few seconds.
    let opens = (chrono::Utc::now() + chrono::Duration::seconds(6)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    publish_schedule(&site.env, &["--match", "2", "closed", &format!("queue@{opens}")]);
    eventually(Duration::from_secs(30), "the waiting room in the shop", || async {
        let url = format!("{}/api/matches/2/availability", site.shop.url());
        let body: Value = site.http.get(url).send().await.ok()?.json().await.ok()?;
        body["categories"][0]["waitingRoom"]["id"].as_str().map(|_| ())
    })
    .await;

    // Before T the match page offers the waiting room, not the hold form.
    b.goto("/matches/2").await;
    assert_eq!(b.client.find_all(fantoccini::Locator::Css("form[action='/matches/2/hold']")).await.unwrap().len(), 0);
    b.click("form.queue button[type=submit]").await;
    b.wait_text("h1", "Waiting room", false).await;
    assert!(b.text("section.card").await.contains("at random"), "the pre-queue is explained");
    b.assert_accessible("waiting room").await;
    // The page follows the line by itself and, at the buyer's turn, brings
    // them back to the match with the admission in the form.
    b.wait_text("section[aria-labelledby='buy']", "It is your turn", false).await;
    b.choose("#category", "1").await;
    b.choose("#quantity", "2").await;
    b.click("form.stack button[type=submit]").await;
    b.wait_text("h1", "Checkout", false).await;
    assert_eq!(site.held(2, 1).await, 2);
    // The admission is spent: the same page posted again is refused.
    b.client.back().await.unwrap();
    b.wait_text("section[aria-labelledby='buy']", "It is your turn", true).await;
    b.click("form.stack button[type=submit]").await;
    b.wait_text(".notice.error", "waiting room", false).await;
    assert_eq!(site.held(2, 1).await, 2, "one hold per admission");
    b.close().await;
    site.stop().await;
}

/// A ticket draw on the web site: the match page names the phase, the
/// draws page offers the application form, shows the application and lets
/// the buyer withdraw it while the draw is open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_applies_for_a_ticket_draw_and_withdraws_in_a_real_browser() {
    let site = start_site().await;
    let b = site.browser().await;
    site.register(&b, &format!("{}@example.com", unique("drawer")), "AR").await;
    let draw = unique("webdraw");
    let closes =
        (chrono::Utc::now() + chrono::Duration::minutes(10)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let secret = std::env::temp_dir().join(format!("{draw}.seed")).display().to_string();
    let out = draw_tool(
        &site.env.topic_env,
        &[
            "open",
            "--draw",
            &draw,
            "--stock",
            "2-1=10",
            "--opens",
            "now",
            "--closes",
            &closes,
            "--secret-file",
            &secret,
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    eventually(Duration::from_secs(30), "the draw phase in the shop", || async {
        let url = format!("{}/api/matches/2/availability", site.shop.url());
        let body: Value = site.http.get(url).send().await.ok()?.json().await.ok()?;
        (body["categories"][0]["phase"] == "draw").then_some(())
    })
    .await;
    eventually(Duration::from_secs(30), "the draw open", || async {
        let url = format!("{}/api/draws/{draw}", site.reservations.url());
        let body: Value = site.http.get(url).send().await.ok()?.json().await.ok()?;
        (body["state"] == "open").then_some(())
    })
    .await;
    b.goto("/matches/2").await;
    b.wait_text("[data-category='1'] [data-phase='draw']", "Ticket draw", false).await;
    b.goto("/draws").await;
    let card = format!("section[data-draw='{draw}']");
    b.wait_text(&card, "Commitment", false).await;
    b.choose(&format!("#qty-{draw}-2-1"), "2").await;
    b.click(&format!("{card} form.apply button[type=submit]")).await;
    b.wait_text(".notice.ok", "in the draw", false).await;
    b.wait_text("tr[data-state='open']", "In the draw", false).await;
    b.assert_accessible("draws").await;
    b.screenshots("draws").await;
    b.click("tr[data-state='open'] form button[type=submit]").await;
    b.wait_text(".notice.ok", "withdrawn", false).await;
    b.wait_text("tr[data-state='withdrawn']", "Withdrawn", false).await;
    b.close().await;
    site.stop().await;
}

/// The match page follows a category's status without a reload: another
/// platform's buyers hold the last seats (TEMPORARILY UNAVAILABLE), then
/// pay for them (SOLD OUT).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_match_page_shows_a_category_go_temporarily_unavailable_then_sold_out_live() {
    use ticktak_core::{Action, Category, MatchNumber, Quantity, SaleMessage, TicketType};
    let site = start_site().await;
    let b = site.browser().await;
    b.goto("/matches/1").await;
    b.wait_text("[data-category='3'] .badge", "Available", false).await;
    // A mark in the page: still there at the end only if the page was
    // never loaded again.
    b.client.execute("window.sameVisit = 'yes'; return true;", vec![]).await.unwrap();

    let list = masterlist_match_1_in_future(64, 100);
    let tt = TicketType::new(MatchNumber::new(1).unwrap(), Category::new(3).unwrap());
    let price = list[0].availability.get(tt.category).price;
    let pair = Quantity::new(2).unwrap();
    let producer = producer();
    let topics = site.env.topics();
    // 100 seats, held two by two by another platform's buyers.
    for _ in 0..50 {
        produce_sale(&producer, &topics, &SaleMessage::single(Action::TicketPending, tt, pair, price), None).await;
    }
    b.wait_text("[data-category='3'] .badge", "Temporarily unavailable", false).await;
    assert_eq!(b.text("[data-category='1'] .badge").await, "Available", "the other categories stay on sale");
    // …and paid.
    for _ in 0..50 {
        produce_sale(&producer, &topics, &SaleMessage::single(Action::TicketReserved, tt, pair, price), None).await;
    }
    b.wait_text("[data-category='3'] .badge", "Sold out", false).await;
    let mark = b.client.execute("return window.sameVisit || 'reloaded';", vec![]).await.unwrap();
    assert_eq!(mark, json!("yes"), "the labels changed without a reload");
    b.close().await;
    site.stop().await;
}

/// In the browser: a new buyer is told to check their e-mail (and may ask
/// for the link again), confirms the address from the mailed link, and
/// later resets a forgotten password from another mailed link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_buyer_confirms_the_address_and_resets_a_forgotten_password_from_mailed_links() {
    let site = start_site().await;
    let b = site.browser().await;
    let email = format!("{}@example.com", unique("newbie"));
    b.goto("/register").await;
    b.fill("#name", "New Fan").await;
    b.fill("#email", &email).await;
    b.fill("#password", "a long enough secret").await;
    b.fill("#country", "BR").await;
    b.click("form.stack button[type=submit]").await;
    b.wait_text("h1", "Check your e-mail", false).await;
    b.assert_accessible("check-your-email").await;
    // Signing in before confirming answers as a wrong password.
    b.goto("/signin").await;
    b.fill("#email", &email).await;
    b.fill("#password", "a long enough secret").await;
    b.click("form.stack button[type=submit]").await;
    b.wait_text(".notice", "Wrong e-mail or password.", false).await;
    let mails = mail::wait_for(&mail::maildev_url(), &email, 1, Duration::from_secs(20)).await;
    let token = mail::link_tokens(&mails[0]).pop().expect("a confirmation link");
    b.goto(&format!("/verify-email?token={token}")).await;
    b.assert_accessible("verify-email").await;
    b.click("form.stack button[type=submit]").await;
    b.wait_text("h1", "Address confirmed", false).await;
    // The same link again does not work.
    b.goto(&format!("/verify-email?token={token}")).await;
    b.click("form.stack button[type=submit]").await;
    b.wait_text("h1", "This link does not work", false).await;
    // "Send the link again" answers alike whatever the address.
    b.fill("#resend-email", &email).await;
    b.click("form[action='/verify-email/resend'] button").await;
    b.wait_text("h1", "Check your e-mail", false).await;

    // Forgotten password: from the sign-in page.
    b.goto("/signin").await;
    b.click("a[href='/forgot-password']").await;
    b.wait_text("h1", "Forgot your password?", false).await;
    b.fill("#email", &email).await;
    b.click("form.stack button[type=submit]").await;
    b.wait_text("h1", "Check your e-mail", false).await;
    let reset = eventually(Duration::from_secs(20), "the reset link", || async {
        let all = mail::messages_to(&mail::maildev_url(), &email).await;
        all.into_iter().find(|m| m.subject == "Choose a new password")
    })
    .await;
    let token = mail::link_tokens(&reset).pop().expect("a reset link");
    b.goto(&format!("/reset-password?token={token}")).await;
    b.assert_accessible("reset-password").await;
    b.fill("#password", "short").await;
    b.client
        .execute("document.getElementById('password').removeAttribute('minlength'); return true;", vec![])
        .await
        .unwrap();
    b.click("form.stack button[type=submit]").await;
    b.wait_text(".notice", "at least 10", false).await;
    b.fill("#password", "my new long secret").await;
    b.click("form.stack button[type=submit]").await;
    b.wait_text("h1", "Password changed", false).await;
    b.goto("/signin").await;
    b.fill("#email", &email).await;
    b.fill("#password", "my new long secret").await;
    b.click("form.stack button[type=submit]").await;
    b.wait_text("nav", &email, false).await;

    // The account page: name and country, then the password.
    b.click("nav a[href='/account']").await;
    b.wait_text("h1", "My account", false).await;
    b.assert_accessible("account").await;
    b.fill("#name", "Renamed Fan").await;
    b.fill("#country", "uy").await;
    b.click("form[action='/account'] button").await;
    b.wait_text(".notice", "Saved.", false).await;
    assert_eq!(b.value("#country").await, "UY");
    b.fill("#current", "not my password").await;
    b.fill("#new-password", "the third long secret").await;
    b.click("form[action='/account/password'] button").await;
    b.wait_text(".notice", "The current password is not right.", false).await;
    b.fill("#current", "my new long secret").await;
    b.fill("#new-password", "the third long secret").await;
    b.click("form[action='/account/password'] button").await;
    b.wait_text(".notice", "Password changed.", false).await;
    // This session goes on with its new tokens.
    b.goto("/tickets").await;
    b.wait_text("h1", "My tickets", false).await;

    // Everything kept about the buyer, then the account deleted.
    b.goto("/account").await;
    let export = b
        .client
        .execute(
            "const a = document.querySelector('a[href=\"/account/export\"]'); \
             return fetch(a.href).then(r => r.json()).then(d => d.account.email);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(export, json!(email), "the download is the buyer's");
    b.fill("#delete-password", "the third long secret").await;
    b.click("form[action='/account/delete'] button").await;
    b.wait_text("h1", "Your account is deleted", false).await;
    b.wait_text("nav", "Sign in", false).await;
    b.goto("/signin").await;
    b.fill("#email", &email).await;
    b.fill("#password", "the third long secret").await;
    b.click("form.stack button[type=submit]").await;
    b.wait_text(".notice", "Wrong e-mail or password.", false).await;
    b.close().await;
    site.stop().await;
}

/// `method path` on reservations' API as `token`, with an optional body.
async fn desk_call(site: &Site, token: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = site.http.request(method, format!("{}{path}", site.reservations.url())).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_finds_a_buyers_orders_and_resends_revokes_and_refunds_for_them_with_every_action_audited() {
    let site = start_site().await;
    let buyer = unique("desk-buyer");
    let address = format!("{buyer}@example.com");
    let kept = site.sale(&buyer, 1, 2).await;
    let refunded = site.sale(&buyer, 1, 1).await;
    let admin_email = site.admin().await;
    let admin = dev_token_as("desk-admin", &site.env.platform_id, Role::Admin);

    // The desk's API: admins only, and bad input gets a clear 4xx.
    let as_buyer = dev_token(&buyer, &site.env.platform_id);
    let (status, _) = desk_call(&site, &as_buyer, Method::GET, &format!("/api/admin/orders?q={address}"), None).await;
    assert_eq!(status, 403, "a buyer has no desk");
    for q in ["", "%20", "hello", "%00x"] {
        let (status, body) = desk_call(&site, &admin, Method::GET, &format!("/api/admin/orders?q={q}"), None).await;
        assert_eq!(status, 400, "q={q:?}: {body}");
        assert!(body["message"].is_string(), "{body}");
    }
    let nobody = uuid::Uuid::now_v7();
    let (status, _) = desk_call(&site, &admin, Method::GET, &format!("/api/admin/orders/{nobody}"), None).await;
    assert_eq!(status, 404);
    let (status, found) = desk_call(&site, &admin, Method::GET, &format!("/api/admin/orders?q={nobody}"), None).await;
    assert_eq!((status, found["orders"].as_array().map(Vec::len)), (200, Some(0)), "{found}");
    let (status, _) = desk_call(
        &site,
        &admin,
        Method::POST,
        &format!("/api/admin/tickets/{nobody}/revoke"),
        Some(json!({"reason": "x"})),
    )
    .await;
    assert_eq!(status, 404);
    let (status, story) = desk_call(&site, &admin, Method::GET, &format!("/api/admin/orders/{kept}"), None).await;
    assert_eq!(status, 200, "{story}");
    let ticket = story["tickets"][0]["ticketId"].as_str().unwrap().to_string();
    for bad in [
        json!({}),
        json!({"reason": ""}),
        json!({"reason": "a\u{7}b"}),
        json!({"reason": "x".repeat(501)}),
        json!({"reason": "ok", "more": 1}),
    ] {
        let (status, body) =
            desk_call(&site, &admin, Method::POST, &format!("/api/admin/tickets/{ticket}/revoke"), Some(bad.clone()))
                .await;
        assert!((400..500).contains(&status), "{bad}: {status} {body}");
    }
    let (status, _) =
        desk_call(&site, &admin, Method::POST, &format!("/api/admin/orders/{nobody}/resend-tickets"), None).await;
    assert_eq!(status, 404);
    // Found by the provider's payment id and by a ticket's code too.
    let intent = story["payment"]["providerRef"].as_str().unwrap_or_else(|| panic!("a payment: {story}")).to_string();
    let code: Value = site
        .http
        .get(format!("{}/api/reservations/{kept}/tickets", site.reservations.url()))
        .bearer_auth(&as_buyer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = code["tickets"][0]["code"].as_str().unwrap().to_string();
    for q in [intent.as_str(), code.as_str(), ticket.as_str()] {
        let (status, found) = desk_call(&site, &admin, Method::GET, &format!("/api/admin/orders?q={q}"), None).await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(found["orders"][0]["orderId"], kept.as_str(), "found by {q}: {found}");
    }
    // A refund with no reason is refused before anything moves.
    let payment = story["payment"]["paymentId"].as_str().unwrap();
    let res = site
        .http
        .post(format!("{}/api/admin/payments/{payment}/refund", site.payments.url()))
        .bearer_auth(&admin)
        .json(&json!({"reason": "  "}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);

    // In the browser: find the buyer's orders by their address.
    let b = site.browser().await;
    site.sign_in(&b, &admin_email).await;
    b.goto("/admin/orders").await;
    b.fill("#q", &address).await;
    b.click("form[role=search] button[type=submit]").await;
    b.wait_text("[data-found]", "2 order(s)", false).await;
    b.screenshots("order-desk-search").await;
    b.assert_accessible("order desk search").await;
    b.click(&format!("tr[data-order='{kept}'] a")).await;
    b.wait_text("h1", &kept, false).await;
    // The whole story: the log's decision and where, the payment, the tickets, the mail.
    b.wait_text("[data-hold-status]", "CONFIRMED", true).await;
    assert!(b.text("[data-hold-position]").await.contains("Decided at partition"));
    assert_eq!(b.text("[data-payment-status]").await, "SUCCEEDED");
    assert_eq!(b.text(&format!("tr[data-ticket='{ticket}'] [data-ticket-status]")).await, "VALID");
    let page = b.text("main").await;
    assert!(page.contains("TICKET_PENDING") && page.contains("TICKET_RESERVED"), "the messages it published:\n{page}");
    let mails = mail::wait_for(&mail::maildev_url(), &address, 2, Duration::from_secs(30)).await;
    assert_eq!(
        mails.iter().filter(|m| m.subject.starts_with("Your tickets")).count(),
        2,
        "both orders' tickets mailed"
    );
    b.wait_text("section[aria-labelledby='mails']", "Your tickets", true).await;
    b.screenshots("order-desk-order").await;
    b.assert_accessible("order desk order").await;

    // Mail the tickets again.
    b.click(&format!("form[action='/admin/orders/{kept}/resend'] button")).await;
    b.wait_text(".notice", "mailed to the buyer again", false).await;
    let mails = mail::wait_for(&mail::maildev_url(), &address, 3, Duration::from_secs(30)).await;
    assert_eq!(mails.iter().filter(|m| m.subject.starts_with("Your tickets")).count(), 3, "the tickets mailed again");

    // Revoke seat 1: no gate admits it any more.
    b.fill(&format!("#revoke-{ticket}"), "lost phone; seat reissued at the box office").await;
    b.click(&format!("form[action='/admin/tickets/{ticket}/revoke'] button")).await;
    b.wait_text(".notice", "was revoked", false).await;
    assert_eq!(b.text(&format!("tr[data-ticket='{ticket}'] [data-ticket-status]")).await, "REVOKED");
    let (status, _) = desk_call(
        &site,
        &admin,
        Method::POST,
        &format!("/api/admin/tickets/{ticket}/revoke"),
        Some(json!({"reason": "again"})),
    )
    .await;
    assert_eq!(status, 409, "a revoked ticket is not revoked twice");
    let gate = dev_token_as("gate-1", &site.env.platform_id, Role::Staff);
    eventually(Duration::from_secs(20), "the gate refuses the revoked ticket", || async {
        let (_, scan) = desk_call(
            &site,
            &gate,
            Method::POST,
            "/api/tickets/check-in",
            Some(json!({"code": code, "matchNumber": 1})),
        )
        .await;
        (scan["result"] == "REVOKED").then_some(())
    })
    .await;

    // Refund the other order on the buyer's behalf.
    b.goto(&format!("/admin/orders/{refunded}")).await;
    b.fill("#refund-reason", "the buyer asked by phone").await;
    b.click(&format!("form[action='/admin/orders/{refunded}/refund'] button")).await;
    b.wait_text(".notice", "on the buyer's behalf", false).await;
    b.wait_text("[data-payment-status]", "REFUNDED", true).await;
    b.wait_text("[data-order-status]", "REFUNDED", true).await;
    assert!(b.text("main").await.contains("operator"), "refunded because: operator");

    // Every action in the audit trail: who, what, on what, why.
    b.goto("/admin/audit").await;
    for action in ["order.resend_tickets", "ticket.revoke", "order.refund", "account.role"] {
        b.find(&format!("tr[data-action='{action}']")).await;
    }
    let revoke = b.text("tr[data-action='ticket.revoke']").await;
    assert!(revoke.contains(&ticket) && revoke.contains("lost phone"), "{revoke}");
    let refund = b.text("tr[data-action='order.refund']").await;
    assert!(refund.contains(&refunded) && refund.contains("asked by phone"), "{refund}");
    b.screenshots("audit-trail").await;
    b.assert_accessible("audit trail").await;

    // The exports, downloaded through the site.
    let fetch = |file: &str| format!("return fetch('/admin/export/{file}').then(r => r.text())");
    let orders = b.client.execute(&fetch("orders.csv"), vec![]).await.unwrap();
    let orders = orders.as_str().unwrap_or_default();
    assert!(orders.starts_with("orderId,createdAt,updatedAt,status,"), "{orders}");
    assert!(
        orders.lines().any(|l| l.starts_with(&kept) && l.contains(",CONFIRMED,") && l.contains(&address)),
        "{orders}"
    );
    assert!(orders.lines().any(|l| l.starts_with(&refunded) && l.contains(",REFUNDED,")), "{orders}");
    let sales = b.client.execute(&fetch("sales.csv"), vec![]).await.unwrap();
    let sales = sales.as_str().unwrap_or_default();
    let amount = story["order"]["amount"].as_i64().unwrap();
    assert!(
        sales.lines().any(|l| l == format!("1,3,1,2,1,{amount}")),
        "match 1, category 3: 1 order paid, 2 sold, 1 refunded:\n{sales}"
    );
    b.close().await;
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_passes_a_ticket_to_a_friend_who_accepts_it_from_the_mailed_link() {
    let site = start_site().await;
    let giver = format!("{}@example.com", unique("giver"));
    let friend = format!("{}@example.com", unique("friend"));
    let b = site.browser().await;
    site.register(&b, &giver, "QA").await;
    // Two tickets of match 1 (years away), paid at checkout.
    site.hold(&b, 1, 3, 2).await;
    enter_card(&b, CARD_OK).await;
    b.click("#pay-form button[type=submit]").await;
    b.wait_text("h1", "Payment received", false).await;

    // Offer one to a friend from My tickets.
    b.goto("/tickets").await;
    b.click("details.pass-on summary").await;
    b.fill("details.pass-on input[type=email]", &friend).await;
    b.click("details.pass-on button[type=submit]").await;
    b.wait_text("p.offered", &friend, false).await;
    b.screenshots("ticket-offered").await;
    b.assert_accessible("my tickets with an offer").await;
    let mails = mail::wait_for(&mail::maildev_url(), &friend, 1, Duration::from_secs(30)).await;
    let link = mails.iter().find_map(|m| mail::link_tokens(m).pop()).expect("the offer's link");

    // The friend opens the link: sign in first, then accept.
    b.click("form[action='/signout'] button").await;
    b.wait_text("nav", "Sign in", false).await;
    b.goto(&format!("/transfers/accept?token={link}")).await;
    b.wait_text("h1", "A ticket for you", false).await;
    assert!(b.text("main").await.contains("Sign in"), "asked to sign in first");
    site.register(&b, &friend, "AR").await;
    b.goto(&format!("/transfers/accept?token={link}")).await;
    b.assert_accessible("accept a ticket").await;
    b.click("form[action='/transfers/accept'] button[type=submit]").await;
    b.wait_text("section[aria-labelledby='received']", "Match 1", false).await;
    // Its QR code loads for its new holder.
    let loaded = b
        .client
        .execute(
            "const i = document.querySelector('section[aria-labelledby=received] .ticket img'); \
             return new Promise(r => { if (i.complete) r(i.naturalWidth > 0); else i.onload = () => r(true); });",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(loaded, serde_json::json!(true), "the new holder's QR code");
    b.screenshots("ticket-received").await;
    // The link was spent.
    b.goto(&format!("/transfers/accept?token={link}")).await;
    b.click("form[action='/transfers/accept'] button[type=submit]").await;
    b.wait_text("main", "accepted", false).await;

    // Back as the giver: the ticket shows as passed on.
    b.goto("/tickets").await;
    b.click("form[action='/signout'] button").await;
    b.wait_text("nav", "Sign in", false).await;
    site.sign_in(&b, &giver).await;
    b.goto("/tickets").await;
    b.wait_text("p.passed", "Passed on", false).await;
    b.close().await;
    site.stop().await;
}

/// A family's cart: four seats over two matches and a third line whose
/// category another platform's buyers take first; held together, the
/// refused line shown and not charged, one payment for the rest, every
/// ticket on the success page and in the mail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_four_seat_cart_over_two_matches_is_paid_once_while_a_line_another_platform_sold_is_refused() {
    let site = start_site().await;
    // A second platform of the same market, whose buyers take a category.
    let other = Platform::start_configured(PlatformEnv::new("b", &site.env.topic_env), |o| {
        o.reservations.caps = reservations::store::Caps { tickets_per_match: 0, open_holds: 0 };
    })
    .await;
    eventually(Duration::from_secs(60), "the other platform's master list", || async {
        let (_, m) = other.get("/api/matches/3/availability").await;
        (m["categories"][0]["capacity"] == 100).then_some(())
    })
    .await;
    let b = site.browser().await;
    let email = format!("{}@example.com", unique("family"));
    site.register(&b, &email, "FR").await;

    // Lines from two match pages into the cart.
    for (m, category) in [(1, 1), (3, 2), (3, 1)] {
        b.goto(&format!("/matches/{m}")).await;
        b.choose("#category", &category.to_string()).await;
        b.choose("#quantity", "2").await;
        b.click("form.stack button[formaction$='/cart']").await;
        b.wait_text("h1", "Your cart", false).await;
    }
    assert_eq!(b.client.find_all(fantoccini::Locator::Css("tr[data-line]")).await.unwrap().len(), 3);
    b.screenshots("cart").await;
    b.assert_accessible("cart").await;
    // One line removed and added again: the cart keeps one line per category.
    b.click("tr[data-line='3.1'] form button").await;
    eventually(Duration::from_secs(20), "the line removed", || async {
        let rows = b.client.find_all(fantoccini::Locator::Css("tr[data-line]")).await.ok()?;
        (rows.len() == 2 && b.path().await == "/cart").then_some(())
    })
    .await;
    b.goto("/matches/3").await;
    b.choose("#category", "1").await;
    b.choose("#quantity", "2").await;
    b.click("form.stack button[formaction$='/cart']").await;
    b.wait_text("h1", "Your cart", false).await;
    assert_eq!(b.client.find_all(fantoccini::Locator::Css("tr[data-line]")).await.unwrap().len(), 3);

    // Meanwhile the other platform's buyers take every ticket of match 3, category 1.
    let rivals = (0..50).map(|i| {
        let other = &other;
        async move { other.reserve(&format!("rival-{i}"), 3, 1, 2, None).await.0 }
    });
    let granted = futures::future::join_all(rivals).await.into_iter().filter(|s| *s == 201).count();
    assert_eq!(granted, 50, "the other platform sells the category out");

    // Held together: two lines held, the one sold elsewhere refused and shown.
    b.click("#hold-all button[type=submit]").await;
    b.wait_text("h1", "Checkout", false).await;
    let held = b.client.find_all(fantoccini::Locator::Css("table.order-lines tr[data-status='HELD']")).await.unwrap();
    let refused =
        b.client.find_all(fantoccini::Locator::Css("table.order-lines tr[data-status='REJECTED']")).await.unwrap();
    assert_eq!((held.len(), refused.len()), (2, 1));
    assert!(b.text(".notice.error").await.contains("not charged"));
    assert!(b.text("#pay").await.contains("$"), "one amount for everything held");
    b.screenshots("cart-checkout").await;
    b.assert_accessible_except("cart checkout", &["#card-element"]).await;

    // One payment for both lines: four tickets.
    enter_card(&b, CARD_OK).await;
    b.click("#pay-form button[type=submit]").await;
    b.wait_text("h1", "Payment received", false).await;
    assert_eq!(b.client.find_all(fantoccini::Locator::Css(".ticket img")).await.unwrap().len(), 4, "four seats");
    assert_eq!(b.client.find_all(fantoccini::Locator::Css("tr[data-status='CONFIRMED']")).await.unwrap().len(), 2);
    b.assert_accessible("cart paid").await;
    // Each held line's tickets are mailed.
    let mails = mail::wait_for(&mail::maildev_url(), &email, 3, Duration::from_secs(30)).await;
    let tickets = mails.iter().filter(|m| m.subject.starts_with("Your tickets")).count();
    assert_eq!(tickets, 2, "{:?}", mails.iter().map(|m| &m.subject).collect::<Vec<_>>());
    // The cart was emptied when its lines were held.
    b.goto("/cart").await;
    assert!(b.text("main").await.contains("Your cart is empty"));
    // Four seats of one category straight from a match page: an order of
    // one line, held as two holds; cancelled whole.
    b.goto("/matches/9").await;
    b.choose("#category", "3").await;
    b.choose("#quantity", "4").await;
    b.click("form.stack button[type=submit]:not([formaction])").await;
    b.wait_text("h1", "Checkout", false).await;
    assert!(b.path().await.starts_with("/carts/"));
    let rows = b.client.find_all(fantoccini::Locator::Css("table.order-lines tr[data-status='HELD']")).await.unwrap();
    assert_eq!(rows.len(), 2, "four tickets, two holds of two");
    b.click("form[action$='/cancel'] button").await;
    b.wait_text("h1", "Order cancelled", false).await;
    b.close().await;
    other.stop().await;
    site.stop().await;
}
