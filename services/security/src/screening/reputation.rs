//! Reputation: what the services report (and failed sign-ins) turns a
//! client into a suspect, then into a blocked network.
//!
//! Per client address, over the last 10 minutes:
//! - past 20 throttled requests, or failed sign-ins for 10 different
//!   e-mail addresses (credential stuffing): challenged for 15 minutes,
//!   puzzles of 100,000 (about 50 ms of a browser's time each);
//! - past 200 throttled requests, 30 failed sign-in addresses, or 50
//!   requests refused for want of a solved puzzle: blocked for an hour
//!   (an entry `created_by = 'reputation'` in the blocklist).
//!
//! Per network (the client's /24, or /64 for IPv6), over the last 10
//! minutes: 5 new accounts → the network is challenged; 20 → blocked.
//!
//! Per account, over the last 24 hours (holds that expired unpaid, as
//! reservations reports them): 3 → each new hold needs a solved puzzle
//! for 24 hours; 6 → no new holds for 6 hours. Reading, paying and
//! cancelling stay open.
//!
//! Each change is a security event (`challenged`, `auto_blocked`,
//! `account_challenged`, `account_blocked`).

use std::net::IpAddr;

use sqlx::PgPool;

use super::store;

pub const CHALLENGE_AFTER_THROTTLES: i64 = 20;
pub const BLOCK_AFTER_THROTTLES: i64 = 200;
pub const CHALLENGE_AFTER_FAILED_ACCOUNTS: i64 = 10;
pub const BLOCK_AFTER_FAILED_ACCOUNTS: i64 = 30;
pub const BLOCK_AFTER_FAILED_CHALLENGES: i64 = 50;
pub const CHALLENGE_AFTER_SIGNUPS: i64 = 5;
pub const BLOCK_AFTER_SIGNUPS: i64 = 20;
pub const DIFFICULTY: i64 = 100_000;
pub const CHALLENGE_AFTER_EXPIRED_HOLDS: i64 = 3;
pub const BLOCK_AFTER_EXPIRED_HOLDS: i64 = 6;

/// What the last 10 minutes say about `ip`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Record {
    pub throttled: i64,
    pub failed_accounts: i64,
    pub failed_challenges: i64,
    /// Accounts created from the client's network.
    pub signups: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Challenge,
    Block,
}

pub fn judge(r: Record) -> Verdict {
    if r.throttled >= BLOCK_AFTER_THROTTLES
        || r.failed_accounts >= BLOCK_AFTER_FAILED_ACCOUNTS
        || r.failed_challenges >= BLOCK_AFTER_FAILED_CHALLENGES
        || r.signups >= BLOCK_AFTER_SIGNUPS
    {
        Verdict::Block
    } else if r.throttled >= CHALLENGE_AFTER_THROTTLES
        || r.failed_accounts >= CHALLENGE_AFTER_FAILED_ACCOUNTS
        || r.signups >= CHALLENGE_AFTER_SIGNUPS
    {
        Verdict::Challenge
    } else {
        Verdict::Allow
    }
}

/// The network sign-ups are counted over: the /24 of an IPv4 address, the
/// /64 of an IPv6 one.
pub fn network_of(ip: IpAddr) -> ipnet::IpNet {
    let prefix = if ip.is_ipv4() { 24 } else { 64 };
    ipnet::IpNet::new(ip, prefix).expect("a valid prefix").trunc()
}

async fn record(pool: &PgPool, ip: IpAddr) -> sqlx::Result<Record> {
    let (throttled, failed_accounts, failed_challenges, signups): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT coalesce(sum(count) FILTER (WHERE kind = 'throttled' AND ip = $1::inet), 0)::bigint, \
                count(DISTINCT account) FILTER (WHERE kind = 'login_failed' AND ip = $1::inet), \
                coalesce(sum(count) FILTER (WHERE kind = 'challenge_failed' AND ip = $1::inet), 0)::bigint, \
                count(*) FILTER (WHERE kind = 'signup') \
         FROM security_events WHERE ip <<= $2::cidr AND at > now() - interval '10 minutes'",
    )
    .bind(ip.to_string())
    .bind(network_of(ip).to_string())
    .fetch_one(pool)
    .await?;
    Ok(Record { throttled, failed_accounts, failed_challenges, signups })
}

/// Look at `ip` again after new events about it.
pub async fn review(pool: &PgPool, ip: IpAddr) -> sqlx::Result<Verdict> {
    let r = record(pool, ip).await?;
    let verdict = judge(r);
    // Sign-ups judge the network; everything else the address.
    let by_network = judge(Record { signups: 0, ..r }) != verdict;
    let target = if by_network { network_of(ip) } else { ipnet::IpNet::from(ip) };
    let net = target.to_string();
    match verdict {
        Verdict::Allow => {}
        Verdict::Challenge => {
            let new: bool = sqlx::query_scalar(
                "INSERT INTO verdicts (cidr, difficulty, reason, expires_at) \
                 VALUES ($1::cidr, $2, 'suspect: rate limits, failed sign-ins or sign-ups', now() + interval '15 minutes') \
                 ON CONFLICT (cidr) DO UPDATE SET expires_at = EXCLUDED.expires_at \
                 RETURNING (xmax = 0)",
            )
            .bind(&net)
            .bind(DIFFICULTY)
            .fetch_one(pool)
            .await?;
            if new {
                store::note(pool, "challenged", Some(ip), &format!("{net}: rate limits, failed sign-ins or sign-ups"))
                    .await?;
            }
        }
        Verdict::Block => {
            let already: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM blocklist WHERE cidr >>= $1::cidr AND (expires_at IS NULL OR expires_at > now()))",
            )
            .bind(&net)
            .fetch_one(pool)
            .await?;
            if !already {
                let until = chrono::Utc::now() + chrono::Duration::hours(1);
                store::block(
                    pool,
                    ipnet::IpNet::from(ip),
                    "automatic: abuse went on after a challenge",
                    Some(until),
                    "reputation",
                )
                .await?;
                store::note(pool, "auto_blocked", Some(ip), "blocked for an hour").await?;
            }
        }
    }
    Ok(verdict)
}

