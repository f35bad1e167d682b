//! SQLite: a refresh's rotation in one hand-over.
//!
//! Through sqlx a rotation is five hand-overs to the connection's own
//! thread, each waking two threads: BEGIN, rotate, touch, issue, COMMIT. SQLite has one writer, so every refresh waited for the
//! hand-overs of every refresh before it: perf put about a third of the
//! process in the kernel's task switching, and the CPU stayed 40 % idle
//! while refreshes queued. Here the same three statements run in one
//! transaction on one blocking thread, in one hand-over, on a connection
//! of our own (rusqlite, over the same SQLite library that sqlx links).
//!
//! The caller holds the process's write permit for the whole turn, so this
//! connection never contends with sqlx's writers in the process; another
//! process (the CLI) is waited for by SQLite's busy handler, as sqlx's
//! connections wait.
//!
//! Anything unusual (the file cannot be opened for writing, a statement
//! fails) answers "not done here" with nothing written (the transaction
//! rolls back), and the caller runs the rotation through the pool, which
//! reports errors, trips the breaker and answers 503 as everywhere else.

use super::sqlite_rows::{session_at, uuid, SESSION_COLUMNS};
use crate::store::{Session, Timestamp};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;

/// As long as sqlx's connections wait for another process's write.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const ROTATE: &str = "UPDATE refresh_tokens SET rotated_at = ?2 \
     WHERE token_hash = ?1 AND rotated_at IS NULL RETURNING session_id";

static TOUCH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE sessions SET last_used_at = ?2 WHERE id = ?1 AND revoked_at IS NULL \
         AND expires_at > ?2 AND last_used_at > ?3 RETURNING {SESSION_COLUMNS}, user_id"
    )
});

const ISSUE: &str =
    "INSERT INTO refresh_tokens (token_hash, session_id, issued_at) VALUES (?1, ?2, ?3)";

/// One read-write connection to one database file, opened on first use.
pub(super) struct SqliteWriter {
    path: PathBuf,
    connection: Arc<Mutex<Option<Connection>>>,
    /// The first failure is a warning; later ones are debug lines.
    warned: AtomicBool,
}

/// What the rotation needs, owned: it runs on another thread.
pub(super) struct Rotation {
    pub token_hash: String,
    pub successor_hash: String,
    pub now: Timestamp,
    pub idle_cutoff: Timestamp,
}

impl SqliteWriter {
    pub(super) fn new(path: PathBuf) -> Self {
        Self {
            path,
            connection: Arc::new(Mutex::new(None)),
            warned: AtomicBool::new(false),
        }
    }

    /// `SessionRepo::rotate_and_issue_refresh_token` in one transaction,
    /// committed: `Some(None)` where the token is not current or its session
    /// not live (nothing written), `None` where it could not run here.
    /// `permit` is the process's write permit, given back when the turn is
    /// over, even when the caller stops waiting.
    pub(super) async fn rotate_refresh(
        &self,
        rotation: Rotation,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Option<Option<Session>> {
        let slot = Arc::clone(&self.connection);
        let path = self.path.clone();
        let done = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
            let mut conn = match slot.take() {
                Some(conn) => conn,
                None => connect(&path)?,
            };
            let result = rotate(&mut conn, &rotation);
            // A connection whose turn failed is not kept: the next is new.
            if result.is_ok() {
                *slot = Some(conn);
            }
            result
        })
        .await;
        let error = match done {
            Ok(Ok(rotated)) => return Some(rotated),
            Ok(Err(error)) => error.to_string(),
            Err(join) => join.to_string(),
        };
        if self.warned.swap(true, Ordering::Relaxed) {
            tracing::debug!(%error, "refresh rotation left to the pool");
        } else {
            tracing::warn!(
                %error,
                file = %self.path.display(),
                "the SQLite refresh rotation fails on its own connection: left to the pool"
            );
        }
        None
    }
}

