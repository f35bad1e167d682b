//! One SQL implementation of the store for both databases. The few
//! differences between SQLite and PostgreSQL (how a write transaction starts,
//! how errors name a violated index, how a timestamp is stored, the migrations)
//! live in [`sqlite`] and [`postgres`] behind the [`Dialect`] trait.

/// Implements a repo trait on [`SqlRepo`] for both backends from one body:
/// `impl_for_backends! { impl UserRepo for SqlRepo<DB> { … }}` emits the impl
/// (with `#[async_trait]`) in a module `sqlite` and a module `postgres`, where
/// `DB` is `sqlx::Sqlite` and `sqlx::Postgres`.
///
/// A generic `impl<DB: Dialect> UserRepo for SqlRepo<DB>` would need a
/// `where` clause naming every type its queries bind or decode (`Uuid:
/// Encode<'q, DB> + Type<DB>`, `User: FromRow<'r, DB::Row>`, …): Rust does
/// not carry such bounds over from a trait, so each impl would state them
/// again. For the two concrete databases the compiler checks the types
/// themselves, and the SQL is still written once.
///
/// rustfmt does not look inside macro calls: the body is indented as a plain
/// impl, so that rustfmt's layout of it as one applies unchanged.
macro_rules! impl_for_backends {
    (impl $repo:ident for SqlRepo<DB> $body:tt) => {
        impl_for_backends!(@backend sqlite, sqlx::Sqlite, $repo $body);
        impl_for_backends!(@backend postgres, sqlx::Postgres, $repo $body);
    };
    (@backend $module:ident, $db:ty, $repo:ident { $($body:tt)* }) => {
        mod $module {
            use super::*;
            type DB = $db;

            #[async_trait::async_trait]
            impl $repo for SqlRepo<DB> {
                $($body)*
            }
        }
    };
}

/// The columns a record is read from, as literals so that `concat!` can
/// build queries: `concat!("SELECT ", columns!(User), " FROM users")`, or
/// after `RETURNING`. `FromRow` finds the columns by name. An `INSERT` names
/// its own columns, next to the binds whose order they must match.
macro_rules! columns {
    (User) => {
        "id, email, email_verified_at, username, display_name, first_name, last_name, phone, \
         city, info, avatar_url, role, auth_provider, password_hash, created_at, updated_at, \
         banned_at, banned_until, ban_reason, locale"
    };
    (Session) => {
        "id, user_id, ip, user_agent, created_at, last_used_at, expires_at, revoked_at, \
         auth_time, auth_method, second_factor"
    };
    (PendingRegistration) => {
        "id, email, password_hash, username, first_name, last_name, created_at, expires_at"
    };
    (OAuthState) => {
        "state_hash, provider, purpose, user_id, nonce, pkce_verifier, redirect_to, \
         client_code_challenge, created_at, expires_at"
    };
    (OAuthHandoff) => {
        "code_hash, user_id, provider, client_code_challenge, created_at, expires_at"
    };
    (PendingLink) => {
        "code_hash, user_id, provider, sealed, created_at, expires_at"
    };
    (Account) => {
        "id, user_id, provider_id, account_id, email, scope, access_token_enc, \
         access_token_expires_at, refresh_token_enc, refresh_token_expires_at, id_token_enc, raw, \
         created_at, updated_at"
    };
    (SigningKeyRecord) => {
        "kid, algorithm, public_key, private_key_enc, created_at, activates_at, retires_at"
    };
    (ServiceClient) => {
        "id, client_id, secret_hash, name, created_by, created_at, last_used_at"
    };
    (AuditEvent) => {
        "id, occurred_at, event_type, user_id, actor_id, ip, user_agent, request_id, details"
    };
    (PasskeyRecord) => {
        "id, user_id, credential_id, name, credential, backup_eligible, created_at, last_used_at, \
         flagged_at"
    };
    (Ceremony) => {
        "id, purpose, user_id, binding, state_enc, created_at, expires_at"
    };
    (Factor) => {
        "id, user_id, kind, secret_enc, last_used_step, created_at, verified_at, last_used_at"
    };
    (MfaChallenge) => {
        "token_hash, user_id, auth_method, details, attempts, created_at, expires_at"
    };
    (WebhookEndpoint) => {
        "id, url, description, events, enabled, disabled_reason, secret_enc, \
         previous_secret_enc, previous_secret_expires_at, failure_streak, created_at, updated_at"
    };
    (WebhookDelivery) => {
        "event_id, endpoint_id, event_type, payload, status, attempts, next_attempt_at, \
         last_attempt_at, last_status, last_response, last_error, created_at, delivered_at"
    };
    (OutboxMail) => {
        "id, sealed, created_at, next_attempt_at, attempts, discard_after"
    };
}

