//! One SQL implementation of the store, generic over the database. The few
//! differences between SQLite and PostgreSQL (how a write transaction starts,
//! how errors name a violated index, how a timestamp is stored, the migrations)
//! live in [`sqlite`] and [`postgres`] behind the [`Dialect`] trait.
//!
//! The `where` clause on each `impl` below lists the column types the queries
//! bind and decode; Rust does not carry such bounds over from a trait, so each
//! impl states them again.

/// The columns of [`User`], as a literal so that `concat!` can build queries.
macro_rules! user_columns {
    () => {
        "id, email, email_verified_at, username, display_name, first_name, last_name, phone, \
         city, info, avatar_url, role, auth_provider, password_hash, created_at, updated_at, \
         banned_at, banned_until, ban_reason, locale"
    };
}

mod audit;
mod codes;
mod housekeeping;
mod keys;
mod locks;
mod moderation;
mod oauth;
mod outbox;
mod postgres;
mod registrations;
mod service_clients;
mod sessions;
mod sqlite;
mod throttle;
mod users;

use super::{Repo, Store, StoreError, StoreResult, UniqueKey};
use crate::config::{Backend, Settings};
use async_trait::async_trait;
use sqlx::error::DatabaseError;
use sqlx::pool::PoolConnection;
use sqlx::{Database, Pool, Transaction};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What differs between the SQL backends.
pub trait Dialect: Database {
    const BACKEND: &'static str;
    /// Statement that opens a transaction that is going to write.
    const BEGIN_WRITE: &'static str;
    /// Whether this process lets one write transaction run at a time. SQLite
    /// has a single writer anyway; queueing in the process (first come, first
    /// served) replaces its sleep-and-retry busy handler, which under load
    /// let some writers wait for hundreds of milliseconds.
    const SERIALIZE_WRITES: bool;
    /// The violated unique index.
    fn unique_key(error: &dyn DatabaseError) -> UniqueKey;
    /// Lock contention or a server going away: a 503, not a 500.
    fn is_transient(error: &dyn DatabaseError) -> bool;
    fn rows_affected(result: &Self::QueryResult) -> u64;
}

/// The store over a connection pool of one backend.
pub struct SqlStore<DB: Database> {
    pool: Pool<DB>,
    /// One permit: the in-process write queue (see `Dialect::SERIALIZE_WRITES`).
    writer: Arc<Semaphore>,
}

impl<DB: Database> SqlStore<DB> {
    fn new(pool: Pool<DB>) -> Self {
        Self {
            pool,
            writer: Arc::new(Semaphore::new(1)),
        }
    }
}

/// A unit of work: a plain pooled connection or a transaction.
pub enum SqlRepo<DB: Database> {
    Connection(PoolConnection<DB>),
    /// The permit, if any, is released when the transaction ends.
    Transaction(Transaction<'static, DB>, Option<OwnedSemaphorePermit>),
}

impl<DB: Database> SqlRepo<DB> {
    fn conn(&mut self) -> &mut DB::Connection {
        match self {
            SqlRepo::Connection(conn) => conn,
            SqlRepo::Transaction(tx, _) => tx,
        }
    }
}

/// Not getting a connection at all means the database is unavailable,
/// whatever the driver says the reason was (refused, unknown database,
/// authentication, timeout): a 503 that the client may retry.
fn unavailable(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Unavailable { op, source }
}

/// Maps a driver error of the operation `op` (the repo method) to the
/// store's error, keeping the cause for the logs.
fn db_error<DB: Dialect>(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| match &source {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict {
            op,
            key: DB::unique_key(db.as_ref()),
        },
        sqlx::Error::Database(db) if DB::is_transient(db.as_ref()) => {
            StoreError::Unavailable { op, source }
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable { op, source },
        _ => StoreError::Other { op, source },
    }
}

#[async_trait]
impl<DB> Store for SqlStore<DB>
where
    DB: Dialect,
    SqlRepo<DB>: Repo,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
{
    fn backend_name(&self) -> &'static str {
        DB::BACKEND
    }

    async fn ping(&self) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await.map_err(unavailable("ping"))?;
        sqlx::query("SELECT 1")
            .execute(&mut *conn)
            .await
            .map_err(db_error::<DB>("ping"))?;
        Ok(())
    }

    async fn connection(&self) -> StoreResult<Box<dyn Repo>> {
        let conn = self
            .pool
            .acquire()
            .await
            .map_err(unavailable("connection"))?;
        Ok(Box::new(SqlRepo::Connection(conn)))
    }

    async fn transaction(&self) -> StoreResult<Box<dyn Repo>> {
        let permit = if DB::SERIALIZE_WRITES {
            let acquired = self.writer.clone().acquire_owned();
            let timeout = self.pool.options().get_acquire_timeout();
            match tokio::time::timeout(timeout, acquired).await {
                Ok(Ok(permit)) => Some(permit),
                _ => return Err(unavailable("transaction")(sqlx::Error::PoolTimedOut)),
            }
        } else {
            None
        };
        let tx = self
            .pool
            .begin_with(DB::BEGIN_WRITE)
            .await
            .map_err(unavailable("transaction"))?;
        Ok(Box::new(SqlRepo::Transaction(tx, permit)))
    }
}

#[async_trait]
impl<DB> Repo for SqlRepo<DB>
where
    DB: Dialect,
    SqlRepo<DB>: super::UserRepo
        + super::RegistrationRepo
        + super::CodeRepo
        + super::SessionRepo
        + super::KeyRepo
        + super::OAuthRepo
        + super::ThrottleRepo
        + super::ModerationRepo
        + super::LockRepo
        + super::ServiceClientRepo
        + super::AuditRepo
        + super::HousekeepingRepo
        + super::OutboxRepo,
{
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        match *self {
            SqlRepo::Connection(_) => Ok(()),
            SqlRepo::Transaction(tx, _permit) => {
                tx.commit().await.map_err(db_error::<DB>("commit"))
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("could not open the database")]
    Connect(#[source] sqlx::Error),
    #[error("could not apply migrations")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

/// Opens the backend named by `database_url`, applying migrations first when
/// `migrate` is set.
pub async fn connect(settings: &Settings, migrate: bool) -> Result<Arc<dyn Store>, ConnectError> {
    Ok(match settings.backend()? {
        Backend::Sqlite => Arc::new(sqlite::open(settings, migrate).await?),
        Backend::Postgres => Arc::new(postgres::open(settings, migrate).await?),
    })
}

/// Applies pending migrations and returns.
pub async fn migrate(settings: &Settings) -> Result<(), ConnectError> {
    connect(settings, true).await.map(|_| ())
}
