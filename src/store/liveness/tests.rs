use super::*;
use crate::domain::{AuthMethod, Email, Role};

fn user() -> User {
    User {
        id: Uuid::now_v7(),
        email: Email::parse("a@b.co").unwrap(),
        email_verified_at: None,
        username: None,
        display_name: None,
        first_name: None,
        last_name: None,
        phone: None,
        city: None,
        info: None,
        avatar_url: None,
        role: Role::Viewer,
        auth_provider: "email".into(),
        password_hash: None,
        created_at: Timestamp::now(),
        updated_at: Timestamp::now(),
        banned_at: None,
        banned_until: None,
        ban_reason: None,
        locale: None,
    }
}

fn session_of(user: &User, now: Timestamp) -> Session {
    Session {
        id: Uuid::now_v7(),
        user_id: user.id,
        ip: None,
        user_agent: None,
        created_at: now,
        last_used_at: now,
        expires_at: now.plus(Duration::from_secs(60)),
        revoked_at: None,
        auth_time: now,
        auth_method: AuthMethod::Password,
        second_factor: None,
    }
}

const TEST_LEASE: Duration = Duration::from_millis(200);

/// A cache whose counter was read just now, holding one session.
fn warm() -> (Liveness, Session, User, Timestamp) {
    let cache = Liveness::with_lease(TEST_LEASE);
    cache.observe(7, Instant::now());
    let now = Timestamp::now();
    let user = user();
    let session = session_of(&user, now);
    let ticket = cache.lookup(session.id, user.id, now).unwrap_err();
    cache.remember(ticket, &session, &user);
    (cache, session, user, now)
}

#[test]
fn a_remembered_session_is_answered_while_the_lease_holds() {
    let (cache, session, user, now) = warm();
    let (found, of) = cache.lookup(session.id, user.id, now).unwrap();
    assert_eq!((found.id, of.id), (session.id, user.id));
    // Another user's claim to the session is not answered from memory.
    assert!(cache.lookup(session.id, Uuid::now_v7(), now).is_err());
    let counted = Lookups {
        remembered: 1,
        read: 2,
        unleased: 0,
    };
    assert_eq!(cache.lookups(), counted);
}

#[test]
fn nothing_is_answered_once_the_lease_lapses() {
    let cache = Liveness::with_lease(TEST_LEASE);
    let now = Timestamp::now();
    let user = user();
    let session = session_of(&user, now);
    // Never read the counter: nothing is kept either.
    let ticket = cache.lookup(session.id, user.id, now).unwrap_err();
    cache.remember(ticket, &session, &user);
    assert_eq!(cache.len(), 0);
    // A read that started more than a lease ago holds no lease.
    cache.observe(7, Instant::now() - TEST_LEASE - Duration::from_millis(1));
    let ticket = cache.lookup(session.id, user.id, now).unwrap_err();
    cache.remember(ticket, &session, &user);
    assert_eq!(cache.len(), 0);
    assert_eq!(cache.lookups().unleased, 2);
}

#[test]
fn a_moved_counter_forgets_everything() {
    let (cache, session, user, now) = warm();
    cache.observe(7, Instant::now());
    assert!(cache.lookup(session.id, user.id, now).is_ok(), "unchanged");
    cache.observe(8, Instant::now());
    assert!(cache.lookup(session.id, user.id, now).is_err());
}

#[test]
fn a_read_that_raced_a_change_is_not_kept() {
    let (cache, _, user, now) = warm();
    let other = session_of(&user, now);
    // Missed before the change, read meanwhile, kept after it: dropped.
    let ticket = cache.lookup(other.id, user.id, now).unwrap_err();
    cache.forget_all();
    cache.remember(ticket, &other, &user);
    assert!(cache.lookup(other.id, user.id, now).is_err());
    let ticket = cache.lookup(other.id, user.id, now).unwrap_err();
    cache.observe(9, Instant::now());
    cache.remember(ticket, &other, &user);
    assert!(cache.lookup(other.id, user.id, now).is_err());
}

#[test]
fn an_expired_or_revoked_entry_is_read_again() {
    let (cache, mut session, user, now) = warm();
    let later = session.expires_at.plus(Duration::from_millis(1));
    assert!(cache.lookup(session.id, user.id, later).is_err());
    // The expired miss may be remembered once read again.
    let ticket = cache.lookup(session.id, user.id, later).unwrap_err();
    assert!(matches!(ticket, Ticket(Some(_))));
    session.revoked_at = Some(now);
    cache.forget_all();
    let ticket = cache.lookup(session.id, user.id, now).unwrap_err();
    cache.remember(ticket, &session, &user);
    assert!(cache.lookup(session.id, user.id, now).is_err());
}