/// `columns!(User)` of `u`, and the session's as `SessionOfUser` names them.
macro_rules! session_of_user_columns {
    () => {
        "u.id, u.email, u.email_verified_at, u.username, u.display_name, \
     u.first_name, u.last_name, u.phone, u.city, u.info, u.avatar_url, u.role, u.auth_provider, \
     u.password_hash, u.created_at, u.updated_at, u.banned_at, u.banned_until, u.ban_reason, \
     u.locale, s.id AS s_id, s.ip AS s_ip, s.user_agent AS s_user_agent, \
     s.created_at AS s_created_at, s.last_used_at AS s_last_used_at, \
     s.expires_at AS s_expires_at, s.revoked_at AS s_revoked_at, s.auth_time AS s_auth_time, \
     s.auth_method AS s_auth_method, s.second_factor AS s_second_factor"
    };
}

mod audit;
mod breaker;
mod codes;
mod factors;
mod housekeeping;
mod keys;
mod locks;
mod moderation;
mod oauth;
mod outbox;
mod passkeys;
mod postgres;
mod postgres_rotations;
mod read_only;
mod registrations;
mod rotation_queue;
mod service_clients;
mod sessions;
mod sqlite;
mod sqlite_checkpoint;
mod sqlite_reader;
mod sqlite_rows;
mod sqlite_writer;
mod throttle;
mod users;
mod webhooks;

use super::liveness::Liveness;
use super::{Repo, Store, StoreError, StoreResult, Timestamp, UniqueKey};
use crate::config::{Backend, Settings};
use async_trait::async_trait;
use sqlx::encode::IsNull;
use sqlx::error::{BoxDynError, DatabaseError};
use sqlx::migrate::{Migrate, Migrator};
use sqlx::pool::{PoolConnection, PoolOptions};
use sqlx::query::{Query, QueryAs};
use sqlx::{
    Connection, Database, Decode, Encode, Executor, FromRow, IntoArguments, Pool, Transaction, Type,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

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
    /// Whether a `WITH` may hold `UPDATE … RETURNING` and `INSERT` (PostgreSQL
    /// yes, SQLite no): then several dependent writes are one statement, one
    /// round trip, atomic without a transaction.
    const DATA_MODIFYING_CTE: bool;
    /// A sign-in attempt claimed and the lock it earns set in one statement
    /// (`sql::throttle`), where the dialect can compute the lock's end.
    const CLAIM_AND_LOCK: Option<&'static str>;
    /// The violated unique index.
    fn unique_key(error: &dyn DatabaseError) -> UniqueKey;
    /// Lock contention or a server going away: a 503, not a 500.
    fn is_transient(error: &dyn DatabaseError) -> bool;
    fn rows_affected(result: &Self::QueryResult) -> u64;
    /// What a [`Timestamp`] is stored as, and the conversions both ways.
    type StoredTimestamp: Type<Self> + for<'q> Encode<'q, Self> + for<'r> Decode<'r, Self>;
    fn store_timestamp(at: Timestamp) -> Self::StoredTimestamp;
    fn load_timestamp(stored: Self::StoredTimestamp) -> Result<Timestamp, BoxDynError>;
}

// A timestamp is encoded and decoded as what the backend stores it as.

