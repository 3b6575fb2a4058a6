//! Faults, drawn from a seed: the same seed gives the same schedule.
//!
//! Each fault lasts a few seconds and is healed before the next one starts:
//! a process of a platform or the broker killed with SIGKILL and started
//! again, or paused with SIGSTOP and resumed with SIGCONT.

use std::time::Duration;

use ticktak_tests::log::Rng;

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
}

pub const KINDS: [Kind; 4] = [Kind::Kill, Kind::Pause, Kind::KillBroker, Kind::PauseBroker];

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fault {
    pub kind: Kind,
    /// The platform and process (for a platform's fault).
    pub platform: usize,
    pub process: usize,
    /// Seconds from the run's start.
    pub at_s: f64,
    /// How long the process stays down or paused.
    pub lasts_s: f64,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let platform = (b'a' + self.platform as u8) as char;
        let what = match self.kind {
            Kind::Kill => format!("kill -9 {platform}/{}", PROCESSES[self.process]),
            Kind::Pause => format!("pause {platform}/{}", PROCESSES[self.process]),
            Kind::KillBroker => "kill -9 the broker".into(),
            Kind::PauseBroker => "pause the broker".into(),
        };
        write!(f, "{what} at {:.1} s for {:.1} s", self.at_s, self.lasts_s)
    }
}

/// A fault every `every_s` seconds over `seconds`, from `seed`: the first
/// four are one of each kind (in an order the seed draws), the rest any.
pub fn schedule(seed: u64, seconds: f64, every_s: f64, platforms: usize) -> Vec<Fault> {
    let mut rng = Rng::new(seed ^ 0x6a65_7073_656e);
    let mut kinds = KINDS.to_vec();
    for i in (1..kinds.len()).rev() {
        kinds.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut out = Vec::new();
    let mut at = every_s / 2.0;
    while at + every_s / 2.0 < seconds {
        let kind = kinds.get(out.len()).copied().unwrap_or_else(|| KINDS[rng.below(KINDS.len() as u64) as usize]);
        // Down for a third to two thirds of the interval: healed before the next.
        let lasts_s = every_s * (1.0 + rng.below(100) as f64 / 100.0) / 3.0;
        out.push(Fault {
            kind,
            platform: rng.below(platforms as u64) as usize,
            process: rng.below(PROCESSES.len() as u64) as usize,
            at_s: at,
            lasts_s,
        });
        at += every_s;
    }
    out
}

fn signal(pid: Option<u32>, signal: &str) {
    if let Some(pid) = pid {
        let _ = std::process::Command::new("kill").args([signal, &pid.to_string()]).status();
    }
}

/// Inject `fault` into `market` and heal it `lasts_s` later.
pub async fn inject(market: &tokio::sync::Mutex<Market>, fault: &Fault) -> anyhow::Result<()> {
    let down = Duration::from_secs_f64(fault.lasts_s);
    match fault.kind {
        Kind::Kill => {
            market.lock().await.kill(fault.platform, fault.process).await;
            tokio::time::sleep(down).await;
            market.lock().await.restart(fault.platform, fault.process);
        }
        Kind::Pause => {
            let pid = market.lock().await.platforms[fault.platform].children[fault.process].1.id();
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
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_one_schedule_with_every_kind_first_and_each_fault_healed_before_the_next() {
        let s = schedule(7, 60.0, 8.0, 2);
        assert_eq!(s, schedule(7, 60.0, 8.0, 2), "the same seed, the same schedule");
        assert_ne!(s, schedule(8, 60.0, 8.0, 2), "another seed, another schedule");
        let mut first: Vec<Kind> = s[..4].iter().map(|f| f.kind).collect();
        first.sort_by_key(|k| KINDS.iter().position(|x| x == k));
        assert_eq!(first, KINDS, "one of each kind first: {s:?}");
        for w in s.windows(2) {
            assert!(w[0].at_s + w[0].lasts_s < w[1].at_s, "{} overlaps {}", w[0], w[1]);
        }
        assert!(s.iter().all(|f| f.platform < 2 && f.process < 3 && f.at_s + f.lasts_s < 60.0), "{s:?}");
    }
}
