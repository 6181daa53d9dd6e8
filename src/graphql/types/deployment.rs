//! `Deployment`, its settings, URLs, deploy info and capabilities; `Cluster`; the catalogue.

use async_graphql::{Context, Enum, InputObject, Json, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::domain::deployments::{self, Settings};
use crate::domain::deploys;
use crate::domain::lifecycle;
use crate::graphql::authz::{Readable, access, charged, charged_json};
use crate::graphql::context::loader;
use crate::graphql::loaders::{RoleBindingsOfDeployment, WorkspaceById};
use crate::graphql::scalars::Uuid;
use crate::graphql::types::user::RoleBinding;
use crate::graphql::types::workspace::Workspace;
use crate::rbac::ScopeRef;

/// Executors, with Houston's names (which the CLI sends).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(rename_items = "PascalCase")]
pub enum ExecutorType {
    /// Celery workers.
    CeleryExecutor,
    /// One pod per task.
    KubernetesExecutor,
    /// Tasks in the scheduler.
    LocalExecutor,
}

impl ExecutorType {
    /// Houston's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutorType::CeleryExecutor => "CeleryExecutor",
            ExecutorType::KubernetesExecutor => "KubernetesExecutor",
            ExecutorType::LocalExecutor => "LocalExecutor",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [ExecutorType::CeleryExecutor, ExecutorType::KubernetesExecutor, ExecutorType::LocalExecutor]
            .into_iter()
            .find(|e| e.as_str() == text)
    }
}

/// Scheduler sizes.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum SchedulerSize {
    /// Small.
    Small,
    /// Medium.
    Medium,
    /// Large.
    Large,
}

impl SchedulerSize {
    fn as_str(self) -> &'static str {
        match self {
            SchedulerSize::Small => "SMALL",
            SchedulerSize::Medium => "MEDIUM",
            SchedulerSize::Large => "LARGE",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [SchedulerSize::Small, SchedulerSize::Medium, SchedulerSize::Large].into_iter().find(|s| s.as_str() == text)
    }
}

/// Deployment settings; absent fields keep their value (their default on creation).
#[derive(InputObject, Default)]
pub struct DeploymentSettingsInput {
    /// Executor.
    pub executor: Option<ExecutorType>,
    /// Scheduler size.
    pub scheduler_size: Option<SchedulerSize>,
    /// Scheduler replicas (1..4; 2 or more with high availability).
    pub scheduler_replicas: Option<i32>,
    /// Minimum workers (≥ 0).
    pub worker_min: Option<i32>,
    /// Maximum workers (≥ workerMin, ≤ the operator's ceiling).
    pub worker_max: Option<i32>,
    /// Tasks per worker (1..256).
    pub worker_concurrency: Option<i32>,
    /// High availability.
    pub high_availability: Option<bool>,
    /// Only service accounts may deploy.
    pub enforce_cicd: Option<bool>,
    /// DAG-only deploys allowed.
    pub dag_deploy_enabled: Option<bool>,
}

impl From<Option<DeploymentSettingsInput>> for Settings {
    fn from(input: Option<DeploymentSettingsInput>) -> Self {
        let input = input.unwrap_or_default();
        Settings {
            executor: input.executor.map(|e| e.as_str().to_owned()),
            scheduler_size: input.scheduler_size.map(|s| s.as_str().to_owned()),
            scheduler_replicas: input.scheduler_replicas,
            worker_min: input.worker_min,
            worker_max: input.worker_max,
            worker_concurrency: input.worker_concurrency,
            high_availability: input.high_availability,
            enforce_cicd: input.enforce_cicd,
            dag_deploy_enabled: input.dag_deploy_enabled,
        }
    }
}

/// A URL of a deployment component.
#[derive(SimpleObject)]
pub struct DeploymentUrl {
    /// `airflow`, `flower` (Celery only), `registry` or `dagserver`.
    #[graphql(name = "type")]
    pub kind: String,
    /// The URL.
    pub url: String,
}

/// Deploy information (Houston's `deployInfo`).
#[derive(SimpleObject)]
pub struct DeployInfo {
    /// Tag of the current deploy (`deploy-N`), if any.
    pub current: Option<String>,
    /// Tag the next deploy gets.
    pub next_cli: String,
}

/// Houston's `dagDeployment { type }` (output; the input of the same shape is `DagDeployment`).
#[derive(SimpleObject)]
pub struct DeploymentDagDeployment {
    /// `dag_deploy` when DAG-only deploys are enabled, otherwise `image`.
    #[graphql(name = "type")]
    pub kind: String,
}

