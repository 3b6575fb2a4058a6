//! mint-token: a buyer (or admin) token for development, signed with
//! `JWT_SECRET` (the documented dev default when unset).
//!
//!     mint-token alice            # buyer, valid 1 hour
//!     mint-token ops admin 600    # admin, valid 10 minutes

use std::process::ExitCode;
use std::time::Duration;

use ticktak_kit::auth::{JwtKeys, Role};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(sub) = args.first() else {
        eprintln!("usage: mint-token SUBJECT [buyer|admin] [TTL_SECONDS]");
        return ExitCode::from(2);
    };
    let role = match args.get(1).map(String::as_str) {
        None | Some("buyer") => Role::Buyer,
        Some("admin") => Role::Admin,
        Some(other) => {
            eprintln!("mint-token: role must be buyer or admin, got {other:?}");
            return ExitCode::from(2);
        }
    };
    let ttl = match args.get(2).map(|s| s.parse::<u64>()) {
        None => 3600,
        Some(Ok(t)) if t > 0 => t,
        _ => {
            eprintln!("mint-token: TTL_SECONDS must be a positive number");
            return ExitCode::from(2);
        }
    };
    let secret = std::env::var("JWT_SECRET").unwrap_or_else(|_| ticktak_kit::config::DEV_JWT_SECRET.to_string());
    println!("{}", JwtKeys::new(&secret).mint(sub, role, Duration::from_secs(ttl)));
    ExitCode::SUCCESS
}