fn rotate(conn: &mut Connection, rotation: &Rotation) -> rusqlite::Result<Option<Session>> {
    let now = rotation.now.unix_millis();
    // Dropped without commit on every early return: nothing is written.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let session_id = tx
        .prepare_cached(ROTATE)?
        .query_row((&rotation.token_hash, now), |row| uuid(row, 0))
        .optional()?;
    let Some(session_id) = session_id else {
        return Ok(None);
    };
    let id = session_id.as_bytes().as_slice();
    let touched = tx
        .prepare_cached(&TOUCH)?
        .query_row((id, now, rotation.idle_cutoff.unix_millis()), |row| {
            session_at(row, 0, uuid(row, 10)?)
        })
        .optional()?;
    let Some(touched) = touched else {
        return Ok(None);
    };
    tx.prepare_cached(ISSUE)?
        .execute((&rotation.successor_hash, id, now))?;
    tx.commit()?;
    Ok(Some(touched))
}

/// A connection set up as sqlx sets up its own (the file is already in WAL
/// mode: sqlx made it so when it opened).
fn connect(path: &std::path::Path) -> rusqlite::Result<Connection> {
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
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::domain::{AuthMethod, Email};
    use crate::store::{NewUser, Store};
    use uuid::Uuid;

    /// The rotation runs here (it is not always left to the pool), writes
    /// all three or nothing, and a file it cannot open is left to the pool.
    #[tokio::test]
    async fn a_rotation_runs_here_and_an_unwritable_file_is_left_to_the_pool() {
        let dir = std::env::temp_dir().join(format!("portcullis-writer-{}", Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let settings = Settings {
            database_url: format!("sqlite://{}/p.db", dir.display()).into(),
            ..Settings::default()
        };
        let store = super::super::sqlite::open(&settings, true).await.unwrap();
        let now = Timestamp::now();
        let email = Email::parse("writer@example.com").unwrap();
        let mut repo = store.connection().await.unwrap();
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
        repo.insert_refresh_token("r0", session.id, now)
            .await
            .unwrap();
        let rotator = store.rotator.as_ref().expect("a file database has one");
        let later = now.plus(Duration::from_secs(1));
        let rotation = |token: &str, successor: &str| Rotation {
            token_hash: token.into(),
            successor_hash: successor.into(),
            now: later,
            idle_cutoff: now.minus(Duration::from_secs(60)),
        };

        let touched = rotator
            .rotate_refresh(rotation("r0", "r1"), None)
            .await
            .expect("run here")
            .expect("rotated");
        let expected = Session {
            last_used_at: later,
            ..session.clone()
        };
        assert_eq!(format!("{touched:?}"), format!("{expected:?}"));
        assert!(repo
            .is_current_refresh_token("r1", session.id)
            .await
            .unwrap());
        assert!(!repo
            .is_current_refresh_token("r0", session.id)
            .await
            .unwrap());

        // Not current any more, and unknown: nothing written.
        for token in ["r0", "unknown"] {
            let again = rotator.rotate_refresh(rotation(token, "r2"), None).await;
            assert!(matches!(again, Some(None)), "{token}");
        }
        assert!(repo.refresh_token_record("r2").await.unwrap().is_none());
        // A session ended: the rotation rolls back, r1 stays current.
        repo.revoke_session(session.id, None, later, "test")
            .await
            .unwrap();
        let ended = rotator.rotate_refresh(rotation("r1", "r2"), None).await;
        assert!(matches!(ended, Some(None)));
        assert!(repo
            .is_current_refresh_token("r1", session.id)
            .await
            .unwrap());
        assert!(repo.refresh_token_record("r2").await.unwrap().is_none());

        let missing = SqliteWriter::new(dir.join("missing.db"));
        assert!(missing
            .rotate_refresh(rotation("r1", "r2"), None)
            .await
            .is_none());
        assert!(!dir.join("missing.db").exists(), "not created");
        drop(repo);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
