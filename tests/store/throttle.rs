//! `ThrottleRepo`: fixed rate-limit windows and the sign-in lockout.

use crate::helpers::TestStore;
use crate::store_tests;
use portcullis::config::LockoutSettings;

store_tests!(
    hits_count_in_a_window_that_restarts,
    sign_in_attempts_count_lock_and_clear,
    each_attempt_locks_for_as_long_as_the_schedule_says,
);

/// The lock an attempt earns is set with its count (on PostgreSQL computed
/// by the statement itself): for every count, up to and past the hard cap,
/// the account is locked until exactly `lock_after(count)` later.
async fn each_attempt_locks_for_as_long_as_the_schedule_says(s: TestStore) {
    let lockout = LockoutSettings {
        free_attempts: 2,
        base_delay_secs: 3,
        max_delay_secs: 20,
        hard_cap: 7,
        hard_lock_secs: 1000,
        window_secs: 1_000_000,
    };
    let key = "schedule@example.com";
    let window = s.before(1);
    let claim = |at: u64| {
        s.store
            .claim_login_attempt(key, s.after(at), window, &lockout)
    };
    let mut at = 0;
    let mut locks = Vec::new();
    for count in 1..=9 {
        assert_eq!(claim(at).await.unwrap(), Some(count), "attempt {count}");
        let lock = lockout.lock_after(count).map(|d| d.as_secs());
        locks.push(lock.unwrap_or(0));
        if let Some(secs) = lock {
            // Locked until the very end: refused, and not counted.
            assert_eq!(claim(at + secs - 1).await.unwrap(), None, "attempt {count}");
        }
        at += lock.unwrap_or(1);
    }
    assert_eq!(locks, [0, 3, 6, 12, 20, 20, 1000, 1000, 1000]);

    // With one free attempt, a first attempt locks at once (the insert's
    // lock); a count from before the window starts over, and its lock is
    // the one of the new count.
    let lockout = LockoutSettings {
        free_attempts: 1,
        window_secs: 60,
        ..lockout
    };
    let key = "first@example.com";
    let claim = |at: u64, window: u64| {
        let cutoff = s.after(at).minus(std::time::Duration::from_secs(window));
        s.store
            .claim_login_attempt(key, s.after(at), cutoff, &lockout)
    };
    assert_eq!(claim(0, 60).await.unwrap(), Some(1));
    assert_eq!(claim(2, 60).await.unwrap(), None, "locked for 3 s");
    assert_eq!(claim(3, 60).await.unwrap(), Some(2));
    assert_eq!(claim(8, 60).await.unwrap(), None, "locked for 6 s");
    // 100 s later the two failures are out of the window: one again, 3 s.
    assert_eq!(claim(103, 60).await.unwrap(), Some(1));
    assert_eq!(claim(105, 60).await.unwrap(), None, "locked for 3 s");
    assert_eq!(claim(106, 60).await.unwrap(), Some(2));
}

async fn hits_count_in_a_window_that_restarts(s: TestStore) {
    let mut repo = s.conn().await;
    // Windows of 60 s: the cutoff is `now - 60 s`.
    let hit = |secs: u64| {
        (
            s.after(secs),
            s.after(secs).minus(std::time::Duration::from_secs(60)),
        )
    };
    for (expected, secs) in [(1, 0), (2, 10), (3, 59)] {
        let (now, cutoff) = hit(secs);
        assert_eq!(
            repo.hit_rate_limit("sign_in:ip", now, cutoff)
                .await
                .unwrap(),
            (expected, s.now)
        );
    }
    let (_, cutoff) = hit(59);
    assert_eq!(
        repo.rate_limit_window("sign_in:ip", cutoff).await.unwrap(),
        Some((3, s.now))
    );
    assert_eq!(
        repo.rate_limit_window("sign_in:other", cutoff)
            .await
            .unwrap(),
        None
    );
    // At 60 s the window that began at 0 is over: a new one starts.
    let (now, cutoff) = hit(60);
    assert_eq!(
        repo.rate_limit_window("sign_in:ip", cutoff).await.unwrap(),
        None
    );
    assert_eq!(
        repo.hit_rate_limit("sign_in:ip", now, cutoff)
            .await
            .unwrap(),
        (1, now)
    );
    // Keys are independent.
    assert_eq!(
        repo.hit_rate_limit("sign_up:ip", now, cutoff)
            .await
            .unwrap(),
        (1, now)
    );
}

async fn sign_in_attempts_count_lock_and_clear(s: TestStore) {
    // Five free attempts: no lock but the ones set here.
    let lockout = LockoutSettings::default();
    let mut repo = s.conn().await;
    let key = "ann@example.com";
    let window = s.before(900);
    assert_eq!(
        repo.claim_login_attempt(key, s.now, window, &lockout)
            .await
            .unwrap(),
        Some(1)
    );
    assert_eq!(
        repo.claim_login_attempt(key, s.after(1), window, &lockout)
            .await
            .unwrap(),
        Some(2)
    );

    repo.lock_login(key, s.after(300)).await.unwrap();
    // A shorter lock does not cut a longer one.
    repo.lock_login(key, s.after(100)).await.unwrap();
    assert_eq!(
        repo.claim_login_attempt(key, s.after(299), window, &lockout)
            .await
            .unwrap(),
        None
    );
    // Locked attempts are not counted; at the end of the lock it counts on.
    assert_eq!(
        repo.claim_login_attempt(key, s.after(300), window, &lockout)
            .await
            .unwrap(),
        Some(3)
    );
    // Failures from before the window are forgotten.
    assert_eq!(
        repo.claim_login_attempt(key, s.after(400), s.after(300), &lockout)
            .await
            .unwrap(),
        Some(1)
    );
    repo.clear_login_attempts(key).await.unwrap();
    assert_eq!(s.db.count_rows("login_throttle").await, 0);
    assert_eq!(
        repo.claim_login_attempt(key, s.after(401), window, &lockout)
            .await
            .unwrap(),
        Some(1)
    );
}
