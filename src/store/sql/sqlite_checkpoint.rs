//! SQLite: the write-ahead log copied back into the database file off the
//! write path.
//!
//! By default the connection whose commit takes the log past 1,000 pages
//! copies it back into the database file (a checkpoint) before its commit
//! returns, fsyncs included, while it still holds the one write turn.
//! Measured on the refresh benchmark, 1 % of the rotations' transactions
//! took 30 ms instead of about 1 ms, and every writer queued behind them.
//! So the process's own connections never checkpoint on commit
//! (`wal_autocheckpoint=0`), and this task does it every `INTERVAL`, in two
//! steps:
//! - PASSIVE, while writers go on appending: it copies what the log holds
//!   at its start (the bulk) and waits for nobody;
//! - then FULL, in the process's write turn: only what was appended
//!   meanwhile is left to copy, so the turn is short, and the log is then
//!   copied entirely, which lets the next writer start it over from its
//!   beginning. (PASSIVE alone never gets there under a steady load: the
//!   log grew to 600 MB in a 20 s benchmark.)
//!
//! FULL waits at most 20 ms for a reader still on an older snapshot (it
//! holds the write turn meanwhile) and, while it cannot complete, is tried
//! less and less often (up to every 5 s). The log starts over only when
//! no reader is inside it at that moment; `journal_size_limit` then
//! truncates the file, so a burst does not leave a large file behind.
//! Other processes (the CLI) keep SQLite's default. A checkpoint that
//! fails (the file cannot be written) is tried again on the next tick, on
//! a new connection; the log grows meanwhile, as it would with any writer.

use rusqlite::Connection;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Semaphore;

const INTERVAL: Duration = Duration::from_millis(100);

/// How long FULL waits for a writer of another process, or a reader still
/// on an older snapshot, before it answers busy: it holds the process's
/// write turn meanwhile. (A long read in another process would otherwise
/// stall every write here for SQLite's usual 5 s, every tick.)
const BUSY_TIMEOUT: Duration = Duration::from_millis(20);

/// At most this many ticks between two FULL checkpoints that failed.
const MAX_BACKOFF: u32 = 50;

/// What the log file is truncated to when it starts over.
pub(super) const JOURNAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// The checkpointing task; it stops when this is dropped.
pub(super) struct Checkpointer {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Checkpointer {
    /// `turn` is the process's write turn.
    pub(super) fn start(path: PathBuf, turn: Arc<Semaphore>) -> Self {
        Self {
            task: tokio::spawn(run(path, turn)),
        }
    }
}

struct Connected {
    path: PathBuf,
    connection: Option<Connection>,
    warned: bool,
}

/// A checkpoint's answer: frames in the log, frames copied.
type Progress = (i64, i64);

async fn run(path: PathBuf, turn: Arc<Semaphore>) {
    let state = Arc::new(Mutex::new(Connected {
        path,
        connection: None,
        warned: false,
    }));
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut done: Option<Progress> = None;
    // Ticks to let pass before the next FULL: it doubles while FULL cannot
    // complete (a long read elsewhere), up to `MAX_BACKOFF`, so that such a
    // read costs the writers here 20 ms every few seconds, not every tick.
    let mut backoff = 0u32;
    let mut wait = 0u32;
    loop {
        tick.tick().await;
        let Some(passive) = checkpoint(&state, "PASSIVE").await else {
            continue;
        };
        // Nothing written since the last complete checkpoint.
        if Some(passive) == done {
            continue;
        }
        if wait > 0 {
            wait -= 1;
            continue;
        }
        let Ok(_turn) = turn.acquire().await else {
            return;
        };
        done = checkpoint(&state, "FULL")
            .await
            .filter(|(log, copied)| log == copied);
        backoff = match done {
            Some(_) => 0,
            None => (backoff * 2).clamp(1, MAX_BACKOFF),
        };
        wait = backoff;
    }
}

/// One checkpoint in `mode`, on a blocking thread; `None` where it failed.
async fn checkpoint(state: &Arc<Mutex<Connected>>, mode: &'static str) -> Option<Progress> {
    let state = Arc::clone(state);
    let ran = tokio::task::spawn_blocking(move || {
        let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
        let connected = match state.connection.take() {
            Some(conn) => Ok(conn),
            None => super::sqlite_writer::connect(&state.path).and_then(|conn| {
                conn.busy_timeout(BUSY_TIMEOUT)?;
                Ok(conn)
            }),
        };
        let progress = connected.and_then(|conn| {
            // (busy, frames in the log, frames copied); busy is not an
            // error: the next tick tries again.
            let sql = format!("PRAGMA wal_checkpoint({mode})");
            let progress = conn.query_row(&sql, [], |row| Ok((row.get(1)?, row.get(2)?)))?;
            state.connection = Some(conn);
            Ok(progress)
        });
        match progress {
            Ok(progress) => Some(progress),
            Err(error) if state.warned => {
                tracing::debug!(%error, "SQLite checkpoint failed");
                None
            }
            Err(error) => {
                state.warned = true;
                tracing::warn!(
                    %error,
                    file = %state.path.display(),
                    "the SQLite checkpoint fails; the write-ahead log grows until it works again"
                );
                None
            }
        }
    });
    ran.await.ok().flatten()
}

#[cfg(test)]
mod tests {
    use crate::domain::Email;
    use crate::store::{NewUser, Store, Timestamp};

