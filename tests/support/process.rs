//! Services as processes (for SIGKILL and exit-code tests), from the
//! binaries `make test` builds (`TICKTAK_BIN_DIR`, default target/debug).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;

use tokio::process::{Child, Command};

pub fn bin(name: &str) -> PathBuf {
    let dir = std::env::var("TICKTAK_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug"));
    let path = dir.join(name);
    assert!(path.exists(), "{} not built; run `cargo build --bins` (make test does)", path.display());
    path
}

/// Start a service binary with exactly `vars` (plus PATH) as environment.
/// Its stderr is piped (for exit-message tests); its logs go to
/// `target/test-logs/{name}-{pid}.log`.
pub fn spawn(name: &str, vars: &HashMap<String, String>) -> Child {
    spawn_in(None, name, vars)
}

/// [`spawn`], inside network namespace `netns` when given (`ip netns exec`,
/// which execs the service itself: the child's pid is the service's).
pub fn spawn_in(netns: Option<&str>, name: &str, vars: &HashMap<String, String>) -> Child {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-logs");
    std::fs::create_dir_all(&dir).expect("log dir");
    let log = dir.join(format!("{name}-{}.log", crate::unique("")));
    let stdout = std::fs::File::create(&log).map(Stdio::from).unwrap_or_else(|_| Stdio::null());
    let mut command = match netns {
        None => Command::new(bin(name)),
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(bin(name));
            c
        }
    };
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", std::env::var("TEST_SERVICE_LOG").unwrap_or_else(|_| "info,rdkafka=warn,sqlx=warn".into()))
        .envs(vars)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("service binary starts")
}

/// Send SIGTERM (graceful stop).
pub fn terminate(child: &Child) {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
    }
}

/// A port nothing listens on right now and never handed out before in this
/// test process, below Linux's ephemeral range (32768–60999): listeners on
/// port 0 — every in-process service, and the public listeners of
/// processes — get ports from that range, so they can never take a port
/// handed out here before its process binds it.
///
/// A port stays handed out for the whole run: a test that kills a process
/// and starts it again on the same port (a platform's reservations, a
/// broker) leaves that port free in between, and another test running
/// beside it must not be given it then — its own service would answer on
/// the restarted one's address, and the restarted one could not bind.
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let random = uuid::Uuid::now_v7().as_u128() & 0xffff_ffff;
        let port = 20_000 + (random % 12_000) as u16;
        let mut handed_out = HANDED_OUT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !handed_out.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            handed_out.insert(port);
            return port;
        }
    }
}

/// Wait until `url` answers 200.
pub async fn wait_ready(url: &str) {
    let http = reqwest::Client::new();
    crate::eventually(std::time::Duration::from_secs(60), url, || async {
        let res = http.get(url).send().await.ok()?;
        (res.status() == 200).then_some(())
    })
    .await
}

/// The value of a counter in a service's `/metrics` text (0 when absent).
pub async fn metric(base_url: &str, name: &str) -> f64 {
    let text = reqwest::get(format!("{base_url}/metrics")).await.expect("metrics").text().await.unwrap_or_default();
    text.lines()
        .filter(|l| l.split([' ', '{']).next() == Some(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::free_port;

    #[test]
    fn a_port_is_handed_out_once_per_run_even_while_nothing_listens_on_it() {
        // 3,000 draws from 12,000 ports would repeat one about 370 times
        // if a port nothing listens on could be handed out again.
        let mut seen = std::collections::HashSet::new();
        for _ in 0..3_000 {
            let port = free_port();
            assert!(seen.insert(port), "port {port} handed out twice");
        }
    }
}
