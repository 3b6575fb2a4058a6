//! Analytics settings beyond the common ones.

use std::time::Duration;

use ticktak_kit::config::{ConfigError, Env};

#[derive(Debug, Clone)]
pub struct AnalyticsConfig {
    /// Where the lake is (`LAKE_URL`): `file:///abs/dir`, a directory, or
    /// `s3://bucket/prefix`. Default `var/lake/{PLATFORM_ID}` under the
    /// working directory.
    pub lake_url: String,
    /// How often new events are written to the lake and checkpointed
    /// (`FLUSH_EVERY_MS`, default 2000).
    pub flush_every: Duration,
    /// How often the model is trained again (`TRAIN_EVERY_SECS`, default
    /// 3600; 0: only on demand).
    pub train_every: Option<Duration>,
}

impl AnalyticsConfig {
    pub fn from_env(settings: &ticktak_kit::Settings) -> Result<Self, ConfigError> {
        Self::from(settings, &Env::process())
    }

    pub fn from(settings: &ticktak_kit::Settings, env: &Env<'_>) -> Result<Self, ConfigError> {
        let lake_url = env.string("LAKE_URL", &format!("var/lake/{}", settings.platform_id));
        let flush: u64 = env.parse_in("FLUSH_EVERY_MS", 2000, 50..=60_000)?;
        let train: u64 = env.parse_in("TRAIN_EVERY_SECS", 3600, 0..=604_800)?;
        Ok(Self {
            lake_url,
            flush_every: Duration::from_millis(flush),
            train_every: (train > 0).then(|| Duration::from_secs(train)),
        })
    }
}
