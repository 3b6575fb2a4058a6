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
