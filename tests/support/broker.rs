//! A nisshi broker owned by one test or benchmark run, with durable storage
//! of its own, so it can be SIGKILLed and restarted without losing what it
//! acknowledged: PostgreSQL in a database of its own (`t_broker_<hex>`,
//! dropped by the next `make test`/`make bench`), or with
//! `BENCH_BROKER_STORAGE=sqlite` nisshi's SQLite engine in a file under the
//! system's temporary directory (a nisshi built with its `libsql` feature).

use std::time::Duration;

use tokio::process::Child;

use crate::process::free_port;
use crate::{database_url, unique};

pub struct OwnedBroker {
    pub port: u16,
    /// The address it gives its clients (its listener is on 127.0.0.1).
    advertised: std::net::IpAddr,
    storage: String,
    child: Child,
}

impl OwnedBroker {
    /// Start a broker on a free port (`NISSHI_BIN`, default `nisshi` on PATH)
    /// on the storage `BENCH_BROKER_STORAGE` names (`postgres`, the default,
    /// or `sqlite`).
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_advertising(std::net::Ipv4Addr::LOCALHOST.into()).await
    }

    /// Start a broker listening on 127.0.0.1 that tells its clients to come
    /// back on `advertised` (where something forwards to it: clients in
    /// another network namespace, `bench/src/jepsen/network.rs`).
    pub async fn start_advertising(advertised: std::net::IpAddr) -> anyhow::Result<Self> {
        let port = free_port();
        let storage = match std::env::var("BENCH_BROKER_STORAGE").as_deref() {
            // A file in the broker's working directory (`spawn`).
            Ok("sqlite") => format!("sqlite://{}.db", unique("ticktak-broker-")),
            Ok("postgres") | Err(_) => {
                let database = unique("t_broker_");
                create_database(&database).await?;
                format!("{}?sslmode=disable", database_url(&database))
            }
            Ok(other) => anyhow::bail!("BENCH_BROKER_STORAGE={other}: an owned broker runs on postgres or sqlite"),
        };
        let child = Self::spawn(port, &storage, advertised)?;
        let b = Self { port, advertised, storage, child };
        b.wait_listening().await?;
        Ok(b)
    }

    /// The broker process's id while it runs (to pause it).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// `host:port` for `KAFKA_BROKERS`.
    pub fn addr(&self) -> String {
        std::net::SocketAddr::new(self.advertised, self.port).to_string()
    }

    fn spawn(port: u16, storage: &str, advertised: std::net::IpAddr) -> anyhow::Result<Child> {
        let bin = std::env::var("NISSHI_BIN").unwrap_or_else(|_| "nisshi".into());
        let url = format!("tcp://127.0.0.1:{port}");
        let advertised = format!("tcp://{}", std::net::SocketAddr::new(advertised, port));
        tokio::process::Command::new(bin)
            .current_dir(std::env::temp_dir())
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &advertised])
            .args(["--storage-engine", storage, "--kafka-cluster-id", "ticktak-owned"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start nisshi (NISSHI_BIN): {e}"))
    }

    async fn wait_listening(&self) -> anyhow::Result<()> {
        for _ in 0..300 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("nisshi did not listen on {}", self.port)
    }

    /// SIGKILL the broker and start it again on the same port and storage.
    pub async fn kill_and_restart(&mut self) -> anyhow::Result<()> {
        self.kill().await;
        self.restart().await
    }

    /// SIGKILL the broker (it stays down until `restart`).
    pub async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// Start the broker again on the same port and storage.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.child = Self::spawn(self.port, &self.storage, self.advertised)?;
        self.wait_listening().await
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

async fn create_database(name: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&crate::database_admin_url()).await?;
    sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(&mut admin).await?;
    Ok(())
}
