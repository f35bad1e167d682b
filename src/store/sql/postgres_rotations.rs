//! PostgreSQL: refresh rotations, many to a transaction (the backend of
//! `rotation_queue`).
//!
//! Through the pool every refresh was its own transaction: a commit that
//! waits for the log's flush, and on the way back to the pool sqlx's ping,
//! one more round trip. With 32 clients refreshing, the server's CPU per
//! refresh was about twice the SQLite build's and PostgreSQL's backends
//! took a core between them (2026-12-07). Here the rotations queued while
//! one statement runs go into the next, on one connection of the store's
//! own: `sessions::ROTATE_AND_ISSUE_MANY`, the pool's statement for many
//! tokens at once. One round trip and one commit (one flush) serve them
//! all. Running the pool's statement once per rotation in one transaction
//! was tried first: 0.35 ms per rotation, a round trip each.
//!
//! The statement locks the rows of several sessions (in the order of their
//! ids) until its commit, where the pool's statement locked one. It must
//! never be the reason a sign-out, a ban or another instance's refresh
//! waits long or deadlocks:
//! its connections run with a short `lock_timeout` (and a `statement_timeout`
//! that bounds the whole statement), so a lock held elsewhere fails the
//! whole group at once (nothing written), and its rotations go through the
//! pool, one statement each, which waits for that lock as before. Where the
//! group may have committed before failing (a connection lost after
//! sending), its callers answer 503 instead: done again, a rotation would
//! look like a reuse of the old token.

use super::rotation_queue::{GroupError, RotateAll, Rotation, RotationQueue};
use super::sessions::ROTATE_AND_ISSUE_MANY;
// An idle connection is pinged before use, as the pool's own are.
use super::PING_WHEN_IDLE_FOR;
use crate::store::Session;
use futures_util::future::BoxFuture;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, FromRow, Row};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Set on each of the group's connections: how long the group waits for a
/// row another transaction holds before it gives way, and how long its
/// statement may run at all, which bounds what a revocation waits behind it
/// (see above). A group usually takes a few milliseconds.
///
/// And how the statement is planned. These connections run nothing else,
/// and its right plan never changes: for each of a handful of tokens, a
/// lookup by key in `refresh_tokens` and then in `sessions`. Left to the
/// statistics, PostgreSQL planned it by the table's size at the time: the
/// generic plan it caches after five runs, made while `refresh_tokens` was
/// small (a new deployment, or any table before its first ANALYZE), read
/// the whole table for every group long after it had grown (bench/run's
/// refresh: 8 024 sequential scans, 294 million rows, slower run after
/// run). Planning every group afresh instead cost 0.5 ms of the server's
/// CPU per group, a fifth of the group's time. So sequential scans, hash
/// joins and merge joins are ruled out here (nested loops over the keys
/// remain, whatever the table's size or statistics), and the plan is made
/// once per connection and kept.
const SESSION_SETTINGS: &str = "SET lock_timeout = '20ms'; \
     SET statement_timeout = '200ms'; SET plan_cache_mode = force_generic_plan; \
     SET enable_seqscan = off; SET enable_hashjoin = off; SET enable_mergejoin = off";

/// Groups in flight at once, each on its connection: while one waits for its
/// commit's flush, the next forms and goes. Groups lock their sessions in
/// the order of their ids, so two of them never deadlock.
const AT_ONCE: usize = 2;

/// The rotations of one database, on connections opened on first use and
/// kept while their groups succeed or are refused by the database.
pub(super) struct PgRotations {
    options: PgConnectOptions,
    /// Connections between two groups, with when each was last used.
    idle: Mutex<Vec<(PgConnection, Instant)>>,
}

/// The queue of the database's rotations; a caller waits `wait` at most.
pub(super) fn rotations(options: PgConnectOptions, wait: Duration) -> RotationQueue {
    let database = format!(
        "postgres://{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or_default()
    );
    let backend = PgRotations {
        options,
        idle: Mutex::new(Vec::new()),
    };
    RotationQueue::new(Arc::new(backend), None, AT_ONCE, wait, database)
}

impl PgRotations {
    fn lock_idle(&self) -> MutexGuard<'_, Vec<(PgConnection, Instant)>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle connection known good, or a new one.
    async fn connection(&self) -> Result<PgConnection, sqlx::Error> {
        let idle = self.lock_idle().pop();
        if let Some((mut conn, since)) = idle {
            if since.elapsed() < PING_WHEN_IDLE_FOR || conn.ping().await.is_ok() {
                return Ok(conn);
            }
        }
        let mut conn = PgConnection::connect_with(&self.options).await?;
        sqlx::raw_sql(SESSION_SETTINGS).execute(&mut conn).await?;
        Ok(conn)
    }
}

impl RotateAll for PgRotations {
    fn rotate_all(
        self: Arc<Self>,
        rotations: Vec<Rotation>,
    ) -> BoxFuture<'static, Result<Vec<Option<Session>>, GroupError>> {
        Box::pin(async move {
            // Nothing sent yet: nothing written.
            let mut conn = self
                .connection()
                .await
                .map_err(|e| GroupError::NotWritten(e.to_string()))?;
            match rotate_all(&mut conn, &rotations).await {
                Ok(rotated) => {
                    self.lock_idle().push((conn, Instant::now()));
                    Ok(rotated)
                }
                // The database refused the statement (a lock not granted
                // in time, the time limit, a constraint): rolled back, and
                // the connection is fine.
                Err(sqlx::Error::Database(error)) => {
                    self.lock_idle().push((conn, Instant::now()));
                    Err(GroupError::NotWritten(error.to_string()))
                }
                // The connection failed on the way, or the answer could not
                // be read: the statement may have committed. The connection
                // is not kept.
                Err(error) => Err(GroupError::Unknown(error.to_string())),
            }
        })
    }
}

/// Every rotation in one statement (atomic: all or nothing where anything
/// fails). A token presented twice in one group rotates once, for the
/// first; the later ones are answered `None`, as they would be after it (the
/// caller then looks into them as replays).
async fn rotate_all(
    conn: &mut PgConnection,
    rotations: &[Rotation],
) -> Result<Vec<Option<Session>>, sqlx::Error> {
    let mut first = HashSet::with_capacity(rotations.len());
    let (mut tokens, mut successors, mut ats, mut cutoffs) = (vec![], vec![], vec![], vec![]);
    for rotation in rotations {
        if first.insert(rotation.token_hash.as_str()) {
            tokens.push(rotation.token_hash.as_str());
            successors.push(rotation.successor_hash.as_str());
            ats.push(rotation.now.datetime());
            cutoffs.push(rotation.idle_cutoff.datetime());
        }
    }
    let rows = sqlx::query(ROTATE_AND_ISSUE_MANY)
        .bind(&tokens)
        .bind(&successors)
        .bind(&ats)
        .bind(&cutoffs)
        .fetch_all(&mut *conn)
        .await?;
    let mut rotated = HashMap::with_capacity(rows.len());
    for row in &rows {
        let token: String = row.try_get("rotated_token")?;
        rotated.insert(token, Session::from_row(row)?);
    }
    // `remove`: a token's later copies in the group find nothing.
    Ok(rotations
        .iter()
        .map(|rotation| rotated.remove(&rotation.token_hash))
        .collect())
}

#[cfg(test)]
mod tests;
