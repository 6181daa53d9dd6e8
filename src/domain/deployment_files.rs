//! Deployments as code (docs/deployment-file.md): a deployment's whole declared state as one YAML or
//! JSON file, exported by `deploymentFile` and applied by `applyDeploymentFile`.
//!
//! Applying goes through the domain functions every other mutation uses (creation, settings, upgrades,
//! variables, hibernation schedules, and the one grant path of [`crate::domain::memberships`] for roles),
//! with the permissions of the mutations they stand for, in one transaction
//! that writes one audit event, `deployment.file.applied`, listing the fields that changed. Secret
//! values never leave capcom: the file lists a secret by key with `isSecret`, and the diff and the audit
//! event show `(secret)` / `(secret changed)`.
//!
//! The input is bounded before anything else: at most [`MAX_FILE_BYTES`], one document, unknown keys
//! refused, `apiVersion` required and checked; YAML nesting is bounded before the parser runs
//! ([`MAX_NESTING`]) and what aliases expand to before anything is built ([`MAX_EXPANDED_BYTES`]), so a
//! hostile file fails fast with BAD_USER_INPUT.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::db::models::deployment::{Cluster, Deployment};
use crate::db::models::role_binding::RoleBindingRow;
use crate::db::models::team::Team;
use crate::db::models::user::{Email, User};
use crate::db::models::workspace::Workspace;
use crate::domain::audit::{self, Change};
use crate::domain::deployments::{self, DeploymentUpdate, NewDeploymentRequest, Policy, RoleChange, Settings, UserRef};
use crate::domain::lifecycle::{self, HibernationInput, HibernationSettings};
use crate::domain::memberships;
use crate::domain::teams::{self, TeamRoleChange};
use crate::domain::variables::{self, VariableInput};
use crate::domain::{Actor, Authority, validate};
use crate::error::{ApiError, ApiResult};
use crate::rbac::operations::{
    CREATE_DEPLOYMENT, DEPLOYMENT_UPDATE_USER_ROLE, ObjectKind, UPDATE_DEPLOYMENT, UPDATE_DEPLOYMENT_HIBERNATION,
    read_rule,
};
use crate::rbac::{Ancestry, Role, Scope, ScopeRef};
use crate::secrets::SecretBox;

/// The format version this server writes and reads (`apiVersion`).
pub const API_VERSION: &str = "capcom/v1";
/// The largest file accepted, in bytes (256 KiB).
pub const MAX_FILE_BYTES: usize = 256 * 1024;

/// The deepest nesting a file may have, checked on the text before the YAML parser sees it: the parser's
/// work grows with the square of the nesting (120 000 nested `[` in 240 KB cost 53 s of CPU), and a
/// deployment file's own structure is four levels deep.
pub const MAX_NESTING: usize = 32;

/// One request (all its batched operations and aliases together) applies at most one deployment file:
/// reading one costs up to tens of milliseconds, and twenty aliases of a 220 KB file cost a second.
#[derive(Debug, Default)]
pub struct FilePermit(std::sync::atomic::AtomicBool);

impl FilePermit {
    /// Claims the request's one file; BAD_USER_INPUT on `file` for every later claim.
    pub fn claim(&self) -> ApiResult<()> {
        if self.0.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err(ApiError::bad_input(
                "file",
                "One request applies at most one deployment file: send the others in requests of their own",
            ));
        }
        Ok(())
    }
}

/// The most a YAML file may hold once its aliases are followed, counted as the bytes of its scalars (map
/// keys included) plus one per node: twice [`MAX_FILE_BYTES`]. A file without aliases never comes near
/// it; aliases that repeat a block are allowed up to it. Without this bound an alias of a 64 KB value
/// repeated a thousand times made an 89 KB file into 65 MB of variables (SPEC §7: a small request does
/// not build a large one).
pub const MAX_EXPANDED_BYTES: usize = 2 * MAX_FILE_BYTES;

/// Sizes a YAML document with its aliases followed, without building anything: scalars are seen as
/// borrowed text, and the walk stops at the first byte past the allowance.
struct Expanded<'a> {
    left: &'a std::cell::Cell<usize>,
    exhausted: &'a std::cell::Cell<bool>,
}

impl Expanded<'_> {
    fn again(&self) -> Self {
        Expanded { left: self.left, exhausted: self.exhausted }
    }

    fn spend<E: serde::de::Error>(&self, bytes: usize) -> Result<(), E> {
        let cost = bytes.saturating_add(1);
        match self.left.get().checked_sub(cost) {
            Some(left) => {
                self.left.set(left);
                Ok(())
            }
            None => {
                self.exhausted.set(true);
                Err(E::custom("expanded past the allowance"))
            }
        }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Expanded<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Expanded<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a YAML value")
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        self.spend(0)
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        self.spend(8)
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        self.spend(8)
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        self.spend(8)
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<(), E> {
        self.spend(text.len())
    }

    fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<(), E> {
        self.spend(bytes.len())
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.spend(0)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
        self.spend(0)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        self.spend(0)?;
        while items.next_element_seed(self.again())?.is_some() {}
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut entries: A) -> Result<(), A::Error> {
        self.spend(0)?;
        while entries.next_key_seed(self.again())?.is_some() {
            entries.next_value_seed(self.again())?;
        }
        Ok(())
    }
}

/// Whether YAML `text`, its aliases followed, holds more than [`MAX_EXPANDED_BYTES`]. Other faults of
/// the text are left to the parse proper, which names them.
fn expands_too_far(text: &str) -> bool {
    let left = std::cell::Cell::new(MAX_EXPANDED_BYTES);
    let exhausted = std::cell::Cell::new(false);
    let seed = Expanded { left: &left, exhausted: &exhausted };
    let _ = serde::de::DeserializeSeed::deserialize(seed, serde_norway::Deserializer::from_str(text));
    exhausted.get()
}

/// The line (1-based) where `text` first nests deeper than [`MAX_NESTING`], counting every `[` and `{`
/// not yet closed (in quoted text too: a conservative count), and on each line the compact block entries
/// it opens (`- - - x`, `? - x`). `None` when it never does.
fn too_deep(text: &str) -> Option<usize> {
    let mut flow = 0usize;
    for (number, line) in text.lines().enumerate() {
        let mut compact = 0usize;
        let mut rest = line.trim_start();
        while let Some(after) = rest.strip_prefix("- ").or_else(|| rest.strip_prefix("? ")) {
            compact += 1;
            rest = after.trim_start();
        }
        for byte in line.bytes() {
            match byte {
                b'[' | b'{' => flow += 1,
                b']' | b'}' => flow = flow.saturating_sub(1),
                _ => {}
            }
            if flow > MAX_NESTING {
                return Some(number + 1);
            }
        }
        if compact > MAX_NESTING {
            return Some(number + 1);
        }
    }
    None
}
/// Most role entries in one file.
pub const MAX_ROLES: usize = 1000;

/// How a file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML (block style).
    Yaml,
    /// JSON (pretty-printed).
    Json,
}

/// A deployment file, format v1 (docs/deployment-file.md). Keys are written in this order. Every field
/// but `apiVersion` and `label` may be left out: on creation it takes its default, on update it stays as
/// it is (for `environmentVariables`, `hibernation` and `roles`: the whole list or schedule stays).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentFile {
    /// Always [`API_VERSION`].
    pub api_version: String,
    /// The deployment's label: names it within the workspace.
    pub label: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The cluster's name (fixed once the deployment exists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// `CeleryExecutor`, `KubernetesExecutor` or `LocalExecutor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor: Option<String>,
    /// A runtime version of the catalogue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_version: Option<String>,
    /// Scheduler size and replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<SchedulerSection>,
    /// Worker bounds and concurrency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<WorkersSection>,
    /// High availability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_availability: Option<bool>,
    /// Only API keys may deploy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforce_cicd: Option<bool>,
    /// DAG-only deploys allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dag_deploy_enabled: Option<bool>,
    /// Environment variables; secrets are listed without their value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_variables: Option<Vec<FileVariable>>,
    /// Development mode and the hibernation schedule (docs/hibernation.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hibernation: Option<HibernationSection>,
    /// Deployment roles of users (by address) and teams (by name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<FileRole>>,
}

/// `scheduler:`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SchedulerSection {
    /// `SMALL`, `MEDIUM` or `LARGE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// Replicas (1..4; at least 2 with high availability).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
}

/// `workers:`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkersSection {
    /// Minimum workers (≥ 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i32>,
    /// Maximum workers (≥ min, ≤ the operator's ceiling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i32>,
    /// Tasks per worker (1..256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<i32>,
}

