//! Proof-of-work challenges (ALTCHA's scheme), for clients the security
//! service finds suspect: a request from them needs a solved puzzle in
//! `X-Challenge-Solution`, else `428 challenge_required`.
//!
//! `GET /api/challenge` (every service) hands out a puzzle: a random
//! number `n ≤ maxnumber` is hidden in `challenge = hex(SHA-256(salt ‖ n))`;
//! the client finds `n` by trying them all (on average `maxnumber / 2`
//! hashes: ~50 ms for 100,000 in a browser), and answers with
//! `base64(JSON {algorithm, challenge, number, salt, signature})`.
//! `signature = hex(HMAC-SHA-256(salt ‖ "\n" ‖ challenge))` under a key every
//! service of the platform derives from `INTERNAL_TOKEN`, so any service
//! verifies any puzzle without a database. The salt carries its expiry
//! (`…?expires=<unix>`) and the signature covers it: since `salt ‖ n` has
//! no separator, a client could otherwise move digits of `n` into the
//! expiry (`…?expires=1700000300` + `42` = `…?expires=17000003004` + `2`)
//! and keep one solution for centuries. An expiry further than [`TTL_SECS`]
//! ahead is refused too, and a service accepts each puzzle once (what it
//! remembers for that expires with the puzzle).
//!
//! `ticktak-solve` (security crate) solves one for `curl` users; the web
//! client solves it in a web worker.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::digest::{digest, SHA256};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The header a solution travels in.
pub const HEADER: &str = "x-challenge-solution";
/// How long a puzzle stays valid.
pub const TTL_SECS: i64 = 300;
/// `maxnumber` when the policy names none.
pub const DEFAULT_DIFFICULTY: u64 = 100_000;

/// A puzzle, as `GET /api/challenge` answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Challenge {
    /// Always `SHA-256`.
    pub algorithm: String,
    /// `hex(SHA-256(salt ‖ number))`.
    pub challenge: String,
    /// The largest number to try.
    pub maxnumber: u64,
    pub salt: String,
    pub signature: String,
}

/// What a client sends back (base64 of its JSON in `X-Challenge-Solution`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Solution {
    pub algorithm: String,
    pub challenge: String,
    pub number: u64,
    pub salt: String,
    pub signature: String,
}

/// Why a solution was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the challenge solution is malformed")]
    Malformed,
    #[error("the challenge was not issued by this platform")]
    Forged,
    #[error("the challenge has expired; fetch a new one")]
    Expired,
    #[error("the number does not solve the challenge")]
    Wrong,
    #[error("the challenge was already used; fetch a new one")]
    Reused,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hash(salt: &str, number: u64) -> String {
    hex(digest(&SHA256, format!("{salt}{number}").as_bytes()).as_ref())
}

/// What the platform's signature of a puzzle covers: its salt (with the
/// expiry) and its challenge.
fn signed(salt: &str, challenge: &str) -> Vec<u8> {
    format!("{salt}\n{challenge}").into_bytes()
}

/// Issues and checks puzzles.
pub struct Challenges {
    key: hmac::Key,
    random: SystemRandom,
    /// Puzzles already solved here, with their expiry.
    used: Mutex<HashMap<String, i64>>,
}

impl Challenges {
    /// Derive the platform's puzzle key from its internal credential.
    pub fn new(internal_token: &str) -> Self {
        let derived = digest(&SHA256, format!("ticktak-challenge-v1:{internal_token}").as_bytes());
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
            random: SystemRandom::new(),
            used: Default::default(),
        }
    }

    fn random_u64(&self) -> u64 {
        let mut b = [0u8; 8];
        self.random.fill(&mut b).expect("the system random source works");
        u64::from_le_bytes(b)
    }

    /// A new puzzle of `maxnumber` tries at most, valid for [`TTL_SECS`].
    pub fn issue(&self, maxnumber: u64, now: i64) -> Challenge {
        let maxnumber = maxnumber.max(1);
        let mut nonce = [0u8; 12];
        self.random.fill(&mut nonce).expect("the system random source works");
        let salt = format!("{}?expires={}", hex(&nonce), now + TTL_SECS);
        let number = self.random_u64() % (maxnumber + 1);
        let challenge = hash(&salt, number);
        let signature = hex(hmac::sign(&self.key, &signed(&salt, &challenge)).as_ref());
        Challenge { algorithm: "SHA-256".into(), challenge, maxnumber, salt, signature }
    }

    /// Check a header value; a valid solution is used up.
    pub fn verify(&self, header: &str, now: i64) -> Result<(), Refused> {
        let json = STANDARD.decode(header.trim()).map_err(|_| Refused::Malformed)?;
        let s: Solution = serde_json::from_slice(&json).map_err(|_| Refused::Malformed)?;
        if s.algorithm != "SHA-256" {
            return Err(Refused::Malformed);
        }
        let signature = (0..s.signature.len())
            .step_by(2)
            .map(|i| s.signature.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect::<Option<Vec<u8>>>()
            .ok_or(Refused::Malformed)?;
        hmac::verify(&self.key, &signed(&s.salt, &s.challenge), &signature).map_err(|_| Refused::Forged)?;
        let expires: i64 =
            s.salt.split_once("?expires=").and_then(|(_, t)| t.parse().ok()).ok_or(Refused::Malformed)?;
        if expires < now {
            return Err(Refused::Expired);
        }
        if expires > now + TTL_SECS {
            return Err(Refused::Forged);
        }
        if hash(&s.salt, s.number) != s.challenge {
            return Err(Refused::Wrong);
        }
        let mut used = self.used.lock().expect("not poisoned");
        if used.len() > 100_000 {
            used.retain(|_, e| *e >= now);
        }
        if used.insert(s.challenge, expires).is_some() {
            return Err(Refused::Reused);
        }
        Ok(())
    }
}