/// What the caller may do with a deployment: each field says whether the operation named in
/// `rbac::operations::CAPABILITY_OPERATIONS` would be allowed.
#[derive(SimpleObject)]
pub struct DeploymentCapabilities {
    /// `updateDeployment`: change settings and variables.
    pub can_update_deployment: bool,
    /// `deleteDeployment`.
    pub can_delete_deployment: bool,
    /// `createDeploy`: push deploys.
    pub can_deploy: bool,
    /// `deploymentUpdateUserRole`: manage deployment users.
    #[graphql(name = "canUpdateIAM")]
    pub can_update_iam: bool,
    /// `createDeploymentServiceAccount`.
    pub can_create_service_account: bool,
    /// `updateDeploymentServiceAccount`.
    pub can_update_service_account: bool,
    /// `deleteDeploymentServiceAccount`.
    pub can_delete_service_account: bool,
    /// `deploymentUsers`: list the deployment's users.
    pub can_view_users: bool,
    /// `deploymentVariables`: read environment variables.
    pub can_read_variables: bool,
    /// Open Airflow as Admin (the caller's `airflowRole` is `Admin`).
    pub can_use_airflow_admin: bool,
}

/// One Airflow environment in a workspace. Only made from a deployment the caller may read.
pub struct Deployment(Readable<deployments::Deployment>);

impl From<Readable<deployments::Deployment>> for Deployment {
    fn from(deployment: Readable<deployments::Deployment>) -> Self {
        Deployment(deployment)
    }
}

impl Deployment {
    /// The deployment's id.
    pub fn uuid(&self) -> uuid::Uuid {
        self.0.id
    }

    /// The cluster it runs on.
    pub fn cluster(&self) -> uuid::Uuid {
        self.0.cluster_id
    }

    /// Whether its label (case-insensitively) or release name contains `lower`, a lower-cased text.
    pub fn matches_name(&self, lower: &str) -> bool {
        self.0.label.to_lowercase().contains(lower) || self.0.release_name.contains(lower)
    }
}

/// A deployment.
#[Object]
impl Deployment {
    /// The deployment's id.
    async fn id(&self) -> Uuid {
        self.0.id.into()
    }

    /// Always `airflow`.
    #[graphql(name = "type")]
    async fn kind(&self) -> &str {
        "airflow"
    }

    /// Label.
    async fn label(&self) -> &str {
        &self.0.label
    }

    /// Description.
    async fn description(&self, ctx: &Context<'_>) -> Result<&str> {
        Ok(charged(ctx, &self.0.description)?)
    }

    /// Release name (a DNS label, unique for ever).
    async fn release_name(&self) -> &str {
        &self.0.release_name
    }

    /// Kubernetes namespace.
    async fn namespace(&self) -> &str {
        &self.0.namespace
    }

    /// Platform version.
    async fn version(&self) -> &str {
        &self.0.version
    }

    /// Airflow version.
    async fn airflow_version(&self) -> &str {
        &self.0.airflow_version
    }

    /// Runtime version.
    async fn runtime_version(&self) -> Option<&str> {
        self.0.runtime_version.as_deref()
    }

    /// The Airflow version of the runtime.
    async fn runtime_airflow_version(&self) -> &str {
        &self.0.airflow_version
    }

    /// Runtime version requested, not yet applied.
    async fn desired_runtime_version(&self) -> Option<&str> {
        self.0.desired_runtime_version.as_deref()
    }

    /// Airflow version requested, not yet applied.
    async fn desired_airflow_version(&self) -> Option<&str> {
        self.0.desired_airflow_version.as_deref()
    }

    /// Executor.
    async fn executor(&self) -> Option<ExecutorType> {
        ExecutorType::parse(&self.0.executor)
    }

    /// Scheduler size.
    async fn scheduler_size(&self) -> Option<SchedulerSize> {
        SchedulerSize::parse(&self.0.scheduler_size)
    }

    /// Scheduler replicas.
    async fn scheduler_replicas(&self) -> i32 {
        self.0.scheduler_replicas
    }

    /// Minimum workers.
    async fn worker_min(&self) -> i32 {
        self.0.worker_min
    }

    /// Maximum workers.
    async fn worker_max(&self) -> i32 {
        self.0.worker_max
    }

    /// Tasks per worker.
    async fn worker_concurrency(&self) -> i32 {
        self.0.worker_concurrency
    }

    /// High availability.
    async fn high_availability(&self) -> bool {
        self.0.high_availability
    }