/// An entry of `environmentVariables:`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileVariable {
    /// Key.
    pub key: String,
    /// Value: for a secret, present only to set a new value (never exported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Whether the value is secret.
    #[serde(default, skip_serializing_if = "is_false")]
    pub is_secret: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// `hibernation:`: whether the deployment is a development deployment, and its schedule. The section is
/// one setting, as `updateDeploymentHibernation`'s arguments are: when a file has it, its schedule is the
/// whole schedule (no cron expressions: none; no time zone: UTC); when a file leaves it out, the schedule
/// stays. The one-off overrides (`hibernateUntil`, `awakeUntil`) are actions in time, not declared state:
/// they are not part of the file, and applying one keeps an override in force.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HibernationSection {
    /// Development mode (may hibernate); fixed when the deployment is created (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub development_mode: Option<bool>,
    /// When to hibernate: a 5-field cron expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hibernate_at_cron: Option<String>,
    /// When to wake: a 5-field cron expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake_at_cron: Option<String>,
    /// The IANA time zone both expressions are read in (default `UTC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// An entry of `roles:`: a user (by address) or a team (by name) and its deployment role.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileRole {
    /// A user's email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// A team's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// `DEPLOYMENT_ADMIN`, `DEPLOYMENT_EDITOR` or `DEPLOYMENT_VIEWER`.
    pub role: String,
}

// ---------------------------------------------------------------------------------------------------
// Reading and writing files

fn file_error(path: &str, line: Option<usize>, message: impl std::fmt::Display) -> ApiError {
    let field = if path.is_empty() || path == "." { "file".to_owned() } else { path.to_owned() };
    let message = message.to_string();
    // The YAML parser's messages may already start with the path.
    let message = message.strip_prefix(&format!("{field}: ")).map(str::to_owned).unwrap_or(message);
    let located = match line {
        Some(line) if !message.contains("line ") => format!("{field} (line {line}): {message}"),
        _ => format!("{field}: {message}"),
    };
    ApiError::bad_input(field, located)
}

/// Parses a file: JSON when it starts with `{`, YAML otherwise. BAD_USER_INPUT naming the path in the
/// file (`workers.max`, `roles[1].user`) and, where the parser knows it, the line: for a file over
/// [`MAX_FILE_BYTES`], a syntax error, an unknown key, a wrong type, a missing or unknown `apiVersion`.
pub fn parse(text: &str) -> ApiResult<DeploymentFile> {
    if text.len() > MAX_FILE_BYTES {
        return Err(ApiError::bad_input(
            "file",
            format!("A deployment file is at most {} KiB; this one has {} bytes", MAX_FILE_BYTES / 1024, text.len()),
        ));
    }
    if text.trim().is_empty() {
        return Err(ApiError::bad_input("file", "The deployment file is empty"));
    }
    if let Some(line) = too_deep(text) {
        return Err(ApiError::bad_input(
            "file",
            format!("line {line}: the file nests lists or maps more than {MAX_NESTING} deep"),
        ));
    }
    let file: DeploymentFile = if text.trim_start().starts_with('{') {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let file = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            let path = error.path().to_string();
            let inner = error.into_inner();
            file_error(&path, Some(inner.line()), inner)
        })?;
        deserializer.end().map_err(|error| file_error("", Some(error.line()), error))?;
        file
    } else {
        if expands_too_far(text) {
            return Err(ApiError::bad_input(
                "file",
                format!(
                    "The file's aliases (*name) repeat more than {} KiB of text; write the values out or repeat \
                     less",
                    MAX_EXPANDED_BYTES / 1024
                ),
            ));
        }
        let deserializer = serde_norway::Deserializer::from_str(text);
        serde_path_to_error::deserialize(deserializer).map_err(|error| {
            let path = error.path().to_string();
            let inner = error.into_inner();
            let line = inner.location().map(|at| at.line());
            file_error(&path, line, inner)
        })?
    };
    // PostgreSQL stores no NUL character: a text of the file holding one (written `\0` or `\u0000` in a
    // quoted string) is bad input naming its path, as it is in a GraphQL argument (SPEC §8).
    let parsed = serde_json::to_value(&file).map_err(ApiError::internal)?;
    if let Some(path) = crate::domain::validate::nul_in_json(&parsed) {
        return Err(file_error(&path, None, "must not contain a NUL character (\\u0000)"));
    }
    if file.api_version != API_VERSION {
        return Err(ApiError::bad_input(
            "apiVersion",
            format!("apiVersion: {:?} is not a version this server reads (use {API_VERSION:?})", file.api_version),
        ));
    }
    Ok(file)
}

/// Writes `file` as `format` (keys in the order of [`DeploymentFile`]).
pub fn render(file: &DeploymentFile, format: Format) -> ApiResult<String> {
    match format {
        Format::Yaml => serde_norway::to_string(file).map_err(ApiError::internal),
        Format::Json => serde_json::to_string_pretty(file).map(|text| text + "\n").map_err(ApiError::internal),
    }
}

// ---------------------------------------------------------------------------------------------------
// Export

/// The primary (else first) address of each of these users.
async fn addresses(conn: &mut AsyncPgConnection, user_ids: &[Uuid]) -> ApiResult<BTreeMap<Uuid, String>> {
    let mut found = BTreeMap::new();
    // Primary addresses come first.
    for email in Email::for_users(conn, user_ids).await? {
        found.entry(email.user_id).or_insert(email.address);
    }
    Ok(found)
}

/// The declared state of live deployment `id` (NOT_FOUND otherwise). With `with_roles` false the `roles`
/// section is left out (applying such a file leaves roles alone).
pub async fn export(conn: &mut AsyncPgConnection, id: Uuid, with_roles: bool) -> ApiResult<DeploymentFile> {
    let deployment = deployments::get(conn, id).await?;
    let cluster = Cluster::find_many(conn, &[deployment.cluster_id]).await?.into_iter().next().map(|c| c.name);
    let environment_variables = variables::list(conn, id)
        .await?
        .into_iter()
        .map(|v| FileVariable {
            value: if v.is_secret { None } else { Some(v.value) },
            key: v.key,
            is_secret: v.is_secret,
        })
        .collect();
    let roles =
        if with_roles { Some(current_roles(conn, id).await?.into_values().map(|c| c.entry).collect()) } else { None };
    Ok(DeploymentFile {
        api_version: API_VERSION.to_owned(),
        label: deployment.label,
        description: Some(deployment.description),
        cluster,
        executor: Some(deployment.executor),
        runtime_version: deployment.runtime_version,
        scheduler: Some(SchedulerSection {
            size: Some(deployment.scheduler_size),
            replicas: Some(deployment.scheduler_replicas),
        }),
        workers: Some(WorkersSection {
            min: Some(deployment.worker_min),
            max: Some(deployment.worker_max),
            concurrency: Some(deployment.worker_concurrency),
        }),
        high_availability: Some(deployment.high_availability),
        enforce_cicd: Some(deployment.enforce_cicd),
        dag_deploy_enabled: Some(deployment.dag_deploy_enabled),
        environment_variables: Some(environment_variables),
        hibernation: Some(HibernationSection {
            development_mode: Some(deployment.is_development_mode),
            hibernate_at_cron: deployment.hibernate_at_cron,
            wake_at_cron: deployment.wake_at_cron,
            time_zone: deployment.hibernation_time_zone,
        }),
        roles,
    })
}

/// A role binding on the deployment as the file names it.
#[derive(Debug, Clone)]
struct CurrentRole {
    entry: FileRole,
    row: RoleBindingRow,
}

/// The user and team roles on deployment `id`, by [`holder_key`] (users by address, then teams by name).
async fn current_roles(conn: &mut AsyncPgConnection, id: Uuid) -> ApiResult<BTreeMap<String, CurrentRole>> {
    let rows = RoleBindingRow::for_deployments(conn, &[id]).await?;
    let user_ids: Vec<Uuid> = rows.iter().filter_map(|r| r.user_id).collect();
    let team_ids: Vec<Uuid> = rows.iter().filter_map(|r| r.team_id).collect();
    let addresses = addresses(conn, &user_ids).await?;
    let teams: BTreeMap<Uuid, String> =
        Team::find_many(conn, &team_ids).await?.into_iter().map(|t| (t.id, t.name)).collect();
    let mut found = BTreeMap::new();
    for row in rows {
        let entry = match (row.user_id, row.team_id) {
            (Some(user), _) => match addresses.get(&user) {
                Some(address) => FileRole { user: Some(address.clone()), team: None, role: row.role.clone() },
                None => continue,
            },
            (None, Some(team)) => match teams.get(&team) {
                Some(name) => FileRole { user: None, team: Some(name.clone()), role: row.role.clone() },
                None => continue,
            },
            // API keys' roles belong to the keys, not to the file.
            (None, None) => continue,
        };
        found.insert(holder_key(&entry), CurrentRole { entry, row });
    }
    Ok(found)
}

