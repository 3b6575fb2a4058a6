//! Buyers' pseudonyms across the market (`ticktak_core::BuyerId`): an
//! HMAC-SHA256 of the buyer's e-mail address (trimmed, lower-case) under a
//! key every platform of the market shares (`MARKET_BUYER_KEY`, handed out
//! with the platform keys), cut to 16 bytes. The same person (the same
//! address) gets the same pseudonym on every platform, so the ledger caps
//! their tickets across the market; the topic never carries the address,
//! and whoever reads it without the key cannot test addresses against it.
//! The platforms themselves can: they hold the key and know their own
//! buyers' addresses anyway.

use ticktak_core::BuyerId;

use crate::env::{ConfigError, Env};

/// What the HMAC covers before the address, so the key serves no other use.
const LABEL: &[u8] = b"ticktak-buyer-v1\n";
/// The development key: public, refused in production.
const DEVELOPMENT_KEY: &str = "ticktak development market buyer key, public";

/// The market's buyer key.
#[derive(Clone)]
pub struct BuyerKey(ring::hmac::Key);

impl std::fmt::Debug for BuyerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BuyerKey(…)")
    }
}

impl BuyerKey {
    pub fn new(secret: &[u8]) -> Self {
        Self(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret))
    }

    pub fn development() -> Self {
        Self::new(DEVELOPMENT_KEY.as_bytes())
    }

    /// `MARKET_BUYER_KEY`: at least 32 characters, the same on every
    /// platform of the market; required in production, else the public
    /// development key.
    pub fn from_env(production: bool, env: &Env<'_>) -> Result<Self, ConfigError> {
        match env.get("MARKET_BUYER_KEY") {
            Some(k) if k.trim() == DEVELOPMENT_KEY && production => {
                Err(env.error("MARKET_BUYER_KEY", "the development key is refused in production"))
            }
            Some(k) if k.trim().len() < 32 => Err(env.error("MARKET_BUYER_KEY", "must be at least 32 characters")),
            Some(k) => Ok(Self::new(k.trim().as_bytes())),
            None if production => Err(env.error("MARKET_BUYER_KEY", "is required in production")),
            None => Ok(Self::development()),
        }
    }

    /// The pseudonym of the buyer with this e-mail address.
    pub fn buyer_of(&self, email: &str) -> BuyerId {
        let address = email.trim().to_lowercase();
        let tag = ring::hmac::sign(&self.0, &[LABEL, address.as_bytes()].concat());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&tag.as_ref()[..16]);
        BuyerId::from_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_one_pseudonym_per_market_and_none_shows_the_address() {
        let market = BuyerKey::new(b"a market's key of thirty-two characters");
        let id = market.buyer_of("Ana@Example.com ");
        assert_eq!(id, market.buyer_of("ana@example.com"), "case and spaces do not make another person");
        assert_ne!(id, market.buyer_of("bob@example.com"));
        assert_ne!(id, BuyerKey::development().buyer_of("ana@example.com"), "another market, another pseudonym");
        let text = id.to_string();
        assert_eq!(text.len(), 22);
        assert!(!text.to_lowercase().contains("ana"));
        assert_eq!(BuyerId::parse(&text), Ok(id));
    }

    #[test]
    fn production_needs_a_real_key() {
        let env = |v: &str| Env::from_pairs(&[("MARKET_BUYER_KEY", v)]);
        assert!(BuyerKey::from_env(true, &Env::from_pairs(&[])).is_err());
        assert!(BuyerKey::from_env(true, &env("short")).is_err());
        assert!(BuyerKey::from_env(true, &env(DEVELOPMENT_KEY)).is_err());
        assert!(BuyerKey::from_env(true, &env("a market's key of thirty-two characters")).is_ok());
        assert!(BuyerKey::from_env(false, &Env::from_pairs(&[])).is_ok());
    }
}
