//! `admin/webhooks`: endpoints that receive the service's events in the
//! Standard Webhooks format. SUPER-ADMIN changes them; ADMIN reads.

use crate::domain::ProfileText;
use crate::error::Problem;
use crate::flows::webhooks::{self as flows, EndpointChange};
use crate::http::{Admin, ApiError, JsonBody, Origin, PathParams, QueryParams};
use crate::routes::problems::{AdminProblems, InputProblems, ParamProblems, ServerProblems};
use crate::state::AppState;
use crate::store::{Timestamp, WebhookDelivery, WebhookEndpoint};
use actix_web::{delete, get, patch, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A webhook endpoint (never its secret).
#[derive(Serialize, ToSchema)]
#[schema(example = json!(crate::routes::examples::webhook()))]
pub struct WebhookView {
    /// The endpoint's id.
    pub id: Uuid,
    /// Where deliveries are POSTed.
    pub url: String,
    /// The subscribed event types, or `["*"]` for all.
    pub events: Vec<String>,
    /// A note for administrators; `null` when none.
    pub description: Option<String>,
    /// Whether deliveries go out. An endpoint the service switched off
    /// says why in `disabled_reason`.
    pub enabled: bool,
    /// Why the service switched it off (410 Gone, a failure streak); `null`
    /// otherwise.
    pub disabled_reason: Option<String>,
    /// Until when the secret before the last rotation still signs; `null`
    /// when only one secret signs.
    pub previous_secret_expires_at: Option<Timestamp>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

impl From<WebhookEndpoint> for WebhookView {
    fn from(endpoint: WebhookEndpoint) -> Self {
        Self {
            id: endpoint.id,
            events: endpoint.event_list(),
            url: endpoint.url,
            description: endpoint.description,
            enabled: endpoint.enabled,
            disabled_reason: endpoint.disabled_reason,
            previous_secret_expires_at: endpoint.previous_secret_expires_at,
            created_at: endpoint.created_at,
            updated_at: endpoint.updated_at,
        }
    }
}

/// An endpoint with its signing secret, shown in this answer only.
#[derive(Serialize, ToSchema)]
#[schema(example = json!(crate::routes::examples::webhook_with_secret()))]
pub struct WebhookWithSecret {
    /// The endpoint.
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// `whsec_` and 32 random bytes in base64: verify deliveries with it
    /// (any Standard Webhooks library takes it as it is).
    pub secret: String,
}

/// A new endpoint.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://app.example.com/hooks/portcullis", "events": ["user.created", "user.deleted"], "description": "user sync"}))]
pub struct CreateWebhookRequest {
    /// An absolute `https://` URL (`http://` outside production) that does
    /// not resolve to a loopback, private or link-local address.
    #[schema(
        max_length = 2048,
        example = "https://app.example.com/hooks/portcullis"
    )]
    url: String,
    /// Event types (see the README), or `["*"]` for every type.
    events: Vec<String>,
    /// A note for administrators.
    description: Option<ProfileText>,
    /// Default true.
    enabled: Option<bool>,
}

/// Create a webhook endpoint (SUPER-ADMIN).
///
/// The answer carries the signing secret, once. The URL is checked: its
/// host must not resolve to a loopback, private or link-local address
/// unless `webhooks.allowed_private_targets` names it (checked again at
/// every delivery).
#[utoipa::path(
    operation_id = "createWebhook",
    tag = "admin",
    security(("bearer" = [])),
    request_body = CreateWebhookRequest,
    responses(
        (status = 201, description = "Created", body = WebhookWithSecret),
        (status = 409, description = "Too many endpoints", body = Problem, content_type = "application/problem+json"),
        InputProblems, AdminProblems, ServerProblems,
    )
)]
#[post("/v1/admin/webhooks")]
pub async fn create(
    state: web::Data<AppState>,
    admin: Admin,
    client: Origin,
    body: JsonBody<CreateWebhookRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let change = EndpointChange {
        url: Some(body.url),
        events: Some(body.events),
        description: Some(body.description.map(String::from)),
        enabled: body.enabled,
    };
    let created = flows::create(&state, &admin, change, &client).await?;
    Ok(HttpResponse::Created().json(WebhookWithSecret {
        webhook: created.endpoint.into(),
        secret: created.secret,
    }))
}