/// `roles[user:<address>]` or `roles[team:<name>]`: how the diff names a role entry. Users sort before
/// teams.
fn holder_key(entry: &FileRole) -> String {
    match (&entry.user, &entry.team) {
        (Some(user), _) => format!("roles[user:{user}]"),
        (None, Some(team)) => format!("roles[team:{team}]"),
        (None, None) => "roles[?]".to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------------
// Diffs

/// One field that changes: `old` → `new` (`None`: absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    /// Path in the file (`workers.max`, `environmentVariables.MY_KEY`, `roles[user:a@example.com]`).
    pub field: String,
    /// Value before.
    pub old: Option<String>,
    /// Value after.
    pub new: Option<String>,
}

const SECRET: &str = "(secret)";
const SECRET_CHANGED: &str = "(secret changed)";

/// The settings of a file (the hibernation section included) as `(path, value)` pairs in file order (no
/// variables, no roles).
fn flat_settings(file: &DeploymentFile) -> Vec<(String, String)> {
    let mut out = vec![("label".to_owned(), file.label.clone())];
    let mut push = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            out.push((name.to_owned(), value));
        }
    };
    push("description", file.description.clone());
    push("cluster", file.cluster.clone());
    push("executor", file.executor.clone());
    push("runtimeVersion", file.runtime_version.clone());
    let scheduler = file.scheduler.clone().unwrap_or_default();
    push("scheduler.size", scheduler.size);
    push("scheduler.replicas", scheduler.replicas.map(|v| v.to_string()));
    let workers = file.workers.clone().unwrap_or_default();
    push("workers.min", workers.min.map(|v| v.to_string()));
    push("workers.max", workers.max.map(|v| v.to_string()));
    push("workers.concurrency", workers.concurrency.map(|v| v.to_string()));
    push("highAvailability", file.high_availability.map(|v| v.to_string()));
    push("enforceCicd", file.enforce_cicd.map(|v| v.to_string()));
    push("dagDeployEnabled", file.dag_deploy_enabled.map(|v| v.to_string()));
    let hibernation = file.hibernation.clone().unwrap_or_default();
    push("hibernation.developmentMode", hibernation.development_mode.map(|v| v.to_string()));
    push("hibernation.hibernateAtCron", hibernation.hibernate_at_cron);
    push("hibernation.wakeAtCron", hibernation.wake_at_cron);
    push("hibernation.timeZone", hibernation.time_zone);
    out
}

/// Variables as `(environmentVariables.KEY, value)`; secrets show as `(secret)`, or `(secret changed)`
/// when their key is in `set_secrets`.
fn flat_variables(list: &[FileVariable], set_secrets: &BTreeSet<String>) -> Vec<(String, String)> {
    list.iter()
        .map(|v| {
            let shown = match (v.is_secret, set_secrets.contains(&v.key)) {
                (true, true) => SECRET_CHANGED.to_owned(),
                (true, false) => SECRET.to_owned(),
                (false, _) => v.value.clone().unwrap_or_default(),
            };
            (format!("environmentVariables.{}", v.key), shown)
        })
        .collect()
}

fn flat_roles(list: &[FileRole]) -> Vec<(String, String)> {
    list.iter().map(|r| (holder_key(r), r.role.clone())).collect()
}

/// The whole state of an exported file, flattened, with `set_secrets` marked as changed.
fn flatten(file: &DeploymentFile, set_secrets: &BTreeSet<String>) -> Vec<(String, String)> {
    let mut out = flat_settings(file);
    out.extend(flat_variables(file.environment_variables.as_deref().unwrap_or_default(), set_secrets));
    out.extend(flat_roles(file.roles.as_deref().unwrap_or_default()));
    out
}

/// What differs between `before` and `after`, in the order of `before` then the paths new in `after`.
fn diff(before: &[(String, String)], after: &[(String, String)]) -> Vec<FieldChange> {
    let old: BTreeMap<&str, &str> = before.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let new: BTreeMap<&str, &str> = after.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut changes = Vec::new();
    for (key, value) in before {
        match new.get(key.as_str()) {
            Some(now) if *now == value => {}
            now => changes.push(FieldChange {
                field: key.clone(),
                old: Some(value.clone()),
                new: now.map(|v| (*v).to_owned()),
            }),
        }
    }
    for (key, value) in after {
        if !old.contains_key(key.as_str()) {
            changes.push(FieldChange { field: key.clone(), old: None, new: Some(value.clone()) });
        }
    }
    changes
}

// ---------------------------------------------------------------------------------------------------
// Apply

/// What applying a file asks for.
pub struct ApplyRequest<'a> {
    /// The workspace the file's deployment is (or will be) in.
    pub workspace_id: Uuid,
    /// The parsed file.
    pub file: DeploymentFile,
    /// Only report what would change.
    pub dry_run: bool,
    /// Operator limits.
    pub policy: &'a Policy,
    /// Seals secret values.
    pub secrets: &'a SecretBox,
    /// The caller's authority (permission checks and the grant rule); a person becomes DEPLOYMENT_ADMIN
    /// of a deployment the file creates.
    pub authority: &'a Authority,
    /// Now.
    pub now: DateTime<Utc>,
}

/// What applying a file did (or, for a dry run, would do).
#[derive(Debug, Clone)]
pub struct Applied {
    /// The deployment (`None` for a dry run that would create it).
    pub deployment_id: Option<Uuid>,
    /// Whether the deployment is (would be) created.
    pub created: bool,
    /// Whether nothing was written.
    pub dry_run: bool,
    /// Every field that changed (would change), old → new.
    pub changes: Vec<FieldChange>,
}

/// Why the transaction ends without committing.
enum Abort {
    Failed(ApiError),
    DryRun(Applied),
}

impl From<ApiError> for Abort {
    fn from(error: ApiError) -> Self {
        Abort::Failed(error)
    }
}

impl From<diesel::result::Error> for Abort {
    fn from(error: diesel::result::Error) -> Self {
        Abort::Failed(ApiError::from(error))
    }
}

/// Renames a domain function's field (`settings.workerMax`, `environmentVariables.0.key`) to its path in
/// the file (`workers.max`, `environmentVariables[0].key`).
fn in_file(error: ApiError) -> ApiError {
    let (field, message) = match error {
        ApiError::BadUserInput { field, message } => (field, message),
        other => return other,
    };
    let renamed = match field.as_str() {
        "settings.executor" => "executor".to_owned(),
        "settings.schedulerSize" => "scheduler.size".to_owned(),
        "settings.schedulerReplicas" => "scheduler.replicas".to_owned(),
        "settings.workerMin" => "workers.min".to_owned(),
        "settings.workerMax" => "workers.max".to_owned(),
        "settings.workerConcurrency" => "workers.concurrency".to_owned(),
        "payload.label" | "label" => "label".to_owned(),
        "payload.description" | "description" => "description".to_owned(),
        "version" | "runtimeVersion" | "airflowVersion" => "runtimeVersion".to_owned(),
        "clusterUuid" => "cluster".to_owned(),
        // `updateDeploymentHibernation`'s arguments, as the `hibernation:` section names them.
        "isDevelopmentMode" => "hibernation.developmentMode".to_owned(),
        "hibernateAtCron" => "hibernation.hibernateAtCron".to_owned(),
        "wakeAtCron" => "hibernation.wakeAtCron".to_owned(),
        "hibernationTimeZone" => "hibernation.timeZone".to_owned(),
        other => match other.strip_prefix("environmentVariables.").and_then(|rest| rest.split_once('.')) {
            Some((index, part)) => format!("environmentVariables[{index}].{part}"),
            None => other.to_owned(),
        },
    };
    let message = if renamed.starts_with("hibernation.") {
        // The mutation's messages name its arguments; say the file's keys instead.
        message.replace("isDevelopmentMode", "developmentMode").replace("hibernationTimeZone", "timeZone")
    } else {
        message
    };
    let message = if message.starts_with(&renamed) { message } else { format!("{renamed}: {message}") };
    ApiError::BadUserInput { field: renamed, message }
}

/// Who a role entry of the file names, resolved.
#[derive(Debug, Clone)]
enum Named {
    User { id: Uuid, address: String },
    Team(Team),
}

/// A role entry of the file, resolved and checked.
#[derive(Debug, Clone)]
struct Wanted {
    named: Named,
    role: Role,
    key: String,
}

