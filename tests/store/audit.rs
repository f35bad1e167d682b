//! `AuditRepo`: events, newest first, filtered and paged.

use crate::helpers::TestStore;
use crate::store_tests;
use portcullis::store::{
    AuditEvent, AuditQuery, DeliveryQuery, Publication, Timestamp, WebhookEndpoint,
};
use uuid::Uuid;

store_tests!(
    audit_events_are_filtered_and_paged_newest_first,
    a_published_event_is_queued_for_subscribed_endpoints_only,
);

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
        repo.record_audit_event(e, None).await.unwrap();
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

fn endpoint(events: &[&str], enabled: bool, at: Timestamp) -> WebhookEndpoint {
    let events: Vec<String> = events.iter().map(|e| e.to_string()).collect();
    WebhookEndpoint {
        id: Uuid::now_v7(),
        url: "https://hooks.example.test/in".into(),
        description: None,
        events: WebhookEndpoint::events_field(&events),
        enabled,
        disabled_reason: None,
        secret_enc: "sealed".into(),
        previous_secret_enc: None,
        previous_secret_expires_at: None,
        failure_streak: 0,
        created_at: at,
        updated_at: at,
    }
}

/// The event and its deliveries are one unit of work (one statement on
/// PostgreSQL, two on SQLite): each enabled endpoint subscribed to the
/// type, or to everything, gets one pending delivery due at once; others
/// get none.
async fn a_published_event_is_queued_for_subscribed_endpoints_only(s: TestStore) {
    let mut repo = s.conn().await;
    let subscribed = endpoint(&["user.created", "sign_in.succeeded"], true, s.now);
    let everything = endpoint(&["*"], true, s.now);
    let other_type = endpoint(&["user.deleted"], true, s.now);
    let disabled = endpoint(&["sign_in.succeeded"], false, s.now);
    for e in [&subscribed, &everything, &other_type, &disabled] {
        repo.insert_webhook_endpoint(e).await.unwrap();
    }
    let user = Uuid::now_v7();
    let published = event("sign_in.succeeded", Some(user), s.after(1));
    let payload = r#"{"type":"sign_in.succeeded"}"#;
    let publication = Publication {
        event_type: "sign_in.succeeded",
        payload: payload.into(),
    };
    repo.record_audit_event(&published, Some(&publication))
        .await
        .unwrap();
    // Not published: recorded, queued nowhere.
    let quiet = event("sign_in.succeeded", Some(user), s.after(2));
    repo.record_audit_event(&quiet, None).await.unwrap();

    let all = AuditQuery {
        limit: 10,
        ..AuditQuery::default()
    };
    let recorded: Vec<Uuid> = repo
        .audit_events(&all)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(recorded, [quiet.id, published.id]);
    for (endpoint, queued) in [
        (&subscribed, true),
        (&everything, true),
        (&other_type, false),
        (&disabled, false),
    ] {
        let query = DeliveryQuery {
            endpoint_id: endpoint.id,
            status: None,
            before: None,
            limit: 10,
        };
        let deliveries = repo.webhook_deliveries(&query).await.unwrap();
        if !queued {
            assert!(deliveries.is_empty(), "{}", endpoint.events);
            continue;
        }
        assert_eq!(deliveries.len(), 1, "{}", endpoint.events);
        let delivery = &deliveries[0];
        assert_eq!(delivery.event_id, published.id);
        assert_eq!(delivery.event_type, "sign_in.succeeded");
        assert_eq!(delivery.payload, payload);
        assert_eq!(delivery.status, "pending");
        assert_eq!(delivery.attempts, 0);
        assert_eq!(delivery.next_attempt_at, Some(published.occurred_at));
    }
}
