//! Clusters: where deployments run. STANDARD clusters are shared by every organization and managed by
//! system admins; DEDICATED ones belong to one organization, are managed by its owners, and can be limited
//! to chosen workspaces of it (`workspaceAllowCluster`); `createDeployment` honours the limit.

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::json;
use uuid::Uuid;

use crate::db::models::deployment::{ClusterChanges, NewCluster};
use crate::db::models::workspace::Workspace;
use crate::domain::audit::{self, Change};
use crate::domain::{Actor, validate};
use crate::error::{ApiError, ApiResult};

pub use crate::db::models::deployment::Cluster;

/// Audit snapshot of a cluster.
pub fn snapshot(cluster: &Cluster) -> serde_json::Value {
    json!({
        "id": cluster.id, "name": cluster.name, "type": cluster.kind, "organizationId": cluster.organization_id,
        "provider": cluster.provider, "region": cluster.region, "baseDomain": cluster.base_domain,
        "restrictedToWorkspaces": cluster.restricted_to_workspaces, "namespaces": cluster.namespaces,
    })
}

fn name_conflict(error: diesel::result::Error) -> ApiError {
    use diesel::result::{DatabaseErrorKind, Error};
    match &error {
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
            if info.constraint_name() == Some("clusters_name_key") =>
        {
            ApiError::conflict("A cluster with this name already exists")
        }
        _ => ApiError::from(error),
    }
}

fn short(field: &str, value: &str) -> ApiResult<String> {
    let value = value.trim();
    if value.len() > 64 || value.chars().any(char::is_control) {
        return Err(ApiError::bad_input(field, format!("{field} must be at most 64 printable characters")));
    }
    Ok(value.to_owned())
}

/// Most namespaces a cluster's pool may hold.
pub const MAX_POOL: usize = 1000;

/// A namespace pool as sent: each entry a Kubernetes namespace name (a DNS label: lower-case letters,
/// digits and `-`, starting with a letter, at most 63 characters), at most [`MAX_POOL`] of them;
/// duplicates are dropped, order is kept. BAD_USER_INPUT naming `namespaces` otherwise.
pub fn namespace_pool(namespaces: &[String]) -> ApiResult<Vec<String>> {
    if namespaces.len() > MAX_POOL {
        return Err(ApiError::bad_input("namespaces", format!("A cluster holds at most {MAX_POOL} namespaces")));
    }
    let mut pool: Vec<String> = Vec::with_capacity(namespaces.len());
    for namespace in namespaces {
        let namespace = namespace.trim();
        if !crate::domain::deployments::valid_release_name(namespace) {
            return Err(ApiError::bad_input(
                "namespaces",
                format!(
                    "{namespace:?} is not a namespace name: lower-case letters, digits and '-', starting with a letter, at most 63 characters"
                ),
            ));
        }
        if !pool.iter().any(|n| n == namespace) {
            pool.push(namespace.to_owned());
        }
    }
    Ok(pool)
}

/// A new cluster.
#[derive(Debug, Clone)]
pub struct NewClusterRequest {
    /// Name, unique in the installation.
    pub name: String,
    /// `DEDICATED` when `organization_id` is given, else `STANDARD`.
    pub organization_id: Option<Uuid>,
    /// Cloud provider.
    pub provider: String,
    /// Region.
    pub region: String,
    /// Base domain of its deployments' URLs (default `localhost`).
    pub base_domain: Option<String>,
    /// Namespaces pre-created for deployments (see [`namespace_pool`]).
    pub namespaces: Vec<String>,
}

/// Creates a cluster: dedicated to `organization_id` when one is named, otherwise standard.
pub async fn create(conn: &mut AsyncPgConnection, request: NewClusterRequest, actor: &Actor) -> ApiResult<Cluster> {
    let new = NewCluster {
        id: Uuid::now_v7(),
        name: validate::label("name", &request.name, validate::MAX_LABEL)?,
        kind: if request.organization_id.is_some() { "DEDICATED" } else { "STANDARD" },
        organization_id: request.organization_id,
        base_domain: validate::label("baseDomain", request.base_domain.as_deref().unwrap_or("localhost"), 255)?,
        provider: short("provider", &request.provider)?,
        region: short("region", &request.region)?,
        namespaces: namespace_pool(&request.namespaces)?,
    };
    conn.transaction(async |tx| {
        if let Some(id) = new.organization_id {
            crate::db::models::organization::Organization::find(tx, id).await?.ok_or(ApiError::NotFound)?;
        }
        let cluster = Cluster::insert(tx, &new).await.map_err(name_conflict)?;
        audit::record(
            tx,
            actor,
            Change {
                action: "cluster.create",
                target_type: "cluster",
                target_id: Some(cluster.id),
                organization_id: cluster.organization_id,
                after: Some(snapshot(&cluster)),
                ..Change::default()
            },
        )
        .await?;
        Ok(cluster)
    })
    .await
}

/// The cluster, or NOT_FOUND.
pub async fn get(conn: &mut AsyncPgConnection, id: Uuid) -> ApiResult<Cluster> {
    Cluster::find_many(conn, &[id]).await?.into_iter().next().ok_or(ApiError::NotFound)
}

