//! E-mail through an outbox: a message is written to the service's
//! `mail_outbox` table in the same transaction as the event it tells about,
//! and [`deliver`] sends it over SMTP (`lettre`) afterwards, retrying with
//! back-off. A dead SMTP server delays mail; it never loses it and never
//! blocks the sale that caused it.
//!
//! Each message has a `dedupe_key` naming its event (`tickets:{reservation}`),
//! so an event enqueued twice is mailed once; the key also becomes the
//! message's `Message-ID`, so a receiver can drop the copy that a crash
//! between the SMTP server's acceptance and our mark would send again.
//!
//! The table (each service that mails creates it in its own migrations):
//! ```sql
//! CREATE TABLE mail_outbox (
//!     id bigserial PRIMARY KEY, dedupe_key text NOT NULL UNIQUE,
//!     recipient text NOT NULL, subject text NOT NULL, body text NOT NULL,
//!     attachments jsonb NOT NULL DEFAULT '[]', attempts integer NOT NULL DEFAULT 0,
//!     next_attempt_at timestamptz NOT NULL DEFAULT now(), last_error text,
//!     sent_at timestamptz, created_at timestamptz NOT NULL DEFAULT now());
//! ```

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use lettre::message::header::ContentType;
use lettre::message::{Attachment as MimeAttachment, Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, Row, Transaction};
use tokio_util::sync::CancellationToken;

use crate::env::{ConfigError, Env};

/// Where mail goes: `SMTP_URL` (default `smtp://127.0.0.1:1025`, the
/// development sink; `smtps://user:pass@host` or `smtp://…?tls=required` for
/// a real relay) and the sender `MAIL_FROM`.
#[derive(Clone)]
pub struct MailSettings {
    pub smtp_url: secrecy::SecretString,
    pub from: Mailbox,
}

impl std::fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailSettings").field("from", &self.from.to_string()).finish_non_exhaustive()
    }
}

impl MailSettings {
    pub fn from_env(production: bool, env: &Env<'_>) -> Result<Self, ConfigError> {
        let smtp_url = match env.get("SMTP_URL") {
            Some(url) => url,
            None if production => return Err(env.error("SMTP_URL", "is required in production")),
            None => "smtp://127.0.0.1:1025".to_string(),
        };
        if !(smtp_url.starts_with("smtp://") || smtp_url.starts_with("smtps://")) {
            return Err(env.error("SMTP_URL", "must start with smtp:// or smtps://"));
        }
        let from = env
            .string("MAIL_FROM", "ticktak <tickets@ticktak.localhost>")
            .parse()
            .map_err(|e| env.error("MAIL_FROM", format!("not an e-mail address: {e}")))?;
        Ok(Self { smtp_url: smtp_url.into(), from })
    }
}

/// A file attached to a message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    /// The bytes, base64 in the table.
    #[serde(with = "base64_bytes")]
    pub data: Vec<u8>,
}

mod base64_bytes {
    use super::*;

