//! Storage behind one interface, with a SQLite and a PostgreSQL backend.
//!
//! A [`Store`] hands out a [`Repo`]: either a pooled connection in autocommit
//! mode or a write transaction. Every `Repo` method is a single SQL statement;
//! the flows in `crate::flows` compose them, so business logic exists once.
//! Single use and uniqueness are enforced by the statements themselves
//! (conditional `UPDATE … RETURNING`, unique indexes), never by reading first.

mod error;
pub mod liveness;
mod records;
mod sql;
mod timestamp;
mod unique_key;

pub use error::{StoreError, StoreResult};
pub use records::*;
pub use sql::{connect, migrate, ConnectError};
pub use timestamp::Timestamp;
pub use unique_key::UniqueKey;

use crate::config::LockoutSettings;
use crate::domain::{CodeAction, Email, Role, SecondFactor};
use async_trait::async_trait;
use uuid::Uuid;

/// What the pool is doing at one moment, for the metrics.
#[derive(Clone, Copy, Debug, Default)]
pub struct PoolUsage {
    pub open: u32,
    pub idle: u32,
    /// Requests waiting for a connection (or, on SQLite, for the writer).
    pub waiting: u32,
}

#[async_trait]
pub trait Store: Send + Sync {
    /// `sqlite` or `postgres`.
    fn backend_name(&self) -> &'static str;
    /// The pool right now: connections open, idle, and requests waiting.
    fn connections(&self) -> PoolUsage;
    /// The database is known to be unreachable: requests are refused at
    /// once while a probe waits for it to answer again.
    fn unreachable(&self) -> bool;
    /// A cheap round trip, for readiness.
    async fn ping(&self) -> StoreResult<()>;
    /// A pooled connection in autocommit mode: reads and single-statement writes.
    async fn connection(&self) -> StoreResult<Box<dyn Repo>>;
    /// The live session `id` of `user_id` at `now`, with its user: the read
    /// of every authenticated request, as [`SessionRepo::live_session_with_user`]
    /// on a connection, but SQLite serves it on the calling thread.
    async fn live_session_with_user(
        &self,
        id: Uuid,
        user_id: Uuid,
        now: Timestamp,
    ) -> StoreResult<Option<(Session, User)>>;
    /// The service client `client_id`: the read of every introspection,
    /// remembered between them as live sessions are (`liveness`).
    async fn service_client(&self, client_id: &str) -> StoreResult<Option<ServiceClient>>;
    /// Records a use of `client` at `now` (its `last_used_at`), here and in
    /// what this process remembers of it.
    async fn service_client_used(&self, client: &ServiceClient, now: Timestamp) -> StoreResult<()>;
    /// A refresh's rotation, all or nothing: the current token `token_hash`
    /// of a live, unidle session is marked rotated at `now`, the session
    /// touched and `successor_hash` issued in its place. `None`, with nothing
    /// written, when the token is not current (unknown, or already rotated:
    /// the caller looks into reuse) or its session is no longer live.
    /// PostgreSQL does it in one statement (one round trip); SQLite in one
    /// write transaction.
    async fn rotate_refresh(
        &self,
        token_hash: &str,
        successor_hash: &str,
        now: Timestamp,
        idle_cutoff: Timestamp,
    ) -> StoreResult<Option<Session>>;
    /// [`ThrottleRepo::claim_login_attempt`] in a unit of work of its own:
    /// concurrent attempts cannot get past the lock (the count and the lock
    /// it earns are written together, the key's row locked meanwhile).
    async fn claim_login_attempt(
        &self,
        key: &str,
        now: Timestamp,
        window_cutoff: Timestamp,
        lockout: &LockoutSettings,
    ) -> StoreResult<Option<i64>>;
    /// A write transaction (SQLite: `BEGIN IMMEDIATE`, so concurrent writers
    /// queue on the busy timeout instead of failing). Dropping it without
    /// [`Repo::commit`] rolls everything back.
    async fn transaction(&self) -> StoreResult<Box<dyn Repo>>;
    /// Reads the counter of changes to users and sessions, on which the
    /// live sessions this process remembers are trusted (`liveness`).
    async fn renew_liveness(&self) -> StoreResult<()>;
    /// How long a read of that counter is trusted; `None` when live
    /// sessions are not remembered (nothing to renew).
    fn liveness_lease(&self) -> Option<std::time::Duration>;
    /// How the live-session lookups of this process went, since it started.
    fn session_lookups(&self) -> liveness::Lookups;
    /// Refresh rotations answered by a group commit on the store's own
    /// connections (`sql::rotation_queue`) since it opened; the others went
    /// through the pool.
    fn grouped_rotations(&self) -> u64;
}

