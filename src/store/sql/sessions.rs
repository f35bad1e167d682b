use super::SqlRepo;
use crate::domain::{AuthMethod, SecondFactor};
use crate::store::{RefreshTokenRecord, Session, SessionRepo, StoreResult, Timestamp, User};
use uuid::Uuid;

/// A live session and its user in one row: every authenticated request
/// reads this, so one statement instead of two (on SQLite each statement is
/// a round trip to the connection's thread). The session's columns carry an
/// `s_` prefix because both tables have `id` and `created_at`.
#[derive(sqlx::FromRow)]
struct SessionOfUser {
    #[sqlx(flatten)]
    user: User,
    s_id: Uuid,
    s_ip: Option<String>,
    s_user_agent: Option<String>,
    s_created_at: Timestamp,
    s_last_used_at: Timestamp,
    s_expires_at: Timestamp,
    s_revoked_at: Option<Timestamp>,
    s_auth_time: Timestamp,
    #[sqlx(try_from = "String")]
    s_auth_method: AuthMethod,
    s_second_factor: Option<SecondFactor>,
}

/// PostgreSQL: a refresh's three writes as one statement ($1 the token's
/// hash, $2 now, $3 the idle cutoff, $4 the successor's hash). The session
/// row is locked and checked live first: a revocation committed meanwhile
/// is seen (the lock re-reads the row), one that comes later waits for this
/// statement; so nothing is written for a dead session, and never a
/// rotation without its successor. `ROTATE_AND_ISSUE_MANY` is the same
/// for a group of tokens.
const ROTATE_AND_ISSUE: &str = concat!(
    "WITH live AS MATERIALIZED (\
       SELECT s.id FROM sessions s JOIN refresh_tokens r ON r.session_id = s.id \
       WHERE r.token_hash = $1 AND r.rotated_at IS NULL AND s.revoked_at IS NULL \
       AND s.expires_at > $2 AND s.last_used_at > $3 \
       FOR NO KEY UPDATE OF s), \
     rotated AS (\
       UPDATE refresh_tokens SET rotated_at = $2 \
       WHERE token_hash = $1 AND rotated_at IS NULL \
       AND session_id IN (SELECT id FROM live) \
       RETURNING session_id), \
     touched AS (\
       UPDATE sessions SET last_used_at = $2 \
       WHERE id IN (SELECT session_id FROM rotated) \
       RETURNING ",
    columns!(Session),
    "), \
     issued AS (\
       INSERT INTO refresh_tokens (token_hash, session_id, issued_at) \
       SELECT $4, id, $2 FROM touched) \
     SELECT ",
    columns!(Session),
    " FROM touched"
);

/// PostgreSQL: [`ROTATE_AND_ISSUE`] for many tokens at once, each with its
/// own successor and times ($1 the tokens' hashes, $2 their successors'
/// hashes, $3 each one's now, $4 each one's idle cutoff; the hashes must
/// differ). Each answered row is a rotated session and the hash of the token
/// that rotated (`rotated_token`); a token that is not current or whose
/// session is not live has no row and writes nothing. Tokens first, then
/// their sessions, each by its key: planned as one join, PostgreSQL once
/// scanned every session for every token (36 ms for 16 tokens, with the
/// statistics of a young table). Both reads of `refresh_tokens` also name
/// the tokens as `= ANY($1)`, a condition on its key. The rotated row is
/// found by its key alone: it is the row `current` read, so its session is
/// `live`'s by construction (a token never changes session), and a
/// condition on `session_id` there let the planner walk all of a session's
/// tokens (one per refresh it ever made) by `refresh_tokens_session_id_idx`
/// instead. What it answers is `live`'s session, so that the session touched
/// and given the successor is always the one `live` checked and locked. How
/// the statement is planned is set on the connections that run it
/// (`postgres_rotations`).
pub(super) const ROTATE_AND_ISSUE_MANY: &str = concat!(
    "WITH input AS (\
       SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[]) \
       AS i(token_hash, successor_hash, at, idle_cutoff)), \
     current AS MATERIALIZED (\
       SELECT i.*, r.session_id FROM input i \
       JOIN refresh_tokens r ON r.token_hash = i.token_hash \
       WHERE r.token_hash = ANY($1::text[]) AND r.rotated_at IS NULL), \
     live AS MATERIALIZED (\
       SELECT s.id, c.token_hash, c.successor_hash, c.at \
       FROM current c JOIN sessions s ON s.id = c.session_id \
       WHERE s.revoked_at IS NULL AND s.expires_at > c.at AND s.last_used_at > c.idle_cutoff \
       ORDER BY s.id FOR NO KEY UPDATE OF s), \
     rotated AS (\
       UPDATE refresh_tokens r SET rotated_at = l.at FROM live l \
       WHERE r.token_hash = ANY($1::text[]) AND r.token_hash = l.token_hash \
       AND r.rotated_at IS NULL \
       RETURNING l.id AS session_id, l.token_hash AS rotated_token, l.successor_hash, l.at), \
     touched AS (\
       UPDATE sessions SET last_used_at = rotated.at FROM rotated \
       WHERE sessions.id = rotated.session_id \
       RETURNING ",
    columns!(Session),
    ", rotated.rotated_token, rotated.successor_hash), \
     issued AS (\
       INSERT INTO refresh_tokens (token_hash, session_id, issued_at) \
       SELECT successor_hash, id, last_used_at FROM touched) \
     SELECT ",
    columns!(Session),
    ", rotated_token FROM touched"
);

