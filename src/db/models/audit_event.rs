//! `audit_events`: immutable records of changes.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::audit_events;

/// Insert form of an audit event. Events are never updated (a trigger refuses it).
#[derive(Debug, Insertable)]
#[diesel(table_name = audit_events)]
pub struct NewAuditEvent {
    /// Primary key (UUIDv7, so ids sort by time).
    pub id: Uuid,
    /// Acting user.
    pub actor_user_id: Option<Uuid>,
    /// Acting service account.
    pub actor_service_account_id: Option<Uuid>,
    /// Readable actor name at the time.
    pub actor_label: String,
    /// What happened (`user.create`, `workspace.update`, …).
    pub action: String,
    /// Kind of object changed.
    pub target_type: String,
    /// Object changed.
    pub target_id: Option<Uuid>,
    /// Organization involved.
    pub organization_id: Option<Uuid>,
    /// Workspace involved.
    pub workspace_id: Option<Uuid>,
    /// Deployment involved.
    pub deployment_id: Option<Uuid>,
    /// Request that made the change.
    pub request_id: Option<String>,
    /// Client address of that request.
    pub client_address: Option<String>,
    /// State before, secrets removed.
    pub before: Option<serde_json::Value>,
    /// State after, secrets removed.
    pub after: Option<serde_json::Value>,
}

impl NewAuditEvent {
    /// Writes the event (in the caller's transaction).
    pub async fn insert(&self, conn: &mut AsyncPgConnection) -> QueryResult<()> {
        diesel::insert_into(audit_events::table).values(self).execute(conn).await.map(|_| ())
    }
}
