//! Deployment queries and mutations, with Houston's names and arguments.

use crate::domain::memberships::RoleRequest;
use async_graphql::{Context, Json, Object, Result, SimpleObject};

use crate::domain::deployments::{self, DeploymentUpdate, NewDeploymentRequest, Policy, RoleChange, UserRef};
use crate::domain::deploys::{self, DeployKind, DeployRequest, Deployer};
use crate::domain::{catalogue, deployment_files, lifecycle};
use crate::error::ApiError;
use crate::graphql::authz::{Access, Member, Op, Readable, access, charged};
use crate::graphql::context::{actor, conn, principal, state};
use crate::graphql::payload::Payload;
use crate::graphql::scalars::{Id, Uuid};
use crate::graphql::types::deployment::{
    AllowedDeploymentModeValues, Cluster, DagDeploymentInput, Deploy, DeployType, Deployment, DeploymentSettingsInput,
    ExecutorType, Namespace, TriggererInput,
};
use crate::graphql::types::user::{RoleBinding, User};
use crate::rbac::operations::{self, FieldRule, ObjectKind};
use crate::rbac::{Permission, Role, Scope, ScopeRef};
use crate::state::AppState;

/// Who deploys: the calling service account, or the calling person.
fn deployer(ctx: &Context<'_>) -> Result<Deployer, ApiError> {
    Deployer::of(principal(ctx).as_ref())
}

fn policy(state: &AppState) -> Policy {
    Policy {
        namespace_prefix: state.config.namespace_prefix.clone(),
        manual_release_names: state.config.manual_release_names,
        worker_max_ceiling: state.config.worker_max_ceiling,
    }
}

/// A runtime release of the catalogue.
#[derive(SimpleObject)]
pub struct RuntimeRelease {
    /// Runtime version.
    pub version: String,
    /// The Airflow version it ships.
    pub airflow_version: String,
    /// Whether upgrading to it migrates the Airflow database.
    pub airflow_database_migrations: bool,
}

/// What deployments can be made of, so a client can build a form.
#[derive(SimpleObject)]
pub struct DeploymentConfig {
    /// Executors.
    pub executors: Vec<ExecutorType>,
    /// Scheduler sizes.
    pub scheduler_sizes: Vec<String>,
    /// Lowest and highest scheduler replicas.
    pub scheduler_replicas: Vec<i32>,
    /// Highest `workerMax`.
    pub worker_max: i32,
    /// Lowest and highest `workerConcurrency`.
    pub worker_concurrency: Vec<i32>,
    /// Runtime releases, oldest first.
    pub runtime_releases: Vec<RuntimeRelease>,
    /// The runtime version new deployments get.
    pub default_runtime_version: String,
    /// The Airflow version new deployments get.
    pub default_airflow_version: String,
    /// SPEC defaults of every setting.
    pub defaults: Json<serde_json::Value>,
}

fn releases(airflow_version: Option<&str>) -> Vec<RuntimeRelease> {
    catalogue::RUNTIME_RELEASES
        .iter()
        .filter(|r| airflow_version.is_none_or(|v| v.is_empty() || r.airflow_version == v))
        .map(|r| RuntimeRelease {
            version: r.version.into(),
            airflow_version: r.airflow_version.into(),
            airflow_database_migrations: r.airflow_database_migrations,
        })
        .collect()
}

/// Deployment queries.
#[derive(Default)]
pub struct DeploymentQuery;

/// Deployments the caller may read, from rows loaded for it.
async fn readable(access: &Access, rows: Vec<deployments::Deployment>) -> Result<Vec<Deployment>> {
    Ok(access.admit_all(rows).await?.into_iter().map(Deployment::from).collect())
}

/// A deployment the guard already authorized (a mutation's result), read as the caller.
async fn written(ctx: &Context<'_>, row: deployments::Deployment) -> Result<Deployment> {
    Ok(Deployment::from(access(ctx)?.admit_one(row).await?))
}

#[Object(guard = "Op")]
impl DeploymentQuery {
    /// Live deployments of a workspace, optionally the one with `releaseName`.
    async fn workspace_deployments(
        &self,
        ctx: &Context<'_>,
        workspace_uuid: Uuid,
        release_name: Option<String>,
    ) -> Result<Vec<Deployment>> {
        let id = workspace_uuid.required("workspaceUuid")?;
        let mut conn = conn(ctx).await?;
        let name = release_name.filter(|n| !n.is_empty());
        let rows = deployments::list(&mut conn, Some(&[id]), name.as_deref(), state(ctx)?.config.list_cap).await?;
        drop(conn);
        readable(access(ctx)?, rows).await
    }

    /// One live deployment of a workspace, by release name.
    async fn workspace_deployment(
        &self,
        ctx: &Context<'_>,
        workspace_uuid: Uuid,
        release_name: String,
    ) -> Result<Deployment> {
        let id = workspace_uuid.required("workspaceUuid")?;
        let mut conn = conn(ctx).await?;
        let rows = deployments::list(&mut conn, Some(&[id]), Some(&release_name), 1).await?;
        drop(conn);
        Ok(readable(access(ctx)?, rows).await?.into_iter().next().ok_or(ApiError::NotFound)?)
    }

    /// Every live deployment of the installation.
    async fn deployments(&self, ctx: &Context<'_>) -> Result<Vec<Deployment>> {
        let mut conn = conn(ctx).await?;
        let rows = deployments::list(&mut conn, None, None, state(ctx)?.config.list_cap).await?;
        drop(conn);
        readable(access(ctx)?, rows).await
    }

