//! Stripe's webhook signature: `Stripe-Signature: t=<unix time>,v1=<hex>`,
//! where `v1` is HMAC-SHA256 over `"<t>.<raw body>"` keyed with the
//! endpoint's secret; several `v1` may be present (during a secret's
//! rotation). async-stripe checks this only in a feature that compiles most
//! of the Stripe API besides, so the few lines live here, tested against
//! Stripe's documented construction.

/// How far a signature's time may be from ours.
pub const TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadSignature {
    #[error("malformed Stripe-Signature")]
    Malformed,
    #[error("the Stripe-Signature does not match the body")]
    Mismatch,
    #[error("the Stripe-Signature is more than 5 minutes from now")]
    Stale,
}

/// Check `header` over `body` with `secret` at time `now`.
pub fn verify(body: &[u8], header: &str, secret: &[u8], now: i64) -> Result<(), BadSignature> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", sig)) => candidates.push(decode_hex(sig).ok_or(BadSignature::Malformed)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(BadSignature::Malformed)?;
    if candidates.is_empty() {
        return Err(BadSignature::Malformed);
    }
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let signed = [timestamp.to_string().as_bytes(), b".", body].concat();
    // Constant-time comparison inside ring.
    if !candidates.iter().any(|c| ring::hmac::verify(&key, &signed, c).is_ok()) {
        return Err(BadSignature::Mismatch);
    }
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return Err(BadSignature::Stale);
    }
    Ok(())
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// A header signing `body` at `timestamp`, as the provider makes it (tests
/// and the stand-in use it).
pub fn sign(body: &[u8], secret: &[u8], timestamp: i64) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let tag = ring::hmac::sign(&key, &[timestamp.to_string().as_bytes(), b".", body].concat());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;

    #[test]
    fn a_signature_made_with_the_secret_verifies() {
        let header = sign(BODY, SECRET, 1_700_000_000);
        assert_eq!(verify(BODY, &header, SECRET, 1_700_000_100), Ok(()));
        // One good v1 among others (secret rotation).
        let rotated = format!("{},v1={}", header, "00".repeat(32));
        assert_eq!(verify(BODY, &rotated, SECRET, 1_700_000_000), Ok(()));
    }

    #[test]
    fn matches_an_independent_hmac() {
        // printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        let openssl = "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789";
        assert_eq!(sign(br#"{"a":1}"#, SECRET, 1_700_000_000), openssl);
        assert_eq!(verify(br#"{"a":1}"#, openssl, SECRET, 1_700_000_000), Ok(()));
    }

    #[test]
    fn altered_stale_and_malformed_signatures_are_refused() {
        let header = sign(BODY, SECRET, 1_700_000_000);
        assert_eq!(verify(b"{}", &header, SECRET, 1_700_000_000), Err(BadSignature::Mismatch));
        assert_eq!(verify(BODY, &header, b"other", 1_700_000_000), Err(BadSignature::Mismatch));
        assert_eq!(verify(BODY, &header, SECRET, 1_700_000_000 + 301), Err(BadSignature::Stale));
        for bad in ["", "t=1", "v1=00", "t=x,v1=00", "t=1,v1=zz", "t=1,v1=0"] {
            assert_eq!(verify(BODY, bad, SECRET, 1), Err(BadSignature::Malformed), "{bad:?}");
        }
    }
}
