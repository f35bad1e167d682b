//! SQLite: refresh rotations, many to a transaction, in one hand-over (the
//! backend of `rotation_queue` for a database file).
//!
//! Through sqlx a rotation is five hand-overs to the connection's own
//! thread, each waking two threads: BEGIN, rotate, touch, issue, COMMIT.
//! SQLite has one writer, so every refresh waited for the hand-overs of
//! every refresh before it: perf put about a third of the process in the
//! kernel's task switching, and the CPU stayed 40 % idle while refreshes
//! queued. Here the rotations of one group commit go in one hand-over to a
//! blocking thread, on a connection of our own (rusqlite, over the same
//! SQLite library that sqlx links).
//!
//! Each transaction holds the process's write turn (`SqlStore::writer`),
//! so it never contends with sqlx's write transactions in the process,
//! which get their turn between two of its transactions; a single write
//! on a plain connection (outside the turn) and another process (the CLI)
//! are waited for by SQLite's busy handler, as sqlx's connections wait.

use super::rotation_queue::{GroupError, RotateAll, Rotation, RotationQueue};
use super::sqlite_rows::{session_at, uuid, SESSION_COLUMNS};
use crate::store::Session;
use futures_util::future::BoxFuture;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Semaphore;

/// As long as sqlx's connections wait for another process's write.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The token current, its session live (not revoked, expired or idle).
const CHECK: &str = "SELECT r.session_id FROM refresh_tokens r \
     JOIN sessions s ON s.id = r.session_id \
     WHERE r.token_hash = ?1 AND r.rotated_at IS NULL AND s.revoked_at IS NULL \
     AND s.expires_at > ?2 AND s.last_used_at > ?3";

const ROTATE: &str = "UPDATE refresh_tokens SET rotated_at = ?2 \
     WHERE token_hash = ?1 AND rotated_at IS NULL";

static TOUCH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE sessions SET last_used_at = ?2 WHERE id = ?1 RETURNING {SESSION_COLUMNS}, user_id"
    )
});

const ISSUE: &str =
    "INSERT INTO refresh_tokens (token_hash, session_id, issued_at) VALUES (?1, ?2, ?3)";

/// The rotations of one database file, on one read-write connection
/// opened on first use and kept while its transactions succeed.
pub(super) struct SqliteRotations {
    path: PathBuf,
    connection: Mutex<Option<Connection>>,
}

/// The queue of `path`'s rotations, each transaction in the write `turn`.
pub(super) fn rotations(path: PathBuf, turn: Arc<Semaphore>, wait: Duration) -> RotationQueue {
    let database = path.display().to_string();
    let backend = SqliteRotations {
        path,
        connection: Mutex::new(None),
    };
    RotationQueue::new(Arc::new(backend), Some(turn), 1, wait, database)
}

impl RotateAll for SqliteRotations {
    fn rotate_all(
        self: Arc<Self>,
        rotations: Vec<Rotation>,
    ) -> BoxFuture<'static, Result<Vec<Option<Session>>, GroupError>> {
        Box::pin(async move {
            let done = tokio::task::spawn_blocking(move || {
                let mut slot = self
                    .connection
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let conn = match slot.take() {
                    Some(conn) => Ok(conn),
                    None => connect(&self.path),
                };
                conn.and_then(|mut conn| {
                    let rotated = rotate_all(&mut conn, &rotations);
                    // A connection whose transaction failed is not kept.
                    if rotated.is_ok() {
                        *slot = Some(conn);
                    }
                    rotated
                })
                // Rolled back (a failed COMMIT too, when the transaction
                // is dropped): nothing written.
                .map_err(|error| GroupError::NotWritten(error.to_string()))
            });
            done.await
                .map_err(|_| GroupError::Unknown("the rotations' thread panicked".to_owned()))?
        })
    }
}

