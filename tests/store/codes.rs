//! `CodeRepo`: one live code per (address, action), single use, attempts,
//! expiry, link tokens and email changes.

use crate::helpers::em;
use crate::helpers::TestStore;
use crate::store_tests;
use portcullis::domain::CodeAction;
use portcullis::store::{NewCode, Timestamp};
use std::time::Duration;
use uuid::Uuid;

store_tests!(
    a_code_is_consumed_once,
    wrong_guesses_use_up_the_attempts,
    expired_and_replaced_codes_are_dead,
    a_link_token_is_checked_and_consumed_once,
    only_sealed_codes_are_resendable,
    email_changes_are_keyed_by_user,
);

const MAX: u32 = 3;

fn code(email: &str, action: CodeAction, seed: &str, at: Timestamp) -> NewCode {
    NewCode {
        id: Uuid::now_v7(),
        email: em(email),
        action,
        user_id: None,
        code_hash: format!("code-{seed}"),
        token_hash: format!("token-{seed}"),
        sealed: None,
        created_at: at,
        expires_at: at.plus(Duration::from_secs(600)),
    }
}

async fn a_code_is_consumed_once(s: TestStore) {
    let user = s.user("c@example.com").await;
    let mut repo = s.conn().await;
    repo.put_code(&NewCode {
        user_id: Some(user.id),
        ..code("c@example.com", CodeAction::SignIn, "1", s.now)
    })
    .await
    .unwrap();
    let at = s.after(1);
    assert!(repo
        .code_is_live(&em("c@example.com"), CodeAction::SignIn, "code-1", at, MAX)
        .await
        .unwrap());
    // Checking does not use it up.
    assert!(repo
        .code_is_live(&em("c@example.com"), CodeAction::SignIn, "code-1", at, MAX)
        .await
        .unwrap());
    // The action is part of the key.
    assert!(repo
        .consume_code(
            &em("c@example.com"),
            CodeAction::VerifyEmail,
            "code-1",
            at,
            MAX
        )
        .await
        .unwrap()
        .is_none());
    let consumed = repo
        .consume_code(&em("c@example.com"), CodeAction::SignIn, "code-1", at, MAX)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(consumed.email, em("c@example.com"));
    assert_eq!(consumed.user_id, Some(user.id));
    assert!(repo
        .consume_code(&em("c@example.com"), CodeAction::SignIn, "code-1", at, MAX)
        .await
        .unwrap()
        .is_none());
    assert!(!repo
        .code_is_live(&em("c@example.com"), CodeAction::SignIn, "code-1", at, MAX)
        .await
        .unwrap());
}

async fn wrong_guesses_use_up_the_attempts(s: TestStore) {
    let mut repo = s.conn().await;
    repo.put_code(&code("g@example.com", CodeAction::SignIn, "1", s.now))
        .await
        .unwrap();
    let at = s.after(1);
    assert!(repo
        .consume_code(&em("g@example.com"), CodeAction::SignIn, "wrong", at, MAX)
        .await
        .unwrap()
        .is_none());
    for _ in 0..MAX {
        repo.count_failed_attempt(&em("g@example.com"), CodeAction::SignIn)
            .await
            .unwrap();
    }
    assert!(!repo
        .code_is_live(&em("g@example.com"), CodeAction::SignIn, "code-1", at, MAX)
        .await
        .unwrap());
    assert!(repo
        .consume_code(&em("g@example.com"), CodeAction::SignIn, "code-1", at, MAX)
        .await
        .unwrap()
        .is_none());
    // One attempt fewer leaves exactly one.
    repo.put_code(&code("g@example.com", CodeAction::SignIn, "2", s.now))
        .await
        .unwrap();
    for _ in 0..MAX - 1 {
        repo.count_failed_attempt(&em("g@example.com"), CodeAction::SignIn)
            .await
            .unwrap();
    }
    assert!(repo
        .consume_code(&em("g@example.com"), CodeAction::SignIn, "code-2", at, MAX)
        .await
        .unwrap()
        .is_some());
}

async fn expired_and_replaced_codes_are_dead(s: TestStore) {
    let mut repo = s.conn().await;
    repo.put_code(&code(
        "e@example.com",
        CodeAction::ResetPassword,
        "1",
        s.now,
    ))
    .await
    .unwrap();
    let expired = s.after(600);
    assert!(!repo
        .code_is_live(
            &em("e@example.com"),
            CodeAction::ResetPassword,
            "code-1",
            expired,
            MAX
        )
        .await
        .unwrap());
    assert!(repo
        .consume_code(
            &em("e@example.com"),
            CodeAction::ResetPassword,
            "code-1",
            expired,
            MAX
        )
        .await
        .unwrap()
        .is_none());

    // A new code replaces the old one, attempts reset.
    repo.count_failed_attempt(&em("e@example.com"), CodeAction::ResetPassword)
        .await
        .unwrap();
    repo.put_code(&code(
        "e@example.com",
        CodeAction::ResetPassword,
        "2",
        s.after(1),
    ))
    .await
    .unwrap();
    let at = s.after(2);
    assert!(repo
        .consume_code(
            &em("e@example.com"),
            CodeAction::ResetPassword,
            "code-1",
            at,
            MAX
        )
        .await
        .unwrap()
        .is_none());
    assert!(repo
        .consume_code(
            &em("e@example.com"),
            CodeAction::ResetPassword,
            "code-2",
            at,
            1
        )
        .await
        .unwrap()
        .is_some());
    assert_eq!(s.db.count_rows("email_verification_codes").await, 1);
}

