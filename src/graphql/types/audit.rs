//! `AuditEvent`.

use async_graphql::{Context, Json, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::domain::audit::AuditEvent as AuditEventRow;
use crate::graphql::authz::{Readable, charged_json};
use crate::graphql::scalars::Uuid;

/// An immutable record of one change (SPEC §7). Only made from an event the caller may read.
pub struct AuditEvent(Readable<AuditEventRow>);

impl From<Readable<AuditEventRow>> for AuditEvent {
    fn from(event: Readable<AuditEventRow>) -> Self {
        AuditEvent(event)
    }
}

/// Who made a change.
#[derive(SimpleObject)]
pub struct AuditActor {
    /// The acting user, if a user acted.
    pub user_id: Option<Uuid>,
    /// The acting service account, if an API key acted.
    pub service_account_id: Option<Uuid>,
    /// The actor's name at the time (username, or the key's label).
    pub label: String,
}

/// An audit event.
#[Object]
impl AuditEvent {
    /// The event's id.
    async fn id(&self) -> Uuid {
        self.0.id.into()
    }

    /// When the change was made.
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }

    /// Who made it.
    async fn actor(&self) -> AuditActor {
        AuditActor {
            user_id: self.0.actor_user_id.map(Uuid::from),
            service_account_id: self.0.actor_service_account_id.map(Uuid::from),
            label: self.0.actor_label.clone(),
        }
    }

    /// What happened, `<object>.<verb>` (`deployment.update`, `workspace.user.add`, …).
    async fn action(&self) -> &str {
        &self.0.action
    }

    /// Kind of object changed.
    async fn target_type(&self) -> &str {
        &self.0.target_type
    }

    /// The object changed.
    async fn target_id(&self) -> Option<Uuid> {
        self.0.target_id.map(Uuid::from)
    }

    /// Organization involved.
    async fn organization_id(&self) -> Option<Uuid> {
        self.0.organization_id.map(Uuid::from)
    }

    /// Workspace involved.
    async fn workspace_id(&self) -> Option<Uuid> {
        self.0.workspace_id.map(Uuid::from)
    }

    /// Deployment involved.
    async fn deployment_id(&self) -> Option<Uuid> {
        self.0.deployment_id.map(Uuid::from)
    }

    /// The request that made it (also in the logs and the `x-request-id` response header).
    async fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }

    /// The client's address.
    async fn client_address(&self) -> Option<&str> {
        self.0.client_address.as_deref()
    }

    /// The object before the change, secrets removed.
    async fn before(&self, ctx: &Context<'_>) -> Result<Option<Json<serde_json::Value>>> {
        Ok(self.0.before.as_ref().map(|value| charged_json(ctx, value)).transpose()?)
    }

    /// The object after the change, secrets removed.
    async fn after(&self, ctx: &Context<'_>) -> Result<Option<Json<serde_json::Value>>> {
        Ok(self.0.after.as_ref().map(|value| charged_json(ctx, value)).transpose()?)
    }
}
