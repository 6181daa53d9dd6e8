//! Deployments: creation with defaults and generated release names, typed settings with validation,
//! upgrades, soft and hard deletion, and deployment-level roles.

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::json;
use uuid::Uuid;

use crate::db::models::deployment::{Cluster, DeploymentChanges, NewDeployment};
use crate::db::models::invite::Invite;
use crate::db::models::role_binding::RoleBindingRow;
use crate::db::models::user::{Email, User};
use crate::db::models::workspace::Workspace;
use crate::domain::audit::{self, Change};
use crate::domain::catalogue::{self, RuntimeRelease};
use crate::domain::memberships::{self, Conferred, Grantor, RoleRequest};
use crate::domain::{Actor, Authority, Holder, validate};
use crate::error::{ApiError, ApiResult};
use crate::rbac::operations::ObjectKind;
use crate::rbac::{Ancestry, Role, Scope, ScopeRef};

pub use crate::db::models::deployment::{Cluster as ClusterRow, Deployment};

/// Settings a client may set; `None` leaves a setting as it is (or at its default on creation).
#[derive(Debug, Clone, Default)]
pub struct Settings {
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
    /// Only service accounts may deploy.
    pub enforce_cicd: Option<bool>,
    /// DAG-only deploys allowed.
    pub dag_deploy_enabled: Option<bool>,
}

/// Operator limits on deployments.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Namespace prefix.
    pub namespace_prefix: String,
    /// Whether clients may choose release names.
    pub manual_release_names: bool,
    /// Highest `workerMax`.
    pub worker_max_ceiling: i32,
}

/// The effective settings after applying `settings` to `base`, validated. Fields are reported as
/// `settings.<name>`.
fn resolve_settings(base: &Deployment, settings: &Settings, policy: &Policy) -> ApiResult<DeploymentChanges> {
    let field = |name: &str| format!("settings.{name}");
    let executor = settings.executor.clone().unwrap_or_else(|| base.executor.clone());
    if !catalogue::EXECUTORS.contains(&executor.as_str()) {
        return Err(ApiError::bad_input(field("executor"), format!("{executor:?} is not an executor")));
    }
    let scheduler_size = settings.scheduler_size.clone().unwrap_or_else(|| base.scheduler_size.clone());
    if !catalogue::SCHEDULER_SIZES.contains(&scheduler_size.as_str()) {
        return Err(ApiError::bad_input(field("schedulerSize"), format!("{scheduler_size:?} is not a scheduler size")));
    }
    let high_availability = settings.high_availability.unwrap_or(base.high_availability);
    let mut scheduler_replicas = settings.scheduler_replicas.unwrap_or(base.scheduler_replicas);
    if high_availability && settings.scheduler_replicas.is_none() && scheduler_replicas < 2 {
        scheduler_replicas = 2;
    }
    let (low, high) = catalogue::SCHEDULER_REPLICAS;
    if !(low..=high).contains(&scheduler_replicas) {
        return Err(ApiError::bad_input(
            field("schedulerReplicas"),
            format!("schedulerReplicas must be between {low} and {high}"),
        ));
    }
    if high_availability && scheduler_replicas < 2 {
        return Err(ApiError::bad_input(
            field("schedulerReplicas"),
            "highAvailability needs at least 2 scheduler replicas",
        ));
    }
    let worker_min = settings.worker_min.unwrap_or(base.worker_min);
    let worker_max = settings.worker_max.unwrap_or(base.worker_max);
    if worker_min < 0 {
        return Err(ApiError::bad_input(field("workerMin"), "workerMin must not be negative"));
    }
    if worker_max > policy.worker_max_ceiling {
        return Err(ApiError::bad_input(
            field("workerMax"),
            format!("workerMax is at most {}", policy.worker_max_ceiling),
        ));
    }
    if worker_min > worker_max {
        let name = if settings.worker_min.is_some() { "workerMin" } else { "workerMax" };
        return Err(ApiError::bad_input(field(name), "workerMin must not exceed workerMax"));
    }
    let worker_concurrency = settings.worker_concurrency.unwrap_or(base.worker_concurrency);
    let (low, high) = catalogue::WORKER_CONCURRENCY;
    if !(low..=high).contains(&worker_concurrency) {
        return Err(ApiError::bad_input(
            field("workerConcurrency"),
            format!("workerConcurrency must be between {low} and {high}"),
        ));
    }
    Ok(DeploymentChanges {
        executor: Some(executor),
        scheduler_size: Some(scheduler_size),
        scheduler_replicas: Some(scheduler_replicas),
        worker_min: Some(worker_min),
        worker_max: Some(worker_max),
        worker_concurrency: Some(worker_concurrency),
        high_availability: Some(high_availability),
        enforce_cicd: Some(settings.enforce_cicd.unwrap_or(base.enforce_cicd)),
        dag_deploy_enabled: Some(settings.dag_deploy_enabled.unwrap_or(base.dag_deploy_enabled)),
        ..DeploymentChanges::default()
    })
}

/// Audit snapshot of a deployment.
pub fn snapshot(d: &Deployment) -> serde_json::Value {
    json!({
        "id": d.id, "label": d.label, "description": d.description, "releaseName": d.release_name,
        "airflowVersion": d.airflow_version, "runtimeVersion": d.runtime_version, "executor": d.executor,
        "schedulerSize": d.scheduler_size, "schedulerReplicas": d.scheduler_replicas, "workerMin": d.worker_min,
        "workerMax": d.worker_max, "workerConcurrency": d.worker_concurrency, "highAvailability": d.high_availability,
        "enforceCicd": d.enforce_cicd, "dagDeployEnabled": d.dag_deploy_enabled, "deletedAt": d.deleted_at,
        "namespace": d.namespace, "clusterId": d.cluster_id, "mode": d.mode,
        "desiredRuntimeVersion": d.desired_runtime_version, "desiredAirflowVersion": d.desired_airflow_version,
        "status": d.status, "expiresAt": d.expires_at, "isDevelopmentMode": d.is_development_mode,
        "hibernateAtCron": d.hibernate_at_cron, "wakeAtCron": d.wake_at_cron,
        "hibernationTimeZone": d.hibernation_time_zone, "hibernateUntil": d.hibernate_until,
        "awakeUntil": d.awake_until, "isHibernating": d.is_hibernating,
    })
}

