//! `RegistrationRepo`: pending sign-ups and the mail cool-down.

use crate::helpers::em;
use crate::helpers::TestStore;
use crate::store_tests;
use portcullis::domain::CodeAction;
use portcullis::store::{PendingRegistration, Timestamp};
use std::time::Duration;
use uuid::Uuid;

store_tests!(
    a_live_registration_is_kept_and_an_expired_one_replaced,
    a_registration_is_taken_once_and_only_while_live,
    mail_slots_are_claimed_once_per_cooldown_and_action,
);

fn pending(email: &str, password_hash: &str, at: Timestamp) -> PendingRegistration {
    PendingRegistration {
        id: Uuid::now_v7(),
        email: em(email),
        password_hash: password_hash.into(),
        username: Some("newbie".into()),
        first_name: None,
        last_name: None,
        created_at: at,
        expires_at: at.plus(Duration::from_secs(600)),
    }
}

async fn a_live_registration_is_kept_and_an_expired_one_replaced(s: TestStore) {
    let mut repo = s.conn().await;
    let email = "new@example.com";
    assert!(repo
        .put_pending_registration(&pending(email, "first", s.now))
        .await
        .unwrap());
    // A second sign-up while the first is live decides nothing.
    assert!(!repo
        .put_pending_registration(&pending(email, "second", s.after(1)))
        .await
        .unwrap());
    let live = repo
        .pending_registration(&em(email), s.after(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live.password_hash, "first");
    assert_eq!(live.username.as_deref(), Some("newbie"));

    // Expiry filter: at the expiry instant it is gone for readers…
    assert!(repo
        .pending_registration(&em(email), s.after(600))
        .await
        .unwrap()
        .is_none());
    // …and replaceable by a later sign-up.
    assert!(repo
        .put_pending_registration(&pending(email, "third", s.after(600)))
        .await
        .unwrap());
    let replaced = repo
        .pending_registration(&em(email), s.after(601))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(replaced.password_hash, "third");
    assert_eq!(s.db.count_rows("pending_registrations").await, 1);
}

async fn a_registration_is_taken_once_and_only_while_live(s: TestStore) {
    let mut repo = s.conn().await;
    repo.put_pending_registration(&pending("a@example.com", "h", s.now))
        .await
        .unwrap();
    repo.put_pending_registration(&pending("b@example.com", "h", s.now))
        .await
        .unwrap();
    let taken = repo
        .take_pending_registration(&em("a@example.com"), s.after(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.email, em("a@example.com"));
    assert!(repo
        .take_pending_registration(&em("a@example.com"), s.after(1))
        .await
        .unwrap()
        .is_none());
    assert!(repo
        .take_pending_registration(&em("b@example.com"), s.after(600))
        .await
        .unwrap()
        .is_none());
}

async fn mail_slots_are_claimed_once_per_cooldown_and_action(s: TestStore) {
    let mut repo = s.conn().await;
    let email = "cool@example.com";
    let cooldown = Duration::from_secs(60);
    let claim = |at: Timestamp| (at, at.minus(cooldown));

    let (at, not_after) = claim(s.now);
    assert!(repo
        .claim_mail_slot(&em(email), CodeAction::SignIn, at, not_after)
        .await
        .unwrap());
    let (at, not_after) = claim(s.after(59));
    assert!(!repo
        .claim_mail_slot(&em(email), CodeAction::SignIn, at, not_after)
        .await
        .unwrap());
    // Another action has its own cool-down.
    assert!(repo
        .claim_mail_slot(&em(email), CodeAction::ResetPassword, at, not_after)
        .await
        .unwrap());
    let (at, not_after) = claim(s.after(60));
    assert!(repo
        .claim_mail_slot(&em(email), CodeAction::SignIn, at, not_after)
        .await
        .unwrap());
    let (at, not_after) = claim(s.after(61));
    assert!(!repo
        .claim_mail_slot(&em(email), CodeAction::SignIn, at, not_after)
        .await
        .unwrap());
}
