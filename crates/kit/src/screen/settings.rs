//! The screening settings: requests per minute of each route class, per
//! address and per account.

use super::*;

/// Requests per minute of one route class (0: no limit); a client may use
/// a tenth of a minute's worth at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_ip: u32,
    pub per_account: u32,
}

pub(super) fn quota(per_minute: u32) -> Option<Quota> {
    let rate = NonZeroU32::new(per_minute)?;
    let burst = NonZeroU32::new((per_minute / 10).max(1)).expect("at least 1");
    Some(Quota::per_minute(rate).allow_burst(burst))
}

/// `RATE_{CLASS}_PER_MIN` (per client address) and
/// `RATE_{CLASS}_PER_MIN_PER_ACCOUNT` for each class, 0 meaning no limit;
/// `RATE_LIMIT_SCALE` multiplies them all (0 turns rate limits off).
#[derive(Debug, Clone, PartialEq)]
pub struct ScreenSettings {
    pub rates: [Rate; 5],
    /// How often the policy replica is refreshed.
    pub refresh_every: Duration,
}

impl ScreenSettings {
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let scale: f64 = env.parse("RATE_LIMIT_SCALE", 1.0)?;
        if !(0.0..=1000.0).contains(&scale) {
            return Err(env.error("RATE_LIMIT_SCALE", "must be between 0 and 1000"));
        }
        let mut rates = [Rate { per_ip: 0, per_account: 0 }; 5];
        for class in RouteClass::ALL {
            let upper = class.name().to_ascii_uppercase();
            let (ip, account) = class.defaults();
            let ip: u32 = env.parse(&format!("RATE_{upper}_PER_MIN"), ip)?;
            let account: u32 = env.parse(&format!("RATE_{upper}_PER_MIN_PER_ACCOUNT"), account)?;
            let scaled = |n: u32| (f64::from(n) * scale).round().min(f64::from(u32::MAX)) as u32;
            rates[class.index()] = Rate { per_ip: scaled(ip), per_account: scaled(account) };
        }
        Ok(Self { rates, refresh_every: Duration::from_millis(500) })
    }
}
