//! SQLite: the write-ahead log copied back into the database file off the
//! write path.
//!
//! By default the connection whose commit takes the log past 1,000 pages
//! copies it back into the database file (a checkpoint) before its commit
//! returns, two fsyncs included, while it still holds the one write turn.
//! Measured on the refresh benchmark, 1 % of the rotations' transactions
//! took 30 ms instead of about 1 ms, and every writer queued behind them.
//! So the process's own connections never checkpoint on commit
//! (`wal_autocheckpoint=0`), and this thread does it every `INTERVAL`, in
//! PASSIVE mode: it copies what no reader still needs, waits for nobody,
//! and writers go on appending meanwhile. The log restarts from its
//! beginning once it has been copied entirely, so it stays about as large
//! as `INTERVAL` of writes.
//!
//! Other processes (the CLI) keep SQLite's default. A checkpoint that
//! fails (the file cannot be written) is tried again on the next tick, on a
//! new connection; the log grows meanwhile, as it would with any writer.

use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

const INTERVAL: Duration = Duration::from_millis(100);

/// The checkpointing thread; it stops when this is dropped.
pub(super) struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

impl Checkpointer {
    pub(super) fn start(path: PathBuf) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&path, &stopped))?;
        Ok(Self { _stop: stop })
    }
}

fn run(path: &std::path::Path, stopped: &mpsc::Receiver<()>) {
    let mut connection = None;
    let mut warned = false;
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
        let done = match connection.take() {
            Some(conn) => Ok(conn),
            None => super::sqlite_writer::connect(path),
        }
        .and_then(|conn| {
            // (busy, frames in the log, frames copied); PASSIVE answers
            // busy rather than wait, and the next tick tries again.
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
            Ok(conn)
        });
        match done {
            Ok(conn) => connection = Some(conn),
            Err(error) if warned => tracing::debug!(%error, "SQLite checkpoint failed"),
            Err(error) => {
                warned = true;
                tracing::warn!(
                    %error,
                    file = %path.display(),
                    "the SQLite checkpoint fails; the write-ahead log grows until it works again"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Settings;
    use crate::domain::Email;
    use crate::store::{NewUser, Store, Timestamp};
    use uuid::Uuid;

    /// Commits reach the database file itself without a connection's
    /// commit checkpointing (the process's connections do not): the
    /// checkpointer copies them there.
    #[tokio::test]
    async fn commits_reach_the_database_file_by_the_checkpointer() {
        let dir = std::env::temp_dir().join(format!("portcullis-ckpt-{}", Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("p.db");
        let settings = Settings {
            database_url: format!("sqlite://{}", db.display()).into(),
            ..Settings::default()
        };
        let store = super::super::sqlite::open(&settings, true).await.unwrap();
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
}
