//! `KeyRepo`: the shared signing keys.

use crate::helpers::TestStore;
use crate::store_tests;
use portcullis::store::{SigningKeyRecord, Timestamp};

store_tests!(keys_are_listed_in_activation_order_and_retired_together);

fn key(kid: &str, activates_at: Timestamp, retires_at: Option<Timestamp>) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.into(),
        algorithm: "EdDSA".into(),
        public_key: format!("pub-{kid}"),
        private_key_enc: format!("enc-{kid}"),
        created_at: activates_at,
        activates_at,
        retires_at,
    }
}

async fn keys_are_listed_in_activation_order_and_retired_together(s: TestStore) {
    let mut repo = s.conn().await;
    assert!(repo.signing_keys().await.unwrap().is_empty());
    repo.insert_signing_key(&key("b", s.before(100), None))
        .await
        .unwrap();
    repo.insert_signing_key(&key("a", s.before(200), Some(s.before(150))))
        .await
        .unwrap();
    repo.insert_signing_key(&key("c", s.after(60), None))
        .await
        .unwrap();
    let kids: Vec<String> = repo
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, ["a", "b", "c"]);

    // Every key but the new one stops signing when it starts; one that
    // retired earlier keeps its date.
    repo.retire_signing_keys(s.after(60), "c").await.unwrap();
    let keys = repo.signing_keys().await.unwrap();
    assert_eq!(keys[0].retires_at, Some(s.before(150)));
    assert_eq!(keys[1].retires_at, Some(s.after(60)));
    assert_eq!(keys[2].retires_at, None);
    assert_eq!(keys[1].private_key_enc, "enc-b");
}
