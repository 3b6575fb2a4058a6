//! Postgres: one pool per service, confined to the service's own schema
//! through `search_path`, with the service's migrations applied at start.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

/// Connect to `database_url` (creating the database when it does not exist
/// yet), create `schema`, run `migrator` inside it, and return a pool whose
/// connections all use that schema.
pub async fn connect(
    database_url: &str,
    schema: &str,
    migrator: &Migrator,
    max_connections: u32,
) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(database_url).context("DATABASE_URL is not a valid Postgres URL")?;
    create_database_if_missing(&options).await?;
    let options = options.options([("search_path", schema)]);
    {
        let mut conn = options.connect().await.context("cannot connect to Postgres")?;
        // Two services of one platform may start together: ignore the race.
        let created = sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"")).execute(&mut conn).await;
        if let Err(e) = created {
            if !is_unique_violation(&e) {
                return Err(e).context("cannot create schema");
            }
        }
        conn.close().await.ok();
    }
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .context("cannot connect to Postgres")?;
    migrator.run(&pool).await.with_context(|| format!("cannot migrate schema {schema}"))?;
    Ok(pool)
}

async fn create_database_if_missing(options: &PgConnectOptions) -> anyhow::Result<()> {
    let Some(name) = options.get_database().map(str::to_owned) else { return Ok(()) };
    match options.connect().await {
        Ok(conn) => {
            conn.close().await.ok();
            Ok(())
        }
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("3D000") => {
            let mut admin =
                options.clone().database("postgres").connect().await.context("cannot connect to Postgres")?;
            let result =
                sqlx::query(&format!("CREATE DATABASE \"{}\"", name.replace('"', ""))).execute(&mut admin).await;
            match result {
                Ok(_) => Ok(()),
                Err(sqlx::Error::Database(e))
                    if e.code().as_deref() == Some("42P04") || e.code().as_deref() == Some("23505") =>
                {
                    Ok(())
                }
                Err(e) => Err(e).with_context(|| format!("cannot create database {name}")),
            }
        }
        Err(e) => Err(e).context("cannot connect to Postgres"),
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("23505"))
}

/// Whether the database refused a statement for the data it was given, so
/// that the same data would be refused again however often it is retried:
/// SQLSTATE class 22 (data exception: a NUL in text, a number out of range)
/// or 23 (integrity constraint: a check, a not-null), except the unique and
/// exclusion violations two writers racing can cause. Consumers of the
/// shared topics skip a message refused so (recorded as invalid) and retry
/// every other error: a lost connection, a full disk or a deadlock passes.
pub fn refuses_the_data(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(d) = e else { return false };
    let Some(code) = d.code() else { return false };
    (code.starts_with("22") || code.starts_with("23")) && code != "23505" && code != "23P01"
}

/// Readiness: the database answers.
pub async fn probe(pool: &PgPool) -> Result<(), String> {
    sqlx::query("SELECT 1").execute(pool).await.map(|_| ()).map_err(|e| e.to_string())
}
