//! `admin/service-clients`: credentials for services that introspect tokens.

use crate::domain::ProfileText;
use crate::flows::service_clients;
use crate::http::ApiError;
use crate::http::PathParams;
use crate::http::{Admin, JsonBody, Origin};
use crate::routes::problems::{AdminProblems, InputProblems, ParamProblems, ServerProblems};
use crate::state::AppState;
use crate::store::{ServiceClient, Timestamp};
use actix_web::{delete, get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A service client: credentials a service uses to introspect tokens. The
/// secret is never part of it.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a22290-1e40-7160-8099-50d836f675cc",
    "client_id": "svc_ZbrNk3H27yLgXRgJ",
    "name": "billing-service",
    "created_by": "01a19b45-b800-7892-bf3f-0824128b2f33",
    "created_at": "2026-11-28T14:30:00Z",
    "last_used_at": "2026-12-04T09:58:12Z"
}))]
pub struct ServiceClientView {
    /// The client's id (a UUID), for `DELETE /v1/admin/service-clients/{id}`.
    pub id: Uuid,
    /// The user name of HTTP Basic authentication at `POST /v1/introspect`:
    /// `svc_` and 16 random characters.
    pub client_id: String,
    /// The name given at creation, to tell clients apart.
    pub name: String,
    /// The administrator who created it; `null` once that user is deleted.
    pub created_by: Option<Uuid>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last authenticated (updated at most once a minute); `null`
    /// when it never has.
    pub last_used_at: Option<Timestamp>,
}

impl From<ServiceClient> for ServiceClientView {
    fn from(client: ServiceClient) -> Self {
        Self {
            id: client.id,
            client_id: client.client_id,
            name: client.name,
            created_by: client.created_by,
            created_at: client.created_at,
            last_used_at: client.last_used_at,
        }
    }
}

/// A new service client with its secret.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a22290-1e40-7160-8099-50d836f675cc",
    "client_id": "svc_ZbrNk3H27yLgXRgJ",
    "name": "billing-service",
    "created_by": "01a19b45-b800-7892-bf3f-0824128b2f33",
    "created_at": "2026-11-28T14:30:00Z",
    "last_used_at": null,
    "client_secret": "In43Qvesb8eg2k1rgdViklmIlWiVO-dWrurtB9tH_Zs"
}))]
pub struct CreatedServiceClient {
    /// Every field of the client as listed.
    #[serde(flatten)]
    pub client: ServiceClientView,
    /// The password of HTTP Basic authentication (43 random characters).
    /// Shown this once; only a hash is stored.
    pub client_secret: String,
}

/// A new service client.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "billing-service"}))]
pub struct CreateServiceClientRequest {
    /// A name to tell clients apart, such as the service's.
    #[schema(value_type = ProfileText, example = "billing-service")]
    name: ProfileText,
}

/// The service clients.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"clients": [{
    "id": "01a22290-1e40-7160-8099-50d836f675cc",
    "client_id": "svc_ZbrNk3H27yLgXRgJ",
    "name": "billing-service",
    "created_by": "01a19b45-b800-7892-bf3f-0824128b2f33",
    "created_at": "2026-11-28T14:30:00Z",
    "last_used_at": "2026-12-04T09:58:12Z"
}]}))]
pub struct ServiceClientList {
    /// Every service client, oldest first; empty when there are none.
    pub clients: Vec<ServiceClientView>,
}

/// Create credentials for a service; the secret is in this answer only.
#[utoipa::path(
    operation_id = "createServiceClient",
    tag = "admin",
    security(("bearer" = [])),
    request_body = CreateServiceClientRequest,
    responses(
        (status = 201, description = "Created", body = CreatedServiceClient),
        InputProblems,
        AdminProblems,
        ServerProblems,
    )
)]
#[post("/v1/admin/service-clients")]
pub async fn create(
    state: web::Data<AppState>,
    client: Origin,
    admin: Admin,
    body: JsonBody<CreateServiceClientRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let created = service_clients::create(&state, &admin, body.name.as_str(), &client).await?;
    Ok(HttpResponse::Created().json(CreatedServiceClient {
        client: created.client.into(),
        client_secret: created.secret,
    }))
}

/// The service clients (never their secrets).
#[utoipa::path(
    operation_id = "listServiceClients",
    tag = "admin",
    security(("bearer" = [])),
    responses((status = 200, description = "The clients", body = ServiceClientList), AdminProblems, ServerProblems)
)]
#[get("/v1/admin/service-clients")]
pub async fn list(
    state: web::Data<AppState>,
    _admin: Admin,
) -> Result<web::Json<ServiceClientList>, ApiError> {
    let clients = service_clients::list(&state).await?;
    Ok(web::Json(ServiceClientList {
        clients: clients.into_iter().map(ServiceClientView::from).collect(),
    }))
}

/// Delete a service client (SUPER-ADMIN).
#[utoipa::path(
    operation_id = "deleteServiceClient",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Service client id")),
    responses((status = 204, description = "Deleted"), AdminProblems, ParamProblems, ServerProblems)
)]
#[delete("/v1/admin/service-clients/{id}")]
pub async fn delete_client(
    state: web::Data<AppState>,
    admin: Admin,
    client: Origin,
    id: PathParams<Uuid>,
) -> Result<HttpResponse, ApiError> {
    service_clients::delete(&state, &admin, id.into_inner(), &client).await?;
    Ok(HttpResponse::NoContent().finish())
}
