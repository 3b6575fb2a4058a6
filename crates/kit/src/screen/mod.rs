//! Screening: every request to a service's public listener passes here
//! before its handler (`Base::serve` puts the layer on the whole public
//! router, so no public route can miss it).
//!
//! 1. The client's address (`client_ip`: the peer, or behind
//!    `TRUSTED_PROXIES` the rightmost untrusted `X-Forwarded-For` hop).
//! 2. A blocked network → 403 `blocked`. The blocklist is the security
//!    service's; each service keeps a replica, fetched every 500 ms
//!    (`contracts::screening::POLICY`), and keeps screening with the last one
//!    it has while the security service is unreachable (`/ready` says so).
//! 3. A challenged network (the security service found it suspect) → 428
//!    `challenge_required` unless the request carries a solved puzzle
//!    (`crate::challenge`; `GET /api/challenge` hands them out).
//! 4. The rate limit of the request's route class for the address → 429
//!    with `Retry-After`; then, once a handler knows the caller's account
//!    (`auth::Caller`), the account's limit ([`Screened::check_account`]).
//! 5. Blocks, failed challenges and throttles are counted per client and reported to the
//!    security service in batches every second (its security events).
//!
//! Nothing here calls another service while a request waits.
//!
//! The parts: `classes` (route classes), `settings` (rates), `networks`
//! (the replica's networks and rate keys), `layer` (the tower layer),
//! `page` (puzzles handed out, the browser's 428 page), `sync` (the
//! replica kept fresh, signals reported), `challenge` (proof-of-work),
//! `client_ip` (who a request comes from); the decisions themselves in
//! [`Screen`], here.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use axum::extract::{ConnectInfo, Request};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures::future::Either;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use ticktak_contracts::screening::{self, AccountVerdict, Policy, Signal, SignalKind, Signals};
use tokio_util::sync::CancellationToken;

use crate::env::{ConfigError, Env};
use crate::error::ApiError;
use client_ip::TrustedProxies;

pub mod challenge;
mod classes;
pub mod client_ip;
mod layer;
mod networks;
mod page;
mod settings;
mod sync;

pub use classes::RouteClass;
pub use layer::{ScreenLayer, ScreenService};
use networks::*;
use page::challenge_page;
pub use page::{challenge_router, CHALLENGE_PATH, SOLVER_PATH, SOLVER_WORKER_PATH};
use settings::quota;
pub use settings::{Rate, ScreenSettings};
pub use sync::spawn_sync;

struct Limiters {
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_account: Option<DefaultKeyedRateLimiter<String>>,
}

/// The security service's verdicts as a service screens with them. Each
/// refresh swaps in a whole new one, so a request reads one consistent
/// snapshot without waiting for a lock.
#[derive(Default)]
struct Replica {
    blocked: Networks,
    challenged: Networks,
    challenged_accounts: HashMap<String, AccountVerdict>,
    blocked_accounts: HashMap<String, AccountVerdict>,
}

fn in_force(v: &AccountVerdict) -> bool {
    v.expires_at > Utc::now()
}

/// What a service screens with, and what it saw.
pub struct Screen {
    service: &'static str,
    trusted: TrustedProxies,
    /// The route class of a request: [`RouteClass::of`] unless the service
    /// names its own (`with_classes`).
    classify: fn(&Method, &str) -> RouteClass,
    limiters: [Limiters; 5],
    replica: ArcSwap<Replica>,
    /// Issues and checks proof-of-work puzzles.
    pub challenges: crate::challenge::Challenges,
    /// When the replica was last refreshed (ms since `started`); 0: never.
    refreshed_ms: AtomicU64,
    started: Instant,
    seen: Mutex<HashMap<SignalKey, (u64, DateTime<Utc>)>>,
}

/// Who was refused what: kind, client address, account, route class.
type SignalKey = (SignalKind, Option<IpAddr>, Option<String>, RouteClass);

/// Most distinct clients kept between two reports; beyond, they are counted
/// only in metrics.
const MAX_SIGNALS: usize = 10_000;

