//! `OAuthRepo`: started flows, hand-offs, linked accounts, pending links.

use crate::helpers::{em, failure, TestStore};
use crate::store_tests;
use portcullis::store::{
    Account, OAuthHandoff, OAuthPurpose, OAuthState, PendingLink, Timestamp, UniqueKey,
};
use std::time::Duration;
use uuid::Uuid;

store_tests!(
    a_flow_state_is_consumed_once_by_its_provider,
    a_handoff_is_consumed_once_while_live,
    an_identity_links_to_one_account,
    refreshing_an_account_keeps_an_unsent_refresh_token,
    accounts_are_listed_and_deleted_per_user,
    a_pending_link_is_taken_once_and_link_flows_end,
    locking_a_user_says_whether_it_has_a_password,
);

fn minutes(at: Timestamp, n: u64) -> Timestamp {
    at.plus(Duration::from_secs(60 * n))
}

fn state(hash: &str, user_id: Option<Uuid>, at: Timestamp) -> OAuthState {
    OAuthState {
        state_hash: hash.into(),
        provider: "github".into(),
        purpose: if user_id.is_some() {
            OAuthPurpose::Link
        } else {
            OAuthPurpose::SignIn
        },
        user_id,
        nonce: "nonce".into(),
        pkce_verifier: "verifier".into(),
        redirect_to: "https://app.example/cb".into(),
        client_code_challenge: Some("challenge".into()),
        created_at: at,
        expires_at: minutes(at, 10),
    }
}

fn account(user_id: Uuid, subject: &str, at: Timestamp) -> Account {
    Account {
        id: Uuid::now_v7(),
        user_id,
        provider_id: "github".into(),
        account_id: subject.into(),
        email: Some("gh@example.com".into()),
        scope: Some("read:user".into()),
        access_token_enc: Some("access-1".into()),
        access_token_expires_at: Some(minutes(at, 60)),
        refresh_token_enc: Some("refresh-1".into()),
        refresh_token_expires_at: Some(minutes(at, 600)),
        id_token_enc: None,
        raw: Some("{}".into()),
        created_at: at,
        updated_at: at,
    }
}

fn pending_link(hash: &str, user_id: Uuid, at: Timestamp) -> PendingLink {
    PendingLink {
        code_hash: hash.into(),
        user_id,
        provider: "github".into(),
        sealed: "sealed".into(),
        created_at: at,
        expires_at: at.plus(Duration::from_secs(60)),
    }
}

async fn a_flow_state_is_consumed_once_by_its_provider(s: TestStore) {
    let mut repo = s.conn().await;
    repo.insert_oauth_state(&state("st-1", None, s.now))
        .await
        .unwrap();
    repo.insert_oauth_state(&state("st-2", None, s.now))
        .await
        .unwrap();
    let at = s.after(1);
    assert!(repo
        .consume_oauth_state("st-1", "google", at)
        .await
        .unwrap()
        .is_none());
    let consumed = repo
        .consume_oauth_state("st-1", "github", at)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(consumed.purpose, OAuthPurpose::SignIn);
    assert_eq!(consumed.client_code_challenge.as_deref(), Some("challenge"));
    assert_eq!(consumed.expires_at, minutes(s.now, 10));
    assert!(repo
        .consume_oauth_state("st-1", "github", at)
        .await
        .unwrap()
        .is_none());
    assert!(repo
        .consume_oauth_state("st-2", "github", minutes(s.now, 10))
        .await
        .unwrap()
        .is_none());
}

