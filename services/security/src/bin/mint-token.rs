//! mint-token: an access token for development and tests, signed with
//! `JWT_SIGNING_KEY` (the public development key when unset) the way the
//! security service signs them. Buyers sign in instead.
//!
//!     mint-token alice                                  # buyer, valid 1 hour
//!     mint-token ops --role admin --ttl 600
//!     mint-token alice --email alice@example.com --country AR
//!
//! `PLATFORM_ID` names the issuer and audience (`ticktak-{PLATFORM_ID}`).

use std::process::ExitCode;
use std::time::Duration;

use ticktak_kit::auth::{Claims, Role, SigningKey, Subject};

const USAGE: &str =
    "usage: mint-token SUBJECT [--role buyer|staff|admin] [--email ADDRESS] [--country CODE] [--ttl SECONDS]";

fn main() -> ExitCode {
    match mint(std::env::args().skip(1).collect()) {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mint-token: {e}");
            ExitCode::from(2)
        }
    }
}

fn mint(args: Vec<String>) -> Result<String, String> {
    let mut args = args.into_iter();
    let sub = args.next().filter(|s| !s.starts_with("--")).ok_or(USAGE)?;
    // A development token stands for an account whose address is confirmed.
    let mut subject = Subject {
        email: format!("{sub}@example.com"),
        sub,
        role: Role::Buyer,
        country: "QA".into(),
        email_verified: true,
    };
    let mut ttl = 3600;
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value; {USAGE}"))?;
        match flag.as_str() {
            "--role" => subject.role = value.parse()?,
            "--email" => subject.email = value,
            "--country" => subject.country = ticktak_core::Country::new(&value).map_err(|e| e.0)?.to_string(),
            "--ttl" => ttl = value.parse().ok().filter(|t| *t > 0).ok_or("--ttl must be a positive number")?,
            _ => return Err(USAGE.into()),
        }
    }
    let key = match std::env::var("JWT_SIGNING_KEY") {
        Ok(pem) if !pem.trim().is_empty() => SigningKey::parse(&pem).map_err(|e| format!("JWT_SIGNING_KEY: {e}"))?,
        _ => SigningKey::dev(),
    };
    let platform = std::env::var("PLATFORM_ID").unwrap_or_else(|_| "a".into());
    let issuer = format!("ticktak-{platform}");
    let claims = Claims::issue(subject, &issuer, std::slice::from_ref(&issuer), Duration::from_secs(ttl));
    Ok(key.sign(&claims))
}