/// The cookie a browser keeps its solution in (`assets/challenge.js`).
pub const COOKIE: &str = "tt_challenge";

/// The solution in the request's `tt_challenge` cookie, if any.
pub fn from_cookie(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .filter(|v| !v.is_empty())
}

/// Find the number of `c` (what a client does); `None` if there is none.
pub fn solve(c: &Challenge) -> Option<u64> {
    (0..=c.maxnumber).find(|n| hash(&c.salt, *n) == c.challenge)
}

/// The header value that answers `c` with `number`.
pub fn header_value(c: &Challenge, number: u64) -> String {
    let s = Solution {
        algorithm: c.algorithm.clone(),
        challenge: c.challenge.clone(),
        number,
        salt: c.salt.clone(),
        signature: c.signature.clone(),
    };
    STANDARD.encode(serde_json::to_vec(&s).expect("serialises"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_solved_puzzle_passes_once() {
        let c = Challenges::new("secret-token-of-16");
        let p = c.issue(2_000, 1_000);
        let n = solve(&p).unwrap();
        let answer = header_value(&p, n);
        assert_eq!(c.verify(&answer, 1_000), Ok(()));
        assert_eq!(c.verify(&answer, 1_001), Err(Refused::Reused));
    }

    #[test]
    fn wrong_forged_expired_and_malformed_solutions_are_refused() {
        let c = Challenges::new("secret-token-of-16");
        let p = c.issue(2_000, 1_000);
        let n = solve(&p).unwrap();
        let wrong = header_value(&p, n + 1);
        assert_eq!(c.verify(&wrong, 1_000), Err(Refused::Wrong));
        assert_eq!(c.verify(&header_value(&p, n), 1_000 + TTL_SECS + 1), Err(Refused::Expired));
        // Another platform's key, or a puzzle made up by the client.
        let other = Challenges::new("another-platform-token").issue(10, 1_000);
        assert_eq!(c.verify(&header_value(&other, solve(&other).unwrap()), 1_000), Err(Refused::Forged));
        let mut easy = p.clone();
        easy.salt = "x?expires=99999".into();
        easy.challenge = hash(&easy.salt, 1);
        assert_eq!(c.verify(&header_value(&easy, 1), 1_000), Err(Refused::Forged));
        for bad in ["", "!!!", &STANDARD.encode("{}")] {
            assert_eq!(c.verify(bad, 1_000), Err(Refused::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn digits_of_the_number_moved_into_the_expiry_do_not_extend_a_puzzle() {
        let c = Challenges::new("secret-token-of-16");
        // A puzzle whose number has two digits or more and no leading zero
        // after its first digit.
        let (p, n) = std::iter::repeat_with(|| {
            let p = c.issue(100_000, 1_000);
            let n = solve(&p).unwrap();
            (p, n)
        })
        .find(|(_, n)| *n >= 10 && !n.to_string()[1..].starts_with('0'))
        .unwrap();
        let digits = n.to_string();
        let mut moved = p.clone();
        moved.salt = format!("{}{}", p.salt, &digits[..1]);
        let rest: u64 = digits[1..].parse().unwrap();
        assert_eq!(hash(&moved.salt, rest), p.challenge, "the same challenge, ten times the expiry");
        assert_eq!(c.verify(&header_value(&moved, rest), 1_000), Err(Refused::Forged));
        assert_eq!(c.verify(&header_value(&p, n), 1_000), Ok(()));
    }
}
