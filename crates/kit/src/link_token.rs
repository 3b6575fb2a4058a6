//! Secrets mailed or handed out once — refresh tokens, the links that
//! confirm an address or reset a password, a ticket's transfer offer: 256
//! random bits in URL-safe base64, of which only the SHA-256 is kept, so a
//! copy of the database opens nothing (a mailed link is in the mail outbox
//! only until the SMTP server takes it: `crate::mail` clears sent bodies).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::SecureRandom;

/// A new token and the hash to store.
pub fn new() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut bytes).expect("the system random source works");
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&token);
    (token, hash)
}

/// What is stored of `token`.
pub fn hash(token: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref().to_vec()
}

/// Whether `raw` could be a token of [`new`] (checked before a lookup).
pub fn well_formed(raw: &str) -> bool {
    raw.len() == 43 && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_random_well_formed_and_stored_as_its_hash() {
        let (a, hash_a) = new();
        let (b, _) = new();
        assert_ne!(a, b);
        assert!(well_formed(&a), "{a}");
        assert_eq!(hash(&a), hash_a);
        assert_eq!(hash_a.len(), 32);
        assert!(!well_formed("short") && !well_formed(&"x".repeat(42)) && !well_formed(&format!("{}=", &a[..42])));
    }
}