/// The webhook endpoints.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"webhooks": [crate::routes::examples::webhook()]}))]
pub struct WebhookList {
    /// Oldest first.
    pub webhooks: Vec<WebhookView>,
}

/// The webhook endpoints (ADMIN).
#[utoipa::path(
    operation_id = "listWebhooks",
    tag = "admin",
    security(("bearer" = [])),
    responses((status = 200, description = "The endpoints", body = WebhookList), AdminProblems, ServerProblems)
)]
#[get("/v1/admin/webhooks")]
pub async fn list(
    state: web::Data<AppState>,
    _admin: Admin,
) -> Result<web::Json<WebhookList>, ApiError> {
    let webhooks = flows::list(&state).await?;
    let webhooks = webhooks.into_iter().map(WebhookView::from).collect();
    Ok(web::Json(WebhookList { webhooks }))
}

/// One webhook endpoint (ADMIN).
#[utoipa::path(
    operation_id = "getWebhook",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Webhook id")),
    responses((status = 200, description = "The endpoint", body = WebhookView), AdminProblems, ParamProblems, ServerProblems)
)]
#[get("/v1/admin/webhooks/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    _admin: Admin,
    id: PathParams<Uuid>,
) -> Result<web::Json<WebhookView>, ApiError> {
    Ok(web::Json(flows::get(&state, id.into_inner()).await?.into()))
}

/// Changes to an endpoint; absent fields stay.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"events": ["*"], "enabled": true}))]
pub struct UpdateWebhookRequest {
    /// A new URL, checked as at creation.
    #[schema(
        max_length = 2048,
        example = "https://app.example.com/hooks/portcullis"
    )]
    url: Option<String>,
    /// The new list of event types.
    events: Option<Vec<String>>,
    /// A new note; `null` clears it.
    #[serde(
        default,
        deserialize_with = "crate::routes::profile_patch::patch_field"
    )]
    #[schema(nullable)]
    description: Option<Option<ProfileText>>,
    /// Switch deliveries off or on; on again clears `disabled_reason`.
    enabled: Option<bool>,
}

/// Change a webhook endpoint (SUPER-ADMIN).
#[utoipa::path(
    operation_id = "updateWebhook",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Webhook id")),
    request_body = UpdateWebhookRequest,
    responses((status = 200, description = "Changed", body = WebhookView), InputProblems, AdminProblems, ServerProblems)
)]
#[patch("/v1/admin/webhooks/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    admin: Admin,
    client: Origin,
    id: PathParams<Uuid>,
    body: JsonBody<UpdateWebhookRequest>,
) -> Result<web::Json<WebhookView>, ApiError> {
    let body = body.0;
    let change = EndpointChange {
        url: body.url,
        events: body.events,
        description: body.description.map(|d| d.map(String::from)),
        enabled: body.enabled,
    };
    let updated = flows::update(&state, &admin, id.into_inner(), change, &client).await?;
    Ok(web::Json(updated.into()))
}

