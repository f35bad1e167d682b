//! SQLite: the read behind every authenticated request, on the request's
//! own thread.
//!
//! sqlx runs each SQLite connection on a thread of its own and hands every
//! statement to it and every row back through channels. For the one-row
//! read that each authenticated request makes, that hand-over (two thread
//! wake-ups, a copy of every column value) cost more than the read: perf on
//! `GET /v1/sessions/current` put a third of the request's CPU in it and
//! about 8 % in SQLite itself. An indexed read of one row of a WAL database
//! takes microseconds, so it runs here
//! synchronously, on a read-only connection to the same file (rusqlite, over
//! the same SQLite library that sqlx links).
//!
//! The read never waits for a writer in WAL mode, which the store sets; it
//! runs on an async worker thread, so what can still hold it (a busy
//! database file, for at most `BUSY_TIMEOUT`; a cold disk) holds that
//! worker's other requests too.
//!
//! Nothing is cached: each call is a new read transaction that sees every
//! commit made before it, by this process or any other, so a session ended
//! anywhere is refused on the very next request, as with the pool.
//!
//! Anything unusual (the file busy or unreadable, a row that does not
//! decode) answers "not read here", and the caller reads through the pool,
//! which reports errors, trips the breaker and retries as everywhere else.

use super::sqlite_rows::session_of_user;
use crate::store::{Session, Timestamp, User};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use uuid::Uuid;

/// Read-only connections to one database file, opened on first use.
pub(super) struct SqliteReader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// The first failure is a warning (every read then costs an open and the
    /// pool's read besides); later ones are debug lines.
    warned: AtomicBool,
}

/// Connections kept between reads: no more run at once than there are
/// request threads, as a read never waits while holding one.
const KEEP_IDLE: usize = 8;

/// A reader finds the file locked only in rare moments (a WAL reset while
/// nobody reads, recovery after a crash); it waits this long on the request
/// thread, then leaves the read to the pool.
const BUSY_TIMEOUT: Duration = Duration::from_millis(20);

const LIVE_SESSION_WITH_USER: &str = concat!(
    "SELECT ",
    session_of_user_columns!(),
    " FROM sessions s JOIN users u ON u.id = s.user_id \
     WHERE s.id = ?1 AND s.user_id = ?2 AND s.revoked_at IS NULL AND s.expires_at > ?3"
);

impl SqliteReader {
    pub(super) fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
            warned: AtomicBool::new(false),
        }
    }

    /// The live session `id` of `user_id` at `now`, with its user, as
    /// `SessionRepo::live_session_with_user` reads it; `None` when it could
    /// not be read here (the caller then asks the pool).
    pub(super) fn live_session_with_user(
        &self,
        id: Uuid,
        user_id: Uuid,
        now: Timestamp,
    ) -> Option<Option<(Session, User)>> {
        let read = self.with_connection(|conn| {
            let mut statement = conn.prepare_cached(LIVE_SESSION_WITH_USER)?;
            statement
                .query_row(
                    (
                        id.as_bytes().as_slice(),
                        user_id.as_bytes().as_slice(),
                        now.unix_millis(),
                    ),
                    session_of_user,
                )
                .optional()
        });
        match read {
            Ok(found) => Some(found),
            Err(error) => {
                if self.warned.swap(true, Ordering::Relaxed) {
                    tracing::debug!(%error, "session read left to the pool");
                } else {
                    tracing::warn!(
                        %error,
                        file = %self.path.display(),
                        "the SQLite session read fails on the request thread: left to the pool"
                    );
                }
                None
            }
        }
    }

    fn with_connection<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let result = read(&conn);
        // A connection whose read failed is not kept: the next one is new.
        if result.is_ok() {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < KEEP_IDLE {
                idle.push(conn);
            }
        }
        result
    }

    fn connect(&self) -> rusqlite::Result<Connection> {
        // URI like sqlx's own connections, so that a `file:` name means the
        // same file with any SQLite build.
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AuthMethod, Email};
    use crate::store::{NewUser, Store};

    /// The reader itself answers (it does not leave every read to the pool),
    /// and a file it cannot open leaves the read to the pool.
    #[tokio::test]
    async fn a_session_is_read_here_and_an_unreadable_file_is_left_to_the_pool() {
        let (store, dir, _) = super::super::sqlite::temp_file_store("reader").await;
        let now = Timestamp::now();
        let email = Email::parse("reader@example.com").unwrap();
        let mut repo = store.connection().await.unwrap();
        let user = repo
            .insert_user(&NewUser::verified(email, "email", now))
            .await
            .unwrap();
        let session = Session {
            id: Uuid::now_v7(),
            user_id: user.id,
            ip: None,
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

        let reader = store.reader.as_ref().expect("a file database has a reader");
        let (read, owner) = reader
            .live_session_with_user(session.id, user.id, now)
            .expect("read here")
            .expect("live");
        assert_eq!(format!("{read:?}"), format!("{session:?}"));
        assert_eq!(format!("{owner:?}"), format!("{user:?}"));
        // Changes committed through the pool while the reader's connection
        // sits idle are read at once.
        repo.ban_user(user.id, None, Some("test"), now)
            .await
            .unwrap();
        repo.set_role(user.id, crate::domain::Role::Admin, now)
            .await
            .unwrap();
        let (_, changed) = reader
            .live_session_with_user(session.id, user.id, now)
            .expect("read here")
            .expect("live");
        assert!(changed.is_banned(now));
        assert_eq!(changed.role, crate::domain::Role::Admin);
        repo.revoke_session(session.id, None, now, "test")
            .await
            .unwrap();
        assert_eq!(
            reader
                .live_session_with_user(session.id, user.id, now)
                .map(|f| f.is_none()),
            Some(true)
        );
        let later = now.plus(Duration::from_secs(61));
        assert_eq!(
            reader
                .live_session_with_user(session.id, user.id, later)
                .map(|f| f.is_none()),
            Some(true)
        );

        let missing = SqliteReader::new(dir.join("missing.db"));
        assert!(missing
            .live_session_with_user(session.id, user.id, now)
            .is_none());
        drop(repo);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
