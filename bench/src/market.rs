//! P platforms (shop, reservations, shop-consumer each, as processes)
//! sharing one broker, each with its own database.

use std::collections::HashMap;
use std::time::Duration;

use ticktak_core::masterlist::MasterListMatch;
use ticktak_tests::broker::OwnedBroker;
use ticktak_tests::postgres::OwnedPostgres;
use ticktak_tests::process::{free_port, spawn_in, terminate, wait_ready};
use ticktak_tests::{ensure_topics, masterlist_with_capacity, publish_masterlist, unique, PlatformEnv};
use tokio::process::Child;

pub struct PlatformProcs {
    pub env: PlatformEnv,
    pub shop_url: String,
    pub reservations_url: String,
    /// Reservations' internal listener (what payments calls).
    pub reservations_internal_url: String,
    pub consumer_url: String,
    pub children: Vec<(&'static str, Child)>,
    pub vars: HashMap<String, String>,
    /// The network namespace its processes run in (none: the host's).
    pub netns: Option<String>,
    /// Its database, as the host reaches it.
    pub database_url: String,
}

/// Where a platform's processes run: the host's network, or a network
/// namespace of their own where they listen on `address` (the broker at the
/// address it advertises); and the PostgreSQL server of its database.
#[derive(Debug, Clone)]
pub struct Placement {
    pub netns: Option<String>,
    pub address: std::net::IpAddr,
    /// None: the tests' server.
    pub database: Option<DatabaseAt>,
}

/// A PostgreSQL server as the host reaches it and as the platform does.
#[derive(Debug, Clone, Copy)]
pub struct DatabaseAt {
    pub from_host: std::net::SocketAddr,
    pub from_platform: std::net::SocketAddr,
}

impl Placement {
    pub fn host() -> Self {
        Self { netns: None, address: std::net::Ipv4Addr::LOCALHOST.into(), database: None }
    }
}

pub struct Market {
    pub platforms: Vec<PlatformProcs>,
    pub topic_env: String,
    /// A broker this run started itself (so chaos can kill it too).
    pub broker: Option<OwnedBroker>,
    /// PostgreSQL servers this run started itself, one per platform for
    /// its database (so faults can kill one, or set its clock off).
    pub databases: Vec<OwnedPostgres>,
}

impl Market {
    /// Start `n` platforms named a, b, c… and publish a master list of
    /// `matches` matches with `capacity` per category.
    pub async fn start(n: usize, matches: usize, capacity: u32, extra: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::start_with_list(n, &masterlist_with_capacity(matches, capacity), extra).await
    }

    /// Start `n` platforms named a, b, c… and publish `list`.
    pub async fn start_with_list(n: usize, list: &[MasterListMatch], extra: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::start_placed(&vec![Placement::host(); n], list, extra).await
    }

    /// Start a platform per placement, named a, b, c…, and publish `list`.
    pub async fn start_placed(
        placements: &[Placement],
        list: &[MasterListMatch],
        extra: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let n = placements.len();
        let topic_env = unique("bench");
        let names = ["a", "b", "c", "d", "e", "f"];
        anyhow::ensure!((1..=names.len()).contains(&n), "1 to {} platforms", names.len());
        anyhow::ensure!(!list.is_empty(), "a master list of at least one match");
        let (first_match, capacity) = (list[0].match_number.get(), list[0].availability.category1.available);
        let first = PlatformEnv::new(names[0], &topic_env);
        ensure_topics(&first.topics()).await;
        publish_masterlist(&first.topics(), list).await;
        let mut platforms = Vec::new();
        for (name, placement) in names.iter().zip(placements) {
            let env = PlatformEnv::new(name, &topic_env);
            let (shop_port, res_port, con_port) = (free_port(), free_port(), free_port());
            let res_internal_port = free_port();
            let at = |port: u16| format!("http://{}", std::net::SocketAddr::new(placement.address, port));
            let (shop_url, reservations_url, consumer_url) = (at(shop_port), at(res_port), at(con_port));
            let reservations_internal_url = at(res_internal_port);
            let mut vars: HashMap<String, String> = env.vars();
            for (k, v) in [
                ("SHOP_INTERNAL_PORT", shop_port.to_string()),
                ("RESERVATIONS_PORT", res_port.to_string()),
                ("RESERVATIONS_INTERNAL_PORT", res_internal_port.to_string()),
                ("SHOP_CONSUMER_INTERNAL_PORT", con_port.to_string()),
                ("SHOP_URL", shop_url.clone()),
                ("RESERVATIONS_URL", reservations_internal_url.clone()),
                ("HOLD_TTL_SECS", "3600".into()),
                // A few hundred buyers place the race's thousands of holds.
                ("MAX_TICKETS_PER_MATCH", "0".into()),
                ("MAX_OPEN_HOLDS", "0".into()),
                // …all from 127.0.0.1: the race measures the market, not the
                // rate limits (the attack benchmark measures those).
                ("RATE_LIMIT_SCALE", "0".into()),
            ] {
                vars.insert(k.into(), v);
            }
            for (k, v) in extra {
                vars.insert(k.to_string(), v.to_string());
            }
            if placement.netns.is_some() {
                // Reachable from the host, where the clients are.
                vars.insert("BIND_ADDR".into(), placement.address.to_string());
            }
            let mut database_url = vars["DATABASE_URL"].clone();
            if let Some(at) = placement.database {
                vars.insert("DATABASE_URL".into(), on_server(&database_url, at.from_platform)?);
                database_url = on_server(&database_url, at.from_host)?;
            }
            let netns = placement.netns.clone();
            let mut children = vec![("shop", spawn_in(netns.as_deref(), "shop", &vars))];
            wait_ready(&format!("{shop_url}/ready")).await;
            children.push(("reservations", spawn_in(netns.as_deref(), "reservations", &vars)));
            children.push(("shop-consumer", spawn_in(netns.as_deref(), "shop-consumer", &vars)));
            wait_ready(&format!("{reservations_url}/ready")).await;
            wait_ready(&format!("{consumer_url}/ready")).await;
            platforms.push(PlatformProcs {
                env,
                shop_url,
                reservations_url,
                reservations_internal_url,
                consumer_url,
                children,
                vars,
                netns,
                database_url,
            });
        }
        let http = reqwest::Client::new();
        for p in &platforms {
            ticktak_tests::eventually(Duration::from_secs(60), "master list on every platform", || async {
                let a: serde_json::Value = http
                    .get(format!("{}/api/matches/{first_match}/availability", p.shop_url))
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                (a["categories"][0]["capacity"] == capacity).then_some(())
            })
            .await;
        }
        Ok(Self { platforms, topic_env, broker: None, databases: Vec::new() })
    }