    /// Only service accounts may deploy.
    async fn enforce_cicd(&self) -> bool {
        self.0.enforce_cicd
    }

    /// DAG-only deploys allowed.
    async fn dag_deploy_enabled(&self) -> bool {
        self.0.dag_deploy_enabled
    }

    /// Houston's view of `dagDeployEnabled`.
    async fn dag_deployment(&self) -> DeploymentDagDeployment {
        DeploymentDagDeployment { kind: if self.0.dag_deploy_enabled { "dag_deploy".into() } else { "image".into() } }
    }

    /// Houston's free-form configuration.
    async fn config(&self, ctx: &Context<'_>) -> Result<Json<serde_json::Value>> {
        Ok(charged_json(ctx, &self.0.config)?)
    }

    /// Houston's free-form properties.
    async fn properties(&self, ctx: &Context<'_>) -> Result<Json<serde_json::Value>> {
        Ok(charged_json(ctx, &self.0.properties)?)
    }

    /// Status reported by the infrastructure layer; `HIBERNATING` while hibernating (docs/hibernation.md),
    /// `HEALTHY` once woken.
    async fn status(&self) -> &str {
        &self.0.status
    }

    /// When this ephemeral deployment deletes itself (null: it does not); see docs/ephemeral-deployments.md.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }

    /// A development deployment: only these may hibernate. Set at creation.
    async fn is_development_mode(&self) -> bool {
        self.0.is_development_mode
    }

    /// Cron expression (minute hour day-of-month month day-of-week) at which it hibernates.
    async fn hibernate_at_cron(&self) -> Option<&str> {
        self.0.hibernate_at_cron.as_deref()
    }

    /// Cron expression at which it wakes.
    async fn wake_at_cron(&self) -> Option<&str> {
        self.0.wake_at_cron.as_deref()
    }

    /// IANA time zone the cron expressions are read in.
    async fn hibernation_time_zone(&self) -> Option<&str> {
        self.0.hibernation_time_zone.as_deref()
    }

    /// Override: hibernating until then, whatever the schedule says.
    async fn hibernate_until(&self) -> Option<DateTime<Utc>> {
        self.0.hibernate_until
    }

    /// Override: awake until then, whatever the schedule says.
    async fn awake_until(&self) -> Option<DateTime<Utc>> {
        self.0.awake_until
    }

    /// Whether it is hibernating now.
    async fn is_hibernating(&self) -> bool {
        self.0.is_hibernating
    }

    /// The next change its hibernation settings make (null: none is coming).
    async fn next_transition(&self, ctx: &Context<'_>) -> Result<Option<HibernationTransition>> {
        let now = crate::graphql::context::state(ctx)?.clock.now();
        let plan = lifecycle::plan(&lifecycle::HibernationSettings::of(&self.0), now);
        Ok(plan.next_transition.map(|at| HibernationTransition {
            at,
            to: if plan.hibernating { HibernationState::Awake } else { HibernationState::Hibernating },
        }))
    }

    /// The cluster it runs on.
    async fn cluster_id(&self) -> Uuid {
        self.0.cluster_id.into()
    }

    /// URLs of its components.
    async fn urls(&self, ctx: &Context<'_>) -> Result<Vec<DeploymentUrl>> {
        let domain = &crate::graphql::context::state(ctx)?.config.base_domain;
        let release = &self.0.release_name;
        let mut urls = vec![DeploymentUrl {
            kind: "airflow".into(),
            url: format!("https://deployments.{domain}/{release}/airflow"),
        }];
        if self.0.executor == "CeleryExecutor" {
            urls.push(DeploymentUrl {
                kind: "flower".into(),
                url: format!("https://deployments.{domain}/{release}/flower"),
            });
        }
        urls.push(DeploymentUrl { kind: "registry".into(), url: format!("registry.{domain}") });
        urls.push(DeploymentUrl {
            kind: "dagserver".into(),
            url: format!("https://deployments.{domain}/{release}/dags"),
        });
        Ok(urls)
    }

    /// Deploy tags: the current one and the one the next deploy gets.
    async fn deploy_info(&self) -> DeployInfo {
        let current = self.0.deploy_image_tag.clone();
        let next_cli = crate::domain::deploys::next_tag(self.0.deploy_revision, current.as_deref());
        DeployInfo { current, next_cli }
    }

