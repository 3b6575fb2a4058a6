//! Who wrote a sales message. Each platform signs the ticktak headers and
//! the body of every sales message it produces (Ed25519,
//! `ticktak_core::headers::SaleHeaders::signed_bytes`) with its key
//! (`PLATFORM_SIGNING_KEY`), and verifies every message it reads against the
//! market's platform keys (`PLATFORM_KEYS`, the same list on every
//! platform, so every platform decides alike).
//!
//! A message that claims a producer, a hold or a re-homed origin and whose
//! signature does not verify is applied by the course's anonymous rule
//! only ([`SaleHeaders::anonymous`]): it can never close, refund or re-home
//! another platform's hold, whatever its headers say. A re-homed copy is
//! signed by the platform that re-homed it (`rehomed-by`) and counts as an
//! anonymous line of its origin: no platform vouches for another's holds.
//!
//! In development, where no keys are configured, each platform's key is
//! derived from its id ([`development_key`]): public, like the development
//! token key, and refused in production.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ticktak_core::headers::SaleHeaders;
use ticktak_core::PlatformId;

use crate::auth::SigningKey;
use crate::env::{ConfigError, Env};

/// The platform keys a platform verifies sales with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformKeys {
    /// Development: every platform's key is [`development_key`] of its id.
    Development,
    /// `PLATFORM_KEYS`: the market's approved platforms and their public
    /// keys (several for a platform that rotated its key: the log keeps its
    /// messages signed with the old one); every other producer is anonymous.
    Listed(BTreeMap<PlatformId, Vec<Vec<u8>>>),
}

/// This platform's signing key (in the services that sign: reservations,
/// shop-consumer), the market's keys, and the organisers'.
#[derive(Debug, Clone)]
pub struct Trust {
    key: Option<SigningKey>,
    keys: PlatformKeys,
    /// The organisers' public key (`ORGANISERS_KEY`): only master-list
    /// messages it signed count. `None` (`ORGANISERS_KEY=none`, a market
    /// whose organisers sign nothing, as the course's): every message
    /// counts, and the first one of a match fixes its kick-off, prices and
    /// capacities (`ticktak_core::masterlist::MasterListMatch::frozen_change`).
    organisers: Option<Vec<u8>>,
}

/// The development organisers' key: public, refused in production.
pub fn development_organisers_key() -> SigningKey {
    development_key(&PlatformId::new("organisers").expect("a valid id"))
}

/// The header of an organisers' message (master list, sale schedule) that
/// says when they issued it (RFC 3339); their signature covers it.
pub const ISSUED_AT: &str = "issued-at";

/// What an organisers' signature of a master-list message begins with.
pub const MASTERLIST_LABEL: &str = "ticktak-masterlist-v1";
/// What an organisers' signature of a sale-schedule message begins with.
pub const SCHEDULE_LABEL: &str = "ticktak-schedule-v1";

/// The bytes an organisers' signature covers: the topic's label, a line
/// feed, `issued-at`, a line feed, the body.
fn organisers_signed_bytes(label: &str, issued_at: &str, body: &[u8]) -> Vec<u8> {
    [label.as_bytes(), b"\n", issued_at.as_bytes(), b"\n", body].concat()
}

/// The headers of an organisers' message issued now: `issued-at` and
/// `signature` (`key` over `label`, both and `body`).
pub fn sign_organisers(key: &SigningKey, label: &str, body: &[u8]) -> Vec<(&'static str, String)> {
    sign_organisers_at(key, label, body, chrono::Utc::now())
}

/// [`sign_organisers`] as issued at `issued_at`.
pub fn sign_organisers_at(
    key: &SigningKey,
    label: &str,
    body: &[u8],
    issued_at: chrono::DateTime<chrono::Utc>,
) -> Vec<(&'static str, String)> {
    let issued_at = issued_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let signature = URL_SAFE_NO_PAD.encode(key.sign_bytes(&organisers_signed_bytes(label, &issued_at, body)));
    vec![(ISSUED_AT, issued_at), (ticktak_core::headers::SIGNATURE, signature)]
}

/// The headers of a master-list message the organisers issue now.
pub fn sign_masterlist(key: &SigningKey, body: &[u8]) -> Vec<(&'static str, String)> {
    sign_organisers(key, MASTERLIST_LABEL, body)
}

