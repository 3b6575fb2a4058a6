//! Ticket codes: what the QR code on a ticket holds, signed so that a gate
//! scanner verifies it offline with the public key alone
//! (`GET /api/tickets/public-key`).
//!
//! Format (version 1): `TT1.<payload>.<signature>`, both parts base64url
//! without padding. The payload is 18 bytes: the ticket id (16, a random
//! UUID, so codes cannot be guessed), the match number (1) and the category
//! (1). The signature is Ed25519 over `ticktak-ticket-v1` followed by the
//! payload bytes; without the private key a code cannot be made or altered.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ticktak_kit::auth::SigningKey;
use uuid::Uuid;

const PREFIX: &str = "TT1.";
const DOMAIN: &[u8] = b"ticktak-ticket-v1";

/// What a valid code names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeClaims {
    pub ticket_id: Uuid,
    pub match_number: u8,
    pub category: u8,
}

fn payload(c: &CodeClaims) -> Vec<u8> {
    let mut bytes = c.ticket_id.as_bytes().to_vec();
    bytes.extend([c.match_number, c.category]);
    bytes
}

fn signed_message(payload: &[u8]) -> Vec<u8> {
    [DOMAIN, payload].concat()
}

/// The code of a ticket, signed with `key`.
pub fn issue(key: &SigningKey, claims: &CodeClaims) -> String {
    let payload = payload(claims);
    let signature = key.sign_bytes(&signed_message(&payload));
    format!("{PREFIX}{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(signature))
}

/// What `code` names, if `public_key` signed it; `None` for anything forged,
/// altered or malformed.
pub fn verify(public_key: &[u8], code: &str) -> Option<CodeClaims> {
    let (payload, signature) = code.trim().strip_prefix(PREFIX)?.split_once('.')?;
    let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    if payload.len() != 18 {
        return None;
    }
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public_key)
        .verify(&signed_message(&payload), &signature)
        .ok()?;
    Some(CodeClaims {
        ticket_id: Uuid::from_slice(&payload[..16]).ok()?,
        match_number: payload[16],
        category: payload[17],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> CodeClaims {
        CodeClaims { ticket_id: Uuid::new_v4(), match_number: 7, category: 2 }
    }

    #[test]
    fn a_code_verifies_with_the_public_key_and_names_its_ticket() {
        let key = SigningKey::generate();
        let c = claims();
        assert_eq!(verify(key.public_key(), &issue(&key, &c)), Some(c));
    }

    #[test]
    fn forged_altered_and_malformed_codes_are_refused() {
        let key = SigningKey::generate();
        let code = issue(&key, &claims());
        let other = issue(&SigningKey::generate(), &claims());
        let (head, signature) = code.rsplit_once('.').unwrap();
        // Another ticket id under the original signature.
        let mut payload = URL_SAFE_NO_PAD.decode(head.trim_start_matches(PREFIX)).unwrap();
        payload[17] = 1;
        let altered = format!("{PREFIX}{}.{signature}", URL_SAFE_NO_PAD.encode(&payload));
        for bad in [other.as_str(), &altered, "TT1.", "TT1.a.b", "", "garbage", &code[..code.len() - 2]] {
            assert_eq!(verify(key.public_key(), bad), None, "{bad:?} accepted");
        }
    }
}
