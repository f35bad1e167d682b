//! `FactorRepo`: single use of TOTP steps and recovery codes, pending
//! second steps, raising a session.

use crate::helpers::TestStore;
use crate::store_tests;
use portcullis::domain::{AuthMethod, SecondFactor};
use portcullis::store::{Factor, MfaChallenge, User};
use uuid::Uuid;

store_tests!(
    a_time_step_is_accepted_once_and_only_forward,
    a_code_activates_only_an_unverified_factor,
    recovery_codes_are_used_once_and_replaced_whole,
    a_pending_second_step_is_taken_once,
    a_raised_session_keeps_its_second_factor,
    a_users_factors_go_with_the_user,
);

async fn factor(s: &TestStore, user: &User, verified: bool) -> Factor {
    let factor = Factor {
        id: Uuid::now_v7(),
        user_id: user.id,
        kind: "totp".into(),
        secret_enc: "sealed".into(),
        last_used_step: None,
        created_at: s.now,
        verified_at: verified.then_some(s.now),
        last_used_at: None,
    };
    s.conn().await.insert_factor(&factor).await.unwrap();
    factor
}

async fn a_time_step_is_accepted_once_and_only_forward(s: TestStore) {
    let user = s.user("step@example.com").await;
    let f = factor(&s, &user, true).await;
    let mut repo = s.conn().await;
    let at = s.after(1);
    assert!(repo
        .accept_totp_step(f.id, user.id, 100, false, at)
        .await
        .unwrap());
    assert!(!repo
        .accept_totp_step(f.id, user.id, 100, false, at)
        .await
        .unwrap());
    assert!(!repo
        .accept_totp_step(f.id, user.id, 99, false, at)
        .await
        .unwrap());
    assert!(!repo
        .accept_totp_step(f.id, Uuid::now_v7(), 101, false, at)
        .await
        .unwrap());
    assert!(repo
        .accept_totp_step(f.id, user.id, 101, false, at)
        .await
        .unwrap());
    let stored = &repo.factors_of_user(user.id).await.unwrap()[0];
    assert_eq!(
        (stored.last_used_step, stored.last_used_at),
        (Some(101), Some(at))
    );
}

async fn a_code_activates_only_an_unverified_factor(s: TestStore) {
    let user = s.user("activate@example.com").await;
    let pending = factor(&s, &user, false).await;
    let mut repo = s.conn().await;
    assert!(!repo
        .accept_totp_step(pending.id, user.id, 5, false, s.now)
        .await
        .unwrap());
    assert!(repo
        .accept_totp_step(pending.id, user.id, 5, true, s.after(2))
        .await
        .unwrap());
    let stored = &repo.factors_of_user(user.id).await.unwrap()[0];
    assert_eq!(stored.verified_at, Some(s.after(2)));
    assert!(!repo
        .accept_totp_step(pending.id, user.id, 6, true, s.now)
        .await
        .unwrap());
    // A new enrolment drops the unfinished ones only.
    factor(&s, &user, false).await;
    assert_eq!(repo.delete_unverified_factors(user.id).await.unwrap(), 1);
    assert_eq!(repo.factors_of_user(user.id).await.unwrap().len(), 1);
}

async fn recovery_codes_are_used_once_and_replaced_whole(s: TestStore) {
    let user = s.user("codes@example.com").await;
    let other = s.user("other@example.com").await;
    let mut repo = s.conn().await;
    let codes: Vec<String> = (0..10).map(|n| format!("hash-{n}")).collect();
    repo.replace_recovery_codes(user.id, &codes, s.now)
        .await
        .unwrap();
    assert_eq!(repo.remaining_recovery_codes(user.id).await.unwrap(), 10);
    assert!(!repo
        .use_recovery_code(other.id, "hash-0", s.now)
        .await
        .unwrap());
    assert!(repo
        .use_recovery_code(user.id, "hash-0", s.now)
        .await
        .unwrap());
    assert!(!repo
        .use_recovery_code(user.id, "hash-0", s.now)
        .await
        .unwrap());
    assert_eq!(repo.remaining_recovery_codes(user.id).await.unwrap(), 9);
    repo.replace_recovery_codes(user.id, &["new".to_string()], s.now)
        .await
        .unwrap();
    assert!(!repo
        .use_recovery_code(user.id, "hash-1", s.now)
        .await
        .unwrap());
    assert_eq!(repo.remaining_recovery_codes(user.id).await.unwrap(), 1);
}

async fn a_pending_second_step_is_taken_once(s: TestStore) {
    let user = s.user("pending@example.com").await;
    let mut repo = s.conn().await;
    let challenge = MfaChallenge {
        token_hash: "challenge-hash".into(),
        user_id: user.id,
        auth_method: AuthMethod::EmailCode,
        details: r#"{"method":"email_code"}"#.into(),
        attempts: 0,
        created_at: s.now,
        expires_at: s.after(300),
    };
    repo.insert_mfa_challenge(&challenge).await.unwrap();
    let read = repo
        .mfa_challenge("challenge-hash", s.now, 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (read.user_id, read.auth_method),
        (user.id, AuthMethod::EmailCode)
    );
    assert!(repo
        .mfa_challenge("challenge-hash", s.after(300), 2)
        .await
        .unwrap()
        .is_none());
    repo.count_mfa_failure("challenge-hash").await.unwrap();
    assert!(repo
        .mfa_challenge("challenge-hash", s.now, 2)
        .await
        .unwrap()
        .is_some());
    repo.count_mfa_failure("challenge-hash").await.unwrap();
    assert!(repo
        .mfa_challenge("challenge-hash", s.now, 2)
        .await
        .unwrap()
        .is_none());
    assert!(repo.take_mfa_challenge("challenge-hash").await.unwrap());
    assert!(!repo.take_mfa_challenge("challenge-hash").await.unwrap());
}

async fn a_raised_session_keeps_its_second_factor(s: TestStore) {
    let user = s.user("raise@example.com").await;
    let session = s.session(user.id).await;
    let mut repo = s.conn().await;
    repo.insert_refresh_token("rt-a", session.id, s.now)
        .await
        .unwrap();
    let raised = repo
        .raise_session(session.id, SecondFactor::RecoveryCode, s.after(9))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(raised.second_factor, Some(SecondFactor::RecoveryCode));
    assert_eq!(raised.auth_time, s.after(9));
    let read = repo
        .live_session(session.id, user.id, s.after(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.second_factor, Some(SecondFactor::RecoveryCode));
    assert_eq!(
        repo.retire_refresh_tokens(session.id, s.after(9))
            .await
            .unwrap(),
        1
    );
    assert!(!repo
        .is_current_refresh_token("rt-a", session.id)
        .await
        .unwrap());
    repo.revoke_session(session.id, None, s.after(11), "test")
        .await
        .unwrap();
    let gone = repo.raise_session(session.id, SecondFactor::Totp, s.after(12));
    assert!(
        gone.await.unwrap().is_none(),
        "an ended session is not raised"
    );
}

async fn a_users_factors_go_with_the_user(s: TestStore) {
    let user = s.user("gone@example.com").await;
    factor(&s, &user, true).await;
    let mut repo = s.conn().await;
    repo.replace_recovery_codes(user.id, &["h".to_string()], s.now)
        .await
        .unwrap();
    assert_eq!(repo.delete_factors_of_user(user.id).await.unwrap(), 1);
    assert_eq!(repo.remaining_recovery_codes(user.id).await.unwrap(), 0);
    factor(&s, &user, true).await;
    assert!(repo.delete_user(user.id).await.unwrap());
    assert!(repo.factors_of_user(user.id).await.unwrap().is_empty());
}
