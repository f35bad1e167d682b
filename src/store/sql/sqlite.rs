//! SQLite: the embedded default. One file, WAL journal, a busy timeout so
//! that writers queue instead of failing, foreign keys on. The file is
//! created readable by its owner only (0600), and SQLite gives its `-wal`
//! and `-shm` files the database file's mode.

use super::read_only::WriteCheck;
use super::sqlite_checkpoint::Checkpointer;
use super::sqlite_reader::SqliteReader;
use super::{ConnectError, Dialect, SqlStore};
use crate::config::Settings;
use crate::store::{Timestamp, UniqueKey};
use futures_util::future::BoxFuture;
use sqlx::error::{BoxDynError, DatabaseError};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};
use sqlx::Sqlite;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

impl Dialect for Sqlite {
    const BACKEND: &'static str = "sqlite";
    // IMMEDIATE takes the write lock up front: a deferred transaction that
    // reads and then writes can fail with SQLITE_BUSY without waiting.
    const SERIALIZE_WRITES: bool = true;
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const DATA_MODIFYING_CTE: bool = false;
    // Dates are integers here; the lock is set by a second statement.
    const CLAIM_AND_LOCK: Option<&'static str> = None;

    fn unique_key(error: &dyn DatabaseError) -> UniqueKey {
        unique_key_from_message(error.message())
    }

    fn rows_affected(result: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    // Integer milliseconds: comparisons in SQL are numeric, not textual.
    type StoredTimestamp = i64;

    fn store_timestamp(at: Timestamp) -> i64 {
        at.unix_millis()
    }

    fn load_timestamp(millis: i64) -> Result<Timestamp, BoxDynError> {
        Timestamp::from_unix_millis(millis).ok_or_else(|| "timestamp out of range".into())
    }

    fn is_transient(error: &dyn DatabaseError) -> bool {
        let code: i32 = error.code().and_then(|c| c.parse().ok()).unwrap_or(0);
        // BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN (primary codes).
        matches!(code & 0xff, 5 | 6 | 8 | 10 | 13 | 14)
    }
}

/// SQLite names the table and columns, `UNIQUE constraint failed:
/// users.email` (or `a.x, a.y`), or, for an index on expressions, `index
/// 'name'`; PostgreSQL names the index.
fn unique_key_from_message(message: &str) -> UniqueKey {
    let detail = message
        .split_once(": ")
        .map(|(_, detail)| detail)
        .unwrap_or_default();
    if let Some(name) = detail.strip_prefix("index '") {
        return UniqueKey::from_index(name.trim_end_matches('\''));
    }
    let mut table = "";
    let mut columns = Vec::new();
    for qualified in detail.split(", ") {
        if let Some((t, column)) = qualified.split_once('.') {
            table = t;
            columns.push(column);
        }
    }
    UniqueKey::from_columns(table, &columns)
}

pub(super) async fn open(
    settings: &Settings,
    migrate: bool,
) -> Result<SqlStore<Sqlite>, ConnectError> {
    let options =
        SqliteConnectOptions::from_str(&settings.database_url).map_err(ConnectError::Connect)?;
    if has_a_file_to_create(&settings.database_url) {
        create_private_file(options.get_filename()).map_err(|e| {
            ConnectError::Connect(sqlx::Error::Io(std::io::Error::new(
                e.kind(),
                format!(
                    "cannot create the SQLite file {}: {e}",
                    options.get_filename().display()
                ),
            )))
        })?;
    }
    let options = options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true);
    let file = reads_the_same_file(&settings.database_url)
        .then(|| options.get_filename().to_path_buf())
        .filter(|path| !path.as_os_str().is_empty());
    // Not where the operator opened the file read-only (`mode=ro`).
    let written_file = file
        .clone()
        .filter(|_| has_a_file_to_create(&settings.database_url));
    // Checkpoints are the checkpointer's, off the write path.
    let options = match written_file {
        Some(_) => options.pragma("wal_autocheckpoint", "0").pragma(
            "journal_size_limit",
            super::sqlite_checkpoint::JOURNAL_SIZE_LIMIT.to_string(),
        ),
        None => options,
    };
    let mut store = SqlStore::open(
        settings,
        options,
        sqlx::migrate!("./migrations/sqlite"),
        migrate,
        // Not for a file opened read-only on purpose (`mode=ro`).
        has_a_file_to_create(&settings.database_url).then_some(can_write as WriteCheck<Sqlite>),
    )
    .await?;
    if let Some(file) = written_file {
        let wait = store.pool.options().get_acquire_timeout();
        store.rotator = Some(super::sqlite_writer::rotations(
            file.clone(),
            Arc::clone(&store.writer),
            wait,
        ));
        store.checkpointer = Some(Checkpointer::start(file, Arc::clone(&store.writer)));
    }
    store.reader = file.map(SqliteReader::new);
    Ok(store)
}