/// Every rotation in one transaction, committed; all or nothing where
/// anything fails.
fn rotate_all(
    conn: &mut Connection,
    rotations: &[Rotation],
) -> rusqlite::Result<Vec<Option<Session>>> {
    // Dropped without commit on an error: nothing is written.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let rotated = rotations
        .iter()
        .map(|rotation| rotate(&tx, rotation))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    tx.commit()?;
    Ok(rotated)
}

/// One rotation inside the write transaction: nothing written unless the
/// token is current and its session live, which nothing else can change
/// before the commit (the transaction holds SQLite's write lock).
fn rotate(tx: &Connection, rotation: &Rotation) -> rusqlite::Result<Option<Session>> {
    let now = rotation.now.unix_millis();
    let live = tx
        .prepare_cached(CHECK)?
        .query_row(
            (
                &rotation.token_hash,
                now,
                rotation.idle_cutoff.unix_millis(),
            ),
            |row| uuid(row, 0),
        )
        .optional()?;
    let Some(session_id) = live else {
        return Ok(None);
    };
    let id = session_id.as_bytes().as_slice();
    tx.prepare_cached(ROTATE)?
        .execute((&rotation.token_hash, now))?;
    let touched = tx
        .prepare_cached(&TOUCH)?
        .query_row((id, now), |row| session_at(row, 0, uuid(row, 10)?))?;
    tx.prepare_cached(ISSUE)?
        .execute((&rotation.successor_hash, id, now))?;
    Ok(Some(touched))
}

