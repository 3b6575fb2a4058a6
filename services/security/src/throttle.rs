//! Back-off after failed sign-ins, per client address and per e-mail address.
//!
//! Each failure past a free allowance doubles the wait before the next
//! attempt from that address or for that e-mail. The per-e-mail wait is
//! capped at a minute: it slows a password-guessing botnet to a guess a
//! minute per account, yet an attacker can never lock the owner out for
//! longer than that. The per-address wait goes up to 15 minutes. Failures
//! are forgotten 15 minutes after the last one, and a successful sign-in
//! clears its e-mail's count (not its address's: one valid account must not
//! reset an attacker's budget). Whether the account exists makes no
//! difference.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// How a key backs off.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures allowed before any wait.
    pub free: i32,
    /// Longest wait, seconds.
    pub max_wait_secs: i64,
}

pub const PER_ADDRESS: Policy = Policy { free: 10, max_wait_secs: 15 * 60 };
pub const PER_EMAIL: Policy = Policy { free: 5, max_wait_secs: 60 };
/// Failures older than this are forgotten.
const FORGET_AFTER_SECS: i64 = 15 * 60;

impl Policy {
    /// The wait after the `failures`-th failure.
    pub fn wait_secs(self, failures: i32) -> i64 {
        let over = failures - self.free;
        if over <= 0 {
            0
        } else {
            (1i64 << over.min(20)).min(self.max_wait_secs)
        }
    }
}

/// The keys of one sign-in attempt.
pub struct Attempt {
    address: String,
    email: String,
}

impl Attempt {
    pub fn new(ip: IpAddr, email_lower: &str) -> Self {
        Self { address: format!("ip:{ip}"), email: format!("account:{email_lower}") }
    }

    fn keys(&self) -> [(&str, Policy); 2] {
        [(self.address.as_str(), PER_ADDRESS), (self.email.as_str(), PER_EMAIL)]
    }
}

/// Seconds until another attempt is allowed, when it is not yet.
pub async fn locked_for(pool: &PgPool, attempt: &Attempt) -> sqlx::Result<Option<u64>> {
    let keys: Vec<&str> = attempt.keys().iter().map(|(k, _)| *k).collect();
    let until: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT max(locked_until) FROM login_failures WHERE key = ANY($1) AND locked_until > now()")
            .bind(&keys)
            .fetch_one(pool)
            .await?;
    Ok(until.map(|u| (u - Utc::now()).num_seconds().max(1) as u64))
}

/// Count a failure against both keys.
pub async fn record_failure(pool: &PgPool, attempt: &Attempt) -> sqlx::Result<()> {
    for (key, policy) in attempt.keys() {
        let failures: i32 = sqlx::query_scalar(
            "INSERT INTO login_failures AS f (key, failures, last_failure_at, locked_until)
             VALUES ($1, 1, now(), now())
             ON CONFLICT (key) DO UPDATE SET
                 failures = CASE WHEN f.last_failure_at < now() - make_interval(secs => $2) THEN 1
                                 ELSE f.failures + 1 END,
                 last_failure_at = now()
             RETURNING failures",
        )
        .bind(key)
        .bind(FORGET_AFTER_SECS as f64)
        .fetch_one(pool)
        .await?;
        let wait = policy.wait_secs(failures);
        if wait > 0 {
            sqlx::query("UPDATE login_failures SET locked_until = now() + make_interval(secs => $2) WHERE key = $1")
                .bind(key)
                .bind(wait as f64)
                .execute(pool)
                .await?;
        }
    }
    Ok(())
}

/// A successful sign-in clears its e-mail's failures.
pub async fn record_success(pool: &PgPool, attempt: &Attempt) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM login_failures WHERE key = $1").bind(&attempt.email).execute(pool).await?;
    Ok(())
}

/// Forget failures nobody has repeated for a while.
pub async fn forget_old(pool: &PgPool) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "DELETE FROM login_failures WHERE last_failure_at < now() - make_interval(secs => $1) AND locked_until < now()",
    )
    .bind(FORGET_AFTER_SECS as f64)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_after_the_allowance_up_to_the_cap() {
        let waits: Vec<i64> = (1..=13).map(|n| PER_EMAIL.wait_secs(n)).collect();
        assert_eq!(waits, [0, 0, 0, 0, 0, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(PER_ADDRESS.wait_secs(10), 0);
        assert_eq!(PER_ADDRESS.wait_secs(11), 2);
        assert_eq!(PER_ADDRESS.wait_secs(1000), 15 * 60);
    }
}