impl Screen {
    pub fn new(
        service: &'static str,
        settings: &ScreenSettings,
        trusted: TrustedProxies,
        internal_token: &str,
    ) -> Self {
        let limiters = RouteClass::ALL.map(|c| {
            let rate = settings.rates[c.index()];
            Limiters {
                per_ip: quota(rate.per_ip).map(RateLimiter::keyed),
                per_account: quota(rate.per_account).map(RateLimiter::keyed),
            }
        });
        Self {
            service,
            trusted,
            classify: RouteClass::of,
            limiters,
            replica: ArcSwap::from_pointee(Replica::default()),
            challenges: crate::challenge::Challenges::new(internal_token),
            refreshed_ms: AtomicU64::new(0),
            started: Instant::now(),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Class requests with `classify` (a service whose routes are not the
    /// APIs', like the web site's forms).
    pub fn with_classes(mut self, classify: fn(&Method, &str) -> RouteClass) -> Self {
        self.classify = classify;
        self
    }

    /// Replace the replica's blocklist with `policy`'s.
    pub fn apply(&self, policy: &Policy) {
        let blocks: Vec<Block> = policy
            .blocked
            .iter()
            .filter_map(|b| {
                Some(Block {
                    net: parse_net(&b.cidr)?,
                    reason: b.reason.clone(),
                    expires_at: b.expires_at,
                    difficulty: 0,
                })
            })
            .collect();
        let challenged: Vec<Block> = policy
            .challenged
            .iter()
            .filter_map(|c| {
                Some(Block {
                    net: parse_net(&c.cidr)?,
                    reason: c.reason.clone(),
                    expires_at: Some(c.expires_at),
                    difficulty: c.difficulty,
                })
            })
            .collect();
        let by_account =
            |verdicts: &[AccountVerdict]| verdicts.iter().map(|v| (v.account.clone(), v.clone())).collect();
        let replica = Replica {
            blocked: Networks::build(blocks),
            challenged: Networks::build(challenged),
            challenged_accounts: by_account(&policy.challenged_accounts),
            blocked_accounts: by_account(&policy.blocked_accounts),
        };
        metrics::gauge!("screening_blocked_networks").set(replica.blocked.len() as f64);
        metrics::gauge!("screening_challenged_networks").set(replica.challenged.len() as f64);
        metrics::gauge!("screening_restricted_accounts")
            .set((replica.challenged_accounts.len() + replica.blocked_accounts.len()) as f64);
        self.replica.store(Arc::new(replica));
        let ms = self.started.elapsed().as_millis().max(1) as u64;
        self.refreshed_ms.store(ms, Ordering::Relaxed);
    }

    /// How old the replica is; `None` before the first refresh.
    pub fn policy_age(&self) -> Option<Duration> {
        match self.refreshed_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(self.started.elapsed().saturating_sub(Duration::from_millis(ms))),
        }
    }

    /// Why `ip` is blocked, if it is.
    pub fn blocked(&self, ip: IpAddr) -> Option<String> {
        self.replica.load().blocked.find(ip).map(|b| b.reason.clone())
    }

    /// The puzzle size `ip` must solve, if it is challenged.
    pub fn challenged(&self, ip: IpAddr) -> Option<u64> {
        self.replica.load().challenged.find(ip).map(|b| b.difficulty)
    }

    /// Report that a hold of `account` ended unpaid: accounts that do it
    /// again and again must solve puzzles for new holds, then may place
    /// none for a while (the security service decides).
    pub fn note_hold_expired(&self, account: &str) {
        self.note(SignalKind::HoldExpired, None, Some(account), RouteClass::Holds);
    }

    fn note(&self, kind: SignalKind, ip: Option<IpAddr>, account: Option<&str>, class: RouteClass) {
        metrics::counter!("screening_signals_total", "kind" => kind_name(kind), "class" => class.name()).increment(1);
        let mut seen = self.seen.lock().expect("not poisoned");
        let key = (kind, ip, account.map(str::to_string), class);
        if let Some(entry) = seen.get_mut(&key) {
            entry.0 += 1;
        } else if seen.len() < MAX_SIGNALS {
            seen.insert(key, (1, Utc::now()));
        }
    }

    /// Everything noted since the last call.
    pub fn take_signals(&self) -> Vec<Signal> {
        let seen = std::mem::take(&mut *self.seen.lock().expect("not poisoned"));
        seen.into_iter()
            .map(|((kind, ip, account, class), (count, first_at))| Signal {
                kind,
                ip: ip.map(|ip| ip.to_string()),
                account,
                route_class: class.name().to_string(),
                count,
                first_at,
            })
            .collect()
    }

    /// Screen one request from `ip` of `class`, carrying `solution` (the
    /// `X-Challenge-Solution` header): `Err` is the answer to send; `Ok(true)`
    /// when the request's puzzle was checked (and used up) here.
    pub fn check(&self, ip: IpAddr, class: RouteClass, solution: Option<&str>) -> Result<bool, ApiError> {
        let replica = self.replica.load();
        self.check_blocked(&replica, ip, class)?;
        let solved = self.check_challenge(&replica, ip, class, solution)?;
        self.rate(ip, class)?;
        Ok(solved)
    }

    fn check_blocked(&self, replica: &Replica, ip: IpAddr, class: RouteClass) -> Result<(), ApiError> {
        match replica.blocked.find(ip) {
            Some(block) => {
                self.note(SignalKind::Blocked, Some(ip), None, class);
                Err(ApiError::Blocked(format!("requests from your network are blocked ({})", block.reason)))
            }
            None => Ok(()),
        }
    }

    fn check_challenge(
        &self,
        replica: &Replica,
        ip: IpAddr,
        class: RouteClass,
        solution: Option<&str>,
    ) -> Result<bool, ApiError> {
        if replica.challenged.find(ip).is_none() {
            return Ok(false);
        }
        self.verify(solution, Some(ip), None, class).map(|()| true)
    }

    /// A solved puzzle, or 428 (noted as a failed challenge).
    fn verify(
        &self,
        solution: Option<&str>,
        ip: Option<IpAddr>,
        account: Option<&str>,
        class: RouteClass,
    ) -> Result<(), ApiError> {
        let verdict = match solution {
            None => Err("solve the puzzle from GET /api/challenge and send it in X-Challenge-Solution".to_string()),
            Some(s) => self.challenges.verify(s, Utc::now().timestamp()).map_err(|e| e.to_string()),
        };
        verdict.map_err(|why| {
            self.note(SignalKind::ChallengeFailed, ip, account, class);
            ApiError::ChallengeRequired(why)
        })
    }

    fn rate(&self, ip: IpAddr, class: RouteClass) -> Result<(), ApiError> {
        if let Some(limiter) = &self.limiters[class.index()].per_ip {
            if let Err(not_until) = limiter.check_key(&rate_key(ip)) {
                self.note(SignalKind::Throttled, Some(ip), None, class);
                return Err(too_many(not_until.wait_time_from(DefaultClock::default().now())));
            }
        }
        Ok(())
    }

    /// Once the caller is known: a new hold from a blocked account → 403;
    /// from a challenged one → 428 without a solved puzzle (unless the
    /// network's check already took one); then the account's rate limit.
    fn check_account(&self, screened: &Screened, account: &str) -> Result<(), ApiError> {
        let (ip, class) = (screened.ip, screened.class);
        if class == RouteClass::Holds {
            let replica = self.replica.load();
            if let Some(v) = replica.blocked_accounts.get(account).filter(|v| in_force(v)) {
                self.note(SignalKind::Blocked, Some(ip), Some(account), class);
                return Err(ApiError::Blocked(format!(
                    "this account may place no holds until {} ({})",
                    v.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    v.reason
                )));
            }
            if !screened.solved && replica.challenged_accounts.get(account).is_some_and(in_force) {
                self.verify(screened.solution.as_deref(), Some(ip), Some(account), class)?;
            }
        }
        if let Some(limiter) = &self.limiters[class.index()].per_account {
            if let Err(not_until) = limiter.check_key(&account.to_string()) {
                self.note(SignalKind::Throttled, Some(ip), Some(account), class);
                return Err(too_many(not_until.wait_time_from(DefaultClock::default().now())));
            }
        }
        Ok(())
    }

    /// Screen a request about to enter the public router; `Err` is the
    /// answer to send instead.
    fn admit(self: &Arc<Self>, req: &mut Request) -> Result<(), ApiError> {
        let peer =
            req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()).unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let forwarded = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
        let ip = self.trusted.client_ip(peer, forwarded);
        let class = (self.classify)(req.method(), req.uri().path());
        // Browsers cannot add a header to a page load: theirs comes in a cookie.
        let solution = req
            .headers()
            .get(crate::challenge::HEADER)
            .and_then(|v| v.to_str().ok())
            .or_else(|| crate::challenge::from_cookie(req.headers()));
        // The puzzle, its solver, and the operational endpoints need none.
        let solved = match req.uri().path() {
            CHALLENGE_PATH | SOLVER_PATH | SOLVER_WORKER_PATH | "/health" | "/ready" => {
                let replica = self.replica.load();
                self.check_blocked(&replica, ip, class)?;
                self.rate(ip, class)?;
                false
            }
            _ => self.check(ip, class, solution)?,
        };
        // An unused puzzle may still be asked for by the caller's account.
        let solution = match solved {
            false => solution.map(str::to_string),
            true => None,
        };
        req.extensions_mut().insert(Screened { screen: self.clone(), ip, class, solved, solution });
        Ok(())
    }

    /// Forget clients whose limits are full again (memory stays bounded by
    /// the clients of the last minutes).
    fn housekeeping(&self) {
        for l in &self.limiters {
            if let Some(ip) = &l.per_ip {
                ip.retain_recent();
                ip.shrink_to_fit();
            }
            if let Some(account) = &l.per_account {
                account.retain_recent();
                account.shrink_to_fit();
            }
        }
    }
}

fn kind_name(kind: SignalKind) -> &'static str {
    match kind {
        SignalKind::Blocked => "blocked",
        SignalKind::Throttled => "throttled",
        SignalKind::ChallengeFailed => "challenge_failed",
        SignalKind::HoldExpired => "hold_expired",
    }
}

fn too_many(wait: Duration) -> ApiError {
    ApiError::TooManyRequests { retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0) }
}

/// What the screening layer leaves in a request for the handler: the
/// account's verdicts and limit are checked once the caller is known.
#[derive(Clone)]
pub struct Screened {
    screen: Arc<Screen>,
    ip: IpAddr,
    class: RouteClass,
    /// The request's puzzle was already used by the network's challenge.
    solved: bool,
    /// The request's puzzle, not yet used.
    solution: Option<String>,
}

impl Screened {
    pub fn check_account(&self, account: &str) -> Result<(), ApiError> {
        self.screen.check_account(self, account)
    }

    /// The client's address as screening saw it.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }
}

#[cfg(test)]
mod tests;
