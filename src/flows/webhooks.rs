//! Webhook endpoints as administrators manage them: SUPER-ADMIN creates,
//! changes, rotates, tests, retries and deletes; ADMIN reads.

use super::audit::{self, Entry, Kind};
use super::paging;
use crate::error::FlowError;
use crate::flows::context::{Admin, Origin};
use crate::state::AppState;
use crate::store::{DeliveryQuery, Timestamp, WebhookDelivery, WebhookEndpoint};
use crate::webhooks::{self, TargetError};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

/// The most endpoints one installation may have.
const MAX_ENDPOINTS: usize = 50;

/// What an administrator sets on an endpoint.
pub struct EndpointChange {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
}

/// An endpoint with its secret in clear: only in the answer that made it.
pub struct WithSecret {
    pub endpoint: WebhookEndpoint,
    pub secret: String,
}

fn target_refused(error: TargetError) -> FlowError {
    FlowError::bad_request("url", error.to_string())
}

/// Checks the event list: known types, no duplicates, at least one.
fn check_events(events: &[String]) -> Result<(), FlowError> {
    if events.is_empty() || events.len() > webhooks::EVENT_TYPES.len() + 1 {
        return Err(FlowError::bad_request(
            "events",
            "name 1 or more event types, or \"*\"",
        ));
    }
    if let Some(unknown) = events.iter().find(|e| !webhooks::is_event_type(e)) {
        return Err(FlowError::bad_request(
            "events",
            format!("unknown event type {unknown:?} (see the README's list)"),
        ));
    }
    let mut sorted = events.to_vec();
    sorted.sort();
    sorted.dedup();
    if sorted.len() != events.len() {
        return Err(FlowError::bad_request(
            "events",
            "names an event type twice",
        ));
    }
    Ok(())
}

pub async fn create(
    state: &AppState,
    admin: &Admin,
    change: EndpointChange,
    client: &Origin,
) -> Result<WithSecret, FlowError> {
    admin.require_super_admin()?;
    let url = change
        .url
        .ok_or_else(|| FlowError::bad_request("url", "is required"))?;
    let events = change
        .events
        .ok_or_else(|| FlowError::bad_request("events", "is required"))?;
    check_events(&events)?;
    state
        .webhooks
        .policy()
        .check(&url)
        .await
        .map_err(target_refused)?;
    let now = state.clock.now();
    let id = Uuid::now_v7();
    let secret = webhooks::new_secret();
    let endpoint = WebhookEndpoint {
        id,
        url,
        description: change.description.flatten(),
        events: WebhookEndpoint::events_field(&events),
        enabled: change.enabled.unwrap_or(true),
        disabled_reason: None,
        secret_enc: state.webhooks.seal(id, &secret)?,
        previous_secret_enc: None,
        previous_secret_expires_at: None,
        failure_streak: 0,
        created_at: now,
        updated_at: now,
    };
    let mut tx = state.store.transaction().await?;
    tx.lock("super_admins").await?;
    if tx.webhook_endpoints().await?.len() >= MAX_ENDPOINTS {
        return Err(FlowError::Conflict {
            slug: "too-many-webhooks",
            detail: format!("at most {MAX_ENDPOINTS} webhook endpoints"),
        });
    }
    tx.insert_webhook_endpoint(&endpoint).await?;
    let entry = Entry::new(Kind::WebhookCreated)
        .actor(admin.auth.user.id)
        .details(json!({ "webhook_id": id, "url": endpoint.url, "events": events }));
    audit::record_in(state, tx.as_mut(), client, entry).await?;
    tx.commit().await?;
    Ok(WithSecret { endpoint, secret })
}

pub async fn list(state: &AppState) -> Result<Vec<WebhookEndpoint>, FlowError> {
    let mut repo = state.store.connection().await?;
    Ok(repo.webhook_endpoints().await?)
}

pub async fn get(state: &AppState, id: Uuid) -> Result<WebhookEndpoint, FlowError> {
    let mut repo = state.store.connection().await?;
    repo.webhook_endpoint(id).await?.ok_or(FlowError::NotFound)
}

/// Changes an endpoint. Switching it on again clears why it was switched
/// off and its failure streak.
pub async fn update(
    state: &AppState,
    admin: &Admin,
    id: Uuid,
    change: EndpointChange,
    client: &Origin,
) -> Result<WebhookEndpoint, FlowError> {
    admin.require_super_admin()?;
    if let Some(events) = &change.events {
        check_events(events)?;
    }
    if let Some(url) = &change.url {
        state
            .webhooks
            .policy()
            .check(url)
            .await
            .map_err(target_refused)?;
    }
    let mut tx = state.store.transaction().await?;
    let mut endpoint = tx.webhook_endpoint(id).await?.ok_or(FlowError::NotFound)?;
    if let Some(url) = change.url {
        endpoint.url = url;
    }
    if let Some(events) = &change.events {
        endpoint.events = WebhookEndpoint::events_field(events);
    }
    if let Some(description) = change.description {
        endpoint.description = description;
    }
    if let Some(enabled) = change.enabled {
        if enabled && !endpoint.enabled {
            endpoint.disabled_reason = None;
            endpoint.failure_streak = 0;
        }
        endpoint.enabled = enabled;
    }
    endpoint.updated_at = state.clock.now();
    tx.update_webhook_endpoint(&endpoint).await?;
    let entry = Entry::new(Kind::WebhookUpdated)
        .actor(admin.auth.user.id)
        .details(json!({ "webhook_id": id, "url": endpoint.url, "enabled": endpoint.enabled }));
    audit::record_in(state, tx.as_mut(), client, entry).await?;
    tx.commit().await?;
    Ok(endpoint)
}

