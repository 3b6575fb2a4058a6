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
//! difference. An attempt is counted when it is admitted, before its
//! password is checked (`admit`), so parallel guesses cannot all slip in
//! before the first failure is written.

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

/// Admit a sign-in attempt, counting it as a failure in advance, or answer
/// how many seconds remain before another attempt is allowed.
///
/// Counting before the password is checked is what makes the back-off hold
/// against parallel guesses: each attempt takes its place under the key's
/// row lock, so once the allowance is spent the next one is refused, however
/// many were sent at once. A success takes its count back
/// ([`record_success`]).
pub async fn admit(pool: &PgPool, attempt: &Attempt) -> sqlx::Result<Result<(), u64>> {
    let mut tx = pool.begin().await?;
    for (key, policy) in attempt.keys() {
        let counted: Option<i32> = sqlx::query_scalar(
            "INSERT INTO login_failures AS f (key, failures, last_failure_at, locked_until)
             VALUES ($1, 1, now(), now())
             ON CONFLICT (key) DO UPDATE SET
                 failures = CASE WHEN f.last_failure_at < now() - make_interval(secs => $2) THEN 1
                                 ELSE f.failures + 1 END,
                 last_failure_at = now()
             WHERE f.locked_until <= now()
             RETURNING failures",
        )
        .bind(key)
        .bind(FORGET_AFTER_SECS as f64)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(failures) = counted else {
            let until: DateTime<Utc> = sqlx::query_scalar("SELECT locked_until FROM login_failures WHERE key = $1")
                .bind(key)
                .fetch_one(&mut *tx)
                .await?;
            tx.rollback().await?;
            return Ok(Err((until - Utc::now()).num_seconds().max(1) as u64));
        };
        let wait = policy.wait_secs(failures);
        if wait > 0 {
            sqlx::query("UPDATE login_failures SET locked_until = now() + make_interval(secs => $2) WHERE key = $1")
                .bind(key)
                .bind(wait as f64)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(Ok(()))
}

/// A successful sign-in clears its e-mail's failures and takes back its
/// address's advance count (with the wait it may have started).
pub async fn record_success(pool: &PgPool, attempt: &Attempt) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM login_failures WHERE key = $1").bind(&attempt.email).execute(&mut *tx).await?;
    sqlx::query(
        "UPDATE login_failures SET failures = greatest(failures - 1, 0),
             locked_until = CASE WHEN failures - 1 <= $2 THEN now() ELSE locked_until END
         WHERE key = $1",
    )
    .bind(&attempt.address)
    .bind(PER_ADDRESS.free)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
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
