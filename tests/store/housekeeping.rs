//! `HousekeepingRepo`: what has expired is deleted, what lives stays.

use crate::helpers::{em, session_of, TestStore};
use crate::store_tests;
use portcullis::config::LockoutSettings;
use portcullis::domain::CodeAction;
use portcullis::store::{
    AuditEvent, NewCode, OAuthHandoff, OAuthPurpose, OAuthState, PendingLink, PendingRegistration,
    Timestamp,
};
use std::time::Duration;
use uuid::Uuid;

store_tests!(purge_deletes_only_what_can_no_longer_be_used);

const DAY: u64 = 86_400;

/// One row of every purged kind whose lifetime ends at `ends`.
async fn rows_ending_at(s: &TestStore, user_id: Uuid, tag: &str, ends: Timestamp) {
    let mut repo = s.conn().await;
    let start = ends.minus(Duration::from_secs(60));
    repo.put_code(&NewCode {
        id: Uuid::now_v7(),
        email: em(&format!("{tag}@example.com")),
        action: CodeAction::SignIn,
        user_id: None,
        code_hash: format!("c-{tag}"),
        token_hash: format!("t-{tag}"),
        sealed: None,
        created_at: start,
        expires_at: ends,
    })
    .await
    .unwrap();
    repo.put_pending_registration(&PendingRegistration {
        id: Uuid::now_v7(),
        email: em(&format!("{tag}@example.com")),
        password_hash: "h".into(),
        username: None,
        first_name: None,
        last_name: None,
        created_at: start,
        expires_at: ends,
    })
    .await
    .unwrap();
    repo.insert_oauth_state(&OAuthState {
        state_hash: format!("s-{tag}"),
        provider: "github".into(),
        purpose: OAuthPurpose::SignIn,
        user_id: None,
        nonce: "n".into(),
        pkce_verifier: "v".into(),
        redirect_to: "https://app.example/".into(),
        client_code_challenge: None,
        created_at: start,
        expires_at: ends,
    })
    .await
    .unwrap();
    repo.insert_handoff(&OAuthHandoff {
        code_hash: format!("h-{tag}"),
        user_id,
        provider: "github".into(),
        client_code_challenge: None,
        created_at: start,
        expires_at: ends,
    })
    .await
    .unwrap();
    repo.insert_pending_link(&PendingLink {
        code_hash: format!("l-{tag}"),
        user_id,
        provider: "github".into(),
        sealed: "x".into(),
        created_at: start,
        expires_at: ends,
    })
    .await
    .unwrap();
}

async fn purge_deletes_only_what_can_no_longer_be_used(s: TestStore) {
    let user = s.user("keeper@example.com").await;
    rows_ending_at(&s, user.id, "old", s.now).await;
    rows_ending_at(&s, user.id, "live", s.after(1)).await;

    let retention = s.before(30 * DAY);
    let mut repo = s.conn().await;
    // Throttles: one older than their cutoff, one newer.
    let throttles_before = s.before(3600);
    repo.claim_mail_slot(
        &em("old@example.com"),
        CodeAction::SignIn,
        s.before(3601),
        s.before(7200),
    )
    .await
    .unwrap();
    repo.claim_mail_slot(
        &em("live@example.com"),
        CodeAction::SignIn,
        s.before(10),
        s.before(7200),
    )
    .await
    .unwrap();
    repo.hit_rate_limit("old", retention, retention)
        .await
        .unwrap();
    repo.hit_rate_limit("live", s.now, s.before(60))
        .await
        .unwrap();
    repo.claim_login_attempt("old", retention, retention, &LockoutSettings::default())
        .await
        .unwrap();
    repo.claim_login_attempt("locked", retention, retention, &LockoutSettings::default())
        .await
        .unwrap();
    repo.lock_login("locked", s.after(60)).await.unwrap();
    // Sessions: one ended before the retention cutoff, one revoked after it,
    // one live; the first one's refresh token goes with it.
    let ended = session_of(user.id, s.before(40 * DAY));
    let revoked = session_of(user.id, s.before(DAY));
    let live = session_of(user.id, s.now);
    for session in [&ended, &revoked, &live] {
        repo.insert_session(session).await.unwrap();
    }
    repo.insert_refresh_token("rt-ended", ended.id, ended.created_at)
        .await
        .unwrap();
    repo.revoke_session(revoked.id, None, s.before(DAY), "test")
        .await
        .unwrap();
    for (kind, at) in [("old", s.before(100 * DAY)), ("new", s.now)] {
        let event = AuditEvent {
            id: Uuid::now_v7(),
            occurred_at: at,
            event_type: kind.into(),
            user_id: None,
            actor_id: None,
            ip: None,
            user_agent: None,
            request_id: None,
            details: None,
        };
        repo.record_audit_event(&event, None).await.unwrap();
    }

    // Without an audit cutoff the audit log is left alone.
    let deleted = repo
        .purge_expired(s.now, retention, throttles_before, None)
        .await
        .unwrap();
    // 5 expired rows, 1 cool-down, 1 window, 1 lockout counter, 1 session.
    assert_eq!(deleted, 9);
    for table in [
        "email_verification_codes",
        "pending_registrations",
        "oauth_states",
        "oauth_handoffs",
        "pending_links",
        "mail_cooldowns",
        "rate_limits",
    ] {
        assert_eq!(s.db.count_rows(table).await, 1, "{table}");
    }
    assert_eq!(
        s.db.scalar("SELECT count(*) FROM login_throttle WHERE key = 'locked'")
            .await,
        1,
        "a lock that still runs is kept"
    );
    assert_eq!(s.db.count_rows("login_throttle").await, 1);
    assert_eq!(s.db.count_rows("sessions").await, 2);
    assert_eq!(s.db.count_rows("refresh_tokens").await, 0);
    assert_eq!(s.db.count_rows("audit_events").await, 2);

    let deleted = repo
        .purge_expired(s.now, retention, throttles_before, Some(s.before(90 * DAY)))
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    assert_eq!(s.db.count_rows("audit_events").await, 1);
}