    /// The catalogue and limits deployments are made from.
    async fn deployment_config(&self, ctx: &Context<'_>) -> Result<DeploymentConfig> {
        let default = catalogue::default_release();
        Ok(DeploymentConfig {
            executors: vec![
                ExecutorType::CeleryExecutor,
                ExecutorType::KubernetesExecutor,
                ExecutorType::LocalExecutor,
            ],
            scheduler_sizes: catalogue::SCHEDULER_SIZES.iter().map(|s| (*s).to_owned()).collect(),
            scheduler_replicas: vec![catalogue::SCHEDULER_REPLICAS.0, catalogue::SCHEDULER_REPLICAS.1],
            worker_max: state(ctx)?.config.worker_max_ceiling,
            worker_concurrency: vec![catalogue::WORKER_CONCURRENCY.0, catalogue::WORKER_CONCURRENCY.1],
            runtime_releases: releases(None),
            default_runtime_version: default.version.into(),
            default_airflow_version: default.airflow_version.into(),
            defaults: Json(serde_json::json!({
                "executor": "CeleryExecutor", "schedulerSize": "SMALL", "schedulerReplicas": 1, "workerMin": 0,
                "workerMax": 10, "workerConcurrency": 5, "highAvailability": false, "enforceCicd": false,
                "dagDeployEnabled": false,
            })),
        })
    }

    /// The runtime catalogue, optionally for one Airflow version.
    async fn runtime_releases(
        &self,
        airflow_version: Option<String>,
        #[graphql(name = "clusterId")] _cluster_id: Option<Uuid>,
    ) -> Vec<RuntimeRelease> {
        releases(airflow_version.as_deref())
    }

    /// One live deployment by id (Houston's `deployment(where: {id})`).
    async fn deployment(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "where")] filter: DeploymentWhereUniqueInput,
    ) -> Result<Option<Deployment>> {
        let id: uuid::Uuid =
            filter.id.trim().parse().map_err(|_| ApiError::bad_input("where.id", "id must be a UUID"))?;
        let mut conn = conn(ctx).await?;
        // Null for a deployment that is not live, as Houston answered: only callers who may read it
        // (or every deployment) get this far; the guard answers FORBIDDEN to everyone else.
        let row = match deployments::get(&mut conn, id).await {
            Ok(row) => row,
            Err(ApiError::NotFound) => return Ok(None),
            Err(other) => return Err(other.into()),
        };
        drop(conn);
        written(ctx, row).await.map(Some)
    }

    /// A page of the deployments the caller can see (all of them with `system.deployments.get`),
    /// optionally filtered by `name` (label or release name, case-insensitive) and cluster: `take` after
    /// the deployment `cursor`, or with a negative `take` the `|take|` just before it (same order); without
    /// a cursor, page `pageNumber` (from 1).
    async fn paginated_deployments(
        &self,
        ctx: &Context<'_>,
        take: Option<i32>,
        name: Option<String>,
        cursor: Option<Uuid>,
        page_number: Option<i32>,
        cluster_id: Option<Uuid>,
    ) -> Result<Vec<Deployment>> {
        let state = state(ctx)?;
        let access = access(ctx)?;
        let sees_all = access.allows(FieldRule::AllDeployments.permissions(), crate::rbac::Ancestry::SYSTEM).await?;
        let mut conn = conn(ctx).await?;
        // Everyone else: the deployments their bindings name, those of their workspaces and those of the
        // organizations they own; each is then admitted by its own read rule.
        let all = if sees_all {
            deployments::list(&mut conn, None, None, state.config.list_cap).await?
        } else {
            let reach = access.reach()?;
            let limit = state.config.list_cap;
            deployments::with_ids_or_in(
                &mut conn,
                &reach.deployments,
                &reach.workspaces,
                &reach.owned_organizations,
                limit,
            )
            .await?
        };
        drop(conn);
        let name = name.map(|n| n.trim().to_lowercase()).filter(|n| !n.is_empty());
        let cluster = cluster_id.and_then(Uuid::get);
        let cursor = cursor.and_then(Uuid::get);
        // Only the page counts against the reply budget: it is all the reply holds.
        let kept = access
            .admit_kept(all, |all| {
                let visible: Vec<Deployment> = all
                    .into_iter()
                    .map(Deployment::from)
                    .filter(|d| name.as_ref().is_none_or(|n| d.matches_name(n)))
                    .filter(|d| cluster.is_none_or(|c| d.cluster() == c))
                    .collect();
                let position = cursor.and_then(|c| visible.iter().position(|d| d.uuid() == c));
                if position.is_none() && take == Some(-1) {
                    // `astro deployment list --all` sends `take: -1` and no cursor: every deployment.
                    visible
                } else if position.is_some() || take.is_some_and(|t| t < 0) {
                    // The CLI's pager moves by cursor (backwards with a negative `take`); older clients by
                    // page number.
                    crate::graphql::teams::houston_page(visible, position, take)
                } else {
                    crate::graphql::workspaces::page(visible, take, page_number)
                }
            })
            .await?;
        Ok(kept)
    }

    /// Airflow logs: capcom keeps none yet, so this answers NOT_SUPPORTED.
    async fn logs(
        &self,
        #[graphql(name = "deploymentUuid")] _deployment_uuid: Uuid,
        #[graphql(name = "component")] _component: Option<String>,
        #[graphql(name = "timestamp")] _timestamp: Option<chrono::DateTime<chrono::Utc>>,
        #[graphql(name = "search")] _search: Option<String>,
    ) -> Result<Vec<DeploymentLog>> {
        Err(logs_not_supported().into())
    }

    /// Users holding a role directly on the deployment, optionally only those matching `user` (empty
    /// fields are ignored), by username.
    async fn deployment_users(
        &self,
        ctx: &Context<'_>,
        deployment_id: Id,
        user: Option<crate::graphql::workspaces::UserSearch>,
    ) -> Result<Vec<User>> {
        let id = deployment_id.required("deploymentId")?;
        let mut conn = conn(ctx).await?;
        let deployment = deployments::get(&mut conn, id).await?;
        let users = deployments::users(&mut conn, id, &user.into()).await?;
        drop(conn);
        let access = access(ctx)?;
        let via = access.ancestry_of(ScopeRef::Deployment(deployment.id)).await?;
        let members = users.into_iter().map(|user| Member { user, via }).collect();
        User::list(ctx, access.admit_all(members).await?).await
    }

    /// The namespaces of a cluster's pool that no live deployment uses, in the operator's order (empty when
    /// the cluster has no pool). FORBIDDEN alike for a cluster the caller may not read and for one that does
    /// not exist (NOT_FOUND for the latter only to callers who may read every cluster).
    async fn available_namespaces(&self, ctx: &Context<'_>, cluster_id: Uuid) -> Result<Vec<Namespace>> {
        let id = cluster_id.required("clusterId")?;
        let access = access(ctx)?;
        let found = {
            let mut conn = conn(ctx).await?;
            deployments::cluster(&mut conn, id).await
        };
        let cluster = match found {
            Ok(cluster) => cluster,
            // Absence answers as a refusal would: another organization's cluster is not told apart.
            Err(ApiError::NotFound) => {
                return Err(access.absent(operations::read_rule(ObjectKind::Cluster, Scope::System)).into());
            }
            Err(error) => return Err(error.into()),
        };
        // The answer is about the cluster: only those who may read it get it, and the pool is read only
        // then (the same statements whether the cluster is absent or unreadable).
        let cluster = access.admit_one(cluster).await?.into_inner();
        let free = {
            let mut conn = conn(ctx).await?;
            deployments::available_namespaces(&mut conn, &cluster).await?
        };
        Ok(free.into_iter().map(|name| Namespace { name }).collect())
    }

    /// The deployment's whole declared state as a deployment file (docs/deployment-file.md), in `format`
    /// (default YAML): settings, environment variables (secrets by key, never their value), development
    /// mode and hibernation schedule and, for callers who may read the deployment's members, user and
    /// team roles. Applying it unchanged with
    /// `applyDeploymentFile` changes nothing.
    async fn deployment_file(
        &self,
        ctx: &Context<'_>,
        deployment_uuid: Uuid,
        #[graphql(default_with = "DeploymentFileFormat::Yaml")] format: DeploymentFileFormat,
    ) -> Result<String> {
        let id = deployment_uuid.required("deploymentUuid")?;
        let access = access(ctx)?;
        let at = access.ancestry_of(ScopeRef::Deployment(id)).await?;
        // Roles are the deployment's members: only those who may read them get the section.
        let with_roles = access.allows(&[Permission::DeploymentUsersGet, Permission::SystemUsersGet], at).await?;
        let mut conn = conn(ctx).await?;
        let file = deployment_files::export(&mut conn, id, with_roles).await?;
        drop(conn);
        let format = match format {
            DeploymentFileFormat::Yaml => deployment_files::Format::Yaml,
            DeploymentFileFormat::Json => deployment_files::Format::Json,
        };
        let rendered = deployment_files::render(&file, format)?;
        access.charge_bytes(rendered.len())?;
        Ok(rendered)
    }

    /// Clusters the caller's organizations may use.
    async fn clusters(&self, ctx: &Context<'_>) -> Result<Vec<Cluster>> {
        let access = access(ctx)?;
        let organizations = access.reach()?.organizations;
        let mut conn = conn(ctx).await?;
        let rows = deployments::clusters(&mut conn, &organizations).await?;
        drop(conn);
        Ok(access.admit_all(rows).await?.into_iter().map(Cluster::from).collect())
    }
}

