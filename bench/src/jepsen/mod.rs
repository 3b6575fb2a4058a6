//! Histories checked like Jepsen: clients hold and cancel on every platform
//! while faults drawn from a seed kill and pause the platforms' processes
//! and the broker; every operation is recorded (`history`), and once the
//! market has healed and settled, the checker (`checker`) proves the
//! market's guarantees from the history, the log read back from the broker
//! and every platform's ledger and reservations.
//!
//!     ticktak-bench jepsen [--seed N] [--minutes M | --seconds S] [--platforms P] [--clients N]
//!                          [--fault-every S] [--capacity C] [--mutant capacity] [--no-network]
//!
//! It exits non-zero when a property is broken, printing the first
//! violations with the operations and log messages behind them.

pub mod checker;
pub mod client;
pub mod faults;
pub mod history;
pub mod network;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ticktak_core::ledger::HoldStatus;
use ticktak_core::{Category, HoldId, MatchNumber, TicketType};
use ticktak_tests::broker::OwnedBroker;
use ticktak_tests::postgres::OwnedPostgres;

use self::checker::{PlatformState, Report, Timing};
use self::client::Endpoint;
use self::faults::{Fault, Links};
use self::history::History;
use self::network::Network;
use crate::market::{DatabaseAt, Market, Placement};

#[derive(Debug, Clone)]
pub struct JepsenOptions {
    pub seed: u64,
    /// How long clients run and faults strike.
    pub seconds: f64,
    pub platforms: usize,
    pub clients: usize,
    /// A fault every this many seconds.
    pub fault_every_s: f64,
    /// Tickets per category of the two matches on sale.
    pub capacity: u32,
    /// A planted bug, to show the checker is not blind.
    pub mutant: Option<Mutant>,
    /// Each platform on a network of its own, for the network's faults
    /// (root, iproute2 and nftables); without it, only processes' faults.
    pub network: bool,
}

/// Bugs a run can plant in the market, each of which the checker must find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutant {
    /// The last platform's ledger sells ten times the master list's
    /// capacity: what a rule without the capacity check does.
    Capacity,
}

impl std::str::FromStr for Mutant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "capacity" => Ok(Mutant::Capacity),
            other => Err(format!("no mutant {other:?} (capacity)")),
        }
    }
}

impl Default for JepsenOptions {
    fn default() -> Self {
        Self {
            seed: 1,
            seconds: 60.0,
            platforms: 2,
            clients: 12,
            fault_every_s: 8.0,
            capacity: 30,
            mutant: None,
            network: true,
        }
    }
}

/// Matches on sale: two, three categories each.
const MATCHES: usize = 2;
/// How long a granted hold waits for payment before it expires.
const HOLD_TTL: Duration = Duration::from_secs(5);

/// A fault as it went.
pub struct Injected {
    pub fault: Fault,
    /// Why it could not be injected or healed.
    pub error: Option<String>,
    /// Seconds from its heal until every platform's ledger had applied the
    /// log as far as it reached at the heal (none: not within a minute).
    pub converged_s: Option<f64>,
}

/// What a run did and what the checker found.
pub struct JepsenRun {
    pub options: JepsenOptions,
    pub faults: Vec<Injected>,
    /// Seconds from the last fault's heal to the clients' end.
    pub last_heal_s: f64,
    /// Seconds from the clients' end to a quiet market (`settle`).
    pub settled_after_s: f64,
    /// Whether every platform's ledger was the same once settled.
    pub ledgers_agreed: bool,
    pub report: Report,
}

