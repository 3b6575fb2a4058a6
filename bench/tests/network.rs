//! The Jepsen runs' network faults do what they say: from inside a
//! platform's namespace, a service on the host is reached through the
//! run's forwarder; a cut or a total loss stops the traffic (silently: the
//! exchange times out) and a heal brings it back; a delay holds each
//! exchange back by the delay both ways.

use std::time::{Duration, Instant};

use ticktak_bench::jepsen::network::Network;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A line echoed back by the host's service, from inside namespace `ns`
/// (bash's `/dev/tcp`): the time it took, or none within 2 s.
fn echo_from(ns: &str, host: std::net::Ipv4Addr, port: u16) -> Option<Duration> {
    let script = format!("exec 3<>/dev/tcp/{host}/{port} && echo ping >&3 && read -r line <&3 && [ \"$line\" = ping ]");
    let start = Instant::now();
    let ok = std::process::Command::new("ip")
        .args(["netns", "exec", ns, "timeout", "2", "bash", "-c", &script])
        .status()
        .expect("ip runs")
        .success();
    ok.then(|| start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_or_a_total_loss_stops_a_platforms_traffic_until_healed_and_a_delay_holds_it_back() {
    let echo = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let to = echo.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = echo.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n @ 1..) = s.read(&mut buf).await {
                    if s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let mut net = Network::create(2).expect("namespaces (as root, with iproute2 and nftables)");
    let port = ticktak_tests::process::free_port();
    net.forward(port, to).await.unwrap();
    let (a, b, host) = (net.namespace(0), net.namespace(1), net.host());
    let reach = |ns: String| tokio::task::spawn_blocking(move || echo_from(&ns, host, port));

    let before = reach(a.clone()).await.unwrap().expect("a reaches the host's service through the forwarder");
    net.cut(0, &[port]).unwrap();
    assert_eq!(reach(a.clone()).await.unwrap(), None, "a cut from the port gets nothing through");
    assert!(reach(b.clone()).await.unwrap().is_some(), "b is not cut");
    net.cut(0, &[port + 1]).unwrap();
    assert!(reach(a.clone()).await.unwrap().is_some(), "a cut from another port only: this one passes");
    net.heal(0).unwrap();
    assert!(reach(a.clone()).await.unwrap().is_some(), "healed");

    net.lose(1, 100).unwrap();
    assert_eq!(reach(b.clone()).await.unwrap(), None, "every packet of b lost");
    net.heal(1).unwrap();
    assert!(reach(b.clone()).await.unwrap().is_some(), "healed");

    net.delay(0, Duration::from_millis(400));
    let slow = reach(a.clone()).await.unwrap().expect("a delayed exchange still completes");
    assert!(slow >= Duration::from_millis(800), "400 ms each way: {slow:?} (undelayed: {before:?})");
    let other = reach(b.clone()).await.unwrap().expect("b reaches it");
    assert!(other < Duration::from_millis(800), "only a is delayed: {other:?}");
    net.heal(0).unwrap();
    assert!(reach(a.clone()).await.unwrap().expect("healed") < Duration::from_millis(800));
}