/// Deployment mutations.
#[derive(Default)]
pub struct DeploymentMutation;

#[Object(guard = "Op")]
impl DeploymentMutation {
    /// Creates a deployment with SPEC defaults for everything not given; the caller becomes its
    /// DEPLOYMENT_ADMIN. The release name is generated unless the operator allows manual names.
    /// `expiresAt` (future, at most 720 hours ahead) or `ttlHours` (1..=720), not both, make it ephemeral:
    /// it deletes itself then (docs/ephemeral-deployments.md). `isDevelopmentMode` (default false, fixed
    /// at creation) lets it hibernate (docs/hibernation.md).
    #[allow(clippy::too_many_arguments)]
    async fn create_deployment(
        &self,
        ctx: &Context<'_>,
        workspace_uuid: Uuid,
        label: String,
        description: Option<String>,
        #[graphql(name = "type")] _kind: Option<String>,
        #[graphql(name = "version")] runtime_version: Option<String>,
        airflow_version: Option<String>,
        executor: Option<ExecutorType>,
        config: Option<Json<serde_json::Value>>,
        properties: Option<Json<serde_json::Value>>,
        release_name: Option<String>,
        cluster_uuid: Option<Uuid>,
        settings: Option<DeploymentSettingsInput>,
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
        ttl_hours: Option<i32>,
        is_development_mode: Option<bool>,
    ) -> Result<Deployment> {
        let workspace_id = workspace_uuid.required("workspaceUuid")?;
        let state = state(ctx)?;
        let expires_at = lifecycle::expiry(expires_at, ttl_hours, state.clock.now())?;
        let mut settings: deployments::Settings = settings.into();
        if settings.executor.is_none() {
            settings.executor = executor.map(|e| e.as_str().to_owned());
        }
        let request = NewDeploymentRequest {
            workspace_id,
            label,
            description,
            release_name,
            runtime_version,
            airflow_version,
            cluster_id: cluster_uuid.and_then(Uuid::get),
            namespace: None,
            settings,
            config: config.map(|c| c.0),
            properties: properties.map(|p| p.0),
            expires_at,
            is_development_mode: is_development_mode.unwrap_or(false),
        };
        let authority = access(ctx)?.authority()?;
        let mut conn = conn(ctx).await?;
        let created = deployments::create(&mut conn, request, &policy(state), &authority, &actor(ctx)).await?;
        drop(conn);
        // The creator now administers it: read the result with that role.
        access(ctx)?.reload().await?;
        written(ctx, created).await
    }

