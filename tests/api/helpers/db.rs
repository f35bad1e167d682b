//! A fresh database per test: a SQLite file in its own temporary directory,
//! or a new PostgreSQL database. Both are removed when the test ends.

use sqlx::{Connection, PgConnection};
use std::path::PathBuf;
use tokio::sync::OnceCell;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn postgres_admin_url() -> String {
    std::env::var("PORTCULLIS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Fails the calling test with a clear message when PostgreSQL cannot be
/// reached: a test that cannot reach its database never counts as passed. A
/// machine without PostgreSQL builds the tests with
/// `PORTCULLIS_TEST_POSTGRES=off`, which marks them ignored (see build.rs).
pub async fn require_postgres() {
    static AVAILABLE: OnceCell<()> = OnceCell::const_new();
    AVAILABLE
        .get_or_init(|| async {
            match PgConnection::connect(&postgres_admin_url()).await {
                Ok(conn) => {
                    let _ = conn.close().await;
                }
                Err(error) => {
                    panic!(
                        "PostgreSQL is not reachable at {} ({error}): start it, set \
                         PORTCULLIS_TEST_POSTGRES_URL, or build the tests with \
                         PORTCULLIS_TEST_POSTGRES=off to mark the PostgreSQL tests ignored",
                        postgres_admin_url()
                    )
                }
            }
        })
        .await;
}

pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    dir: Option<PathBuf>,
    pg_name: Option<String>,
}

impl TestDb {
    pub async fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("portcullis-test-{}", Uuid::new_v4()));
                std::fs::create_dir_all(&dir).unwrap();
                let url = format!("sqlite://{}", dir.join("test.db").display());
                Self {
                    backend,
                    url,
                    dir: Some(dir),
                    pg_name: None,
                }
            }
            Backend::Postgres => {
                let name = format!("portcullis_test_{}", Uuid::new_v4().simple());
                let mut admin = PgConnection::connect(&postgres_admin_url()).await.unwrap();
                let create = format!(r#"CREATE DATABASE "{name}""#);
                sqlx::raw_sql(sqlx::AssertSqlSafe(create))
                    .execute(&mut admin)
                    .await
                    .unwrap();
                let base = postgres_admin_url();
                let url = match base.rsplit_once('/') {
                    Some((server, _)) => format!("{server}/{name}"),
                    None => format!("{base}/{name}"),
                };
                Self {
                    backend,
                    url,
                    dir: None,
                    pg_name: Some(name),
                }
            }
        }
    }

    /// The number of rows in `table` (a name from the migrations).
    pub async fn count_rows(&self, table: &str) -> i64 {
        self.scalar(&format!("SELECT count(*) FROM {table}")).await
    }

    /// The single integer a query returns.
    pub async fn scalar(&self, sql: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match self.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
            }
            Backend::Postgres => {
                let mut conn = PgConnection::connect(&self.url).await.unwrap();
                sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
            }
        }
    }

    /// Moves every audit event `days` into the past, to test retention
    /// without waiting for it.
    pub async fn age_audit_events(&self, days: i64) {
        match self.backend {
            Backend::Sqlite => {
                let sql = format!(
                    "UPDATE audit_events SET occurred_at = occurred_at - {}",
                    days * 86_400_000
                );
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            Backend::Postgres => {
                let sql = format!(
                    "UPDATE audit_events SET occurred_at = occurred_at - interval '{days} days'"
                );
                let mut conn = PgConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
        }
    }

    /// Every text value stored in the database, for grey-box checks that a
    /// secret was never written in clear.
    pub async fn dump(&self) -> String {
        match self.backend {
            Backend::Sqlite => {
                let dir = self.dir.as_ref().unwrap();
                let mut all = Vec::new();
                for entry in std::fs::read_dir(dir).unwrap() {
                    all.extend(std::fs::read(entry.unwrap().path()).unwrap());
                }
                String::from_utf8_lossy(&all).into_owned()
            }
            Backend::Postgres => {
                let mut conn = PgConnection::connect(&self.url).await.unwrap();
                let tables: Vec<(String,)> = sqlx::query_as(
                    "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'",
                )
                .fetch_all(&mut conn)
                .await
                .unwrap();
                let mut dump = String::new();
                for (table,) in tables {
                    let sql = format!(
                        r#"SELECT coalesce(string_agg(t::text, ' '), '') FROM "{table}" t"#
                    );
                    let (rows,): (String,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .fetch_one(&mut conn)
                        .await
                        .unwrap();
                    dump.push_str(&rows);
                }
                dump
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some(name) = self.pg_name.take() {
            // Drop runs outside async code: use a thread with its own runtime.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    if let Ok(mut admin) = PgConnection::connect(&postgres_admin_url()).await {
                        let sql = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
                        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                            .execute(&mut admin)
                            .await;
                    }
                });
            })
            .join();
        }
    }
}
