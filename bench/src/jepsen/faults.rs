//! Faults, drawn from a seed: the same seed gives the same schedule.
//!
//! Each fault lasts a few seconds and is healed before the next one starts:
//! a process of a platform or the broker killed with SIGKILL and started
//! again, or paused with SIGSTOP and resumed with SIGCONT; a platform's
//! PostgreSQL killed with SIGKILL and started again, or its clock set off
//! (libfaketime); a platform cut
//! from the broker, from its database or from both, its packets lost at
//! random, or its traffic to both slowed (`network`, each platform on a
//! network of its own).

use std::time::Duration;

use ticktak_tests::log::Rng;

use super::network::Network;
use crate::market::Market;

/// The processes of a platform, in `Market`'s order.
const PROCESSES: [&str; 3] = ["shop", "reservations", "shop-consumer"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// SIGKILL a platform's process, start it again after the pause.
    Kill,
    /// SIGSTOP a platform's process, SIGCONT it after the pause.
    Pause,
    /// SIGKILL the broker, start it again after the pause.
    KillBroker,
    /// SIGSTOP the broker, SIGCONT it after the pause.
    PauseBroker,
    /// SIGKILL a platform's PostgreSQL (the server and every backend),
    /// start it again after the pause (crash recovery).
    KillDatabase,
    /// Set the clock of a platform's PostgreSQL `amount` s off the
    /// machine's (and of its processes), back after the pause.
    Skew,
    /// Cut a platform from the broker (its packets dropped both ways).
    CutBroker,
    /// Cut a platform from its database.
    CutDatabase,
    /// Cut a platform from the broker and its database (its buyers still
    /// reach it).
    Isolate,
    /// Drop `amount` % of a platform's packets, in and out.
    Loss,
    /// Hold a platform's traffic to the broker and its database `amount` ms
    /// each way.
    Latency,
}

/// Faults of processes: they need no network of the platforms' own.
pub const PROCESS_KINDS: [Kind; 6] =
    [Kind::Kill, Kind::Pause, Kind::KillBroker, Kind::PauseBroker, Kind::KillDatabase, Kind::Skew];
pub const KINDS: [Kind; 11] = [
    Kind::Kill,
    Kind::Pause,
    Kind::KillBroker,
    Kind::PauseBroker,
    Kind::KillDatabase,
    Kind::Skew,
    Kind::CutBroker,
    Kind::CutDatabase,
    Kind::Isolate,
    Kind::Loss,
    Kind::Latency,
];

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fault {
    pub kind: Kind,
    /// The platform and process (for a platform's fault).
    pub platform: usize,
    pub process: usize,
    /// Seconds from the run's start.
    pub at_s: f64,
    /// How long the process stays down or paused, or the network faulty.
    pub lasts_s: f64,
    /// The share of packets lost (%, 10–40), the delay (ms, 50–300) or the
    /// clock's offset (s, 10–60 ahead or behind).
    pub amount: i64,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let platform = (b'a' + self.platform as u8) as char;
        let what = match self.kind {
            Kind::Kill => format!("kill -9 {platform}/{}", PROCESSES[self.process]),
            Kind::Pause => format!("pause {platform}/{}", PROCESSES[self.process]),
            Kind::KillBroker => "kill -9 the broker".into(),
            Kind::PauseBroker => "pause the broker".into(),
            Kind::KillDatabase => format!("kill -9 {platform}'s PostgreSQL"),
            Kind::Skew => format!("set the clock of {platform}'s PostgreSQL {:+} s off", self.amount),
            Kind::CutBroker => format!("cut {platform} from the broker"),
            Kind::CutDatabase => format!("cut {platform} from its database"),
            Kind::Isolate => format!("cut {platform} from the broker and its database"),
            Kind::Loss => format!("drop {} % of {platform}'s packets", self.amount),
            Kind::Latency => format!("delay {platform}'s traffic {} ms each way", self.amount),
        };
        write!(f, "{what} at {:.1} s for {:.1} s", self.at_s, self.lasts_s)
    }
}