    /// Changes a deployment: `payload` may hold `label` and `description`; `settings` the typed settings;
    /// `config` Houston's JSON (its `executor` is honoured).
    async fn update_deployment(
        &self,
        ctx: &Context<'_>,
        deployment_uuid: Uuid,
        payload: Option<Json<serde_json::Value>>,
        config: Option<Json<serde_json::Value>>,
        settings: Option<DeploymentSettingsInput>,
    ) -> Result<Deployment> {
        let id = deployment_uuid.required("deploymentUuid")?;
        let mut update =
            DeploymentUpdate { settings: settings.into(), config: config.map(|c| c.0), ..DeploymentUpdate::default() };
        if let Some(Json(payload)) = payload {
            let payload =
                Payload::parse(&payload, &["label", "description"], "updateDeployment (use settings for the rest)")?;
            update.label = payload.text("label")?;
            update.description = payload.text("description")?;
        }
        let state = state(ctx)?;
        let mut conn = conn(ctx).await?;
        let updated =
            deployments::update(&mut conn, id, update, &policy(state), state.clock.now(), &actor(ctx)).await?;
        drop(conn);
        written(ctx, updated).await
    }

    /// Makes a deployment ephemeral, moves its expiry, or (with neither argument) makes it permanent:
    /// `expiresAt` (future, at most 720 hours ahead) or `ttlHours` (1..=720 from now), not both;
    /// BAD_USER_INPUT naming the argument otherwise. Needs what `updateDeployment` needs; giving a
    /// permanent deployment an expiry, or bringing one forward, also needs what `deleteDeployment` needs
    /// (an expiry is a deletion scheduled). See docs/ephemeral-deployments.md.
    async fn update_deployment_expiry(
        &self,
        ctx: &Context<'_>,
        deployment_uuid: Uuid,
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
        ttl_hours: Option<i32>,
    ) -> Result<Deployment> {
        let id = deployment_uuid.required("deploymentUuid")?;
        let now = state(ctx)?.clock.now();
        let expires_at = lifecycle::expiry(expires_at, ttl_hours, now)?;
        let authority = access(ctx)?.authority()?;
        let mut conn = conn(ctx).await?;
        let updated = lifecycle::set_expiry(&mut conn, id, expires_at, &authority, now, &actor(ctx)).await?;
        drop(conn);
        written(ctx, updated).await
    }