    /// Commits reach the database file itself without a connection's
    /// commit checkpointing (the process's connections do not): the
    /// checkpointer copies them there.
    #[tokio::test]
    async fn commits_reach_the_database_file_by_the_checkpointer() {
        let (store, dir, db) = super::super::sqlite::temp_file_store("ckpt").await;
        let mut repo = store.connection().await.unwrap();
        let now = Timestamp::now();
        for n in 0..20 {
            let email = Email::parse(&format!("ckpt{n}@example.com")).unwrap();
            repo.insert_user(&NewUser::verified(email, "email", now))
                .await
                .unwrap();
        }
        // A copy of the file alone, without its log, holds what was
        // checkpointed and nothing else.
        let copy = dir.join("copy.db");
        let mut in_file = 0;
        for _ in 0..50 {
            std::fs::copy(&db, &copy).unwrap();
            let conn = rusqlite::Connection::open(&copy).unwrap();
            in_file = conn
                .query_row("SELECT count(*) FROM users", [], |row| row.get::<_, i64>(0))
                .unwrap_or(0); // no table yet: not checkpointed yet
            drop(conn);
            let _ = std::fs::remove_file(dir.join("copy.db-wal"));
            if in_file == 20 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(in_file, 20);
        drop(repo);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A reader of another process on an older snapshot keeps FULL from
    /// completing; FULL holds the process's write turn while it waits, so
    /// it must give up soon, not after SQLite's usual 5 s every tick.
    #[tokio::test]
    async fn a_long_reader_elsewhere_does_not_hold_up_writes() {
        let (store, dir, db) = super::super::sqlite::temp_file_store("ckpt").await;
        let now = Timestamp::now();
        let user = |n: u32| {
            NewUser::verified(
                Email::parse(&format!("r{n}@example.com")).unwrap(),
                "email",
                now,
            )
        };
        store
            .connection()
            .await
            .unwrap()
            .insert_user(&user(0))
            .await
            .unwrap();
        let reader = rusqlite::Connection::open(&db).unwrap();
        reader.execute_batch("BEGIN").unwrap();
        let _: i64 = reader
            .query_row("SELECT count(*) FROM users", [], |row| row.get(0))
            .unwrap();
        for n in 1..6 {
            let started = std::time::Instant::now();
            let mut tx = store.transaction().await.unwrap();
            tx.insert_user(&user(n)).await.unwrap();
            tx.commit().await.unwrap();
            let waited = started.elapsed();
            assert!(waited < std::time::Duration::from_secs(2), "{waited:?}");
            // Ticks of the checkpointer in between.
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        reader.execute_batch("COMMIT").unwrap();
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