    /// The workspace it belongs to (null unless the caller may read it).
    async fn workspace(&self, ctx: &Context<'_>) -> Result<Option<Workspace>> {
        let Some(row) = loader(ctx)?.load_one(WorkspaceById(self.0.workspace_id)).await? else { return Ok(None) };
        Ok(access(ctx)?.admit(row).await?.map(Workspace::from))
    }

    /// Role bindings on the deployment the caller may read.
    async fn role_bindings(&self, ctx: &Context<'_>) -> Result<Vec<RoleBinding>> {
        let rows = loader(ctx)?.load_one(RoleBindingsOfDeployment(self.0.id)).await?.unwrap_or_default();
        Ok(access(ctx)?.admit_all(rows).await?.into_iter().map(RoleBinding::from).collect())
    }

    /// What the caller may do with this deployment: for each capability, whether the operation it names
    /// in the operation table would be allowed on it.
    async fn deployment_capabilities(&self, ctx: &Context<'_>) -> Result<DeploymentCapabilities> {
        let access = access(ctx)?;
        let at = access.ancestry_of(ScopeRef::Deployment(self.0.id)).await?;
        use crate::rbac::operations::*;
        // The deployment's own rule on deployers (enforceCicd), decided by the function `createDeploy` uses.
        let deployer = deploys::Deployer::of(access.principal().as_ref());
        let cicd_allows = deployer.is_ok_and(|d| deploys::may_deploy(&self.0, d).is_ok());
        Ok(DeploymentCapabilities {
            can_update_deployment: access.may(&UPDATE_DEPLOYMENT, at).await?,
            can_delete_deployment: access.may(&DELETE_DEPLOYMENT, at).await?,
            can_deploy: cicd_allows && access.may(&CREATE_DEPLOY, at).await?,
            can_update_iam: access.may(&DEPLOYMENT_UPDATE_USER_ROLE, at).await?,
            can_create_service_account: access.may(&CREATE_DEPLOYMENT_SERVICE_ACCOUNT, at).await?,
            can_update_service_account: access.may(&UPDATE_DEPLOYMENT_SERVICE_ACCOUNT, at).await?,
            can_delete_service_account: access.may(&DELETE_DEPLOYMENT_SERVICE_ACCOUNT, at).await?,
            can_view_users: access.may(&DEPLOYMENT_USERS, at).await?,
            can_read_variables: access.may(&DEPLOYMENT_VARIABLES, at).await?,
            can_use_airflow_admin: access.airflow_role(self.0.id).await? == Some("Admin"),
        })
    }

    /// The caller's role in this deployment's Airflow (`Admin`, `User`, `Viewer`), from the same matrix.
    async fn airflow_role(&self, ctx: &Context<'_>) -> Result<Option<&'static str>> {
        Ok(access(ctx)?.airflow_role(self.0.id).await?)
    }

    /// Creation time.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// Last change.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// Where deployments run. Only made from a cluster the caller may read (standard clusters are shared).
pub struct Cluster(Readable<deployments::ClusterRow>);

impl From<Readable<deployments::ClusterRow>> for Cluster {
    fn from(cluster: Readable<deployments::ClusterRow>) -> Self {
        Cluster(cluster)
    }
}

/// A cluster.
#[Object]
impl Cluster {
    /// The cluster's id.
    async fn id(&self) -> Uuid {
        self.0.id.into()
    }

    /// Name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// `STANDARD` (shared) or `DEDICATED` (one organization's).
    async fn kind(&self) -> &str {
        &self.0.kind
    }

    /// Houston's name for `kind`.
    #[graphql(name = "type")]
    async fn cluster_type(&self) -> &str {
        &self.0.kind
    }

    /// The organization a dedicated cluster belongs to.
    async fn organization_id(&self) -> Option<Uuid> {
        self.0.organization_id.map(Uuid::from)
    }

    /// Cloud provider.
    async fn provider(&self) -> &str {
        &self.0.provider
    }

    /// Region.
    async fn region(&self) -> &str {
        &self.0.region
    }

    /// Whether only the workspaces listed in `workspaces` may use this dedicated cluster.
    async fn restricted_to_workspaces(&self) -> bool {
        self.0.restricted_to_workspaces
    }

    /// The workspaces a restricted dedicated cluster is limited to, as the caller may read them.
    async fn workspaces(&self, ctx: &Context<'_>) -> Result<Vec<Workspace>> {
        let ids =
            loader(ctx)?.load_one(crate::graphql::loaders::WorkspacesOfCluster(self.0.id)).await?.unwrap_or_default();
        let found = loader(ctx)?.load_many(ids.into_iter().map(WorkspaceById)).await?;
        let rows = found.into_values().collect();
        Ok(access(ctx)?.admit_all(rows).await?.into_iter().map(Workspace::from).collect())
    }

    /// Base domain of its deployments.
    async fn base_domain(&self) -> &str {
        &self.0.base_domain
    }

    /// The namespaces an operator pre-created for deployments on this cluster (its pool), whether used
    /// or not; `availableNamespaces` lists the unused ones.
    async fn namespaces(&self) -> &[String] {
        &self.0.namespaces
    }
}

/// A Kubernetes namespace of a cluster (Houston's `AvailableNamespace`).
#[derive(async_graphql::SimpleObject)]
pub struct Namespace {
    /// The namespace's name.
    pub name: String,
}

/// What a deploy pushes.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum DeployType {
    /// A new image.
    Image,
    /// DAG files only (needs `dagDeployEnabled`).
    Dag,
}

/// One push of code to a deployment. Only made from a deploy the caller may read.
pub struct Deploy(Readable<crate::domain::deploys::DeployRow>);

impl From<Readable<crate::domain::deploys::DeployRow>> for Deploy {
    fn from(deploy: Readable<crate::domain::deploys::DeployRow>) -> Self {
        Deploy(deploy)
    }
}

/// A deploy.
#[Object]
impl Deploy {
    /// The deploy's id.
    async fn id(&self) -> Uuid {
        self.0.id.into()
    }