const ADJECTIVES: &[&str] = &[
    "amber", "brave", "calm", "dusty", "eager", "faint", "gentle", "hollow", "icy", "jolly", "keen", "lunar", "mellow",
    "nimble", "orbital", "quiet", "rapid", "solar", "tidal", "urban", "vivid", "windy", "young", "zesty",
];
const NOUNS: &[&str] = &[
    "asteroid",
    "beacon",
    "comet",
    "delta",
    "eclipse",
    "field",
    "galaxy",
    "harbor",
    "island",
    "jet",
    "kernel",
    "lagoon",
    "meteor",
    "nebula",
    "orbit",
    "pulsar",
    "quasar",
    "rocket",
    "star",
    "telescope",
    "umbra",
    "vortex",
    "wave",
    "zenith",
];

fn generated_release_name() -> ApiResult<String> {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::internal(format!("randomness: {e}")))?;
    let adjective = ADJECTIVES[usize::from(bytes[0]) % ADJECTIVES.len()];
    let noun = NOUNS[usize::from(bytes[1]) % NOUNS.len()];
    let number = 1000 + u16::from_le_bytes([bytes[2], bytes[3]]) % 9000;
    Ok(format!("{adjective}-{noun}-{number}"))
}

/// A DNS label: lower-case letters, digits and `-`, starting with a letter, not ending with `-`, ≤ 63.
pub fn valid_release_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_lowercase()
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && !name.ends_with('-')
}

/// What `createDeployment` asks for.
#[derive(Debug, Clone, Default)]
pub struct NewDeploymentRequest {
    /// Workspace.
    pub workspace_id: Uuid,
    /// Label.
    pub label: String,
    /// Description.
    pub description: Option<String>,
    /// Requested release name (only with manual release names).
    pub release_name: Option<String>,
    /// Requested runtime version.
    pub runtime_version: Option<String>,
    /// Requested Airflow version (picks the newest runtime shipping it).
    pub airflow_version: Option<String>,
    /// Requested cluster.
    pub cluster_id: Option<Uuid>,
    /// Requested namespace: one of the cluster's pool not used by a live deployment (by default
    /// `<prefix>-<releaseName>`).
    pub namespace: Option<String>,
    /// Settings.
    pub settings: Settings,
    /// Houston's free-form config.
    pub config: Option<serde_json::Value>,
    /// Houston's free-form properties.
    pub properties: Option<serde_json::Value>,
    /// When the deployment deletes itself (already resolved by [`crate::domain::lifecycle::expiry`]).
    pub expires_at: Option<DateTime<Utc>>,
    /// A development deployment (only these may hibernate; fixed at creation).
    pub is_development_mode: bool,
}

fn pick_release(runtime: Option<&str>, airflow: Option<&str>) -> ApiResult<RuntimeRelease> {
    match (runtime.filter(|v| !v.is_empty()), airflow.filter(|v| !v.is_empty())) {
        (Some(version), _) => catalogue::release(version).ok_or_else(|| {
            ApiError::bad_input("runtimeVersion", format!("{version:?} is not an available runtime version"))
        }),
        (None, Some(version)) => catalogue::release_for_airflow(version).ok_or_else(|| {
            ApiError::bad_input("airflowVersion", format!("{version:?} is not an available Airflow version"))
        }),
        (None, None) => Ok(catalogue::default_release()),
    }
}

fn label_conflict(error: diesel::result::Error) -> ApiError {
    use diesel::result::{DatabaseErrorKind, Error};
    match &error {
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => match info.constraint_name() {
            Some("deployments_workspace_label_live_key") => {
                ApiError::conflict("A deployment with this label already exists in the workspace")
            }
            Some("deployments_release_name_key") => ApiError::conflict("This release name is already taken"),
            Some("deployments_cluster_namespace_live_key") => {
                ApiError::conflict("This namespace is already used by a live deployment on the cluster")
            }
            _ => ApiError::from(error),
        },
        _ => ApiError::from(error),
    }
}

/// Whether another generated release name (and the namespace derived from it) may succeed.
fn is_release_name_clash(error: &diesel::result::Error, namespace_generated: bool) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    matches!(error, Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
        if info.constraint_name() == Some("deployments_release_name_key")
            || (namespace_generated && info.constraint_name() == Some("deployments_cluster_namespace_live_key")))
}

/// Refuses `namespace` unless it is in `cluster`'s pool and no live deployment uses it there (the unique
/// index settles a race between two requests). `field` names the argument.
async fn require_available_namespace(
    conn: &mut AsyncPgConnection,
    cluster: &Cluster,
    namespace: &str,
    field: &str,
) -> ApiResult<()> {
    if !cluster.namespaces.iter().any(|n| n == namespace) {
        return Err(ApiError::bad_input(
            field,
            format!(
                "{namespace:?} is not one of the namespaces of cluster {:?} (see availableNamespaces)",
                cluster.name
            ),
        ));
    }
    if Deployment::live_namespaces_on(conn, cluster.id).await?.iter().any(|n| n == namespace) {
        return Err(ApiError::conflict("This namespace is already used by a live deployment on the cluster"));
    }
    Ok(())
}

/// A write after which its author must still read the deployment it wrote ([`require_author_reads`]).
#[derive(Debug, Clone, Copy)]
pub enum Written<'a> {
    /// A deployment about to be created in this workspace (create, upsert, adopt, a deployment file):
    /// decided from the workspace's ancestry, before anything is written.
    New(&'a Workspace),
    /// Deployment `id`, whose role bindings the transaction has just changed (a deployment file's roles
    /// section): decided with the bindings the change leaves, read through the transaction.
    RolesChanged(Uuid),
}