async fn a_link_token_is_checked_and_consumed_once(s: TestStore) {
    let mut repo = s.conn().await;
    repo.put_code(&code("l@example.com", CodeAction::VerifyEmail, "1", s.now))
        .await
        .unwrap();
    let at = s.after(1);
    assert_eq!(
        repo.live_code_email("token-1", CodeAction::VerifyEmail, at)
            .await
            .unwrap(),
        Some(em("l@example.com"))
    );
    assert!(repo
        .live_code_email("token-1", CodeAction::SignIn, at)
        .await
        .unwrap()
        .is_none());
    assert!(repo
        .live_code_email("token-1", CodeAction::VerifyEmail, s.after(600))
        .await
        .unwrap()
        .is_none());
    let consumed = repo
        .consume_link_token("token-1", CodeAction::VerifyEmail, at, MAX)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(consumed.email, em("l@example.com"));
    assert!(repo
        .consume_link_token("token-1", CodeAction::VerifyEmail, at, MAX)
        .await
        .unwrap()
        .is_none());
    assert!(repo
        .live_code_email("token-1", CodeAction::VerifyEmail, at)
        .await
        .unwrap()
        .is_none());
}

async fn only_sealed_codes_are_resendable(s: TestStore) {
    let mut repo = s.conn().await;
    repo.put_code(&code("plain@example.com", CodeAction::SignIn, "1", s.now))
        .await
        .unwrap();
    repo.put_code(&NewCode {
        sealed: Some("sealed-secret".into()),
        ..code("sealed@example.com", CodeAction::VerifyEmail, "2", s.now)
    })
    .await
    .unwrap();
    let at = s.after(1);
    assert!(repo
        .resendable_code(&em("plain@example.com"), CodeAction::SignIn, at, MAX)
        .await
        .unwrap()
        .is_none());
    let (sealed, expires_at) = repo
        .resendable_code(&em("sealed@example.com"), CodeAction::VerifyEmail, at, MAX)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sealed, "sealed-secret");
    assert_eq!(expires_at, s.after(600));
    assert!(repo
        .resendable_code(
            &em("sealed@example.com"),
            CodeAction::VerifyEmail,
            s.after(600),
            MAX
        )
        .await
        .unwrap()
        .is_none());
    repo.consume_code(
        &em("sealed@example.com"),
        CodeAction::VerifyEmail,
        "code-2",
        at,
        MAX,
    )
    .await
    .unwrap()
    .unwrap();
    assert!(repo
        .resendable_code(&em("sealed@example.com"), CodeAction::VerifyEmail, at, MAX)
        .await
        .unwrap()
        .is_none());
}

async fn email_changes_are_keyed_by_user(s: TestStore) {
    let ann = s.user("ann@example.com").await;
    let bob = s.user("bob@example.com").await;
    let mut repo = s.conn().await;
    // Two users may wait for codes to the same new address.
    for (user, seed) in [(&ann, "a"), (&bob, "b")] {
        repo.put_code(&NewCode {
            user_id: Some(user.id),
            ..code("wanted@example.com", CodeAction::ChangeEmail, seed, s.now)
        })
        .await
        .unwrap();
    }
    // A user has one pending change: a new one replaces the address too.
    repo.put_code(&NewCode {
        user_id: Some(ann.id),
        ..code("other@example.com", CodeAction::ChangeEmail, "a2", s.now)
    })
    .await
    .unwrap();
    assert_eq!(s.db.count_rows("email_verification_codes").await, 2);
    let at = s.after(1);
    assert!(repo
        .consume_code(
            &em("wanted@example.com"),
            CodeAction::ChangeEmail,
            "code-a",
            at,
            MAX
        )
        .await
        .unwrap()
        .is_none());

    assert_eq!(repo.end_email_changes(ann.id).await.unwrap(), 1);
    assert_eq!(repo.end_email_changes(ann.id).await.unwrap(), 0);
    let consumed = repo
        .consume_code(
            &em("wanted@example.com"),
            CodeAction::ChangeEmail,
            "code-b",
            at,
            MAX,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(consumed.user_id, Some(bob.id));
}