impl JepsenRun {
    pub fn print(&self) {
        let o = &self.options;
        println!(
            "jepsen: seed {}, {:.0} s, {} platforms, {} clients, a fault every {:.0} s, {} tickets per category of {MATCHES} matches{}",
            o.seed,
            o.seconds,
            o.platforms,
            o.clients,
            o.fault_every_s,
            o.capacity,
            o.mutant.map(|m| format!(", mutant: {m:?}")).unwrap_or_default()
        );
        for f in &self.faults {
            let converged = match f.converged_s {
                Some(s) => format!("every ledger caught up {s:.1} s after the heal"),
                None => "the ledgers did not catch up within a minute of the heal".into(),
            };
            match &f.error {
                None => println!("  fault: {}; {converged}", f.fault),
                Some(e) => println!("  fault: {} (failed: {e})", f.fault),
            }
        }
        let r = &self.report;
        println!(
            "operations: {} ({} without an answer); log: {} messages, {} holds",
            r.operations, r.indeterminate, r.log_messages, r.holds
        );
        let after_heal = match self.faults.is_empty() {
            true => String::new(),
            false => format!(", {:.1} s after the last fault healed", self.settled_after_s + self.last_heal_s),
        };
        println!(
            "settled {:.1} s after the clients stopped{after_heal}: {}",
            self.settled_after_s,
            if self.ledgers_agreed { "every ledger the same" } else { "the ledgers DIFFER" }
        );
        let answers: Vec<String> = r.answers.iter().map(|(a, n)| format!("{a}: {n}")).collect();
        println!("answers: {}", answers.join(", "));
        let anomalies: Vec<String> = r.anomalies.iter().map(|(a, n)| format!("{a}: {n}")).collect();
        println!(
            "the rule's anomalies applying the log: {}",
            if anomalies.is_empty() { "none".into() } else { anomalies.join(", ") }
        );
        if r.expiries_moved_by_clock_steps > 0 {
            println!(
                "holds released early as a database's clock was stepped while they were held: {}",
                r.expiries_moved_by_clock_steps
            );
        }
        if r.violations.is_empty() {
            println!(
                "checked: serial, capacity, acknowledged, released once, closed, anomalies, own view, paid, \
                 refunded, admitted once, expiry — no violation"
            );
        } else {
            let mut by_property: BTreeMap<&str, Vec<&checker::Violation>> = BTreeMap::new();
            for v in &r.violations {
                by_property.entry(v.property).or_default().push(v);
            }
            println!("{} violations; the first of each property:", r.violations.len());
            for (property, found) in by_property {
                println!("{property}: {}", found.len());
                print!("{}", found[0]);
            }
        }
    }
}

