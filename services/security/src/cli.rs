//! Operator commands of the `security` binary (without arguments it runs
//! the service):
//!
//! ```text
//! security grant-role EMAIL ROLE      # buyer, staff or admin
//! security generate-signing-key       # a new JWT_SIGNING_KEY (PEM) on stdout
//! security platform-key PLATFORM_ID    # PLATFORM_SIGNING_KEY's entry of PLATFORM_KEYS
//! ```
//!
//! `grant-role` reads `DATABASE_URL`/`PLATFORM_ID` like the service.

use std::process::ExitCode;

use ticktak_kit::auth::{Role, SigningKey};
use ticktak_kit::{Service, Settings};

const USAGE: &str =
    "usage: security [grant-role EMAIL buyer|staff|admin | generate-signing-key | platform-key PLATFORM_ID]";

pub fn run(args: &[String]) -> ExitCode {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["generate-signing-key"] => {
            print!("{}", SigningKey::generate().to_pem());
            ExitCode::SUCCESS
        }
        ["platform-key", platform] => platform_key(platform),
        ["grant-role", email, role] => match role.parse::<Role>() {
            Ok(role) => grant_role(email, role),
            Err(e) => fail(&e, 2),
        },
        _ => fail(USAGE, 2),
    }
}

/// The `PLATFORM_KEYS` entry (`id=public key`) of the key in
/// `PLATFORM_SIGNING_KEY`, for the operator to hand to the market.
fn platform_key(platform: &str) -> ExitCode {
    use ticktak_kit::kafka::trust::{PlatformKeys, Trust};
    let platform = match ticktak_core::PlatformId::new(platform) {
        Ok(p) => p,
        Err(e) => return fail(&e.0, 2),
    };
    let key = std::env::var("PLATFORM_SIGNING_KEY").map_err(|_| "PLATFORM_SIGNING_KEY is not set".to_string());
    match key.and_then(|k| SigningKey::parse(&k)) {
        Ok(key) => {
            println!("{}", Trust::new(key, PlatformKeys::Development).public_entry(&platform));
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e, 2),
    }
}

fn grant_role(email: &str, role: Role) -> ExitCode {
    let settings = match Settings::from_env(Service::Security) {
        Ok(s) => s,
        Err(e) => return fail(&e.to_string(), 2),
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let result = runtime.block_on(async {
        let pool = ticktak_kit::db::connect(
            secrecy::ExposeSecret::expose_secret(&settings.database_url),
            Service::Security.schema(),
            &crate::MIGRATOR,
            1,
        )
        .await?;
        anyhow::Ok(crate::accounts::store::set_role_by_email(&pool, email, role).await?)
    });
    match result {
        Ok(Some(account)) => {
            println!("{} is now {}", account.email, role.as_str());
            ExitCode::SUCCESS
        }
        Ok(None) => fail(&format!("no account with e-mail {email}"), 1),
        Err(e) => fail(&format!("{e:#}"), 1),
    }
}

fn fail(message: &str, code: u8) -> ExitCode {
    eprintln!("security: {message}");
    ExitCode::from(code)
}
