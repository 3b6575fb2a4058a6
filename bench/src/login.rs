//! `ticktak-bench login [--samples N]`: does a sign-in tell whether an
//! e-mail address has an account? The security service (a release process)
//! answers sign-ins for unknown addresses and wrong passwords of known ones,
//! interleaved; the medians of the two must lie within 10 % of each other.
//!
//! Every attempt comes from its own loopback address (127.1.x.y) and every
//! known account is tried at most twice, so the back-off after failed
//! sign-ins never kicks in and only the answer's own cost is measured.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use ticktak_tests::process::{free_port, spawn, terminate, wait_ready};
use ticktak_tests::{unique, PlatformEnv};

pub async fn run(samples: usize) -> anyhow::Result<()> {
    let env = PlatformEnv::new("a", &unique("login"));
    let port = free_port();
    let mut vars: HashMap<String, String> = env.vars();
    vars.insert("SECURITY_PORT".into(), port.to_string());
    let security = spawn("security", &vars);
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&format!("{base}/ready")).await;

    let accounts = samples.div_ceil(2);
    let http = reqwest::Client::new();
    println!("registering {accounts} accounts");
    for i in 0..accounts {
        let res = http
            .post(format!("{base}/api/auth/register"))
            .json(&serde_json::json!({"email": format!("known-{i}@example.com"), "password": "the right password",
                "name": "Known", "country": "QA"}))
            .send()
            .await?;
        anyhow::ensure!(res.status() == 202, "register answered {}", res.status());
    }
    // As if every owner had followed the link mailed to the address.
    let db = sqlx::PgPool::connect(&ticktak_tests::database_url(&env.database)).await?;
    sqlx::query("UPDATE security.accounts SET email_verified_at = now()").execute(&db).await?;
    db.close().await;

    let (mut unknown, mut wrong, mut right) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..samples {
        let attempts = [
            (&mut unknown, format!("nobody-{i}@example.com"), "the right password", 401),
            (&mut wrong, format!("known-{}@example.com", i % accounts), "a wrong password", 401),
        ];
        for (j, (times, email, password, expected)) in attempts.into_iter().enumerate() {
            times.push(attempt(&base, source(i * 2 + j), &email, password, expected).await?);
        }
        if i % 10 == 0 {
            right
                .push(attempt(&base, source(samples * 2 + i), "known-0@example.com", "the right password", 200).await?);
        }
    }
    terminate(&security);

    let (u, w, r) = (median(&mut unknown), median(&mut wrong), median(&mut right));
    println!("sign-in, {samples} samples each, interleaved (medians; p90 in brackets)");
    println!("  unknown e-mail        {:>7.1} ms  [{:.1}]", u, p90(&unknown));
    println!("  known, wrong password {:>7.1} ms  [{:.1}]", w, p90(&wrong));
    println!("  known, right password {:>7.1} ms  [{:.1}]  ({} samples)", r, p90(&right), right.len());
    let gap = (u - w).abs() / w * 100.0;
    println!("  unknown vs wrong: {gap:.1} % apart (target ≤ 10 %)");
    anyhow::ensure!(gap <= 10.0, "an unknown e-mail answers {gap:.1} % apart from a wrong password");
    Ok(())
}

/// The `n`-th loopback source address, 127.1.0.1 onwards.
fn source(n: usize) -> IpAddr {
    let n = n as u32 + 1;
    IpAddr::V4(Ipv4Addr::new(127, 1, (n >> 8) as u8, n as u8))
}

/// One sign-in from `from`, in milliseconds.
async fn attempt(base: &str, from: IpAddr, email: &str, password: &str, expected: u16) -> anyhow::Result<f64> {
    let http = reqwest::Client::builder().local_address(from).timeout(Duration::from_secs(30)).build()?;
    let url = format!("{base}/api/auth/login");
    let body = serde_json::json!({"email": email, "password": password});
    // Connect first, so the timing is the answer's, not the handshake's.
    http.get(format!("{base}/health")).send().await?;
    let started = Instant::now();
    let res = http.post(&url).json(&body).send().await?;
    let status = res.status().as_u16();
    res.bytes().await?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    anyhow::ensure!(status == expected, "{email}: {status}, expected {expected}");
    Ok(ms)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn p90(sorted: &[f64]) -> f64 {
    sorted[(sorted.len() * 9 / 10).min(sorted.len() - 1)]
}