#[async_trait]
pub trait Repo:
    UserRepo
    + RegistrationRepo
    + CodeRepo
    + SessionRepo
    + KeyRepo
    + OAuthRepo
    + ThrottleRepo
    + ModerationRepo
    + LockRepo
    + ServiceClientRepo
    + AuditRepo
    + HousekeepingRepo
    + OutboxRepo
    + FactorRepo
    + PasskeyRepo
    + WebhookRepo
    + Send
{
    /// Commits a transaction; a no-op for a plain connection.
    async fn commit(self: Box<Self>) -> StoreResult<()>;
}

#[async_trait]
pub trait UserRepo {
    async fn user_by_id(&mut self, id: Uuid) -> StoreResult<Option<User>>;
    /// The user as it is now, locked for the rest of the transaction (a
    /// no-op write): a concurrent ban, role or password change waits for
    /// the transaction or is seen by it.
    async fn user_for_update(&mut self, id: Uuid) -> StoreResult<Option<User>>;
    async fn user_by_email(&mut self, email: &Email) -> StoreResult<Option<User>>;
    async fn user_by_username(&mut self, username: &str) -> StoreResult<Option<User>>;
    /// Fails with `Conflict(UsersEmail | UsersUsername)`.
    async fn insert_user(&mut self, user: &NewUser) -> StoreResult<User>;
    async fn update_profile(
        &mut self,
        id: Uuid,
        update: &ProfileUpdate,
        now: Timestamp,
    ) -> StoreResult<Option<User>>;
    async fn set_password_hash(&mut self, id: Uuid, hash: &str, now: Timestamp) -> StoreResult<()>;
    /// Replaces the stored hash `from` with `to` (the same password under
    /// new parameters); false, with nothing written, when the stored hash
    /// is no longer `from`: a password changed meanwhile stays changed.
    async fn upgrade_password_hash(
        &mut self,
        id: Uuid,
        from: &str,
        to: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Moves the user to a proven address; `Conflict(UsersEmail)`
    /// when someone else has it by now.
    async fn set_email(&mut self, id: Uuid, email: &Email, now: Timestamp) -> StoreResult<()>;
}

#[async_trait]
pub trait RegistrationRepo {
    /// Creates the pending registration of an address, replacing an expired
    /// one; false (nothing written) when a live one exists.
    async fn put_pending_registration(
        &mut self,
        pending: &PendingRegistration,
    ) -> StoreResult<bool>;
    async fn pending_registration(
        &mut self,
        email: &Email,
        now: Timestamp,
    ) -> StoreResult<Option<PendingRegistration>>;
    /// Deletes and returns the live pending registration of an address.
    async fn take_pending_registration(
        &mut self,
        email: &Email,
        now: Timestamp,
    ) -> StoreResult<Option<PendingRegistration>>;
    /// Records a mail for `action` to `email` unless one went out after
    /// `not_after`; true when the caller may send.
    async fn claim_mail_slot(
        &mut self,
        email: &Email,
        action: CodeAction,
        now: Timestamp,
        not_after: Timestamp,
    ) -> StoreResult<bool>;
}

#[async_trait]
pub trait CodeRepo {
    /// Creates the code for (email, action), or for the user's email change,
    /// replacing (and so killing) any earlier one.
    async fn put_code(&mut self, code: &NewCode) -> StoreResult<()>;
    /// Consumes the live code with this hash if it still has attempts left.
    async fn consume_code(
        &mut self,
        email: &Email,
        action: CodeAction,
        code_hash: &str,
        now: Timestamp,
        max_attempts: u32,
    ) -> StoreResult<Option<ConsumedCode>>;
    /// Counts a wrong guess against the live code of (email, action).
    async fn count_failed_attempt(&mut self, email: &Email, action: CodeAction) -> StoreResult<()>;
    /// Whether (email, action) has a live code with this hash and attempts
    /// left, without using it.
    async fn code_is_live(
        &mut self,
        email: &Email,
        action: CodeAction,
        code_hash: &str,
        now: Timestamp,
        max_attempts: u32,
    ) -> StoreResult<bool>;
    /// The address of the live code with this link token, without using it.
    async fn live_code_email(
        &mut self,
        token_hash: &str,
        action: CodeAction,
        now: Timestamp,
    ) -> StoreResult<Option<Email>>;
    /// The sealed secrets and expiry of the live, re-sendable code of
    /// (email, action).
    async fn resendable_code(
        &mut self,
        email: &Email,
        action: CodeAction,
        now: Timestamp,
        max_attempts: u32,
    ) -> StoreResult<Option<(String, Timestamp)>>;
    /// Ends the user's pending email change; returns how many were ended.
    async fn end_email_changes(&mut self, user_id: Uuid) -> StoreResult<u64>;
    /// Consumes the live code whose link token has this hash.
    async fn consume_link_token(
        &mut self,
        token_hash: &str,
        action: CodeAction,
        now: Timestamp,
        max_attempts: u32,
    ) -> StoreResult<Option<ConsumedCode>>;
}

#[async_trait]
pub trait SessionRepo {
    async fn insert_session(&mut self, session: &Session) -> StoreResult<()>;
    /// Inserts a new session with its first refresh token, issued as it is
    /// created: one statement where the dialect allows, else two in the
    /// caller's unit of work.
    async fn insert_session_with_refresh_token(
        &mut self,
        session: &Session,
        token_hash: &str,
    ) -> StoreResult<()>;
    async fn insert_refresh_token(
        &mut self,
        token_hash: &str,
        session_id: Uuid,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Marks an unrotated refresh token as rotated; returns its session.
    async fn rotate_refresh_token(
        &mut self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<Uuid>>;
    /// The session (and its user) a refresh token, rotated or not, belongs
    /// to, and when it was rotated.
    async fn refresh_token_record(
        &mut self,
        token_hash: &str,
    ) -> StoreResult<Option<RefreshTokenRecord>>;
    /// Whether this is the session's unrotated (current) refresh token.
    async fn is_current_refresh_token(
        &mut self,
        token_hash: &str,
        session_id: Uuid,
    ) -> StoreResult<bool>;
    /// A refresh's rotation: the current token `token_hash` of a live, unidle
    /// session marked rotated, the session touched and `successor_hash`
    /// issued; the touched session, or `None` when the token is not current
    /// or its session not live. One statement where the backend can
    /// (PostgreSQL: atomic on a connection); elsewhere several, so call it in
    /// a transaction and roll back on `None` ([`Store::rotate_refresh`] does).
    async fn rotate_and_issue_refresh_token(
        &mut self,
        token_hash: &str,
        successor_hash: &str,
        now: Timestamp,
        idle_cutoff: Timestamp,
    ) -> StoreResult<Option<Session>>;
    /// Records use of a live session (not revoked, inside both lifetimes).
    async fn touch_session(
        &mut self,
        id: Uuid,
        now: Timestamp,
        idle_cutoff: Timestamp,
    ) -> StoreResult<Option<Session>>;
    /// A session that is neither revoked nor past its absolute lifetime.
    async fn live_session(
        &mut self,
        id: Uuid,
        user_id: Uuid,
        now: Timestamp,
    ) -> StoreResult<Option<Session>>;
    /// [`live_session`](Self::live_session) and its user, in one statement
    /// (what every authenticated request reads).
    async fn live_session_with_user(
        &mut self,
        id: Uuid,
        user_id: Uuid,
        now: Timestamp,
    ) -> StoreResult<Option<(Session, User)>>;
    async fn live_sessions_of_user(
        &mut self,
        user_id: Uuid,
        now: Timestamp,
        idle_cutoff: Timestamp,
    ) -> StoreResult<Vec<Session>>;
    /// Revokes a live session (of `owner`, when given); false if there was none.
    async fn revoke_session(
        &mut self,
        id: Uuid,
        owner: Option<Uuid>,
        now: Timestamp,
        reason: &str,
    ) -> StoreResult<bool>;
    /// The counter triggers raise on every change to a user and every
    /// change to a session but its last use (see `liveness`).
    async fn liveness_epoch(&mut self) -> StoreResult<i64>;
    /// Revokes every live session of a user except `keep`; returns how many.
    async fn revoke_sessions_of_user(
        &mut self,
        user_id: Uuid,
        keep: Option<Uuid>,
        now: Timestamp,
        reason: &str,
    ) -> StoreResult<u64>;
}

#[async_trait]
pub trait KeyRepo {
    async fn signing_keys(&mut self) -> StoreResult<Vec<SigningKeyRecord>>;
    async fn insert_signing_key(&mut self, key: &SigningKeyRecord) -> StoreResult<()>;
    /// Every key but `except` that would sign after `at` stops signing at `at`.
    async fn retire_signing_keys(&mut self, at: Timestamp, except: &str) -> StoreResult<()>;
}

#[async_trait]
pub trait OAuthRepo {
    async fn insert_oauth_state(&mut self, state: &OAuthState) -> StoreResult<()>;
    /// Consumes the live flow with this state hash, for this provider only.
    async fn consume_oauth_state(
        &mut self,
        state_hash: &str,
        provider: &str,
        now: Timestamp,
    ) -> StoreResult<Option<OAuthState>>;
    async fn insert_handoff(&mut self, handoff: &OAuthHandoff) -> StoreResult<()>;
    async fn consume_handoff(
        &mut self,
        code_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<OAuthHandoff>>;
    async fn account_by_identity(
        &mut self,
        provider: &str,
        subject: &str,
    ) -> StoreResult<Option<Account>>;
    /// Fails with `Conflict(AccountsIdentity)`.
    async fn insert_account(&mut self, account: &Account) -> StoreResult<()>;
    /// Replaces what the provider said at the last sign-in: address, scope,
    /// (encrypted) tokens, raw claims.
    async fn refresh_account(&mut self, account: &Account) -> StoreResult<()>;
    async fn accounts_of_user(&mut self, user_id: Uuid) -> StoreResult<Vec<Account>>;
    async fn insert_pending_link(&mut self, link: &PendingLink) -> StoreResult<()>;
    /// Removes the pending link with this code hash and returns it if it has
    /// not expired.
    async fn take_pending_link(
        &mut self,
        code_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<PendingLink>>;
    /// Ends every started link flow of the user and every identity waiting to
    /// be linked to it.
    async fn end_link_flows(&mut self, user_id: Uuid) -> StoreResult<u64>;
    async fn delete_accounts_of_user(&mut self, user_id: Uuid) -> StoreResult<u64>;
    async fn delete_account(&mut self, id: Uuid, user_id: Uuid) -> StoreResult<bool>;
    /// Locks the user row for the rest of the transaction (a no-op write) and
    /// says whether the user has a password; `None` if there is no such user.
    async fn lock_user(&mut self, user_id: Uuid) -> StoreResult<Option<bool>>;
}

#[async_trait]
pub trait ThrottleRepo {
    /// Counts a hit on `key` in a fixed window that restarts when the
    /// current one began at or before `window_cutoff`. Returns the hits in the
    /// window (this one included) and when the window began.
    async fn hit_rate_limit(
        &mut self,
        key: &str,
        now: Timestamp,
        window_cutoff: Timestamp,
    ) -> StoreResult<(i64, Timestamp)>;
    /// The hits and start of `key`'s window, if it began after `window_cutoff`.
    async fn rate_limit_window(
        &mut self,
        key: &str,
        window_cutoff: Timestamp,
    ) -> StoreResult<Option<(i64, Timestamp)>>;
    /// Claims a sign-in attempt for `key` unless it is locked: counts it
    /// (forgetting failures from before `window_cutoff`), locks `key` for as
    /// long as `lockout` gives that count, and returns the count of attempts
    /// without a success, this one included. `None`: locked. One statement
    /// on PostgreSQL; on SQLite two, which need the caller's transaction
    /// ([`Store::claim_login_attempt`] picks the unit of work).
    async fn claim_login_attempt(
        &mut self,
        key: &str,
        now: Timestamp,
        window_cutoff: Timestamp,
        lockout: &LockoutSettings,
    ) -> StoreResult<Option<i64>>;
    /// Locks `key` until `until`, unless it is already locked for longer.
    async fn lock_login(&mut self, key: &str, until: Timestamp) -> StoreResult<()>;
    /// A successful sign-in forgets the failures.
    async fn clear_login_attempts(&mut self, key: &str) -> StoreResult<()>;
}

/// What administrators do to user accounts.
#[async_trait]
pub trait ModerationRepo {
    /// A page of users, filtered and sorted, after the cursor.
    async fn list_users(&mut self, query: &UserQuery) -> StoreResult<Vec<User>>;
    async fn count_users(&mut self, filter: &UserFilter, now: Timestamp) -> StoreResult<i64>;
    async fn set_role(&mut self, id: Uuid, role: Role, now: Timestamp) -> StoreResult<()>;
    async fn set_email_verified(
        &mut self,
        id: Uuid,
        verified_at: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Bans (or re-bans with new terms); `until = None` bans until unbanned.
    async fn ban_user(
        &mut self,
        id: Uuid,
        until: Option<Timestamp>,
        reason: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<()>;
    async fn unban_user(&mut self, id: Uuid, now: Timestamp) -> StoreResult<()>;
    async fn delete_user(&mut self, id: Uuid) -> StoreResult<bool>;
    /// SUPER-ADMINs who can actually sign in: not banned, and with an address
    /// they have proven (an invitee who never signed in does not count).
    async fn count_active_super_admins(&mut self, now: Timestamp) -> StoreResult<i64>;
}

/// Named locks, for transactions that must not interleave on any backend.
#[async_trait]
pub trait LockRepo {
    /// Holds the named lock row until the transaction ends.
    async fn lock(&mut self, name: &str) -> StoreResult<()>;
}

/// The service clients that may introspect tokens.
#[async_trait]
pub trait ServiceClientRepo {
    async fn insert_service_client(&mut self, client: &ServiceClient) -> StoreResult<()>;
    async fn service_clients(&mut self) -> StoreResult<Vec<ServiceClient>>;
    async fn service_client_by_client_id(
        &mut self,
        client_id: &str,
    ) -> StoreResult<Option<ServiceClient>>;
    async fn delete_service_client(&mut self, id: Uuid) -> StoreResult<bool>;
    async fn touch_service_client(&mut self, id: Uuid, now: Timestamp) -> StoreResult<()>;
}

#[async_trait]
pub trait AuditRepo {
    /// Inserts the event and, with a publication, queues it for every
    /// enabled endpoint subscribed to its type (a transactional outbox): in
    /// one statement where the dialect allows, else two in the caller's
    /// unit of work.
    async fn record_audit_event(
        &mut self,
        event: &AuditEvent,
        publication: Option<&Publication>,
    ) -> StoreResult<()>;
    /// Newest first, after the cursor.
    async fn audit_events(&mut self, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>>;
}

#[async_trait]
pub trait OutboxRepo {
    async fn enqueue_mail(&mut self, mail: &OutboxMail) -> StoreResult<()>;
    /// Claims up to `limit` due mails for this instance until `lease_until`
    /// (counting an attempt each); a mail another instance holds is skipped.
    async fn claim_mail(
        &mut self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<OutboxMail>>;
    async fn delete_mail(&mut self, id: Uuid) -> StoreResult<()>;
    /// After a failed attempt: try again at `next_attempt_at`.
    async fn reschedule_mail(
        &mut self,
        id: Uuid,
        next_attempt_at: Timestamp,
        error: &str,
    ) -> StoreResult<()>;
    /// Drops mails past their `discard_after`; returns how many.
    async fn discard_stale_mail(&mut self, now: Timestamp) -> StoreResult<u64>;
    /// Mails waiting in the outbox, and webhook deliveries pending (a metric).
    async fn backlog(&mut self) -> StoreResult<(i64, i64)>;
}

/// Second factors, recovery codes and pending second steps of sign-ins.
#[async_trait]
pub trait FactorRepo {
    async fn insert_factor(&mut self, factor: &Factor) -> StoreResult<()>;
    /// The user's factors, oldest first.
    async fn factors_of_user(&mut self, user_id: Uuid) -> StoreResult<Vec<Factor>>;
    /// Deletes the user's factors not yet verified; returns how many.
    async fn delete_unverified_factors(&mut self, user_id: Uuid) -> StoreResult<u64>;
    /// Accepts a code of time step `step` for the user's factor `id`
    /// (activating it when `activate`), unless a code of this step or a later
    /// one was accepted before: the one statement that makes a code single use.
    async fn accept_totp_step(
        &mut self,
        id: Uuid,
        user_id: Uuid,
        step: i64,
        activate: bool,
        now: Timestamp,
    ) -> StoreResult<bool>;
    async fn delete_factor(&mut self, id: Uuid, user_id: Uuid) -> StoreResult<bool>;
    /// Deletes every factor and recovery code of the user; returns how many
    /// factors there were.
    async fn delete_factors_of_user(&mut self, user_id: Uuid) -> StoreResult<u64>;
    /// Replaces the user's recovery codes with these (keyed hashes).
    async fn replace_recovery_codes(
        &mut self,
        user_id: Uuid,
        code_hashes: &[String],
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Uses the unused recovery code with this hash: true for exactly one
    /// caller, however many race.
    async fn use_recovery_code(
        &mut self,
        user_id: Uuid,
        code_hash: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
    async fn remaining_recovery_codes(&mut self, user_id: Uuid) -> StoreResult<i64>;
    async fn insert_mfa_challenge(&mut self, challenge: &MfaChallenge) -> StoreResult<()>;
    /// The live challenge with this hash that has attempts left.
    async fn mfa_challenge(
        &mut self,
        token_hash: &str,
        now: Timestamp,
        max_attempts: u32,
    ) -> StoreResult<Option<MfaChallenge>>;
    /// Deletes the challenge: true for exactly one caller.
    async fn take_mfa_challenge(&mut self, token_hash: &str) -> StoreResult<bool>;
    /// Ends every pending second step of the user; returns how many.
    async fn delete_mfa_challenges_of_user(&mut self, user_id: Uuid) -> StoreResult<u64>;
    /// Counts a wrong code against the challenge.
    async fn count_mfa_failure(&mut self, token_hash: &str) -> StoreResult<()>;
    /// Raises a live session to a second factor, with a new `auth_time`.
    async fn raise_session(
        &mut self,
        id: Uuid,
        second_factor: SecondFactor,
        now: Timestamp,
    ) -> StoreResult<Option<Session>>;
    /// Marks every current refresh token of the session as rotated (a new
    /// pair replaces them); returns how many.
    async fn retire_refresh_tokens(&mut self, session_id: Uuid, now: Timestamp)
        -> StoreResult<u64>;
}

/// Webhook endpoints and their deliveries (a transactional outbox).
#[async_trait]
pub trait WebhookRepo {
    async fn insert_webhook_delivery(&mut self, delivery: &WebhookDelivery) -> StoreResult<()>;
    async fn insert_webhook_endpoint(&mut self, endpoint: &WebhookEndpoint) -> StoreResult<()>;
    /// Oldest first.
    async fn webhook_endpoints(&mut self) -> StoreResult<Vec<WebhookEndpoint>>;
    async fn webhook_endpoint(&mut self, id: Uuid) -> StoreResult<Option<WebhookEndpoint>>;
    /// Writes every changeable field; false when there is no such endpoint.
    async fn update_webhook_endpoint(&mut self, endpoint: &WebhookEndpoint) -> StoreResult<bool>;
    async fn delete_webhook_endpoint(&mut self, id: Uuid) -> StoreResult<bool>;
    /// Leases an enabled endpoint with due deliveries that no instance holds:
    /// while the lease lasts, only this instance delivers to it (in order).
    async fn claim_webhook_endpoint(
        &mut self,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<Option<WebhookEndpoint>>;
    /// The endpoint's due deliveries in event order.
    async fn due_webhook_deliveries(
        &mut self,
        endpoint_id: Uuid,
        now: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<WebhookDelivery>>;
    async fn record_webhook_attempt(
        &mut self,
        event_id: Uuid,
        endpoint_id: Uuid,
        attempt: &DeliveryAttempt,
    ) -> StoreResult<()>;
    /// Ends the lease; stores the failure streak, and switches the endpoint
    /// off with `disable` as the reason when given.
    async fn release_webhook_endpoint(
        &mut self,
        id: Uuid,
        failure_streak: i64,
        disable: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<()>;
    async fn webhook_deliveries(
        &mut self,
        query: &DeliveryQuery,
    ) -> StoreResult<Vec<WebhookDelivery>>;
    /// Makes a delivery due again now (a new series of attempts).
    async fn retry_webhook_delivery(
        &mut self,
        event_id: Uuid,
        endpoint_id: Uuid,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Deletes finished deliveries created before `before`.
    async fn purge_webhook_deliveries(&mut self, before: Timestamp) -> StoreResult<u64>;
}

#[async_trait]
pub trait HousekeepingRepo {
    /// Deletes what can no longer be used: expired codes, pending
    /// registrations and mail throttles, and sessions (with their refresh
    /// tokens) that ended before `sessions_ended_before`, and audit events
    /// older than `audit_before` (none when it is `None`). Returns the
    /// number of rows deleted.
    async fn purge_expired(
        &mut self,
        now: Timestamp,
        sessions_ended_before: Timestamp,
        throttles_before: Timestamp,
        audit_before: Option<Timestamp>,
    ) -> StoreResult<u64>;
}

#[async_trait]
pub trait PasskeyRepo {
    /// The random user handle the user's passkeys carry, if any yet.
    async fn passkey_handle(&mut self, user_id: Uuid) -> StoreResult<Option<Uuid>>;
    /// Gives the user a handle (once: a second one is a unique conflict).
    async fn insert_passkey_handle(&mut self, user_id: Uuid, handle: Uuid) -> StoreResult<()>;
    /// Whose handle this is.
    async fn user_of_passkey_handle(&mut self, handle: Uuid) -> StoreResult<Option<Uuid>>;
    /// A credential id already taken is a unique conflict.
    async fn insert_passkey(&mut self, passkey: &PasskeyRecord) -> StoreResult<()>;
    /// The user's passkeys, oldest first (flagged ones included).
    async fn passkeys_of_user(&mut self, user_id: Uuid) -> StoreResult<Vec<PasskeyRecord>>;
    async fn rename_passkey(&mut self, id: Uuid, user_id: Uuid, name: &str) -> StoreResult<bool>;
    async fn delete_passkey(&mut self, id: Uuid, user_id: Uuid) -> StoreResult<bool>;
    /// Stores the credential's new counter and flags after a use, unless a
    /// use with this counter or a later one was stored first (a non-zero
    /// counter only moves forward): true when stored.
    async fn record_passkey_use(
        &mut self,
        id: Uuid,
        (credential, sign_count): (&str, u32),
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Marks a credential whose counter went backwards; true the first time.
    async fn flag_passkey(&mut self, id: Uuid, now: Timestamp) -> StoreResult<bool>;
    async fn insert_ceremony(&mut self, ceremony: &Ceremony) -> StoreResult<()>;
    /// Deletes and returns the live ceremony: exactly one caller gets it.
    async fn take_ceremony(&mut self, id: Uuid, now: Timestamp) -> StoreResult<Option<Ceremony>>;
}
