//! The SMTP sink tests read: maildev (`make test` starts it; SMTP
//! `TEST_SMTP_URL`, default smtp://127.0.0.1:1025, API `TEST_MAILDEV_URL`,
//! default http://127.0.0.1:1080). Tests tell their mail apart by
//! recipient: each uses addresses of its own.

use std::time::Duration;

use serde::Deserialize;

pub fn smtp_url() -> String {
    std::env::var("TEST_SMTP_URL").unwrap_or_else(|_| "smtp://127.0.0.1:1025".into())
}

pub fn maildev_url() -> String {
    std::env::var("TEST_MAILDEV_URL").unwrap_or_else(|_| "http://127.0.0.1:1080".into())
}

pub fn settings(smtp_url: &str) -> ticktak_kit::mail::MailSettings {
    let vars = [("SMTP_URL", smtp_url)];
    ticktak_kit::mail::MailSettings::from_env(false, &ticktak_kit::config::Env::from_pairs(&vars))
        .expect("test mail settings are valid")
}

#[derive(Debug, Clone, Deserialize)]
pub struct Address {
    pub address: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    pub generated_file_name: String,
    pub content_type: String,
}

/// A message as maildev lists it (`GET /email`).
#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    pub id: String,
    pub subject: String,
    pub text: Option<String>,
    pub to: Vec<Address>,
    #[serde(default)]
    pub attachments: Option<Vec<Attachment>>,
}

/// Every message maildev at `base` holds for `to`.
pub async fn messages_to(base: &str, to: &str) -> Vec<Message> {
    let all: Vec<Message> = reqwest::get(format!("{base}/email"))
        .await
        .expect("maildev answers")
        .json()
        .await
        .expect("maildev lists messages");
    all.into_iter().filter(|m| m.to.iter().any(|a| a.address.eq_ignore_ascii_case(to))).collect()
}

/// Wait (up to `within`) until `to` has `n` messages; returns them.
pub async fn wait_for(base: &str, to: &str, n: usize, within: Duration) -> Vec<Message> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let found = messages_to(base, to).await;
        if found.len() >= n || tokio::time::Instant::now() >= deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The `token=` values of the links in a message's text.
pub fn link_tokens(message: &Message) -> Vec<String> {
    let text = message.text.as_deref().unwrap_or_default();
    text.split("token=")
        .skip(1)
        .map(|rest| rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect())
        .collect()
}

/// Confirm `email`'s new account at the security service `security_url`
/// with the link mailed to it. maildev is shared by every test, and tests
/// may use the same address in their own databases: each link mailed to
/// the address is tried until one confirms (another test's answers 400).
pub async fn confirm_address(security_url: &str, email: &str) {
    let http = reqwest::Client::new();
    let mut tried = std::collections::HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut messages = messages_to(&maildev_url(), email).await;
        messages.reverse();
        for m in messages.iter().filter(|m| m.subject == "Confirm your e-mail address") {
            for token in link_tokens(m) {
                if !tried.insert(token.clone()) {
                    continue;
                }
                let res = http
                    .post(format!("{security_url}/api/auth/verify-email"))
                    .json(&serde_json::json!({ "token": token }))
                    .send()
                    .await
                    .expect("security answers");
                if res.status().is_success() {
                    return;
                }
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "no working confirmation link reached {email}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The bytes of an attachment.
pub async fn attachment(base: &str, message: &Message, file: &str) -> Vec<u8> {
    reqwest::get(format!("{base}/email/{}/attachment/{file}", message.id))
        .await
        .expect("maildev answers")
        .bytes()
        .await
        .expect("attachment read")
        .to_vec()
}