/// Delete a webhook endpoint and its deliveries (SUPER-ADMIN).
#[utoipa::path(
    operation_id = "deleteWebhook",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Webhook id")),
    responses((status = 204, description = "Deleted"), AdminProblems, ParamProblems, ServerProblems)
)]
#[delete("/v1/admin/webhooks/{id}")]
pub async fn delete_one(
    state: web::Data<AppState>,
    admin: Admin,
    client: Origin,
    id: PathParams<Uuid>,
) -> Result<HttpResponse, ApiError> {
    flows::delete(&state, &admin, id.into_inner(), &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Rotate the signing secret (SUPER-ADMIN).
///
/// The answer carries the new secret, once. The old one keeps signing
/// beside it (two signatures in `webhook-signature`) until
/// `previous_secret_expires_at` (`webhooks.secret_overlap_secs`, 24 h by
/// default), so receivers can switch without losing a delivery.
#[utoipa::path(
    operation_id = "rotateWebhookSecret",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Webhook id")),
    responses((status = 200, description = "Rotated", body = WebhookWithSecret), AdminProblems, ParamProblems, ServerProblems)
)]
#[post("/v1/admin/webhooks/{id}/rotate-secret")]
pub async fn rotate_secret(
    state: web::Data<AppState>,
    admin: Admin,
    client: Origin,
    id: PathParams<Uuid>,
) -> Result<web::Json<WebhookWithSecret>, ApiError> {
    let (rotated, _) = flows::rotate_secret(&state, &admin, id.into_inner(), &client).await?;
    Ok(web::Json(WebhookWithSecret {
        webhook: rotated.endpoint.into(),
        secret: rotated.secret,
    }))
}

/// One delivery of an event to an endpoint.
#[derive(Serialize, ToSchema)]
#[schema(example = json!(crate::routes::examples::webhook_delivery()))]
pub struct DeliveryView {
    /// The `webhook-id` of every attempt (`msg_` and the event id).
    pub id: String,
    /// The event's id (the audit event's); use it to retry.
    pub event_id: Uuid,
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// `pending`, `delivered` or `failed` (retries exhausted, or 410).
    #[schema(example = "delivered")]
    pub status: String,
    /// Attempts so far.
    pub attempts: i64,
    /// The next attempt, while pending.
    pub next_attempt_at: Option<Timestamp>,
    /// The last attempt; `null` before the first.
    pub last_attempt_at: Option<Timestamp>,
    /// The receiver's HTTP status at the last attempt; `null` when there
    /// was no answer.
    pub last_status: Option<i64>,
    /// The start of the receiver's last answer (at most 1 KiB).
    pub last_response: Option<String>,
    /// Why the last attempt got no answer (timeout, refused, …).
    pub last_error: Option<String>,
    /// When the event happened.
    pub created_at: Timestamp,
    /// When a 2xx came back.
    pub delivered_at: Option<Timestamp>,
    /// The body as signed and sent.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

impl From<WebhookDelivery> for DeliveryView {
    fn from(d: WebhookDelivery) -> Self {
        Self {
            id: format!("msg_{}", d.event_id.simple()),
            event_id: d.event_id,
            event_type: d.event_type,
            status: d.status,
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at.filter(|_| d.delivered_at.is_none()),
            last_attempt_at: d.last_attempt_at,
            last_status: d.last_status,
            last_response: d.last_response,
            last_error: d.last_error,
            created_at: d.created_at,
            delivered_at: d.delivered_at,
            payload: serde_json::from_str(&d.payload).unwrap_or_default(),
        }
    }
}

/// Send a `webhook.test` event to this endpoint (SUPER-ADMIN).
#[utoipa::path(
    operation_id = "testWebhook",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Webhook id")),
    responses((status = 202, description = "Queued", body = DeliveryView), AdminProblems, ParamProblems, ServerProblems)
)]
#[post("/v1/admin/webhooks/{id}/test")]
pub async fn test(
    state: web::Data<AppState>,
    admin: Admin,
    id: PathParams<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let delivery = flows::send_test(&state, &admin, id.into_inner()).await?;
    Ok(HttpResponse::Accepted().json(DeliveryView::from(delivery)))
}

#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// Only deliveries in this state.
    #[param(inline)]
    status: Option<DeliveryStatus>,
    /// Page size, 1 to 200 (50 by default).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(min_length = 1)]
    cursor: Option<String>,
}

