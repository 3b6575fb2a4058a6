//! Passwords: the sign-up policy, and argon2id hashing and verification on
//! the blocking threads (a hash takes tens of milliseconds of CPU and 19 MiB,
//! so at most one per core runs at a time; the rest queue).

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use tokio::sync::Semaphore;

/// Fewest characters of a password.
pub const MIN_LEN: usize = 10;
/// Most characters of a password (a longer one only costs us hashing time).
pub const MAX_LEN: usize = 128;

/// The 30,000 most common passwords, most common first (zxcvbn's frequency
/// list, MIT licence), refused at sign-up whatever their case.
static COMMON: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("../data/common-passwords.txt").lines().collect());

/// Why a password is refused at sign-up, or `None` when it is acceptable.
pub fn policy_violation(password: &str, email: &str, name: &str) -> Option<String> {
    let chars = password.chars().count();
    if chars < MIN_LEN {
        return Some(format!("password must have at least {MIN_LEN} characters"));
    }
    if chars > MAX_LEN {
        return Some(format!("password must have at most {MAX_LEN} characters"));
    }
    let lower = password.to_lowercase();
    if COMMON.contains(lower.as_str()) {
        return Some("password is too common; choose another".into());
    }
    let local = email.split('@').next().unwrap_or_default().to_lowercase();
    if lower == email.to_lowercase() || lower == name.to_lowercase() || (local.len() >= 4 && lower.contains(&local)) {
        return Some("password must not contain your e-mail address or name".into());
    }
    None
}

/// Hashing and verification, off the async threads.
#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    /// Verified against when the e-mail is unknown, so that sign-in costs
    /// the same whether or not the account exists.
    dummy_hash: Arc<str>,
}

impl Passwords {
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let dummy_hash = hash_now("not-a-password-of-anyone").into();
        Self { permits: Arc::new(Semaphore::new(cores)), dummy_hash }
    }

    /// The PHC string of `password` (argon2id, a random salt).
    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        let _permit = self.permits.acquire().await?;
        Ok(tokio::task::spawn_blocking(move || hash_now(&password)).await?)
    }

    /// Whether `password` matches `hash`; with no hash (unknown e-mail) the
    /// same work is done against a dummy and the answer is no.
    pub async fn verify(&self, password: String, hash: Option<String>) -> anyhow::Result<bool> {
        let _permit = self.permits.acquire().await?;
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.to_string());
        let matches = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
        })
        .await?;
        Ok(known && matches)
    }
}

impl Default for Passwords {
    fn default() -> Self {
        Self::new()
    }
}

fn hash_now(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).expect("argon2 with default parameters").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_common_and_personal_passwords_are_refused() {
        let ok = |p: &str| policy_violation(p, "lionel@example.com", "Lionel Messi");
        assert!(ok("short").unwrap().contains("at least 10"));
        assert!(ok("QwertyUiop").unwrap().contains("too common"));
        assert!(ok("1234567890").unwrap().contains("too common"));
        assert!(ok("lionel-2022-qatar").unwrap().contains("e-mail"));
        assert!(ok(&"x".repeat(129)).unwrap().contains("at most"));
        assert_eq!(ok("correct horse battery staple"), None);
    }

    #[tokio::test]
    async fn hashes_verify_only_the_right_password_and_unknown_accounts_never() {
        let p = Passwords::new();
        let hash = p.hash("correct horse battery".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(p.verify("correct horse battery".into(), Some(hash.clone())).await.unwrap());
        assert!(!p.verify("wrong horse battery".into(), Some(hash)).await.unwrap());
        assert!(!p.verify("not-a-password-of-anyone".into(), None).await.unwrap());
    }
}
