//! Writing audit events. Callers pass snapshots that already exclude secrets (password hashes, key hashes,
//! tokens and secret values are never part of a snapshot).

use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use crate::db::models::audit_event::NewAuditEvent;
use crate::domain::Actor;
use crate::error::ApiResult;

/// What changed.
#[derive(Debug, Default)]
pub struct Change {
    /// Action name, `<noun>.<verb>`.
    pub action: &'static str,
    /// Kind of object changed.
    pub target_type: &'static str,
    /// Object changed.
    pub target_id: Option<Uuid>,
    /// Organization involved.
    pub organization_id: Option<Uuid>,
    /// Workspace involved.
    pub workspace_id: Option<Uuid>,
    /// Deployment involved.
    pub deployment_id: Option<Uuid>,
    /// Snapshot before.
    pub before: Option<serde_json::Value>,
    /// Snapshot after.
    pub after: Option<serde_json::Value>,
}

/// Records `change` made by `actor`, in the caller's transaction.
pub async fn record(conn: &mut AsyncPgConnection, actor: &Actor, change: Change) -> ApiResult<()> {
    NewAuditEvent {
        id: Uuid::now_v7(),
        actor_user_id: actor.user_id,
        actor_service_account_id: actor.service_account_id,
        actor_label: actor.label.clone(),
        action: change.action.to_owned(),
        target_type: change.target_type.to_owned(),
        target_id: change.target_id,
        organization_id: change.organization_id,
        workspace_id: change.workspace_id,
        deployment_id: change.deployment_id,
        request_id: actor.request_id.clone(),
        client_address: actor.client_address.clone(),
        before: change.before,
        after: change.after,
    }
    .insert(conn)
    .await?;
    Ok(())
}

pub use crate::db::models::audit_event::{AuditEvent, AuditFilter};

/// Most events one page returns.
pub const MAX_PAGE: usize = 100;

/// A page of events matching `filter`, newest first, after the keyset position `after`; `limit + 1` rows
/// are read so the caller can tell whether another page follows.
pub async fn page(
    conn: &mut AsyncPgConnection,
    filter: &AuditFilter,
    after: Option<(chrono::DateTime<chrono::Utc>, Uuid)>,
    limit: usize,
) -> ApiResult<Vec<AuditEvent>> {
    let limit = i64::try_from(limit.min(MAX_PAGE) + 1).unwrap_or(i64::MAX);
    Ok(AuditEvent::page(conn, filter, after, limit).await?)
}

/// How many events match `filter`.
pub async fn count(conn: &mut AsyncPgConnection, filter: &AuditFilter) -> ApiResult<i64> {
    Ok(AuditEvent::count(conn, filter).await?)
}

/// The events with these ids (one statement).
pub async fn by_ids(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> ApiResult<Vec<AuditEvent>> {
    Ok(AuditEvent::by_ids(conn, ids).await?)
}

/// A chunk of an export: up to `size` events after `after`, newest first (exports read the whole
/// history in such chunks, so memory stays bounded whatever its length).
pub async fn chunk(
    conn: &mut AsyncPgConnection,
    filter: &AuditFilter,
    after: Option<(chrono::DateTime<chrono::Utc>, Uuid)>,
    size: usize,
) -> ApiResult<Vec<AuditEvent>> {
    Ok(AuditEvent::page(conn, filter, after, i64::try_from(size).unwrap_or(i64::MAX)).await?)
}

/// The event [`record`] would write for `change` by `actor`, for callers that insert many at once (bulk
/// imports write one event per change, as one-at-a-time operations do).
pub fn event(actor: &Actor, change: Change) -> NewAuditEvent {
    NewAuditEvent {
        id: Uuid::now_v7(),
        actor_user_id: actor.user_id,
        actor_service_account_id: actor.service_account_id,
        actor_label: actor.label.clone(),
        action: change.action.to_owned(),
        target_type: change.target_type.to_owned(),
        target_id: change.target_id,
        organization_id: change.organization_id,
        workspace_id: change.workspace_id,
        deployment_id: change.deployment_id,
        request_id: actor.request_id.clone(),
        client_address: actor.client_address.clone(),
        before: change.before,
        after: change.after,
    }
}
