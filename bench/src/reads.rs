//! Scenario 3, the read path: `GET /api/matches/{n}/availability` and
//! `GET /api/matches` under wrk (Debian's package), reported as requests/s
//! and p99 latency.

use std::process::Command;

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct ReadResult {
    pub url: String,
    pub requests_per_s: f64,
    pub p99_ms: f64,
}

/// Run wrk for `seconds` against `url` with `connections` connections.
pub fn wrk(url: &str, seconds: u32, connections: u32) -> anyhow::Result<ReadResult> {
    wrk_pinned(url, seconds, connections, None)
}

/// `wrk`, on one core (`taskset -c CORE`) when `core` is given.
pub fn wrk_pinned(url: &str, seconds: u32, connections: u32, core: Option<usize>) -> anyhow::Result<ReadResult> {
    let args = ["-t2".to_string(), format!("-c{connections}"), format!("-d{seconds}s"), "--latency".into(), url.into()];
    let mut command = match core {
        Some(core) => {
            let mut c = Command::new("taskset");
            c.args(["-c", &core.to_string(), "wrk"]);
            c
        }
        None => Command::new("wrk"),
    };
    let out = command.args(args).output().map_err(|e| anyhow::anyhow!("cannot run wrk (apt-get install wrk): {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("unexpected wrk output: {text}"))?;
    let p99 = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("99%"))
        .and_then(|l| l.split_whitespace().nth(1))
        .map(to_ms)
        .unwrap_or(f64::NAN);
    Ok(ReadResult { url: url.to_string(), requests_per_s: rps, p99_ms: p99 })
}

/// wrk prints latencies as `812.00us`, `1.23ms` or `1.01s`.
fn to_ms(v: &str) -> f64 {
    let (num, factor) = if let Some(n) = v.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (v, 1.0)
    };
    num.parse::<f64>().map(|n| n * factor).unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    #[test]
    fn wrk_latency_units() {
        assert_eq!(super::to_ms("812.00us"), 0.812);
        assert_eq!(super::to_ms("1.50ms"), 1.5);
        assert_eq!(super::to_ms("2.00s"), 2000.0);
    }
}