impl SessionOfUser {
    fn split(self) -> (Session, User) {
        let session = Session {
            id: self.s_id,
            user_id: self.user.id,
            ip: self.s_ip,
            user_agent: self.s_user_agent,
            created_at: self.s_created_at,
            last_used_at: self.s_last_used_at,
            expires_at: self.s_expires_at,
            revoked_at: self.s_revoked_at,
            auth_time: self.s_auth_time,
            auth_method: self.s_auth_method,
            second_factor: self.s_second_factor,
        };
        (session, self.user)
    }
}

/// A session's row; `$1`…`$11` are its columns.
macro_rules! insert_session {
    () => {
        "INSERT INTO sessions (id, user_id, ip, user_agent, created_at, last_used_at, \
         expires_at, revoked_at, auth_time, auth_method, second_factor) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    };
}

/// The session and its first refresh token (`$12`), issued at its creation,
/// in one statement (PostgreSQL): the token's foreign key is checked at the
/// end of the statement, when the session's row is there.
const OPEN_SESSION: &str = concat!(
    "WITH session AS (",
    insert_session!(),
    ") INSERT INTO refresh_tokens (token_hash, session_id, issued_at) VALUES ($12, $1, $5)"
);

/// Binds `$1`…`$11` of [`insert_session!`] (a macro: one body for both
/// backends' query types).
macro_rules! bind_session {
    ($query:expr, $session:expr) => {{
        let session: &Session = $session;
        $query
            .bind(session.id)
            .bind(session.user_id)
            .bind(session.ip.as_deref())
            .bind(session.user_agent.as_deref())
            .bind(session.created_at)
            .bind(session.last_used_at)
            .bind(session.expires_at)
            .bind(session.revoked_at)
            .bind(session.auth_time)
            .bind(session.auth_method.as_str())
            .bind(session.second_factor.map(|f| f.as_str()))
    }};
}

impl_for_backends! { impl SessionRepo for SqlRepo<DB> {
    async fn insert_session(&mut self, session: &Session) -> StoreResult<()> {
        let query = bind_session!(sqlx::query(insert_session!()), session);
        self.execute("insert_session", query).await?;
        Ok(())
    }

    async fn insert_session_with_refresh_token(
        &mut self,
        session: &Session,
        token_hash: &str,
    ) -> StoreResult<()> {
        if <DB as crate::store::sql::Dialect>::DATA_MODIFYING_CTE {
            let query = bind_session!(sqlx::query(OPEN_SESSION), session).bind(token_hash);
            self.execute("open_session", query).await?;
            return Ok(());
        }
        self.insert_session(session).await?;
        self.insert_refresh_token(token_hash, session.id, session.created_at)
            .await
    }

    async fn insert_refresh_token(
        &mut self,
        token_hash: &str,
        session_id: Uuid,
        now: Timestamp,
    ) -> StoreResult<()> {
        let query = sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, issued_at) VALUES ($1, $2, $3)",
        )
        .bind(token_hash)
        .bind(session_id)
        .bind(now);
        self.execute("insert_refresh_token", query).await?;
        Ok(())
    }

    async fn rotate_refresh_token(
        &mut self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<Uuid>> {
        let query = sqlx::query_as(
            "UPDATE refresh_tokens SET rotated_at = $2 \
             WHERE token_hash = $1 AND rotated_at IS NULL RETURNING session_id",
        )
        .bind(token_hash)
        .bind(now);
        let row: Option<(Uuid,)> = self.fetch_optional("rotate_refresh_token", query).await?;
        Ok(row.map(|(id,)| id))
    }

    async fn refresh_token_record(
        &mut self,
        token_hash: &str,
    ) -> StoreResult<Option<RefreshTokenRecord>> {
        let query = sqlx::query_as(
            "SELECT r.session_id, s.user_id, r.rotated_at FROM refresh_tokens r \
             JOIN sessions s ON s.id = r.session_id WHERE r.token_hash = $1",
        )
        .bind(token_hash);
        self.fetch_optional("refresh_token_record", query).await
    }

    async fn is_current_refresh_token(
        &mut self,
        token_hash: &str,
        session_id: Uuid,
    ) -> StoreResult<bool> {
        let query = sqlx::query_as(
            "SELECT session_id FROM refresh_tokens WHERE token_hash = $1 AND session_id = $2 \
             AND rotated_at IS NULL",
        )
        .bind(token_hash)
        .bind(session_id);
        let row: Option<(Uuid,)> = self
            .fetch_optional("is_current_refresh_token", query)
            .await?;
        Ok(row.is_some())
    }

    async fn rotate_and_issue_refresh_token(
        &mut self,
        token_hash: &str,
        successor_hash: &str,
        now: Timestamp,
        idle_cutoff: Timestamp,
    ) -> StoreResult<Option<Session>> {
        if !<DB as crate::store::sql::Dialect>::DATA_MODIFYING_CTE {
            let Some(session_id) = self.rotate_refresh_token(token_hash, now).await? else {
                return Ok(None);
            };
            let Some(touched) = self.touch_session(session_id, now, idle_cutoff).await? else {
                return Ok(None);
            };
            self.insert_refresh_token(successor_hash, touched.id, now).await?;
            return Ok(Some(touched));
        }
        let query = sqlx::query_as(ROTATE_AND_ISSUE)
        .bind(token_hash)
        .bind(now)
        .bind(idle_cutoff)
        .bind(successor_hash);
        self.fetch_optional("rotate_and_issue_refresh_token", query)
            .await
    }

    async fn touch_session(
        &mut self,
        id: Uuid,
        now: Timestamp,
        idle_cutoff: Timestamp,
    ) -> StoreResult<Option<Session>> {
        let query = sqlx::query_as(concat!(
            "UPDATE sessions SET last_used_at = $2 WHERE id = $1 AND revoked_at IS NULL \
             AND expires_at > $2 AND last_used_at > $3 RETURNING ",
            columns!(Session)
        ))
        .bind(id)
        .bind(now)
        .bind(idle_cutoff);
        self.fetch_optional("touch_session", query).await
    }

    async fn live_session(
        &mut self,
        id: Uuid,
        user_id: Uuid,
        now: Timestamp,
    ) -> StoreResult<Option<Session>> {
        let query = sqlx::query_as(concat!(
            "SELECT ",
            columns!(Session),
            " FROM sessions WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL \
             AND expires_at > $3"
        ))
        .bind(id)
        .bind(user_id)
        .bind(now);
        self.fetch_optional("live_session", query).await
    }

    async fn live_session_with_user(
        &mut self,
        id: Uuid,
        user_id: Uuid,
        now: Timestamp,
    ) -> StoreResult<Option<(Session, User)>> {
        let query = sqlx::query_as::<_, SessionOfUser>(concat!(
            "SELECT ",
            session_of_user_columns!(),
            " FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL AND s.expires_at > $3"
        ))
            .bind(id)
            .bind(user_id)
            .bind(now);
        let row = self.fetch_optional("live_session_with_user", query).await?;
        Ok(row.map(SessionOfUser::split))
    }

    async fn live_sessions_of_user(
        &mut self,
        user_id: Uuid,
        now: Timestamp,
        idle_cutoff: Timestamp,
    ) -> StoreResult<Vec<Session>> {
        let query = sqlx::query_as(concat!(
            "SELECT ",
            columns!(Session),
            " FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
             AND last_used_at > $3 ORDER BY created_at DESC, id"
        ))
        .bind(user_id)
        .bind(now)
        .bind(idle_cutoff);
        self.fetch_all("live_sessions_of_user", query).await
    }

    async fn revoke_session(
        &mut self,
        id: Uuid,
        owner: Option<Uuid>,
        now: Timestamp,
        reason: &str,
    ) -> StoreResult<bool> {
        let query = sqlx::query(
            "UPDATE sessions SET revoked_at = $3, revoked_reason = $4 \
             WHERE id = $1 AND ($2 IS NULL OR user_id = $2) AND revoked_at IS NULL \
             AND expires_at > $3",
        )
        .bind(id)
        .bind(owner)
        .bind(now)
        .bind(reason);
        Ok(self.execute("revoke_session", query).await? > 0)
    }

    async fn liveness_epoch(&mut self) -> StoreResult<i64> {
        let query = sqlx::query_as("SELECT epoch FROM liveness WHERE id = 1");
        let (epoch,): (i64,) = self.fetch_one("liveness_epoch", query).await?;
        Ok(epoch)
    }

    async fn revoke_sessions_of_user(
        &mut self,
        user_id: Uuid,
        keep: Option<Uuid>,
        now: Timestamp,
        reason: &str,
    ) -> StoreResult<u64> {
        let query = sqlx::query(
            "UPDATE sessions SET revoked_at = $3, revoked_reason = $4 \
             WHERE user_id = $1 AND revoked_at IS NULL AND ($2 IS NULL OR id <> $2)",
        )
        .bind(user_id)
        .bind(keep)
        .bind(now)
        .bind(reason);
        self.execute("revoke_sessions_of_user", query).await
    }
}}
