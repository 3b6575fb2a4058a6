//! How fast the waiting room lets buyers in: toward the platform's health
//! target, between the operator's floor and ceiling.
//!
//! Each second the admitter reads the platform's health — the p99 of the
//! holds decided in the last [`WINDOW`], the requests the log has not
//! decided yet, the outbox rows not yet published — and moves the rate:
//! up by a tenth while every signal is under its limit, down by 30 % as
//! soon as one is over (additive-increase would take minutes to reach a
//! big ceiling; a multiplicative step gets there in seconds and backs off
//! as fast as TCP does). The rate never leaves `[floor, ceiling]`.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How far back the hold latencies count.
pub const WINDOW: Duration = Duration::from_secs(10);
/// Most latencies kept (a busy platform's last few seconds are plenty).
const MAX_SAMPLES: usize = 20_000;

/// The operator's settings (`QUEUE_*`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PaceSettings {
    /// Buyers per minute the room always admits (`QUEUE_ADMIT_FLOOR_PER_MIN`).
    pub floor: f64,
    /// Buyers per minute it never exceeds (`QUEUE_ADMIT_CEILING_PER_MIN`).
    pub ceiling: f64,
    /// The hold p99 to stay under (`QUEUE_TARGET_HOLD_P99_MS`).
    pub target_p99: Duration,
    /// Most undecided requests to stay under (`QUEUE_MAX_UNDECIDED`).
    pub max_undecided: i64,
    /// Most unpublished outbox rows to stay under (`QUEUE_MAX_OUTBOX`).
    pub max_outbox: i64,
}

/// What the platform looks like now.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Health {
    /// `None`: no hold in the window.
    pub hold_p99: Option<Duration>,
    pub undecided: i64,
    pub outbox: i64,
}

impl Health {
    /// Which limit it is over, if any (for the log and the dashboard).
    pub fn over(&self, s: &PaceSettings) -> Option<&'static str> {
        if self.hold_p99.is_some_and(|p| p > s.target_p99) {
            Some("hold p99")
        } else if self.undecided > s.max_undecided {
            Some("undecided requests")
        } else if self.outbox > s.max_outbox {
            Some("outbox backlog")
        } else {
            None
        }
    }
}

/// The admission rate as it moves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    pub settings: PaceSettings,
    /// Buyers per minute now.
    pub rate: f64,
}

impl Pace {
    /// Start at the floor.
    pub fn new(settings: PaceSettings) -> Self {
        Self { settings, rate: settings.floor }
    }

    /// The next second's rate.
    pub fn next(&mut self, health: &Health) -> f64 {
        let s = &self.settings;
        self.rate = if health.over(s).is_some() { self.rate * 0.7 } else { self.rate * 1.1 };
        self.rate = self.rate.clamp(s.floor, s.ceiling);
        self.rate
    }
}

/// How long recent holds took, for the p99.
#[derive(Debug, Default)]
pub struct HoldClock {
    samples: Mutex<VecDeque<(Instant, Duration)>>,
}

impl HoldClock {
    pub fn record(&self, took: Duration) {
        let mut samples = self.samples.lock().expect("hold clock lock");
        if samples.len() == MAX_SAMPLES {
            samples.pop_front();
        }
        samples.push_back((Instant::now(), took));
    }

    /// The p99 of the holds of the last [`WINDOW`].
    pub fn p99(&self) -> Option<Duration> {
        let mut samples = self.samples.lock().expect("hold clock lock");
        while samples.front().is_some_and(|(at, _)| at.elapsed() > WINDOW) {
            samples.pop_front();
        }
        let mut took: Vec<Duration> = samples.iter().map(|(_, d)| *d).collect();
        drop(samples);
        if took.is_empty() {
            return None;
        }
        took.sort_unstable();
        Some(took[(took.len() * 99).div_ceil(100) - 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> PaceSettings {
        PaceSettings {
            floor: 60.0,
            ceiling: 600.0,
            target_p99: Duration::from_millis(500),
            max_undecided: 100,
            max_outbox: 1000,
        }
    }

    #[test]
    fn the_rate_climbs_while_healthy_backs_off_when_not_and_stays_in_bounds() {
        let mut pace = Pace::new(settings());
        assert_eq!(pace.rate, 60.0, "starts at the floor");
        let healthy = Health { hold_p99: Some(Duration::from_millis(100)), undecided: 3, outbox: 0 };
        for _ in 0..100 {
            pace.next(&healthy);
        }
        assert_eq!(pace.rate, 600.0, "reaches the ceiling, never above");
        let slow = Health { hold_p99: Some(Duration::from_millis(900)), ..healthy };
        assert_eq!(slow.over(&pace.settings), Some("hold p99"));
        assert!((pace.next(&slow) - 420.0).abs() < 1e-9);
        let backlog = Health { undecided: 101, ..healthy };
        assert_eq!(backlog.over(&pace.settings), Some("undecided requests"));
        assert_eq!(Health { outbox: 1001, ..healthy }.over(&pace.settings), Some("outbox backlog"));
        for _ in 0..100 {
            pace.next(&backlog);
        }
        assert_eq!(pace.rate, 60.0, "never below the floor");
        assert_eq!(Health::default().over(&pace.settings), None, "no holds at all is healthy");
    }

    #[test]
    fn the_p99_is_of_the_recent_holds() {
        let clock = HoldClock::default();
        assert_eq!(clock.p99(), None);
        for ms in 1..=100 {
            clock.record(Duration::from_millis(ms));
        }
        assert_eq!(clock.p99(), Some(Duration::from_millis(99)));
        clock.record(Duration::from_secs(5));
        assert_eq!(clock.p99(), Some(Duration::from_millis(100)));
    }
}
