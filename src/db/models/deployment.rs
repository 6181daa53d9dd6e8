//! `deployments` and `clusters`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::{cluster_workspaces, clusters, deployments};

/// A deployment row.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = deployments, check_for_backend(diesel::pg::Pg))]
pub struct Deployment {
    /// Primary key.
    pub id: Uuid,
    /// Workspace (never changes).
    pub workspace_id: Uuid,
    /// Cluster it runs on.
    pub cluster_id: Uuid,
    /// Label, unique among the workspace's live deployments.
    pub label: String,
    /// Description.
    pub description: String,
    /// Release name, unique for ever (DNS label).
    pub release_name: String,
    /// Kubernetes namespace.
    pub namespace: String,
    /// Platform (chart) version.
    pub version: String,
    /// Airflow version.
    pub airflow_version: String,
    /// Runtime version.
    pub runtime_version: Option<String>,
    /// Runtime version requested, for the infrastructure layer to act on.
    pub desired_runtime_version: Option<String>,
    /// Airflow version requested.
    pub desired_airflow_version: Option<String>,
    /// `CeleryExecutor`, `KubernetesExecutor` or `LocalExecutor`.
    pub executor: String,
    /// `SMALL`, `MEDIUM` or `LARGE`.
    pub scheduler_size: String,
    /// Scheduler replicas.
    pub scheduler_replicas: i32,
    /// Minimum workers.
    pub worker_min: i32,
    /// Maximum workers.
    pub worker_max: i32,
    /// Tasks per worker.
    pub worker_concurrency: i32,
    /// High availability.
    pub high_availability: bool,
    /// Only service accounts may deploy.
    pub enforce_cicd: bool,
    /// DAG-only deploys allowed.
    pub dag_deploy_enabled: bool,
    /// Triggerer replicas.
    pub triggerer_replicas: i32,
    /// Houston's free-form config.
    pub config: serde_json::Value,
    /// Houston's free-form properties.
    pub properties: serde_json::Value,
    /// Status reported by the infrastructure layer.
    pub status: String,
    /// `helm` or `operator`.
    pub mode: String,
    /// Creator.
    pub created_by: Option<Uuid>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Soft-deletion time.
    pub deleted_at: Option<DateTime<Utc>>,
    /// Revision of the newest deploy (0 before the first one); kept by a trigger on `deploys`.
    pub deploy_revision: i32,
    /// Image tag of the newest image deploy (`deployInfo.current`).
    pub deploy_image_tag: Option<String>,
    /// When an ephemeral deployment deletes itself (docs/ephemeral-deployments.md).
    pub expires_at: Option<DateTime<Utc>>,
    /// A development deployment: only these may hibernate.
    pub is_development_mode: bool,
    /// Cron expression (5 fields) at which it hibernates.
    pub hibernate_at_cron: Option<String>,
    /// Cron expression (5 fields) at which it wakes.
    pub wake_at_cron: Option<String>,
    /// IANA time zone the cron expressions are read in.
    pub hibernation_time_zone: Option<String>,
    /// Override: hibernating until then, whatever the schedule says.
    pub hibernate_until: Option<DateTime<Utc>>,
    /// Override: awake until then, whatever the schedule says.
    pub awake_until: Option<DateTime<Utc>>,
    /// Whether it is hibernating now.
    pub is_hibernating: bool,
    /// When the sweeper next looks at its hibernation (null: no schedule or override).
    pub hibernation_due_at: Option<DateTime<Utc>>,
}

