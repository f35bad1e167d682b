//! Live sessions one store (an instance) remembers give way to every change
//! another makes to them or their user: the database's counter moves, and
//! the remembering store forgets at its next read of it. Using a session
//! (`last_used_at`) and locking a user move nothing.

use crate::helpers::TestStore;
use crate::store_tests;
use portcullis::config::Settings;
use portcullis::domain::{Role, SecondFactor};
use portcullis::store::{ProfileUpdate, ServiceClient, Session, Store, User};
use std::sync::Arc;

store_tests!(
    another_instance_sees_every_change_to_a_session_or_its_user,
    using_a_session_or_locking_its_user_keeps_what_is_remembered,
    a_ban_and_a_sign_out_of_one_user_at_once_both_commit,
    another_instance_forgets_a_deleted_service_client_but_not_a_used_one
);

/// Another instance on the same database (the counter is read by the
/// test, not by a poller).
async fn second_instance(s: &TestStore) -> Arc<dyn Store> {
    let settings = Settings {
        database_url: s.db.url.clone().into(),
        ..Settings::default()
    };
    portcullis::store::connect(&settings, false).await.unwrap()
}

async fn epoch(s: &TestStore) -> i64 {
    s.conn().await.liveness_epoch().await.unwrap()
}

/// What `second` answers for `session` after reading the counter, read
/// twice so that the second answer comes from memory if it may (unless the
/// test paused for longer than the lease: then from the database, which
/// these tests' answers also hold for).
async fn read(second: &dyn Store, session: &Session, s: &TestStore) -> Option<(Session, User)> {
    second.renew_liveness().await.unwrap();
    second
        .live_session_with_user(session.id, session.user_id, s.now)
        .await
        .unwrap();
    second
        .live_session_with_user(session.id, session.user_id, s.now)
        .await
        .unwrap()
}

async fn another_instance_sees_every_change_to_a_session_or_its_user(s: TestStore) {
    let second = second_instance(&s).await;
    let user = s.user("ada@example.com").await;
    let session = s.session(user.id).await;
    let remembered = read(second.as_ref(), &session, &s).await.unwrap();
    assert_eq!(remembered.1.role, Role::Viewer);

    let mut conn = s.conn().await;
    conn.set_role(user.id, Role::Editor, s.after(1))
        .await
        .unwrap();
    let (_, seen) = read(second.as_ref(), &session, &s).await.unwrap();
    assert_eq!(seen.role, Role::Editor, "a role change");

    let update = ProfileUpdate {
        display_name: Some(Some("Ada".into())),
        ..ProfileUpdate::default()
    };
    conn.update_profile(user.id, &update, s.after(2))
        .await
        .unwrap();
    let (_, seen) = read(second.as_ref(), &session, &s).await.unwrap();
    assert_eq!(seen.display_name.as_deref(), Some("Ada"), "a profile");

    // A change inside a transaction counts once it commits.
    let mut tx = s.store.transaction().await.unwrap();
    tx.ban_user(user.id, None, Some("spam"), s.after(3))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let (_, seen) = read(second.as_ref(), &session, &s).await.unwrap();
    assert!(seen.banned_at.is_some(), "a ban");
    conn.unban_user(user.id, s.after(4)).await.unwrap();
    let (_, seen) = read(second.as_ref(), &session, &s).await.unwrap();
    assert!(seen.banned_at.is_none(), "an unban");

    conn.raise_session(session.id, SecondFactor::Totp, s.after(5))
        .await
        .unwrap();
    let (seen, _) = read(second.as_ref(), &session, &s).await.unwrap();
    assert_eq!(seen.second_factor, Some(SecondFactor::Totp), "a step-up");

    conn.revoke_session(session.id, None, s.after(6), "sign_out")
        .await
        .unwrap();
    assert!(
        read(second.as_ref(), &session, &s).await.is_none(),
        "a sign-out"
    );

    let other = s.session(user.id).await;
    assert!(read(second.as_ref(), &other, &s).await.is_some());
    conn.delete_user(user.id).await.unwrap();
    assert!(
        read(second.as_ref(), &other, &s).await.is_none(),
        "a deletion"
    );
}