async fn a_handoff_is_consumed_once_while_live(s: TestStore) {
    let user = s.user("h@example.com").await;
    let mut repo = s.conn().await;
    for hash in ["ho-1", "ho-2"] {
        repo.insert_handoff(&OAuthHandoff {
            code_hash: hash.into(),
            user_id: user.id,
            provider: "github".into(),
            client_code_challenge: None,
            created_at: s.now,
            expires_at: s.after(60),
        })
        .await
        .unwrap();
    }
    let handoff = repo
        .consume_handoff("ho-1", s.after(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(handoff.user_id, user.id);
    assert!(repo
        .consume_handoff("ho-1", s.after(1))
        .await
        .unwrap()
        .is_none());
    assert!(repo
        .consume_handoff("ho-2", s.after(60))
        .await
        .unwrap()
        .is_none());
}

async fn an_identity_links_to_one_account(s: TestStore) {
    let ann = s.user("ann@example.com").await;
    let bob = s.user("bob@example.com").await;
    let mut repo = s.conn().await;
    let linked = account(ann.id, "subject-1", s.now);
    repo.insert_account(&linked).await.unwrap();
    let found = repo
        .account_by_identity("github", "subject-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found.id, found.user_id), (linked.id, ann.id));
    assert_eq!(found.refresh_token_enc.as_deref(), Some("refresh-1"));
    assert!(repo
        .account_by_identity("google", "subject-1")
        .await
        .unwrap()
        .is_none());

    let error = failure(
        repo.insert_account(&account(bob.id, "subject-1", s.now))
            .await,
    );
    assert!(
        error.is_conflict_on(UniqueKey::AccountsIdentity),
        "{error:?}"
    );
    assert_eq!(error.op(), "insert_account");
}

async fn refreshing_an_account_keeps_an_unsent_refresh_token(s: TestStore) {
    let user = s.user("f@example.com").await;
    let mut repo = s.conn().await;
    let original = account(user.id, "subject-f", s.now);
    repo.insert_account(&original).await.unwrap();
    let later = s.after(3600);
    repo.refresh_account(&Account {
        email: Some("new@example.com".into()),
        access_token_enc: Some("access-2".into()),
        refresh_token_enc: None,
        refresh_token_expires_at: None,
        updated_at: later,
        ..original.clone()
    })
    .await
    .unwrap();
    let refreshed = repo.accounts_of_user(user.id).await.unwrap().remove(0);
    assert_eq!(refreshed.email.as_deref(), Some("new@example.com"));
    assert_eq!(refreshed.access_token_enc.as_deref(), Some("access-2"));
    assert_eq!(refreshed.refresh_token_enc.as_deref(), Some("refresh-1"));
    assert_eq!(
        refreshed.refresh_token_expires_at,
        original.refresh_token_expires_at
    );
    assert_eq!(refreshed.updated_at, later);

    repo.refresh_account(&Account {
        refresh_token_enc: Some("refresh-2".into()),
        refresh_token_expires_at: None,
        ..original
    })
    .await
    .unwrap();
    let refreshed = repo.accounts_of_user(user.id).await.unwrap().remove(0);
    assert_eq!(refreshed.refresh_token_enc.as_deref(), Some("refresh-2"));
    assert_eq!(refreshed.refresh_token_expires_at, None);
}

async fn accounts_are_listed_and_deleted_per_user(s: TestStore) {
    let ann = s.user("ann@example.com").await;
    let bob = s.user("bob@example.com").await;
    let mut repo = s.conn().await;
    let first = account(ann.id, "a1", s.now);
    let second = account(ann.id, "a2", s.after(1));
    let bobs = account(bob.id, "b1", s.now);
    for a in [&first, &second, &bobs] {
        repo.insert_account(a).await.unwrap();
    }
    let ids: Vec<Uuid> = repo
        .accounts_of_user(ann.id)
        .await
        .unwrap()
        .iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(ids, [first.id, second.id]);

    assert!(!repo.delete_account(first.id, bob.id).await.unwrap());
    assert!(repo.delete_account(first.id, ann.id).await.unwrap());
    assert!(!repo.delete_account(first.id, ann.id).await.unwrap());
    assert_eq!(repo.delete_accounts_of_user(ann.id).await.unwrap(), 1);
    assert!(repo.accounts_of_user(ann.id).await.unwrap().is_empty());
    assert_eq!(repo.accounts_of_user(bob.id).await.unwrap().len(), 1);
}

async fn a_pending_link_is_taken_once_and_link_flows_end(s: TestStore) {
    let user = s.user("p@example.com").await;
    let other = s.user("q@example.com").await;
    let mut repo = s.conn().await;
    repo.insert_pending_link(&pending_link("pl-1", user.id, s.now))
        .await
        .unwrap();
    repo.insert_pending_link(&pending_link("pl-2", user.id, s.now))
        .await
        .unwrap();
    let taken = repo
        .take_pending_link("pl-1", s.after(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((taken.user_id, taken.sealed.as_str()), (user.id, "sealed"));
    assert!(repo
        .take_pending_link("pl-1", s.after(1))
        .await
        .unwrap()
        .is_none());
    // An expired one is not handed out, and it is gone all the same.
    assert!(repo
        .take_pending_link("pl-2", s.after(60))
        .await
        .unwrap()
        .is_none());
    assert_eq!(s.db.count_rows("pending_links").await, 0);

    repo.insert_pending_link(&pending_link("pl-3", user.id, s.now))
        .await
        .unwrap();
    repo.insert_oauth_state(&state("st-link", Some(user.id), s.now))
        .await
        .unwrap();
    repo.insert_oauth_state(&state("st-other", Some(other.id), s.now))
        .await
        .unwrap();
    assert_eq!(repo.end_link_flows(user.id).await.unwrap(), 2);
    assert_eq!(repo.end_link_flows(user.id).await.unwrap(), 0);
    assert_eq!(s.db.count_rows("oauth_states").await, 1);
}

async fn locking_a_user_says_whether_it_has_a_password(s: TestStore) {
    let with = s.user("with@example.com").await;
    let mut tx = s.store.transaction().await.unwrap();
    let without = tx
        .insert_user(&portcullis::store::NewUser::verified(
            em("without@example.com"),
            "github",
            s.now,
        ))
        .await
        .unwrap();
    assert_eq!(tx.lock_user(with.id).await.unwrap(), Some(true));
    assert_eq!(tx.lock_user(without.id).await.unwrap(), Some(false));
    assert_eq!(tx.lock_user(Uuid::now_v7()).await.unwrap(), None);
    tx.commit().await.unwrap();
}