pub async fn run(o: &JepsenOptions) -> anyhow::Result<JepsenRun> {
    anyhow::ensure!((1..=6).contains(&o.platforms), "1 to 6 platforms");
    // Faults kill the broker too: the run needs one of its own. And they
    // kill a platform's PostgreSQL or set its clock off: each platform's
    // database is on a server of the run's own (the broker's log stays on
    // the tests' server: in production the broker has no PostgreSQL to lose).
    let mut databases = Vec::new();
    for _ in 0..o.platforms {
        databases.push(OwnedPostgres::start().await?);
    }
    let local = |pg: &OwnedPostgres| std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, pg.port));
    let (broker, links) = match o.network {
        false => (OwnedBroker::start().await?, None),
        true => {
            let mut network = Network::create(o.platforms)?;
            let broker = OwnedBroker::start_advertising(network.host().into()).await?;
            network.forward(broker.port, (std::net::Ipv4Addr::LOCALHOST, broker.port).into()).await?;
            let mut database_ports = Vec::new();
            for pg in &databases {
                let port = ticktak_tests::process::free_port();
                network.forward(port, local(pg)).await?;
                database_ports.push(port);
            }
            let broker_port = broker.port;
            (broker, Some(Links { network, broker_port, database_ports }))
        }
    };
    anyhow::ensure!(ticktak_tests::override_brokers(broker.addr()), "broker already chosen");
    let placements: Vec<Placement> = (0..o.platforms)
        .map(|i| {
            let from_host = local(&databases[i]);
            match &links {
                None => Placement {
                    netns: None,
                    address: std::net::Ipv4Addr::LOCALHOST.into(),
                    database: Some(DatabaseAt { from_host, from_platform: from_host }),
                },
                Some(l) => Placement {
                    netns: Some(l.network.namespace(i)),
                    address: l.network.address(i).into(),
                    database: Some(DatabaseAt {
                        from_host,
                        from_platform: (l.network.host(), l.database_ports[i]).into(),
                    }),
                },
            }
        })
        .collect();
    let ttl = HOLD_TTL.as_secs().to_string();
    let extra = [("HOLD_TTL_SECS", ttl.as_str()), ("SWEEP_INTERVAL_MS", "200"), ("REPUBLISH_AFTER_SECS", "3")];
    // Kick-offs years away: refunds are open (they close before kick-off).
    let list = ticktak_core::masterlist::years_later(ticktak_tests::masterlist_with_capacity(MATCHES, o.capacity), 6);
    let capacities: BTreeMap<TicketType, u32> =
        list.iter().flat_map(|m| m.ticket_types().map(|(tt, capacity, _)| (tt, capacity))).collect();
    let types: Vec<TicketType> = capacities.keys().copied().collect();
    let mut market = Market::start_placed(&placements, &list, &extra).await?;
    market.broker = Some(broker);
    market.databases = databases;
    if o.mutant == Some(Mutant::Capacity) {
        let pool = market.pool(o.platforms - 1).await?;
        sqlx::query("UPDATE shop.ticket_types SET capacity = capacity * 10").execute(&pool).await?;
        pool.close().await;
    }
    let endpoints: Vec<Endpoint> = market
        .platforms
        .iter()
        .map(|p| Endpoint {
            platform: p.env.platform_id.clone(),
            api: p.reservations_url.clone(),
            internal: p.reservations_internal_url.clone(),
        })
        .collect();
    let sales_topic = market.platforms[0].env.topics().sales;
    let market = Arc::new(tokio::sync::Mutex::new(market));

    let history = Arc::new(History::new());
    let deadline = Instant::now() + Duration::from_secs_f64(o.seconds);
    let mut clients = Vec::new();
    for client in 0..o.clients {
        let (history, endpoints, types) = (history.clone(), endpoints.clone(), types.clone());
        let seed = o.seed.wrapping_mul(1_000_003).wrapping_add(client as u64);
        clients.push(tokio::spawn(async move {
            client::act(client, seed, &endpoints, &types, HOLD_TTL, &history, deadline).await
        }));
    }
    let kinds: &[faults::Kind] = if links.is_some() { &faults::KINDS } else { &faults::PROCESS_KINDS };
    let schedule = faults::schedule(o.seed, o.seconds, o.fault_every_s, o.platforms, kinds);
    let mut pools = Vec::new();
    for i in 0..o.platforms {
        pools.push(market.lock().await.pool(i).await?);
    }
    let pools = Arc::new(pools);
    let start = Instant::now();
    let mut injected = Vec::new();
    let mut clock_steps = Vec::new();
    for fault in schedule {
        tokio::time::sleep_until((start + Duration::from_secs_f64(fault.at_s)).into()).await;
        let on = history::unix_ms();
        let error = faults::inject(&market, links.as_ref(), &fault).await.err().map(|e| format!("{e:#}"));
        if fault.kind == faults::Kind::Skew {
            // The clock set off, and set right again.
            clock_steps.extend([on, history::unix_ms()]);
        }
        let (pools, topic) = (pools.clone(), sales_topic.clone());
        injected.push((fault, error, tokio::spawn(async move { caught_up_after(&pools, &topic).await })));
    }
    let last_heal = Instant::now();
    for c in clients {
        c.await?;
    }
    let quiet = Instant::now();
    let mut faults = Vec::new();
    for (fault, error, converged) in injected {
        faults.push(Injected { fault, error, converged_s: converged.await? });
    }
    for pool in pools.iter() {
        pool.close().await;
    }

    let market = Arc::try_unwrap(market).map_err(|_| anyhow::anyhow!("market still shared"))?.into_inner();
    let ledgers_agreed = settle(&market).await?;
    let settled_after_s = quiet.elapsed().as_secs_f64();
    let last_heal_s = (quiet - last_heal).as_secs_f64();
    let partitions = ticktak_tests::topic_partitions();
    let log = ticktak_tests::log::read_topic_to_end(&sales_topic, partitions).await?;
    let mut platforms = Vec::new();
    for i in 0..market.platforms.len() {
        platforms.push(platform_state(&market, i).await?);
    }
    market.stop().await;
    drop(links);
    let history = Arc::try_unwrap(history).map_err(|_| anyhow::anyhow!("history still shared"))?;
    let timing = Timing {
        start_unix_ms: history.start_unix_ms,
        hold_ttl_ms: HOLD_TTL.as_millis() as i64,
        clock_steps_unix_ms: clock_steps,
    };
    let history = history.into_ops();
    // Once settled, every hold is paid for or let go.
    let report = checker::check(&history, &log, partitions, &capacities, &platforms, true, &timing);
    Ok(JepsenRun { options: o.clone(), faults, last_heal_s, settled_after_s, ledgers_agreed, report })
}

