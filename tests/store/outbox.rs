//! `OutboxRepo`: due mail, leases, retries and stale mail.

use crate::helpers::TestStore;
use crate::store_tests;
use portcullis::store::{OutboxMail, Timestamp};
use uuid::Uuid;

store_tests!(
    a_lease_hides_a_mail_until_it_runs_out,
    rescheduled_deleted_and_stale_mail,
);

fn mail(due: Timestamp, discard_after: Timestamp) -> OutboxMail {
    OutboxMail {
        id: Uuid::now_v7(),
        sealed: "sealed".into(),
        created_at: due,
        next_attempt_at: due,
        attempts: 0,
        discard_after,
    }
}

async fn a_lease_hides_a_mail_until_it_runs_out(s: TestStore) {
    let mut repo = s.conn().await;
    let due = mail(s.now, s.after(600));
    let later = mail(s.after(100), s.after(600));
    let stale = mail(s.before(10), s.now);
    for m in [&due, &later, &stale] {
        repo.enqueue_mail(m).await.unwrap();
    }
    let claimed = repo.claim_mail(s.now, s.after(30), 10).await.unwrap();
    assert_eq!(claimed.len(), 1, "not the future one, not the stale one");
    assert_eq!(claimed[0].id, due.id);
    assert_eq!(claimed[0].attempts, 1, "each claim counts an attempt");
    assert_eq!(claimed[0].sealed, "sealed");

    // Leased by this claim: another instance gets nothing until it ends.
    assert!(repo
        .claim_mail(s.after(29), s.after(60), 10)
        .await
        .unwrap()
        .is_empty());
    let again = repo.claim_mail(s.after(30), s.after(60), 1).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);

    // The limit holds, oldest due first.
    let both = repo
        .claim_mail(s.after(100), s.after(130), 1)
        .await
        .unwrap();
    assert_eq!(both.len(), 1);
    assert_eq!(both[0].id, due.id);
}

async fn rescheduled_deleted_and_stale_mail(s: TestStore) {
    let mut repo = s.conn().await;
    let retried = mail(s.now, s.after(600));
    let sent = mail(s.now, s.after(600));
    let stale = mail(s.now, s.after(50));
    for m in [&retried, &sent, &stale] {
        repo.enqueue_mail(m).await.unwrap();
    }
    assert_eq!(
        repo.claim_mail(s.now, s.after(300), 10)
            .await
            .unwrap()
            .len(),
        3
    );
    // A failed attempt releases the lease and sets the next try.
    repo.reschedule_mail(retried.id, s.after(40), "421 try later")
        .await
        .unwrap();
    repo.delete_mail(sent.id).await.unwrap();
    assert!(repo
        .claim_mail(s.after(39), s.after(100), 10)
        .await
        .unwrap()
        .is_empty());
    let retry = repo
        .claim_mail(s.after(40), s.after(100), 10)
        .await
        .unwrap();
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].id, retried.id);
    assert_eq!(retry[0].next_attempt_at, s.after(40));
    assert_eq!(
        s.db.scalar("SELECT count(*) FROM mail_outbox WHERE last_error = '421 try later'")
            .await,
        1
    );

    assert_eq!(repo.discard_stale_mail(s.after(49)).await.unwrap(), 0);
    assert_eq!(repo.discard_stale_mail(s.after(50)).await.unwrap(), 1);
    assert_eq!(s.db.count_rows("mail_outbox").await, 1);
}
