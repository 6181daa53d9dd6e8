//! The audit log: `auditEvents` (a Relay connection, newest first) and the filter it takes.

use async_graphql::{Context, InputObject, Object, Result};
use chrono::{DateTime, Utc};
use uuid::Uuid as RawUuid;

use crate::domain::audit::{self, AuditFilter};
use crate::graphql::authz::{Op, access};
use crate::graphql::context::conn;
use crate::graphql::scalars::Uuid;
use crate::graphql::types::audit::AuditEvent;
use crate::graphql::types::connection::{self, Page};

/// Which audit events to read. The object named decides who may read them: an organization's owners its
/// organization's events, a workspace's admins its workspace's (and its deployments'), system viewers all.
#[derive(InputObject, Default)]
pub struct AuditEventFilter {
    /// Events of this organization.
    pub organization_uuid: Option<Uuid>,
    /// Events of this workspace.
    pub workspace_uuid: Option<Uuid>,
    /// Events of this deployment.
    pub deployment_uuid: Option<Uuid>,
    /// Events by this user or service account.
    pub actor: Option<Uuid>,
    /// Events whose action starts with this (`deployment.` or `deployment.update`).
    pub action: Option<String>,
    /// Events at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Events before this instant.
    pub to: Option<DateTime<Utc>>,
}

impl From<AuditEventFilter> for AuditFilter {
    fn from(filter: AuditEventFilter) -> Self {
        AuditFilter {
            organization_id: filter.organization_uuid.and_then(Uuid::get),
            workspace_id: filter.workspace_uuid.and_then(Uuid::get),
            deployment_id: filter.deployment_uuid.and_then(Uuid::get),
            actor_id: filter.actor.and_then(Uuid::get),
            action: filter.action.map(|a| a.trim().to_owned()).filter(|a| !a.is_empty()),
            from: filter.from,
            to: filter.to,
        }
    }
}

/// Audit queries.
#[derive(Default)]
pub struct AuditQuery;

#[Object(guard = "Op")]
impl AuditQuery {
    /// Audit events matching the filter, newest first (a Relay connection with a keyset cursor: pages stay
    /// stable while new events are written).
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditEventFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<AuditEvent>> {
        let filter: AuditFilter = filter.unwrap_or_default().into();
        let limit = connection::page_size(first)?;
        let position: Option<(DateTime<Utc>, RawUuid)> = connection::after(after.as_deref())?;
        let had_cursor = position.is_some();
        let (rows, total) = {
            let mut conn = conn(ctx).await?;
            let rows = audit::page(&mut conn, &filter, position, limit).await?;
            (rows, audit::count(&mut conn, &filter).await?)
        };
        let admitted = access(ctx)?.admit_all(rows).await?;
        Ok(connection::page(admitted, limit, had_cursor, total, |event| {
            (connection::cursor(&(event.occurred_at, event.id)), AuditEvent::from(event))
        }))
    }
}
