//! `PasskeyRepo`: unique credentials, user handles, single-use ceremonies,
//! flags, and everything going with the user.

use crate::helpers::TestStore;
use crate::store_tests;
use portcullis::store::{Ceremony, PasskeyRecord, UniqueKey, User};
use uuid::Uuid;

store_tests!(
    a_credential_belongs_to_one_account,
    a_handle_names_one_user,
    a_ceremony_is_taken_once_and_not_after_it_expires,
    use_rename_flag_and_delete,
    passkeys_and_handles_go_with_the_user,
);

fn passkey(s: &TestStore, user: &User, credential_id: &str) -> PasskeyRecord {
    PasskeyRecord {
        id: Uuid::now_v7(),
        user_id: user.id,
        credential_id: credential_id.into(),
        name: "Laptop".into(),
        credential: "{\"cred\":{}}".into(),
        backup_eligible: true,
        created_at: s.now,
        last_used_at: None,
        flagged_at: None,
    }
}

async fn a_credential_belongs_to_one_account(s: TestStore) {
    let ada = s.user("ada@example.com").await;
    let bob = s.user("bob@example.com").await;
    let mut repo = s.conn().await;
    repo.insert_passkey(&passkey(&s, &ada, "cred-1"))
        .await
        .unwrap();
    let error = repo
        .insert_passkey(&passkey(&s, &bob, "cred-1"))
        .await
        .unwrap_err();
    assert!(
        error.is_conflict_on(UniqueKey::PasskeysCredential),
        "{error:?}"
    );
    let stored = repo.passkeys_of_user(ada.id).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(stored[0].backup_eligible);
    assert!(repo.passkeys_of_user(bob.id).await.unwrap().is_empty());
}

async fn a_handle_names_one_user(s: TestStore) {
    let ada = s.user("handle@example.com").await;
    let mut repo = s.conn().await;
    assert_eq!(repo.passkey_handle(ada.id).await.unwrap(), None);
    let handle = Uuid::new_v4();
    repo.insert_passkey_handle(ada.id, handle).await.unwrap();
    assert_eq!(repo.passkey_handle(ada.id).await.unwrap(), Some(handle));
    assert_eq!(
        repo.user_of_passkey_handle(handle).await.unwrap(),
        Some(ada.id)
    );
    assert_eq!(
        repo.user_of_passkey_handle(Uuid::new_v4()).await.unwrap(),
        None
    );
    assert!(repo
        .insert_passkey_handle(ada.id, Uuid::new_v4())
        .await
        .is_err());
}

async fn a_ceremony_is_taken_once_and_not_after_it_expires(s: TestStore) {
    let user = s.user("ceremony@example.com").await;
    let mut repo = s.conn().await;
    let ceremony = |expires_in| Ceremony {
        id: Uuid::now_v7(),
        purpose: "step_up".into(),
        user_id: Some(user.id),
        binding: Some("session".into()),
        state_enc: "sealed".into(),
        created_at: s.now,
        expires_at: s.after(expires_in),
    };
    let live = ceremony(300);
    repo.insert_ceremony(&live).await.unwrap();
    let taken = repo
        .take_ceremony(live.id, s.after(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            taken.purpose.as_str(),
            taken.user_id,
            taken.binding.as_deref()
        ),
        ("step_up", Some(user.id), Some("session"))
    );
    assert!(repo
        .take_ceremony(live.id, s.after(1))
        .await
        .unwrap()
        .is_none());
    let old = ceremony(300);
    repo.insert_ceremony(&old).await.unwrap();
    assert!(repo
        .take_ceremony(old.id, s.after(300))
        .await
        .unwrap()
        .is_none());
}

async fn use_rename_flag_and_delete(s: TestStore) {
    let user = s.user("manage@example.com").await;
    let other = s.user("other@example.com").await;
    let key = passkey(&s, &user, "cred-2");
    let mut repo = s.conn().await;
    repo.insert_passkey(&key).await.unwrap();
    let used = repo
        .record_passkey_use(key.id, ("{\"cred\":{\"counter\":2}}", 2), s.after(5))
        .await
        .unwrap();
    assert!(used);
    // A use that lost the race to a later counter is not stored.
    for stale in [2, 1] {
        let stored = repo
            .record_passkey_use(key.id, ("{\"cred\":{\"counter\":1}}", stale), s.after(6))
            .await
            .unwrap();
        assert!(!stored, "counter {stale} after 2");
    }
    assert!(!repo
        .rename_passkey(key.id, other.id, "Stolen")
        .await
        .unwrap());
    assert!(repo.rename_passkey(key.id, user.id, "Phone").await.unwrap());
    assert!(repo.flag_passkey(key.id, s.after(6)).await.unwrap());
    let after_flag = ("{\"cred\":{\"counter\":3}}", 3);
    assert!(!repo
        .record_passkey_use(key.id, after_flag, s.after(6))
        .await
        .unwrap());
    assert!(
        !repo.flag_passkey(key.id, s.after(7)).await.unwrap(),
        "flagged once"
    );
    let stored = &repo.passkeys_of_user(user.id).await.unwrap()[0];
    assert_eq!(stored.name, "Phone");
    assert_eq!(stored.credential, "{\"cred\":{\"counter\":2}}");
    assert_eq!(stored.last_used_at, Some(s.after(5)));
    assert_eq!(stored.flagged_at, Some(s.after(6)));
    assert!(!repo.delete_passkey(key.id, other.id).await.unwrap());
    assert!(repo.delete_passkey(key.id, user.id).await.unwrap());
    assert!(repo.passkeys_of_user(user.id).await.unwrap().is_empty());
}

async fn passkeys_and_handles_go_with_the_user(s: TestStore) {
    let user = s.user("leaving@example.com").await;
    let mut repo = s.conn().await;
    repo.insert_passkey(&passkey(&s, &user, "cred-3"))
        .await
        .unwrap();
    let handle = Uuid::new_v4();
    repo.insert_passkey_handle(user.id, handle).await.unwrap();
    assert!(repo.delete_user(user.id).await.unwrap());
    assert!(repo.passkeys_of_user(user.id).await.unwrap().is_empty());
    assert_eq!(repo.user_of_passkey_handle(handle).await.unwrap(), None);
}
