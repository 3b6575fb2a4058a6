//! Ed25519 signing keys of access tokens: read from PKCS#8 (PEM or its
//! base64 body on one line, as `openssl genpkey -algorithm ed25519` writes
//! it), generated, and published as JWKs whose `kid` is the RFC 7638
//! thumbprint of the public key.
//!
//! Only the security service (and the `mint-token` development tool) holds
//! a private key; every other service sees the [`Jwk`]s.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, KeyAlgorithm, OctetKeyPairParameters, OctetKeyPairType,
    PublicKeyUse,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::KeyPair as _;

use super::Claims;

/// The development signing key: public, so it must never sign anything a
/// real buyer relies on. `APP_ENV=production` refuses it.
pub const DEV_SIGNING_KEY: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIDx4Pj8W895X9bghwQr7iKibqTdb3RntXjsX8ZoMLiRU
-----END PRIVATE KEY-----";

/// A private key that signs access tokens.
#[derive(Clone)]
pub struct SigningKey {
    pkcs8: Vec<u8>,
    /// The parsed pair, kept: parsing it again derives the public key, which
    /// costs as much as a signature.
    pair: std::sync::Arc<ring::signature::Ed25519KeyPair>,
    encoding: EncodingKey,
    public: Vec<u8>,
    kid: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Read a PKCS#8 Ed25519 key: PEM, or the base64 of its DER on one line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let body: String = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .concat();
        let der = STANDARD
            .decode(body.replace("\\n", ""))
            .map_err(|_| "not a PEM or base64 PKCS#8 Ed25519 private key".to_string())?;
        Self::from_pkcs8(der)
    }

    fn from_pkcs8(der: Vec<u8>) -> Result<Self, String> {
        let pair = ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
            .map_err(|_| "not a PKCS#8 Ed25519 private key".to_string())?;
        let public = pair.public_key().as_ref().to_vec();
        let kid = thumbprint(&public);
        Ok(Self { encoding: EncodingKey::from_ed_der(&der), pkcs8: der, pair: std::sync::Arc::new(pair), public, kid })
    }

    /// A new random key.
    pub fn generate() -> Self {
        let doc = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
            .expect("the system random source works");
        Self::from_pkcs8(doc.as_ref().to_vec()).expect("ring generates valid PKCS#8")
    }

    /// The development key (see [`DEV_SIGNING_KEY`]).
    pub fn dev() -> Self {
        Self::parse(DEV_SIGNING_KEY).expect("the development key parses")
    }

    pub fn is_dev(&self) -> bool {
        self.kid == Self::dev().kid
    }

    /// The key in PEM, to store it (`security generate-signing-key`).
    pub fn to_pem(&self) -> String {
        format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", STANDARD.encode(&self.pkcs8))
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half, as published in the JWKS.
    pub fn jwk(&self) -> Jwk {
        Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::EdDSA),
                key_id: Some(self.kid.clone()),
                ..Default::default()
            },
            algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: URL_SAFE_NO_PAD.encode(&self.public),
            }),
        }
    }

    /// The raw 32-byte Ed25519 public key.
    pub fn public_key(&self) -> &[u8] {
        &self.public
    }

    /// A raw Ed25519 signature of `message` (64 bytes), for what is not a
    /// token (e.g. ticket codes).
    pub fn sign_bytes(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(message).as_ref().to_vec()
    }

    /// A signed token carrying `claims`, with this key's `kid`.
    pub fn sign(&self, claims: &Claims) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("Ed25519 signing cannot fail")
    }
}

/// RFC 7638 thumbprint of an Ed25519 public key (RFC 8037 §2).
fn thumbprint(public: &[u8]) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, URL_SAFE_NO_PAD.encode(public));
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_from_pem_or_one_line_and_round_trip() {
        let dev = SigningKey::dev();
        assert!(dev.is_dev());
        let one_line = DEV_SIGNING_KEY.lines().nth(1).unwrap();
        assert_eq!(SigningKey::parse(one_line).unwrap().kid(), dev.kid());
        let fresh = SigningKey::generate();
        assert!(!fresh.is_dev());
        assert_eq!(SigningKey::parse(&fresh.to_pem()).unwrap().kid(), fresh.kid());
        assert!(SigningKey::parse("hello").is_err());
        assert!(SigningKey::parse("aGVsbG8=").is_err());
        assert!(!format!("{fresh:?}").contains(&STANDARD.encode(&fresh.pkcs8)));
    }
}