impl<DB: Dialect> Type<DB> for Timestamp {
    fn type_info() -> DB::TypeInfo {
        DB::StoredTimestamp::type_info()
    }
    fn compatible(ty: &DB::TypeInfo) -> bool {
        DB::StoredTimestamp::compatible(ty)
    }
}

impl<DB: Dialect> Encode<'_, DB> for Timestamp {
    fn encode_by_ref(&self, buf: &mut DB::ArgumentBuffer) -> Result<IsNull, BoxDynError> {
        DB::store_timestamp(*self).encode(buf)
    }
}

impl<'r, DB: Dialect> Decode<'r, DB> for Timestamp {
    fn decode(value: DB::ValueRef<'r>) -> Result<Self, BoxDynError> {
        DB::load_timestamp(DB::StoredTimestamp::decode(value)?)
    }
}

// A second factor is read from its stored name.

impl<DB: Database> Type<DB> for crate::domain::SecondFactor
where
    String: Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <String as Type<DB>>::type_info()
    }
    fn compatible(ty: &DB::TypeInfo) -> bool {
        <String as Type<DB>>::compatible(ty)
    }
}

impl<'r, DB: Database> Decode<'r, DB> for crate::domain::SecondFactor
where
    String: Decode<'r, DB>,
{
    fn decode(value: DB::ValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Self::try_from(String::decode(value)?)?)
    }
}

/// The store over a connection pool of one backend.
pub struct SqlStore<DB: Database> {
    pool: Pool<DB>,
    /// One permit: the in-process write queue (see `Dialect::SERIALIZE_WRITES`).
    writer: Arc<Semaphore>,
    /// Refuses at once while the database is unreachable.
    breaker: Arc<breaker::Breaker>,
    /// SQLite files only: reads on the request thread (see `sqlite_reader`).
    reader: Option<sqlite_reader::SqliteReader>,
    /// Refresh rotations in group commits on a connection of the store's
    /// own (see `rotation_queue`): SQLite files and PostgreSQL.
    rotator: Option<rotation_queue::RotationQueue>,
    /// SQLite files only: checkpoints off the write path (see
    /// `sqlite_checkpoint`).
    checkpointer: Option<sqlite_checkpoint::Checkpointer>,
    /// Live sessions remembered between requests (see `store::liveness`).
    liveness: Arc<Liveness>,
}

