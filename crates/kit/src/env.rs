//! The basic types every setting is read with: [`Env`] (where variables
//! come from: the process, or a test's own map) and [`ConfigError`] (one
//! variable and why it is refused). Each part of the kit reads its own
//! settings with them; `config` gathers the parts into a service's
//! `Settings`.

use std::str::FromStr;

/// A setting that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {var}: {reason}")]
pub struct ConfigError {
    pub var: String,
    pub reason: String,
}

/// Reads variables through a lookup function, so tests need not touch the
/// process environment.
pub struct Env<'a> {
    lookup: Lookup<'a>,
}

type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

impl Default for Env<'_> {
    fn default() -> Self {
        Self::process()
    }
}

impl<'a> Env<'a> {
    /// The process environment.
    pub fn process() -> Self {
        Self { lookup: Box::new(|k| std::env::var(k).ok()) }
    }

    pub fn from_fn(lookup: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Self { lookup: Box::new(lookup) }
    }

    /// Exactly these variables (tests).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Env<'static> {
        let map: std::collections::HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Env::from_fn(move |k| map.get(k).cloned())
    }

    /// The raw value; an empty value counts as unset.
    pub fn get(&self, var: &str) -> Option<String> {
        (self.lookup)(var).filter(|v| !v.trim().is_empty())
    }

    pub fn string(&self, var: &str, default: &str) -> String {
        self.get(var).unwrap_or_else(|| default.to_string())
    }

    /// Parse a value, or use `default` when unset.
    pub fn parse<T>(&self, var: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match self.get(var) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|e| ConfigError { var: var.to_string(), reason: format!("cannot parse {raw:?}: {e}") }),
        }
    }

    /// Parse a value that must lie in `range`, or use `default` when unset.
    pub fn parse_in<T>(&self, var: &str, default: T, range: std::ops::RangeInclusive<T>) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + std::fmt::Display,
        T::Err: std::fmt::Display,
    {
        let value = self.parse(var, default)?;
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(self.error(var, format!("must be between {} and {}", range.start(), range.end())))
        }
    }

    pub fn error(&self, var: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError { var: var.to_string(), reason: reason.into() }
    }
}
