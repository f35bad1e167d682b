//! PostgreSQL: for running any number of stateless instances on one database.

use super::{ConnectError, Dialect, SqlStore};
use crate::config::Settings;
use crate::store::{Timestamp, UniqueKey};
use sqlx::encode::IsNull;
use sqlx::error::{BoxDynError, DatabaseError};
use sqlx::postgres::{PgArgumentBuffer, PgConnectOptions, PgPoolOptions, PgTypeInfo, PgValueRef};
use sqlx::{Decode, Encode, Postgres, Type};
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;

impl Dialect for Postgres {
    const BACKEND: &'static str = "postgres";
    const SERIALIZE_WRITES: bool = false;
    const BEGIN_WRITE: &'static str = "BEGIN";

    fn unique_key(error: &dyn DatabaseError) -> UniqueKey {
        UniqueKey::from_index(error.constraint().unwrap_or_default())
    }

    fn rows_affected(result: &sqlx::postgres::PgQueryResult) -> u64 {
        result.rows_affected()
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
    let pool = PgPoolOptions::new()
        .max_connections(settings.database_max_connections)
        .acquire_timeout(Duration::from_secs(settings.database_acquire_timeout_secs))
        .connect_with(options)
        .await
        .map_err(ConnectError::Connect)?;
    if migrate {
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(ConnectError::Migrate)?;
    }
    Ok(SqlStore::new(pool))
}

impl Type<Postgres> for Timestamp {
    fn type_info() -> PgTypeInfo {
        <OffsetDateTime as Type<Postgres>>::type_info()
    }
    fn compatible(ty: &PgTypeInfo) -> bool {
        <OffsetDateTime as Type<Postgres>>::compatible(ty)
    }
}

impl Encode<'_, Postgres> for Timestamp {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <OffsetDateTime as Encode<Postgres>>::encode(self.datetime(), buf)
    }
}

impl<'r> Decode<'r, Postgres> for Timestamp {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Timestamp::from_datetime(<OffsetDateTime as Decode<
            Postgres,
        >>::decode(value)?))
    }
}
