//! Named locks: rows that transactions which must not interleave update.

use super::SqlRepo;
use crate::store::{LockRepo, StoreResult};

impl_for_backends! { impl LockRepo for SqlRepo<DB> {
    async fn lock(&mut self, name: &str) -> StoreResult<()> {
        let query = sqlx::query("UPDATE locks SET name = name WHERE name = $1").bind(name);
        self.execute("lock", query).await?;
        Ok(())
    }
}}
