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

use crate::client_ip::TrustedProxies;
use crate::env::{ConfigError, Env};
use crate::error::ApiError;

/// Requests grouped by what abusing them costs us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteClass {
    /// GET and HEAD: catalogue, availability, one's own reservations.
    Reads,
    /// Sign-up, sign-in, token refresh (`POST /api/auth/…`).
    Auth,
    /// New holds (`POST /api/reservations`).
    Holds,
    /// Payments and refunds (`POST /api/payments…`).
    Payments,
    /// Every other write.
    Writes,
}

impl RouteClass {
    pub const ALL: [RouteClass; 5] =
        [RouteClass::Reads, RouteClass::Auth, RouteClass::Holds, RouteClass::Payments, RouteClass::Writes];

    pub fn of(method: &Method, path: &str) -> Self {
        // What tries a password (a change, a deletion) or gathers an
        // account's every record counts as a sign-in.
        let sensitive =
            path == "/api/me/password" || path == "/api/me/export" || (method == Method::DELETE && path == "/api/me");
        if sensitive || (path.starts_with("/api/auth/") && method != Method::GET && method != Method::HEAD) {
            RouteClass::Auth
        } else if method == Method::GET || method == Method::HEAD {
            RouteClass::Reads
        } else if path == "/api/reservations" {
            RouteClass::Holds
        } else if path.starts_with("/api/payments") {
            RouteClass::Payments
        } else {
            RouteClass::Writes
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            RouteClass::Reads => "reads",
            RouteClass::Auth => "auth",
            RouteClass::Holds => "holds",
            RouteClass::Payments => "payments",
            RouteClass::Writes => "writes",
        }
    }