    /// Replaces a development deployment's hibernation settings (an argument left out is cleared; none at
    /// all clears them and wakes it): a schedule (`hibernateAtCron` and `wakeAtCron`, 5-field cron
    /// expressions read in `hibernationTimeZone`, an IANA name, default UTC) and/or one override
    /// (`hibernateUntil` or `awakeUntil`, in the future). The deployment takes the state they say at
    /// once; `nextTransition` says what comes next. BAD_USER_INPUT naming the argument for a deployment
    /// not in development mode, a bad expression or zone, or bad overrides. Needs what
    /// `updateDeployment` needs. See docs/hibernation.md.
    #[allow(clippy::too_many_arguments)] // one parameter per GraphQL argument
    async fn update_deployment_hibernation(
        &self,
        ctx: &Context<'_>,
        deployment_uuid: Uuid,
        hibernate_at_cron: Option<String>,
        wake_at_cron: Option<String>,
        hibernation_time_zone: Option<String>,
        hibernate_until: Option<chrono::DateTime<chrono::Utc>>,
        awake_until: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Deployment> {
        let id = deployment_uuid.required("deploymentUuid")?;
        let now = state(ctx)?.clock.now();
        let input = lifecycle::HibernationInput {
            hibernate_at_cron,
            wake_at_cron,
            time_zone: hibernation_time_zone,
            hibernate_until,
            awake_until,
        };
        let mut conn = conn(ctx).await?;
        let updated = lifecycle::set_hibernation(&mut conn, id, input, now, &actor(ctx)).await?;
        drop(conn);
        written(ctx, updated).await
    }

    /// Moves a deployment to another runtime version of the catalogue.
    async fn upgrade_deployment(
        &self,
        ctx: &Context<'_>,
        deployment_uuid: Uuid,
        version: String,
    ) -> Result<Deployment> {
        let id = deployment_uuid.required("deploymentUuid")?;
        let state = state(ctx)?;
        let mut conn = conn(ctx).await?;
        let upgraded = deployments::upgrade(&mut conn, id, &version, state.clock.now(), &actor(ctx)).await?;
        drop(conn);
        written(ctx, upgraded).await
    }

    /// Deletes a deployment: soft (hidden, its release name kept) unless `deploymentHardDelete` is true,
    /// which removes it for good with its roles, API keys, variables and deploys (what the astro CLI
    /// sends). Returns the deployment as it was deleted.
    async fn delete_deployment(
        &self,
        ctx: &Context<'_>,
        deployment_uuid: Uuid,
        deployment_hard_delete: Option<bool>,
    ) -> Result<Deployment> {
        let id = deployment_uuid.required("deploymentUuid")?;
        let state = state(ctx)?;
        let mut conn = conn(ctx).await?;
        let deleted = if deployment_hard_delete == Some(true) {
            deployments::hard_delete(&mut conn, id, &actor(ctx)).await?
        } else {
            deployments::delete(&mut conn, id, state.clock.now(), &actor(ctx)).await?
        };
        drop(conn);
        written(ctx, deleted).await
    }

    /// Requests a runtime upgrade: sets `desiredRuntimeVersion`, which the infrastructure layer applies. The
    /// version must be in the catalogue (`runtimeReleases`) and later than the running one;
    /// BAD_USER_INPUT naming `desiredRuntimeVersion` otherwise.
    async fn update_deployment_runtime(
        &self,
        ctx: &Context<'_>,
        deployment_uuid: Uuid,
        desired_runtime_version: String,
    ) -> Result<Deployment> {
        let id = deployment_uuid.required("deploymentUuid")?;
        let now = state(ctx)?.clock.now();
        let mut conn = conn(ctx).await?;
        let updated = deployments::request_runtime(&mut conn, id, &desired_runtime_version, now, &actor(ctx)).await?;
        drop(conn);
        written(ctx, updated).await
    }

    /// Withdraws a requested runtime upgrade (clears `desiredRuntimeVersion`); BAD_USER_INPUT when none is
    /// pending.
    async fn cancel_runtime_update(&self, ctx: &Context<'_>, deployment_uuid: Uuid) -> Result<Deployment> {
        let id = deployment_uuid.required("deploymentUuid")?;
        let now = state(ctx)?.clock.now();
        let mut conn = conn(ctx).await?;
        let updated = deployments::cancel_runtime_request(&mut conn, id, now, &actor(ctx)).await?;
        drop(conn);
        written(ctx, updated).await
    }

    /// Requests an Airflow upgrade: sets `desiredAirflowVersion` to an Airflow version of the catalogue
    /// later than the running one (BAD_USER_INPUT naming `desiredAirflowVersion` otherwise).
    async fn update_deployment_airflow(
        &self,
        ctx: &Context<'_>,
        deployment_uuid: Uuid,
        desired_airflow_version: String,
    ) -> Result<Deployment> {
        let id = deployment_uuid.required("deploymentUuid")?;
        let now = state(ctx)?.clock.now();
        let mut conn = conn(ctx).await?;
        let updated = deployments::request_airflow(&mut conn, id, &desired_airflow_version, now, &actor(ctx)).await?;
        drop(conn);
        written(ctx, updated).await
    }

    /// Records an Airflow the infrastructure already runs (its custom resource `crName` in namespace
    /// `crNamespace` of cluster `clusterId`) as a deployment of the workspace; the release name is
    /// `crName` (CONFLICT when taken), the label `label` or `crName`. Nothing is created in the cluster;
    /// the adopter becomes DEPLOYMENT_ADMIN. The remaining arguments are kept in `properties.adoption`.
    #[allow(clippy::too_many_arguments)] // one parameter per GraphQL argument
    async fn adopt_deployment(
        &self,
        ctx: &Context<'_>,
        workspace_uuid: Uuid,
        cluster_id: Uuid,
        cr_namespace: String,
        cr_name: String,
        label: Option<String>,
        description: Option<String>,
        use_apc_logging: Option<bool>,
        use_apc_registry: Option<bool>,
        accept_incompatibilities: Option<bool>,
    ) -> Result<Deployment> {
        let request = deployments::AdoptRequest {
            workspace_id: workspace_uuid.required("workspaceUuid")?,
            cluster_id: cluster_id.required("clusterId")?,
            namespace: cr_namespace,
            name: cr_name,
            label,
            description,
            options: serde_json::json!({
                "useApcLogging": use_apc_logging.unwrap_or(false),
                "useApcRegistry": use_apc_registry.unwrap_or(false),
                "acceptIncompatibilities": accept_incompatibilities.unwrap_or(false),
            }),
        };
        let authority = access(ctx)?.authority()?;
        let mut conn = conn(ctx).await?;
        let adopted = deployments::adopt(&mut conn, request, &authority, &actor(ctx)).await?;
        drop(conn);
        // The adopter now administers it: read the result with that role.
        access(ctx)?.reload().await?;
        written(ctx, adopted).await
    }

    /// Forgets a deployment: capcom's record goes (with its roles, API keys, variables and deploys) while
    /// the Airflow keeps running untouched, so it can be adopted again. Returns the record as it was.
    async fn unadopt_deployment(&self, ctx: &Context<'_>, deployment_uuid: Uuid) -> Result<Deployment> {
        let id = deployment_uuid.required("deploymentUuid")?;
        let mut conn = conn(ctx).await?;
        let forgotten = deployments::unadopt(&mut conn, id, &actor(ctx)).await?;
        drop(conn);
        written(ctx, forgotten).await
    }

    /// Records a deploy: an image (`tag`, default the next `deploy-N`) or, with `dagDeployEnabled`, a DAG
    /// bundle. With `enforceCicd` on, only service accounts may deploy.
    #[allow(clippy::too_many_arguments)] // one parameter per GraphQL argument
    async fn create_deploy(
        &self,
        ctx: &Context<'_>,
        deployment_uuid: Uuid,
        #[graphql(name = "type")] kind: DeployType,
        tag: Option<String>,
        image: Option<String>,
        bundle: Option<String>,
        description: Option<String>,
    ) -> Result<Deploy> {
        let id = deployment_uuid.required("deploymentUuid")?;
        let deployer = deployer(ctx)?;
        let request = DeployRequest {
            kind: match kind {
                DeployType::Image => DeployKind::Image,
                DeployType::Dag => DeployKind::Dag,
            },
            tag: tag.filter(|t| !t.is_empty()),
            image: image.filter(|i| !i.is_empty()),
            bundle,
            description,
        };
        let mut conn = conn(ctx).await?;
        let deploy = deploys::create(&mut conn, id, request, deployer, &actor(ctx)).await?;
        drop(conn);
        Ok(Deploy::from(access(ctx)?.admit_one(deploy).await?))
    }

    /// Houston's one mutation for three things, chosen by its arguments: with `deploymentUuid`, update
    /// that deployment (label, description, executor, DAG deploy type); with `releaseName` and `image`,
    /// record an image deploy to that deployment (same rules as `createDeploy`; a different
    /// `runtimeVersion` also upgrades it); otherwise create a deployment in `workspaceUuid`. Each form needs
    /// the permission its counterpart needs.
    #[allow(clippy::too_many_arguments)] // one parameter per GraphQL argument
    async fn upsert_deployment(
        &self,
        ctx: &Context<'_>,
        workspace_uuid: Option<Uuid>,
        deployment_uuid: Option<Uuid>,
        cluster_id: Option<Uuid>,
        label: Option<String>,
        description: Option<String>,
        release_name: Option<String>,
        namespace: Option<String>,
        runtime_version: Option<String>,
        executor: Option<ExecutorType>,
        #[graphql(name = "triggerer")] _triggerer: Option<TriggererInput>,
        dag_deployment: Option<DagDeploymentInput>,
        #[graphql(name = "cloudRole")] _cloud_role: Option<String>,
        #[graphql(name = "mode")] _mode: Option<AllowedDeploymentModeValues>,
        image: Option<String>,
    ) -> Result<Deployment> {
        let state = state(ctx)?;
        let settings = deployments::Settings {
            executor: executor.map(|e| e.as_str().to_owned()),
            dag_deploy_enabled: dag_deployment.and_then(|d| d.kind).map(|kind| kind == "dag_deploy"),
            ..deployments::Settings::default()
        };
        let now = state.clock.now();
        let workspace_id = workspace_uuid.and_then(Uuid::get);
        // SPEC §2 rule 6: a deployment named next to a `workspaceUuid` must be in that workspace.
        let in_named_workspace = async |id: uuid::Uuid| -> Result<(), ApiError> {
            let Some(workspace_id) = workspace_id else { return Ok(()) };
            let mut conn = conn(ctx).await?;
            match deployments::get(&mut conn, id).await? {
                deployment if deployment.workspace_id == workspace_id => Ok(()),
                _ => Err(ApiError::NotFound),
            }
        };
        // The guard chose the form by the same arguments and checked its permission.
        if let Some(id) = deployment_uuid.and_then(Uuid::get) {
            in_named_workspace(id).await?;
            let update = DeploymentUpdate { label, description, settings, config: None };
            let mut conn = conn(ctx).await?;
            let updated = deployments::update(&mut conn, id, update, &policy(state), now, &actor(ctx)).await?;
            drop(conn);
            return written(ctx, updated).await;
        }
        if let Some(image) = image.filter(|i| !i.trim().is_empty()) {
            let id = deployment_named(ctx, None, release_name.as_deref()).await?;
            in_named_workspace(id).await?;
            // The tag is what follows the last ':' of the image reference, when it is a valid tag.
            let tag = image.rsplit_once(':').map(|(_, tag)| tag.to_owned()).filter(|t| !t.contains('/'));
            let request =
                DeployRequest { kind: DeployKind::Image, tag, image: Some(image), bundle: None, description: None };
            let authority = access(ctx)?.authority()?;
            let mut conn = conn(ctx).await?;
            let runtime = runtime_version.as_deref();
            deploys::create_with_runtime(&mut conn, id, request, runtime, deployer(ctx)?, &authority, now, &actor(ctx))
                .await?;
            let deployment = deployments::get(&mut conn, id).await?;
            drop(conn);
            return written(ctx, deployment).await;
        }
        let workspace_id = workspace_id
            .ok_or_else(|| ApiError::bad_input("workspaceUuid", "Name the workspace to create the deployment in"))?;
        let request = NewDeploymentRequest {
            workspace_id,
            label: label.unwrap_or_default(),
            description,
            release_name,
            runtime_version,
            airflow_version: None,
            cluster_id: cluster_id.and_then(Uuid::get),
            namespace,
            settings,
            config: None,
            properties: None,
            expires_at: None,
            is_development_mode: false,
        };
        let authority = access(ctx)?.authority()?;
        let mut conn = conn(ctx).await?;
        let created = deployments::create(&mut conn, request, &policy(state), &authority, &actor(ctx)).await?;
        drop(conn);
        access(ctx)?.reload().await?;
        written(ctx, created).await
    }

    /// A short-lived token for the deployment's Airflow API, carrying the caller's Airflow role there.
    async fn deployment_access_token(&self, ctx: &Context<'_>, deployment_uuid: Uuid) -> Result<DeploymentAccessToken> {
        let id = deployment_uuid.required("deploymentUuid")?;
        let caller = principal(ctx);
        let caller = caller.user()?;
        let state = state(ctx)?;
        let role = access(ctx)?.airflow_role(id).await?.ok_or(ApiError::Forbidden)?;
        let (value, claims) = state
            .keys
            .sign_deployment_token(caller.user.id, id, role, state.clock.now())
            .map_err(ApiError::internal)?;
        let expires_at = chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or_else(|| state.clock.now());
        // Recorded before it is handed out (the token itself never is).
        let mut conn = conn(ctx).await?;
        deployments::record_access_token(&mut conn, id, role, expires_at, &actor(ctx)).await?;
        Ok(DeploymentAccessToken { value, airflow_role: role.to_owned(), expires_at })
    }

    /// Applies a deployment file (docs/deployment-file.md, YAML or JSON, at most 256 KiB) to the
    /// workspace: creates the deployment it names by label, or updates it to match, in one transaction
    /// with one audit event. With `dryRun` nothing is written and the answer lists what would change.
    /// Errors are BAD_USER_INPUT naming the path in the file (`workers.max`, `roles[1].user`) and, for
    /// syntax errors, the line.
    async fn apply_deployment_file(
        &self,
        ctx: &Context<'_>,
        workspace_uuid: Uuid,
        file: String,
        #[graphql(default)] dry_run: bool,
    ) -> Result<DeploymentFileApplication> {
        let workspace_id = workspace_uuid.required("workspaceUuid")?;
        // The request's one file (SPEC §7): aliases and batched operations do not multiply the parse.
        // Every executed request carries one (`GraphqlService` attaches it); without it the bound would not
        // hold, so its absence refuses rather than lets the parse through.
        ctx.data_opt::<std::sync::Arc<crate::graphql::allowance::RequestAllowance>>()
            .ok_or_else(|| ApiError::internal("a request without its allowance"))?
            .file
            .claim()?;
        let parsed = deployment_files::parse(&file)?;
        drop(file);
        let state = state(ctx)?;
        let authority = access(ctx)?.authority()?;
        let policy = policy(state);
        let request = deployment_files::ApplyRequest {
            workspace_id,
            file: parsed,
            dry_run,
            policy: &policy,
            secrets: &state.secrets,
            authority: &authority,
            now: state.clock.now(),
        };
        let mut conn = conn(ctx).await?;
        let applied = deployment_files::apply(&mut conn, request, &actor(ctx)).await?;
        let row = match applied.deployment_id {
            Some(id) => Some(deployments::get(&mut conn, id).await?),
            None => None,
        };
        drop(conn);
        let deployment = match row {
            Some(row) => {
                if applied.created {
                    // The creator now administers it: read the result with that role.
                    access(ctx)?.reload().await?;
                }
                Some(written(ctx, row).await?)
            }
            None => None,
        };
        Ok(DeploymentFileApplication {
            deployment,
            created: applied.created,
            dry_run: applied.dry_run,
            changes: applied
                .changes
                .into_iter()
                .map(|c| DeploymentFileChange { field: c.field, old: c.old, new: c.new })
                .collect(),
        })
    }

    /// Gives a workspace member a deployment role: `role` (default DEPLOYMENT_VIEWER) or, instead, the
    /// organization's custom deployment role `customRoleUuid` (docs/custom-roles.md).
    async fn deployment_add_user_role(
        &self,
        ctx: &Context<'_>,
        user_id: Option<Id>,
        email: String,
        deployment_id: Id,
        role: Option<Role>,
        custom_role_uuid: Option<Uuid>,
    ) -> Result<RoleBinding> {
        let request =
            RoleRequest::from_arguments(role, custom_role_uuid.and_then(Uuid::get), Some(Role::DeploymentViewer))?;
        role_change(ctx, user_id, email, deployment_id, RoleChange::Add(request)).await
    }

    /// Changes a user's deployment role to `role` or, instead, to the custom deployment role
    /// `customRoleUuid`.
    async fn deployment_update_user_role(
        &self,
        ctx: &Context<'_>,
        user_id: Option<Id>,
        email: String,
        deployment_id: Id,
        role: Option<Role>,
        custom_role_uuid: Option<Uuid>,
    ) -> Result<RoleBinding> {
        let request = RoleRequest::from_arguments(role, custom_role_uuid.and_then(Uuid::get), None)?;
        role_change(ctx, user_id, email, deployment_id, RoleChange::Update(request)).await
    }

    /// Removes a user's deployment role.
    async fn deployment_remove_user_role(
        &self,
        ctx: &Context<'_>,
        user_id: Option<Id>,
        email: String,
        deployment_id: Id,
    ) -> Result<RoleBinding> {
        role_change(ctx, user_id, email, deployment_id, RoleChange::Remove).await
    }
}

async fn role_change(
    ctx: &Context<'_>,
    user_id: Option<Id>,
    email: String,
    deployment_id: Id,
    change: RoleChange,
) -> Result<RoleBinding> {
    let id = deployment_id.required("deploymentId")?;
    let now = state(ctx)?.clock.now();
    let user = UserRef { user_id: user_id.and_then(Id::get), email };
    let authority = access(ctx)?.authority()?;
    let mut conn = conn(ctx).await?;
    let binding = deployments::change_user_role(&mut conn, id, user, change, &authority, now, &actor(ctx)).await?;
    drop(conn);
    Ok(RoleBinding::from(access(ctx)?.admit_one(binding).await?))
}

/// How `deploymentFile` writes the file.
#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum DeploymentFileFormat {
    /// YAML.
    Yaml,
    /// JSON.
    Json,
}