async fn using_a_session_or_locking_its_user_keeps_what_is_remembered(s: TestStore) {
    let user = s.user("ada@example.com").await;
    let session = s.session(user.id).await;
    let before = epoch(&s).await;
    let mut tx = s.store.transaction().await.unwrap();
    tx.user_for_update(user.id).await.unwrap().unwrap();
    tx.touch_session(session.id, s.after(10), s.before(1))
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    // A refresh's rotation (on PostgreSQL one statement that also touches
    // the session; on SQLite the store's own connection).
    s.conn()
        .await
        .insert_refresh_token("current", session.id, s.now)
        .await
        .unwrap();
    let rotated = s
        .store
        .rotate_refresh("current", "successor", s.after(11), s.before(1))
        .await
        .unwrap();
    assert!(rotated.is_some());
    // Remembered sessions of every instance stay remembered.
    assert_eq!(epoch(&s).await, before);
    // And a change that counts moves it once per row.
    s.conn()
        .await
        .set_role(user.id, Role::Editor, s.after(12))
        .await
        .unwrap();
    assert_eq!(epoch(&s).await, before + 1);
}

/// What `second` answers for the service client `client_id` after reading
/// the counter, read twice as in [`read`].
async fn read_client(second: &dyn Store, client_id: &str) -> Option<ServiceClient> {
    second.renew_liveness().await.unwrap();
    second.service_client(client_id).await.unwrap();
    second.service_client(client_id).await.unwrap()
}

async fn another_instance_forgets_a_deleted_service_client_but_not_a_used_one(s: TestStore) {
    let second = second_instance(&s).await;
    let client = ServiceClient {
        id: uuid::Uuid::now_v7(),
        client_id: "pc_billing".into(),
        secret_hash: "ab".repeat(32),
        name: "billing".into(),
        created_by: None,
        created_at: s.now,
        last_used_at: None,
    };
    s.conn().await.insert_service_client(&client).await.unwrap();
    assert!(read_client(second.as_ref(), "pc_billing").await.is_some());

    // Its use, recorded by either instance, moves nothing.
    let before = epoch(&s).await;
    second
        .service_client_used(&client, s.after(1))
        .await
        .unwrap();
    s.store
        .service_client_used(&client, s.after(2))
        .await
        .unwrap();
    assert_eq!(epoch(&s).await, before);
    let seen = read_client(second.as_ref(), "pc_billing").await.unwrap();
    assert!(seen.last_used_at >= Some(s.after(1)), "its use shows");

    // Deleted in a transaction on the first instance: the commit returns
    // only once every instance's lease from before it has lapsed, and the
    // client is gone for the second from its next read of the counter on.
    let mut tx = s.store.transaction().await.unwrap();
    assert!(tx.delete_service_client(client.id).await.unwrap());
    let started = std::time::Instant::now();
    tx.commit().await.unwrap();
    assert!(started.elapsed() >= portcullis::store::liveness::LEASE);
    assert_eq!(epoch(&s).await, before + 1);
    assert!(read_client(second.as_ref(), "pc_billing").await.is_none());
}

/// A ban locks the user, then the user's sessions; a sign-out locks one of
/// them. Both also raise the one counter: taken at their statements, each
/// would hold what the other waits for (PostgreSQL: a deadlock, one side
/// refused). The counter is raised at commit instead.
async fn a_ban_and_a_sign_out_of_one_user_at_once_both_commit(s: TestStore) {
    let user = s.user("ada@example.com").await;
    let session = s.session(user.id).await;
    let other = s.session(user.id).await;

    let mut ban = s.store.transaction().await.unwrap();
    ban.ban_user(user.id, None, Some("spam"), s.after(1))
        .await
        .unwrap();
    // SQLite runs one write transaction at a time: the sign-out waits for
    // the ban's turn, on a task of its own.
    let store = s.store.clone();
    let (sign_out_started, started) = tokio::sync::oneshot::channel();
    let sign_out = tokio::spawn(async move {
        let mut tx = store.transaction().await.unwrap();
        let revoked = tx
            .revoke_session(session.id, None, session.created_at, "sign_out")
            .await
            .unwrap();
        let _ = sign_out_started.send(());
        tx.commit().await.unwrap();
        revoked
    });
    if s.db.backend == crate::helpers::Backend::Postgres {
        within("the sign-out", started).await.unwrap();
    }
    let banned = within("the ban", async {
        let revoked = ban
            .revoke_sessions_of_user(user.id, None, s.after(1), "banned")
            .await
            .unwrap();
        ban.commit().await.unwrap();
        revoked
    })
    .await;
    let signed_out = within("the sign-out", sign_out).await.unwrap();
    // Every session ended once, by one or the other.
    assert!(banned >= 1, "the other session at least");
    assert_eq!(banned + u64::from(signed_out), 2);
    let mut conn = s.conn().await;
    let live = conn
        .live_session_with_user(other.id, user.id, s.now)
        .await
        .unwrap();
    assert!(live.is_none());
}

/// `future`, or a failure naming `what` if it waits for ever (a deadlock
/// that nobody detects).
async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(10), future)
        .await
        .unwrap_or_else(|_| panic!("{what} waited for ever"))
}