/// What an account's expired holds earn it.
pub fn judge_account(expired_holds: i64) -> Verdict {
    if expired_holds >= BLOCK_AFTER_EXPIRED_HOLDS {
        Verdict::Block
    } else if expired_holds >= CHALLENGE_AFTER_EXPIRED_HOLDS {
        Verdict::Challenge
    } else {
        Verdict::Allow
    }
}

/// Look at `account` again after more of its holds expired unpaid.
pub async fn review_account(pool: &PgPool, account: &str) -> sqlx::Result<Verdict> {
    let expired: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(count), 0)::bigint FROM security_events \
         WHERE account = $1 AND kind = 'hold_expired' AND at > now() - interval '24 hours'",
    )
    .bind(account)
    .fetch_one(pool)
    .await?;
    let verdict = judge_account(expired);
    let (name, difficulty, lasts) = match verdict {
        Verdict::Allow => return Ok(verdict),
        Verdict::Challenge => ("challenge", DIFFICULTY, "24 hours"),
        Verdict::Block => ("block", 0, "6 hours"),
    };
    let reason = format!("{expired} holds expired unpaid in 24 hours");
    // A verdict only ever hardens while it is in force.
    let changed: Option<bool> = sqlx::query_scalar(
        "INSERT INTO account_verdicts (account, verdict, difficulty, reason, expires_at) \
         VALUES ($1, $2, $3, $4, now() + $5::interval) \
         ON CONFLICT (account) DO UPDATE SET verdict = EXCLUDED.verdict, difficulty = EXCLUDED.difficulty, \
           reason = EXCLUDED.reason, expires_at = EXCLUDED.expires_at, created_at = now() \
         WHERE account_verdicts.expires_at <= now() OR account_verdicts.verdict <> EXCLUDED.verdict \
         RETURNING true",
    )
    .bind(account)
    .bind(name)
    .bind(difficulty)
    .bind(&reason)
    .bind(lasts)
    .fetch_optional(pool)
    .await?;
    if changed.is_some() {
        let kind = if verdict == Verdict::Block { "account_blocked" } else { "account_challenged" };
        store::note_account(pool, kind, account, &format!("{reason}: {name} new holds for {lasts}")).await?;
    }
    Ok(verdict)
}

/// The accounts in force: (challenged, blocked).
pub async fn accounts(
    pool: &PgPool,
) -> sqlx::Result<(Vec<ticktak_contracts::screening::AccountVerdict>, Vec<ticktak_contracts::screening::AccountVerdict>)>
{
    let rows: Vec<(String, String, i64, String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT account, verdict, difficulty, reason, expires_at FROM account_verdicts WHERE expires_at > now()",
    )
    .fetch_all(pool)
    .await?;
    let (mut challenged, mut blocked) = (Vec::new(), Vec::new());
    for (account, verdict, difficulty, reason, expires_at) in rows {
        let v =
            ticktak_contracts::screening::AccountVerdict { account, reason, difficulty: difficulty as u64, expires_at };
        match verdict.as_str() {
            "block" => blocked.push(v),
            _ => challenged.push(v),
        }
    }
    Ok((challenged, blocked))
}

/// The challenged networks in force.
pub async fn challenged(pool: &PgPool) -> sqlx::Result<Vec<ticktak_contracts::screening::ChallengedNetwork>> {
    let rows: Vec<(String, i64, String, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT cidr::text, difficulty, reason, expires_at FROM verdicts WHERE expires_at > now()")
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(cidr, difficulty, reason, expires_at)| ticktak_contracts::screening::ChallengedNetwork {
            cidr,
            reason,
            difficulty: difficulty as u64,
            expires_at,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suspicion_rises_to_a_challenge_then_a_block() {
        let r = |throttled, failed_accounts, failed_challenges| Record {
            throttled,
            failed_accounts,
            failed_challenges,
            signups: 0,
        };
        assert_eq!(judge(r(0, 0, 0)), Verdict::Allow);
        assert_eq!(judge(Record { signups: 4, ..r(0, 0, 0) }), Verdict::Allow);
        assert_eq!(judge(Record { signups: 5, ..r(0, 0, 0) }), Verdict::Challenge);
        assert_eq!(judge(Record { signups: 20, ..r(0, 0, 0) }), Verdict::Block);
        assert_eq!(network_of("203.0.113.77".parse().unwrap()).to_string(), "203.0.113.0/24");
        assert_eq!(network_of("2001:db8::1".parse().unwrap()).to_string(), "2001:db8::/64");
        assert_eq!(judge(r(19, 9, 49)), Verdict::Allow);
        assert_eq!(judge(r(20, 0, 0)), Verdict::Challenge);
        assert_eq!(judge(r(0, 10, 0)), Verdict::Challenge);
        assert_eq!(judge(r(200, 0, 0)), Verdict::Block);
        assert_eq!(judge(r(0, 30, 0)), Verdict::Block);
        assert_eq!(judge(r(0, 0, 50)), Verdict::Block);
    }

    #[test]
    fn holds_left_to_expire_again_and_again_hold_an_account_back() {
        assert_eq!(judge_account(2), Verdict::Allow);
        assert_eq!(judge_account(3), Verdict::Challenge);
        assert_eq!(judge_account(5), Verdict::Challenge);
        assert_eq!(judge_account(6), Verdict::Block);
    }
}