/// A connection set up as sqlx sets up its own (the file is already in WAL
/// mode: sqlx made it so when it opened).
pub(super) fn connect(path: &std::path::Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )?;
    // SQLite opens a file it may not write read-only, silently; such a
    // connection would refuse every write of its life.
    if conn.is_readonly(rusqlite::MAIN_DB)? {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_READONLY),
            Some("the database file could only be opened read-only".into()),
        ));
    }
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // Checkpoints are the checkpointer's, off the write path.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.pragma_update(
        None,
        "journal_size_limit",
        super::sqlite_checkpoint::JOURNAL_SIZE_LIMIT,
    )?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::super::rotation_queue::NotHere;
    use super::*;
    use crate::domain::{AuthMethod, Email};
    use crate::store::Timestamp;
    use crate::store::{NewUser, Repo, Store};
    use uuid::Uuid;

    async fn session_with_token(repo: &mut Box<dyn Repo>, n: u32, now: Timestamp) -> Session {
        let email = Email::parse(&format!("writer{n}@example.com")).unwrap();
        let user = repo
            .insert_user(&NewUser::verified(email, "email", now))
            .await
            .unwrap();
        let session = Session {
            id: Uuid::now_v7(),
            user_id: user.id,
            ip: Some("192.0.2.1".into()),
            user_agent: Some("unit".into()),
            created_at: now,
            last_used_at: now,
            expires_at: now.plus(Duration::from_secs(60)),
            revoked_at: None,
            auth_time: now,
            auth_method: AuthMethod::Password,
            second_factor: None,
        };
        repo.insert_session(&session).await.unwrap();
        repo.insert_refresh_token(&format!("t{n}"), session.id, now)
            .await
            .unwrap();
        session
    }

    /// Rotations run here (not always left to the pool), those queued
    /// while the write turn is taken go into one transaction, all or
    /// nothing, and a file that cannot be opened is left to the pool.
    #[tokio::test]
    async fn rotations_run_here_together_and_an_unwritable_file_is_left_to_the_pool() {
        let (store, dir, _) = super::super::sqlite::temp_file_store("writer").await;
        let now = Timestamp::now();
        let mut repo = store.connection().await.unwrap();
        let mut sessions = Vec::new();
        for n in 0..3 {
            sessions.push(session_with_token(&mut repo, n, now).await);
        }
        let rotator = store.rotator.clone().expect("a file database has one");
        let later = now.plus(Duration::from_secs(1));
        let rotation = |token: &str, successor: &str| Rotation {
            token_hash: token.into(),
            successor_hash: successor.into(),
            now: later,
            idle_cutoff: now.minus(Duration::from_secs(60)),
        };
        // Queued while the turn is taken: they go in together.
        let together = |rotations: Vec<Rotation>| {
            let rotator = rotator.clone();
            let turn = Arc::clone(&store.writer);
            async move {
                let held = turn.acquire_owned().await.unwrap();
                let queued: Vec<_> = rotations
                    .into_iter()
                    .map(|r| {
                        let rotator = rotator.clone();
                        tokio::spawn(async move { rotator.rotate_refresh(r).await })
                    })
                    .collect();
                tokio::time::sleep(Duration::from_millis(50)).await;
                drop(held);
                let mut answers = Vec::new();
                for answer in queued {
                    answers.push(answer.await.unwrap());
                }
                answers
            }
        };

        // One successor collides with a stored token: the whole
        // transaction fails, nothing is written, each goes to the pool.
        let answers = together(vec![rotation("t0", "s0"), rotation("t1", "t2")]).await;
        assert!(answers.iter().all(|a| matches!(a, Err(NotHere::Failed))));
        assert!(repo
            .is_current_refresh_token("t0", sessions[0].id)
            .await
            .unwrap());
        assert!(repo.refresh_token_record("s0").await.unwrap().is_none());

        // A session ended and an unknown token: refused, the others rotate.
        repo.revoke_session(sessions[2].id, None, now, "test")
            .await
            .unwrap();
        let answers = together(vec![
            rotation("t0", "s0"),
            rotation("t2", "s2"),
            rotation("unknown", "x"),
            rotation("t1", "s1"),
        ])
        .await;
        let touched = answers[0].as_ref().unwrap().as_ref().expect("rotated");
        let expected = Session {
            last_used_at: later,
            ..sessions[0].clone()
        };
        assert_eq!(format!("{touched:?}"), format!("{expected:?}"));
        assert!(matches!(answers[1], Ok(None)));
        assert!(matches!(answers[2], Ok(None)));
        assert!(matches!(answers[3], Ok(Some(_))));
        for (old, new, session) in [("t0", "s0", &sessions[0]), ("t1", "s1", &sessions[1])] {
            assert!(repo
                .is_current_refresh_token(new, session.id)
                .await
                .unwrap());
            assert!(!repo
                .is_current_refresh_token(old, session.id)
                .await
                .unwrap());
        }
        assert!(repo
            .is_current_refresh_token("t2", sessions[2].id)
            .await
            .unwrap());
        assert!(repo.refresh_token_record("s2").await.unwrap().is_none());
        // Rotated already: refused, nothing written.
        let again = rotator.rotate_refresh(rotation("t0", "s9")).await;
        assert!(matches!(again, Ok(None)));
        assert!(repo.refresh_token_record("s9").await.unwrap().is_none());

        // A caller that stopped waiting (a 503, a client gone) before its
        // transaction began: skipped, the token stays current.
        let held = Arc::clone(&store.writer).acquire_owned().await.unwrap();
        let gone = {
            let rotator = rotator.clone();
            let queued = rotation("s0", "s8");
            tokio::spawn(async move { rotator.rotate_refresh(queued).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        gone.abort();
        let _ = gone.await;
        drop(held);
        let after = rotator.rotate_refresh(rotation("unknown", "x")).await;
        assert!(matches!(after, Ok(None)), "the queue moved on");
        assert!(repo
            .is_current_refresh_token("s0", sessions[0].id)
            .await
            .unwrap());
        assert!(repo.refresh_token_record("s8").await.unwrap().is_none());

        let turn = Arc::new(Semaphore::new(1));
        let missing = rotations(dir.join("missing.db"), turn, Duration::from_secs(5));
        let failed = missing.rotate_refresh(rotation("s0", "s9")).await;
        assert!(matches!(failed, Err(NotHere::Failed)));
        assert!(!dir.join("missing.db").exists(), "not created");
        drop(repo);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