/// The organisers' signing key of the tools that play their role
/// (`publish-masterlist`, `publish-schedule`): `ORGANISERS_SIGNING_KEY`
/// (PKCS#8 PEM), required with `APP_ENV=production`, else the development
/// organisers' key.
pub fn organisers_signing_key(env: &Env<'_>) -> Result<SigningKey, String> {
    let production = env.get("APP_ENV").as_deref() == Some("production");
    match env.get("ORGANISERS_SIGNING_KEY") {
        None if production => Err("ORGANISERS_SIGNING_KEY is required in production".into()),
        None => Ok(development_organisers_key()),
        Some(pem) => SigningKey::parse(&pem).map_err(|e| format!("ORGANISERS_SIGNING_KEY: {e}")),
    }
}

/// The DER prefix of a PKCS#8 v1 Ed25519 private key; the 32-byte seed
/// follows it.
const PKCS8_ED25519_PREFIX: [u8; 16] =
    [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

/// The development sales key of `platform`: anyone can compute it, so it
/// proves nothing and production refuses it.
pub fn development_key(platform: &PlatformId) -> SigningKey {
    let label = format!("ticktak development sales key of {platform}");
    let seed = ring::digest::digest(&ring::digest::SHA256, label.as_bytes());
    let der = [&PKCS8_ED25519_PREFIX[..], seed.as_ref()].concat();
    SigningKey::parse(&base64::engine::general_purpose::STANDARD.encode(der)).expect("a seed makes a key")
}

/// The public half of [`development_key`], remembered per platform (deriving
/// it costs as much as a signature, and every message read needs it).
fn development_public_key(platform: &PlatformId) -> Vec<u8> {
    static KNOWN: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<PlatformId, Vec<u8>>>> =
        std::sync::OnceLock::new();
    let known = KNOWN.get_or_init(Default::default);
    if let Some(public) = known.lock().expect("not poisoned").get(platform) {
        return public.clone();
    }
    let public = development_key(platform).public_key().to_vec();
    let mut known = known.lock().expect("not poisoned");
    if known.len() < 1024 {
        known.insert(platform.clone(), public.clone());
    }
    public
}

impl Trust {
    pub fn new(key: SigningKey, keys: PlatformKeys) -> Self {
        let organisers = Some(development_organisers_key().public_key().to_vec());
        Self { key: Some(key), keys, organisers }
    }

    /// Development: this platform signs with its development key and
    /// trusts every platform's development key.
    pub fn development(platform: &PlatformId) -> Self {
        Self::new(development_key(platform), PlatformKeys::Development)
    }

    /// `PLATFORM_SIGNING_KEY` (PKCS#8 PEM or its base64 on one line) and
    /// `PLATFORM_KEYS` (`id=base64url public key`, comma-separated, this
    /// platform's own included). In production the services that sign
    /// (reservations, shop-consumer) need the key, and those that read
    /// sales (shop-consumer, analytics) or sign need the list; in
    /// development both default to the development keys.
    pub fn from_env(
        platform: &PlatformId,
        service: crate::Service,
        production: bool,
        env: &Env<'_>,
    ) -> Result<Self, ConfigError> {
        use crate::Service::{Analytics, Reservations, ShopConsumer};
        let signs = matches!(service, Reservations | ShopConsumer);
        let reads = signs || service == Analytics;
        let key = match env.get("PLATFORM_SIGNING_KEY") {
            Some(text) => Some(SigningKey::parse(&text).map_err(|e| env.error("PLATFORM_SIGNING_KEY", e))?),
            None if production && signs => {
                return Err(env.error("PLATFORM_SIGNING_KEY", "is required in production"));
            }
            None if production => None,
            None => Some(development_key(platform)),
        };
        if production && key.as_ref().is_some_and(|k| k.kid() == development_key(platform).kid()) {
            return Err(env.error("PLATFORM_SIGNING_KEY", "the development key is refused in production"));
        }
        let keys = match env.get("PLATFORM_KEYS") {
            Some(text) => PlatformKeys::Listed(parse_keys(&text).map_err(|e| env.error("PLATFORM_KEYS", e))?),
            None if production && reads => return Err(env.error("PLATFORM_KEYS", "is required in production")),
            None if production => PlatformKeys::Listed(BTreeMap::new()),
            None => PlatformKeys::Development,
        };
        if let (PlatformKeys::Listed(listed), Some(key)) = (&keys, &key) {
            match listed.get(platform) {
                Some(publics) if publics.iter().any(|p| p.as_slice() == key.public_key()) => {}
                Some(_) => {
                    return Err(env.error("PLATFORM_KEYS", format!("{platform}'s key is not PLATFORM_SIGNING_KEY's")));
                }
                None => return Err(env.error("PLATFORM_KEYS", format!("must list this platform ({platform}) too"))),
            }
        }
        if let PlatformKeys::Listed(listed) = &keys {
            let dev = |id: &PlatformId, public: &Vec<u8>| development_key(id).public_key() == public.as_slice();
            if production && listed.iter().any(|(id, publics)| publics.iter().any(|p| dev(id, p))) {
                return Err(env.error("PLATFORM_KEYS", "a development key is refused in production"));
            }
        }
        let development = development_organisers_key().public_key().to_vec();
        let organisers = match env.get("ORGANISERS_KEY").as_deref().map(str::trim) {
            Some("none") => None,
            Some(text) => {
                let public = URL_SAFE_NO_PAD
                    .decode(text.trim_end_matches('='))
                    .ok()
                    .filter(|k| k.len() == 32)
                    .ok_or_else(|| env.error("ORGANISERS_KEY", "must be 32 bytes of base64url, or none"))?;
                if production && public == development {
                    return Err(env.error("ORGANISERS_KEY", "the development key is refused in production"));
                }
                Some(public)
            }
            None if production && matches!(service, ShopConsumer | Analytics) => {
                return Err(env.error("ORGANISERS_KEY", "is required in production (a key, or none)"));
            }
            None => Some(development),
        };
        Ok(Self { key, keys, organisers })
    }

    /// Whether master-list messages must be signed by the organisers.
    pub fn has_organisers_key(&self) -> bool {
        self.organisers.is_some()
    }

    /// When the organisers issued a master-list message, if its
    /// `signature` is theirs over its `issued-at` and `body`.
    pub fn issued_by_organisers(
        &self,
        body: &[u8],
        issued_at: Option<&str>,
        signature: Option<&str>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        self.issued_by_organisers_as(MASTERLIST_LABEL, body, issued_at, signature)
    }

    /// When the organisers issued a message of the topic `label` names
    /// (`MASTERLIST_LABEL`, `SCHEDULE_LABEL`), if its `signature` is theirs.
    pub fn issued_by_organisers_as(
        &self,
        label: &str,
        body: &[u8],
        issued_at: Option<&str>,
        signature: Option<&str>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        let (Some(public), Some(issued_at), Some(signature)) = (&self.organisers, issued_at, signature) else {
            return None;
        };
        let signature = URL_SAFE_NO_PAD.decode(signature.trim()).ok()?;
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public)
            .verify(&organisers_signed_bytes(label, issued_at, body), &signature)
            .ok()?;
        chrono::DateTime::parse_from_rfc3339(issued_at).ok().map(|t| t.with_timezone(&chrono::Utc))
    }

    /// `PLATFORM_KEYS` naming this platform's key, for its operator to
    /// hand to the market: `{id}={base64url public key}`.
    /// (Empty for a service that holds no key.)
    pub fn public_entry(&self, platform: &PlatformId) -> String {
        self.key.as_ref().map(|k| format!("{platform}={}", URL_SAFE_NO_PAD.encode(k.public_key()))).unwrap_or_default()
    }

    /// This platform's public key, in a service that holds the key.
    pub fn public_key(&self) -> Option<&[u8]> {
        self.key.as_ref().map(SigningKey::public_key)
    }

    /// Sign `headers` and `body` as this platform: sets `signature`. A
    /// service without the key (one that never produces sales) leaves the
    /// message unsigned, and readers apply it anonymously.
    pub fn sign(&self, headers: &mut SaleHeaders, body: &[u8]) {
        headers.signature = None;
        let Some(key) = &self.key else {
            tracing::error!("asked to sign a sales message without PLATFORM_SIGNING_KEY");
            return;
        };
        headers.signature = Some(URL_SAFE_NO_PAD.encode(key.sign_bytes(&headers.signed_bytes(body))));
    }

    /// Whether the signature of a message verifies with its signer's key.
    pub fn verify(&self, headers: &SaleHeaders, body: &[u8]) -> bool {
        let (Some(signer), Some(signature)) = (headers.signer(), headers.signature.as_deref()) else {
            return false;
        };
        self.verify_bytes(signer, &headers.signed_bytes(body), signature)
    }

    /// This platform's signature (base64url, no padding) of `signed`, bytes
    /// that begin with a label of their own (`ticktak-gate-v1`,
    /// `ticktak-ticket-v2`, …) so that no signature counts for another kind
    /// of message. `None` in a service without the key.
    pub fn sign_bytes(&self, signed: &[u8]) -> Option<String> {
        self.key.as_ref().map(|key| URL_SAFE_NO_PAD.encode(key.sign_bytes(signed)))
    }

    /// Whether `signature` (base64url) of `signed` is `signer`'s, by one of
    /// its keys in the market's list.
    pub fn verify_bytes(&self, signer: &PlatformId, signed: &[u8], signature: &str) -> bool {
        let Ok(signature) = URL_SAFE_NO_PAD.decode(signature.trim().trim_end_matches('=')) else { return false };
        let verifies = |public: &[u8]| {
            ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public)
                .verify(signed, &signature)
                .is_ok()
        };
        match &self.keys {
            PlatformKeys::Development => verifies(&development_public_key(signer)),
            PlatformKeys::Listed(listed) => {
                listed.get(signer).is_some_and(|publics| publics.iter().any(|p| verifies(p)))
            }
        }
    }

    /// The headers a message is applied with: as they are when they claim
    /// nothing or their signature verifies, else [`SaleHeaders::anonymous`].
    /// A re-homed copy, even verified, vouches only for its origin: its
    /// line counts anonymously, since its re-homer cannot sign for the
    /// producer and a hold is closed by its owner's own message only.
    pub fn vetted(&self, headers: SaleHeaders, body: &[u8]) -> SaleHeaders {
        if !headers.claims_a_signer() {
            return headers;
        }
        if !self.verify(&headers, body) {
            metrics::counter!("consumer_messages_unverified_total").increment(1);
            // An unverified copy is dropped, not counted: its line is
            // counted through a copy that verifies (every platform makes
            // one), never twice.
            if headers.rehomed_from.is_some() {
                return SaleHeaders { rehomed_from: headers.rehomed_from, ..SaleHeaders::default() };
            }
            return headers.anonymous();
        }
        match headers.rehomed_from {
            Some(_) => SaleHeaders { client_id: None, hold_id: None, buyer: None, ..headers },
            None => headers,
        }
    }
}

