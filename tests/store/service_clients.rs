//! `ServiceClientRepo`: the callers of token introspection.

use crate::helpers::TestStore;
use crate::store_tests;
use portcullis::store::{ServiceClient, Timestamp};
use uuid::Uuid;

store_tests!(service_clients_are_listed_found_touched_and_deleted);

fn client(client_id: &str, created_by: Option<Uuid>, at: Timestamp) -> ServiceClient {
    ServiceClient {
        id: Uuid::now_v7(),
        client_id: client_id.into(),
        secret_hash: format!("hash-{client_id}"),
        name: format!("service {client_id}"),
        created_by,
        created_at: at,
        last_used_at: None,
    }
}

async fn service_clients_are_listed_found_touched_and_deleted(s: TestStore) {
    let admin = s.user("admin@example.com").await;
    let mut repo = s.conn().await;
    let second = client("svc_b", None, s.after(1));
    let first = client("svc_a", Some(admin.id), s.now);
    repo.insert_service_client(&second).await.unwrap();
    repo.insert_service_client(&first).await.unwrap();

    let listed: Vec<String> = repo
        .service_clients()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(listed, ["svc_a", "svc_b"], "oldest first");

    let found = repo
        .service_client_by_client_id("svc_a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, first.id);
    assert_eq!(found.secret_hash, "hash-svc_a");
    assert_eq!(found.created_by, Some(admin.id));
    assert_eq!(found.last_used_at, None);
    assert!(repo
        .service_client_by_client_id("svc_nope")
        .await
        .unwrap()
        .is_none());

    repo.touch_service_client(first.id, s.after(5))
        .await
        .unwrap();
    let touched = repo
        .service_client_by_client_id("svc_a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(touched.last_used_at, Some(s.after(5)));

    // The creator's deletion leaves the client, without a creator.
    assert!(repo.delete_user(admin.id).await.unwrap());
    let orphan = repo
        .service_client_by_client_id("svc_a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(orphan.created_by, None);

    assert!(repo.delete_service_client(first.id).await.unwrap());
    assert!(!repo.delete_service_client(first.id).await.unwrap());
    assert_eq!(repo.service_clients().await.unwrap().len(), 1);
}