/// A fault every `every_s` seconds over `seconds`, from `seed`: the first
/// are one of each of `kinds` (in an order the seed draws), the rest any.
pub fn schedule(seed: u64, seconds: f64, every_s: f64, platforms: usize, kinds: &[Kind]) -> Vec<Fault> {
    let mut rng = Rng::new(seed ^ 0x6a65_7073_656e);
    let mut first = kinds.to_vec();
    for i in (1..first.len()).rev() {
        first.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut out = Vec::new();
    let mut at = every_s / 2.0;
    while at + every_s / 2.0 < seconds {
        let kind = first.get(out.len()).copied().unwrap_or_else(|| kinds[rng.below(kinds.len() as u64) as usize]);
        // Down for a third to two thirds of the interval: healed before the next.
        let lasts_s = every_s * (1.0 + rng.below(100) as f64 / 100.0) / 3.0;
        let platform = rng.below(platforms as u64) as usize;
        let process = rng.below(PROCESSES.len() as u64) as usize;
        let amount = match kind {
            Kind::Loss => 10 + rng.below(31) as i64,
            Kind::Latency => 50 + rng.below(251) as i64,
            Kind::Skew => (10 + rng.below(51) as i64) * if rng.below(2) == 0 { 1 } else { -1 },
            _ => 0,
        };
        out.push(Fault { kind, platform, process, at_s: at, lasts_s, amount });
        at += every_s;
    }
    out
}

/// Each platform's own network, and the ports on the host that it reaches
/// the broker and its database by (one per platform).
pub struct Links {
    pub network: Network,
    pub broker_port: u16,
    pub database_ports: Vec<u16>,
}

fn signal(pid: Option<u32>, signal: &str) {
    if let Some(pid) = pid {
        let _ = std::process::Command::new("kill").args([signal, &pid.to_string()]).status();
    }
}

/// Inject `fault` into `market` and heal it `lasts_s` later.
pub async fn inject(market: &tokio::sync::Mutex<Market>, links: Option<&Links>, fault: &Fault) -> anyhow::Result<()> {
    let down = Duration::from_secs_f64(fault.lasts_s);
    let links = || links.ok_or_else(|| anyhow::anyhow!("the platforms have no network of their own"));
    let i = fault.platform;
    match fault.kind {
        Kind::Kill => {
            market.lock().await.kill(i, fault.process).await;
            tokio::time::sleep(down).await;
            market.lock().await.restart(i, fault.process);
        }
        Kind::Pause => {
            let pid = market.lock().await.platforms[i].children[fault.process].1.id();
            signal(pid, "-STOP");
            tokio::time::sleep(down).await;
            signal(pid, "-CONT");
        }
        Kind::KillBroker => {
            let mut m = market.lock().await;
            let broker = m.broker.as_mut().ok_or_else(|| anyhow::anyhow!("the run has no broker of its own"))?;
            broker.kill().await;
            tokio::time::sleep(down).await;
            broker.restart().await?;
        }
        Kind::PauseBroker => {
            let pid = market.lock().await.broker.as_ref().and_then(|b| b.pid());
            signal(pid, "-STOP");
            tokio::time::sleep(down).await;
            signal(pid, "-CONT");
        }
        Kind::KillDatabase => {
            let mut m = market.lock().await;
            let pg = m.databases.get_mut(i).ok_or_else(|| anyhow::anyhow!("the run has no PostgreSQL of its own"))?;
            pg.kill().await;
            tokio::time::sleep(down).await;
            pg.restart().await?;
        }
        Kind::Skew => {
            let m = market.lock().await;
            let pg = m.databases.get(i).ok_or_else(|| anyhow::anyhow!("the run has no PostgreSQL of its own"))?;
            pg.skew(fault.amount)?;
            drop(m);
            tokio::time::sleep(down).await;
            market.lock().await.databases[i].skew(0)?;
        }
        Kind::CutBroker | Kind::CutDatabase | Kind::Isolate | Kind::Loss | Kind::Latency => {
            let l = links()?;
            match fault.kind {
                Kind::CutBroker => l.network.cut(i, &[l.broker_port])?,
                Kind::CutDatabase => l.network.cut(i, &[l.database_ports[i]])?,
                Kind::Isolate => l.network.cut(i, &[l.broker_port, l.database_ports[i]])?,
                Kind::Loss => l.network.lose(i, fault.amount as u8)?,
                _ => l.network.delay(i, Duration::from_millis(fault.amount as u64)),
            }
            tokio::time::sleep(down).await;
            l.network.heal(i)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_one_schedule_with_every_kind_first_and_each_fault_healed_before_the_next() {
        let s = schedule(7, 100.0, 8.0, 2, &KINDS);
        assert_eq!(s, schedule(7, 100.0, 8.0, 2, &KINDS), "the same seed, the same schedule");
        assert_ne!(s, schedule(8, 100.0, 8.0, 2, &KINDS), "another seed, another schedule");
        let mut first: Vec<Kind> = s[..KINDS.len()].iter().map(|f| f.kind).collect();
        first.sort_by_key(|k| KINDS.iter().position(|x| x == k));
        assert_eq!(first, KINDS, "one of each kind first: {s:?}");
        for w in s.windows(2) {
            assert!(w[0].at_s + w[0].lasts_s < w[1].at_s, "{} overlaps {}", w[0], w[1]);
        }
        assert!(s.iter().all(|f| f.platform < 2 && f.process < 3 && f.at_s + f.lasts_s < 100.0), "{s:?}");
        let only = schedule(7, 80.0, 8.0, 2, &PROCESS_KINDS);
        assert!(only.iter().all(|f| PROCESS_KINDS.contains(&f.kind)), "only the kinds asked for: {only:?}");
        for f in &s {
            match f.kind {
                Kind::Loss => assert!((10..=40).contains(&f.amount), "{f}"),
                Kind::Latency => assert!((50..=300).contains(&f.amount), "{f}"),
                Kind::Skew => assert!((10..=60).contains(&f.amount.abs()), "{f}"),
                _ => assert_eq!(f.amount, 0, "{f}"),
            }
        }
    }
}
