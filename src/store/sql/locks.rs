//! Named locks: rows that transactions which must not interleave update.

use super::{db_error, Dialect, SqlRepo};
use crate::store::{LockRepo, StoreResult};
use async_trait::async_trait;
use sqlx::{Encode, Executor, IntoArguments, Type};

#[async_trait]
impl<DB> LockRepo for SqlRepo<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
{
    async fn lock(&mut self, name: &str) -> StoreResult<()> {
        sqlx::query("UPDATE locks SET name = name WHERE name = $1")
            .bind(name)
            .execute(self.conn())
            .await
            .map_err(db_error::<DB>("lock"))?;
        Ok(())
    }
}
