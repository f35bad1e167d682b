//! `UserRepo`: lookups, inserts, profile patches, password and address.

use crate::helpers::{em, failure, new_user, TestStore};
use crate::store_tests;
use portcullis::domain::Role;
use portcullis::store::{NewUser, ProfileUpdate, UniqueKey};
use uuid::Uuid;

store_tests!(
    inserted_users_are_found_by_id_email_and_username,
    taken_email_and_username_are_typed_conflicts,
    a_profile_patch_keeps_clears_and_sets,
    password_and_address_changes,
    a_hash_is_upgraded_only_over_the_one_checked,
);

async fn inserted_users_are_found_by_id_email_and_username(s: TestStore) {
    let mut repo = s.conn().await;
    let user = repo
        .insert_user(&NewUser {
            username: Some("ada".into()),
            first_name: Some("Ada".into()),
            locale: Some("fr".into()),
            role: Role::Editor,
            ..new_user("ada@example.com", s.now)
        })
        .await
        .unwrap();
    assert_eq!(user.email, em("ada@example.com"));
    assert_eq!(user.role, Role::Editor);
    assert_eq!(user.email_verified_at, Some(s.now));
    assert_eq!(user.created_at, s.now);
    assert_eq!(user.updated_at, s.now);
    assert!(user.banned_at.is_none());

    let by_id = repo.user_by_id(user.id).await.unwrap().unwrap();
    let by_email = repo
        .user_by_email(&em("ada@example.com"))
        .await
        .unwrap()
        .unwrap();
    let by_name = repo.user_by_username("ada").await.unwrap().unwrap();
    for found in [by_id, by_email, by_name] {
        assert_eq!(found.id, user.id);
        assert_eq!(found.first_name.as_deref(), Some("Ada"));
        assert_eq!(found.locale.as_deref(), Some("fr"));
        assert_eq!(found.password_hash, user.password_hash);
    }
    assert!(repo.user_by_id(Uuid::now_v7()).await.unwrap().is_none());
    assert!(repo
        .user_by_email(&em("nobody@example.com"))
        .await
        .unwrap()
        .is_none());
    assert!(repo.user_by_username("nobody").await.unwrap().is_none());
}

async fn taken_email_and_username_are_typed_conflicts(s: TestStore) {
    let mut repo = s.conn().await;
    let first = NewUser {
        username: Some("taken".into()),
        ..new_user("taken@example.com", s.now)
    };
    repo.insert_user(&first).await.unwrap();

    let error = failure(
        repo.insert_user(&new_user("taken@example.com", s.now))
            .await,
    );
    assert!(error.is_conflict_on(UniqueKey::UsersEmail), "{error:?}");
    assert_eq!(error.op(), "insert_user");

    let same_name = NewUser {
        username: Some("taken".into()),
        ..new_user("other@example.com", s.now)
    };
    let error = failure(repo.insert_user(&same_name).await);
    assert!(error.is_conflict_on(UniqueKey::UsersUsername), "{error:?}");

    // Updates run into the same keys.
    let other = repo
        .insert_user(&new_user("other@example.com", s.now))
        .await
        .unwrap();
    let rename = ProfileUpdate {
        username: Some(Some("taken".into())),
        ..ProfileUpdate::default()
    };
    let error = failure(repo.update_profile(other.id, &rename, s.now).await);
    assert!(error.is_conflict_on(UniqueKey::UsersUsername), "{error:?}");
    assert_eq!(error.op(), "update_profile");
    let error = failure(
        repo.set_email(other.id, &em("taken@example.com"), s.now)
            .await,
    );
    assert!(error.is_conflict_on(UniqueKey::UsersEmail), "{error:?}");
    assert_eq!(error.op(), "set_email");
}

async fn a_profile_patch_keeps_clears_and_sets(s: TestStore) {
    let mut repo = s.conn().await;
    let user = repo
        .insert_user(&NewUser {
            username: Some("grace".into()),
            first_name: Some("Grace".into()),
            last_name: Some("Hopper".into()),
            ..new_user("grace@example.com", s.now)
        })
        .await
        .unwrap();
    let patch = ProfileUpdate {
        first_name: Some(None),
        city: Some(Some("Arlington".into())),
        locale: Some(Some("de".into())),
        ..ProfileUpdate::default()
    };
    let later = s.after(60);
    let updated = repo
        .update_profile(user.id, &patch, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.first_name, None, "cleared");
    assert_eq!(updated.city.as_deref(), Some("Arlington"), "set");
    assert_eq!(updated.locale.as_deref(), Some("de"), "set");
    assert_eq!(updated.last_name.as_deref(), Some("Hopper"), "kept");
    assert_eq!(updated.username.as_deref(), Some("grace"), "kept");
    assert_eq!(updated.updated_at, later);
    assert!(repo
        .update_profile(Uuid::now_v7(), &patch, later)
        .await
        .unwrap()
        .is_none());
}

async fn password_and_address_changes(s: TestStore) {
    let user = s.user("old@example.com").await;
    let mut repo = s.conn().await;
    let later = s.after(30);
    repo.set_password_hash(user.id, "$argon2id$new", later)
        .await
        .unwrap();
    repo.set_email(user.id, &em("new@example.com"), later)
        .await
        .unwrap();
    let changed = repo.user_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(changed.password_hash.as_deref(), Some("$argon2id$new"));
    assert_eq!(changed.email, em("new@example.com"));
    assert_eq!(
        changed.email_verified_at,
        Some(later),
        "the new address is proven"
    );
    assert_eq!(changed.updated_at, later);
    assert!(repo
        .user_by_email(&em("old@example.com"))
        .await
        .unwrap()
        .is_none());
}

/// The rehash after a sign-in replaces the hash it checked, and nothing
/// else: a password changed in between stays changed.
async fn a_hash_is_upgraded_only_over_the_one_checked(s: TestStore) {
    let user = s.user("upgrade@example.com").await;
    let mut repo = s.conn().await;
    let later = s.after(30);
    repo.set_password_hash(user.id, "$argon2id$m=8192$old", later)
        .await
        .unwrap();
    // A reset lands between the check and the upgrade.
    repo.set_password_hash(user.id, "$argon2id$m=19456$reset", later)
        .await
        .unwrap();
    let upgraded = repo
        .upgrade_password_hash(
            user.id,
            "$argon2id$m=8192$old",
            "$argon2id$m=19456$old",
            later,
        )
        .await
        .unwrap();
    assert!(!upgraded);
    let stored = repo.user_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(
        stored.password_hash.as_deref(),
        Some("$argon2id$m=19456$reset")
    );
    // Over the hash it checked, it writes.
    let upgraded = repo
        .upgrade_password_hash(
            user.id,
            "$argon2id$m=19456$reset",
            "$argon2id$m=65536$reset",
            later,
        )
        .await
        .unwrap();
    assert!(upgraded);
    let stored = repo.user_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(
        stored.password_hash.as_deref(),
        Some("$argon2id$m=65536$reset")
    );
}
