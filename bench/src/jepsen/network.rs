//! Each platform on a network of its own, so faults can cut it off.
//!
//! A run makes a bridge on the host (`ttb{N}`, address `10.77.N.1/24`) and
//! one network namespace per platform (`ttn{N}-{i}`, its `eth0` at
//! `10.77.N.{10+i}`, joined to the bridge by a veth pair), and runs every
//! process of platform `i` inside its namespace (`ip netns exec`). The
//! broker and PostgreSQL stay on the host's loopback; the platforms reach
//! them through forwarders this run keeps on the bridge's address (the
//! broker advertises that address, so its clients come back through it).
//!
//! Faults act on one platform's namespace alone:
//! - **cut** from the broker, from its database or both: nftables rules in
//!   the namespace drop those packets both ways, silently, as a partition
//!   does (connections hang until their time-outs, nothing is refused);
//! - **loss**: a share of every packet in and out of its `eth0` dropped at
//!   random (nftables' `numgen`), which TCP hides behind retransmissions;
//! - **latency**: the forwarders hold each chunk of the platform's traffic
//!   to and from the broker and its database for a while, both ways, in
//!   order. (The kernel's `netem` would do it per packet; this machine's
//!   kernel has no `netem`, so the delay is added where the traffic passes
//!   through this run anyway.)
//!
//! Every name carries `N`, taken by creating the bridge (creation fails for
//! a name that exists), so concurrent runs never share one; `make test` and
//! `make bench` remove what a killed run left (`scripts/lib.sh`). Needs
//! root, `ip` (iproute2) and `nft` (nftables).

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

/// The nftables table a fault writes in a platform's namespace.
const TABLE: &str = "jepsen";

pub struct Network {
    n: u8,
    platforms: usize,
    /// Per platform: the one-way delay of its forwarded traffic, in µs.
    delays: Arc<Vec<AtomicU64>>,
    forwarders: Vec<JoinHandle<()>>,
}

impl Network {
    /// A bridge and `platforms` namespaces on it, each with its platform's
    /// address, a default route to the host and loopback up.
    pub fn create(platforms: usize) -> anyhow::Result<Self> {
        anyhow::ensure!((1..=6).contains(&platforms), "1 to 6 platforms");
        let start = (std::process::id() % 250) as u8;
        let n = (0..250u8)
            .map(|k| 1 + (start + k) % 250)
            .find(|n| run(&["ip", "link", "add", &format!("ttb{n}"), "type", "bridge"]).is_ok())
            .context("no bridge ttb1…ttb250 could be made (the run needs root, and `ip` from iproute2)")?;
        let net = Self {
            n,
            platforms,
            delays: Arc::new((0..platforms).map(|_| AtomicU64::new(0)).collect()),
            forwarders: Vec::new(),
        };
        let bridge = format!("ttb{n}");
        run(&["ip", "addr", "add", &format!("{}/24", net.host()), "dev", &bridge])?;
        run(&["ip", "link", "set", &bridge, "up"])?;
        for i in 0..platforms {
            let (ns, veth) = (net.namespace(i), format!("ttv{n}-{i}"));
            run(&["ip", "netns", "add", &ns])?;
            run(&["ip", "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns])?;
            run(&["ip", "link", "set", &veth, "master", &bridge, "up"])?;
            run(&["ip", "-n", &ns, "addr", "add", &format!("{}/24", net.address(i)), "dev", "eth0"])?;
            run(&["ip", "-n", &ns, "link", "set", "eth0", "up"])?;
            run(&["ip", "-n", &ns, "link", "set", "lo", "up"])?;
            run(&["ip", "-n", &ns, "route", "add", "default", "via", &net.host().to_string()])?;
        }
        Ok(net)
    }

    /// The host's address on the bridge: where the platforms find the
    /// broker and PostgreSQL.
    pub fn host(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 77, self.n, 1)
    }

    /// Platform `i`'s address (its services listen there).
    pub fn address(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 77, self.n, 10 + i as u8)
    }

    /// Platform `i`'s namespace.
    pub fn namespace(&self, i: usize) -> String {
        format!("ttn{}-{i}", self.n)
    }