fn parse_keys(text: &str) -> Result<BTreeMap<PlatformId, Vec<Vec<u8>>>, String> {
    let mut keys = BTreeMap::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (id, public) = entry.split_once('=').ok_or_else(|| format!("{entry:?} is not id=key"))?;
        let id = PlatformId::new(id.trim()).map_err(|e| e.0)?;
        let public = URL_SAFE_NO_PAD
            .decode(public.trim().trim_end_matches('='))
            .ok()
            .filter(|k| k.len() == 32)
            .ok_or_else(|| format!("{id}'s key is not 32 bytes of base64url"))?;
        let publics: &mut Vec<Vec<u8>> = keys.entry(id.clone()).or_default();
        if publics.contains(&public) {
            return Err(format!("{id}'s key is listed twice"));
        }
        publics.push(public);
    }
    if keys.is_empty() {
        return Err("lists no platform".into());
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use ticktak_core::HoldId;

    use super::*;

    fn id(s: &str) -> PlatformId {
        PlatformId::new(s).unwrap()
    }

    fn env(vars: &[(&str, String)]) -> Env<'static> {
        let vars: std::collections::HashMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        Env::from_fn(move |k| vars.get(k).cloned())
    }

    #[test]
    fn a_signed_message_verifies_and_any_change_or_spoofed_producer_does_not() {
        let a = Trust::development(&id("a"));
        let body = br#"{"meta":{"action":"TICKET_CANCELLED"}}"#;
        let mut h = SaleHeaders::for_hold(&id("a"), HoldId::new());
        a.sign(&mut h, body);
        let b = Trust::development(&id("b"));
        assert!(b.verify(&h, body), "every platform verifies a's message");
        assert!(!b.verify(&h, br#"{"meta":{"action":"TICKET_RESERVED"}}"#), "another body");
        let spoofed = SaleHeaders { client_id: Some(id("b")), ..h.clone() };
        assert!(!b.verify(&spoofed, body), "a's signature does not make b the producer");
        assert!(!b.verify(&SaleHeaders { signature: None, ..h.clone() }, body));
        assert_eq!(b.vetted(spoofed, body), h.anonymous());
        assert_eq!(b.vetted(h.clone(), body), h);
        let plain = SaleHeaders::default();
        assert_eq!(b.vetted(plain.clone(), body), plain, "a course message claims nothing");
    }

    #[test]
    fn listed_keys_trust_only_the_listed_platforms() {
        let (ka, kb) = (SigningKey::generate(), SigningKey::generate());
        let list = |k: &SigningKey, name: &str| format!("{name}={}", URL_SAFE_NO_PAD.encode(k.public_key()));
        let keys = format!("{},{}", list(&ka, "a"), list(&kb, "b"));
        let vars = |k: &SigningKey| {
            env(&[
                ("PLATFORM_SIGNING_KEY", k.to_pem()),
                ("PLATFORM_KEYS", keys.clone()),
                ("ORGANISERS_KEY", "none".into()),
            ])
        };
        let a = Trust::from_env(&id("a"), crate::Service::Reservations, true, &vars(&ka)).unwrap();
        let b = Trust::from_env(&id("b"), crate::Service::ShopConsumer, true, &vars(&kb)).unwrap();
        let body = b"{}";
        let mut h = SaleHeaders::for_hold(&id("a"), HoldId::new());
        a.sign(&mut h, body);
        assert!(b.verify(&h, body));
        // Mallory is not listed; nor is a development key of a trusted.
        let mut m = SaleHeaders::for_hold(&id("mallory"), HoldId::new());
        Trust::development(&id("mallory")).sign(&mut m, body);
        assert!(!b.verify(&m, body));
        let mut forged = SaleHeaders::for_hold(&id("a"), HoldId::new());
        Trust::development(&id("a")).sign(&mut forged, body);
        assert!(!b.verify(&forged, body));
    }

    #[test]
    fn production_needs_real_keys_that_list_this_platform() {
        let k = SigningKey::generate();
        let own = format!("a={}", URL_SAFE_NO_PAD.encode(k.public_key()));
        let other = format!("b={}", URL_SAFE_NO_PAD.encode(SigningKey::generate().public_key()));
        let dev = format!("a={}", URL_SAFE_NO_PAD.encode(development_key(&id("a")).public_key()));
        for (vars, why) in [
            (vec![], "PLATFORM_SIGNING_KEY"),
            (vec![("PLATFORM_SIGNING_KEY", k.to_pem())], "PLATFORM_KEYS"),
            (
                vec![("PLATFORM_SIGNING_KEY", development_key(&id("a")).to_pem()), ("PLATFORM_KEYS", dev)],
                "PLATFORM_SIGNING_KEY",
            ),
            (vec![("PLATFORM_SIGNING_KEY", k.to_pem()), ("PLATFORM_KEYS", other.clone())], "PLATFORM_KEYS"),
            (vec![("PLATFORM_SIGNING_KEY", k.to_pem()), ("PLATFORM_KEYS", format!("{own},a=xyz"))], "PLATFORM_KEYS"),
        ] {
            let err = Trust::from_env(&id("a"), crate::Service::ShopConsumer, true, &env(&vars)).unwrap_err();
            assert_eq!(err.var, why, "{err}");
        }
        let real = [("PLATFORM_SIGNING_KEY", k.to_pem()), ("PLATFORM_KEYS", format!("{own},{other}"))];
        let err = Trust::from_env(&id("a"), crate::Service::ShopConsumer, true, &env(&real)).unwrap_err();
        assert_eq!(err.var, "ORGANISERS_KEY");
        let dev_organisers = URL_SAFE_NO_PAD.encode(development_organisers_key().public_key());
        let with = |organisers: String| {
            let vars: Vec<(&str, String)> = real.iter().cloned().chain([("ORGANISERS_KEY", organisers)]).collect();
            Trust::from_env(&id("a"), crate::Service::ShopConsumer, true, &env(&vars))
        };
        assert_eq!(with(dev_organisers).unwrap_err().var, "ORGANISERS_KEY");
        assert!(!with("none".into()).unwrap().has_organisers_key());
        let organisers = SigningKey::generate();
        let trust = with(URL_SAFE_NO_PAD.encode(organisers.public_key())).unwrap();
        let headers = sign_masterlist(&organisers, b"{}");
        let (issued_at, signature) = (headers[0].1.as_str(), headers[1].1.as_str());
        assert!(trust.issued_by_organisers(b"{}", Some(issued_at), Some(signature)).is_some());
        assert!(trust.issued_by_organisers(b"{ }", Some(issued_at), Some(signature)).is_none());
        let later = "2100-01-01T00:00:00.000000Z";
        assert!(trust.issued_by_organisers(b"{}", Some(later), Some(signature)).is_none(), "the time is signed");
        let forged = sign_masterlist(&development_organisers_key(), b"{}");
        assert!(trust.issued_by_organisers(b"{}", Some(&forged[0].1), Some(&forged[1].1)).is_none());
        assert!(
            Trust::from_env(&id("a"), crate::Service::ShopConsumer, false, &env(&[])).is_ok(),
            "development defaults"
        );
        // Services that neither sign nor read sales need neither.
        assert!(Trust::from_env(&id("a"), crate::Service::Payments, true, &env(&[])).is_ok());
        let err = Trust::from_env(&id("a"), crate::Service::Analytics, true, &env(&[])).unwrap_err();
        assert_eq!(err.var, "PLATFORM_KEYS");
    }
}
