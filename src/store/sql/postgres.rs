//! PostgreSQL: for running any number of stateless instances on one database.

use super::{ConnectError, Dialect, SqlStore};
use crate::config::Settings;
use crate::store::{Timestamp, UniqueKey};
use sqlx::error::{BoxDynError, DatabaseError};
use sqlx::postgres::PgConnectOptions;
use sqlx::Postgres;
use std::str::FromStr;
use time::OffsetDateTime;

impl Dialect for Postgres {
    const BACKEND: &'static str = "postgres";
    const SERIALIZE_WRITES: bool = false;
    const BEGIN_WRITE: &'static str = "BEGIN";
    const DATA_MODIFYING_CTE: bool = true;
    const CLAIM_AND_LOCK: Option<&'static str> = Some(super::throttle::CLAIM_AND_LOCK_POSTGRES);

    fn unique_key(error: &dyn DatabaseError) -> UniqueKey {
        UniqueKey::from_index(error.constraint().unwrap_or_default())
    }

    fn rows_affected(result: &sqlx::postgres::PgQueryResult) -> u64 {
        result.rows_affected()
    }

    type StoredTimestamp = OffsetDateTime;

    fn store_timestamp(at: Timestamp) -> OffsetDateTime {
        at.datetime()
    }

    fn load_timestamp(at: OffsetDateTime) -> Result<Timestamp, BoxDynError> {
        Ok(Timestamp::from_datetime(at))
    }

    fn is_transient(error: &dyn DatabaseError) -> bool {
        let code = error.code().unwrap_or_default();
        // Connection exceptions, insufficient resources, operator intervention,
        // serialization failures and deadlocks, lock timeouts, a dropped database.
        code.starts_with("08")
            || code.starts_with("53")
            || code.starts_with("57P")
            || code.starts_with("40")
            || code == "55P03"
            || code == "3D000"
    }
}

pub(super) async fn open(
    settings: &Settings,
    migrate: bool,
) -> Result<SqlStore<Postgres>, ConnectError> {
    let options = PgConnectOptions::from_str(&settings.database_url)
        .map_err(ConnectError::Connect)?
        .application_name("portcullis");
    let mut store = SqlStore::open(
        settings,
        options.clone(),
        sqlx::migrate!("./migrations/postgres"),
        migrate,
        None,
    )
    .await?;
    let wait = store.pool.options().get_acquire_timeout();
    store.rotator = Some(super::postgres_rotations::rotations(options, wait));
    Ok(store)
}