/// One field a deployment file changes (or would change): `old` → `new`; null when absent. Secret
/// values never appear: a secret shows as `(secret)` or `(secret changed)`.
#[derive(SimpleObject)]
pub struct DeploymentFileChange {
    /// Path in the file (`workers.max`, `environmentVariables.MY_KEY`, `roles[user:a@example.com]`).
    pub field: String,
    /// Value before.
    pub old: Option<String>,
    /// Value after.
    pub new: Option<String>,
}

/// What `applyDeploymentFile` did.
#[derive(SimpleObject)]
pub struct DeploymentFileApplication {
    /// The deployment (as it is now; null for a dry run that would create it).
    pub deployment: Option<Deployment>,
    /// Whether the file creates (would create) the deployment.
    pub created: bool,
    /// Whether nothing was written.
    pub dry_run: bool,
    /// The fields that changed (would change); empty when the deployment already matches the file.
    pub changes: Vec<DeploymentFileChange>,
}

/// Houston's `deployment(where: …)` selector.
#[derive(async_graphql::InputObject)]
pub struct DeploymentWhereUniqueInput {
    /// The deployment's id.
    pub id: String,
}

/// A line of an Airflow component's log.
#[derive(SimpleObject)]
pub struct DeploymentLog {
    /// Line id.
    pub id: String,
    /// When it was written.
    pub timestamp: chrono::DateTime<chrono::Utc>,
    /// The text.
    pub message: String,
}