/// Resolves the `roles` entries against the workspace: a user must hold a workspace role there (the same
/// answer for an unknown address as for someone outside the workspace, so this tells nobody who has an
/// account), a team must be the organization's and hold a workspace role there; roles are deployment
/// roles; nobody is listed twice. Errors name `roles[i].user`, `roles[i].team`, `roles[i].role`.
/// What an applier may learn from a roles section ([`resolve_roles`]).
struct Insight<'a> {
    /// Whether they may change the deployment's roles (`deployment.iam.update`).
    may_change_roles: bool,
    /// Whether they may list the workspace's members and teams (`workspaceUsers`, `workspaceTeams`).
    reads_workspace_members: bool,
    /// The signed-in person applying, if any.
    person: Option<Uuid>,
    /// The entries' keys of the deployment's current role holders (in the file its member readers
    /// export).
    holders: &'a BTreeSet<String>,
}

impl Insight<'_> {
    /// What `authority` may learn from a roles section of deployment `deployment` (`None`: one not
    /// created yet) in `workspace`. Decided in memory from the workspace's ancestry: nothing is read.
    fn of<'a>(
        authority: &Authority,
        workspace: &Workspace,
        deployment: Option<Uuid>,
        holders: &'a BTreeSet<String>,
    ) -> Insight<'a> {
        let organization = Some(workspace.organization_id);
        let here = Ancestry::deployment(organization, Some(workspace.id), deployment.unwrap_or(Uuid::nil()));
        // A person administers what they create (SPEC §1); an API key holds on a new deployment only what
        // its roles imply there.
        let creator = deployment.is_none() && authority.person().is_some();
        let may_change_roles =
            creator || authority.require_at(DEPLOYMENT_UPDATE_USER_ROLE.rule.permissions(), &here).is_ok();
        let at = Ancestry::workspace(organization, workspace.id);
        let reads = |kind| authority.require_at(read_rule(kind, Scope::Workspace), &at).is_ok();
        let reads_workspace_members = reads(ObjectKind::Member) && reads(ObjectKind::Team);
        Insight { may_change_roles, reads_workspace_members, person: authority.person(), holders }
    }
}

/// The entries of a roles section resolved against the workspace ([`resolve_named`]), as far as the
/// applier may learn who is in it. Whether an address or a team name means anyone in the workspace is
/// what `workspaceUsers` and `workspaceTeams` tell: an applier who may not read those names in a section
/// only themselves and the deployment's current holders, and gets FORBIDDEN for any other entry and any
/// entry the section cannot take (a name that means no one, a name listed twice, as resolved), as an
/// applier who may not change the deployment's roles does. So neither a dry run nor the file of a new
/// deployment is an oracle of who is in the workspace.
async fn resolve_roles(
    tx: &mut AsyncPgConnection,
    workspace: &Workspace,
    list: &[FileRole],
    insight: &Insight<'_>,
) -> ApiResult<Vec<Wanted>> {
    let told = insight.may_change_roles && insight.reads_workspace_members;
    let wanted = match resolve_named(tx, workspace, list).await {
        Err(ApiError::BadUserInput { .. }) if !told => return Err(ApiError::Forbidden),
        other => other?,
    };
    if !insight.reads_workspace_members {
        let known = |w: &Wanted| {
            insight.holders.contains(&w.key) || matches!(w.named, Named::User { id, .. } if Some(id) == insight.person)
        };
        if !wanted.iter().all(known) {
            return Err(ApiError::Forbidden);
        }
    }
    Ok(wanted)
}

/// [`resolve_roles`]' resolution: each entry's role and holder, BAD_USER_INPUT naming the entry.
async fn resolve_named(tx: &mut AsyncPgConnection, workspace: &Workspace, list: &[FileRole]) -> ApiResult<Vec<Wanted>> {
    if list.len() > MAX_ROLES {
        return Err(ApiError::bad_input("roles", format!("roles: at most {MAX_ROLES} entries")));
    }
    let mut teams: Option<Vec<Team>> = None;
    let mut wanted: Vec<Wanted> = Vec::with_capacity(list.len());
    for (index, entry) in list.iter().enumerate() {
        let at = |part: &str| format!("roles[{index}].{part}");
        let role: Role =
            entry.role.trim().parse().map_err(|_| {
                ApiError::bad_input(at("role"), format!("{}: {:?} is not a role", at("role"), entry.role))
            })?;
        if role.scope() != Some(Scope::Deployment) {
            return Err(ApiError::bad_input(
                at("role"),
                format!(
                    "{}: {role} is not a deployment role (DEPLOYMENT_ADMIN, DEPLOYMENT_EDITOR or DEPLOYMENT_VIEWER)",
                    at("role")
                ),
            ));
        }
        let named = match (&entry.user, &entry.team) {
            (Some(address), None) => {
                let field = at("user");
                let address = validate::email(&field, address)?;
                let not_member = || {
                    ApiError::bad_input(
                        field.clone(),
                        format!(
                            "{field}: {address} has no role in the deployment's workspace; add them to the workspace first"
                        ),
                    )
                };
                let user = User::find_by_email(tx, &address).await?.ok_or_else(not_member)?;
                if RoleBindingRow::user_in_workspace_for_update(tx, workspace.id, user.id).await?.is_none() {
                    return Err(not_member());
                }
                let primary = addresses(tx, &[user.id]).await?.remove(&user.id).unwrap_or(address.clone());
                Named::User { id: user.id, address: primary }
            }
            (None, Some(name)) => {
                let field = at("team");
                if teams.is_none() {
                    teams = Some(Team::page(tx, Some(workspace.organization_id), None, i64::MAX).await?);
                }
                // The name as written first (a file exported names each team so); else the one team whose
                // name it is in another case. Two teams may differ only in case (the names are unique in
                // ASCII case only): such a name is refused rather than given to either of them.
                // Team names are stored in NFKC (`createTeam`): a name written decomposed is the same name.
                let written: String = unicode_normalization::UnicodeNormalization::nfkc(name.trim()).collect();
                let written = written.trim();
                let exact = teams.iter().flatten().find(|t| t.name == written);
                let lowered = written.to_lowercase();
                let mut folded = teams.iter().flatten().filter(|t| t.name.to_lowercase() == lowered);
                let team = match (exact, folded.next(), folded.next()) {
                    (Some(team), _, _) | (None, Some(team), None) => team.clone(),
                    (None, Some(_), Some(_)) => {
                        return Err(ApiError::bad_input(
                            field.clone(),
                            format!(
                                "{field}: more than one team of the organization is named {name:?} in some case; write its name exactly"
                            ),
                        ));
                    }
                    (None, None, _) => {
                        return Err(ApiError::bad_input(
                            field.clone(),
                            format!("{field}: the organization has no team {name:?}"),
                        ));
                    }
                };
                let in_workspace =
                    RoleBindingRow::team_on_for_update(tx, team.id, Scope::Workspace.as_str(), Some(workspace.id))
                        .await?;
                if in_workspace.is_none() {
                    return Err(ApiError::bad_input(
                        field.clone(),
                        format!(
                            "{field}: team {:?} has no role in the deployment's workspace; add it to the workspace first",
                            team.name
                        ),
                    ));
                }
                Named::Team(team)
            }
            _ => {
                return Err(ApiError::bad_input(
                    format!("roles[{index}]"),
                    format!("roles[{index}]: name either a user or a team"),
                ));
            }
        };
        let key = match &named {
            Named::User { address, .. } => format!("roles[user:{address}]"),
            Named::Team(team) => format!("roles[team:{}]", team.name),
        };
        if wanted.iter().any(|w| w.key == key) {
            return Err(ApiError::bad_input(
                format!("roles[{index}]"),
                format!("roles[{index}]: {key} is listed twice"),
            ));
        }
        wanted.push(Wanted { named, role, key });
    }
    Ok(wanted)
}

/// A role change the file asks for.
#[derive(Debug, Clone)]
enum RoleStep {
    Set { named: Named, held: Option<Role>, role: Role },
    Remove { row: RoleBindingRow, held: Role },
}