    /// SIGKILL process `which` of platform `platform` and start it again.
    pub async fn kill_and_restart(&mut self, platform: usize, which: usize) -> String {
        self.kill(platform, which).await;
        self.restart(platform, which)
    }

    /// SIGKILL process `which` of platform `platform` (down until `restart`).
    pub async fn kill(&mut self, platform: usize, which: usize) {
        let (_, child) = &mut self.platforms[platform].children[which];
        let _ = child.start_kill();
        let _ = child.wait().await;
    }

    /// Start process `which` of platform `platform` again; returns its name.
    pub fn restart(&mut self, platform: usize, which: usize) -> String {
        let p = &mut self.platforms[platform];
        let (name, child) = &mut p.children[which];
        *child = spawn_in(p.netns.as_deref(), name, &p.vars);
        format!("{}/{name}", p.env.platform_id)
    }

    /// Peak resident memory (VmHWM) of every process, in MiB.
    pub fn peak_rss_mib(&self) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        for p in &self.platforms {
            for (name, child) in &p.children {
                let Some(pid) = child.id() else { continue };
                let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                let kb = status
                    .lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0);
                out.push((format!("{}/{name}", p.env.platform_id), kb / 1024.0));
            }
        }
        out
    }

    /// CPU time (user + system) every process has used so far, in seconds.
    pub fn cpu_seconds(&self) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        for p in &self.platforms {
            for (name, child) in &p.children {
                let Some(pid) = child.id() else { continue };
                out.push((format!("{}/{name}", p.env.platform_id), cpu_of(pid)));
            }
        }
        out
    }

    pub async fn pool(&self, i: usize) -> anyhow::Result<sqlx::PgPool> {
        Ok(sqlx::PgPool::connect(&self.platforms[i].database_url).await?)
    }

    /// SIGKILL and restart this run's own broker.
    pub async fn kill_and_restart_broker(&mut self) -> String {
        match &mut self.broker {
            Some(b) => match b.kill_and_restart().await {
                Ok(()) => "broker".into(),
                Err(e) => format!("broker (restart failed: {e})"),
            },
            None => "broker (not owned: skipped)".into(),
        }
    }

    /// SIGTERM everything and wait.
    pub async fn stop(self) {
        for p in &self.platforms {
            for (_, c) in &p.children {
                terminate(c);
            }
        }
        for p in self.platforms {
            for (_, mut c) in p.children {
                let _ = tokio::time::timeout(Duration::from_secs(15), c.wait()).await;
            }
        }
        if let Some(b) = self.broker {
            b.stop().await;
        }
        drop(self.databases);
    }
}

/// `url` with the host and port of `server`.
fn on_server(url: &str, server: std::net::SocketAddr) -> anyhow::Result<String> {
    let mut url = reqwest::Url::parse(url)?;
    url.set_ip_host(server.ip()).map_err(|()| anyhow::anyhow!("a database URL without a host"))?;
    url.set_port(Some(server.port())).map_err(|()| anyhow::anyhow!("a database URL without a port"))?;
    Ok(url.to_string())
}

/// A digest of a platform's ledger: every hold and its status (equal on
/// every platform once they have applied the same log).
pub async fn holds_digest(pool: &sqlx::PgPool) -> sqlx::Result<String> {
    sqlx::query_scalar(
        "SELECT coalesce(md5(string_agg(hold_id::text || status, ',' ORDER BY hold_id)), '') FROM shop.holds",
    )
    .fetch_one(pool)
    .await
}

/// utime + stime of a process in seconds (assumes the usual 100 ticks/s).
pub fn cpu_of(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds used by every process whose command name starts with `prefix`
/// (PostgreSQL backends, the broker).
pub fn cpu_of_processes(prefix: &str) -> f64 {
    cpu_of_processes_with(prefix, "")
}

/// CPU seconds of the processes whose command name starts with `prefix` and
/// whose command line contains `title` (a PostgreSQL backend's command line
/// names its database: `postgres: ticktak ticktak_bench_broker …`).
pub fn cpu_of_processes_with(prefix: &str, title: &str) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0.0 };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).map(|c| c.trim().starts_with(prefix)).unwrap_or(false)
        })
        .filter(|pid| {
            title.is_empty()
                || std::fs::read(format!("/proc/{pid}/cmdline"))
                    .map(|c| String::from_utf8_lossy(&c).contains(title))
                    .unwrap_or(false)
        })
        .map(cpu_of)
        .sum()
}
