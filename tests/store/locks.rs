//! `LockRepo`: a named lock makes a second transaction wait for the first.

use crate::helpers::TestStore;
use crate::store_tests;
use std::time::Duration;

store_tests!(a_named_lock_is_held_until_the_transaction_ends);

async fn a_named_lock_is_held_until_the_transaction_ends(s: TestStore) {
    let mut first = s.store.transaction().await.unwrap();
    first.lock("super_admins").await.unwrap();

    let store = s.store.clone();
    let second = tokio::spawn(async move {
        // On SQLite the wait is for the write transaction itself, on
        // PostgreSQL for the lock row; either way it is behind the first.
        let mut tx = store.transaction().await.unwrap();
        tx.lock("super_admins").await.unwrap();
        tx.commit().await.unwrap();
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!second.is_finished(), "the second transaction did not wait");
    first.commit().await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), second)
        .await
        .expect("the second transaction went on once the first ended")
        .unwrap();

    // Locks exist for every name the code uses.
    let mut tx = s.store.transaction().await.unwrap();
    tx.lock("signing_keys").await.unwrap();
    drop(tx);
}