/// The answer to log requests until capcom has a log store.
pub fn logs_not_supported() -> ApiError {
    ApiError::NotSupported(
        "capcom does not keep Airflow logs yet: read them in the deployment's Airflow UI or your log store".into(),
    )
}

/// A token for one deployment's Airflow API.
#[derive(SimpleObject)]
pub struct DeploymentAccessToken {
    /// The JWT (audience: the deployment id; `roles`: the Airflow role).
    pub value: String,
    /// The Airflow role it carries.
    pub airflow_role: String,
    /// Expiry (at most an hour).
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// Houston's `InputEnvironmentVariable`.
#[derive(async_graphql::InputObject)]
pub struct InputEnvironmentVariable {
    /// Key (`^[A-Z_][A-Z0-9_]*$`).
    pub key: String,
    /// Value; for a secret, empty keeps the stored value.
    pub value: Option<String>,
    /// Whether the value is secret (stored encrypted, never returned).
    pub is_secret: Option<bool>,
}

/// An environment variable of a deployment.
pub struct EnvironmentVariable {
    /// Key.
    pub key: String,
    /// Value; always empty for secrets.
    pub value: String,
    /// Whether the value is secret.
    pub is_secret: bool,
}

/// An environment variable of a deployment.
#[Object]
impl EnvironmentVariable {
    /// Key.
    async fn key(&self) -> &str {
        &self.key
    }