    pub fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

/// A message to send.
#[derive(Debug, Clone)]
pub struct Mail {
    /// Names the event; the same key is mailed once.
    pub dedupe_key: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub attachments: Vec<Attachment>,
}

/// Queue `mail` in the caller's transaction; a key queued before is left
/// alone.
/// Drop every message queued to `email` (any case): the person asked to be
/// forgotten. Returns how many went.
pub async fn forget_recipient(tx: &mut Transaction<'_, Postgres>, email: &str) -> sqlx::Result<u64> {
    Ok(sqlx::query("DELETE FROM mail_outbox WHERE lower(recipient) = lower($1)")
        .bind(email)
        .execute(&mut **tx)
        .await?
        .rows_affected())
}

pub async fn enqueue(tx: &mut Transaction<'_, Postgres>, mail: &Mail) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO mail_outbox (dedupe_key, recipient, subject, body, attachments) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(&mail.dedupe_key)
    .bind(&mail.to)
    .bind(&mail.subject)
    .bind(&mail.body)
    .bind(serde_json::to_value(&mail.attachments).expect("attachments serialise"))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// How long a failed message waits before its next try: doubling from 1 s,
/// at most 5 min.
pub fn backoff(attempts: i32) -> Duration {
    Duration::from_secs(1u64 << attempts.clamp(0, 8)).min(Duration::from_secs(300))
}

/// How long a message being sent stays claimed, so another worker of the
/// same service leaves it alone.
const CLAIM: Duration = Duration::from_secs(60);

/// Send queued mail until `shutdown`, looking every `every`.
pub async fn deliver(pool: PgPool, settings: MailSettings, every: Duration, shutdown: CancellationToken) {
    crate::telemetry::zero_counters(&[("mail_sent_total", &[]), ("mail_failures_total", &[])]);
    let transport = match AsyncSmtpTransport::<Tokio1Executor>::from_url(secrecy::ExposeSecret::expose_secret(
        &settings.smtp_url,
    )) {
        Ok(builder) => builder.timeout(Some(Duration::from_secs(10))).build(),
        Err(e) => {
            tracing::error!(error = %e, "SMTP_URL is not usable; mail stays queued");
            return;
        }
    };
    while !shutdown.is_cancelled() {
        match send_due(&pool, &transport, &settings.from).await {
            Ok(0) | Err(_) => {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(every) => {}
                }
            }
            Ok(_) => {}
        }
    }
}

/// Claim the messages that are due, send each, and mark it sent or
/// scheduled again; returns how many were tried.
async fn send_due(
    pool: &PgPool,
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    from: &Mailbox,
) -> sqlx::Result<usize> {
    let rows = sqlx::query(
        "UPDATE mail_outbox SET next_attempt_at = now() + make_interval(secs => $1), attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM mail_outbox WHERE sent_at IS NULL AND next_attempt_at <= now() \
           ORDER BY id LIMIT 20 FOR UPDATE SKIP LOCKED) \
         RETURNING id, dedupe_key, recipient, subject, body, attachments, attempts",
    )
    .bind(CLAIM.as_secs_f64())
    .fetch_all(pool)
    .await
    .inspect_err(|e| tracing::warn!(error = %e, "cannot read the mail outbox"))?;
    for row in &rows {
        let id: i64 = row.get("id");
        let attempts: i32 = row.get("attempts");
        let mail = Mail {
            dedupe_key: row.get("dedupe_key"),
            to: row.get("recipient"),
            subject: row.get("subject"),
            body: row.get("body"),
            attachments: serde_json::from_value(row.get("attachments")).unwrap_or_default(),
        };
        let sent = match build(&mail, from) {
            Ok(message) => transport.send(message).await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        match sent {
            Ok(()) => {
                // Once sent, the body and attachments are dropped: a working
                // link or a ticket's code does not wait in the table for
                // whoever reads it next. Recipient, subject and key stay
                // (what was mailed to whom, once).
                sqlx::query(
                    "UPDATE mail_outbox SET sent_at = now(), last_error = NULL, body = '', attachments = '[]' \
                     WHERE id = $1",
                )
                .bind(id)
                .execute(pool)
                .await?;
                metrics::counter!("mail_sent_total").increment(1);
            }
            Err(error) => {
                tracing::warn!(id, attempts, %error, "mail not sent; it will be tried again");
                metrics::counter!("mail_failures_total").increment(1);
                sqlx::query(
                    "UPDATE mail_outbox SET last_error = $2, next_attempt_at = now() + make_interval(secs => $3) \
                     WHERE id = $1",
                )
                .bind(id)
                .bind(&error)
                .bind(backoff(attempts).as_secs_f64())
                .execute(pool)
                .await?;
            }
        }
    }
    Ok(rows.len())
}

/// The MIME message of `mail`: its text, then its attachments.
/// The HTML form of a message's text: its paragraphs (blank-line
/// separated) as `<p>`, its lines kept, every `http(s)://` address a link,
/// everything else escaped.
pub fn html_of(text: &str) -> String {
    let mut html = String::from(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"></head>\
         <body style=\"font-family: sans-serif; line-height: 1.5; max-width: 40em\">",
    );
    for paragraph in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        html.push_str("<p>");
        let lines: Vec<String> = paragraph.lines().map(linked).collect();
        html.push_str(&lines.join("<br>"));
        html.push_str("</p>");
    }
    html.push_str("</body></html>");
    html
}

/// One line, escaped, with its web addresses as links.
fn linked(line: &str) -> String {
    let mut out = String::new();
    for (i, word) in line.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let is_link = (word.starts_with("https://") || word.starts_with("http://")) && word.len() > 8;
        // A sentence's full stop or comma is not part of the address.
        let (address, tail) = match word.strip_suffix(['.', ',', ')']) {
            Some(stripped) if is_link => (stripped, &word[stripped.len()..]),
            _ => (word, ""),
        };
        if is_link {
            let a = escape(address);
            out.push_str(&format!("<a href=\"{a}\">{a}</a>{}", escape(tail)));
        } else {
            out.push_str(&escape(word));
        }
    }
    out
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn build(mail: &Mail, from: &Mailbox) -> Result<Message, String> {
    let to: Mailbox = mail.to.parse().map_err(|e| format!("bad recipient {:?}: {e}", mail.to))?;
    let domain = from.email.domain().to_string();
    // Text and HTML (`multipart/alternative`), the HTML made from the text
    // in one place, so the two never say different things.
    let mut parts =
        MultiPart::mixed().multipart(MultiPart::alternative_plain_html(mail.body.clone(), html_of(&mail.body)));
    for a in &mail.attachments {
        let content_type = ContentType::parse(&a.content_type).map_err(|e| e.to_string())?;
        parts = parts.singlepart(MimeAttachment::new(a.filename.clone()).body(a.data.clone(), content_type));
    }
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(&mail.subject)
        .message_id(Some(format!("<{}@{domain}>", mail.dedupe_key.replace([':', ' '], "."))))
        .multipart(parts)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_stops_at_five_minutes() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(30), Duration::from_secs(256));
        assert!(backoff(30) <= Duration::from_secs(300));
    }

    #[test]
    fn a_message_carries_its_text_and_attachments_and_a_stable_id() {
        let mail = Mail {
            dedupe_key: "tickets:42".into(),
            to: "buyer@example.com".into(),
            subject: "Your tickets".into(),
            body: "Match 1".into(),
            attachments: vec![Attachment {
                filename: "ticket-1.png".into(),
                content_type: "image/png".into(),
                data: vec![1, 2, 3],
            }],
        };
        let from: Mailbox = "ticktak <tickets@ticktak.localhost>".parse().unwrap();
        let text = String::from_utf8(build(&mail, &from).unwrap().formatted()).unwrap();
        assert!(text.contains("Message-ID: <tickets.42@ticktak.localhost>"), "{text}");
        assert!(text.contains("filename=\"ticket-1.png\""), "{text}");
        assert!(text.contains("multipart/alternative") && text.contains("Content-Type: text/html"), "{text}");
        assert!(build(&Mail { to: "not an address".into(), ..mail }, &from).is_err());
    }

    #[test]
    fn the_html_form_says_what_the_text_says_escaped_with_links() {
        let html =
            html_of("Hello <b>fan</b> & co,\n\nOpen https://tickets.example/verify-email?token=a_b-c.\nThanks\n");
        assert!(html.contains("<p>Hello &lt;b&gt;fan&lt;/b&gt; &amp; co,</p>"), "{html}");
        assert!(
            html.contains(
                "<a href=\"https://tickets.example/verify-email?token=a_b-c\">https://tickets.example/verify-email?token=a_b-c</a>.<br>Thanks"
            ),
            "{html}"
        );
        assert!(!html_of("javascript:alert(1) \"x\"").contains("<a "), "only web addresses are links");
        assert!(html_of("x\" onmouseover=\"y").contains("&quot;"));
    }
}
