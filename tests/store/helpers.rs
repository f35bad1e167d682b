//! A store on a fresh database, plus small builders for the rows the
//! scenarios need.

// The API suite's throwaway databases, shared rather than copied.
#[allow(dead_code)]
#[path = "../api/helpers/db.rs"]
mod db;

pub use db::{require_postgres, Backend, TestDb};

use portcullis::config::Settings;
use portcullis::domain::{AuthMethod, Email, Role};
use portcullis::store::{NewUser, Repo, Session, Store, StoreError, Timestamp, User};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Generates one `#[tokio::test]` per backend for each scenario
/// `async fn name(store: TestStore)` of the calling module. PostgreSQL
/// scenarios are skipped with a message when no server is reachable, and
/// fail instead under `CI=true`.
#[macro_export]
macro_rules! store_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let store = $crate::helpers::TestStore::open($crate::helpers::Backend::Sqlite).await;
                    super::$name(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(postgres_tests_off, ignore = "PORTCULLIS_TEST_POSTGRES=off")]
                async fn $name() {
                    $crate::helpers::require_postgres().await;
                    let store = $crate::helpers::TestStore::open($crate::helpers::Backend::Postgres).await;
                    super::$name(store).await;
                }
            )*
        }
    };
}

/// The store over a database that lives as long as this value.
pub struct TestStore {
    pub store: Arc<dyn Store>,
    pub db: TestDb,
    /// One instant per scenario; every other time is relative to it.
    pub now: Timestamp,
}

impl TestStore {
    pub async fn open(backend: Backend) -> Self {
        let db = TestDb::create(backend).await;
        let settings = Settings {
            database_url: db.url.clone().into(),
            ..Settings::default()
        };
        let store = portcullis::store::connect(&settings, true).await.unwrap();
        Self {
            store,
            db,
            now: Timestamp::now(),
        }
    }

    /// A connection in autocommit mode.
    pub async fn conn(&self) -> Box<dyn Repo> {
        self.store.connection().await.unwrap()
    }

    /// A user that exists, with a password.
    pub async fn user(&self, email: &str) -> User {
        let mut repo = self.conn().await;
        repo.insert_user(&new_user(email, self.now)).await.unwrap()
    }

    /// A live session of `user_id` that started at `now` and lasts a day.
    pub async fn session(&self, user_id: Uuid) -> Session {
        let session = session_of(user_id, self.now);
        let mut repo = self.conn().await;
        repo.insert_session(&session).await.unwrap();
        session
    }

    pub fn after(&self, secs: u64) -> Timestamp {
        self.now.plus(Duration::from_secs(secs))
    }

    pub fn before(&self, secs: u64) -> Timestamp {
        self.now.minus(Duration::from_secs(secs))
    }
}

pub fn new_user(email: &str, now: Timestamp) -> NewUser {
    NewUser {
        password_hash: Some("$argon2id$fake".into()),
        ..NewUser::verified(em(email), "email", now)
    }
}

pub fn with_role(email: &str, role: Role, now: Timestamp) -> NewUser {
    NewUser {
        role,
        ..new_user(email, now)
    }
}

pub fn session_of(user_id: Uuid, now: Timestamp) -> Session {
    Session {
        id: Uuid::now_v7(),
        user_id,
        ip: Some("192.0.2.1".into()),
        user_agent: Some("conformance".into()),
        created_at: now,
        last_used_at: now,
        expires_at: now.plus(Duration::from_secs(86_400)),
        revoked_at: None,
        auth_time: now,
        auth_method: AuthMethod::Password,
        second_factor: None,
    }
}

/// The error of a result that must have failed.
pub fn failure<T: std::fmt::Debug>(result: Result<T, StoreError>) -> StoreError {
    result.expect_err("the operation should have failed")
}

/// An address as the store takes it.
pub fn em(address: &str) -> Email {
    Email::parse(address).unwrap()
}