/// Insert form of [`Deployment`].
#[derive(Debug, Insertable)]
#[diesel(table_name = deployments)]
pub struct NewDeployment {
    /// Primary key.
    pub id: Uuid,
    /// Workspace.
    pub workspace_id: Uuid,
    /// Cluster.
    pub cluster_id: Uuid,
    /// Label.
    pub label: String,
    /// Description.
    pub description: String,
    /// Release name.
    pub release_name: String,
    /// Namespace.
    pub namespace: String,
    /// Platform version.
    pub version: String,
    /// Airflow version.
    pub airflow_version: String,
    /// Runtime version.
    pub runtime_version: Option<String>,
    /// Executor.
    pub executor: String,
    /// Scheduler size.
    pub scheduler_size: String,
    /// Scheduler replicas.
    pub scheduler_replicas: i32,
    /// Minimum workers.
    pub worker_min: i32,
    /// Maximum workers.
    pub worker_max: i32,
    /// Tasks per worker.
    pub worker_concurrency: i32,
    /// High availability.
    pub high_availability: bool,
    /// CI/CD enforcement.
    pub enforce_cicd: bool,
    /// DAG-only deploys.
    pub dag_deploy_enabled: bool,
    /// Free-form config.
    pub config: serde_json::Value,
    /// Free-form properties.
    pub properties: serde_json::Value,
    /// `helm` or `operator`.
    pub mode: String,
    /// Status until the infrastructure layer reports one.
    pub status: String,
    /// Creator.
    pub created_by: Option<Uuid>,
    /// Expiry of an ephemeral deployment.
    pub expires_at: Option<DateTime<Utc>>,
    /// Development deployment.
    pub is_development_mode: bool,
}

/// Update form of [`Deployment`]: `None` leaves a column unchanged.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = deployments)]
pub struct DeploymentChanges {
    /// Label.
    pub label: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Airflow version.
    pub airflow_version: Option<String>,
    /// Runtime version.
    pub runtime_version: Option<Option<String>>,
    /// Runtime version requested (`Some(None)` clears it).
    pub desired_runtime_version: Option<Option<String>>,
    /// Airflow version requested (`Some(None)` clears it).
    pub desired_airflow_version: Option<Option<String>>,
    /// Executor.
    pub executor: Option<String>,
    /// Scheduler size.
    pub scheduler_size: Option<String>,
    /// Scheduler replicas.
    pub scheduler_replicas: Option<i32>,
    /// Minimum workers.
    pub worker_min: Option<i32>,
    /// Maximum workers.
    pub worker_max: Option<i32>,
    /// Tasks per worker.
    pub worker_concurrency: Option<i32>,
    /// High availability.
    pub high_availability: Option<bool>,
    /// CI/CD enforcement.
    pub enforce_cicd: Option<bool>,
    /// DAG-only deploys.
    pub dag_deploy_enabled: Option<bool>,
    /// Free-form config.
    pub config: Option<serde_json::Value>,
    /// Soft deletion.
    pub deleted_at: Option<Option<DateTime<Utc>>>,
    /// Status.
    pub status: Option<String>,
    /// Expiry (`Some(None)` makes it permanent).
    pub expires_at: Option<Option<DateTime<Utc>>>,
    /// Hibernation cron.
    pub hibernate_at_cron: Option<Option<String>>,
    /// Wake cron.
    pub wake_at_cron: Option<Option<String>>,
    /// Time zone of the crons.
    pub hibernation_time_zone: Option<Option<String>>,
    /// Hibernate-until override.
    pub hibernate_until: Option<Option<DateTime<Utc>>>,
    /// Awake-until override.
    pub awake_until: Option<Option<DateTime<Utc>>>,
    /// Hibernating now.
    pub is_hibernating: Option<bool>,
    /// Next look of the sweeper.
    pub hibernation_due_at: Option<Option<DateTime<Utc>>>,
    /// Set on every change.
    pub updated_at: Option<DateTime<Utc>>,
}

impl Deployment {
    /// Inserts a deployment.
    pub async fn insert(conn: &mut AsyncPgConnection, new: &NewDeployment) -> QueryResult<Deployment> {
        diesel::insert_into(deployments::table).values(new).returning(Deployment::as_returning()).get_result(conn).await
    }

