//! A market simulator: booking events from buyers of many countries whose
//! preferences are made up here, published on a platform's bookings topic
//! the way reservations publishes them. There is no real booking history;
//! what the recommendation model learns from these is these rules.
//!
//! A buyer from country `c` books match `m` with probability proportional
//! to
//!
//! ```text
//! stage(m)                      group 1, round of 16 1.3, quarter-final 1.6,
//!                               semi-final 2, final and third place 3
//! × 20  if c's own nation plays in m                       (home nation)
//! × 2.5 for each other team of c's confederation playing   (confederation)
//! × 1.8 for each star team playing: Argentina, Brazil, England, France,
//!       Germany, Portugal, Spain                           (star teams)
//! ```
//!
//! Buyers come from 38 countries of every confederation, weighted roughly
//! by travelling fans (`COUNTRIES`), a tenth of them with no country given.
//! Bookings are spread evenly over 30 days; the preferences do not change
//! over time.

use chrono::{DateTime, Utc};
use ticktak_contracts::analytics::BookingEvent;
use ticktak_core::region::{team_country, Region, Stage};
use ticktak_core::{Country, MasterListMatch};

/// Buyers' countries and their weights.
pub const COUNTRIES: [(&str, u32); 38] = [
    ("AR", 8),
    ("BR", 8),
    ("MX", 7),
    ("US", 8),
    ("GB", 8),
    ("DE", 6),
    ("FR", 6),
    ("ES", 5),
    ("MA", 4),
    ("SN", 3),
    ("JP", 4),
    ("KR", 3),
    ("AU", 3),
    ("SA", 4),
    ("QA", 5),
    ("CA", 3),
    ("EC", 2),
    ("UY", 2),
    ("CR", 2),
    ("PT", 3),
    ("NL", 3),
    ("BE", 2),
    ("HR", 2),
    ("CH", 2),
    ("PL", 2),
    ("RS", 1),
    ("DK", 1),
    ("TN", 2),
    ("CM", 2),
    ("GH", 2),
    ("IR", 2),
    ("IN", 4),
    ("CN", 3),
    ("NG", 3),
    ("CO", 3),
    ("CL", 2),
    ("NZ", 1),
    ("EG", 2),
];

pub const STARS: [&str; 7] = ["AR", "BR", "GB", "FR", "DE", "PT", "ES"];

pub fn stage_weight(stage: Stage) -> f64 {
    match stage {
        Stage::Group => 1.0,
        Stage::RoundOf16 => 1.3,
        Stage::QuarterFinal => 1.6,
        Stage::SemiFinal => 2.0,
        Stage::Final => 3.0,
    }
}

/// How much a buyer from `country` (`None`: not given) wants `m`.
pub fn appeal(country: Option<Country>, m: &MasterListMatch) -> f64 {
    let mut w = stage_weight(Stage::of_round(m.round_number));
    for team in [&m.home_team, &m.away_team] {
        let Some(t) = team_country(team) else { continue };
        if let Some(c) = country {
            if t == c {
                w *= 20.0;
            } else if Region::of(t) == Region::of(c) {
                w *= 2.5;
            }
        }
        if STARS.contains(&t.as_str()) {
            w *= 1.8;
        }
    }
    w
}

/// A deterministic generator (SplitMix64), so a run can be repeated.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An index drawn with probability proportional to `weights`.
    pub fn pick(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
}

/// `n` booking events (all `HELD`, one per reservation) from
/// `buyers` simulated buyers over 30 days from `start`.
pub fn bookings(
    list: &[MasterListMatch],
    n: usize,
    buyers: usize,
    seed: u64,
    start: DateTime<Utc>,
) -> Vec<BookingEvent> {
    let mut rng = Rng::new(seed);
    let country_weights: Vec<f64> = COUNTRIES.iter().map(|(_, w)| f64::from(*w)).collect();
    // Each buyer's country, fixed for the run.
    let people: Vec<Option<Country>> = (0..buyers.max(1))
        .map(|_| match rng.unit() < 0.1 {
            true => None,
            false => Some(Country::new(COUNTRIES[rng.pick(&country_weights)].0).expect("a valid code")),
        })
        .collect();
    let span_ms: i64 = 30 * 24 * 3600 * 1000;
    let mut times: Vec<i64> = (0..n).map(|_| (rng.unit() * span_ms as f64) as i64).collect();
    times.sort_unstable();
    times
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let who = (rng.next_u64() % people.len() as u64) as usize;
            let country = people[who];
            let weights: Vec<f64> = list.iter().map(|m| appeal(country, m)).collect();
            let m = &list[rng.pick(&weights)];
            let category = 1 + (rng.next_u64() % 3) as u8;
            let quantity = 1 + (rng.next_u64() % 2) as u8;
            let price = m.availability.get(ticktak_core::Category::new(i64::from(category)).expect("1–3")).price;
            let at = start + chrono::Duration::milliseconds(t);
            BookingEvent {
                event_id: format!("sim-{seed}-{i}"),
                reservation_id: format!("sim-{seed}-r{i}"),
                buyer: format!("sim-buyer-{who}"),
                country: country.map(|c| c.to_string()),
                match_number: m.match_number.get(),
                category,
                quantity,
                amount: price.get() * u32::from(quantity),
                status: "HELD".into(),
                created_at: at,
                at,
            }
        })
        .collect()
}

/// Publish `events` on `topic` as reservations' outbox does: arrays of
/// events (here 25 to a message, like a decision batch), keyed by the first
/// event's reservation id.
pub async fn publish(brokers: &str, topic: &str, events: &[BookingEvent]) -> anyhow::Result<()> {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    use ticktak_contracts::analytics::BookingMessage;
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "20")
        .set("queue.buffering.max.messages", "1000000")
        .create()?;
    for chunk in events.chunks(5000) {
        let sends = chunk.chunks(25).map(|batch| {
            let producer = producer.clone();
            let payload = serde_json::to_vec(&BookingMessage::Batch(batch.to_vec())).expect("events serialise");
            async move {
                producer
                    .send(
                        FutureRecord::to(topic).key(&batch[0].reservation_id).payload(&payload),
                        std::time::Duration::from_secs(30),
                    )
                    .await
                    .map_err(|(e, _)| anyhow::anyhow!("publish failed: {e}"))
            }
        });
        futures::future::try_join_all(sends).await?;
    }
    Ok(())
}