/// Clusters by id (one statement).
pub async fn find_many(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> ApiResult<Vec<Cluster>> {
    Ok(Cluster::find_many(conn, ids).await?)
}

/// Changes to a cluster.
#[derive(Debug, Clone, Default)]
pub struct ClusterUpdate {
    /// New name.
    pub name: Option<String>,
    /// New provider.
    pub provider: Option<String>,
    /// New region.
    pub region: Option<String>,
    /// New base domain.
    pub base_domain: Option<String>,
    /// New namespace pool (replaces the old one).
    pub namespaces: Option<Vec<String>>,
}

/// Applies `update` to cluster `id`.
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    update: ClusterUpdate,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<Cluster> {
    let changes = ClusterChanges {
        name: update.name.as_deref().map(|n| validate::label("name", n, validate::MAX_LABEL)).transpose()?,
        provider: update.provider.as_deref().map(|p| short("provider", p)).transpose()?,
        region: update.region.as_deref().map(|r| short("region", r)).transpose()?,
        base_domain: update.base_domain.as_deref().map(|d| validate::label("baseDomain", d, 255)).transpose()?,
        restricted_to_workspaces: None,
        namespaces: update.namespaces.as_deref().map(namespace_pool).transpose()?,
        updated_at: Some(now),
    };
    conn.transaction(async |tx| {
        let before = Cluster::find_for_update(tx, id).await?.ok_or(ApiError::NotFound)?;
        let after = Cluster::update(tx, id, &changes).await.map_err(name_conflict)?;
        audit::record(
            tx,
            actor,
            Change {
                action: "cluster.update",
                target_type: "cluster",
                target_id: Some(id),
                organization_id: after.organization_id,
                before: Some(snapshot(&before)),
                after: Some(snapshot(&after)),
                ..Change::default()
            },
        )
        .await?;
        Ok(after)
    })
    .await
}

/// Deletes a cluster; CONFLICT while live deployments run on it.
pub async fn delete(conn: &mut AsyncPgConnection, id: Uuid, actor: &Actor) -> ApiResult<Cluster> {
    conn.transaction(async |tx| {
        let cluster = Cluster::find_for_update(tx, id).await?.ok_or(ApiError::NotFound)?;
        if Cluster::live_deployment_count(tx, id).await? > 0 {
            return Err(ApiError::conflict("Live deployments run on this cluster; delete or move them first"));
        }
        Cluster::delete(tx, id).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "cluster.delete",
                target_type: "cluster",
                target_id: Some(id),
                organization_id: cluster.organization_id,
                before: Some(snapshot(&cluster)),
                ..Change::default()
            },
        )
        .await?;
        Ok(cluster)
    })
    .await
}

/// Lets a workspace of the cluster's organization use a dedicated cluster (`allow`), or stops it
/// (`!allow`). Either way the cluster is from then on limited to the workspaces on its list. A standard
/// cluster is BAD_USER_INPUT; a workspace of another organization is NOT_FOUND.
pub async fn set_workspace_access(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    workspace_id: Uuid,
    allow: bool,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<Cluster> {
    conn.transaction(async |tx| {
        let cluster = Cluster::find_for_update(tx, id).await?.ok_or(ApiError::NotFound)?;
        let Some(organization_id) = cluster.organization_id else {
            return Err(ApiError::bad_input(
                "clusterUuid",
                "Standard clusters are shared by every workspace; only dedicated ones are limited",
            ));
        };
        let workspace = Workspace::find(tx, workspace_id).await?.ok_or(ApiError::NotFound)?;
        if workspace.organization_id != organization_id {
            return Err(ApiError::NotFound);
        }
        if allow {
            Cluster::allow(tx, id, workspace_id).await?;
        } else {
            Cluster::disallow(tx, id, workspace_id).await?;
        }
        let restricted =
            ClusterChanges { restricted_to_workspaces: Some(true), updated_at: Some(now), ..ClusterChanges::default() };
        let after = Cluster::update(tx, id, &restricted).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: if allow { "cluster.workspace.allow" } else { "cluster.workspace.disallow" },
                target_type: "cluster",
                target_id: Some(id),
                organization_id: Some(organization_id),
                workspace_id: Some(workspace_id),
                before: Some(snapshot(&cluster)),
                after: Some(snapshot(&after)),
                ..Change::default()
            },
        )
        .await?;
        Ok(after)
    })
    .await
}

/// `(cluster, workspace)` for the workspaces listed on these clusters (one statement).
pub async fn allowed_workspaces(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> ApiResult<Vec<(Uuid, Uuid)>> {
    Ok(Cluster::allowed_workspaces(conn, ids).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_keeps_order_drops_duplicates_and_refuses_bad_names() {
        let names = |list: &[&str]| list.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        assert_eq!(namespace_pool(&names(&["b", " a ", "b"])).ok(), Some(names(&["b", "a"])));
        for bad in ["", "Team", "team_a", "-a", "a-", &"a".repeat(64)] {
            assert!(namespace_pool(&names(&[bad])).is_err(), "{bad:?} accepted");
        }
        assert!(namespace_pool(&vec!["a".to_owned(); MAX_POOL + 1]).is_err(), "too many");
    }
}