/// A page of deliveries.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"deliveries": [crate::routes::examples::webhook_delivery()], "next_cursor": null}))]
pub struct DeliveryPageView {
    /// Newest first.
    pub deliveries: Vec<DeliveryView>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// An endpoint's deliveries, newest first (ADMIN).
#[utoipa::path(
    operation_id = "listWebhookDeliveries",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Webhook id"), DeliveryParams),
    responses((status = 200, description = "A page", body = DeliveryPageView), AdminProblems, ParamProblems, ServerProblems)
)]
#[get("/v1/admin/webhooks/{id}/deliveries")]
pub async fn deliveries(
    state: web::Data<AppState>,
    _admin: Admin,
    id: PathParams<Uuid>,
    params: QueryParams<DeliveryParams>,
) -> Result<web::Json<DeliveryPageView>, ApiError> {
    let params = params.into_inner();
    let status = params.status.map(|s| {
        match s {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
        .to_string()
    });
    let page =
        flows::deliveries(&state, id.into_inner(), status, params.cursor, params.limit).await?;
    Ok(web::Json(DeliveryPageView {
        deliveries: page
            .deliveries
            .into_iter()
            .map(DeliveryView::from)
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Send a delivery again now (SUPER-ADMIN): a new series of attempts.
#[utoipa::path(
    operation_id = "retryWebhookDelivery",
    tag = "admin",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Webhook id"),
        ("event_id" = Uuid, Path, description = "The delivery's event id"),
    ),
    responses((status = 202, description = "Queued"), AdminProblems, ParamProblems, ServerProblems)
)]
#[post("/v1/admin/webhooks/{id}/deliveries/{event_id}/retry")]
pub async fn retry(
    state: web::Data<AppState>,
    admin: Admin,
    path: PathParams<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (id, event_id) = path.into_inner();
    flows::retry(&state, &admin, id, event_id).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Adds the `WebhookEvent` schema: the body of every delivery, with every
/// event type and what it means (from `webhooks::EVENT_TYPES`).
pub fn add_event_schema(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
    let types: Vec<&str> = crate::webhooks::EVENT_TYPES
        .iter()
        .map(|(t, _)| *t)
        .collect();
    let listing: String = crate::webhooks::EVENT_TYPES
        .iter()
        .map(|(t, what)| format!("\n- `{t}`: {what}"))
        .collect();
    let schema = ObjectBuilder::new()
        .description(Some(format!(
            "The JSON body of a webhook delivery (Standard Webhooks: headers `webhook-id`, \
             `webhook-timestamp`, `webhook-signature`). Event types:{listing}"
        )))
        .property(
            "type",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(types.clone()))
                .description(Some("The event type.")),
        )
        .property(
            "timestamp",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
                .description(Some("When the event happened.")),
        )
        .property(
            "data",
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .description(Some(
                    "`user_id`, `actor_id` when someone else acted, and the event's \
                     non-secret details (see the README's Webhooks section).",
                )),
        )
        .required("type")
        .required("timestamp")
        .required("data")
        .examples([crate::routes::examples::webhook_delivery()["payload"].clone()])
        .build();
    let components = doc.components.get_or_insert_with(Default::default);
    components
        .schemas
        .insert("WebhookEvent".to_string(), schema.into());
    narrow_event_lists(components, &types);
}

/// The `events` field of a new or changed endpoint: 1 or more of the event
/// types, or `"*"` (the server refuses anything else with a 400).
fn narrow_event_lists(components: &mut utoipa::openapi::Components, types: &[&str]) {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};
    use utoipa::openapi::RefOr;
    let names: Vec<&str> = types.iter().copied().chain(["*"]).collect();
    for (request, nullable) in [
        ("CreateWebhookRequest", false),
        ("UpdateWebhookRequest", true),
    ] {
        let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(request) else {
            continue;
        };
        let description = match object.properties.get("events") {
            Some(RefOr::T(Schema::Array(a))) => a.description.clone(),
            _ => None,
        };
        let schema_type: SchemaType = if nullable {
            [Type::Array, Type::Null].into_iter().collect()
        } else {
            Type::Array.into()
        };
        let event_list = ArrayBuilder::new()
            .schema_type(schema_type)
            .description(description)
            .min_items(Some(1))
            .max_items(Some(names.len()))
            .items(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(names.clone())),
            );
        object
            .properties
            .insert("events".to_string(), event_list.into());
    }
}
