//! `SessionRepo`: refresh-token rotation, the two lifetimes, revocation.

use crate::helpers::{session_of, TestStore};
use crate::store_tests;
use portcullis::domain::{AuthMethod, Role, SecondFactor};
use portcullis::store::Session;
use uuid::Uuid;

store_tests!(
    a_refresh_token_rotates_once,
    touching_needs_a_live_unidle_session,
    live_sessions_leave_out_revoked_idle_and_expired_ones,
    sessions_are_revoked_once_and_by_their_owner,
    a_session_keeps_how_and_when_its_user_proved_who_they_are,
    the_store_reads_a_live_session_as_a_connection_does,
    a_refresh_rotates_touches_and_issues_at_once_or_not_at_all,
    a_revocation_racing_a_refresh_leaves_nothing_half_written,
    many_refreshes_at_once_each_token_rotates_once,
    a_session_opens_with_its_first_refresh_token_or_not_at_all,
);

/// The session and its first token are one unit of work (one statement on
/// PostgreSQL): the token is current and issued as the session starts; a
/// session that cannot be inserted leaves no token behind.
async fn a_session_opens_with_its_first_refresh_token_or_not_at_all(s: TestStore) {
    let user = s.user("open@example.com").await;
    let mut repo = s.conn().await;
    let session = session_of(user.id, s.now);
    repo.insert_session_with_refresh_token(&session, "rt-first")
        .await
        .unwrap();
    let read = repo.live_session(session.id, user.id, s.now).await.unwrap();
    assert_eq!(read.map(|r| r.id), Some(session.id));
    assert!(repo
        .is_current_refresh_token("rt-first", session.id)
        .await
        .unwrap());
    let record = repo
        .refresh_token_record("rt-first")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((record.session_id, record.user_id), (session.id, user.id));
    assert_eq!(record.rotated_at, None);

    // The same session id again: refused, and its token is not written.
    let again = repo
        .insert_session_with_refresh_token(&session, "rt-orphan")
        .await;
    assert!(again.is_err());
    let mut repo = s.conn().await;
    assert!(repo
        .refresh_token_record("rt-orphan")
        .await
        .unwrap()
        .is_none());
}

async fn a_session_keeps_how_and_when_its_user_proved_who_they_are(s: TestStore) {
    let user = s.user("amr@example.com").await;
    let mut repo = s.conn().await;
    for method in [
        AuthMethod::Password,
        AuthMethod::EmailCode,
        AuthMethod::Provider,
    ] {
        let session = Session {
            auth_time: s.after(7),
            auth_method: method,
            ..session_of(user.id, s.now)
        };
        repo.insert_session(&session).await.unwrap();
        let read = repo.live_session(session.id, user.id, s.now).await.unwrap();
        let read = read.expect("the session is live");
        assert_eq!((read.auth_time, read.auth_method), (s.after(7), method));
    }
}

async fn a_refresh_token_rotates_once(s: TestStore) {
    let user = s.user("r@example.com").await;
    let session = s.session(user.id).await;
    let mut repo = s.conn().await;
    repo.insert_refresh_token("rt-1", session.id, s.now)
        .await
        .unwrap();
    assert!(repo
        .is_current_refresh_token("rt-1", session.id)
        .await
        .unwrap());
    assert!(!repo
        .is_current_refresh_token("rt-1", Uuid::now_v7())
        .await
        .unwrap());
    let record = repo.refresh_token_record("rt-1").await.unwrap().unwrap();
    assert_eq!((record.session_id, record.user_id), (session.id, user.id));
    assert_eq!(record.rotated_at, None);

    let at = s.after(10);
    assert_eq!(
        repo.rotate_refresh_token("rt-1", at).await.unwrap(),
        Some(session.id)
    );
    assert_eq!(repo.rotate_refresh_token("rt-1", at).await.unwrap(), None);
    assert!(!repo
        .is_current_refresh_token("rt-1", session.id)
        .await
        .unwrap());
    // A rotated token is still known, for reuse detection.
    let record = repo.refresh_token_record("rt-1").await.unwrap().unwrap();
    assert_eq!(record.rotated_at, Some(at));
    assert!(repo
        .refresh_token_record("rt-unknown")
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        repo.rotate_refresh_token("rt-unknown", at).await.unwrap(),
        None
    );
}