    /// The live deployment with this id, locked.
    pub async fn live_for_update(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Deployment>> {
        deployments::table
            .find(id)
            .filter(deployments::deleted_at.is_null())
            .select(Deployment::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()
    }

    /// Removes a deployment row for good; what hangs off it (roles, keys, variables, deploys) goes with it.
    pub async fn purge(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<usize> {
        diesel::delete(deployments::table.find(id)).execute(conn).await
    }

    /// Deletes what deployment `id` owns apart from its role bindings: its deploys, environment
    /// variables and deployment-scope service accounts (with any binding left to them), and removes it
    /// from the deployment roles that pending invites of workspace `workspace_id` carry. Each is a plain
    /// statement rather than a cascade, so that a hard delete can say what it removed.
    pub async fn delete_owned_records(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        workspace_id: Uuid,
    ) -> QueryResult<OwnedRecords> {
        use crate::db::schema::{deploys, environment_variables, service_accounts};
        let deploys = diesel::delete(deploys::table.filter(deploys::deployment_id.eq(id))).execute(conn).await?;
        let variables =
            diesel::delete(environment_variables::table.filter(environment_variables::deployment_id.eq(id)))
                .execute(conn)
                .await?;
        let service_accounts = diesel::delete(service_accounts::table.filter(service_accounts::deployment_id.eq(id)))
            .execute(conn)
            .await?;
        // Invites keep `[{"deploymentId", "role"}]`; drop this deployment's entries.
        let invites = diesel::sql_query(
            "UPDATE invites SET deployment_roles = coalesce(( \
                 SELECT jsonb_agg(e) FROM jsonb_array_elements(deployment_roles) e \
                 WHERE e->>'deploymentId' IS DISTINCT FROM $1::text), '[]'::jsonb) \
             WHERE workspace_id = $2 \
               AND deployment_roles @> jsonb_build_array(jsonb_build_object('deploymentId', $1::text))",
        )
        .bind::<diesel::sql_types::Uuid, _>(id)
        .bind::<diesel::sql_types::Uuid, _>(workspace_id)
        .execute(conn)
        .await?;
        Ok(OwnedRecords { deploys, variables, service_accounts, invites })
    }

    /// The namespaces live deployments use on cluster `cluster_id`.
    pub async fn live_namespaces_on(conn: &mut AsyncPgConnection, cluster_id: Uuid) -> QueryResult<Vec<String>> {
        deployments::table
            .filter(deployments::cluster_id.eq(cluster_id))
            .filter(deployments::deleted_at.is_null())
            .select(deployments::namespace)
            .load(conn)
            .await
    }

    /// Live deployments by id.
    pub async fn live_by_ids(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<Deployment>> {
        deployments::table
            .filter(deployments::id.eq_any(ids))
            .filter(deployments::deleted_at.is_null())
            .select(Deployment::as_select())
            .load(conn)
            .await
    }

    /// Live deployments of these workspaces (optionally one release name), by label, at most `limit`.
    pub async fn live_in_workspaces(
        conn: &mut AsyncPgConnection,
        workspace_ids: Option<&[Uuid]>,
        release_name: Option<&str>,
        limit: i64,
    ) -> QueryResult<Vec<Deployment>> {
        let mut query = deployments::table
            .filter(deployments::deleted_at.is_null())
            .select(Deployment::as_select())
            .order((deployments::label, deployments::id))
            .limit(limit)
            .into_boxed();
        if let Some(ids) = workspace_ids {
            query = query.filter(deployments::workspace_id.eq_any(ids.to_vec()));
        }
        if let Some(name) = release_name {
            query = query.filter(deployments::release_name.eq(name.to_owned()));
        }
        query.load(conn).await
    }

    /// Live deployments with these ids, or in these workspaces, or in the workspaces of these
    /// organizations; by label, at most `limit`.
    pub async fn live_with_ids_or_in(
        conn: &mut AsyncPgConnection,
        ids: &[Uuid],
        workspace_ids: &[Uuid],
        organization_ids: &[Uuid],
        limit: i64,
    ) -> QueryResult<Vec<Deployment>> {
        use crate::db::schema::workspaces;
        let in_organizations =
            workspaces::table.filter(workspaces::organization_id.eq_any(organization_ids)).select(workspaces::id);
        deployments::table
            .filter(deployments::deleted_at.is_null())
            .filter(
                deployments::id
                    .eq_any(ids)
                    .or(deployments::workspace_id.eq_any(workspace_ids))
                    .or(deployments::workspace_id.eq_any(in_organizations)),
            )
            .select(Deployment::as_select())
            .order((deployments::label, deployments::id))
            .limit(limit)
            .load(conn)
            .await
    }

    /// Applies `changes`.
    pub async fn update(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        changes: &DeploymentChanges,
    ) -> QueryResult<Deployment> {
        diesel::update(deployments::table.find(id))
            .set(changes)
            .returning(Deployment::as_returning())
            .get_result(conn)
            .await
    }

    /// Claims the live deployment whose expiry is the oldest at or before `now`, locking its row; rows
    /// another transaction holds are skipped (`FOR UPDATE SKIP LOCKED`), so concurrent sweepers never
    /// claim the same one.
    pub async fn claim_expired(conn: &mut AsyncPgConnection, now: DateTime<Utc>) -> QueryResult<Option<Deployment>> {
        deployments::table
            .filter(deployments::deleted_at.is_null())
            .filter(deployments::expires_at.le(now))
            .order((deployments::expires_at, deployments::id))
            .select(Deployment::as_select())
            .for_update()
            .skip_locked()
            .first(conn)
            .await
            .optional()
    }

    /// Claims the live deployment whose hibernation look is the oldest due at or before `now`, locking
    /// its row (`FOR UPDATE SKIP LOCKED`, as [`Deployment::claim_expired`]).
    pub async fn claim_hibernation_due(
        conn: &mut AsyncPgConnection,
        now: DateTime<Utc>,
    ) -> QueryResult<Option<Deployment>> {
        deployments::table
            .filter(deployments::deleted_at.is_null())
            .filter(deployments::hibernation_due_at.le(now))
            .order((deployments::hibernation_due_at, deployments::id))
            .select(Deployment::as_select())
            .for_update()
            .skip_locked()
            .first(conn)
            .await
            .optional()
    }

    /// Live deployments with an expiry (pending deletion).
    pub async fn pending_expiry_count(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
        deployments::table
            .filter(deployments::deleted_at.is_null())
            .filter(deployments::expires_at.is_not_null())
            .count()
            .get_result(conn)
            .await
    }

    /// Live deployments hibernating now.
    pub async fn hibernating_count(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
        deployments::table
            .filter(deployments::deleted_at.is_null())
            .filter(deployments::is_hibernating.eq(true))
            .count()
            .get_result(conn)
            .await
    }
}

/// A cluster row.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = clusters, check_for_backend(diesel::pg::Pg))]
pub struct Cluster {
    /// Primary key.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// `STANDARD` or `DEDICATED`.
    pub kind: String,
    /// Owner of a dedicated cluster.
    pub organization_id: Option<Uuid>,
    /// Whether only listed workspaces may use it.
    pub restricted_to_workspaces: bool,
    /// Base domain of its deployments' URLs.
    pub base_domain: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Cloud provider (free text: `aws`, `gcp`, `azure`, …).
    pub provider: String,
    /// Region.
    pub region: String,
    /// Namespaces an operator pre-created for deployments on this cluster, in the operator's order.
    pub namespaces: Vec<String>,
}

/// Update form of [`Cluster`].
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = clusters)]
pub struct ClusterChanges {
    /// New name.
    pub name: Option<String>,
    /// New provider.
    pub provider: Option<String>,
    /// New region.
    pub region: Option<String>,
    /// New base domain.
    pub base_domain: Option<String>,
    /// Whether only listed workspaces may use it.
    pub restricted_to_workspaces: Option<bool>,
    /// New namespace pool (replaces the old one).
    pub namespaces: Option<Vec<String>>,
    /// Set on every change.
    pub updated_at: Option<DateTime<Utc>>,
}

/// Insert form of [`Cluster`].
#[derive(Debug, Insertable)]
#[diesel(table_name = clusters)]
pub struct NewCluster {
    /// Primary key.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// `STANDARD` or `DEDICATED`.
    pub kind: &'static str,
    /// Owner of a dedicated cluster.
    pub organization_id: Option<Uuid>,
    /// Base domain.
    pub base_domain: String,
    /// Provider.
    pub provider: String,
    /// Region.
    pub region: String,
    /// Namespace pool.
    pub namespaces: Vec<String>,
}

impl Cluster {
    /// Clusters usable by a workspace of `organization_id` (id `workspace_id`): standard ones, and that
    /// organization's dedicated ones unless restricted to other workspaces.
    pub async fn usable_by(
        conn: &mut AsyncPgConnection,
        organization_id: Uuid,
        workspace_id: Uuid,
    ) -> QueryResult<Vec<Cluster>> {
        let allowed = cluster_workspaces::table
            .filter(cluster_workspaces::workspace_id.eq(workspace_id))
            .select(cluster_workspaces::cluster_id);
        clusters::table
            .filter(
                clusters::kind.eq("STANDARD").or(clusters::organization_id
                    .eq(organization_id)
                    .and(clusters::restricted_to_workspaces.eq(false).or(clusters::id.eq_any(allowed)))),
            )
            .order((clusters::kind.desc(), clusters::name))
            .select(Cluster::as_select())
            .load(conn)
            .await
    }

    /// Inserts a cluster.
    pub async fn insert(conn: &mut AsyncPgConnection, new: &NewCluster) -> QueryResult<Cluster> {
        diesel::insert_into(clusters::table).values(new).returning(Cluster::as_returning()).get_result(conn).await
    }

    /// The clusters with these ids.
    pub async fn find_many(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<Cluster>> {
        clusters::table.filter(clusters::id.eq_any(ids)).select(Cluster::as_select()).load(conn).await
    }

    /// The cluster with this id, locked.
    pub async fn find_for_update(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Cluster>> {
        clusters::table.find(id).select(Cluster::as_select()).for_update().first(conn).await.optional()
    }

    /// Applies `changes`.
    pub async fn update(conn: &mut AsyncPgConnection, id: Uuid, changes: &ClusterChanges) -> QueryResult<Cluster> {
        diesel::update(clusters::table.find(id)).set(changes).returning(Cluster::as_returning()).get_result(conn).await
    }

    /// Deletes the cluster (only soft-deleted deployments may still name it; they go with it).
    pub async fn delete(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
        diesel::delete(
            deployments::table.filter(deployments::cluster_id.eq(id)).filter(deployments::deleted_at.is_not_null()),
        )
        .execute(conn)
        .await?;
        diesel::delete(clusters::table.find(id)).execute(conn).await.map(|_| ())
    }

    /// Live deployments running on the cluster.
    pub async fn live_deployment_count(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<i64> {
        deployments::table
            .filter(deployments::cluster_id.eq(id))
            .filter(deployments::deleted_at.is_null())
            .count()
            .get_result(conn)
            .await
    }

    /// Lets `workspace_id` use the cluster; `false` if it already could.
    pub async fn allow(conn: &mut AsyncPgConnection, id: Uuid, workspace_id: Uuid) -> QueryResult<bool> {
        diesel::insert_into(cluster_workspaces::table)
            .values((cluster_workspaces::cluster_id.eq(id), cluster_workspaces::workspace_id.eq(workspace_id)))
            .on_conflict_do_nothing()
            .execute(conn)
            .await
            .map(|inserted| inserted == 1)
    }

    /// Takes `workspace_id` off the cluster's list; `false` if it was not on it.
    pub async fn disallow(conn: &mut AsyncPgConnection, id: Uuid, workspace_id: Uuid) -> QueryResult<bool> {
        diesel::delete(
            cluster_workspaces::table
                .filter(cluster_workspaces::cluster_id.eq(id))
                .filter(cluster_workspaces::workspace_id.eq(workspace_id)),
        )
        .execute(conn)
        .await
        .map(|deleted| deleted == 1)
    }

    /// `(cluster, workspace)` for the workspaces listed on these clusters.
    pub async fn allowed_workspaces(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<(Uuid, Uuid)>> {
        cluster_workspaces::table
            .filter(cluster_workspaces::cluster_id.eq_any(ids))
            .select((cluster_workspaces::cluster_id, cluster_workspaces::workspace_id))
            .load(conn)
            .await
    }

    /// Clusters visible to members of these organizations: standard ones and their dedicated ones.
    pub async fn visible_to(conn: &mut AsyncPgConnection, organization_ids: &[Uuid]) -> QueryResult<Vec<Cluster>> {
        clusters::table
            .filter(clusters::kind.eq("STANDARD").or(clusters::organization_id.eq_any(organization_ids)))
            .order((clusters::kind.desc(), clusters::name))
            .select(Cluster::as_select())
            .load(conn)
            .await
    }
}

/// How many records of each kind a hard delete removed with a deployment (counts of rows).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OwnedRecords {
    /// Deploys.
    pub deploys: usize,
    /// Environment variables.
    pub variables: usize,
    /// Deployment-scope service accounts.
    pub service_accounts: usize,
    /// Pending invites that named the deployment in their deployment roles (changed, not deleted).
    pub invites: usize,
}
