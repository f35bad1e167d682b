//! `ModerationRepo`: the admin user list and what administrators change.

use crate::helpers::{with_role, TestStore};
use crate::store_tests;
use portcullis::domain::Role;
use portcullis::store::{NewUser, UserCursor, UserFilter, UserQuery, UserSort};
use std::time::Duration;
use uuid::Uuid;

store_tests!(
    users_are_paged_in_every_sort_order,
    filters_combine_and_counts_agree,
    role_verification_ban_and_deletion,
    super_admins_count_unless_banned,
);

fn query(sort: UserSort, after: Option<UserCursor>, s: &TestStore) -> UserQuery {
    UserQuery {
        filter: UserFilter::default(),
        sort,
        after,
        limit: 2,
        now: s.now,
    }
}

/// Four users created a second apart: a@ (oldest) … d@ (newest).
async fn four_users(s: &TestStore) -> Vec<Uuid> {
    let mut repo = s.conn().await;
    let mut ids = Vec::new();
    for (i, email) in ["c@x.org", "a@x.org", "d@x.org", "b@x.org"]
        .iter()
        .enumerate()
    {
        let at = s.now.plus(Duration::from_secs(i as u64));
        ids.push(
            repo.insert_user(&with_role(email, Role::Viewer, at))
                .await
                .unwrap()
                .id,
        );
    }
    ids
}

async fn users_are_paged_in_every_sort_order(s: TestStore) {
    four_users(&s).await;
    let mut repo = s.conn().await;
    for (sort, expected) in [
        (
            UserSort::CreatedAsc,
            ["c@x.org", "a@x.org", "d@x.org", "b@x.org"],
        ),
        (
            UserSort::CreatedDesc,
            ["b@x.org", "d@x.org", "a@x.org", "c@x.org"],
        ),
        (
            UserSort::EmailAsc,
            ["a@x.org", "b@x.org", "c@x.org", "d@x.org"],
        ),
        (
            UserSort::EmailDesc,
            ["d@x.org", "c@x.org", "b@x.org", "a@x.org"],
        ),
    ] {
        let first = repo.list_users(&query(sort, None, &s)).await.unwrap();
        let last = &first[1];
        let cursor = match sort {
            UserSort::CreatedAsc | UserSort::CreatedDesc => {
                UserCursor::Created(last.created_at, last.id)
            }
            UserSort::EmailAsc | UserSort::EmailDesc => {
                UserCursor::Email(last.email.to_string(), last.id)
            }
        };
        let second = repo
            .list_users(&query(sort, Some(cursor), &s))
            .await
            .unwrap();
        let emails: Vec<&str> = first
            .iter()
            .chain(&second)
            .map(|u| u.email.as_str())
            .collect();
        assert_eq!(emails, expected, "{sort:?}");
    }
}

async fn filters_combine_and_counts_agree(s: TestStore) {
    let ids = four_users(&s).await;
    let mut repo = s.conn().await;
    repo.set_role(ids[0], Role::Admin, s.now).await.unwrap();
    repo.set_email_verified(ids[1], None, s.now).await.unwrap();
    repo.ban_user(ids[2], None, Some("spam"), s.now)
        .await
        .unwrap();
    repo.ban_user(ids[3], Some(s.before(1)), None, s.before(10))
        .await
        .unwrap();

    let cases = [
        (UserFilter::default(), 4),
        (
            UserFilter {
                role: Some(Role::Admin),
                ..UserFilter::default()
            },
            1,
        ),
        (
            UserFilter {
                verified: Some(false),
                ..UserFilter::default()
            },
            1,
        ),
        (
            UserFilter {
                verified: Some(true),
                ..UserFilter::default()
            },
            3,
        ),
        // An expired ban is no ban.
        (
            UserFilter {
                banned: Some(true),
                ..UserFilter::default()
            },
            1,
        ),
        (
            UserFilter {
                pattern: Some("a@%".into()),
                ..UserFilter::default()
            },
            1,
        ),
        (
            UserFilter {
                pattern: Some("%@x.org".into()),
                banned: Some(false),
                ..UserFilter::default()
            },
            3,
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(
            repo.count_users(&filter, s.now).await.unwrap(),
            expected,
            "{filter:?}"
        );
        let listed = repo
            .list_users(&UserQuery {
                filter: filter.clone(),
                sort: UserSort::EmailAsc,
                after: None,
                limit: 10,
                now: s.now,
            })
            .await
            .unwrap();
        assert_eq!(listed.len() as i64, expected, "{filter:?}");
    }
}

async fn role_verification_ban_and_deletion(s: TestStore) {
    let user = s.user("mod@example.com").await;
    let mut repo = s.conn().await;
    let at = s.after(10);
    repo.set_role(user.id, Role::Editor, at).await.unwrap();
    repo.set_email_verified(user.id, None, at).await.unwrap();
    let changed = repo.user_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(changed.role, Role::Editor);
    assert_eq!(changed.email_verified_at, None);
    assert_eq!(changed.updated_at, at);
    repo.set_email_verified(user.id, Some(at), at)
        .await
        .unwrap();
    assert_eq!(
        repo.user_by_id(user.id)
            .await
            .unwrap()
            .unwrap()
            .email_verified_at,
        Some(at)
    );

    repo.ban_user(user.id, Some(s.after(100)), Some("abuse"), at)
        .await
        .unwrap();
    let banned = repo.user_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(banned.banned_at, Some(at));
    assert_eq!(banned.ban_reason.as_deref(), Some("abuse"));
    assert!(banned.is_banned(s.after(99)));
    assert!(!banned.is_banned(s.after(100)));
    repo.unban_user(user.id, s.after(20)).await.unwrap();
    let unbanned = repo.user_by_id(user.id).await.unwrap().unwrap();
    assert!(unbanned.banned_at.is_none() && unbanned.banned_until.is_none());
    assert!(unbanned.ban_reason.is_none());

    let session = s.session(user.id).await;
    assert!(repo.delete_user(user.id).await.unwrap());
    assert!(!repo.delete_user(user.id).await.unwrap());
    // Sessions go with their user.
    assert!(repo
        .live_session(session.id, user.id, s.now)
        .await
        .unwrap()
        .is_none());
    assert_eq!(s.db.count_rows("sessions").await, 0);
}

async fn super_admins_count_unless_banned(s: TestStore) {
    let mut repo = s.conn().await;
    let mut ids = Vec::new();
    for email in ["s1@x.org", "s2@x.org", "s3@x.org"] {
        let user = repo
            .insert_user(&with_role(email, Role::SuperAdmin, s.now))
            .await
            .unwrap();
        ids.push(user.id);
    }
    repo.insert_user(&with_role("admin@x.org", Role::Admin, s.now))
        .await
        .unwrap();
    assert_eq!(repo.count_active_super_admins(s.now).await.unwrap(), 3);
    repo.ban_user(ids[0], None, None, s.now).await.unwrap();
    repo.ban_user(ids[1], Some(s.after(60)), None, s.now)
        .await
        .unwrap();
    assert_eq!(repo.count_active_super_admins(s.now).await.unwrap(), 1);
    // A ban that has run out counts again.
    assert_eq!(
        repo.count_active_super_admins(s.after(60)).await.unwrap(),
        2
    );
    // An invitee who never proved the address cannot sign in: not counted.
    let invitee = NewUser {
        email_verified_at: None,
        ..with_role("invited@x.org", Role::SuperAdmin, s.now)
    };
    repo.insert_user(&invitee).await.unwrap();
    assert_eq!(repo.count_active_super_admins(s.now).await.unwrap(), 1);
}
