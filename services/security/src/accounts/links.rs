//! Links mailed to an address: "confirm your address" after sign-up and
//! "choose a new password". A link carries 256 random bits, is stored as
//! their SHA-256 (a copy of the table opens no account), works once, and
//! expires ([`Purpose::ttl`]).
//!
//! What the mails say never depends on anything the person who asked typed
//! beyond the address itself: no name is quoted, so our sender cannot be
//! used to carry someone else's words to a victim. At most one mail of a
//! kind goes to an address per [`MAIL_EVERY_SECS`].

use chrono::Utc;
use sqlx::{PgPool, Postgres, Transaction};
use ticktak_kit::mail::{self, Mail};
use uuid::Uuid;

use crate::sessions::store::{hash, new_token};

/// What a link is for (`account_links.purpose`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::ResetPassword => "reset_password",
        }
    }

    /// How long a link works: two days to confirm an address, an hour to
    /// choose a new password.
    pub fn ttl(self) -> chrono::Duration {
        match self {
            Purpose::VerifyEmail => chrono::Duration::hours(48),
            Purpose::ResetPassword => chrono::Duration::hours(1),
        }
    }

    /// The web site's page the link opens.
    fn page(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify-email",
            Purpose::ResetPassword => "reset-password",
        }
    }
}

/// At most one mail of a kind to an address per this many seconds (a new
/// link, the "someone tried to sign up with your address" note): nobody
/// can make us flood an inbox.
pub const MAIL_EVERY_SECS: f64 = 600.0;

/// Whether a mail of `kind` went to `email` in the last
/// [`MAIL_EVERY_SECS`].
async fn mailed_lately(tx: &mut Transaction<'_, Postgres>, kind: &str, email: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM mail_outbox WHERE lower(recipient) = lower($1) \
           AND left(dedupe_key, length($2) + 1) = $2 || ':' AND created_at > now() - make_interval(secs => $3))",
    )
    .bind(email)
    .bind(kind)
    .bind(MAIL_EVERY_SECS)
    .fetch_one(&mut **tx)
    .await
}

/// A mail's dedupe key: its kind, then what makes it one of a kind.
fn key(kind: &str, unique: &str) -> String {
    format!("{kind}:{unique}")
}

/// A new link of `purpose` for `account`, mailed to `email` in `tx` —
/// unless one was mailed lately (that link still works).
pub async fn mail_link(
    tx: &mut Transaction<'_, Postgres>,
    site_url: &str,
    purpose: Purpose,
    account: Uuid,
    email: &str,
) -> sqlx::Result<()> {
    if mailed_lately(tx, purpose.as_str(), email).await? {
        return Ok(());
    }
    let (token, token_hash) = new_token();
    sqlx::query("INSERT INTO account_links (token_hash, account_id, purpose, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(&token_hash)
        .bind(account)
        .bind(purpose.as_str())
        .bind(Utc::now() + purpose.ttl())
        .execute(&mut **tx)
        .await?;
    let link = format!("{}/{}?token={token}", site_url.trim_end_matches('/'), purpose.page());
    let (subject, body) = match purpose {
        Purpose::VerifyEmail => (
            "Confirm your e-mail address",
            format!(
                "Hello,\n\n\
                 Someone, we hope you, signed up for a ticktak account with this address. To confirm it, open:\n\n\
                 {link}\n\n\
                 The link works once, for {} hours. Until the address is confirmed the account cannot sign in \
                 or buy.\n\n\
                 If it was not you, ignore this message: without the link nobody can use the account.\n",
                purpose.ttl().num_hours()
            ),
        ),
        Purpose::ResetPassword => (
            "Choose a new password",
            format!(
                "Hello,\n\n\
                 Someone, we hope you, asked to choose a new password for the ticktak account of this address. \
                 To do so, open:\n\n\
                 {link}\n\n\
                 The link works once, for {} minutes. Choosing a new password signs the account out everywhere.\n\n\
                 If it was not you, ignore this message: your password stays as it is.\n",
                purpose.ttl().num_minutes()
            ),
        ),
    };
    let mail = Mail {
        dedupe_key: key(purpose.as_str(), &Uuid::now_v7().to_string()),
        to: email.to_string(),
        subject: subject.to_string(),
        body,
        attachments: Vec::new(),
    };
    mail::enqueue(tx, &mail).await
}

/// Mail a link of `purpose` to `email` if it has an account that wants one
/// (any account for a new password; an unconfirmed one for a confirmation),
/// in a task of its own, so that answering takes the same time whether or
/// not the address has an account.
pub fn after_answering(s: &crate::AppState, email: String, purpose: Purpose) {
    let (pool, site_url) = (s.pool.clone(), s.config.site_url.clone());
    tokio::spawn(async move {
        let mailed = async {
            let Some((account, _)) = super::store::by_email_with_hash(&pool, &email).await? else { return Ok(()) };
            if purpose == Purpose::VerifyEmail && account.email_verified_at.is_some() {
                return Ok(());
            }
            let mut tx = pool.begin().await?;
            mail_link(&mut tx, &site_url, purpose, account.id, &account.email).await?;
            tx.commit().await
        };
        if let Err(e) = mailed.await {
            tracing::warn!(error = %e, "a link could not be mailed");
        }
    });
}

/// The note to the owner of `email` that someone tried to sign up with it
/// again (instead of telling the person signing up that it is taken).
pub async fn mail_taken_note(pool: &PgPool, site_url: &str, email: &str) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    let body = format!(
        "Hello,\n\n\
         Someone tried to sign up for ticktak with this address, which already has an account.\n\n\
         If it was you, sign in at {}/signin (or choose a new password there if you forgot it). If it was not, \
         nothing has changed: nobody can use your account without your password.\n",
        site_url.trim_end_matches('/')
    );
    if !mailed_lately(&mut tx, "taken", email).await? {
        let mail = Mail {
            dedupe_key: key("taken", &Uuid::now_v7().to_string()),
            to: email.to_string(),
            subject: "Your ticktak account".into(),
            body,
            attachments: Vec::new(),
        };
        mail::enqueue(&mut tx, &mail).await?;
    }
    tx.commit().await
}