/// The role changes from `current` to `wanted`: every listed holder gets its role; with `exact`, holders
/// not listed lose theirs.
fn role_steps(current: &BTreeMap<String, CurrentRole>, wanted: &[Wanted], exact: bool) -> ApiResult<Vec<RoleStep>> {
    let mut steps = Vec::new();
    for w in wanted {
        let held = match current.get(&w.key) {
            Some(c) => Some(c.row.role.parse::<Role>().map_err(ApiError::internal)?),
            None => None,
        };
        if held != Some(w.role) {
            // A custom role (docs/custom-roles.md) appears in a file as DEPLOYMENT_CUSTOM so that the file
            // round-trips; the file can keep one, not give one (that takes `customRoleUuid`).
            if w.role.is_custom() {
                return Err(ApiError::bad_input(
                    format!("{}.role", w.key),
                    format!(
                        "{}.role: {} stands for a custom role, which a deployment file keeps but does not give; \
                         assign it with deploymentAddUserRole or deploymentAddTeamRole (customRoleUuid)",
                        w.key, w.role
                    ),
                ));
            }
            steps.push(RoleStep::Set { named: w.named.clone(), held, role: w.role });
        }
    }
    if exact {
        for (key, c) in current {
            if !wanted.iter().any(|w| &w.key == key) {
                steps.push(RoleStep::Remove {
                    row: c.row.clone(),
                    held: c.row.role.parse().map_err(ApiError::internal)?,
                });
            }
        }
    }
    Ok(steps)
}

/// Every check of the role changes, before anything is written: the deployment's IAM permission (the
/// operation table's row for deployment roles) and the grant rule for each role granted and each role
/// taken away or replaced.
async fn check_role_steps(
    tx: &mut AsyncPgConnection,
    authority: &Authority,
    deployment_id: Uuid,
    steps: &[RoleStep],
) -> ApiResult<()> {
    if steps.is_empty() {
        return Ok(());
    }
    let object = ScopeRef::Deployment(deployment_id);
    authority.require(tx, DEPLOYMENT_UPDATE_USER_ROLE.rule.permissions(), object).await?;
    let grantor = memberships::Grantor::Caller(authority);
    for step in steps {
        match step {
            RoleStep::Set { role, held, named } => {
                authority.require_grantable(tx, *role, object).await?;
                match held {
                    // Replacing a custom role needs the authority to grant it (its permissions).
                    Some(held) if held.is_custom() => {
                        let row = match named {
                            Named::User { id, .. } => {
                                RoleBindingRow::user_on_deployment_for_update(tx, deployment_id, *id).await?
                            }
                            Named::Team(team) => {
                                RoleBindingRow::team_on_for_update(
                                    tx,
                                    team.id,
                                    Scope::Deployment.as_str(),
                                    Some(deployment_id),
                                )
                                .await?
                            }
                        }
                        .ok_or(ApiError::NotFound)?;
                        let conferred = memberships::conferred_of(tx, &row).await?;
                        memberships::check_grant(tx, &grantor, conferred, object).await?;
                    }
                    Some(held) => authority.require_grantable(tx, *held, object).await?,
                    None => {}
                }
            }
            RoleStep::Remove { held, row } => {
                if held.is_custom() {
                    let conferred = memberships::conferred_of(tx, row).await?;
                    memberships::check_grant(tx, &grantor, conferred, object).await?;
                } else {
                    authority.require_grantable(tx, *held, object).await?;
                }
            }
        }
    }
    Ok(())
}

/// BAD_USER_INPUT naming `roles` unless the applier can still read deployment `id` with the bindings the
/// role changes just written leave them (docs/deployment-file.md): the list is exact, so a list that
/// leaves out the applier's own role would take away their access to what they just applied, and the
/// answer, which names the deployment, would be FORBIDDEN after the change was committed (its dry run
/// saying success). As the IP access list refuses a change that shuts its author out, the apply is
/// refused, in the transaction, and nothing is written. Reading through a workspace or organization
/// role, or as a team member, counts.
async fn still_reads(tx: &mut AsyncPgConnection, authority: &Authority, id: Uuid) -> ApiResult<()> {
    match deployments::require_author_reads(tx, authority, deployments::Written::RolesChanged(id)).await {
        // (A refusal by the IP access list is passed on as it is: it is about where the request comes
        // from, not about the list.)
        Err(ApiError::Forbidden) => Err(ApiError::bad_input(
            "roles",
            "roles: this list would leave you no role that can read the deployment; \
             list yourself (or a team you belong to) with a deployment role, or apply it as a workspace admin",
        )),
        other => other,
    }
}