/// A store on a new file `p.db` in a directory of its own, for unit tests:
/// (store, directory, file).
#[cfg(test)]
pub(super) async fn temp_file_store(
    name: &str,
) -> (SqlStore<Sqlite>, std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("portcullis-{name}-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("p.db");
    let settings = Settings {
        database_url: format!("sqlite://{}", db.display()).into(),
        ..Settings::default()
    };
    (open(&settings, true).await.unwrap(), dir, db)
}

/// Whether SQLite opened this connection for writing: it falls back to
/// read-only, silently, when the file cannot be opened for writing.
fn can_write(conn: &mut SqliteConnection) -> BoxFuture<'_, Result<bool, sqlx::Error>> {
    Box::pin(async move {
        let mut handle = conn.lock_handle().await?;
        let db = handle.as_raw_handle();
        // SAFETY: `db` is this connection's open handle, locked for us while
        // `handle` lives; the name is a NUL-terminated literal.
        let read_only =
            unsafe { rusqlite::ffi::sqlite3_db_readonly(db.as_ptr(), c"main".as_ptr()) };
        Ok(read_only == 0)
    })
}

/// An in-memory database is private to its connection (or sqlx's pool):
/// another connection would see another database.
fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// Whether a plain connection to the file sqlx names reads what sqlx's
/// connections read: not for an in-memory database, nor where sqlx opens the
/// file through another VFS (`vfs=`, `immutable=`), nor for a percent-encoded
/// URL that could hide either.
fn reads_the_same_file(url: &str) -> bool {
    !(is_in_memory(url) || url.contains("vfs=") || url.contains("immutable=") || url.contains('%'))
}

/// Not for `sqlite::memory:`, `sqlite://:memory:`, `?mode=memory` (no file)
/// or `?mode=ro` (SQLite must not create it).
fn has_a_file_to_create(url: &str) -> bool {
    !(is_in_memory(url) || url.contains("mode=ro"))
}

/// Creates the database file, empty and private (0600), when it does not
/// exist yet; SQLite then fills it in. An existing file keeps its mode (the
/// operator's choice), with a warning when others can read it.
fn create_private_file(path: &std::path::Path) -> std::io::Result<()> {
    if path.as_os_str().is_empty() {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(path)?.permissions().mode();
                if mode & 0o077 != 0 {
                    tracing::warn!(
                        file = %path.display(),
                        mode = format!("{:o}", mode & 0o777),
                        "the SQLite database file is readable by other users; chmod 600 it (and its -wal and -shm files)"
                    );
                }
            }
            Ok(())
        }
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::{has_a_file_to_create, reads_the_same_file, unique_key_from_message};
    use crate::store::UniqueKey;

    #[test]
    fn only_a_writable_file_database_is_created_ahead() {
        assert!(has_a_file_to_create("sqlite://portcullis.db"));
        assert!(has_a_file_to_create(
            "sqlite:///var/lib/portcullis/p.db?mode=rwc"
        ));
        assert!(!has_a_file_to_create("sqlite::memory:"));
        assert!(!has_a_file_to_create("sqlite://:memory:"));
        assert!(!has_a_file_to_create("sqlite://x.db?mode=memory"));
        assert!(!has_a_file_to_create("sqlite://x.db?mode=ro"));
    }

    #[test]
    fn the_request_thread_reads_only_a_plain_file() {
        assert!(reads_the_same_file("sqlite://portcullis.db"));
        assert!(reads_the_same_file("sqlite:///var/lib/p.db?mode=rwc"));
        assert!(!reads_the_same_file("sqlite::memory:"));
        assert!(!reads_the_same_file(
            "sqlite://x.db?mode=memory&cache=shared"
        ));
        assert!(!reads_the_same_file("sqlite://x.db?vfs=memdb"));
        assert!(!reads_the_same_file("sqlite://x.db?immutable=true"));
        assert!(!reads_the_same_file("sqlite://%3Amemory%3A"));
    }

    #[test]
    fn unique_keys_are_read_from_the_message() {
        assert_eq!(
            unique_key_from_message("UNIQUE constraint failed: users.email"),
            UniqueKey::UsersEmail
        );
        assert_eq!(
            unique_key_from_message(
                "UNIQUE constraint failed: accounts.provider_id, accounts.account_id"
            ),
            UniqueKey::AccountsIdentity
        );
        assert_eq!(
            unique_key_from_message("UNIQUE constraint failed: index 'users_username_key'"),
            UniqueKey::UsersUsername
        );
        assert_eq!(
            unique_key_from_message("UNIQUE constraint failed: sessions.id"),
            UniqueKey::Unknown("sessions(id)".into())
        );
    }
}
