//! `workspaces`, and the topology queries implied bindings need.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::{deployments, workspaces};

/// A workspace row.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = workspaces, check_for_backend(diesel::pg::Pg))]
pub struct Workspace {
    /// Primary key.
    pub id: Uuid,
    /// Owning organization.
    pub organization_id: Uuid,
    /// Label, unique (case-insensitive) in the organization.
    pub label: String,
    /// Description.
    pub description: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Update form of [`Workspace`].
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = workspaces)]
pub struct WorkspaceChanges {
    /// New label.
    pub label: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// Set on every change.
    pub updated_at: Option<DateTime<Utc>>,
}

impl Workspace {
    /// Inserts a workspace.
    pub async fn insert(
        conn: &mut AsyncPgConnection,
        organization_id: Uuid,
        label: &str,
        description: &str,
    ) -> QueryResult<Workspace> {
        diesel::insert_into(workspaces::table)
            .values((
                workspaces::id.eq(Uuid::now_v7()),
                workspaces::organization_id.eq(organization_id),
                workspaces::label.eq(label),
                workspaces::description.eq(description),
            ))
            .returning(Workspace::as_returning())
            .get_result(conn)
            .await
    }

    /// The workspace with this id.
    pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Workspace>> {
        workspaces::table.find(id).select(Workspace::as_select()).first(conn).await.optional()
    }

    /// The workspace with this id, locked: it guards the workspace's invariants (≥ 1 admin).
    pub async fn find_for_update(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Workspace>> {
        workspaces::table.find(id).select(Workspace::as_select()).for_update().first(conn).await.optional()
    }

    /// The workspaces with these ids (all of them when `ids` is `None`), by label, at most `limit`.
    pub async fn list(conn: &mut AsyncPgConnection, ids: Option<&[Uuid]>, limit: i64) -> QueryResult<Vec<Workspace>> {
        let mut query = workspaces::table
            .select(Workspace::as_select())
            .order((workspaces::label, workspaces::id))
            .limit(limit)
            .into_boxed();
        if let Some(ids) = ids {
            query = query.filter(workspaces::id.eq_any(ids.to_vec()));
        }
        query.load(conn).await
    }

    /// The workspaces with these ids or in these organizations, by label, at most `limit`.
    pub async fn with_ids_or_in(
        conn: &mut AsyncPgConnection,
        ids: &[Uuid],
        organizations: &[Uuid],
        limit: i64,
    ) -> QueryResult<Vec<Workspace>> {
        workspaces::table
            .filter(workspaces::id.eq_any(ids).or(workspaces::organization_id.eq_any(organizations)))
            .select(Workspace::as_select())
            .order((workspaces::label, workspaces::id))
            .limit(limit)
            .load(conn)
            .await
    }

    /// Applies `changes`.
    pub async fn update(conn: &mut AsyncPgConnection, id: Uuid, changes: &WorkspaceChanges) -> QueryResult<Workspace> {
        diesel::update(workspaces::table.find(id))
            .set(changes)
            .returning(Workspace::as_returning())
            .get_result(conn)
            .await
    }

    /// Deletes the workspace and (first) its soft-deleted deployments.
    pub async fn delete(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
        diesel::delete(
            deployments::table.filter(deployments::workspace_id.eq(id)).filter(deployments::deleted_at.is_not_null()),
        )
        .execute(conn)
        .await?;
        diesel::delete(workspaces::table.find(id)).execute(conn).await.map(|_| ())
    }

    /// Number of live deployments in the workspace.
    pub async fn live_deployment_count(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<i64> {
        deployments::table
            .filter(deployments::workspace_id.eq(id))
            .filter(deployments::deleted_at.is_null())
            .count()
            .get_result(conn)
            .await
    }
}

/// Whether `object` exists (a deployment: and is not soft-deleted): one statement; always true for the
/// installation.
pub async fn is_live(conn: &mut AsyncPgConnection, object: crate::rbac::ScopeRef) -> QueryResult<bool> {
    use crate::db::schema::{deployments, organizations, workspaces};
    use crate::rbac::ScopeRef;
    use diesel::dsl::exists;
    let query = match object {
        ScopeRef::System => return Ok(true),
        ScopeRef::Organization(id) => diesel::select(exists(organizations::table.find(id))).into_boxed(),
        ScopeRef::Workspace(id) => diesel::select(exists(workspaces::table.find(id))).into_boxed(),
        ScopeRef::Deployment(id) => {
            diesel::select(exists(deployments::table.find(id).filter(deployments::deleted_at.is_null()))).into_boxed()
        }
    };
    query.get_result(conn).await
}

/// The ancestry of each of `ids` that is a workspace or a deployment (live or soft-deleted): one statement.
/// Workspaces never leave their organization and deployments never leave their workspace, so an ancestry,
/// once read, stays true.
pub async fn ancestry(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<crate::rbac::Ancestry>> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        organization_id: Uuid,
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        workspace_id: Uuid,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
        deployment_id: Option<Uuid>,
    }
    use diesel::sql_types::{Array, Uuid as SqlUuid};
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT w.organization_id, w.id AS workspace_id, NULL::uuid AS deployment_id FROM workspaces w \
         WHERE w.id = ANY($1) \
         UNION ALL \
         SELECT w.organization_id, w.id, d.id FROM deployments d JOIN workspaces w ON w.id = d.workspace_id \
         WHERE d.id = ANY($1)",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| crate::rbac::Ancestry {
            organization: Some(row.organization_id),
            workspace: Some(row.workspace_id),
            deployment: row.deployment_id,
        })
        .collect())
}

/// Which of `ids` are live deployments of `workspace_id`.
pub async fn live_deployments_in(
    conn: &mut AsyncPgConnection,
    workspace_id: Uuid,
    ids: &[Uuid],
) -> QueryResult<Vec<Uuid>> {
    deployments::table
        .filter(deployments::workspace_id.eq(workspace_id))
        .filter(deployments::deleted_at.is_null())
        .filter(deployments::id.eq_any(ids))
        .select(deployments::id)
        .load(conn)
        .await
}