/// Seconds from now until every platform's ledger (`pools`) has applied
/// `topic` as far as the log reaches now; none if not within a minute.
async fn caught_up_after(pools: &[sqlx::PgPool], topic: &str) -> Option<f64> {
    let start = Instant::now();
    let limit = Duration::from_secs(60);
    let partitions = ticktak_tests::topic_partitions();
    // Right after a heal of the broker, it may take a moment to answer.
    let ends = loop {
        match ticktak_tests::log::high_watermarks(topic, partitions).await {
            Ok(ends) => break ends,
            Err(_) if start.elapsed() < limit => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(_) => return None,
        }
    };
    while start.elapsed() < limit {
        let mut all = true;
        for pool in pools {
            let applied: Vec<(i32, i64)> =
                sqlx::query_as("SELECT partition, last_offset FROM shop.applied_offsets WHERE topic = $1")
                    .bind(topic)
                    .fetch_all(pool)
                    .await
                    .unwrap_or_default();
            all &= ends
                .iter()
                .zip(0..)
                .all(|(&end, p)| end == 0 || applied.iter().any(|&(a, last)| a == p && last >= end - 1));
        }
        if all {
            return Some(start.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Wait until the market is quiet and agrees: no reservation undecided or
/// still held (the clients pay for none, so every granted hold ends
/// cancelled or expired), no hold granted in any ledger, and every ledger
/// the same. Ledgers that stop changing for `STABLE` once no reservation is
/// open, without agreeing, are left to the checker to explain. Returns
/// whether the ledgers agree.
async fn settle(market: &Market) -> anyhow::Result<bool> {
    const STABLE: Duration = Duration::from_secs(10);
    let start = Instant::now();
    let mut pools = Vec::new();
    for i in 0..market.platforms.len() {
        pools.push(market.pool(i).await?);
    }
    let mut last: Option<(Vec<String>, Instant)> = None;
    loop {
        let (mut open, mut granted_anywhere) = (0i64, 0i64);
        let mut digests = Vec::new();
        for pool in &pools {
            let (undecided, granted): (i64, i64) = sqlx::query_as(
                "SELECT (SELECT count(*) FROM reservations.reservations WHERE status IN ('REQUESTED', 'HELD')), \
                        (SELECT count(*) FROM shop.holds WHERE status = 'GRANTED')",
            )
            .fetch_one(pool)
            .await?;
            open += undecided;
            granted_anywhere += granted;
            digests.push(crate::market::holds_digest(pool).await?);
        }
        let agree = digests.windows(2).all(|w| w[0] == w[1]);
        let stable_since = match &last {
            Some((before, since)) if *before == digests => *since,
            _ => Instant::now(),
        };
        // The platforms' own bound on an undecided request is
        // REQUEST_TIMEOUT_SECS (120 s): past it the market has not settled,
        // and the checker says where it disagrees.
        let done = open == 0 && ((agree && granted_anywhere == 0) || stable_since.elapsed() > STABLE);
        if done || start.elapsed() > Duration::from_secs(180) {
            for pool in pools {
                pool.close().await;
            }
            return Ok(agree);
        }
        last = Some((digests, stable_since));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What platform `i` ended with: its ledger's holds and counts, its reservations.
async fn platform_state(market: &Market, i: usize) -> anyhow::Result<PlatformState> {
    let pool = market.pool(i).await?;
    let holds: Vec<(uuid::Uuid, String)> =
        sqlx::query_as("SELECT hold_id, status FROM shop.holds").fetch_all(&pool).await?;
    let counts: Vec<(i16, i16, i32, i32)> =
        sqlx::query_as("SELECT match_number, category, held, sold FROM shop.ticket_types").fetch_all(&pool).await?;
    let reservations: Vec<(uuid::Uuid, String, Option<String>)> =
        sqlx::query_as("SELECT id, status, reason FROM reservations.reservations").fetch_all(&pool).await?;
    pool.close().await;
    let status = |s: &str| serde_json::from_value::<HoldStatus>(serde_json::Value::String(s.to_string()));
    Ok(PlatformState {
        platform: market.platforms[i].env.platform_id.clone(),
        holds: holds.into_iter().map(|(id, s)| Ok((HoldId(id), status(&s)?))).collect::<anyhow::Result<_>>()?,
        counts: counts
            .into_iter()
            .filter_map(|(m, c, held, sold)| {
                let tt = TicketType::new(MatchNumber::new(i64::from(m)).ok()?, Category::new(i64::from(c)).ok()?);
                Some((tt, (held.max(0) as u32, sold.max(0) as u32)))
            })
            .collect(),
        reservations: reservations
            .into_iter()
            .map(|(id, status, reason)| (HoldId(id), (status, reason)))
            .collect::<HashMap<_, _>>(),
    })
}
