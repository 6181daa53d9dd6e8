//! `GET /v1/audit/export`: the audit events a filter selects, as NDJSON (one JSON object per line, newest
//! first), for those who may read them with `auditEvents` (the same rule, from the same operation table).
//!
//! The export is streamed: events are read in keyset chunks and written as they come, so memory stays
//! bounded however long the history is. Query parameters: `organizationUuid`, `workspaceUuid`,
//! `deploymentUuid`, `actor`, `action`, `from`, `to` (RFC 3339), with `auditEvents`' meaning. The token
//! goes in `Authorization` as for `/v1`.

use std::collections::HashMap;

use async_graphql::{Name, Value};
use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures_util::stream;
use serde_json::json;
use tower_http::request_id::RequestId;
use uuid::Uuid;

use crate::domain::audit::{self, AuditEvent, AuditFilter};
use crate::error::{ApiError, code};
use crate::graphql::authz::Access;
use crate::http::router::HttpState;

/// Events read per chunk.
const CHUNK: usize = 500;

fn refusal(error: &ApiError, request_id: &str) -> Response {
    let status = match error.code() {
        code::UNAUTHENTICATED => StatusCode::UNAUTHORIZED,
        code::FORBIDDEN => StatusCode::FORBIDDEN,
        code::NOT_FOUND => StatusCode::NOT_FOUND,
        code::BAD_USER_INPUT => StatusCode::BAD_REQUEST,
        code::UNAVAILABLE => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let message = match error {
        ApiError::Internal(detail) => {
            tracing::error!(request_id, error = %detail, "audit export failed");
            format!("Internal error (request {request_id})")
        }
        other => other.to_string(),
    };
    let body = json!({"errors": [{"message": message, "extensions": {"code": error.code()}}]});
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn uuid_parameter(parameters: &HashMap<String, String>, name: &str) -> Result<Option<Uuid>, ApiError> {
    match parameters.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| ApiError::bad_input(name, format!("{name} must be a UUID"))),
    }
}

fn time_parameter(parameters: &HashMap<String, String>, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    match parameters.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|at| Some(at.with_timezone(&Utc)))
            .map_err(|_| ApiError::bad_input(name, format!("{name} must be an RFC 3339 time"))),
    }
}

fn filter(parameters: &HashMap<String, String>) -> Result<AuditFilter, ApiError> {
    if let Some(name) = crate::http::input::nul_parameter(parameters) {
        return Err(ApiError::bad_input(name, format!("{name} must not contain a NUL character (\\u0000)")));
    }
    Ok(AuditFilter {
        organization_id: uuid_parameter(parameters, "organizationUuid")?,
        workspace_id: uuid_parameter(parameters, "workspaceUuid")?,
        deployment_id: uuid_parameter(parameters, "deploymentUuid")?,
        actor_id: uuid_parameter(parameters, "actor")?,
        action: parameters.get("action").map(|a| a.trim().to_owned()).filter(|a| !a.is_empty()),
        from: time_parameter(parameters, "from")?,
        to: time_parameter(parameters, "to")?,
    })
}

/// The filter as `auditEvents`' arguments, for its rule.
fn as_arguments(filter: &AuditFilter) -> Vec<(Name, Value)> {
    let mut fields = async_graphql::indexmap::IndexMap::new();
    for (name, id) in [
        ("organizationUuid", filter.organization_id),
        ("workspaceUuid", filter.workspace_id),
        ("deploymentUuid", filter.deployment_id),
    ] {
        if let Some(id) = id {
            fields.insert(Name::new(name), Value::String(id.to_string()));
        }
    }
    vec![(Name::new("filter"), Value::Object(fields))]
}

fn line(event: &AuditEvent) -> String {
    let mut text = json!({
        "id": event.id,
        "occurredAt": event.occurred_at,
        "actor": {"userId": event.actor_user_id, "serviceAccountId": event.actor_service_account_id, "label": event.actor_label},
        "action": event.action,
        "targetType": event.target_type,
        "targetId": event.target_id,
        "organizationId": event.organization_id,
        "workspaceId": event.workspace_id,
        "deploymentId": event.deployment_id,
        "requestId": event.request_id,
        "clientAddress": event.client_address,
        "before": event.before,
        "after": event.after,
    })
    .to_string();
    text.push('\n');
    text
}

/// `GET /v1/audit/export`.
pub async fn export(
    State(state): State<HttpState>,
    request_id: Option<Extension<RequestId>>,
    client: Option<Extension<crate::http::client::ClientAddress>>,
    headers: HeaderMap,
    Query(parameters): Query<HashMap<String, String>>,
) -> Response {
    let client = client.map(|Extension(address)| address.0);
    let request_id =
        request_id.and_then(|Extension(id)| id.header_value().to_str().ok().map(str::to_owned)).unwrap_or_default();
    let filter = match filter(&parameters) {
        Ok(filter) => filter,
        Err(error) => return refusal(&error, &request_id),
    };
    let credential = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
    let access: Access = match crate::http::graphql::principal_for(&state.app, credential, client).await {
        Ok(principal) => crate::http::graphql::subscription_access(&state.app, principal, client),
        Err(error) => return refusal(&error, &request_id),
    };
    if let Err(error) = access.check_operation("auditEvents", as_arguments(&filter)).await {
        return refusal(&error, &request_id);
    }
    let pool = state.app.pool.clone();
    // Keyset chunks, each read-checked like `auditEvents`' items, written as they come.
    let lines = stream::unfold(Some(None), move |position: Option<Option<(DateTime<Utc>, Uuid)>>| {
        let (pool, filter, access, request_id) = (pool.clone(), filter.clone(), access.clone(), request_id.clone());
        async move {
            let after = position?;
            let chunk = async {
                let mut conn = pool.get().await?;
                audit::chunk(&mut conn, &filter, after, CHUNK).await
            }
            .await;
            let rows = match chunk {
                Ok(rows) => rows,
                Err(error) => {
                    tracing::error!(request_id, %error, "audit export stopped");
                    return Some((Err(std::io::Error::other("the export stopped")), None));
                }
            };
            if rows.is_empty() {
                return None;
            }
            let next = rows.last().map(|last| (last.occurred_at, last.id));
            let done = rows.len() < CHUNK;
            let readable = match access.admit_all(rows).await {
                Ok(readable) => readable,
                Err(_) => return Some((Err(std::io::Error::other("the export stopped")), None)),
            };
            let body: String = readable.iter().map(|event| line(event)).collect();
            Some((Ok::<Bytes, std::io::Error>(Bytes::from(body)), if done { None } else { Some(next) }))
        }
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-ndjson"), (header::CACHE_CONTROL, "no-store")],
        Body::from_stream(lines),
    )
        .into_response()
}