#[test]
fn an_off_cache_keeps_nothing() {
    let cache = Liveness::new(false);
    assert!(!cache.is_on());
    cache.observe(1, Instant::now());
    let now = Timestamp::now();
    let user = user();
    let session = session_of(&user, now);
    let ticket = cache.lookup(session.id, user.id, now).unwrap_err();
    cache.remember(ticket, &session, &user);
    assert_eq!(cache.len(), 0);
}

#[tokio::test]
async fn settling_forgets_this_process_entries_and_waits_a_lease() {
    let (cache, session, user, now) = warm();
    let started = Instant::now();
    cache.settle().await;
    assert!(started.elapsed() >= TEST_LEASE);
    assert!(cache.lookup(session.id, user.id, now).is_err());
}

#[tokio::test]
async fn an_off_cache_still_waits_out_the_lease_of_others() {
    // A command run with the cache off must not return before the servers'
    // leases lapse.
    let cache = Liveness::new(false);
    let started = Instant::now();
    cache.settle().await;
    assert!(started.elapsed() >= LEASE);
}

#[test]
fn an_entry_is_answered_from_for_at_most_a_second() {
    let (cache, session, user, now) = warm();
    if let Some(entry) = cache.state().entries.get_mut(&session.id) {
        entry.remembered = Instant::now() - MAX_AGE;
    }
    let ticket = cache.lookup(session.id, user.id, now).unwrap_err();
    assert!(matches!(ticket, Ticket(Some(_))), "read again, and kept");
}

#[test]
fn a_refresh_here_shows_in_the_remembered_session() {
    let (cache, session, user, now) = warm();
    let mut used = session.clone();
    used.last_used_at = now.plus(Duration::from_secs(5));
    cache.touched(&used);
    let (found, _) = cache.lookup(session.id, user.id, now).unwrap();
    assert_eq!(found.last_used_at, used.last_used_at);
}

fn client() -> ServiceClient {
    ServiceClient {
        id: Uuid::now_v7(),
        client_id: "pc_billing".into(),
        secret_hash: "ab".repeat(32),
        name: "billing".into(),
        created_by: None,
        created_at: Timestamp::now(),
        last_used_at: None,
    }
}

#[test]
fn a_service_client_is_remembered_and_forgotten_with_the_sessions() {
    let (cache, _, _, now) = warm();
    let client = client();
    let ticket = cache.lookup_client(&client.client_id).unwrap_err();
    cache.remember_client(ticket, &client);
    assert_eq!(cache.lookup_client("pc_billing").unwrap().id, client.id);
    assert!(cache.lookup_client("pc_other").is_err());
    cache.client_used("pc_billing", now);
    assert_eq!(
        cache.lookup_client("pc_billing").unwrap().last_used_at,
        Some(now)
    );
    // A moved counter (a deletion anywhere) forgets it.
    cache.observe(8, Instant::now());
    assert!(cache.lookup_client("pc_billing").is_err());
    // So does a change here, and a read that raced it is not kept.
    let ticket = cache.lookup_client("pc_billing").unwrap_err();
    cache.forget_all();
    cache.remember_client(ticket, &client);
    assert!(cache.lookup_client("pc_billing").is_err());
}

#[test]
fn a_service_client_is_not_answered_without_a_lease_or_after_a_second() {
    let cache = Liveness::with_lease(TEST_LEASE);
    let client = client();
    let ticket = cache.lookup_client(&client.client_id).unwrap_err();
    cache.remember_client(ticket, &client);
    cache.observe(7, Instant::now());
    assert!(
        cache.lookup_client("pc_billing").is_err(),
        "kept without a lease"
    );
    let ticket = cache.lookup_client(&client.client_id).unwrap_err();
    cache.remember_client(ticket, &client);
    assert!(cache.lookup_client("pc_billing").is_ok());
    if let Some((_, remembered)) = cache.state().clients.get_mut("pc_billing") {
        *remembered = Instant::now() - MAX_AGE;
    }
    assert!(cache.lookup_client("pc_billing").is_err());
    cache.observe(7, Instant::now() - TEST_LEASE - Duration::from_millis(1));
    let ticket = cache.lookup_client(&client.client_id).unwrap_err();
    cache.remember_client(ticket, &client);
    assert!(matches!(
        cache.lookup_client("pc_billing"),
        Err(Ticket(None))
    ));
}