async fn touching_needs_a_live_unidle_session(s: TestStore) {
    let user = s.user("t@example.com").await;
    let session = s.session(user.id).await;
    let mut repo = s.conn().await;
    // Idle: last used at or before the cutoff.
    assert!(repo
        .touch_session(session.id, s.after(100), s.now)
        .await
        .unwrap()
        .is_none());
    let touched = repo
        .touch_session(session.id, s.after(100), s.before(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(touched.last_used_at, s.after(100));
    // The idle lifetime now counts from the touch.
    assert!(repo
        .touch_session(session.id, s.after(200), s.after(99))
        .await
        .unwrap()
        .is_some());
    // Past the absolute lifetime.
    assert!(repo
        .touch_session(session.id, s.after(86_400), s.after(199))
        .await
        .unwrap()
        .is_none());
    repo.revoke_session(session.id, None, s.after(300), "test")
        .await
        .unwrap();
    assert!(repo
        .touch_session(session.id, s.after(301), s.after(250))
        .await
        .unwrap()
        .is_none());
}

async fn live_sessions_leave_out_revoked_idle_and_expired_ones(s: TestStore) {
    let user = s.user("l@example.com").await;
    let other = s.user("o@example.com").await;
    let live = s.session(user.id).await;
    let revoked = s.session(user.id).await;
    let idle = s.session(user.id).await;
    s.session(other.id).await;
    let mut repo = s.conn().await;
    repo.revoke_session(revoked.id, None, s.after(1), "test")
        .await
        .unwrap();
    repo.touch_session(live.id, s.after(50), s.before(1))
        .await
        .unwrap()
        .unwrap();

    let listed = repo
        .live_sessions_of_user(user.id, s.after(60), s.after(10))
        .await
        .unwrap();
    let ids: Vec<Uuid> = listed.iter().map(|s| s.id).collect();
    assert_eq!(ids, vec![live.id], "idle {} and revoked left out", idle.id);

    assert!(repo
        .live_session(live.id, user.id, s.after(60))
        .await
        .unwrap()
        .is_some());
    assert!(repo
        .live_session(live.id, other.id, s.after(60))
        .await
        .unwrap()
        .is_none());
    assert!(repo
        .live_session(revoked.id, user.id, s.after(60))
        .await
        .unwrap()
        .is_none());
    assert!(repo
        .live_session(live.id, user.id, s.after(86_400))
        .await
        .unwrap()
        .is_none());

    // The same rule, with the user read in the same statement.
    let (session, owner) = repo
        .live_session_with_user(live.id, user.id, s.after(60))
        .await
        .unwrap()
        .expect("live");
    assert_eq!((session.id, session.user_id), (live.id, user.id));
    assert_eq!(session.auth_method, live.auth_method);
    assert_eq!(session.expires_at, live.expires_at);
    assert_eq!((owner.id, &owner.email), (user.id, &user.email));
    assert_eq!(owner.role, user.role);
    for (id, owner_id, at) in [
        (live.id, other.id, s.after(60)),
        (revoked.id, user.id, s.after(60)),
        (live.id, user.id, s.after(86_400)),
    ] {
        assert!(repo
            .live_session_with_user(id, owner_id, at)
            .await
            .unwrap()
            .is_none());
    }
}

async fn sessions_are_revoked_once_and_by_their_owner(s: TestStore) {
    let user = s.user("v@example.com").await;
    let other = s.user("w@example.com").await;
    let keep = s.session(user.id).await;
    let target = s.session(user.id).await;
    s.session(user.id).await;
    s.session(other.id).await;
    let mut repo = s.conn().await;
    let at = s.after(5);
    assert!(!repo
        .revoke_session(target.id, Some(other.id), at, "sign_out")
        .await
        .unwrap());
    assert!(repo
        .revoke_session(target.id, Some(user.id), at, "sign_out")
        .await
        .unwrap());
    assert!(!repo
        .revoke_session(target.id, None, at, "sign_out")
        .await
        .unwrap());
    // The third session goes; the kept one and the other user's stay.
    assert_eq!(
        repo.revoke_sessions_of_user(user.id, Some(keep.id), at, "all")
            .await
            .unwrap(),
        1
    );
    let left = repo
        .live_sessions_of_user(user.id, at, s.before(1))
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, keep.id);
    assert_eq!(
        repo.revoke_sessions_of_user(user.id, None, at, "all")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        repo.live_sessions_of_user(other.id, at, s.before(1))
            .await
            .unwrap()
            .len(),
        1
    );
    let revoked = repo.live_session(keep.id, user.id, at).await.unwrap();
    assert!(revoked.is_none());
    let reason: i64 =
        s.db.scalar("SELECT count(*) FROM sessions WHERE revoked_reason = 'sign_out'")
            .await;
    assert_eq!(reason, 1);
}

/// `Store::live_session_with_user` (SQLite serves it on the calling thread,
/// outside sqlx) reads exactly what a pooled connection reads: every field
/// of both records, the same refusals, and a change committed elsewhere at
/// once.
async fn the_store_reads_a_live_session_as_a_connection_does(s: TestStore) {
    let user = s.user("reader@example.com").await;
    let other = s.user("other@example.com").await;
    let mut repo = s.conn().await;
    // Every optional column of both records set, to compare them all.
    let mut session = session_of(user.id, s.now);
    session.id = Uuid::now_v7();
    session.auth_method = AuthMethod::Passkey;
    session.second_factor = Some(SecondFactor::Totp);
    repo.insert_session(&session).await.unwrap();
    repo.set_role(user.id, Role::Admin, s.after(1))
        .await
        .unwrap();
    repo.ban_user(user.id, Some(s.before(1)), Some("over"), s.after(2))
        .await
        .unwrap();
    let at = s.after(60);
    let through_store = |id, owner, at| {
        let store = s.store.clone();
        async move { store.live_session_with_user(id, owner, at).await.unwrap() }
    };
    let read = through_store(session.id, user.id, at).await.expect("live");
    let expected = repo
        .live_session_with_user(session.id, user.id, at)
        .await
        .unwrap()
        .expect("live");
    assert_eq!(format!("{read:?}"), format!("{expected:?}"));
    assert_eq!(read.1.role, Role::Admin);
    assert!(read.1.banned_at.is_some() && read.1.ban_reason.as_deref() == Some("over"));
    assert_eq!(read.0.second_factor, Some(SecondFactor::Totp));

    for (id, owner, at) in [
        (session.id, other.id, at),
        (session.id, user.id, s.after(86_400)),
        (Uuid::now_v7(), user.id, at),
    ] {
        assert!(through_store(id, owner, at).await.is_none());
    }
    // Ended on another connection: refused on the next read.
    s.conn()
        .await
        .revoke_session(session.id, None, s.after(3), "sign_out")
        .await
        .unwrap();
    assert!(through_store(session.id, user.id, at).await.is_none());
}

/// `Store::rotate_refresh` (one statement on PostgreSQL, one transaction on
/// SQLite): the three writes of a refresh all happen, or none does.
async fn a_refresh_rotates_touches_and_issues_at_once_or_not_at_all(s: TestStore) {
    let user = s.user("rotation@example.com").await;
    let session = s.session(user.id).await;
    let ended = s.session(user.id).await;
    let mut repo = s.conn().await;
    repo.insert_refresh_token("rt-1", session.id, s.now)
        .await
        .unwrap();
    repo.insert_refresh_token("rt-ended", ended.id, s.now)
        .await
        .unwrap();
    repo.revoke_session(ended.id, None, s.after(1), "test")
        .await
        .unwrap();
    let rotate = |token: &'static str, successor: &'static str, at, idle_cutoff| {
        let store = s.store.clone();
        async move {
            store
                .rotate_refresh(token, successor, at, idle_cutoff)
                .await
                .unwrap()
        }
    };

    let at = s.after(10);
    let touched = rotate("rt-1", "rt-2", at, s.before(1))
        .await
        .expect("rotated");
    assert_eq!((touched.id, touched.last_used_at), (session.id, at));
    let record = repo.refresh_token_record("rt-1").await.unwrap().unwrap();
    assert_eq!(record.rotated_at, Some(at));
    assert!(repo
        .is_current_refresh_token("rt-2", session.id)
        .await
        .unwrap());

    // Refused, and nothing written: rotated already, unknown, a revoked
    // session, an idle one, one past its absolute lifetime.
    for (token, successor, at, idle_cutoff) in [
        ("rt-1", "rt-3", s.after(11), s.before(1)),
        ("rt-unknown", "rt-4", s.after(11), s.before(1)),
        ("rt-ended", "rt-5", s.after(11), s.before(1)),
        ("rt-2", "rt-6", s.after(20), at),
        ("rt-2", "rt-7", s.after(86_400), s.before(1)),
    ] {
        assert!(
            rotate(token, successor, at, idle_cutoff).await.is_none(),
            "{token}"
        );
        assert!(
            repo.refresh_token_record(successor)
                .await
                .unwrap()
                .is_none(),
            "{successor} was issued"
        );
    }
    let ended_token = repo
        .refresh_token_record("rt-ended")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ended_token.rotated_at, None, "rolled back");
    assert!(repo
        .is_current_refresh_token("rt-2", session.id)
        .await
        .unwrap());
    let still = repo
        .live_session(session.id, user.id, at)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(still.last_used_at, at, "touched only by the one rotation");
}