/// Carries the role changes out through the grant path.
async fn run_role_steps(
    tx: &mut AsyncPgConnection,
    authority: &Authority,
    deployment_id: Uuid,
    steps: Vec<RoleStep>,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<()> {
    let object = ScopeRef::Deployment(deployment_id);
    for step in steps {
        match step {
            RoleStep::Set { named: Named::User { id, address }, held, role } => {
                let request = crate::domain::memberships::RoleRequest::Builtin(role);
                let kind = if held.is_some() { RoleChange::Update(request) } else { RoleChange::Add(request) };
                let user = UserRef { user_id: Some(id), email: address };
                deployments::change_user_role_in(tx, deployment_id, user, kind, authority, now, actor).await?;
            }
            RoleStep::Set { named: Named::Team(team), role, .. } => {
                let team = Team::find_for_update(tx, team.id).await?.ok_or(ApiError::NotFound)?;
                let request = crate::domain::memberships::RoleRequest::Builtin(role);
                teams::change_role_in(tx, &team, object, TeamRoleChange::Set(request), authority, actor).await?;
            }
            RoleStep::Remove { row, .. } => match (row.user_id, row.team_id) {
                (Some(user_id), _) => {
                    let address = addresses(tx, &[user_id]).await?.remove(&user_id).unwrap_or_default();
                    let user = UserRef { user_id: Some(user_id), email: address };
                    deployments::change_user_role_in(
                        tx,
                        deployment_id,
                        user,
                        RoleChange::Remove,
                        authority,
                        now,
                        actor,
                    )
                    .await?;
                }
                (None, Some(team_id)) => {
                    let team = Team::find_for_update(tx, team_id).await?.ok_or(ApiError::NotFound)?;
                    teams::change_role_in(tx, &team, object, TeamRoleChange::Remove(None), authority, actor).await?;
                }
                (None, None) => {}
            },
        }
    }
    Ok(())
}

/// The variables to store for a file's list: the file's entries in order (a secret without a value keeps
/// its stored value), then the stored secrets the file does not name (kept).
fn variable_inputs(list: &[FileVariable], current: &[FileVariable]) -> Vec<VariableInput> {
    let mut inputs: Vec<VariableInput> = list
        .iter()
        .map(|v| VariableInput {
            key: v.key.clone(),
            value: v.value.clone().unwrap_or_default(),
            is_secret: v.is_secret,
        })
        .collect();
    for kept in current.iter().filter(|c| c.is_secret && !list.iter().any(|v| v.key == c.key)) {
        inputs.push(VariableInput { key: kept.key.clone(), value: String::new(), is_secret: true });
    }
    inputs
}

/// The keys whose secret value the file sets.
fn secrets_set(file: &DeploymentFile) -> BTreeSet<String> {
    file.environment_variables
        .iter()
        .flatten()
        .filter(|v| v.is_secret && v.value.as_deref().is_some_and(|value| !value.is_empty()))
        .map(|v| v.key.clone())
        .collect()
}

/// The state `file` asks for, over `current`: settings the file names replace the current ones (the
/// hibernation section as a whole, normalised by [`declared_hibernation`]); the variable list replaces the
/// current one except for secrets it does not name; the role list (with `exact`) replaces the current
/// roles.
fn desired(current: &DeploymentFile, file: &DeploymentFile, wanted: &[Wanted], exact: bool) -> Vec<(String, String)> {
    let mut merged = current.clone();
    merged.label = file.label.trim().to_owned();
    macro_rules! take {
        ($field:ident) => {
            if file.$field.is_some() {
                merged.$field = file.$field.clone();
            }
        };
    }
    take!(description);
    take!(cluster);
    take!(executor);
    take!(runtime_version);
    take!(high_availability);
    take!(enforce_cicd);
    take!(dag_deploy_enabled);
    // The section is one setting (see [`HibernationSection`]); `file`'s is already normalised.
    take!(hibernation);
    if let Some(scheduler) = &file.scheduler {
        let base = merged.scheduler.get_or_insert_with(SchedulerSection::default);
        base.size = scheduler.size.clone().or(base.size.clone());
        base.replicas = scheduler.replicas.or(base.replicas);
    }
    if let Some(workers) = &file.workers {
        let base = merged.workers.get_or_insert_with(WorkersSection::default);
        base.min = workers.min.or(base.min);
        base.max = workers.max.or(base.max);
        base.concurrency = workers.concurrency.or(base.concurrency);
    }
    if let Some(list) = &file.environment_variables {
        let stored = current.environment_variables.clone().unwrap_or_default();
        let mut variables = list.clone();
        variables.extend(stored.into_iter().filter(|c| c.is_secret && !list.iter().any(|v| v.key == c.key)));
        merged.environment_variables = Some(variables);
    }
    if file.roles.is_some() {
        let listed = wanted.iter().map(|w| FileRole {
            user: match &w.named {
                Named::User { address, .. } => Some(address.clone()),
                Named::Team(_) => None,
            },
            team: match &w.named {
                Named::Team(team) => Some(team.name.clone()),
                Named::User { .. } => None,
            },
            role: w.role.as_str().to_owned(),
        });
        let mut roles: Vec<FileRole> = if exact { Vec::new() } else { current.roles.clone().unwrap_or_default() };
        for entry in listed {
            roles.retain(|r| holder_key(r) != holder_key(&entry));
            roles.push(entry);
        }
        merged.roles = Some(roles);
    }
    // Compared as sets of paths: the order of list entries is not state.
    let mut flat = flatten(&merged, &secrets_set(file));
    flat.sort();
    flat
}

fn settings_of(file: &DeploymentFile) -> Settings {
    let scheduler = file.scheduler.clone().unwrap_or_default();
    let workers = file.workers.clone().unwrap_or_default();
    Settings {
        executor: file.executor.clone(),
        scheduler_size: scheduler.size,
        scheduler_replicas: scheduler.replicas,
        worker_min: workers.min,
        worker_max: workers.max,
        worker_concurrency: workers.concurrency,
        high_availability: file.high_availability,
        enforce_cicd: file.enforce_cicd,
        dag_deploy_enabled: file.dag_deploy_enabled,
    }
}

/// Applies a file to workspace `workspace_id`: creates the deployment it names (by label, among the
/// workspace's live deployments) or updates it to match, in one transaction with one audit event
/// (`deployment.file.applied`, listing the changed fields, secrets shown as `(secret changed)`).
///
/// Rules (docs/deployment-file.md): creating needs the operation table's permission of
/// `createDeployment` on the workspace, updating that of `updateDeployment` on the deployment, a change
/// of the hibernation schedule that of `updateDeploymentHibernation` on the deployment (with that
/// mutation's validation: development deployments only, cron expressions, time zone), role changes that
/// of `deploymentUpdateUserRole` and the grant rule for each role given or taken; on update all of them
/// are checked before anything is written (on creation, those about the new deployment once it exists),
/// and a refusal (or any error) leaves everything as it was. On update, `roles` lists every user and
/// team role (others are removed); on creation the creator also keeps DEPLOYMENT_ADMIN unless the file gives them another role. Secrets without a value, and
/// secrets the file leaves out, keep their stored value. A file that changes nothing writes nothing (no
/// audit event). With `dry_run`, the same checks run and the same changes are computed, and then the
/// transaction is rolled back: nothing is written.
pub async fn apply(conn: &mut AsyncPgConnection, request: ApplyRequest<'_>, actor: &Actor) -> ApiResult<Applied> {
    let ApplyRequest { workspace_id, file, dry_run, policy, secrets, authority, now } = request;
    let label = validate::label("label", &file.label, validate::MAX_LABEL).map_err(in_file)?;
    let outcome = conn
        .transaction(async |tx| -> Result<Applied, Abort> {
            let workspace = Workspace::find_for_update(tx, workspace_id).await?.ok_or(ApiError::NotFound)?;
            let lower = label.to_lowercase();
            let existing = Deployment::live_in_workspaces(tx, Some(&[workspace.id]), None, i64::MAX)
                .await?
                .into_iter()
                .find(|d| d.label.to_lowercase() == lower);
            let applied = match existing {
                Some(deployment) => {
                    update_from_file(tx, &workspace, deployment, &file, policy, secrets, authority, now, actor).await?
                }
                None => create_from_file(tx, &workspace, &file, policy, secrets, authority, now, actor).await?,
            };
            if dry_run && !applied.changes.is_empty() {
                let deployment_id = if applied.created { None } else { applied.deployment_id };
                return Err(Abort::DryRun(Applied { dry_run: true, deployment_id, ..applied }));
            }
            Ok(Applied { dry_run, ..applied })
        })
        .await;
    match outcome {
        Ok(applied) => Ok(applied),
        Err(Abort::DryRun(applied)) => Ok(applied),
        Err(Abort::Failed(error)) => Err(in_file(error)),
    }
}

/// What a `hibernation:` section asks for, checked as `updateDeploymentHibernation` checks its arguments.
#[derive(Debug, Clone)]
struct DeclaredHibernation {
    /// The arguments of [`lifecycle::set_hibernation_in`]: the section's schedule, and the stored
    /// overrides still in force (the file does not hold them, so it keeps them).
    input: HibernationInput,
    /// The section as the deployment exports it once applied (trimmed, the time zone `UTC` by default).
    section: HibernationSection,
    /// Whether the schedule differs from the stored one (only then is anything written).
    changes: bool,
}

/// Checks `section` for a deployment with `is_development_mode` whose stored settings are `stored`, by
/// the rules of `updateDeploymentHibernation` ([`HibernationInput::validate`]); BAD_USER_INPUT naming the
/// mutation's argument, which [`in_file`] renames to the section's path.
fn declared_hibernation(
    section: &HibernationSection,
    is_development_mode: bool,
    stored: &HibernationSettings,
    now: DateTime<Utc>,
) -> ApiResult<DeclaredHibernation> {
    let input = HibernationInput {
        hibernate_at_cron: section.hibernate_at_cron.clone(),
        wake_at_cron: section.wake_at_cron.clone(),
        time_zone: section.time_zone.clone(),
        // An override that has ended is the sweeper's to clear; one in force stays.
        hibernate_until: stored.hibernate_until.filter(|until| *until > now),
        awake_until: stored.awake_until.filter(|until| *until > now),
    };
    let settings = input.clone().validate(is_development_mode, now)?;
    let changes = (&settings.hibernate_at_cron, &settings.wake_at_cron, &settings.time_zone)
        != (&stored.hibernate_at_cron, &stored.wake_at_cron, &stored.time_zone);
    let section = HibernationSection {
        development_mode: Some(is_development_mode),
        hibernate_at_cron: settings.hibernate_at_cron,
        wake_at_cron: settings.wake_at_cron,
        time_zone: settings.time_zone,
    };
    Ok(DeclaredHibernation { input, section, changes })
}

/// FORBIDDEN unless `authority` may do what `updateDeploymentHibernation` needs on deployment `id`, when
/// `declared` changes the schedule.
async fn check_hibernation(
    tx: &mut AsyncPgConnection,
    authority: &Authority,
    id: Uuid,
    declared: Option<&DeclaredHibernation>,
) -> ApiResult<()> {
    if declared.is_some_and(|d| d.changes) {
        authority.require(tx, UPDATE_DEPLOYMENT_HIBERNATION.rule.permissions(), ScopeRef::Deployment(id)).await?;
    }
    Ok(())
}

/// Sets the schedule `declared` asks for on deployment `id` through the domain function of
/// `updateDeploymentHibernation` (checked by [`check_hibernation`] first), when it changes. Returns the
/// new hibernation state when the deployment hibernated or woke at once.
async fn apply_hibernation(
    tx: &mut AsyncPgConnection,
    id: Uuid,
    declared: Option<DeclaredHibernation>,
    now: DateTime<Utc>,
) -> ApiResult<Option<bool>> {
    let Some(declared) = declared.filter(|d| d.changes) else { return Ok(None) };
    let (before, after) = lifecycle::set_hibernation_in(tx, id, declared.input, now).await?;
    Ok((before.is_hibernating != after.is_hibernating).then_some(after.is_hibernating))
}

fn changes_json(changes: &[FieldChange]) -> serde_json::Value {
    json!(changes.iter().map(|c| json!({"field": c.field, "old": c.old, "new": c.new})).collect::<Vec<_>>())
}

/// Which custom role each changed role entry held before (by the entry's path): what the
/// `DEPLOYMENT_CUSTOM` of a change's `old` stands for, by id and by name at the change. Empty when no
/// entry changed held one.
async fn custom_roles_replaced(
    tx: &mut AsyncPgConnection,
    held_before: Option<&BTreeMap<String, CurrentRole>>,
    changes: &[FieldChange],
) -> ApiResult<serde_json::Map<String, serde_json::Value>> {
    let Some(held_before) = held_before else { return Ok(serde_json::Map::new()) };
    let entries: Vec<(&str, &RoleBindingRow)> = changes
        .iter()
        .filter_map(|change| held_before.get(&change.field).map(|held| (change.field.as_str(), &held.row)))
        .filter(|(_, row)| row.custom_role_id.is_some())
        .collect();
    if entries.is_empty() {
        return Ok(serde_json::Map::new());
    }
    let rows: Vec<RoleBindingRow> = entries.iter().map(|(_, row)| (*row).clone()).collect();
    let held = memberships::conferred_of_all(tx, &rows).await?;
    Ok(entries.iter().zip(held).map(|((field, _), role)| ((*field).to_owned(), role.snapshot())).collect())
}

#[allow(clippy::too_many_arguments)] // one parameter per part of the audit event
async fn record(
    tx: &mut AsyncPgConnection,
    workspace: &Workspace,
    deployment_id: Uuid,
    created: bool,
    changes: &[FieldChange],
    custom_roles: serde_json::Map<String, serde_json::Value>,
    hibernating: Option<bool>,
    actor: &Actor,
) -> ApiResult<()> {
    let mut after = json!({"created": created, "changes": changes_json(changes)});
    if !custom_roles.is_empty() {
        after["customRolesBefore"] = serde_json::Value::Object(custom_roles);
    }
    // A new schedule that hibernates or wakes the deployment at once says so, as the snapshot of
    // `deployment.hibernation.update` does.
    if let (Some(hibernating), Some(fields)) = (hibernating, after.as_object_mut()) {
        fields.insert("isHibernating".to_owned(), json!(hibernating));
    }
    audit::record(
        tx,
        actor,
        Change {
            action: "deployment.file.applied",
            target_type: "deployment",
            target_id: Some(deployment_id),
            organization_id: Some(workspace.organization_id),
            workspace_id: Some(workspace.id),
            deployment_id: Some(deployment_id),
            before: None,
            after: Some(after),
        },
    )
    .await
}

#[allow(clippy::too_many_arguments)] // the parts of one apply
async fn update_from_file(
    tx: &mut AsyncPgConnection,
    workspace: &Workspace,
    deployment: Deployment,
    file: &DeploymentFile,
    policy: &Policy,
    secrets: &SecretBox,
    authority: &Authority,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<Applied> {
    let id = deployment.id;
    // Every check before any write: the update permission first (so nothing below tells a caller
    // without it anything about the deployment).
    authority.require(tx, UPDATE_DEPLOYMENT.rule.permissions(), ScopeRef::Deployment(id)).await?;
    let current = export(tx, id, true).await?;
    if let (Some(wanted), Some(now_on)) = (&file.cluster, &current.cluster) {
        if wanted != now_on {
            return Err(ApiError::bad_input(
                "cluster",
                format!("cluster: a deployment cannot move to another cluster (it runs on {now_on:?})"),
            ));
        }
    }
    let hibernation = match &file.hibernation {
        Some(section) => {
            let row = Deployment::live_for_update(tx, id).await?.ok_or(ApiError::NotFound)?;
            if section.development_mode.is_some_and(|wanted| wanted != row.is_development_mode) {
                return Err(ApiError::bad_input(
                    "hibernation.developmentMode",
                    format!(
                        "hibernation.developmentMode: fixed when a deployment is created (this one's is {})",
                        row.is_development_mode
                    ),
                ));
            }
            Some(declared_hibernation(section, row.is_development_mode, &HibernationSettings::of(&row), now)?)
        }
        None => None,
    };
    // The file as the comparison reads it: its hibernation section normalised as it would be stored.
    let normalised;
    let file = match &hibernation {
        Some(declared) => {
            normalised = DeploymentFile { hibernation: Some(declared.section.clone()), ..file.clone() };
            &normalised
        }
        None => file,
    };
    let wanted = match &file.roles {
        Some(list) => {
            // A roles section is compared with the deployment's role holders: whoever may not read them
            // (`deploymentUsers`) is refused it outright, or "no change" against FORBIDDEN would tell
            // them who holds what. (Their export has no roles section, so their round trip holds.)
            let here = Ancestry::deployment(Some(workspace.organization_id), Some(workspace.id), id);
            authority.require_at(read_rule(ObjectKind::Member, Scope::Deployment), &here)?;
            let holders: BTreeSet<String> = current.roles.iter().flatten().map(holder_key).collect();
            let insight = Insight::of(authority, workspace, Some(id), &holders);
            resolve_roles(tx, workspace, list, &insight).await?
        }
        None => Vec::new(),
    };
    let mut before = flatten(&current, &BTreeSet::new());
    before.sort();
    if desired(&current, file, &wanted, true) == before {
        return Ok(Applied { deployment_id: Some(id), created: false, dry_run: false, changes: Vec::new() });
    }
    let held_before = match &file.roles {
        Some(_) => Some(current_roles(tx, id).await?),
        None => None,
    };
    let steps = match &held_before {
        Some(held) => role_steps(held, &wanted, true)?,
        None => Vec::new(),
    };
    check_role_steps(tx, authority, id, &steps).await?;
    check_hibernation(tx, authority, id, hibernation.as_ref()).await?;
    if let Some(version) = file.runtime_version.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        if crate::domain::catalogue::release(version).is_none() {
            return Err(ApiError::bad_input(
                "runtimeVersion",
                format!("runtimeVersion: {version:?} is not an available runtime version"),
            ));
        }
    }
    if let Some(list) = &file.environment_variables {
        variables::check_inputs(&variable_inputs(list, &[]))?;
    }
    // Writes.
    let label_changes = current.label != file.label.trim();
    let update = DeploymentUpdate {
        label: label_changes.then(|| file.label.clone()),
        description: file.description.clone(),
        settings: settings_of(file),
        config: None,
    };
    deployments::update_in(tx, id, update, policy, now).await?;
    if let Some(version) = file.runtime_version.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        if current.runtime_version.as_deref() != Some(version) {
            deployments::upgrade_in(tx, id, version, now).await?;
        }
    }
    if let Some(list) = &file.environment_variables {
        let stored = current.environment_variables.clone().unwrap_or_default();
        variables::replace_in(tx, id, variable_inputs(list, &stored), secrets).await?;
    }
    let hibernating = apply_hibernation(tx, id, hibernation, now).await?;
    let any_role_step = !steps.is_empty();
    run_role_steps(tx, authority, id, steps, now, actor).await?;
    if any_role_step {
        still_reads(tx, authority, id).await?;
    }
    let after = export(tx, id, true).await?;
    let changes = diff(&flatten(&current, &BTreeSet::new()), &flatten(&after, &secrets_set(file)));
    if !changes.is_empty() {
        let replaced = custom_roles_replaced(tx, held_before.as_ref(), &changes).await?;
        record(tx, workspace, id, false, &changes, replaced, hibernating, actor).await?;
    }
    Ok(Applied { deployment_id: Some(id), created: false, dry_run: false, changes })
}