    /// Value; always empty for secrets.
    async fn value(&self, ctx: &Context<'_>) -> Result<&str> {
        Ok(charged(ctx, &self.value)?)
    }

    /// Whether the value is secret.
    async fn is_secret(&self) -> bool {
        self.is_secret
    }
}

impl From<Readable<crate::domain::variables::VariableView>> for EnvironmentVariable {
    fn from(v: Readable<crate::domain::variables::VariableView>) -> Self {
        let v = v.into_inner();
        EnvironmentVariable { key: v.key, value: v.value, is_secret: v.is_secret }
    }
}

/// Resolves the deployment named by id (preferred) or release name. An unknown release name is answered
/// as [`absent`] says, so it reveals nothing to callers who could not see the deployment anyway.
pub(crate) async fn deployment_named(
    ctx: &Context<'_>,
    deployment_uuid: Option<Uuid>,
    release_name: Option<&str>,
) -> Result<uuid::Uuid, ApiError> {
    if let Some(id) = deployment_uuid.and_then(Uuid::get) {
        return Ok(id);
    }
    let name = release_name
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_input("deploymentUuid", "Name the deployment by deploymentUuid or releaseName"))?;
    let mut conn = conn(ctx).await?;
    let rows = deployments::list(&mut conn, None, Some(name), 1).await?;
    rows.first().map(|d| d.id).ok_or_else(|| match access(ctx) {
        Ok(access) => access.absent(FieldRule::AllDeployments.permissions()),
        Err(error) => error,
    })
}

/// Environment-variable queries.
#[derive(Default)]
pub struct VariableQuery;

#[Object(guard = "Op")]
impl VariableQuery {
    /// A deployment's environment variables; secret values are always empty.
    async fn deployment_variables(
        &self,
        ctx: &Context<'_>,
        deployment_uuid: Option<Uuid>,
        release_name: Option<String>,
    ) -> Result<Vec<EnvironmentVariable>> {
        let id = deployment_named(ctx, deployment_uuid, release_name.as_deref()).await?;
        let mut conn = conn(ctx).await?;
        deployments::get(&mut conn, id).await?;
        let rows = crate::domain::variables::list(&mut conn, id).await?;
        drop(conn);
        Ok(access(ctx)?.admit_all(rows).await?.into_iter().map(EnvironmentVariable::from).collect())
    }
}

/// Environment-variable mutations.
#[derive(Default)]
pub struct VariableMutation;

#[Object(guard = "Op")]
impl VariableMutation {
    /// Replaces a deployment's environment variables with the list sent.
    async fn update_deployment_variables(
        &self,
        ctx: &Context<'_>,
        deployment_uuid: Uuid,
        #[graphql(name = "releaseName")] _release_name: Option<String>,
        environment_variables: Vec<InputEnvironmentVariable>,
    ) -> Result<Vec<EnvironmentVariable>> {
        let id = deployment_uuid.required("deploymentUuid")?;
        let inputs = environment_variables
            .into_iter()
            .map(|v| crate::domain::variables::VariableInput {
                key: v.key,
                value: v.value.unwrap_or_default(),
                is_secret: v.is_secret.unwrap_or(false),
            })
            .collect();
        let state = state(ctx)?;
        let mut conn = conn(ctx).await?;
        let rows = crate::domain::variables::replace(&mut conn, id, inputs, &state.secrets, &actor(ctx)).await?;
        drop(conn);
        Ok(access(ctx)?.admit_all(rows).await?.into_iter().map(EnvironmentVariable::from).collect())
    }
}