    /// Forward connections to `host():port` to `to`, through each
    /// platform's delay.
    pub async fn forward(&mut self, port: u16, to: SocketAddr) -> anyhow::Result<()> {
        let listener = tokio::net::TcpListener::bind((self.host(), port))
            .await
            .with_context(|| format!("forwarder on {}:{port}", self.host()))?;
        let (delays, first, platforms) = (self.delays.clone(), self.address(0), self.platforms);
        self.forwarders.push(tokio::spawn(async move {
            while let Ok((inbound, from)) = listener.accept().await {
                // The host's own clients (the run's, on the bridge's address) pass undelayed.
                let platform = match from.ip() {
                    std::net::IpAddr::V4(ip) => Some(u32::from(ip).wrapping_sub(u32::from(first)) as usize),
                    std::net::IpAddr::V6(_) => None,
                }
                .filter(|p| *p < platforms);
                let delays = delays.clone();
                tokio::spawn(async move {
                    let Ok(outbound) = tokio::net::TcpStream::connect(to).await else { return };
                    let _ = (inbound.set_nodelay(true), outbound.set_nodelay(true));
                    let (in_read, in_write) = inbound.into_split();
                    let (out_read, out_write) = outbound.into_split();
                    tokio::join!(
                        pipe(in_read, out_write, delays.clone(), platform),
                        pipe(out_read, in_write, delays, platform)
                    );
                });
            }
        }));
        Ok(())
    }

    /// Cut platform `i` from the host's `ports` (the broker's, its
    /// database's forwarder's or both): their packets dropped both ways.
    pub fn cut(&self, i: usize, ports: &[u16]) -> anyhow::Result<()> {
        let ports = ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
        let host = self.host();
        self.rules(
            i,
            &format!("ip daddr {host} tcp dport {{ {ports} }} drop"),
            &format!("ip saddr {host} tcp sport {{ {ports} }} drop"),
        )
    }

    /// Drop `percent` % of platform `i`'s packets, in and out, at random.
    pub fn lose(&self, i: usize, percent: u8) -> anyhow::Result<()> {
        let share = match percent {
            100.. => String::new(),
            p => format!("numgen random mod 100 < {p} "),
        };
        self.rules(i, &format!("oifname \"eth0\" {share}drop"), &format!("iifname \"eth0\" {share}drop"))
    }

    /// Hold platform `i`'s traffic to and from the broker and its database
    /// `one_way` in each direction.
    pub fn delay(&self, i: usize, one_way: Duration) {
        self.delays[i].store(one_way.as_micros() as u64, Ordering::Relaxed);
    }

    /// Undo every fault of platform `i`.
    pub fn heal(&self, i: usize) -> anyhow::Result<()> {
        self.delay(i, Duration::ZERO);
        let ns = self.namespace(i);
        // The table exists only while a cut or a loss is on.
        let _ = run(&["ip", "netns", "exec", &ns, "nft", "delete", "table", "inet", TABLE]);
        Ok(())
    }

    fn rules(&self, i: usize, output: &str, input: &str) -> anyhow::Result<()> {
        let ns = self.namespace(i);
        // Declared, deleted and made anew in one transaction: the rules
        // replace whatever fault was on.
        let script = format!(
            "table inet {TABLE}\ndelete table inet {TABLE}\n\
             table inet {TABLE} {{\n\
               chain output {{ type filter hook output priority 0; policy accept; {output}; }}\n\
               chain input {{ type filter hook input priority 0; policy accept; {input}; }}\n\
             }}\n"
        );
        let path = std::env::temp_dir().join(format!("{ns}.nft"));
        std::fs::write(&path, script)?;
        run(&["ip", "netns", "exec", &ns, "nft", "-f", &path.display().to_string()])
            .context("nftables in the platform's namespace (the run needs `nft`, from nftables)")
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for f in &self.forwarders {
            f.abort();
        }
        for i in 0..self.platforms {
            // Deleting a namespace deletes its end of the veth pair, and so the pair.
            let _ = run(&["ip", "netns", "delete", &self.namespace(i)]);
        }
        let _ = run(&["ip", "link", "delete", &format!("ttb{}", self.n)]);
    }
}

/// Copy `from` to `to`, each chunk held back by the platform's delay at the
/// time it was read (so a delay that ends lets the backlog go in order).
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delays: Arc<Vec<AtomicU64>>,
    platform: Option<usize>,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let read = async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buf).await {
            let delay = platform.map(|p| delays[p].load(Ordering::Relaxed)).unwrap_or(0);
            let due = tokio::time::Instant::now() + Duration::from_micros(delay);
            if tx.send((due, buf[..n].to_vec())).is_err() {
                break;
            }
        }
    };
    let write = async move {
        while let Some((due, bytes)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(read, write);
}

fn run(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(args[0]).args(&args[1..]).output().with_context(|| format!("cannot run {}", args[0]))?;
    anyhow::ensure!(out.status.success(), "{}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    Ok(())
}