#[allow(clippy::too_many_arguments)] // the parts of one apply
async fn create_from_file(
    tx: &mut AsyncPgConnection,
    workspace: &Workspace,
    file: &DeploymentFile,
    policy: &Policy,
    secrets: &SecretBox,
    authority: &Authority,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<Applied> {
    authority.require(tx, CREATE_DEPLOYMENT.rule.permissions(), ScopeRef::Workspace(workspace.id)).await?;
    let cluster_id = match &file.cluster {
        Some(name) => {
            let clusters = Cluster::usable_by(tx, workspace.organization_id, workspace.id).await?;
            let found = clusters.iter().find(|c| &c.name == name).ok_or_else(|| {
                ApiError::bad_input("cluster", format!("cluster: this workspace may use no cluster named {name:?}"))
            })?;
            Some(found.id)
        }
        None => None,
    };
    let wanted = match &file.roles {
        Some(list) => {
            let none = BTreeSet::new();
            let insight = Insight::of(authority, workspace, None, &none);
            resolve_roles(tx, workspace, list, &insight).await?
        }
        None => Vec::new(),
    };
    if let Some(list) = &file.environment_variables {
        variables::check_inputs(&variable_inputs(list, &[]))?;
    }
    // `developmentMode` is `createDeployment`'s `isDevelopmentMode`; the schedule is then set as
    // `updateDeploymentHibernation` sets it, with its permission on the new deployment.
    let is_development_mode = file.hibernation.as_ref().and_then(|h| h.development_mode).unwrap_or(false);
    let hibernation = match &file.hibernation {
        Some(section) => {
            Some(declared_hibernation(section, is_development_mode, &HibernationSettings::default(), now)?)
        }
        None => None,
    };
    let request = NewDeploymentRequest {
        workspace_id: workspace.id,
        label: file.label.clone(),
        description: file.description.clone(),
        release_name: None,
        runtime_version: file.runtime_version.clone(),
        airflow_version: None,
        cluster_id,
        namespace: None,
        settings: settings_of(file),
        config: None,
        properties: None,
        // A deployment made from a file is permanent (expiry is not part of the format).
        expires_at: None,
        is_development_mode,
    };
    // `create_in` refuses a creator that could not read the new deployment (the answer names it).
    let (deployment, _) = deployments::create_in(tx, request, policy, authority).await?;
    let id = deployment.id;
    // The creator administers the new deployment (SPEC §1); what they may do there follows.
    let authority = match authority.person() {
        Some(_) => authority.as_creator_of(id),
        None => authority.clone(),
    };
    check_hibernation(tx, &authority, id, hibernation.as_ref()).await?;
    if let Some(list) = &file.environment_variables {
        if !list.is_empty() {
            variables::replace_in(tx, id, variable_inputs(list, &[]), secrets).await?;
        }
    }
    let hibernating = apply_hibernation(tx, id, hibernation, now).await?;
    if file.roles.is_some() {
        // The file's list is exact on creation as on update (the creator's own role included), so applying
        // the same file again changes nothing.
        let steps = role_steps(&current_roles(tx, id).await?, &wanted, true)?;
        check_role_steps(tx, &authority, id, &steps).await?;
        let any_role_step = !steps.is_empty();
        run_role_steps(tx, &authority, id, steps, now, actor).await?;
        if any_role_step {
            still_reads(tx, &authority, id).await?;
        }
    }
    let after = export(tx, id, true).await?;
    let changes = diff(&[], &flatten(&after, &BTreeSet::new()));
    record(tx, workspace, id, true, &changes, serde_json::Map::new(), hibernating, actor).await?;
    Ok(Applied { deployment_id: Some(id), created: true, dry_run: false, changes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_bounded_before_the_parser_runs() {
        let deep =
            format!("apiVersion: capcom/v1\nlabel: a\ndescription: {}{}\n", "[".repeat(120_000), "]".repeat(120_000));
        let error = parse(&deep).unwrap_err();
        let ApiError::BadUserInput { field, message } = error else { panic!("not bad input") };
        assert_eq!(field, "file");
        // Refused by the pre-parse scan (its message), not by the parser.
        assert!(message.contains("line 3") && message.contains("32 deep"), "{message}");
        let compact = format!("apiVersion: capcom/v1\nlabel: a\nroles:\n  {}x\n", "- ".repeat(33));
        assert!(parse(&compact).unwrap_err().to_string().contains("32 deep"));
        // Thirty-two levels still reach the parser (which then refuses what the format does not allow).
        let shallow = format!("apiVersion: capcom/v1\nlabel: a\ndescription: {}{}\n", "[".repeat(32), "]".repeat(32));
        assert!(!parse(&shallow).err().map(|e| e.to_string()).unwrap_or_default().contains("deep"));
        // One file per request: the second claim is refused.
        let permit = FilePermit::default();
        assert!(permit.claim().is_ok() && permit.claim().is_err());
    }

    #[test]
    fn aliases_repeat_a_bounded_amount_of_text() {
        let file = |copies: usize, value: &str| {
            let mut text =
                format!("apiVersion: capcom/v1\nlabel: a\nenvironmentVariables:\n- key: K0\n  value: &v '{value}'\n");
            for n in 1..copies {
                text.push_str(&format!("- key: K{n}\n  value: *v\n"));
            }
            text
        };
        // The attack: an 89 KB file whose thousand aliases of a 65 000-byte value made 65 MB.
        let big = file(1000, &"A".repeat(65_000));
        assert!(big.len() < 100_000);
        let Err(ApiError::BadUserInput { field, message }) = parse(&big) else { panic!("accepted") };
        assert_eq!(field, "file");
        assert!(message.contains("aliases") && message.contains("512 KiB"), "{message}");
        // Four copies of 100 KB (400 KB once expanded) are within the bound; so is a plain file of the
        // largest size, and an alias used for what it is for: a short value repeated.
        let parsed = parse(&file(4, &"B".repeat(100_000))).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.environment_variables.map(|v| v.len()), Some(4));
        assert!(parse(&file(9, &"C".repeat(100_000))).is_err());
        let plain = format!("apiVersion: capcom/v1\nlabel: a\ndescription: '{}'\n", "D".repeat(MAX_FILE_BYTES - 100));
        assert!(!expands_too_far(&plain));
        assert!(parse(&file(50, "shared")).is_ok());
    }

    #[test]
    fn paths_and_lines_are_named() {
        let error = parse("apiVersion: capcom/v1\nlabel: a\nworkers:\n  max: lots\n").unwrap_err();
        let ApiError::BadUserInput { field, message } = error else { panic!("not bad input") };
        assert_eq!(field, "workers.max");
        assert!(message.contains("line 4"), "{message}");
        let error = parse("{\"apiVersion\": \"capcom/v1\", \"label\": \"a\", \"workers\": {\"maxx\": 1}}").unwrap_err();
        let ApiError::BadUserInput { field, message } = error else { panic!("not bad input") };
        assert_eq!(field, "workers.maxx", "{message}");
        assert!(message.contains("unknown field"), "{message}");
    }

    #[test]
    fn version_is_required_and_checked() {
        assert!(matches!(parse("label: a\n"), Err(ApiError::BadUserInput { .. })));
        let Err(ApiError::BadUserInput { field, .. }) = parse("apiVersion: capcom/v9\nlabel: a\n") else {
            panic!("accepted")
        };
        assert_eq!(field, "apiVersion");
    }

    #[test]
    fn rendering_round_trips() {
        let file = DeploymentFile {
            api_version: API_VERSION.into(),
            label: "a".into(),
            workers: Some(WorkersSection { min: Some(0), max: Some(10), concurrency: Some(5) }),
            environment_variables: Some(vec![FileVariable { key: "S".into(), value: None, is_secret: true }]),
            hibernation: Some(HibernationSection {
                development_mode: Some(true),
                hibernate_at_cron: Some("0 20 * * MON-FRI".into()),
                wake_at_cron: Some("*/30 8 * * *".into()),
                time_zone: Some("Europe/Berlin".into()),
            }),
            ..DeploymentFile::default()
        };
        for format in [Format::Yaml, Format::Json] {
            assert_eq!(parse(&render(&file, format).unwrap()).unwrap(), file);
        }
    }

    #[test]
    fn hibernation_is_checked_by_the_mutations_rules_and_errors_name_the_section() {
        let now = Utc::now();
        let section = |h: Option<&str>, w: Option<&str>, z: Option<&str>| HibernationSection {
            development_mode: Some(true),
            hibernate_at_cron: h.map(str::to_owned),
            wake_at_cron: w.map(str::to_owned),
            time_zone: z.map(str::to_owned),
        };
        let stored = HibernationSettings {
            hibernate_at_cron: Some("0 20 * * *".into()),
            wake_at_cron: Some("0 8 * * *".into()),
            time_zone: Some("UTC".into()),
            hibernate_until: None,
            awake_until: Some(now + chrono::Duration::hours(1)),
        };
        // The zone defaults to UTC, values are trimmed: the same schedule, no change; the override stays.
        let same =
            declared_hibernation(&section(Some(" 0 20 * * * "), Some("0 8 * * *"), None), true, &stored, now).unwrap();
        assert!(!same.changes);
        assert_eq!(same.section.time_zone.as_deref(), Some("UTC"));
        assert_eq!(same.input.awake_until, stored.awake_until);
        // No expressions: no schedule, a change.
        let cleared = declared_hibernation(&section(None, None, None), true, &stored, now).unwrap();
        assert!(cleared.changes && cleared.section.hibernate_at_cron.is_none());
        let field_of = |error: ApiError| match in_file(error) {
            ApiError::BadUserInput { field, message } => {
                assert!(message.starts_with(&field), "{message}");
                assert!(!message.contains("hibernationTimeZone") && !message.contains("isDevelopmentMode"));
                field
            }
            other => panic!("{other:?}"),
        };
        let bad = |h, w, z, dev| field_of(declared_hibernation(&section(h, w, z), dev, &stored, now).unwrap_err());
        assert_eq!(bad(Some("0 25 * * *"), Some("0 8 * * *"), None, true), "hibernation.hibernateAtCron");
        assert_eq!(bad(Some("0 20 * * *"), None, None, true), "hibernation.wakeAtCron");
        assert_eq!(bad(Some("0 20 * * *"), Some("0 8 * * *"), Some("Mars/Olympus"), true), "hibernation.timeZone");
        assert_eq!(bad(None, None, Some("UTC"), true), "hibernation.timeZone");
        let plain = HibernationSettings::default();
        let refused = declared_hibernation(&section(Some("0 20 * * *"), Some("0 8 * * *"), None), false, &plain, now);
        assert_eq!(field_of(refused.unwrap_err()), "hibernation.hibernateAtCron");
    }
}