    /// Default requests per minute: per client address, per account.
    fn defaults(self) -> (u32, u32) {
        match self {
            RouteClass::Reads => (6000, 6000),
            RouteClass::Auth => (30, 0),
            RouteClass::Holds => (60, 20),
            RouteClass::Payments => (60, 30),
            RouteClass::Writes => (300, 120),
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Requests per minute of one route class (0: no limit); a client may use
/// a tenth of a minute's worth at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_ip: u32,
    pub per_account: u32,
}

fn quota(per_minute: u32) -> Option<Quota> {
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

struct Limiters {
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_account: Option<DefaultKeyedRateLimiter<String>>,
}

/// One blocked or challenged network of the replica.
#[derive(Debug, Clone)]
struct Block {
    net: IpNet,
    reason: String,
    expires_at: Option<DateTime<Utc>>,
    /// Puzzle size, for a challenged network.
    difficulty: u64,
}

fn parse_net(cidr: &str) -> Option<IpNet> {
    cidr.parse::<IpNet>().or_else(|_| cidr.parse::<IpAddr>().map(IpNet::from)).ok().map(|n| n.trunc())
}

/// IPv4 clients seen on an IPv6 socket count as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Whose quota a request counts against: an IPv4 address, or an IPv6
/// client's /64 (one subscriber's network: every address of it is the
/// same client, so rotating through them does not multiply the quota).
fn rate_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// Networks indexed by prefix length: a lookup is one hash probe per
/// prefix length in use (a handful), however many networks there are.
#[derive(Default)]
struct Networks {
    /// Most specific prefix first.
    v4: Vec<(u8, HashMap<u32, Block>)>,
    v6: Vec<(u8, HashMap<u128, Block>)>,
}

fn mask4(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn mask6(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

impl Networks {
    fn build(blocks: Vec<Block>) -> Self {
        let mut v4: HashMap<u8, HashMap<u32, Block>> = HashMap::new();
        let mut v6: HashMap<u8, HashMap<u128, Block>> = HashMap::new();
        for b in blocks {
            match b.net {
                IpNet::V4(n) => {
                    v4.entry(n.prefix_len()).or_default().insert(u32::from(n.network()), b);
                }
                IpNet::V6(n) => {
                    v6.entry(n.prefix_len()).or_default().insert(u128::from(n.network()), b);
                }
            }
        }
        let mut v4: Vec<_> = v4.into_iter().collect();
        let mut v6: Vec<_> = v6.into_iter().collect();
        v4.sort_by_key(|(len, _)| std::cmp::Reverse(*len));
        v6.sort_by_key(|(len, _)| std::cmp::Reverse(*len));
        Self { v4, v6 }
    }

    fn len(&self) -> usize {
        self.v4.iter().map(|(_, m)| m.len()).sum::<usize>() + self.v6.iter().map(|(_, m)| m.len()).sum::<usize>()
    }

    /// The entry covering `ip` that is still in force.
    fn find(&self, ip: IpAddr) -> Option<&Block> {
        let live = |b: &&Block| b.expires_at.is_none_or(|t| t > Utc::now());
        match canonical(ip) {
            IpAddr::V4(v4) => {
                let ip = u32::from(v4);
                self.v4.iter().find_map(|(len, map)| map.get(&(ip & mask4(*len))).filter(live))
            }
            IpAddr::V6(v6) => {
                let ip = u128::from(v6);
                self.v6.iter().find_map(|(len, map)| map.get(&(ip & mask6(*len))).filter(live))
            }
        }
    }
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

/// The screening layer: `router.layer(ScreenLayer::new(screen))`. A plain
/// tower service rather than `from_fn`, so an admitted request costs no
/// allocation beyond its `Screened`.
#[derive(Clone)]
pub struct ScreenLayer(Arc<Screen>);

impl ScreenLayer {
    pub fn new(screen: Arc<Screen>) -> Self {
        Self(screen)
    }
}

impl<S> tower::Layer<S> for ScreenLayer {
    type Service = ScreenService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ScreenService { screen: self.0.clone(), inner }
    }
}

#[derive(Clone)]
pub struct ScreenService<S> {
    screen: Arc<Screen>,
    inner: S,
}

impl<S> tower::Service<Request> for ScreenService<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<std::future::Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        match self.screen.admit(&mut req) {
            Ok(()) => Either::Right(self.inner.call(req)),
            Err(ApiError::ChallengeRequired(_)) if wants_html(&req) => {
                Either::Left(std::future::ready(Ok(challenge_page(req.method()))))
            }
            Err(refusal) => Either::Left(std::future::ready(Ok(refusal.into_response()))),
        }
    }
}

/// A browser's page load (it asks for HTML first).
fn wants_html(req: &Request) -> bool {
    req.headers()
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.starts_with("text/html"))
}

/// 428 for a browser: a page whose script solves the puzzle and tries again.
fn challenge_page(method: &axum::http::Method) -> Response {
    let again = if method == axum::http::Method::GET { "GET" } else { "POST" };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>One moment</title><script src=\"{SOLVER_PATH}\" defer></script></head>\
         <body><main data-challenge-page=\"{again}\"><h1>One moment…</h1>\
         <p>Unusual traffic came from your network, so your browser is solving a small puzzle to show it is not a bot.</p>\
         <p data-solved hidden>Solved: go back and send the form again.</p>\
         <noscript><p>This check needs JavaScript.</p></noscript></main></body></html>"
    );
    (
        axum::http::StatusCode::PRECONDITION_REQUIRED,
        [
            (axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

/// Where every service hands out puzzles.
pub const CHALLENGE_PATH: &str = "/api/challenge";
/// The browser's solver (`assets/challenge.js`) and its web worker.
pub const SOLVER_PATH: &str = "/challenge.js";
pub const SOLVER_WORKER_PATH: &str = "/challenge-worker.js";

/// `GET /api/challenge`: a puzzle sized for the caller (larger for a more
/// suspect network).
pub fn challenge_router(screen: Arc<Screen>) -> axum::Router {
    let script = |body: &'static str| {
        axum::routing::get(move || async move {
            ([(axum::http::header::CONTENT_TYPE, "text/javascript; charset=utf-8")], body)
        })
    };
    axum::Router::new()
        .route(SOLVER_PATH, script(include_str!("../assets/challenge.js")))
        .route(SOLVER_WORKER_PATH, script(include_str!("../assets/challenge-worker.js")))
        .route(
            CHALLENGE_PATH,
            axum::routing::get(move |req: Request| {
                let screen = screen.clone();
                async move {
                    let difficulty = req
                        .extensions()
                        .get::<Screened>()
                        .and_then(|s| screen.challenged(s.ip))
                        .unwrap_or(crate::challenge::DEFAULT_DIFFICULTY);
                    let puzzle = screen.challenges.issue(difficulty, Utc::now().timestamp());
                    ([(axum::http::header::CACHE_CONTROL, "no-store")], axum::Json(puzzle))
                }
            }),
        )
}

/// Keep the replica fresh and report signals until `shutdown`.
pub fn spawn_sync(
    screen: Arc<Screen>,
    security: crate::internal::Client,
    every: Duration,
    shutdown: CancellationToken,
) {
    let refresh = {
        let (screen, security, shutdown) = (screen.clone(), security.clone(), shutdown.clone());
        async move {
            let mut failing = false;
            let mut last_housekeeping = Instant::now();
            while !shutdown.is_cancelled() {
                match security.get::<Policy>(screening::POLICY).await {
                    Ok(Some(policy)) => {
                        screen.apply(&policy);
                        failing = false;
                    }
                    Ok(None) | Err(_) if !failing => {
                        failing = true;
                        tracing::warn!(
                            service = screen.service,
                            "screening policy not refreshed; keeping the last one"
                        );
                    }
                    _ => {}
                }
                if last_housekeeping.elapsed() > Duration::from_secs(60) {
                    screen.housekeeping();
                    last_housekeeping = Instant::now();
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(every) => {}
                }
            }
        }
    };
    let report = async move {
        loop {
            let stopping = tokio::select! {
                _ = shutdown.cancelled() => true,
                _ = tokio::time::sleep(Duration::from_secs(1)) => false,
            };
            let signals = screen.take_signals();
            if !signals.is_empty() {
                let batch = Signals { service: screen.service.to_string(), signals };
                let sent: anyhow::Result<screening::SignalsTaken> = security.post(screening::SIGNALS, &batch).await;
                if let Err(e) = sent {
                    metrics::counter!("screening_signals_dropped_total").increment(batch.signals.len() as u64);
                    tracing::debug!(error = %e, "screening signals not delivered");
                }
            }
            if stopping {
                break;
            }
        }
    };
    tokio::spawn(refresh);
    tokio::spawn(report);
}

#[cfg(test)]
mod tests {
    use ticktak_contracts::screening::BlockedNetwork;

    use super::*;

    fn screen(pairs: &[(&str, &str)]) -> Screen {
        let settings = ScreenSettings::from_env(&Env::from_pairs(pairs)).unwrap();
        Screen::new("test", &settings, TrustedProxies::default(), "test-internal-token")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn route_classes() {
        assert_eq!(RouteClass::of(&Method::GET, "/api/matches"), RouteClass::Reads);
        assert_eq!(RouteClass::of(&Method::POST, "/api/auth/login"), RouteClass::Auth);
        assert_eq!(RouteClass::of(&Method::POST, "/api/me/password"), RouteClass::Auth);
        assert_eq!(RouteClass::of(&Method::GET, "/api/me/export"), RouteClass::Auth);
        assert_eq!(RouteClass::of(&Method::DELETE, "/api/me"), RouteClass::Auth);
        assert_eq!(RouteClass::of(&Method::GET, "/api/me"), RouteClass::Reads);
        assert_eq!(RouteClass::of(&Method::POST, "/api/reservations"), RouteClass::Holds);
        assert_eq!(RouteClass::of(&Method::POST, "/api/payments/x/refund"), RouteClass::Payments);
        assert_eq!(RouteClass::of(&Method::DELETE, "/api/reservations/x"), RouteClass::Writes);
    }

    #[test]
    fn blocked_networks_v4_v6_and_mapped_until_they_expire() {
        let s = screen(&[]);
        let past = Utc::now() - chrono::Duration::seconds(1);
        s.apply(&Policy {
            challenged: vec![],
            blocked: vec![
                BlockedNetwork { cidr: "203.0.113.0/24".into(), reason: "botnet".into(), expires_at: None },
                BlockedNetwork { cidr: "2001:db8::/32".into(), reason: "v6".into(), expires_at: None },
                BlockedNetwork { cidr: "198.51.100.7".into(), reason: "one".into(), expires_at: None },
                BlockedNetwork { cidr: "192.0.2.0/24".into(), reason: "over".into(), expires_at: Some(past) },
            ],
            ..Default::default()
        });
        assert_eq!(s.blocked(ip("203.0.113.9")).as_deref(), Some("botnet"));
        assert_eq!(s.blocked(ip("::ffff:203.0.113.9")).as_deref(), Some("botnet"));
        assert_eq!(s.blocked(ip("2001:db8::1")).as_deref(), Some("v6"));
        assert_eq!(s.blocked(ip("198.51.100.7")).as_deref(), Some("one"));
        assert_eq!(s.blocked(ip("198.51.100.8")), None);
        assert_eq!(s.blocked(ip("192.0.2.1")), None, "expired");
        let refused = s.check(ip("203.0.113.1"), RouteClass::Reads, None).unwrap_err();
        assert_eq!(refused.code(), "blocked");
        let signals = s.take_signals();
        assert_eq!((signals.len(), signals[0].kind, signals[0].count), (1, SignalKind::Blocked, 1));
    }

    #[test]
    fn a_client_past_its_rate_is_refused_with_retry_after_and_others_are_not() {
        let s = screen(&[("RATE_HOLDS_PER_MIN", "20")]);
        let (a, b) = (ip("127.0.0.2"), ip("127.0.0.3"));
        // A tenth of a minute's worth at once.
        for _ in 0..2 {
            s.check(a, RouteClass::Holds, None).unwrap();
        }
        match s.check(a, RouteClass::Holds, None) {
            Err(ApiError::TooManyRequests { retry_after_secs }) => assert!((1..=3).contains(&retry_after_secs)),
            other => panic!("{other:?}"),
        }
        s.check(b, RouteClass::Holds, None).unwrap();
        s.check(a, RouteClass::Reads, None).unwrap();
        assert_eq!(s.take_signals().iter().map(|x| x.count).sum::<u64>(), 1);
    }

    #[test]
    fn an_ipv6_client_rotating_addresses_within_its_64_shares_one_quota() {
        let s = screen(&[("RATE_HOLDS_PER_MIN", "20")]);
        for host in 1..=2 {
            s.check(ip(&format!("2001:db8:1:2::{host}")), RouteClass::Holds, None).unwrap();
        }
        let third = s.check(ip("2001:db8:1:2:ffff::3"), RouteClass::Holds, None);
        assert!(matches!(third, Err(ApiError::TooManyRequests { .. })), "{third:?}");
        s.check(ip("2001:db8:1:3::1"), RouteClass::Holds, None).unwrap();
    }

    #[test]
    fn accounts_have_limits_of_their_own_and_scale_zero_lifts_all() {
        // 10 a minute per account: one at once.
        let one = Screened {
            screen: Arc::new(screen(&[("RATE_HOLDS_PER_MIN_PER_ACCOUNT", "10")])),
            ip: ip("127.0.0.1"),
            class: RouteClass::Holds,
            solved: false,
            solution: None,
        };
        one.check_account("alice").unwrap();
        assert!(one.check_account("alice").is_err());
        one.check_account("bob").unwrap();
        let off = screen(&[("RATE_LIMIT_SCALE", "0")]);
        for _ in 0..10_000 {
            off.check(ip("127.0.0.1"), RouteClass::Auth, None).unwrap();
        }
    }
}

#[cfg(test)]
mod challenge_tests {
    use ticktak_contracts::screening::ChallengedNetwork;

    use super::*;
    use crate::challenge;

    #[test]
    fn a_challenged_client_passes_with_a_solved_puzzle_once() {
        let settings = ScreenSettings::from_env(&Env::from_pairs(&[])).unwrap();
        let s = Screen::new("test", &settings, TrustedProxies::default(), "test-internal-token");
        s.apply(&Policy {
            blocked: vec![],
            challenged: vec![ChallengedNetwork {
                cidr: "198.51.100.0/24".into(),
                reason: "credential stuffing".into(),
                difficulty: 500,
                expires_at: Utc::now() + chrono::Duration::minutes(5),
            }],
            ..Default::default()
        });
        let suspect: IpAddr = "198.51.100.4".parse().unwrap();
        let refused = s.check(suspect, RouteClass::Auth, None).unwrap_err();
        assert_eq!(refused.code(), "challenge_required");
        assert_eq!(s.challenged(suspect), Some(500));
        let puzzle = s.challenges.issue(500, Utc::now().timestamp());
        let answer = challenge::header_value(&puzzle, challenge::solve(&puzzle).unwrap());
        s.check(suspect, RouteClass::Auth, Some(&answer)).unwrap();
        assert_eq!(s.check(suspect, RouteClass::Auth, Some(&answer)).unwrap_err().code(), "challenge_required");
        // Others are not asked.
        s.check("192.0.2.1".parse().unwrap(), RouteClass::Auth, None).unwrap();
    }
}

#[cfg(test)]
mod account_tests {
    use ticktak_contracts::screening::AccountVerdict;

    use super::*;
    use crate::challenge;

    fn verdict(account: &str) -> AccountVerdict {
        AccountVerdict {
            account: account.into(),
            reason: "holds expired unpaid".into(),
            difficulty: 500,
            expires_at: Utc::now() + chrono::Duration::minutes(5),
        }
    }

    #[test]
    fn restricted_accounts_are_held_back_only_when_they_place_holds() {
        let settings = ScreenSettings::from_env(&Env::from_pairs(&[])).unwrap();
        let s = Arc::new(Screen::new("test", &settings, TrustedProxies::default(), "test-internal-token"));
        s.apply(&Policy {
            challenged_accounts: vec![verdict("lazy")],
            blocked_accounts: vec![verdict("hoarder")],
            ..Default::default()
        });
        let request = |class, solution: Option<String>| Screened {
            screen: s.clone(),
            ip: "192.0.2.1".parse().unwrap(),
            class,
            solved: false,
            solution,
        };
        let hold = request(RouteClass::Holds, None);
        assert_eq!(hold.check_account("hoarder").unwrap_err().code(), "blocked");
        assert_eq!(hold.check_account("lazy").unwrap_err().code(), "challenge_required");
        hold.check_account("someone-else").unwrap();
        // Reading, paying and cancelling stay open to them.
        request(RouteClass::Reads, None).check_account("hoarder").unwrap();
        request(RouteClass::Writes, None).check_account("lazy").unwrap();
        let puzzle = s.challenges.issue(500, Utc::now().timestamp());
        let answer = challenge::header_value(&puzzle, challenge::solve(&puzzle).unwrap());
        request(RouteClass::Holds, Some(answer.clone())).check_account("lazy").unwrap();
        assert!(request(RouteClass::Holds, Some(answer)).check_account("lazy").is_err(), "single use");
        let kinds: Vec<SignalKind> = s.take_signals().into_iter().map(|x| x.kind).collect();
        assert!(kinds.contains(&SignalKind::Blocked) && kinds.contains(&SignalKind::ChallengeFailed));
        s.note_hold_expired("lazy");
        let expired = s.take_signals();
        assert_eq!(
            (expired[0].kind, expired[0].ip.as_deref(), expired[0].account.as_deref()),
            (SignalKind::HoldExpired, None, Some("lazy"))
        );
    }
}
