//! A PostgreSQL server owned by one run, so it can be SIGKILLed and started
//! again (crash recovery) without touching the server every other test
//! shares: a cluster made with `initdb` in a directory of its own under the
//! system's temporary directory (`ticktak-pg-<hex>`, removed when dropped,
//! and by the next `make test`/`make bench` if the run was killed), on
//! 127.0.0.1 and a free port, its superuser `ticktak` trusted from there.
//! PostgreSQL refuses to run as root: as root, it runs as `postgres`.
//!
//! Its clock can be set ahead or behind (`skew`): the server runs under
//! Debian's libfaketime, which reads the offset from a file on every call
//! (`FAKETIME_NO_CACHE`), so a skew takes effect at once, without a restart.
//! (libfaketime cannot skew the platforms' own processes: it breaks
//! librdkafka's timed waits; RELIABILITY.md.)

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use tokio::process::{Child, Command};

use crate::process::free_port;

pub struct OwnedPostgres {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    /// The file libfaketime reads the clock's offset from.
    clock: PathBuf,
    child: Option<Child>,
}

impl OwnedPostgres {
    /// A new cluster, started.
    pub async fn start() -> anyhow::Result<Self> {
        let bin = server_bin_dir()?;
        let dir = std::env::temp_dir().join(crate::unique("ticktak-pg-"));
        let out = as_owner(&bin.join("initdb"))
            .args(["--username", "ticktak", "--auth", "trust", "--no-sync", "--encoding", "UTF8", "-D"])
            .arg(&dir)
            .output()
            .await
            .context("initdb")?;
        anyhow::ensure!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        let clock = dir.with_extension("clock");
        std::fs::write(&clock, "+0\n")?;
        let mut pg = Self { port: free_port(), dir, bin, clock, child: None };
        pg.restart().await?;
        Ok(pg)
    }

    /// Set the server's clock `seconds` ahead of the machine's (behind when
    /// negative; 0: the machine's time again). `now()` in every session
    /// follows at once.
    pub fn skew(&self, seconds: i64) -> anyhow::Result<()> {
        std::fs::write(&self.clock, format!("{seconds:+}s\n")).context("the clock's offset file")
    }

    /// `TEST_DATABASE_URL` for it.
    pub fn admin_url(&self) -> String {
        format!("postgres://ticktak:ticktak@127.0.0.1:{}/postgres", self.port)
    }

    /// SIGKILL the server and every backend (its process group), as a crash
    /// or the OOM killer would; down until `restart`.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).status();
            }
            let _ = child.wait().await;
        }
    }

    /// Start the server (after a kill: crash recovery first) and wait until
    /// it accepts connections.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        let socket_dir = self.dir.display().to_string();
        // libfaketime for the server alone (through `env`, after `setpriv`:
        // preloaded into a root process, it makes a semaphore the server,
        // as `postgres`, may not open).
        let child = as_owner(std::path::Path::new("env"))
            .arg(format!("LD_PRELOAD={}", faketime_library()?.display()))
            .arg(format!("FAKETIME_TIMESTAMP_FILE={}", self.clock.display()))
            .arg("FAKETIME_NO_CACHE=1")
            .arg(self.bin.join("postgres"))
            .arg("-D")
            .arg(&self.dir)
            .args(["-p", &self.port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .args(["-c", &format!("unix_socket_directories={socket_dir}"), "-c", "max_connections=300"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            // A process group of its own, so a kill takes every backend too.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .context("cannot start postgres")?;
        self.child = Some(child);
        let url = self.admin_url();
        for _ in 0..600 {
            use sqlx::Connection;
            if let Ok(c) = sqlx::PgConnection::connect(&url).await {
                let _ = c.close().await;
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("postgres on {} did not accept connections in a minute", self.port)
    }
}

impl Drop for OwnedPostgres {
    fn drop(&mut self) {
        if let Some(pid) = self.child.as_ref().and_then(|c| c.id()) {
            let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(&self.clock);
    }
}

/// Debian's libfaketime (package `libfaketime`, under the multiarch folder).
fn faketime_library() -> anyhow::Result<PathBuf> {
    std::fs::read_dir("/usr/lib")?
        .filter_map(|e| Some(e.ok()?.path().join("faketime/libfaketime.so.1")))
        .find(|p| p.exists())
        .context("no libfaketime.so.1 under /usr/lib/*/faketime (Debian's libfaketime package)")
}

/// Where Debian keeps the newest PostgreSQL's server programs.
fn server_bin_dir() -> anyhow::Result<PathBuf> {
    let root = PathBuf::from("/usr/lib/postgresql");
    let newest = std::fs::read_dir(&root)
        .context("no /usr/lib/postgresql (Debian's postgresql package)")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .max()
        .context("no PostgreSQL version under /usr/lib/postgresql")?;
    Ok(root.join(newest.to_string()).join("bin"))
}

/// `program`, run as `postgres` when we are root (PostgreSQL will not run
/// as root); `setpriv` and `env` exec it, so the child's pid is the
/// program's.
fn as_owner(program: &std::path::Path) -> Command {
    // The effective uid, from /proc.
    let root = std::fs::read_to_string("/proc/self/status")
        .map(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0")))
        .unwrap_or(false);
    let mut c = match root {
        false => Command::new(program),
        true => {
            let mut c = Command::new("setpriv");
            c.args(["--reuid", "postgres", "--regid", "postgres", "--init-groups", "--"]).arg(program);
            c
        }
    };
    // A directory `postgres` may enter.
    c.current_dir(std::env::temp_dir());
    c
}