/// FORBIDDEN unless the author of a write can read the deployment it leaves, since the answer names that
/// deployment and is read-checked like any object (SPEC §2 rule 5): otherwise the write would be
/// committed and then answered FORBIDDEN, and a client would retry into orphans. One rule for both ways
/// of losing the read:
/// - creating: a person becomes the new deployment's DEPLOYMENT_ADMIN (SPEC §1) and so always reads it;
///   an API key gets no role on what it creates, and one whose role reaches none of the workspace's
///   deployments (a custom role that may create but not read) is refused;
/// - changing roles: the author's bindings as the change leaves them (IP access lists applied as for the
///   request) must still grant the read.
pub async fn require_author_reads(
    conn: &mut AsyncPgConnection,
    authority: &Authority,
    written: Written<'_>,
) -> ApiResult<()> {
    let read = crate::rbac::operations::read_rule(ObjectKind::Deployment, Scope::Deployment);
    match written {
        Written::New(_) if authority.person().is_some() => Ok(()),
        Written::New(workspace) => {
            let new = Ancestry::deployment(Some(workspace.organization_id), Some(workspace.id), Uuid::nil());
            authority.require_at(read, &new)
        }
        Written::RolesChanged(id) => authority.as_now(conn).await?.require(conn, read, ScopeRef::Deployment(id)).await,
    }
}

/// Creates a deployment; a person who creates it becomes its DEPLOYMENT_ADMIN. FORBIDDEN, with nothing
/// written, when the creator could not read it ([`require_author_reads`]).
pub async fn create(
    conn: &mut AsyncPgConnection,
    request: NewDeploymentRequest,
    policy: &Policy,
    authority: &Authority,
    actor: &Actor,
) -> ApiResult<Deployment> {
    conn.transaction(async |tx| {
        let (deployment, workspace) = create_in(tx, request, policy, authority).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "deployment.create",
                target_type: "deployment",
                target_id: Some(deployment.id),
                organization_id: Some(workspace.organization_id),
                workspace_id: Some(workspace.id),
                deployment_id: Some(deployment.id),
                after: Some(snapshot(&deployment)),
                ..Change::default()
            },
        )
        .await?;
        Ok(deployment)
    })
    .await
}

/// [`create`] in the caller's transaction, without its audit event (for callers that record one event
/// for a larger change, such as applying a deployment file). Returns the deployment and its workspace.
pub async fn create_in(
    tx: &mut AsyncPgConnection,
    request: NewDeploymentRequest,
    policy: &Policy,
    authority: &Authority,
) -> ApiResult<(Deployment, Workspace)> {
    let creator = authority.person();
    let label = validate::label("label", &request.label, validate::MAX_LABEL)?;
    let description = validate::description("description", request.description.as_deref().unwrap_or_default())?;
    let release = pick_release(request.runtime_version.as_deref(), request.airflow_version.as_deref())?;
    let requested_name = request.release_name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    let requested_namespace = request.namespace.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if let Some(name) = requested_name {
        if !policy.manual_release_names {
            return Err(ApiError::bad_input(
                "releaseName",
                "Release names are generated on this server; leave releaseName out",
            ));
        }
        if !valid_release_name(name) {
            return Err(ApiError::bad_input(
                "releaseName",
                "A release name is a DNS label: lower-case letters, digits and '-', starting with a letter, at most 63 characters",
            ));
        }
    }
    for (field, value) in [("config", &request.config), ("properties", &request.properties)] {
        if let Some(value) = value {
            validate::json_object(field, value)?;
        }
    }
    // Houston clients send the executor inside `config`; typed settings win.
    let mut settings = request.settings.clone();
    if settings.executor.is_none() {
        settings.executor =
            request.config.as_ref().and_then(|c| c.get("executor")).and_then(|e| e.as_str()).map(str::to_owned);
    }
    let defaults = Deployment::defaults();
    let resolved = resolve_settings(&defaults, &settings, policy)?;

    {
        let workspace = Workspace::find_for_update(tx, request.workspace_id).await?.ok_or(ApiError::NotFound)?;
        require_author_reads(tx, authority, Written::New(&workspace)).await?;
        let clusters = Cluster::usable_by(tx, workspace.organization_id, workspace.id).await?;
        let cluster = match request.cluster_id {
            Some(id) => clusters.iter().find(|c| c.id == id).ok_or_else(|| {
                ApiError::bad_input("clusterUuid", "This workspace may not use that cluster (or it does not exist)")
            })?,
            None => clusters
                .first()
                .ok_or_else(|| ApiError::bad_input("clusterUuid", "No cluster is available to this workspace"))?,
        };
        if let Some(namespace) = requested_namespace {
            require_available_namespace(tx, cluster, namespace, "namespace").await?;
        }
        let mut attempts = 0;
        let deployment = loop {
            attempts += 1;
            let release_name = match requested_name {
                Some(name) => name.to_owned(),
                None => generated_release_name()?,
            };
            let new = NewDeployment {
                id: Uuid::now_v7(),
                workspace_id: workspace.id,
                cluster_id: cluster.id,
                label: label.clone(),
                description: description.clone(),
                namespace: match requested_namespace {
                    Some(namespace) => namespace.to_owned(),
                    None => format!("{}-{release_name}", policy.namespace_prefix),
                },
                release_name,
                version: catalogue::PLATFORM_VERSION.to_owned(),
                airflow_version: release.airflow_version.to_owned(),
                runtime_version: Some(release.version.to_owned()),
                executor: resolved.executor.clone().unwrap_or_default(),
                scheduler_size: resolved.scheduler_size.clone().unwrap_or_default(),
                scheduler_replicas: resolved.scheduler_replicas.unwrap_or(1),
                worker_min: resolved.worker_min.unwrap_or_default(),
                worker_max: resolved.worker_max.unwrap_or_default(),
                worker_concurrency: resolved.worker_concurrency.unwrap_or(1),
                high_availability: resolved.high_availability.unwrap_or_default(),
                enforce_cicd: resolved.enforce_cicd.unwrap_or_default(),
                dag_deploy_enabled: resolved.dag_deploy_enabled.unwrap_or_default(),
                config: request.config.clone().unwrap_or_else(|| json!({})),
                properties: request.properties.clone().unwrap_or_else(|| json!({})),
                mode: "helm".to_owned(),
                status: "CREATING".to_owned(),
                created_by: creator,
                expires_at: request.expires_at,
                is_development_mode: request.is_development_mode,
            };
            // A generated name may clash with an existing one: try another, inside a savepoint so the
            // transaction survives the failed insert.
            let inserted = tx.transaction(async |sp| Deployment::insert(sp, &new).await).await;
            match inserted {
                Ok(deployment) => break deployment,
                Err(error)
                    if requested_name.is_none()
                        && attempts < 5
                        && is_release_name_clash(&error, requested_namespace.is_none()) =>
                {
                    continue;
                }
                Err(error) => return Err(label_conflict(error)),
            }
        };
        if let Some(user_id) = creator {
            memberships::grant_creator(tx, user_id, Role::DeploymentAdmin, ScopeRef::Deployment(deployment.id)).await?;
        }
        Ok((deployment, workspace))
    }
}