/// A sign-out that has written but not committed when a refresh of the same
/// session starts: the refresh waits for it (PostgreSQL: the session row's
/// lock; SQLite: the one writer), then finds the session ended and writes
/// nothing, not a rotation without its successor.
async fn a_revocation_racing_a_refresh_leaves_nothing_half_written(s: TestStore) {
    let user = s.user("race@example.com").await;
    let session = s.session(user.id).await;
    let mut repo = s.conn().await;
    repo.insert_refresh_token("rt-race", session.id, s.now)
        .await
        .unwrap();
    let mut signing_out = s.store.transaction().await.unwrap();
    signing_out
        .revoke_session(session.id, None, s.after(1), "sign_out")
        .await
        .unwrap();
    let refresh = tokio::spawn({
        let store = s.store.clone();
        let (at, idle_cutoff) = (s.after(2), s.before(1));
        async move {
            store
                .rotate_refresh("rt-race", "rt-next", at, idle_cutoff)
                .await
                .unwrap()
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!refresh.is_finished(), "the refresh waits for the sign-out");
    signing_out.commit().await.unwrap();
    assert!(refresh.await.unwrap().is_none());
    let token = repo.refresh_token_record("rt-race").await.unwrap().unwrap();
    assert_eq!(token.rotated_at, None, "rotated without a successor");
    assert!(repo
        .refresh_token_record("rt-next")
        .await
        .unwrap()
        .is_none());
}

/// Refreshes that arrive together go into one transaction (a group commit,
/// `rotation_queue`): sixteen sessions of one user, each token presented
/// twice at once with two different successors. Each token rotates once,
/// only the winner's successor is stored, and every session stays usable.
async fn many_refreshes_at_once_each_token_rotates_once(s: TestStore) {
    let user = s.user("many@example.com").await;
    let mut repo = s.conn().await;
    let mut sessions = Vec::new();
    for n in 0..16 {
        let session = s.session(user.id).await;
        repo.insert_refresh_token(&format!("many-{n}"), session.id, s.now)
            .await
            .unwrap();
        sessions.push(session);
    }
    let at = s.after(5);
    let refreshes: Vec<_> = (0..16)
        .flat_map(|n| [(n, "a"), (n, "b")])
        .map(|(n, side)| {
            let store = s.store.clone();
            let idle_cutoff = s.before(1);
            tokio::spawn(async move {
                let token = format!("many-{n}");
                let successor = format!("many-{n}-{side}");
                let rotated = store
                    .rotate_refresh(&token, &successor, at, idle_cutoff)
                    .await
                    .unwrap();
                (n, successor, rotated)
            })
        })
        .collect();
    let grouped_before = s.store.grouped_rotations();
    let mut winners = vec![Vec::new(); 16];
    for refresh in refreshes {
        let (n, successor, rotated) = refresh.await.unwrap();
        match rotated {
            Some(touched) => {
                assert_eq!((touched.id, touched.last_used_at), (sessions[n].id, at));
                winners[n].push(successor);
            }
            None => assert!(
                repo.refresh_token_record(&successor)
                    .await
                    .unwrap()
                    .is_none(),
                "{successor} was stored for a refused rotation"
            ),
        }
    }
    for (n, won) in winners.iter().enumerate() {
        assert_eq!(won.len(), 1, "many-{n} rotated {} times", won.len());
        assert!(repo
            .is_current_refresh_token(&won[0], sessions[n].id)
            .await
            .unwrap());
        let old = repo
            .refresh_token_record(&format!("many-{n}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(old.rotated_at, Some(at));
    }
    // Not all left to the pool: groups answered (a group that meets a row
    // locked by another may still hand its rotations to the pool).
    assert!(s.store.grouped_rotations() > grouped_before);
}
