//! Cluster mutations (the `clusters` list is with the deployment queries).

use async_graphql::{Context, Enum, Object, Result};

use crate::domain::clusters::{self, ClusterUpdate, NewClusterRequest};
use crate::error::ApiError;
use crate::graphql::authz::{Op, access};
use crate::graphql::context::{actor, conn, state};
use crate::graphql::scalars::Uuid;
use crate::graphql::types::deployment::Cluster;

/// Who a cluster serves.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ClusterType {
    /// Shared by every organization (system admins manage it).
    Standard,
    /// One organization's (its owners manage it); name the organization.
    Dedicated,
}

async fn readable(ctx: &Context<'_>, cluster: clusters::Cluster) -> Result<Cluster> {
    Ok(Cluster::from(access(ctx)?.admit_one(cluster).await?))
}

/// Cluster mutations.
#[derive(Default)]
pub struct ClusterMutation;

#[Object(guard = "Op")]
impl ClusterMutation {
    /// Creates a cluster: STANDARD (system admins) or DEDICATED to `organizationUuid` (its owners).
    /// `namespaces` is the pool of Kubernetes namespaces pre-created for its deployments
    /// (`availableNamespaces`).
    #[allow(clippy::too_many_arguments)] // one parameter per GraphQL argument
    async fn create_cluster(
        &self,
        ctx: &Context<'_>,
        name: String,
        #[graphql(name = "type")] kind: ClusterType,
        provider: Option<String>,
        region: Option<String>,
        base_domain: Option<String>,
        organization_uuid: Option<Uuid>,
        namespaces: Option<Vec<String>>,
    ) -> Result<Cluster> {
        let organization_id = organization_uuid.and_then(Uuid::get);
        match (kind, organization_id) {
            (ClusterType::Dedicated, None) => {
                return Err(ApiError::bad_input(
                    "organizationUuid",
                    "A dedicated cluster belongs to an organization: name it",
                )
                .into());
            }
            (ClusterType::Standard, Some(_)) => {
                return Err(ApiError::bad_input(
                    "organizationUuid",
                    "A standard cluster is shared: name no organization",
                )
                .into());
            }
            _ => {}
        }
        let request = NewClusterRequest {
            name,
            organization_id,
            provider: provider.unwrap_or_default(),
            region: region.unwrap_or_default(),
            base_domain,
            namespaces: namespaces.unwrap_or_default(),
        };
        let created = {
            let mut conn = conn(ctx).await?;
            clusters::create(&mut conn, request, &actor(ctx)).await?
        };
        readable(ctx, created).await
    }

    /// Changes a cluster's name, provider, region, base domain or namespace pool (`namespaces` replaces
    /// the whole pool).
    #[allow(clippy::too_many_arguments)] // one parameter per GraphQL argument
    async fn update_cluster(
        &self,
        ctx: &Context<'_>,
        cluster_uuid: Uuid,
        name: Option<String>,
        provider: Option<String>,
        region: Option<String>,
        base_domain: Option<String>,
        namespaces: Option<Vec<String>>,
    ) -> Result<Cluster> {
        let id = cluster_uuid.required("clusterUuid")?;
        let now = state(ctx)?.clock.now();
        let update = ClusterUpdate { name, provider, region, base_domain, namespaces };
        let updated = {
            let mut conn = conn(ctx).await?;
            clusters::update(&mut conn, id, update, now, &actor(ctx)).await?
        };
        readable(ctx, updated).await
    }

    /// Deletes a cluster; CONFLICT while live deployments run on it.
    async fn delete_cluster(&self, ctx: &Context<'_>, cluster_uuid: Uuid) -> Result<Cluster> {
        let id = cluster_uuid.required("clusterUuid")?;
        let deleted = {
            let mut conn = conn(ctx).await?;
            clusters::delete(&mut conn, id, &actor(ctx)).await?
        };
        readable(ctx, deleted).await
    }

    /// Lets a workspace of the cluster's organization use a dedicated cluster; from then on the cluster
    /// serves only the workspaces on its list.
    async fn workspace_allow_cluster(
        &self,
        ctx: &Context<'_>,
        cluster_uuid: Uuid,
        workspace_uuid: Uuid,
    ) -> Result<Cluster> {
        access_change(ctx, cluster_uuid, workspace_uuid, true).await
    }

    /// Takes a workspace off a dedicated cluster's list.
    async fn workspace_disallow_cluster(
        &self,
        ctx: &Context<'_>,
        cluster_uuid: Uuid,
        workspace_uuid: Uuid,
    ) -> Result<Cluster> {
        access_change(ctx, cluster_uuid, workspace_uuid, false).await
    }
}

async fn access_change(ctx: &Context<'_>, cluster: Uuid, workspace: Uuid, allow: bool) -> Result<Cluster> {
    let (cluster, workspace) = (cluster.required("clusterUuid")?, workspace.required("workspaceUuid")?);
    let now = state(ctx)?.clock.now();
    let changed = {
        let mut conn = conn(ctx).await?;
        clusters::set_workspace_access(&mut conn, cluster, workspace, allow, now, &actor(ctx)).await?
    };
    readable(ctx, changed).await
}