impl Deployment {
    /// A deployment holding only the SPEC §1 defaults (the base new settings are applied to).
    fn defaults() -> Deployment {
        let now = Utc::now();
        Deployment {
            id: Uuid::nil(),
            workspace_id: Uuid::nil(),
            cluster_id: Uuid::nil(),
            label: String::new(),
            description: String::new(),
            release_name: String::new(),
            namespace: String::new(),
            version: String::new(),
            airflow_version: String::new(),
            runtime_version: None,
            desired_runtime_version: None,
            desired_airflow_version: None,
            executor: "CeleryExecutor".into(),
            scheduler_size: "SMALL".into(),
            scheduler_replicas: 1,
            worker_min: 0,
            worker_max: 10,
            worker_concurrency: 5,
            high_availability: false,
            enforce_cicd: false,
            dag_deploy_enabled: false,
            triggerer_replicas: 1,
            config: json!({}),
            properties: json!({}),
            status: "CREATING".into(),
            mode: "helm".into(),
            created_by: None,
            created_at: now,
            updated_at: now,
            deleted_at: None,
            deploy_revision: 0,
            deploy_image_tag: None,
            expires_at: None,
            is_development_mode: false,
            hibernate_at_cron: None,
            wake_at_cron: None,
            hibernation_time_zone: None,
            hibernate_until: None,
            awake_until: None,
            is_hibernating: false,
            hibernation_due_at: None,
        }
    }
}

/// Changes to a deployment (`updateDeployment`).
#[derive(Debug, Clone, Default)]
pub struct DeploymentUpdate {
    /// New label.
    pub label: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New settings.
    pub settings: Settings,
    /// New free-form config (replaces).
    pub config: Option<serde_json::Value>,
}