pub async fn delete(
    state: &AppState,
    admin: &Admin,
    id: Uuid,
    client: &Origin,
) -> Result<(), FlowError> {
    admin.require_super_admin()?;
    let mut tx = state.store.transaction().await?;
    if !tx.delete_webhook_endpoint(id).await? {
        return Err(FlowError::NotFound);
    }
    let entry = Entry::new(Kind::WebhookDeleted)
        .actor(admin.auth.user.id)
        .details(json!({ "webhook_id": id }));
    audit::record_in(state, tx.as_mut(), client, entry).await?;
    tx.commit().await?;
    Ok(())
}

/// A new secret; the current one keeps signing beside it for
/// `webhooks.secret_overlap_secs`.
pub async fn rotate_secret(
    state: &AppState,
    admin: &Admin,
    id: Uuid,
    client: &Origin,
) -> Result<(WithSecret, Timestamp), FlowError> {
    admin.require_super_admin()?;
    let now = state.clock.now();
    let overlap = Duration::from_secs(state.settings.webhooks.secret_overlap_secs);
    let mut tx = state.store.transaction().await?;
    let mut endpoint = tx.webhook_endpoint(id).await?.ok_or(FlowError::NotFound)?;
    let secret = webhooks::new_secret();
    endpoint.previous_secret_enc = Some(endpoint.secret_enc.clone());
    endpoint.previous_secret_expires_at = Some(now.plus(overlap));
    endpoint.secret_enc = state.webhooks.seal(id, &secret)?;
    endpoint.updated_at = now;
    tx.update_webhook_endpoint(&endpoint).await?;
    let entry = Entry::new(Kind::WebhookSecretRotated)
        .actor(admin.auth.user.id)
        .details(json!({ "webhook_id": id }));
    audit::record_in(state, tx.as_mut(), client, entry).await?;
    tx.commit().await?;
    Ok((WithSecret { endpoint, secret }, now.plus(overlap)))
}

/// Queues a `webhook.test` event for this endpoint only.
pub async fn send_test(
    state: &AppState,
    admin: &Admin,
    id: Uuid,
) -> Result<WebhookDelivery, FlowError> {
    admin.require_super_admin()?;
    let now = state.clock.now();
    let mut tx = state.store.transaction().await?;
    tx.webhook_endpoint(id).await?.ok_or(FlowError::NotFound)?;
    let event_id = Uuid::now_v7();
    let payload = json!({
        "type": "webhook.test",
        "timestamp": now,
        "data": { "webhook_id": id, "requested_by": admin.auth.user.id },
    });
    let delivery = WebhookDelivery {
        event_id,
        endpoint_id: id,
        event_type: "webhook.test".into(),
        payload: payload.to_string(),
        status: "pending".into(),
        attempts: 0,
        next_attempt_at: Some(now),
        last_attempt_at: None,
        last_status: None,
        last_response: None,
        last_error: None,
        created_at: now,
        delivered_at: None,
    };
    tx.insert_webhook_delivery(&delivery).await?;
    tx.commit().await?;
    state.webhooks.wake();
    Ok(delivery)
}

pub struct DeliveryPage {
    pub deliveries: Vec<WebhookDelivery>,
    pub next_cursor: Option<String>,
}

const DELIVERY_ORDER: &str = "-created_at";

pub async fn deliveries(
    state: &AppState,
    id: Uuid,
    status: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
) -> Result<DeliveryPage, FlowError> {
    let limit = paging::page_size(limit)?;
    let before = match cursor {
        Some(cursor) => {
            let (key, event_id) = paging::decode(DELIVERY_ORDER, &cursor)?;
            Some((paging::parse_time_key(&key)?, event_id))
        }
        None => None,
    };
    let mut repo = state.store.connection().await?;
    repo.webhook_endpoint(id)
        .await?
        .ok_or(FlowError::NotFound)?;
    let rows = repo
        .webhook_deliveries(&DeliveryQuery {
            endpoint_id: id,
            status,
            before,
            limit: limit + 1,
        })
        .await?;
    let (deliveries, next_cursor) = paging::split(rows, limit, |d| {
        paging::encode(DELIVERY_ORDER, paging::time_key(d.created_at), d.event_id)
    });
    Ok(DeliveryPage {
        deliveries,
        next_cursor,
    })
}

/// Sends a delivery again now (a new series of attempts).
pub async fn retry(
    state: &AppState,
    admin: &Admin,
    id: Uuid,
    event_id: Uuid,
) -> Result<(), FlowError> {
    admin.require_super_admin()?;
    let mut repo = state.store.connection().await?;
    if !repo
        .retry_webhook_delivery(event_id, id, state.clock.now())
        .await?
    {
        return Err(FlowError::NotFound);
    }
    state.webhooks.wake();
    Ok(())
}