impl<DB: Database> SqlStore<DB>
where
    DB::Connection: Migrate,
{
    /// Opens the pool, applying `migrations` first when `migrate` is set.
    async fn open(
        settings: &Settings,
        options: <DB::Connection as Connection>::Options,
        migrations: Migrator,
        migrate: bool,
        write_check: Option<read_only::WriteCheck<DB>>,
    ) -> Result<Self, ConnectError> {
        let openings = Arc::new(read_only::ReadOnlyOpenings::new());
        let on_acquire = Arc::clone(&openings);
        // sqlx pings every connection when it goes back to the pool and
        // drops the ones that fail, so a connection idle for a moment is
        // known good; its default second ping on the way out cost each
        // request one more round trip to PostgreSQL. Only a connection idle
        // for longer (the database may have restarted meanwhile) is pinged
        // before use, and replaced if it fails.
        let pool = PoolOptions::new()
            .test_before_acquire(false)
            .after_connect(move |conn: &mut DB::Connection, _| {
                let openings = Arc::clone(&openings);
                Box::pin(async move {
                    if let Some(can_write) = write_check {
                        if !can_write(conn).await? {
                            tracing::warn!(
                                "the database file could only be opened read-only; \
                                 this connection will be replaced"
                            );
                            openings.record();
                        }
                    }
                    Ok(())
                })
            })
            .before_acquire(move |conn: &mut DB::Connection, meta| {
                let outdated = on_acquire.outdate(meta.age);
                Box::pin(async move {
                    if outdated {
                        return Ok(false);
                    }
                    if meta.idle_for >= PING_WHEN_IDLE_FOR {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .max_connections(settings.database_max_connections)
            .acquire_timeout(Duration::from_secs(settings.database_acquire_timeout_secs))
            .connect_with(options)
            .await
            .map_err(ConnectError::Connect)?;
        if migrate {
            migrations.run(&pool).await.map_err(ConnectError::Migrate)?;
        }
        Ok(Self {
            pool,
            writer: Arc::new(Semaphore::new(1)),
            breaker: Arc::default(),
            reader: None,
            rotator: None,
            checkpointer: None,
            liveness: Arc::new(Liveness::new(settings.session_cache)),
        })
    }
}

/// A pooled connection idle this long is pinged before use.
pub(super) const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);

impl<DB: Database> SqlStore<DB> {
    /// A pooled connection, through the breaker.
    async fn acquire(&self, op: &'static str) -> StoreResult<PoolConnection<DB>> {
        self.breaker
            .acquire(&self.pool)
            .await
            .map_err(unavailable(op))
    }
}

/// A unit of work: a plain pooled connection or a transaction, and whether
/// it changed a user or a session in a way every instance must see at once
/// (see [`changes_liveness`]).
pub struct SqlRepo<DB: Database> {
    unit: Unit<DB>,
    liveness: Arc<Liveness>,
    changed_liveness: bool,
    /// Where a plain connection given back before a settle comes from again.
    pool: Pool<DB>,
    breaker: Arc<breaker::Breaker>,
}

pub enum Unit<DB: Database> {
    /// `None` from a settle on: the connection went back to the pool for
    /// the lease's wait (nobody may hold one idle that long), and the next
    /// statement takes one again.
    Connection(Option<PoolConnection<DB>>),
    /// The permit, if any, is released when the transaction ends; the span
    /// (`db.transaction`, from the wait for the writer to the end) holds its
    /// statements in a trace.
    Transaction(
        Transaction<'static, DB>,
        Option<OwnedSemaphorePermit>,
        tracing::Span,
    ),
}

impl<DB: Database> SqlStore<DB> {
    fn repo(&self, unit: Unit<DB>) -> SqlRepo<DB> {
        SqlRepo {
            unit,
            liveness: Arc::clone(&self.liveness),
            changed_liveness: false,
            pool: self.pool.clone(),
            breaker: Arc::clone(&self.breaker),
        }
    }
}

impl<DB: Database> SqlRepo<DB> {
    /// The connection statements run on (taken again from the pool after a
    /// settle gave it back).
    async fn conn(&mut self, op: &'static str) -> StoreResult<&mut DB::Connection> {
        let SqlRepo {
            unit,
            pool,
            breaker,
            ..
        } = self;
        let slot = match unit {
            Unit::Transaction(tx, _, _) => return Ok(&mut **tx),
            Unit::Connection(slot) => slot,
        };
        if slot.is_none() {
            *slot = Some(breaker.acquire(pool).await.map_err(unavailable(op))?);
        }
        slot.as_deref_mut()
            .ok_or_else(|| unavailable(op)(sqlx::Error::PoolClosed))
    }

    /// The span statements run in: the transaction's, or the caller's.
    fn span(&self) -> tracing::Span {
        match &self.unit {
            Unit::Connection(_) => tracing::Span::current(),
            Unit::Transaction(_, _, span) => span.clone(),
        }
    }

    /// After a statement `op` that `changed` rows (or may have: an error
    /// after the database applied it): a change every instance must see at
    /// once settles when it is committed; on a plain connection, where the
    /// statement committed on its own, at once, with the connection given
    /// back to the pool first.
    async fn after(&mut self, op: &'static str, changed: bool) {
        if !changed || !changes_liveness(op) {
            return;
        }
        match &mut self.unit {
            Unit::Connection(slot) => {
                drop(slot.take());
                self.liveness.settle().await;
            }
            Unit::Transaction(..) => self.changed_liveness = true,
        }
    }
}

/// The statements that change what an authenticated request reads of its
/// session or user (`Store::live_session_with_user`), or an introspection
/// of its service client (`Store::service_client`), by operation name.
/// The database raises `liveness.epoch` for these through triggers; the
/// store waits out the lease after each so that the change holds on every
/// instance when the caller returns. Locking a user (`updated_at =
/// updated_at`), touching a session and deleting dead rows change nothing
/// a request reads.
fn changes_liveness(op: &str) -> bool {
    matches!(
        op,
        "revoke_session"
            | "revoke_sessions_of_user"
            | "raise_session"
            | "set_role"
            | "set_email_verified"
            | "ban_user"
            | "unban_user"
            | "delete_user"
            | "update_profile"
            | "set_password_hash"
            | "set_email"
            | "delete_service_client"
    )
}

/// Runs a query on this unit of work; an error names the operation `op` (the
/// repo method).
impl<DB> SqlRepo<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
{
    /// Runs a statement; how many rows it changed.
    async fn execute(
        &mut self,
        op: &'static str,
        query: Query<'_, DB, DB::Arguments>,
    ) -> StoreResult<u64> {
        let span = self.span();
        let done = query
            .execute(self.conn(op).await?)
            .instrument(span)
            .await
            .map_err(db_error::<DB>(op));
        let rows = done.as_ref().map_or(1, DB::rows_affected);
        self.after(op, rows > 0).await;
        Ok(DB::rows_affected(&done?))
    }

    /// The first row, if any.
    async fn fetch_optional<O>(
        &mut self,
        op: &'static str,
        query: QueryAs<'_, DB, O, DB::Arguments>,
    ) -> StoreResult<Option<O>>
    where
        O: for<'r> FromRow<'r, DB::Row> + Send + Unpin,
    {
        let span = self.span();
        let row = query
            .fetch_optional(self.conn(op).await?)
            .instrument(span)
            .await
            .map_err(db_error::<DB>(op));
        self.after(op, !matches!(row, Ok(None))).await;
        row
    }

    /// The first row; none is an error.
    async fn fetch_one<O>(
        &mut self,
        op: &'static str,
        query: QueryAs<'_, DB, O, DB::Arguments>,
    ) -> StoreResult<O>
    where
        O: for<'r> FromRow<'r, DB::Row> + Send + Unpin,
    {
        let span = self.span();
        let row = query
            .fetch_one(self.conn(op).await?)
            .instrument(span)
            .await
            .map_err(db_error::<DB>(op));
        self.after(op, true).await;
        row
    }

    /// All rows.
    async fn fetch_all<O>(
        &mut self,
        op: &'static str,
        query: QueryAs<'_, DB, O, DB::Arguments>,
    ) -> StoreResult<Vec<O>>
    where
        O: for<'r> FromRow<'r, DB::Row> + Send + Unpin,
    {
        let span = self.span();
        let rows = query
            .fetch_all(self.conn(op).await?)
            .instrument(span)
            .await
            .map_err(db_error::<DB>(op));
        self.after(op, !matches!(&rows, Ok(rows) if rows.is_empty()))
            .await;
        rows
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

impl<DB> SqlStore<DB>
where
    DB: Dialect,
    SqlRepo<DB>: Repo,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
{
    /// Where an all-or-nothing write runs: one statement is atomic on its
    /// own (one round trip); several need a transaction. Commit is a no-op
    /// on a plain connection, so the caller commits either way.
    async fn unit_of_work(&self, one_statement: bool) -> StoreResult<Box<dyn Repo>> {
        if one_statement {
            self.connection().await
        } else {
            self.transaction().await
        }
    }
}

#[async_trait]
impl<DB> Store for SqlStore<DB>
where
    DB: Dialect,
    SqlRepo<DB>: Repo,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
{
    fn backend_name(&self) -> &'static str {
        DB::BACKEND
    }

    fn connections(&self) -> crate::store::PoolUsage {
        crate::store::PoolUsage {
            open: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            waiting: u32::try_from(self.breaker.waiting()).unwrap_or(u32::MAX),
        }
    }

    fn unreachable(&self) -> bool {
        self.breaker.is_open()
    }

    async fn ping(&self) -> StoreResult<()> {
        let conn = self.acquire("ping").await?;
        self.repo(Unit::Connection(Some(conn)))
            .execute("ping", sqlx::query("SELECT 1"))
            .await?;
        Ok(())
    }

    async fn connection(&self) -> StoreResult<Box<dyn Repo>> {
        let conn = self.acquire("connection").await?;
        Ok(Box::new(self.repo(Unit::Connection(Some(conn)))))
    }

    async fn live_session_with_user(
        &self,
        id: uuid::Uuid,
        user_id: uuid::Uuid,
        now: Timestamp,
    ) -> StoreResult<Option<(super::Session, super::User)>> {
        let ticket = match self.liveness.lookup(id, user_id, now) {
            Ok(remembered) => return Ok(Some(remembered)),
            Err(ticket) => ticket,
        };
        // SQLite: on the calling thread, not through the breaker: a file
        // that can be read answers even while the pool refuses (a full disk
        // or a read-only file stops writes, not this read).
        let found = match self
            .reader
            .as_ref()
            .and_then(|reader| reader.live_session_with_user(id, user_id, now))
        {
            Some(found) => found,
            None => {
                let mut repo = self.connection().await?;
                repo.live_session_with_user(id, user_id, now).await?
            }
        };
        if let Some((session, user)) = &found {
            self.liveness.remember(ticket, session, user);
        }
        Ok(found)
    }

    async fn service_client(&self, client_id: &str) -> StoreResult<Option<super::ServiceClient>> {
        let ticket = match self.liveness.lookup_client(client_id) {
            Ok(remembered) => return Ok(Some(remembered)),
            Err(ticket) => ticket,
        };
        let mut repo = self.connection().await?;
        let found = repo.service_client_by_client_id(client_id).await?;
        if let Some(client) = &found {
            self.liveness.remember_client(ticket, client);
        }
        Ok(found)
    }

    async fn service_client_used(
        &self,
        client: &super::ServiceClient,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut repo = self.connection().await?;
        repo.touch_service_client(client.id, now).await?;
        self.liveness.client_used(&client.client_id, now);
        Ok(())
    }

    async fn renew_liveness(&self) -> StoreResult<()> {
        let started = std::time::Instant::now();
        let mut repo = self.repo(Unit::Connection(Some(self.acquire("liveness").await?)));
        let epoch = super::SessionRepo::liveness_epoch(&mut repo).await?;
        self.liveness.observe(epoch, started);
        Ok(())
    }

    fn session_lookups(&self) -> super::liveness::Lookups {
        self.liveness.lookups()
    }

    fn grouped_rotations(&self) -> u64 {
        self.rotator.as_ref().map_or(0, |rotator| rotator.grouped())
    }

    fn liveness_lease(&self) -> Option<Duration> {
        self.liveness.is_on().then(|| self.liveness.lease())
    }

    async fn claim_login_attempt(
        &self,
        key: &str,
        now: Timestamp,
        window_cutoff: Timestamp,
        lockout: &crate::config::LockoutSettings,
    ) -> StoreResult<Option<i64>> {
        let mut repo = self.unit_of_work(DB::CLAIM_AND_LOCK.is_some()).await?;
        let claimed = repo
            .claim_login_attempt(key, now, window_cutoff, lockout)
            .await?;
        repo.commit().await?;
        Ok(claimed)
    }

    async fn rotate_refresh(
        &self,
        token_hash: &str,
        successor_hash: &str,
        now: Timestamp,
        idle_cutoff: Timestamp,
    ) -> StoreResult<Option<super::Session>> {
        // In a group commit on the store's own connection, while the
        // database answers; otherwise (or should that fail) through the pool.
        if let Some(rotator) = self.rotator.as_ref().filter(|_| !self.breaker.is_open()) {
            let rotation = rotation_queue::Rotation {
                token_hash: token_hash.to_owned(),
                successor_hash: successor_hash.to_owned(),
                now,
                idle_cutoff,
            };
            match rotator.rotate_refresh(rotation).await {
                Ok(rotated) => {
                    if let Some(session) = &rotated {
                        self.liveness.touched(session);
                    }
                    return Ok(rotated);
                }
                Err(rotation_queue::NotHere::Busy) => {
                    return Err(unavailable("rotate_refresh")(sqlx::Error::PoolTimedOut))
                }
                Err(rotation_queue::NotHere::Failed) => {}
            }
        }
        let mut repo = self.unit_of_work(DB::DATA_MODIFYING_CTE).await?;
        let rotated = repo
            .rotate_and_issue_refresh_token(token_hash, successor_hash, now, idle_cutoff)
            .await?;
        // On `None` the transaction is dropped: the rotation rolls back.
        if let Some(session) = &rotated {
            repo.commit().await?;
            self.liveness.touched(session);
        }
        Ok(rotated)
    }

    async fn transaction(&self) -> StoreResult<Box<dyn Repo>> {
        let span = tracing::info_span!("db.transaction");
        self.begin()
            .instrument(span.clone())
            .await
            .map(|(tx, permit)| {
                Box::new(self.repo(Unit::Transaction(tx, permit, span))) as Box<dyn Repo>
            })
    }
}

impl<DB> SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
{
    /// Waits for the writer (where writes are serialised) and begins.
    async fn begin(&self) -> StoreResult<(Transaction<'static, DB>, Option<OwnedSemaphorePermit>)> {
        let permit = self.write_permit().await?;
        let conn = self.usable_connection().await?;
        let tx = Transaction::begin(conn, Some(sqlx::SqlSafeStr::into_sql_str(DB::BEGIN_WRITE)))
            .await
            .map_err(unavailable("transaction"))?;
        Ok((tx, permit))
    }

    /// The writer's turn where writes are serialised (waited for as long
    /// as a connection is), nothing elsewhere.
    async fn write_permit(&self) -> StoreResult<Option<OwnedSemaphorePermit>> {
        if !DB::SERIALIZE_WRITES {
            return Ok(None);
        }
        let acquired = self.writer.clone().acquire_owned();
        let timeout = self.pool.options().get_acquire_timeout();
        let _waiting = self.breaker.waiting_guard();
        match tokio::time::timeout(timeout, acquired).await {
            Ok(Ok(permit)) => Ok(Some(permit)),
            _ => Err(unavailable("transaction")(sqlx::Error::PoolTimedOut)),
        }
    }

    /// A pooled connection that is not inside a transaction. sqlx leaves a
    /// connection whose COMMIT failed (SQLite's "database or disk is full",
    /// after which SQLite may roll back on its own) at a transaction depth
    /// it never gets back from: every later BEGIN on it fails. Such a
    /// connection is closed, not used, so the service recovers when the
    /// disk does.
    async fn usable_connection(&self) -> StoreResult<PoolConnection<DB>> {
        use sqlx_core::transaction::TransactionManager;
        let mut conn = self.acquire("transaction").await?;
        for _ in 0..=self.pool.size() {
            if DB::TransactionManager::get_transaction_depth(&conn) == 0 {
                return Ok(conn);
            }
            tracing::warn!("closing a database connection left inside a failed transaction");
            conn.close_on_drop();
            drop(conn);
            conn = self.acquire("transaction").await?;
        }
        Ok(conn)
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
        + super::OutboxRepo
        + super::FactorRepo
        + super::PasskeyRepo
        + super::WebhookRepo,
{
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        let SqlRepo {
            unit,
            liveness,
            changed_liveness,
            ..
        } = *self;
        let Unit::Transaction(tx, permit, span) = unit else {
            return Ok(());
        };
        let committed = tx
            .commit()
            .instrument(span)
            .await
            .map_err(db_error::<DB>("commit"));
        // The writer's turn is not held while the lease runs out. A failed
        // COMMIT may still have committed: it settles too.
        drop(permit);
        if changed_liveness {
            liveness.settle().await;
        }
        committed
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
