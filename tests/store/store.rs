//! `Store` itself: connections, transactions, commit and rollback.

use crate::helpers::{em, new_user, Backend, TestStore};
use crate::store_tests;

store_tests!(
    names_its_backend_and_answers_pings,
    commit_keeps_and_drop_rolls_back
);

async fn names_its_backend_and_answers_pings(s: TestStore) {
    let expected = match s.db.backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(s.store.backend_name(), expected);
    s.store.ping().await.unwrap();
}

async fn commit_keeps_and_drop_rolls_back(s: TestStore) {
    let mut tx = s.store.transaction().await.unwrap();
    tx.insert_user(&new_user("kept@example.com", s.now))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = s.store.transaction().await.unwrap();
    tx.insert_user(&new_user("dropped@example.com", s.now))
        .await
        .unwrap();
    drop(tx);

    // Autocommit: each statement stands on its own; commit is a no-op.
    let mut conn = s.conn().await;
    conn.insert_user(&new_user("auto@example.com", s.now))
        .await
        .unwrap();
    conn.commit().await.unwrap();

    let mut conn = s.conn().await;
    assert!(conn
        .user_by_email(&em("kept@example.com"))
        .await
        .unwrap()
        .is_some());
    assert!(conn
        .user_by_email(&em("dropped@example.com"))
        .await
        .unwrap()
        .is_none());
    assert!(conn
        .user_by_email(&em("auto@example.com"))
        .await
        .unwrap()
        .is_some());
    assert_eq!(s.db.count_rows("users").await, 2);
}
