//! A missing or malformed setting: one clear line naming the variable,
//! non-zero exit, no panic.

use std::collections::HashMap;
use std::time::Duration;

use ticktak_tests::process::spawn;

async fn run_with(service: &str, vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let child = spawn(service, &vars);
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output()).await.expect("exits").unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test]
async fn malformed_settings_exit_2_with_one_line_naming_the_variable() {
    for (service, var, value) in [
        ("shop", "PORT_OFFSET", "abc"),
        ("shop-consumer", "PLATFORM_ID", "Bad Id"),
        ("reservations", "DATABASE_URL", "mysql://nope"),
        ("payments", "KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
        ("security", "SECURITY_PORT", "99999"),
        ("analytics", "LOG_FORMAT", "yaml"),
        ("shop-consumer", "CONSUMER_START", "committed"),
        ("reservations", "HOLD_TTL_SECS", "0"),
    ] {
        let (code, stderr) = run_with(service, &[(var, value)]).await;
        assert_eq!(code, Some(2), "{service} {var}={value}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains("invalid configuration"), "{stderr}");
        if var != "KAFKA_SECURITY_PROTOCOL" {
            assert!(stderr.contains(var), "names {var}: {stderr}");
        } else {
            assert!(stderr.contains("KAFKA_SASL_USERNAME"), "names the missing credential: {stderr}");
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[tokio::test]
async fn an_unreachable_database_is_one_clear_error_not_a_panic() {
    let (code, stderr) =
        run_with("shop", &[("DATABASE_URL", "postgres://nobody:nothing@127.0.0.1:1/none"), ("SHOP_PORT", "0")]).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("cannot connect to Postgres"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn production_refuses_development_secrets() {
    let real_db = "postgres://ticktak:not-the-dev-password@127.0.0.1:1/none";
    let dev_sales_key =
        ticktak_kit::kafka::trust::development_key(&ticktak_core::PlatformId::new("a").unwrap()).to_pem();
    for (service, vars, var) in [
        ("shop", vec![("APP_ENV", "production")], "INTERNAL_TOKEN"),
        ("reservations", vec![("APP_ENV", "production"), ("INTERNAL_TOKEN", "a-real-internal-token")], "DATABASE_URL"),
        (
            "security",
            vec![("APP_ENV", "production"), ("INTERNAL_TOKEN", "a-real-internal-token"), ("DATABASE_URL", real_db)],
            "JWT_SIGNING_KEY",
        ),
        (
            "shop-consumer",
            vec![("APP_ENV", "production"), ("INTERNAL_TOKEN", "a-real-internal-token"), ("DATABASE_URL", real_db)],
            "PLATFORM_SIGNING_KEY",
        ),
        (
            "shop-consumer",
            vec![
                ("APP_ENV", "production"),
                ("INTERNAL_TOKEN", "a-real-internal-token"),
                ("DATABASE_URL", real_db),
                ("PLATFORM_SIGNING_KEY", dev_sales_key.as_str()),
            ],
            "PLATFORM_SIGNING_KEY",
        ),
        (
            "security",
            vec![
                ("APP_ENV", "production"),
                ("INTERNAL_TOKEN", "a-real-internal-token"),
                ("DATABASE_URL", real_db),
                ("JWT_SIGNING_KEY", ticktak_kit::auth::keys::DEV_SIGNING_KEY),
            ],
            "JWT_SIGNING_KEY",
        ),
    ] {
        let (code, stderr) = run_with(service, &vars).await;
        assert_eq!(code, Some(2), "{service}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(var), "{service} names {var}: {stderr}");
        assert!(!stderr.contains("not-the-dev-password") && !stderr.contains("a-real-internal-token"), "{stderr}");
    }
}

/// A ledger that applied a ticket-sales topic with one home partition per
/// ticket type (before a match's categories shared one) refuses to go on
/// with that topic: it would decide differently from the other platforms.
#[tokio::test]
async fn a_ledger_that_applied_a_topic_with_ticket_type_homes_refuses_to_go_on_with_it() {
    use sqlx::Connection;
    let env = ticktak_tests::PlatformEnv::new("a", &ticktak_tests::unique("homes"));
    let topics = env.topics();
    ticktak_tests::ensure_topics(&topics).await;
    // A first start migrates the ledger (nothing applied yet: nothing refused).
    let mut first = spawn("shop", &env.vars());
    let url = ticktak_tests::database_url(&env.database);
    ticktak_tests::eventually(Duration::from_secs(60), "the shop's schema", || async {
        let mut db = sqlx::PgConnection::connect(&url).await.ok()?;
        let migrated: Option<String> =
            sqlx::query_scalar("SELECT to_regclass('shop.topics_under_ticket_type_homes')::text")
                .fetch_one(&mut db)
                .await
                .ok()?;
        migrated.map(|_| ())
    })
    .await;
    assert!(first.try_wait().unwrap().is_none(), "a fresh ledger starts");
    first.kill().await.unwrap();
    // As migration 0008 records a topic applied before it.
    let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("INSERT INTO shop.topics_under_ticket_type_homes VALUES ($1)")
        .bind(&topics.sales)
        .execute(&mut db)
        .await
        .unwrap();
    let (code, stderr) =
        run_with("shop", &env.vars().iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>()).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(&topics.sales) && stderr.contains("fresh topics"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