/// The note to the owner that the account's password was changed.
pub async fn mail_password_changed(tx: &mut Transaction<'_, Postgres>, email: &str) -> sqlx::Result<()> {
    let mail = Mail {
        dedupe_key: key("password-changed", &Uuid::now_v7().to_string()),
        to: email.to_string(),
        subject: "Your ticktak password was changed".into(),
        body: "Hello,\n\n\
               The password of your ticktak account was just changed, and every session was signed out.\n\n\
               If it was not you, choose a new password at once from the sign-in page (\"Forgot your \
               password?\") and tell us through the contact page.\n"
            .into(),
        attachments: Vec::new(),
    };
    mail::enqueue(tx, &mail).await
}

/// Spend a link of `purpose` in `tx`: once, before it expires. `None` for
/// an unknown, used or expired one (the same for each).
pub async fn spend(tx: &mut Transaction<'_, Postgres>, token: &str, purpose: Purpose) -> sqlx::Result<Option<Uuid>> {
    // 32 bytes in base64url are 43 characters; anything else is no token.
    if token.len() != 43 {
        return Ok(None);
    }
    sqlx::query_scalar(
        "UPDATE account_links SET used_at = now() \
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now() \
         RETURNING account_id",
    )
    .bind(hash(token))
    .bind(purpose.as_str())
    .fetch_optional(&mut **tx)
    .await
}

/// Drop the account's unused links of `purpose` (what they were for is done).
pub async fn drop_unused(tx: &mut Transaction<'_, Postgres>, account: Uuid, purpose: Purpose) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM account_links WHERE account_id = $1 AND purpose = $2 AND used_at IS NULL")
        .bind(account)
        .bind(purpose.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Confirm an address with its link: the account, or `None` for an
/// unknown, used or expired link.
pub async fn verify(pool: &PgPool, token: &str) -> sqlx::Result<Option<Uuid>> {
    let mut tx = pool.begin().await?;
    let Some(account) = spend(&mut tx, token, Purpose::VerifyEmail).await? else { return Ok(None) };
    confirm_address(&mut tx, account).await?;
    drop_unused(&mut tx, account, Purpose::VerifyEmail).await?;
    tx.commit().await?;
    Ok(Some(account))
}

/// Mark the account's address confirmed (a followed link proves it).
pub async fn confirm_address(tx: &mut Transaction<'_, Postgres>, account: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE accounts SET email_verified_at = coalesce(email_verified_at, now()) WHERE id = $1")
        .bind(account)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Forget links that expired a day ago or more (hourly sweep).
pub async fn forget_old(pool: &PgPool) -> sqlx::Result<u64> {
    Ok(sqlx::query("DELETE FROM account_links WHERE expires_at < now() - interval '1 day'")
        .execute(pool)
        .await?
        .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mail_key_starts_with_its_kind() {
        // `mailed_lately` finds a kind's mails by this prefix.
        assert!(key("verify_email", "0190").starts_with("verify_email:"));
        assert!(!key("verify_email", "0190").starts_with("taken:"));
    }

    #[test]
    fn a_reset_link_lives_an_hour_a_confirmation_two_days() {
        assert_eq!(Purpose::ResetPassword.ttl(), chrono::Duration::hours(1));
        assert_eq!(Purpose::VerifyEmail.ttl(), chrono::Duration::hours(48));
        assert_eq!(Purpose::ResetPassword.page(), "reset-password");
    }
}
