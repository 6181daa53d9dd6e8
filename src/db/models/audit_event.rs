//! `audit_events`: immutable records of changes.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::audit_events;

/// A stored audit event.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = audit_events, check_for_backend(diesel::pg::Pg))]
pub struct AuditEvent {
    /// Primary key (UUIDv7).
    pub id: Uuid,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// Acting user.
    pub actor_user_id: Option<Uuid>,
    /// Acting service account.
    pub actor_service_account_id: Option<Uuid>,
    /// Readable actor name at the time.
    pub actor_label: String,
    /// What happened.
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

/// Which events to read; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Events involving this organization.
    pub organization_id: Option<Uuid>,
    /// Events involving this workspace.
    pub workspace_id: Option<Uuid>,
    /// Events involving this deployment.
    pub deployment_id: Option<Uuid>,
    /// Events by this user or service account.
    pub actor_id: Option<Uuid>,
    /// Events whose action starts with this text (`deployment.` or `deployment.update`).
    pub action: Option<String>,
    /// Events at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Events before this instant.
    pub to: Option<DateTime<Utc>>,
}

impl AuditEvent {
    /// Up to `limit` events matching `filter`, newest first, strictly after the keyset position `after`
    /// (`(occurred_at, id)` of the last event already read).
    pub async fn page(
        conn: &mut AsyncPgConnection,
        filter: &AuditFilter,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> QueryResult<Vec<AuditEvent>> {
        let mut query = filtered(filter)
            .select(AuditEvent::as_select())
            .order((audit_events::occurred_at.desc(), audit_events::id.desc()))
            .limit(limit);
        if let Some((at, id)) = after {
            query = query.filter(
                audit_events::occurred_at.lt(at).or(audit_events::occurred_at.eq(at).and(audit_events::id.lt(id))),
            );
        }
        query.load(conn).await
    }

    /// How many events match `filter`.
    pub async fn count(conn: &mut AsyncPgConnection, filter: &AuditFilter) -> QueryResult<i64> {
        filtered(filter).count().get_result(conn).await
    }

    /// The events with these ids.
    pub async fn by_ids(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<AuditEvent>> {
        audit_events::table.filter(audit_events::id.eq_any(ids)).select(AuditEvent::as_select()).load(conn).await
    }
}

fn filtered(filter: &AuditFilter) -> audit_events::BoxedQuery<'static, diesel::pg::Pg> {
    let mut query = audit_events::table.into_boxed();
    if let Some(id) = filter.organization_id {
        query = query.filter(audit_events::organization_id.eq(id));
    }
    if let Some(id) = filter.workspace_id {
        query = query.filter(audit_events::workspace_id.eq(id));
    }
    if let Some(id) = filter.deployment_id {
        query = query.filter(audit_events::deployment_id.eq(id));
    }
    if let Some(id) = filter.actor_id {
        query = query.filter(audit_events::actor_user_id.eq(id).or(audit_events::actor_service_account_id.eq(id)));
    }
    if let Some(action) = &filter.action {
        let escaped = action.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        query = query.filter(audit_events::action.like(format!("{escaped}%")));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_events::occurred_at.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(audit_events::occurred_at.lt(to));
    }
    query
}

/// Insert form of an audit event. Events are never updated (a trigger refuses it).
#[derive(Debug)]
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
    /// Writes the event (in the caller's transaction), at the statement's own clock time so that events
    /// sort in the order they were written. The workspace of a deployment event and the organization of a
    /// workspace event are filled in from the tree when the caller did not name them, so that every event
    /// can be found by the organization (and workspace) it belongs to.
    pub async fn insert(&self, conn: &mut AsyncPgConnection) -> QueryResult<()> {
        use diesel::sql_types::{Jsonb, Nullable, Text, Uuid as SqlUuid};
        diesel::sql_query(
            "INSERT INTO audit_events (id, occurred_at, actor_user_id, actor_service_account_id, actor_label, \
             action, target_type, target_id, organization_id, workspace_id, deployment_id, request_id, \
             client_address, before, after) \
             SELECT $1, clock_timestamp(), $2, $3, $4, $5, $6, $7, coalesce($8, w.organization_id), \
             coalesce($9, d.workspace_id), $10, $11, $12, $13, $14 \
             FROM (SELECT 1) AS one \
             LEFT JOIN deployments d ON d.id = $10 \
             LEFT JOIN workspaces w ON w.id = coalesce($9, d.workspace_id)",
        )
        .bind::<SqlUuid, _>(self.id)
        .bind::<Nullable<SqlUuid>, _>(self.actor_user_id)
        .bind::<Nullable<SqlUuid>, _>(self.actor_service_account_id)
        .bind::<Text, _>(&self.actor_label)
        .bind::<Text, _>(&self.action)
        .bind::<Text, _>(&self.target_type)
        .bind::<Nullable<SqlUuid>, _>(self.target_id)
        .bind::<Nullable<SqlUuid>, _>(self.organization_id)
        .bind::<Nullable<SqlUuid>, _>(self.workspace_id)
        .bind::<Nullable<SqlUuid>, _>(self.deployment_id)
        .bind::<Nullable<Text>, _>(&self.request_id)
        .bind::<Nullable<Text>, _>(&self.client_address)
        .bind::<Nullable<Jsonb>, _>(&self.before)
        .bind::<Nullable<Jsonb>, _>(&self.after)
        .execute(conn)
        .await
        .map(|_| ())
    }
}
