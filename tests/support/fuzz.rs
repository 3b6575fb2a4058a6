//! schemathesis (PyPI, in `var/venv`; `SCHEMATHESIS_BIN`) against every
//! service's own OpenAPI description: no 5xx, every answer documented and
//! matching its schema. Business rules stricter than a schema can say
//! (e.g. a password must not be a common one) refuse some schema-valid
//! requests, so that one check (`positive_data_acceptance`) is left out.
//! And `DELETE /api/reservations/{id}` cancels a hold without erasing it:
//! the buyer still reads it, `CANCELLED`, as the record of what happened.
//! schemathesis's `use_after_free` check expects a 404 after a DELETE, so
//! it is left out too; the cancel's own answers are still checked.

use std::process::Command;
use std::time::Duration;

use ticktak_kit::service::Running;
use ticktak_kit::Service;
use tokio_util::sync::CancellationToken;

use crate::{
    dev_token_as, ensure_topics, eventually, masterlist_with_capacity, publish_masterlist, start_analytics, unique,
    Platform, PlatformEnv,
};

/// A platform with every service that has an OpenAPI description, the
/// master list applied.
pub struct Targets {
    pub platform: Platform,
    pub payments: Running,
    pub security: Running,
    pub analytics: Running,
}

impl Targets {
    pub async fn start() -> Self {
        let mut env = PlatformEnv::new("a", &unique("fuzz"));
        ensure_topics(&env.topics()).await;
        publish_masterlist(&env.topics(), &masterlist_with_capacity(64, 100)).await;
        let security = security::start(env.settings(Service::Security), CancellationToken::new()).await.unwrap();
        env.extra.insert("SECURITY_URL".into(), security.internal_url());
        let platform = Platform::start(env).await;
        let payments =
            payments::start(platform.env.settings(Service::Payments), CancellationToken::new()).await.unwrap();
        eventually(Duration::from_secs(60), "the master list", || async {
            (platform.get("/api/matches/64/availability").await.0 == 200).then_some(())
        })
        .await;
        let analytics = start_analytics(&platform.env).await;
        Self { platform, payments, security, analytics }
    }

    /// (service, public URL) of each description.
    pub fn bases(&self) -> Vec<(&'static str, String)> {
        vec![
            ("shop", self.platform.shop.url()),
            ("reservations", self.platform.reservations.url()),
            ("payments", self.payments.url()),
            ("security", self.security.url()),
            ("analytics", self.analytics.url()),
        ]
    }

    /// A buyer of its own per service, so one service's stateful phase does
    /// not see another's objects. Analytics has only admin routes, so its
    /// fuzzer is an admin (a buyer would get 403 for every example).
    pub fn token(&self, service: &str) -> String {
        let sub = format!("fuzz-{service}");
        match service {
            "analytics" => dev_token_as(&sub, &self.platform.env.platform_id, ticktak_kit::auth::Role::Admin),
            _ => self.platform.token(&sub),
        }
    }
}

pub fn schemathesis_bin() -> String {
    std::env::var("SCHEMATHESIS_BIN").unwrap_or_else(|_| "var/venv/bin/schemathesis".into())
}

/// What one run found.
pub struct Outcome {
    pub passed: bool,
    /// The run's report (its last lines tell the counts).
    pub report: String,
}

/// Fuzz the service at `base` with `max_examples` per operation, sending
/// `token` as the bearer; `seed` makes a run repeatable.
pub fn run(base: &str, token: &str, max_examples: u32, seed: Option<u128>) -> Outcome {
    let mut cmd = Command::new(schemathesis_bin());
    cmd.args(["run", &format!("{base}/api/openapi.json")])
        .args(["--checks", "all", "--exclude-checks", "positive_data_acceptance,use_after_free"])
        .args(["--max-examples", &max_examples.to_string(), "--workers", "1"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_TELEMETRY", "false");
    if let Some(seed) = seed {
        cmd.args(["--seed", &seed.to_string()]);
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {} ({e}); make test installs it", schemathesis_bin()));
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    Outcome { passed: out.status.success(), report }
}
