//! Account rows.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use ticktak_kit::auth::Role;
use uuid::Uuid;

/// An account as stored (without its password hash).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Account {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub country: String,
    #[sqlx(try_from = "String")]
    pub role: RoleColumn,
    pub created_at: DateTime<Utc>,
    /// When its owner followed the link mailed to the address; `None`
    /// until then (the account cannot sign in).
    pub email_verified_at: Option<DateTime<Utc>>,
}

/// `accounts.role`, read through [`Role`]'s parser.
#[derive(Debug, Clone, Copy)]
pub struct RoleColumn(pub Role);

impl TryFrom<String> for RoleColumn {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse().map(RoleColumn)
    }
}

const COLUMNS: &str = "id, email, name, country, role, created_at, email_verified_at";

/// A new account; `None` when the e-mail address is taken (in any case).
pub async fn insert(
    db: impl PgExecutor<'_>,
    email: &str,
    name: &str,
    country: &str,
    role: Role,
    password_hash: &str,
) -> sqlx::Result<Option<Account>> {
    sqlx::query_as(&format!(
        "INSERT INTO accounts (id, email, name, country, role, password_hash) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT ((lower(email))) DO NOTHING RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(email)
    .bind(name)
    .bind(country)
    .bind(role.as_str())
    .bind(password_hash)
    .fetch_optional(db)
    .await
}

/// The account of `email` when it was never confirmed: it takes these
/// details (the latest sign-up counts until the address is confirmed).
/// `None` for a confirmed or erased account.
pub async fn retake_unconfirmed(
    db: impl PgExecutor<'_>,
    email: &str,
    name: &str,
    country: &str,
    password_hash: &str,
) -> sqlx::Result<Option<Account>> {
    sqlx::query_as(&format!(
        "UPDATE accounts SET name = $2, country = $3, password_hash = $4 \
         WHERE lower(email) = lower($1) AND email_verified_at IS NULL AND erased_at IS NULL RETURNING {COLUMNS}"
    ))
    .bind(email)
    .bind(name)
    .bind(country)
    .bind(password_hash)
    .fetch_optional(db)
    .await
}

#[derive(sqlx::FromRow)]
struct WithHash {
    #[sqlx(flatten)]
    account: Account,
    password_hash: String,
}

/// The account of an e-mail address (any case) and its password hash.
pub async fn by_email_with_hash(pool: &PgPool, email: &str) -> sqlx::Result<Option<(Account, String)>> {
    let row: Option<WithHash> =
        sqlx::query_as(&format!("SELECT {COLUMNS}, password_hash FROM accounts WHERE lower(email) = lower($1)"))
            .bind(email)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|r| (r.account, r.password_hash)))
}

/// The account of `id` and its password hash.
pub async fn by_id_with_hash(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<(Account, String)>> {
    let row: Option<WithHash> =
        sqlx::query_as(&format!("SELECT {COLUMNS}, password_hash FROM accounts WHERE id = $1 AND erased_at IS NULL"))
            .bind(id)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|r| (r.account, r.password_hash)))
}

pub async fn set_password(db: impl PgExecutor<'_>, id: Uuid, password_hash: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE accounts SET password_hash = $2 WHERE id = $1")
        .bind(id)
        .bind(password_hash)
        .execute(db)
        .await?;
    Ok(())
}

/// Change the owner's name and country (`None`: left as it is).
pub async fn edit(pool: &PgPool, id: Uuid, name: Option<&str>, country: Option<&str>) -> sqlx::Result<Option<Account>> {
    sqlx::query_as(&format!(
        "UPDATE accounts SET name = coalesce($2, name), country = coalesce($3, country) \
         WHERE id = $1 AND erased_at IS NULL RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(name)
    .bind(country)
    .fetch_optional(pool)
    .await
}

pub async fn by_id(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Account>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM accounts WHERE id = $1 AND erased_at IS NULL"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Accounts whose e-mail or name contains `q` (any case), newest first.
pub async fn search(pool: &PgPool, q: &str, limit: i64, offset: i64) -> sqlx::Result<(Vec<Account>, i64)> {
    let pattern = format!("%{}%", q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
    let filter = "WHERE email ILIKE $1 OR name ILIKE $1";
    let accounts = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM accounts {filter} ORDER BY created_at DESC, id LIMIT $2 OFFSET $3"
    ))
    .bind(&pattern)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let total =
        sqlx::query_scalar(&format!("SELECT count(*) FROM accounts {filter}")).bind(&pattern).fetch_one(pool).await?;
    Ok((accounts, total))
}

pub async fn set_role(pool: &PgPool, id: Uuid, role: Role) -> sqlx::Result<Option<Account>> {
    sqlx::query_as(&format!("UPDATE accounts SET role = $2 WHERE id = $1 AND erased_at IS NULL RETURNING {COLUMNS}"))
        .bind(id)
        .bind(role.as_str())
        .fetch_optional(pool)
        .await
}

/// Erase the person from the account `id`: the address becomes a
/// placeholder nobody can sign up with (`.invalid`), name and country are
/// reset, sign-in is off. The row stays: other services keep orders and
/// payments under its id.
pub async fn erase(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE accounts SET email = 'erased-' || id || '@erased.invalid', name = 'Erased account', country = 'QA', \
           password_hash = '!', email_verified_at = NULL, role = 'buyer', erased_at = coalesce(erased_at, now()) \
         WHERE id = $1",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Give `role` to the account of `email` (any case); `None` when there is none.
pub async fn set_role_by_email(pool: &PgPool, email: &str, role: Role) -> sqlx::Result<Option<Account>> {
    sqlx::query_as(&format!(
        "UPDATE accounts SET role = $2 WHERE lower(email) = lower($1) AND erased_at IS NULL RETURNING {COLUMNS}"
    ))
    .bind(email)
    .bind(role.as_str())
    .fetch_optional(pool)
    .await
}
