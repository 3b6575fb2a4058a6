//! The replica of the security service's policy, kept fresh, and the
//! signals reported back.

use super::*;

/// Keep the replica fresh and report signals until `shutdown`.
pub fn spawn_sync(
    screen: Arc<Screen>,
    security: crate::internal::Client,
    every: Duration,
    shutdown: CancellationToken,
) {
    let refresh = {
        let (screen, security, shutdown) = (screen.clone(), security.clone(), shutdown.clone());
        async move {
            let mut failing = false;
            let mut last_housekeeping = Instant::now();
            while !shutdown.is_cancelled() {
                match security.get::<Policy>(screening::POLICY).await {
                    Ok(Some(policy)) => {
                        screen.apply(&policy);
                        failing = false;
                    }
                    Ok(None) | Err(_) if !failing => {
                        failing = true;
                        tracing::warn!(
                            service = screen.service,
                            "screening policy not refreshed; keeping the last one"
                        );
                    }
                    _ => {}
                }
                if last_housekeeping.elapsed() > Duration::from_secs(60) {
                    screen.housekeeping();
                    last_housekeeping = Instant::now();
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(every) => {}
                }
            }
        }
    };
    let report = async move {
        loop {
            let stopping = tokio::select! {
                _ = shutdown.cancelled() => true,
                _ = tokio::time::sleep(Duration::from_secs(1)) => false,
            };
            let signals = screen.take_signals();
            if !signals.is_empty() {
                let batch = Signals { service: screen.service.to_string(), signals };
                let sent: anyhow::Result<screening::SignalsTaken> = security.post(screening::SIGNALS, &batch).await;
                if let Err(e) = sent {
                    metrics::counter!("screening_signals_dropped_total").increment(batch.signals.len() as u64);
                    tracing::debug!(error = %e, "screening signals not delivered");
                }
            }
            if stopping {
                break;
            }
        }
    };
    tokio::spawn(refresh);
    tokio::spawn(report);
}
