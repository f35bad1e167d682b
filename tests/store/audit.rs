//! `AuditRepo`: events, newest first, filtered and paged.

use crate::helpers::TestStore;
use crate::store_tests;
use portcullis::store::{AuditEvent, AuditQuery, Timestamp};
use uuid::Uuid;

store_tests!(audit_events_are_filtered_and_paged_newest_first);

fn event(kind: &str, user_id: Option<Uuid>, at: Timestamp) -> AuditEvent {
    AuditEvent {
        id: Uuid::now_v7(),
        occurred_at: at,
        event_type: kind.into(),
        user_id,
        actor_id: user_id,
        ip: Some("192.0.2.7".into()),
        user_agent: None,
        request_id: Some("req".into()),
        details: Some(r#"{"k":1}"#.into()),
    }
}

async fn audit_events_are_filtered_and_paged_newest_first(s: TestStore) {
    let ann = Uuid::now_v7();
    let bob = Uuid::now_v7();
    let mut repo = s.conn().await;
    let events = [
        event("sign_in", Some(ann), s.now),
        event("sign_out", Some(ann), s.after(1)),
        event("sign_in", Some(bob), s.after(2)),
        event("sign_in", Some(ann), s.after(3)),
    ];
    for e in &events {
        repo.insert_audit_event(e).await.unwrap();
    }
    let ids = |found: Vec<AuditEvent>| found.into_iter().map(|e| e.id).collect::<Vec<_>>();
    let all = AuditQuery {
        limit: 10,
        ..AuditQuery::default()
    };
    assert_eq!(
        ids(repo.audit_events(&all).await.unwrap()),
        [events[3].id, events[2].id, events[1].id, events[0].id]
    );

    let anns_sign_ins = AuditQuery {
        user_id: Some(ann),
        event_type: Some("sign_in".into()),
        ..all.clone()
    };
    assert_eq!(
        ids(repo.audit_events(&anns_sign_ins).await.unwrap()),
        [events[3].id, events[0].id]
    );

    // `from` is inclusive, `to` exclusive.
    let window = AuditQuery {
        from: Some(s.after(1)),
        to: Some(s.after(3)),
        ..all.clone()
    };
    assert_eq!(
        ids(repo.audit_events(&window).await.unwrap()),
        [events[2].id, events[1].id]
    );

    let page = AuditQuery {
        limit: 2,
        ..all.clone()
    };
    let first = repo.audit_events(&page).await.unwrap();
    let last = first.last().unwrap();
    let next = AuditQuery {
        before: Some((last.occurred_at, last.id)),
        ..page
    };
    assert_eq!(
        ids(repo.audit_events(&next).await.unwrap()),
        [events[1].id, events[0].id]
    );
    let stored = &repo.audit_events(&all).await.unwrap()[3];
    assert_eq!(stored.details.as_deref(), Some(r#"{"k":1}"#));
    assert_eq!(stored.ip.as_deref(), Some("192.0.2.7"));
}