async fn change(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    action: &'static str,
    actor: &Actor,
    build: impl FnOnce(&Deployment) -> ApiResult<DeploymentChanges> + Send,
) -> ApiResult<Deployment> {
    conn.transaction(async |tx| {
        let (before, after) = change_in(tx, id, build).await?;
        audit::record(
            tx,
            actor,
            Change {
                action,
                target_type: "deployment",
                target_id: Some(id),
                workspace_id: Some(after.workspace_id),
                deployment_id: Some(id),
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

/// Changes a live deployment (locked) as `build` says, in the caller's transaction, without an audit
/// event; returns the deployment before and after.
async fn change_in(
    tx: &mut AsyncPgConnection,
    id: Uuid,
    build: impl FnOnce(&Deployment) -> ApiResult<DeploymentChanges> + Send,
) -> ApiResult<(Deployment, Deployment)> {
    let before = Deployment::live_for_update(tx, id).await?.ok_or(ApiError::NotFound)?;
    let changes = build(&before)?;
    let after = Deployment::update(tx, id, &changes).await.map_err(label_conflict)?;
    crate::db::notify::deployment_changed(tx, id).await?;
    Ok((before, after))
}

/// Applies `update` to a live deployment.
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    update: DeploymentUpdate,
    policy: &Policy,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<Deployment> {
    let label =
        update.label.as_deref().map(|l| validate::label("payload.label", l, validate::MAX_LABEL)).transpose()?;
    let description =
        update.description.as_deref().map(|d| validate::description("payload.description", d)).transpose()?;
    if let Some(config) = &update.config {
        validate::json_object("config", config)?;
    }
    change(conn, id, "deployment.update", actor, |before| {
        build_update(before, &update, label, description, policy, now)
    })
    .await
}

fn build_update(
    before: &Deployment,
    update: &DeploymentUpdate,
    label: Option<String>,
    description: Option<String>,
    policy: &Policy,
    now: DateTime<Utc>,
) -> ApiResult<DeploymentChanges> {
    let mut settings = update.settings.clone();
    if settings.executor.is_none() {
        settings.executor =
            update.config.as_ref().and_then(|c| c.get("executor")).and_then(|e| e.as_str()).map(str::to_owned);
    }
    let mut changes = resolve_settings(before, &settings, policy)?;
    changes.label = label;
    changes.description = description;
    changes.config = update.config.clone();
    changes.updated_at = Some(now);
    Ok(changes)
}

/// [`update`] in the caller's transaction, without its audit event (label and description errors name
/// `label` and `description`); returns the deployment before and after.
pub async fn update_in(
    tx: &mut AsyncPgConnection,
    id: Uuid,
    update: DeploymentUpdate,
    policy: &Policy,
    now: DateTime<Utc>,
) -> ApiResult<(Deployment, Deployment)> {
    let label = update.label.as_deref().map(|l| validate::label("label", l, validate::MAX_LABEL)).transpose()?;
    let description = update.description.as_deref().map(|d| validate::description("description", d)).transpose()?;
    if let Some(config) = &update.config {
        validate::json_object("config", config)?;
    }
    change_in(tx, id, |before| build_update(before, &update, label, description, policy, now)).await
}

/// Moves a deployment to another runtime version of the catalogue.
pub async fn upgrade(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    version: &str,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<Deployment> {
    let release = catalogue::release(version.trim())
        .ok_or_else(|| ApiError::bad_input("version", format!("{version:?} is not an available runtime version")))?;
    change(conn, id, "deployment.upgrade", actor, |before| Ok(build_upgrade(before, release, now))).await
}

fn build_upgrade(before: &Deployment, release: RuntimeRelease, now: DateTime<Utc>) -> DeploymentChanges {
    // A requested version that is now reached is no longer pending.
    let reached = before.desired_runtime_version.as_deref() == Some(release.version);
    DeploymentChanges {
        runtime_version: Some(Some(release.version.to_owned())),
        airflow_version: Some(release.airflow_version.to_owned()),
        desired_runtime_version: reached.then_some(None),
        updated_at: Some(now),
        ..DeploymentChanges::default()
    }
}

/// [`upgrade`] in the caller's transaction, without its audit event (an unknown version names
/// `runtimeVersion`); returns the deployment before and after.
pub async fn upgrade_in(
    tx: &mut AsyncPgConnection,
    id: Uuid,
    version: &str,
    now: DateTime<Utc>,
) -> ApiResult<(Deployment, Deployment)> {
    let release = catalogue::release(version.trim()).ok_or_else(|| {
        ApiError::bad_input("runtimeVersion", format!("{version:?} is not an available runtime version"))
    })?;
    change_in(tx, id, |before| Ok(build_upgrade(before, release, now))).await
}

/// Orders dotted version numbers (`12.4.0` < `12.10.0`); `None` for text that is not one.
fn version_key(version: &str) -> Option<Vec<u64>> {
    version.split('.').map(|part| part.parse::<u64>().ok()).collect()
}

/// Whether `wanted` is a later version than `current` (anything is, when `current` is unknown).
fn is_newer(wanted: &str, current: Option<&str>) -> bool {
    match (version_key(wanted), current.filter(|c| !c.is_empty()).and_then(version_key)) {
        (Some(wanted), Some(current)) => wanted > current,
        _ => true,
    }
}

/// Requests a runtime upgrade (`updateDeploymentRuntime`): sets the desired runtime version, which the
/// infrastructure layer acts on. The version must be in the catalogue and later than the one running;
/// BAD_USER_INPUT naming `desiredRuntimeVersion` otherwise.
pub async fn request_runtime(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    version: &str,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<Deployment> {
    const FIELD: &str = "desiredRuntimeVersion";
    let version = version.trim();
    let release = catalogue::release(version)
        .ok_or_else(|| ApiError::bad_input(FIELD, format!("{version:?} is not an available runtime version")))?;
    change(conn, id, "deployment.runtime.request", actor, |before| {
        if !is_newer(release.version, before.runtime_version.as_deref()) {
            let current = before.runtime_version.as_deref().unwrap_or_default();
            return Err(ApiError::bad_input(
                FIELD,
                format!(
                    "Runtime {version} is not later than the deployment's runtime {current}; downgrades are refused"
                ),
            ));
        }
        Ok(DeploymentChanges {
            desired_runtime_version: Some(Some(release.version.to_owned())),
            updated_at: Some(now),
            ..DeploymentChanges::default()
        })
    })
    .await
}

/// Withdraws a requested runtime upgrade (`cancelRuntimeUpdate`); BAD_USER_INPUT naming `deploymentUuid`
/// when none is pending.
pub async fn cancel_runtime_request(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<Deployment> {
    change(conn, id, "deployment.runtime.cancel", actor, |before| {
        if before.desired_runtime_version.is_none() {
            return Err(ApiError::bad_input("deploymentUuid", "This deployment has no runtime update to cancel"));
        }
        Ok(DeploymentChanges {
            desired_runtime_version: Some(None),
            updated_at: Some(now),
            ..DeploymentChanges::default()
        })
    })
    .await
}

/// Requests an Airflow upgrade (`updateDeploymentAirflow`): sets the desired Airflow version. It must be
/// an Airflow version of the catalogue and later than the one running; BAD_USER_INPUT naming
/// `desiredAirflowVersion` otherwise.
pub async fn request_airflow(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    version: &str,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<Deployment> {
    const FIELD: &str = "desiredAirflowVersion";
    let version = version.trim();
    let release = catalogue::release_for_airflow(version)
        .ok_or_else(|| ApiError::bad_input(FIELD, format!("{version:?} is not an available Airflow version")))?;
    change(conn, id, "deployment.airflow.request", actor, |before| {
        if !is_newer(release.airflow_version, Some(before.airflow_version.as_str())) {
            return Err(ApiError::bad_input(
                FIELD,
                format!(
                    "Airflow {version} is not later than the deployment's Airflow {}; downgrades are refused",
                    before.airflow_version
                ),
            ));
        }
        Ok(DeploymentChanges {
            desired_airflow_version: Some(Some(release.airflow_version.to_owned())),
            updated_at: Some(now),
            ..DeploymentChanges::default()
        })
    })
    .await
}

/// What `adoptDeployment` records: an Airflow the infrastructure already runs, from its custom resource.
#[derive(Debug, Clone, Default)]
pub struct AdoptRequest {
    /// Workspace it joins.
    pub workspace_id: Uuid,
    /// Cluster it runs on (one the workspace may use).
    pub cluster_id: Uuid,
    /// Namespace of the custom resource.
    pub namespace: String,
    /// Name of the custom resource: becomes the release name.
    pub name: String,
    /// Label (default: the custom resource's name).
    pub label: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Houston's adoption options, kept in `properties.adoption`.
    pub options: serde_json::Value,
}

/// Records an existing Airflow installation as a deployment of the workspace (`adoptDeployment`). Its
/// release name is the custom resource's name (a DNS label, unique for ever: CONFLICT when taken); its
/// namespace the custom resource's (CONFLICT while a live deployment uses it on that cluster). Nothing
/// is created in the infrastructure. The runtime version is unknown (null) until an upgrade is applied;
/// mode `operator`; the adopter becomes DEPLOYMENT_ADMIN.
pub async fn adopt(
    conn: &mut AsyncPgConnection,
    request: AdoptRequest,
    authority: &Authority,
    actor: &Actor,
) -> ApiResult<Deployment> {
    let creator = authority.person();
    let name = request.name.trim();
    if !valid_release_name(name) {
        return Err(ApiError::bad_input(
            "crName",
            "The custom resource's name becomes the release name: lower-case letters, digits and '-', starting with a letter, at most 63 characters",
        ));
    }
    let namespace = request.namespace.trim();
    if !valid_release_name(namespace) {
        return Err(ApiError::bad_input(
            "crNamespace",
            "A namespace name is lower-case letters, digits and '-', starting with a letter, at most 63 characters",
        ));
    }
    let label = request.label.as_deref().map(str::trim).filter(|l| !l.is_empty()).unwrap_or(name);
    let label = validate::label("label", label, validate::MAX_LABEL)?;
    let description = validate::description("description", request.description.as_deref().unwrap_or_default())?;
    let defaults = Deployment::defaults();
    conn.transaction(async |tx| {
        let workspace = Workspace::find_for_update(tx, request.workspace_id).await?.ok_or(ApiError::NotFound)?;
        require_author_reads(tx, authority, Written::New(&workspace)).await?;
        let clusters = Cluster::usable_by(tx, workspace.organization_id, workspace.id).await?;
        let cluster = clusters.iter().find(|c| c.id == request.cluster_id).ok_or_else(|| {
            ApiError::bad_input("clusterId", "This workspace may not use that cluster (or it does not exist)")
        })?;
        let new = NewDeployment {
            id: Uuid::now_v7(),
            workspace_id: workspace.id,
            cluster_id: cluster.id,
            label,
            description,
            release_name: name.to_owned(),
            namespace: namespace.to_owned(),
            version: catalogue::PLATFORM_VERSION.to_owned(),
            airflow_version: String::new(),
            runtime_version: None,
            executor: defaults.executor.clone(),
            scheduler_size: defaults.scheduler_size.clone(),
            scheduler_replicas: defaults.scheduler_replicas,
            worker_min: defaults.worker_min,
            worker_max: defaults.worker_max,
            worker_concurrency: defaults.worker_concurrency,
            high_availability: false,
            enforce_cicd: false,
            dag_deploy_enabled: false,
            config: json!({}),
            properties: json!({"adoption": request.options}),
            mode: "operator".to_owned(),
            status: "UNKNOWN".to_owned(),
            created_by: creator,
            expires_at: None,
            is_development_mode: false,
        };
        let deployment = tx.transaction(async |sp| Deployment::insert(sp, &new).await).await.map_err(label_conflict)?;
        if let Some(user_id) = creator {
            memberships::grant_creator(tx, user_id, Role::DeploymentAdmin, ScopeRef::Deployment(deployment.id)).await?;
        }
        crate::db::notify::deployment_changed(tx, deployment.id).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "deployment.adopt",
                target_type: "deployment",
                target_id: Some(deployment.id),
                organization_id: Some(workspace.organization_id),
                workspace_id: Some(workspace.id),
                deployment_id: Some(deployment.id),
                after: Some(snapshot(&deployment)),
                ..Change::default()
            },
        )
        .await?;
        Ok(deployment)
    })
    .await
}

/// Forgets a live deployment (`unadoptDeployment`): capcom's record goes, with the roles, API keys,
/// variables and deploys that hang off it, so that its release name can be adopted again; nothing in the
/// infrastructure is deleted. The audit event keeps the record as it was. Returns that record.
pub async fn unadopt(conn: &mut AsyncPgConnection, id: Uuid, actor: &Actor) -> ApiResult<Deployment> {
    conn.transaction(async |tx| {
        let before = Deployment::live_for_update(tx, id).await?.ok_or(ApiError::NotFound)?;
        Deployment::purge(tx, id).await?;
        crate::db::notify::deployment_changed(tx, id).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "deployment.unadopt",
                target_type: "deployment",
                target_id: Some(id),
                workspace_id: Some(before.workspace_id),
                deployment_id: Some(id),
                before: Some(snapshot(&before)),
                ..Change::default()
            },
        )
        .await?;
        Ok(before)
    })
    .await
}

/// Cluster `cluster_id` (NOT_FOUND when there is none), to be read-checked before
/// [`available_namespaces`] says anything about it.
pub async fn cluster(conn: &mut AsyncPgConnection, cluster_id: Uuid) -> ApiResult<Cluster> {
    Cluster::find_many(conn, &[cluster_id]).await?.into_iter().next().ok_or(ApiError::NotFound)
}

/// The namespaces of `cluster`'s pool that no live deployment uses, in the pool's order.
pub async fn available_namespaces(conn: &mut AsyncPgConnection, cluster: &Cluster) -> ApiResult<Vec<String>> {
    let used = Deployment::live_namespaces_on(conn, cluster.id).await?;
    Ok(cluster.namespaces.iter().filter(|n| !used.contains(n)).cloned().collect())
}

/// Soft-deletes a deployment: hidden from lists; its release name stays reserved.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<Deployment> {
    soft_delete(conn, id, now, "deployment.delete", actor).await
}

/// The soft deletion of [`delete`], recorded as `action`: `deleteDeployment` and the expiry of an
/// ephemeral deployment (`deployment.expire`, [`crate::domain::lifecycle::expire_next`]) share it.
pub(crate) async fn soft_delete(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    now: DateTime<Utc>,
    action: &'static str,
    actor: &Actor,
) -> ApiResult<Deployment> {
    change(conn, id, action, actor, |_| {
        Ok(DeploymentChanges { deleted_at: Some(Some(now)), updated_at: Some(now), ..DeploymentChanges::default() })
    })
    .await
}

/// Hard-deletes a live deployment (`deleteDeployment(deploymentHardDelete: true)`, what the CLI sends
/// since PLX-575): in one transaction, with the deployment row locked, its role bindings, API keys
/// (deployment-scope service accounts), deploys, environment variables, pending upgrade requests and
/// its entries in pending invites go, then the row itself, which frees its release name and namespace.
/// The audit event (`deployment.hardDelete`) keeps the record as it was, with its id, label and release
/// name; audit events have no foreign keys, so it outlives the deployment. NOT_FOUND when the deployment
/// is not live, soft-deleted ones included (deleted is absent, `docs/deployments.md`); of two concurrent
/// calls one wins and the other, once the lock is released, finds nothing. Returns the record as it was.
pub async fn hard_delete(conn: &mut AsyncPgConnection, id: Uuid, actor: &Actor) -> ApiResult<Deployment> {
    conn.transaction(async |tx| {
        let before = Deployment::live_for_update(tx, id).await?.ok_or(ApiError::NotFound)?;
        let workspace = Workspace::find(tx, before.workspace_id).await?.ok_or(ApiError::NotFound)?;
        let bindings = remove_role_bindings_on(tx, id).await?;
        let owned = Deployment::delete_owned_records(tx, id, before.workspace_id).await?;
        Deployment::purge(tx, id).await?;
        crate::db::notify::deployment_changed(tx, id).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "deployment.hardDelete",
                target_type: "deployment",
                target_id: Some(id),
                organization_id: Some(workspace.organization_id),
                workspace_id: Some(before.workspace_id),
                deployment_id: Some(id),
                before: Some(snapshot(&before)),
                after: Some(json!({"removed": {
                    "roleBindings": bindings, "serviceAccounts": owned.service_accounts, "deploys": owned.deploys,
                    "environmentVariables": owned.variables, "invitesChanged": owned.invites,
                }})),
            },
        )
        .await?;
        Ok(before)
    })
    .await
}

/// Removes every role binding on deployment `id` (users', teams' and service accounts'), for a hard
/// delete. One function so that bindings can later be removed through the membership rules instead.
async fn remove_role_bindings_on(tx: &mut AsyncPgConnection, id: Uuid) -> ApiResult<usize> {
    Ok(RoleBindingRow::delete_on_deployment(tx, id).await?)
}

/// Records that the actor was given an access token for deployment `id`'s Airflow with `airflow_role`
/// (NOT_FOUND for a deployment that is not live). The token is not part of the event.
pub async fn record_access_token(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    airflow_role: &str,
    expires_at: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<()> {
    conn.transaction(async |tx| {
        let deployment = Deployment::live_by_ids(tx, &[id]).await?.into_iter().next().ok_or(ApiError::NotFound)?;
        audit::record(
            tx,
            actor,
            Change {
                action: "deployment.accessToken.create",
                target_type: "deployment",
                target_id: Some(id),
                workspace_id: Some(deployment.workspace_id),
                deployment_id: Some(id),
                after: Some(json!({"airflowRole": airflow_role, "expiresAt": expires_at})),
                ..Change::default()
            },
        )
        .await
    })
    .await
}

/// A live deployment, or NOT_FOUND.
pub async fn get(conn: &mut AsyncPgConnection, id: Uuid) -> ApiResult<Deployment> {
    Deployment::live_by_ids(conn, &[id]).await?.into_iter().next().ok_or(ApiError::NotFound)
}

/// Live deployments of these workspaces (all when `None`), optionally one release name.
pub async fn list(
    conn: &mut AsyncPgConnection,
    workspace_ids: Option<&[Uuid]>,
    release_name: Option<&str>,
    limit: usize,
) -> ApiResult<Vec<Deployment>> {
    Ok(Deployment::live_in_workspaces(conn, workspace_ids, release_name, i64::try_from(limit).unwrap_or(i64::MAX))
        .await?)
}

/// Live deployments with these ids, in these workspaces, or in the workspaces of these organizations (a
/// caller's own), by label, at most `limit`.
pub async fn with_ids_or_in(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
    workspace_ids: &[Uuid],
    organization_ids: &[Uuid],
    limit: usize,
) -> ApiResult<Vec<Deployment>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    Ok(Deployment::live_with_ids_or_in(conn, ids, workspace_ids, organization_ids, limit).await?)
}

/// Live deployments by id (one statement).
pub async fn by_ids(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> ApiResult<Vec<Deployment>> {
    Ok(Deployment::live_by_ids(conn, ids).await?)
}

/// Role bindings on these deployments (one statement).
pub async fn role_bindings_on(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> ApiResult<Vec<RoleBindingRow>> {
    Ok(RoleBindingRow::for_deployments(conn, ids).await?)
}

/// Clusters visible to members of these organizations.
pub async fn clusters(conn: &mut AsyncPgConnection, organization_ids: &[Uuid]) -> ApiResult<Vec<Cluster>> {
    Ok(Cluster::visible_to(conn, organization_ids).await?)
}

/// Users holding a role directly on the deployment and matching `filter` (Houston's `UserSearch`), by
/// username.
pub async fn users(
    conn: &mut AsyncPgConnection,
    deployment_id: Uuid,
    filter: &crate::domain::users::UserFilter,
) -> ApiResult<Vec<User>> {
    let bindings = RoleBindingRow::for_deployments(conn, &[deployment_id]).await?;
    let ids: Vec<Uuid> = bindings.iter().filter_map(|b| b.user_id).collect();
    Ok(User::search_among(conn, filter, &ids).await?)
}

fn deployment_role(role: Role) -> ApiResult<Role> {
    let role = memberships::built_in("role", role)?;
    if role.scope() == Some(Scope::Deployment) {
        Ok(role)
    } else {
        Err(ApiError::bad_input(
            "role",
            format!("{role} is not a deployment role (DEPLOYMENT_ADMIN, DEPLOYMENT_EDITOR or DEPLOYMENT_VIEWER)"),
        ))
    }
}

/// Who a deployment-role change is about: a user id, or (as the CLI sends it) an email address.
#[derive(Debug, Clone)]
pub struct UserRef {
    /// The user's id, when known.
    pub user_id: Option<Uuid>,
    /// The user's email address.
    pub email: String,
}

/// What a deployment-role change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleChange {
    /// Grant a role to someone without one here.
    Add(RoleRequest),
    /// Change the role someone holds here.
    Update(RoleRequest),
    /// Remove the role someone holds here.
    Remove,
}

/// Adds, changes or removes a user's deployment role. The user must hold a workspace role in the
/// deployment's workspace (BAD_USER_INPUT otherwise); while a workspace invite to their address is
/// pending the role cannot change (CONFLICT).
pub async fn change_user_role(
    conn: &mut AsyncPgConnection,
    deployment_id: Uuid,
    user: UserRef,
    change_kind: RoleChange,
    authority: &Authority,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<RoleBindingRow> {
    conn.transaction(async |tx| {
        let outcome = change_user_role_in(tx, deployment_id, user, change_kind, authority, now, actor).await?;
        // Tenancy (SPEC §2): the event is filed under the deployment's organization.
        let organization_id = Workspace::find(tx, outcome.workspace_id).await?.map(|w| w.organization_id);
        audit::record(
            tx,
            actor,
            Change {
                action: "deployment.user.role",
                target_type: "user",
                target_id: Some(outcome.user_id),
                organization_id,
                workspace_id: Some(outcome.workspace_id),
                deployment_id: Some(deployment_id),
                before: outcome.before.as_ref().map(Conferred::snapshot),
                after: outcome.after.as_ref().map(Conferred::snapshot),
            },
        )
        .await?;
        Ok(outcome.binding)
    })
    .await
}

/// What [`change_user_role_in`] did.
#[derive(Debug, Clone)]
pub struct UserRoleOutcome {
    /// The binding (as it was, for a removal).
    pub binding: RoleBindingRow,
    /// The user.
    pub user_id: Uuid,
    /// The deployment's workspace.
    pub workspace_id: Uuid,
    /// The role held before, if any (with its custom role, if it was one).
    pub before: Option<Conferred>,
    /// The role held after, if any (with its custom role, if it is one).
    pub after: Option<Conferred>,
}

/// [`change_user_role`] in the caller's transaction, without its audit event (`actor` is recorded as the
/// binding's grantor).
pub async fn change_user_role_in(
    tx: &mut AsyncPgConnection,
    deployment_id: Uuid,
    user: UserRef,
    change_kind: RoleChange,
    authority: &Authority,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<UserRoleOutcome> {
    let email = validate::email("email", &user.email)?;
    match change_kind {
        RoleChange::Add(RoleRequest::Builtin(role)) | RoleChange::Update(RoleRequest::Builtin(role)) => {
            deployment_role(role)?;
            authority.require_grantable(tx, role, ScopeRef::Deployment(deployment_id)).await?;
        }
        RoleChange::Add(RoleRequest::Custom(_)) | RoleChange::Update(RoleRequest::Custom(_)) | RoleChange::Remove => {}
    }
    {
        let deployment = Deployment::live_for_update(tx, deployment_id).await?.ok_or(ApiError::NotFound)?;
        let pending = async |tx: &mut AsyncPgConnection, address: &str| {
            Invite::pending_in_workspace(tx, deployment.workspace_id, address, now).await
        };
        let invite_pending = || {
            ApiError::conflict(
                "This user's workspace invite is still pending; their deployment role can change once it is accepted",
            )
        };
        // SPEC §2: while a workspace invite to the address is pending, the deployment role cannot change.
        if pending(tx, &email).await? {
            return Err(invite_pending());
        }
        let found = match user.user_id {
            Some(id) => User::find(tx, id).await?,
            None => User::find_by_email(tx, &email).await?,
        };
        // The same answer for an unknown person as for someone outside the workspace, so that this does not
        // tell who has an account.
        let not_a_member = || {
            ApiError::bad_input(
                "email",
                "This user has no role in the deployment's workspace; add them to the workspace first",
            )
        };
        let Some(target) = found else {
            return Err(match change_kind {
                RoleChange::Add(_) => not_a_member(),
                RoleChange::Update(_) | RoleChange::Remove => ApiError::NotFound,
            });
        };
        // The same for the user's other addresses (the user may be named by id).
        for address in Email::for_users(tx, &[target.id]).await? {
            if address.address != email && pending(tx, &address.address).await? {
                return Err(invite_pending());
            }
        }
        if RoleBindingRow::user_in_workspace_for_update(tx, deployment.workspace_id, target.id).await?.is_none() {
            return Err(not_a_member());
        }
        let current = RoleBindingRow::user_on_deployment_for_update(tx, deployment_id, target.id).await?;
        let grantor = Grantor::Caller(authority);
        let (binding, before, after) = match (change_kind, current) {
            (RoleChange::Add(_), Some(_)) => {
                return Err(ApiError::conflict("This user already has a role on the deployment"));
            }
            (RoleChange::Add(request), None) => {
                let role = request.resolve(tx, ScopeRef::Deployment(deployment_id)).await?;
                let after = role.clone();
                let row = memberships::grant(
                    tx,
                    &grantor,
                    Holder::User(target.id),
                    role,
                    ScopeRef::Deployment(deployment_id),
                    actor.user_id,
                )
                .await?;
                (row, None, Some(after))
            }
            (RoleChange::Update(_) | RoleChange::Remove, None) => return Err(ApiError::NotFound),
            (RoleChange::Update(request), Some(row)) => {
                let role = request.resolve(tx, ScopeRef::Deployment(deployment_id)).await?;
                let after = role.clone();
                let before = memberships::conferred_of(tx, &row).await?;
                let updated = memberships::set_held_role(tx, &grantor, &row, before.clone(), role).await?;
                (updated, Some(before), Some(after))
            }
            (RoleChange::Remove, Some(row)) => {
                let before = memberships::conferred_of(tx, &row).await?;
                memberships::revoke_held(tx, &grantor, &row, before.clone()).await?;
                (row, Some(before), None)
            }
        };
        Ok(UserRoleOutcome { binding, user_id: target.id, workspace_id: deployment.workspace_id, before, after })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_as_numbers() {
        assert!(is_newer("12.10.0", Some("12.4.0")), "10 > 4, not as text");
        assert!(is_newer("2.10.3", Some("2.9.3")));
        assert!(!is_newer("11.7.0", Some("11.7.0")), "the same version is not an upgrade");
        assert!(!is_newer("10.6.0", Some("11.7.0")));
        assert!(is_newer("9.1.0", None), "anything is later than an unknown version");
        assert!(is_newer("9.1.0", Some("")), "an adopted deployment's empty Airflow version is unknown");
    }
}