    /// Image or DAG.
    #[graphql(name = "type")]
    async fn kind(&self) -> DeployType {
        if self.0.kind == "DAG" { DeployType::Dag } else { DeployType::Image }
    }

    /// N of `deploy-N`.
    async fn revision(&self) -> i32 {
        self.0.revision
    }

    /// Image tag (image deploys).
    async fn tag(&self) -> Option<&str> {
        self.0.image_tag.as_deref()
    }

    /// Full image reference, if given.
    async fn image(&self) -> Option<&str> {
        self.0.image.as_deref()
    }

    /// DAG bundle (DAG deploys).
    async fn bundle(&self) -> Option<&str> {
        self.0.bundle.as_deref()
    }

    /// Description.
    async fn description(&self, ctx: &Context<'_>) -> Result<&str> {
        Ok(charged(ctx, &self.0.description)?)
    }

    /// The deploying user, if a user deployed.
    async fn deployed_by_user_id(&self) -> Option<Uuid> {
        self.0.deployed_by_user_id.map(Uuid::from)
    }

    /// The deploying service account, if one did.
    async fn deployed_by_service_account_id(&self) -> Option<Uuid> {
        self.0.deployed_by_service_account_id.map(Uuid::from)
    }

    /// When.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Houston's DAG deployment mechanism, as the CLI sends it. capcom records `type` (`dag_deploy` turns
/// `dagDeployEnabled` on, any other type off); the other fields are accepted and not used yet.
#[derive(InputObject, Default)]
#[graphql(name = "DagDeployment")]
pub struct DagDeploymentInput {
    /// `image`, `volume`, `git_sync` or `dag_deploy`.
    #[graphql(name = "type")]
    pub kind: Option<String>,
    /// NFS location (volume).
    pub nfs_location: Option<String>,
    /// SSH key (git-sync).
    pub ssh_key: Option<String>,
    /// Known hosts (git-sync).
    pub known_hosts: Option<String>,
    /// Revision (git-sync).
    pub rev: Option<String>,
    /// Repository URL (git-sync).
    pub repository_url: Option<String>,
    /// Branch (git-sync).
    pub branch_name: Option<String>,
    /// DAG folder in the repository (git-sync).
    pub dag_directory_location: Option<String>,
    /// Sync interval in seconds (git-sync).
    pub sync_interval: Option<i32>,
}

/// Triggerer settings; `replicas: null` leaves them unchanged.
#[derive(InputObject, Default)]
pub struct TriggererInput {
    /// Triggerer replicas.
    pub replicas: Option<i32>,
}

/// How a deployment is installed.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(rename_items = "lowercase")]
pub enum AllowedDeploymentModeValues {
    /// With Helm.
    Helm,
    /// With the Kubernetes operator.
    Operator,
}

/// A deployment's hibernation state.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum HibernationState {
    /// Scaled down to nothing.
    Hibernating,
    /// Running.
    Awake,
}

/// The next change a deployment's hibernation settings make.
#[derive(SimpleObject)]
pub struct HibernationTransition {
    /// When.
    pub at: DateTime<Utc>,
    /// The state it enters then.
    pub to: HibernationState,
}
