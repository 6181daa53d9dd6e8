//! The role matrix, tested from the operation table: every row of `capcom::rbac::operations::OPERATIONS`
//! (and every form of a multi-form row) is called by every actor, and the outcome must be what the row's
//! rule and SPEC §2's matrix say for that actor.
//!
//! - The operations come from the table; a test fails when a row has no case here.
//! - What an actor holds is written out by hand per actor (its roles on the organization, the workspace and
//!   the deployment, implied roles included), independently of the code that decides.
//! - Allowed calls must have their effect (the row changed as the operation says, or the read returned the
//!   fixture object); denied calls answer FORBIDDEN ("Access is Denied") or UNAUTHENTICATED and change no
//!   row of any table.
//! - Actors include organization roles, a team-held role, a sibling deployment's editor, another
//!   workspace's admin, and API keys at each scope (and one of another workspace).

use std::collections::BTreeMap;
use std::time::Duration;

use capcom::rbac::operations::{OPERATIONS, Root, Rule, find};
use capcom::rbac::{Matrix, Permission, Role, Scope};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::TestApp;

mod custom_role_holders;

/// The object a case's permission is checked against.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Obj {
    /// No object (system permissions, or rules without permissions).
    None,
    /// The organization.
    Org,
    /// The fixture workspace W.
    W,
    /// The fixture deployment D (in W).
    D,
}

/// Extra fixture an operation needs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Prep {
    Nothing,
    /// W without live deployments (`deleteWorkspace` refuses otherwise).
    NoDeployments,
    /// `m`: a member of W without a role on D.
    Member,
    /// `sys`: a user without a system role.
    SystemRoleTarget,
    /// `held`: a user holding SYSTEM_VIEWER.
    SystemRoleHeld,
    /// `victim`: a user to remove.
    Victim,
    /// `token`: an invite addressed to a second address of the actor.
    AcceptableInvite,
    /// `team2`: a second team of the organization, with no roles.
    SecondTeam,
    /// The team also holds DEPLOYMENT_VIEWER on D.
    TeamOnDeployment,
    /// The team holds SYSTEM_VIEWER.
    TeamSystemRole,
    /// The dedicated cluster is limited to W.
    ClusterAllowed,
    /// The standard cluster `std` has the namespace pool [`pool`].
    NamespacePool,
    /// D has a runtime update to 12.4.0 requested.
    RuntimeRequested,
    /// D is a development deployment (it may hibernate).
    DevelopmentMode,
    /// D expires in 30 days (an ephemeral deployment).
    Ephemeral,
    /// `code`: a one-time sign-in code of the target user, as `/v1/oauth/callback` hands out.
    SignInCode,
    /// `reset`: a password-reset token of `victim`, a fresh user.
    ResetToken,
}

/// What an allowed call must have done.
#[derive(Debug, Clone, Copy)]
enum Effect {
    /// `data` holds the value of this fixture variable.
    Contains(&'static str),
    /// `data` holds the variable's value exactly when the actor holds a role on the object (workspace
    /// lists show the caller's own workspaces, not every readable one).
    ContainsIfMember(&'static str, Obj),
    /// `data` holds the variable's value exactly when the actor may read the object.
    ContainsIfReads(&'static str, Obj),
    /// The JSON at this pointer is `true` exactly when the actor holds `workspace.config.get` on W.
    TrueIfReadsW(&'static str),
    /// The JSON at this pointer is not null.
    NonNull(&'static str),
    /// `data` holds the variable's value exactly when the actor belongs to the organization.
    ContainsIfInOrganization(&'static str),
    /// After the call, this SQL probe (fixture variables substituted) returns this text, and did not before.
    Sql(&'static str, &'static str),
    /// The SQL probe returns something else after the call than before.
    SqlChanged(&'static str),
    /// The operation is known and refused as not supported (when allowed).
    NotSupported,
}

struct Case {
    field: &'static str,
    /// For a multi-form row: the argument that selects the form (`None`: the default form).
    form: Option<&'static str>,
    object: Obj,
    document: &'static str,
    prep: Prep,
    effect: Effect,
}

const fn case(field: &'static str, object: Obj, document: &'static str, effect: Effect) -> Case {
    Case { field, form: None, object, document, prep: Prep::Nothing, effect }
}

const fn prepared(field: &'static str, object: Obj, document: &'static str, prep: Prep, effect: Effect) -> Case {
    Case { field, form: None, object, document, prep, effect }
}

use Effect::*;
use Obj::{D, Org, W};

const CASES: &[Case] = &[
    // Identity and configuration.
    case("self", Obj::None, "{ self { id } }", Contains("actor")),
    case("appConfig", Obj::None, "{ appConfig { version } }", NonNull("/appConfig/version")),
    case("authConfig", Obj::None, "{ authConfig { localEnabled } }", NonNull("/authConfig/localEnabled")),
    case(
        "createUser",
        Obj::None,
        "mutation($n: String!) { createUser(email: $n, password: \"correct horse battery\") { user { id } } }",
        Sql("SELECT count(*)::text AS t FROM emails WHERE address = '{n}'", "1"),
    ),
    case(
        "createToken",
        Obj::None,
        "mutation($te: String!) { createToken(identity: $te, password: \"correct horse battery\") { token { value } } }",
        NonNull("/createToken/token/value"),
    ),
    prepared(
        "exchangeSignInCode",
        Obj::None,
        "mutation($code: String!) { exchangeSignInCode(code: $code) { token { value } } }",
        Prep::SignInCode,
        NonNull("/exchangeSignInCode/token/value"),
    ),
    case(
        "updateSelf",
        Obj::None,
        "mutation { updateSelf(payload: {fullName: \"Changed Name\"}) { id } }",
        Sql("SELECT coalesce(full_name, '') AS t FROM users WHERE id = '{actor}'", "Changed Name"),
    ),
    // Workspaces.
    case("workspaces", Obj::None, "{ workspaces { id } }", ContainsIfMember("w", W)),
    Case {
        field: "workspaces",
        form: Some("all"),
        object: Obj::None,
        document: "{ workspaces(all: true) { id } }",
        prep: Prep::Nothing,
        effect: Contains("w"),
    },
    case("paginatedWorkspaces", Obj::None, "{ paginatedWorkspaces(take: 100) { id } }", ContainsIfMember("w", W)),
    case("workspace", W, "query($w: Uuid!) { workspace(workspaceUuid: $w) { id } }", Contains("w")),
    case("workspaceUsers", W, "query($w: Uuid!) { workspaceUsers(workspaceUuid: $w) { id } }", Contains("t")),
    case(
        "paginatedWorkspaceUsers",
        W,
        "query($w: Uuid!) { paginatedWorkspaceUsers(workspaceUuid: $w, take: 100) { id } }",
        Contains("t"),
    ),
    case(
        "workspaceUser",
        W,
        "query($w: Uuid!, $te: String!) { workspaceUser(workspaceUuid: $w, user: {email: $te}) { id } }",
        Contains("t"),
    ),
    case("workspaceInvites", W, "query($w: Uuid!) { workspaceInvites(workspaceUuid: $w) { id } }", Contains("invite")),
    case(
        "createWorkspace",
        Org,
        "mutation($n: String!) { createWorkspace(label: $n) { id } }",
        Sql("SELECT count(*)::text AS t FROM workspaces WHERE label = '{n}'", "1"),
    ),
    case(
        "updateWorkspace",
        W,
        "mutation($w: Uuid!) { updateWorkspace(workspaceUuid: $w, payload: {description: \"changed\"}) { id } }",
        Sql("SELECT description AS t FROM workspaces WHERE id = '{w}'", "changed"),
    ),
    prepared(
        "deleteWorkspace",
        W,
        "mutation($w: Uuid!) { deleteWorkspace(workspaceUuid: $w) { id } }",
        Prep::NoDeployments,
        Sql("SELECT count(*)::text AS t FROM workspaces WHERE id = '{w}'", "0"),
    ),
    case(
        "workspaceAddUser",
        W,
        "mutation($w: Uuid!, $n: String!) { workspaceAddUser(workspaceUuid: $w, email: $n) { id } }",
        Sql("SELECT count(*)::text AS t FROM invites WHERE email = '{n}'", "1"),
    ),
    case(
        "workspaceUpdateUserRole",
        W,
        "mutation($w: Uuid!, $te: String!) { workspaceUpdateUserRole(workspaceUuid: $w, email: $te, role: WORKSPACE_EDITOR) }",
        Sql("SELECT role AS t FROM role_bindings WHERE workspace_id = '{w}' AND user_id = '{t}'", "WORKSPACE_EDITOR"),
    ),
    case(
        "workspaceUpsertUserRole",
        W,
        "mutation($w: Uuid!, $te: String!) { workspaceUpsertUserRole(workspaceUuid: $w, email: $te, role: WORKSPACE_EDITOR) }",
        Sql("SELECT role AS t FROM role_bindings WHERE workspace_id = '{w}' AND user_id = '{t}'", "WORKSPACE_EDITOR"),
    ),
    case(
        "workspaceRemoveUser",
        W,
        "mutation($w: Uuid!, $t: Uuid!) { workspaceRemoveUser(workspaceUuid: $w, userUuid: $t) { id } }",
        Sql("SELECT count(*)::text AS t FROM role_bindings WHERE workspace_id = '{w}' AND user_id = '{t}'", "0"),
    ),
    // Access.
    case("roles", Obj::None, "{ roles { role permissions } }", NonNull("/roles/0/role")),
    Case {
        field: "roles",
        form: Some("organizationUuid"),
        object: Org,
        document: "query($org: Uuid!) { roles(organizationUuid: $org) { name } }",
        prep: Prep::Nothing,
        effect: Contains("crn"),
    },
    // Custom roles (docs/custom-roles.md).
    case("customRoles", Org, "query($org: Uuid!) { customRoles(organizationUuid: $org) { id } }", Contains("cr")),
    case("roleTemplates", Obj::None, "{ roleTemplates(scope: DEPLOYMENT) { role } }", NonNull("/roleTemplates/0/role")),
    case(
        "createCustomRole",
        Org,
        "mutation($org: Uuid!, $np: String!) { createCustomRole(organizationUuid: $org, scope: DEPLOYMENT, name: $np, permissions: [\"deployment.config.get\"]) { id } }",
        Sql("SELECT count(*)::text AS t FROM custom_roles WHERE name = '{np}'", "1"),
    ),
    case(
        "updateCustomRole",
        Org,
        "mutation($cr: Uuid!) { updateCustomRole(customRoleUuid: $cr, description: \"Changed\") { id } }",
        Sql("SELECT description AS t FROM custom_roles WHERE id = '{cr}'", "Changed"),
    ),
    case(
        "deleteCustomRole",
        Org,
        "mutation($cr: Uuid!) { deleteCustomRole(customRoleUuid: $cr) { id } }",
        Sql("SELECT count(*)::text AS t FROM custom_roles WHERE id = '{cr}'", "0"),
    ),
    case(
        "can",
        Obj::None,
        "query($w: Uuid!) { can(permission: \"workspace.config.get\", scopeId: $w) }",
        TrueIfReadsW("/can"),
    ),
    case(
        "explainPermission",
        Obj::None,
        "query($w: Uuid!) { explainPermission(permission: \"workspace.config.get\", scopeId: $w) { granted } }",
        TrueIfReadsW("/explainPermission/granted"),
    ),
    case("users", Obj::None, "{ users { id } }", Contains("t")),
    case("invites", Obj::None, "{ invites { id } }", Contains("invite")),
    case("mailOutbox", Obj::None, "{ mailOutbox { recipient } }", Contains("pending")),
    case(
        "inviteUser",
        Obj::None,
        "mutation($n: String!) { inviteUser(email: $n) { id } }",
        Sql("SELECT count(*)::text AS t FROM invites WHERE email = '{n}'", "1"),
    ),
    case(
        "deleteInviteToken",
        W,
        "mutation($invite: Uuid!) { deleteInviteToken(inviteUuid: $invite) { id } }",
        Sql("SELECT count(*)::text AS t FROM invites WHERE id = '{invite}'", "0"),
    ),
    prepared(
        "acceptInvite",
        Obj::None,
        "mutation($token: String!) { acceptInvite(token: $token) { id } }",
        Prep::AcceptableInvite,
        Sql("SELECT count(*)::text AS t FROM invites WHERE email = '{alias}'", "0"),
    ),
    prepared(
        "createSystemRoleBinding",
        Obj::None,
        "mutation($sys: Uuid!) { createSystemRoleBinding(userId: $sys, role: SYSTEM_VIEWER) { role } }",
        Prep::SystemRoleTarget,
        Sql("SELECT count(*)::text AS t FROM role_bindings WHERE user_id = '{sys}' AND scope = 'SYSTEM'", "1"),
    ),
    prepared(
        "deleteSystemRoleBinding",
        Obj::None,
        "mutation($held: Uuid!) { deleteSystemRoleBinding(userId: $held, role: SYSTEM_VIEWER) { role } }",
        Prep::SystemRoleHeld,
        Sql("SELECT count(*)::text AS t FROM role_bindings WHERE user_id = '{held}' AND scope = 'SYSTEM'", "0"),
    ),
    prepared(
        "removeUser",
        Obj::None,
        "mutation($victim: Uuid!) { removeUser(userUuid: $victim) { id } }",
        Prep::Victim,
        Sql("SELECT count(*)::text AS t FROM users WHERE id = '{victim}'", "0"),
    ),
    // Deployments.
    case(
        "workspaceDeployments",
        W,
        "query($w: Uuid!) { workspaceDeployments(workspaceUuid: $w) { id } }",
        Contains("d"),
    ),
    case(
        "workspaceDeployment",
        W,
        "query($w: Uuid!, $r: String!) { workspaceDeployment(workspaceUuid: $w, releaseName: $r) { id } }",
        Contains("d"),
    ),
    case("deployments", Obj::None, "{ deployments { id } }", Contains("d")),
    case("deploymentConfig", Obj::None, "{ deploymentConfig { __typename } }", NonNull("/deploymentConfig")),
    case("runtimeReleases", Obj::None, "{ runtimeReleases { version } }", NonNull("/runtimeReleases/0/version")),
    case("deployment", D, "query($ds: String!) { deployment(where: {id: $ds}) { id } }", Contains("d")),
    case("paginatedDeployments", Obj::None, "{ paginatedDeployments(take: 100) { id } }", ContainsIfReads("d", D)),
    case("logs", D, "query($d: Uuid!) { logs(deploymentUuid: $d) { id } }", NotSupported),
    case("deploymentUsers", D, "query($d: Id!) { deploymentUsers(deploymentId: $d) { id } }", Contains("t")),
    case("clusters", Obj::None, "{ clusters { id } }", NonNull("/clusters/0/id")),
    prepared(
        "availableNamespaces",
        Obj::None,
        "query($std: Uuid!) { availableNamespaces(clusterId: $std) { name } }",
        Prep::NamespacePool,
        Contains("pool"),
    ),
    case(
        "deploymentVariables",
        D,
        "query($d: Uuid!) { deploymentVariables(deploymentUuid: $d) { key } }",
        Contains("variable"),
    ),
    case(
        "createDeployment",
        W,
        "mutation($w: Uuid!) { createDeployment(workspaceUuid: $w, label: \"by the actor\") { id } }",
        Sql("SELECT count(*)::text AS t FROM deployments WHERE workspace_id = '{w}' AND label = 'by the actor'", "1"),
    ),
    // The file creates a deployment labelled "from a file" in W.
    case(
        "applyDeploymentFile",
        W,
        "mutation($w: Uuid!) { applyDeploymentFile(workspaceUuid: $w, file: \"apiVersion: capcom/v1\\nlabel: from a file\\n\") { created } }",
        Sql("SELECT count(*)::text AS t FROM deployments WHERE workspace_id = '{w}' AND label = 'from a file'", "1"),
    ),
    case("deploymentFile", D, "query($d: Uuid!) { deploymentFile(deploymentUuid: $d) }", NonNull("/deploymentFile")),
    case(
        "updateDeployment",
        D,
        "mutation($d: Uuid!) { updateDeployment(deploymentUuid: $d, settings: {workerMax: 12}) { id } }",
        Sql("SELECT worker_max::text AS t FROM deployments WHERE id = '{d}'", "12"),
    ),
    case(
        "upgradeDeployment",
        D,
        "mutation($d: Uuid!) { upgradeDeployment(deploymentUuid: $d, version: \"12.4.0\") { id } }",
        Sql(
            "SELECT coalesce(desired_runtime_version, runtime_version) AS t FROM deployments WHERE id = '{d}'",
            "12.4.0",
        ),
    ),
    case(
        "deleteDeployment",
        D,
        "mutation($d: Uuid!) { deleteDeployment(deploymentUuid: $d) { id } }",
        Sql("SELECT (deleted_at IS NOT NULL)::text AS t FROM deployments WHERE id = '{d}'", "true"),
    ),
    case(
        "updateDeploymentRuntime",
        D,
        "mutation($d: Uuid!) { updateDeploymentRuntime(deploymentUuid: $d, desiredRuntimeVersion: \"12.4.0\") { id } }",
        Sql("SELECT coalesce(desired_runtime_version, '') AS t FROM deployments WHERE id = '{d}'", "12.4.0"),
    ),
    prepared(
        "cancelRuntimeUpdate",
        D,
        "mutation($d: Uuid!) { cancelRuntimeUpdate(deploymentUuid: $d) { id } }",
        Prep::RuntimeRequested,
        Sql("SELECT coalesce(desired_runtime_version, 'none') AS t FROM deployments WHERE id = '{d}'", "none"),
    ),
    // The row's own permission: making an ephemeral D permanent. Giving a deployment an expiry (or
    // bringing one forward) also needs deleteDeployment's permission, decided from the data
    // (docs/ephemeral-deployments.md); expectations.rs and lifecycle.rs test that side by hand.
    prepared(
        "updateDeploymentExpiry",
        D,
        "mutation($d: Uuid!) { updateDeploymentExpiry(deploymentUuid: $d) { id } }",
        Prep::Ephemeral,
        Sql("SELECT (expires_at IS NULL)::text AS t FROM deployments WHERE id = '{d}'", "true"),
    ),
    prepared(
        "updateDeploymentHibernation",
        D,
        "mutation($d: Uuid!) { updateDeploymentHibernation(deploymentUuid: $d, hibernateAtCron: \"0 20 * * *\", wakeAtCron: \"0 8 * * *\") { id } }",
        Prep::DevelopmentMode,
        Sql("SELECT coalesce(hibernate_at_cron, '') AS t FROM deployments WHERE id = '{d}'", "0 20 * * *"),
    ),
    case(
        "updateDeploymentAirflow",
        D,
        "mutation($d: Uuid!) { updateDeploymentAirflow(deploymentUuid: $d, desiredAirflowVersion: \"2.10.3\") { id } }",
        Sql("SELECT coalesce(desired_airflow_version, '') AS t FROM deployments WHERE id = '{d}'", "2.10.3"),
    ),
    case(
        "adoptDeployment",
        W,
        "mutation($w: Uuid!, $std: Uuid!) { adoptDeployment(workspaceUuid: $w, clusterId: $std, crNamespace: \"adopted-ns\", crName: \"adopted-airflow\") { id } }",
        Sql(
            "SELECT count(*)::text AS t FROM deployments WHERE workspace_id = '{w}' AND release_name = 'adopted-airflow'",
            "1",
        ),
    ),
    case(
        "unadoptDeployment",
        D,
        "mutation($d: Uuid!) { unadoptDeployment(deploymentUuid: $d) { id } }",
        Sql("SELECT count(*)::text AS t FROM deployments WHERE id = '{d}'", "0"),
    ),
    case(
        "createDeploy",
        D,
        "mutation($d: Uuid!) { createDeploy(deploymentUuid: $d, type: IMAGE) { revision } }",
        Sql("SELECT count(*)::text AS t FROM deploys WHERE deployment_id = '{d}'", "1"),
    ),
    Case {
        field: "upsertDeployment",
        form: Some("deploymentUuid"),
        object: D,
        document: "mutation($d: Uuid!) { upsertDeployment(deploymentUuid: $d, label: \"upserted\") { id } }",
        prep: Prep::Nothing,
        effect: Sql("SELECT label AS t FROM deployments WHERE id = '{d}'", "upserted"),
    },
    Case {
        field: "upsertDeployment",
        form: Some("image"),
        object: D,
        document: "mutation($r: String!) { upsertDeployment(releaseName: $r, image: \"registry.example.com/etl:deploy-5\", runtimeVersion: \"11.7.0\") { id } }",
        prep: Prep::Nothing,
        effect: Sql("SELECT count(*)::text AS t FROM deploys WHERE deployment_id = '{d}'", "1"),
    },
    Case {
        field: "upsertDeployment",
        form: None,
        object: W,
        document: "mutation($w: Uuid!) { upsertDeployment(workspaceUuid: $w, label: \"upserted new\") { id } }",
        prep: Prep::Nothing,
        effect: Sql(
            "SELECT count(*)::text AS t FROM deployments WHERE workspace_id = '{w}' AND label = 'upserted new'",
            "1",
        ),
    },
    case(
        "deploymentAccessToken",
        D,
        "mutation($d: Uuid!) { deploymentAccessToken(deploymentUuid: $d) { airflowRole } }",
        NonNull("/deploymentAccessToken/airflowRole"),
    ),
    prepared(
        "deploymentAddUserRole",
        D,
        "mutation($d: Id!, $m: String!) { deploymentAddUserRole(email: $m, deploymentId: $d, role: DEPLOYMENT_VIEWER) { id } }",
        Prep::Member,
        Sql(
            "SELECT count(*)::text AS t FROM role_bindings b JOIN emails e ON e.user_id = b.user_id WHERE e.address = '{m}' AND b.deployment_id = '{d}'",
            "1",
        ),
    ),
    case(
        "deploymentUpdateUserRole",
        D,
        "mutation($d: Id!, $te: String!) { deploymentUpdateUserRole(email: $te, deploymentId: $d, role: DEPLOYMENT_EDITOR) { id } }",
        Sql("SELECT role AS t FROM role_bindings WHERE deployment_id = '{d}' AND user_id = '{t}'", "DEPLOYMENT_EDITOR"),
    ),
    case(
        "deploymentRemoveUserRole",
        D,
        "mutation($d: Id!, $te: String!) { deploymentRemoveUserRole(email: $te, deploymentId: $d) { id } }",
        Sql("SELECT count(*)::text AS t FROM role_bindings WHERE deployment_id = '{d}' AND user_id = '{t}'", "0"),
    ),
    case(
        "updateDeploymentVariables",
        D,
        "mutation($d: Uuid!) { updateDeploymentVariables(deploymentUuid: $d, environmentVariables: [{key: \"ACTOR_KEY\", value: \"1\"}]) { key } }",
        Sql("SELECT string_agg(key, ',') AS t FROM environment_variables WHERE deployment_id = '{d}'", "ACTOR_KEY"),
    ),
    case(
        "deploymentStatus",
        D,
        "subscription($d: Uuid) { deploymentStatus(deploymentUuid: $d) { id } }",
        Contains("d"),
    ),
    case("log", D, "subscription($d: Uuid!) { log(deploymentUuid: $d) { id } }", NotSupported),
    // Service accounts.
    case(
        "workspaceServiceAccounts",
        W,
        "query($w: Uuid!) { workspaceServiceAccounts(workspaceUuid: $w) { id } }",
        Contains("sa"),
    ),
    case(
        "workspaceServiceAccount",
        W,
        "query($w: Uuid!, $sa: Uuid!) { workspaceServiceAccount(workspaceUuid: $w, serviceAccountUuid: $sa) { id } }",
        Contains("sa"),
    ),
    case(
        "deploymentServiceAccounts",
        D,
        "query($d: Uuid!) { deploymentServiceAccounts(deploymentUuid: $d) { id } }",
        Contains("dsa"),
    ),
    case(
        "deploymentServiceAccount",
        D,
        "query($d: Uuid!, $dsa: Uuid!) { deploymentServiceAccount(deploymentUuid: $d, serviceAccountUuid: $dsa) { id } }",
        Contains("dsa"),
    ),
    case("systemServiceAccounts", Obj::None, "{ systemServiceAccounts { id } }", Contains("ssa")),
    case(
        "createWorkspaceServiceAccount",
        W,
        "mutation($w: Uuid!) { createWorkspaceServiceAccount(label: \"new\", workspaceUuid: $w, role: WORKSPACE_VIEWER) { id } }",
        Sql("SELECT count(*)::text AS t FROM service_accounts WHERE workspace_id = '{w}' AND label = 'new'", "1"),
    ),
    case(
        "createDeploymentServiceAccount",
        D,
        "mutation($d: Uuid!) { createDeploymentServiceAccount(label: \"new\", deploymentUuid: $d, role: DEPLOYMENT_VIEWER) { id } }",
        Sql("SELECT count(*)::text AS t FROM service_accounts WHERE deployment_id = '{d}' AND label = 'new'", "1"),
    ),
    case(
        "createSystemServiceAccount",
        Obj::None,
        "mutation($n: String!) { createSystemServiceAccount(label: $n, role: SYSTEM_VIEWER) { id } }",
        Sql("SELECT count(*)::text AS t FROM service_accounts WHERE label = '{n}'", "1"),
    ),
    case(
        "updateWorkspaceServiceAccount",
        W,
        "mutation($w: Uuid!, $sa: Uuid!) { updateWorkspaceServiceAccount(serviceAccountUuid: $sa, workspaceUuid: $w, payload: {label: \"renamed\"}) { id } }",
        Sql("SELECT label AS t FROM service_accounts WHERE id = '{sa}'", "renamed"),
    ),
    case(
        "updateDeploymentServiceAccount",
        D,
        "mutation($d: Uuid!, $dsa: Uuid!) { updateDeploymentServiceAccount(serviceAccountUuid: $dsa, deploymentUuid: $d, payload: {label: \"renamed\"}) { id } }",
        Sql("SELECT label AS t FROM service_accounts WHERE id = '{dsa}'", "renamed"),
    ),
    case(
        "deleteWorkspaceServiceAccount",
        W,
        "mutation($w: Uuid!, $sa: Uuid!) { deleteWorkspaceServiceAccount(serviceAccountUuid: $sa, workspaceUuid: $w) { id } }",
        Sql("SELECT count(*)::text AS t FROM service_accounts WHERE id = '{sa}'", "0"),
    ),
    case(
        "deleteDeploymentServiceAccount",
        D,
        "mutation($d: Uuid!, $dsa: Uuid!) { deleteDeploymentServiceAccount(serviceAccountUuid: $dsa, deploymentUuid: $d) { id } }",
        Sql("SELECT count(*)::text AS t FROM service_accounts WHERE id = '{dsa}'", "0"),
    ),
    case(
        "deleteSystemServiceAccount",
        Obj::None,
        "mutation($ssa: Uuid!) { deleteSystemServiceAccount(serviceAccountUuid: $ssa) { id } }",
        Sql("SELECT count(*)::text AS t FROM service_accounts WHERE id = '{ssa}'", "0"),
    ),
    case(
        "rotateServiceAccountKey",
        W,
        "mutation($sa: Uuid!) { rotateServiceAccountKey(serviceAccountUuid: $sa) { id } }",
        SqlChanged("SELECT key_prefix AS t FROM service_accounts WHERE id = '{sa}'"),
    ),
    case(
        "rotateServiceAccountKey",
        D,
        "mutation($dsa: Uuid!) { rotateServiceAccountKey(serviceAccountUuid: $dsa) { id } }",
        SqlChanged("SELECT key_prefix AS t FROM service_accounts WHERE id = '{dsa}'"),
    ),
    case(
        "rotateServiceAccountKey",
        Obj::None,
        "mutation($ssa: Uuid!) { rotateServiceAccountKey(serviceAccountUuid: $ssa) { id } }",
        SqlChanged("SELECT key_prefix AS t FROM service_accounts WHERE id = '{ssa}'"),
    ),
    // Organizations.
    case("organizations", Obj::None, "{ organizations { id } }", ContainsIfInOrganization("org")),
    Case {
        field: "organizations",
        form: Some("all"),
        object: Obj::None,
        document: "{ organizations(all: true) { id } }",
        prep: Prep::Nothing,
        effect: Contains("org"),
    },
    case("organization", Org, "query($org: Uuid!) { organization(organizationUuid: $org) { id } }", Contains("org")),
    case(
        "organizationUsers",
        Org,
        "query($org: Uuid!) { organizationUsers(organizationUuid: $org, first: 100) { edges { node { user { id } role } } totalCount } }",
        Contains("t"),
    ),
    case(
        "createOrganization",
        Obj::None,
        "mutation($n: String!) { createOrganization(name: $n) { id } }",
        Sql("SELECT count(*)::text AS t FROM organizations WHERE name = '{n}'", "1"),
    ),
    case(
        "updateOrganization",
        Org,
        "mutation($org: Uuid!) { updateOrganization(organizationUuid: $org, payload: {description: \"changed\"}) { id } }",
        Sql("SELECT description AS t FROM organizations WHERE id = '{org}'", "changed"),
    ),
    case(
        "organizationInviteUser",
        Org,
        "mutation($org: Uuid!, $n: String!) { organizationInviteUser(organizationUuid: $org, email: $n) { role } }",
        Sql("SELECT count(*)::text AS t FROM invites WHERE email = '{n}'", "1"),
    ),
    case(
        "organizationUpdateUserRole",
        Org,
        "mutation($org: Uuid!, $t: Uuid!) { organizationUpdateUserRole(organizationUuid: $org, userUuid: $t, role: ORGANIZATION_BILLING_ADMIN) }",
        Sql(
            "SELECT role AS t FROM role_bindings WHERE organization_id = '{org}' AND user_id = '{t}'",
            "ORGANIZATION_BILLING_ADMIN",
        ),
    ),
    prepared(
        "organizationRemoveUser",
        Org,
        "mutation($org: Uuid!, $victim: Uuid!) { organizationRemoveUser(organizationUuid: $org, userUuid: $victim) }",
        Prep::Victim,
        Sql(
            "SELECT count(*)::text AS t FROM role_bindings WHERE organization_id = '{org}' AND user_id = '{victim}'",
            "0",
        ),
    ),
    case(
        "organizationUpdateTeamRole",
        Org,
        "mutation($org: Uuid!, $team: Uuid!) { organizationUpdateTeamRole(organizationUuid: $org, teamUuid: $team, role: ORGANIZATION_MEMBER) { role } }",
        Sql(
            "SELECT role AS t FROM role_bindings WHERE organization_id = '{org}' AND team_id = '{team}'",
            "ORGANIZATION_MEMBER",
        ),
    ),
    // Managed domains.
    case(
        "organizationDomains",
        Org,
        "query($org: Uuid!) { organizationDomains(organizationUuid: $org) { id } }",
        Contains("claim"),
    ),
    case(
        "organizationIpAccessList",
        Org,
        "query($org: Uuid!) { organizationIpAccessList(organizationUuid: $org) }",
        NonNull("/organizationIpAccessList"),
    ),
    case(
        "updateOrganizationIpAccessList",
        Org,
        "mutation($org: Uuid!) { updateOrganizationIpAccessList(organizationUuid: $org, cidrs: [\"127.0.0.0/8\"]) }",
        Sql("SELECT ip_access_list::text AS t FROM organizations WHERE id = '{org}'", "{127.0.0.0/8}"),
    ),
    case(
        "claimOrganizationDomain",
        Org,
        "mutation($org: Uuid!, $nd: String!) { claimOrganizationDomain(organizationUuid: $org, domain: $nd) { id } }",
        Sql("SELECT count(*)::text AS t FROM organization_domains WHERE domain = '{nd}'", "1"),
    ),
    case(
        "verifyOrganizationDomain",
        Org,
        "mutation($org: Uuid!, $claim: Uuid!) { verifyOrganizationDomain(organizationUuid: $org, domainUuid: $claim) { id } }",
        Sql("SELECT (verified_at IS NOT NULL)::text AS t FROM organization_domains WHERE id = '{claim}'", "true"),
    ),
    case(
        "deleteOrganizationDomain",
        Org,
        "mutation($org: Uuid!, $claim: Uuid!) { deleteOrganizationDomain(organizationUuid: $org, domainUuid: $claim) { id } }",
        Sql("SELECT count(*)::text AS t FROM organization_domains WHERE id = '{claim}'", "0"),
    ),
    // Identity providers.
    case(
        "identityProviders",
        Org,
        "query($org: Uuid!) { identityProviders(organizationUuid: $org) { id } }",
        Contains("idp"),
    ),
    case(
        "createIdentityProvider",
        Org,
        "mutation($org: Uuid!, $np: String!) { createIdentityProvider(organizationUuid: $org, input: {name: $np, issuerUrl: \"https://idp.example.test\", clientId: \"c\"}) { id } }",
        Sql("SELECT count(*)::text AS t FROM identity_providers WHERE name = '{np}'", "1"),
    ),
    case(
        "updateIdentityProvider",
        Org,
        "mutation($org: Uuid!, $idp: Uuid!, $idpn: String!) { updateIdentityProvider(organizationUuid: $org, providerUuid: $idp, input: {name: $idpn, displayName: \"Changed\", issuerUrl: \"https://idp.example.test\", clientId: \"c\"}) { id } }",
        Sql("SELECT display_name AS t FROM identity_providers WHERE id = '{idp}'", "Changed"),
    ),
    case(
        "deleteIdentityProvider",
        Org,
        "mutation($org: Uuid!, $idp: Uuid!) { deleteIdentityProvider(organizationUuid: $org, providerUuid: $idp) { id } }",
        Sql("SELECT count(*)::text AS t FROM identity_providers WHERE id = '{idp}'", "0"),
    ),
    case(
        "organizationServiceAccounts",
        Org,
        "query($org: Uuid!) { organizationServiceAccounts(organizationUuid: $org) { id } }",
        Contains("osa"),
    ),
    case(
        "organizationServiceAccount",
        Org,
        "query($org: Uuid!, $osa: Uuid!) { organizationServiceAccount(organizationUuid: $org, serviceAccountUuid: $osa) { id } }",
        Contains("osa"),
    ),
    case(
        "createOrganizationServiceAccount",
        Org,
        "mutation($org: Uuid!) { createOrganizationServiceAccount(label: \"new\", organizationUuid: $org, role: ORGANIZATION_MEMBER) { id } }",
        Sql("SELECT count(*)::text AS t FROM service_accounts WHERE organization_id = '{org}' AND label = 'new'", "1"),
    ),
    case(
        "updateOrganizationServiceAccount",
        Org,
        "mutation($org: Uuid!, $osa: Uuid!) { updateOrganizationServiceAccount(serviceAccountUuid: $osa, organizationUuid: $org, payload: {label: \"renamed\"}) { id } }",
        Sql("SELECT label AS t FROM service_accounts WHERE id = '{osa}'", "renamed"),
    ),
    case(
        "deleteOrganizationServiceAccount",
        Org,
        "mutation($org: Uuid!, $osa: Uuid!) { deleteOrganizationServiceAccount(serviceAccountUuid: $osa, organizationUuid: $org) { id } }",
        Sql("SELECT count(*)::text AS t FROM service_accounts WHERE id = '{osa}'", "0"),
    ),
    case(
        "rotateServiceAccountKey",
        Org,
        "mutation($osa: Uuid!) { rotateServiceAccountKey(serviceAccountUuid: $osa) { id } }",
        SqlChanged("SELECT key_prefix AS t FROM service_accounts WHERE id = '{osa}'"),
    ),
    // Teams.
    case(
        "teams",
        Org,
        "query($org: Uuid!) { teams(organizationUuid: $org, first: 100) { edges { node { id } } totalCount } }",
        Contains("team"),
    ),
    Case {
        field: "paginatedTeams",
        form: Some("workspaceUuid"),
        object: W,
        document: "query($w: Uuid!) { paginatedTeams(workspaceUuid: $w, take: 100) { count teams { id } } }",
        prep: Prep::Nothing,
        effect: Contains("team"),
    },
    Case {
        field: "paginatedTeams",
        form: None,
        object: Org,
        document: "query($org: Uuid!) { paginatedTeams(organizationUuid: $org, take: 100) { count teams { id } } }",
        prep: Prep::Nothing,
        effect: Contains("team"),
    },
    Case {
        field: "team",
        form: Some("workspaceUuid"),
        object: W,
        document: "query($team: Uuid!, $w: Uuid!) { team(teamUuid: $team, workspaceUuid: $w) { id } }",
        prep: Prep::Nothing,
        effect: Contains("team"),
    },
    Case {
        field: "team",
        form: None,
        object: Org,
        document: "query($team: Uuid!) { team(teamUuid: $team) { id } }",
        prep: Prep::Nothing,
        effect: Contains("team"),
    },
    case("teamUsers", Org, "query($team: Uuid!) { teamUsers(teamUuid: $team) { id } }", Contains("t")),
    case("workspaceTeams", W, "query($w: Uuid!) { workspaceTeams(workspaceUuid: $w) { id } }", Contains("team")),
    prepared(
        "deploymentTeams",
        D,
        "query($d: Uuid!) { deploymentTeams(deploymentUuid: $d) { id } }",
        Prep::TeamOnDeployment,
        Contains("team"),
    ),
    case(
        "createTeam",
        Org,
        "mutation($org: Uuid!, $n: String!) { createTeam(organizationUuid: $org, name: $n) { id } }",
        Sql("SELECT count(*)::text AS t FROM teams WHERE name = '{n}'", "1"),
    ),
    case(
        "updateTeam",
        Org,
        "mutation($team: Uuid!) { updateTeam(teamUuid: $team, description: \"changed\") { id } }",
        Sql("SELECT description AS t FROM teams WHERE id = '{team}'", "changed"),
    ),
    case(
        "deleteTeam",
        Org,
        "mutation($team: Uuid!) { deleteTeam(teamUuid: $team) { id } }",
        Sql("SELECT count(*)::text AS t FROM teams WHERE id = '{team}'", "0"),
    ),
    prepared(
        "teamAddUser",
        Org,
        "mutation($team: Uuid!, $mid: Uuid!) { teamAddUser(teamUuid: $team, userUuid: $mid) { id } }",
        Prep::Member,
        Sql("SELECT count(*)::text AS t FROM team_members WHERE team_id = '{team}' AND user_id = '{mid}'", "1"),
    ),
    case(
        "teamRemoveUser",
        Org,
        "mutation($team: Uuid!, $t: Uuid!) { teamRemoveUser(teamUuid: $team, userUuid: $t) { id } }",
        Sql("SELECT count(*)::text AS t FROM team_members WHERE team_id = '{team}' AND user_id = '{t}'", "0"),
    ),
    prepared(
        "workspaceAddTeam",
        W,
        "mutation($w: Uuid!, $team2: Uuid!) { workspaceAddTeam(workspaceUuid: $w, teamUuid: $team2, role: WORKSPACE_VIEWER) { id } }",
        Prep::SecondTeam,
        Sql("SELECT count(*)::text AS t FROM role_bindings WHERE workspace_id = '{w}' AND team_id = '{team2}'", "1"),
    ),
    case(
        "workspaceUpdateTeamRole",
        W,
        "mutation($w: Uuid!, $team: Uuid!) { workspaceUpdateTeamRole(workspaceUuid: $w, teamUuid: $team, role: WORKSPACE_EDITOR) }",
        Sql(
            "SELECT role AS t FROM role_bindings WHERE workspace_id = '{w}' AND team_id = '{team}'",
            "WORKSPACE_EDITOR",
        ),
    ),
    case(
        "workspaceRemoveTeam",
        W,
        "mutation($w: Uuid!, $team: Uuid!) { workspaceRemoveTeam(workspaceUuid: $w, teamUuid: $team) { id } }",
        Sql("SELECT count(*)::text AS t FROM role_bindings WHERE workspace_id = '{w}' AND team_id = '{team}'", "0"),
    ),
    case(
        "deploymentAddTeamRole",
        D,
        "mutation($d: Uuid!, $team: Uuid!) { deploymentAddTeamRole(teamUuid: $team, deploymentUuid: $d, role: DEPLOYMENT_VIEWER) { id } }",
        Sql("SELECT count(*)::text AS t FROM role_bindings WHERE deployment_id = '{d}' AND team_id = '{team}'", "1"),
    ),
    prepared(
        "deploymentUpdateTeamRole",
        D,
        "mutation($d: Uuid!, $team: Uuid!) { deploymentUpdateTeamRole(deploymentUuid: $d, teamUuid: $team, role: DEPLOYMENT_EDITOR) { id } }",
        Prep::TeamOnDeployment,
        Sql(
            "SELECT role AS t FROM role_bindings WHERE deployment_id = '{d}' AND team_id = '{team}'",
            "DEPLOYMENT_EDITOR",
        ),
    ),
    prepared(
        "deploymentRemoveTeamRole",
        D,
        "mutation($d: Uuid!, $team: Uuid!) { deploymentRemoveTeamRole(deploymentUuid: $d, teamUuid: $team) { id } }",
        Prep::TeamOnDeployment,
        Sql("SELECT count(*)::text AS t FROM role_bindings WHERE deployment_id = '{d}' AND team_id = '{team}'", "0"),
    ),
    case(
        "createTeamSystemRoleBinding",
        Obj::None,
        "mutation($team: Uuid!) { createTeamSystemRoleBinding(teamUuid: $team, role: SYSTEM_VIEWER) { role } }",
        Sql("SELECT count(*)::text AS t FROM role_bindings WHERE team_id = '{team}' AND scope = 'SYSTEM'", "1"),
    ),
    prepared(
        "deleteTeamSystemRoleBinding",
        Obj::None,
        "mutation($team: Uuid!) { deleteTeamSystemRoleBinding(teamUuid: $team, role: SYSTEM_VIEWER) { role } }",
        Prep::TeamSystemRole,
        Sql("SELECT count(*)::text AS t FROM role_bindings WHERE team_id = '{team}' AND scope = 'SYSTEM'", "0"),
    ),
    // Clusters.
    Case {
        field: "createCluster",
        form: Some("organizationUuid"),
        object: Org,
        document: "mutation($org: Uuid!, $n: String!) { createCluster(name: $n, type: DEDICATED, organizationUuid: $org) { id } }",
        prep: Prep::Nothing,
        effect: Sql("SELECT count(*)::text AS t FROM clusters WHERE name = '{n}'", "1"),
    },
    Case {
        field: "createCluster",
        form: None,
        object: Obj::None,
        document: "mutation($n: String!) { createCluster(name: $n, type: STANDARD) { id } }",
        prep: Prep::Nothing,
        effect: Sql("SELECT count(*)::text AS t FROM clusters WHERE name = '{n}'", "1"),
    },
    case(
        "updateCluster",
        Org,
        "mutation($cluster: Uuid!) { updateCluster(clusterUuid: $cluster, region: \"eu-west\") { id } }",
        Sql("SELECT region AS t FROM clusters WHERE id = '{cluster}'", "eu-west"),
    ),
    case(
        "deleteCluster",
        Org,
        "mutation($cluster: Uuid!) { deleteCluster(clusterUuid: $cluster) { id } }",
        Sql("SELECT count(*)::text AS t FROM clusters WHERE id = '{cluster}'", "0"),
    ),
    case(
        "workspaceAllowCluster",
        Org,
        "mutation($cluster: Uuid!, $w: Uuid!) { workspaceAllowCluster(clusterUuid: $cluster, workspaceUuid: $w) { id } }",
        Sql(
            "SELECT count(*)::text AS t FROM cluster_workspaces WHERE cluster_id = '{cluster}' AND workspace_id = '{w}'",
            "1",
        ),
    ),
    prepared(
        "workspaceDisallowCluster",
        Org,
        "mutation($cluster: Uuid!, $w: Uuid!) { workspaceDisallowCluster(clusterUuid: $cluster, workspaceUuid: $w) { id } }",
        Prep::ClusterAllowed,
        Sql(
            "SELECT count(*)::text AS t FROM cluster_workspaces WHERE cluster_id = '{cluster}' AND workspace_id = '{w}'",
            "0",
        ),
    ),
    // The audit log.
    Case {
        field: "auditEvents",
        form: Some("filter.deploymentUuid"),
        object: W,
        document: "query($d: Uuid!) { auditEvents(filter: {deploymentUuid: $d}, first: 100) { edges { node { deploymentId } } } }",
        prep: Prep::Nothing,
        effect: Contains("d"),
    },
    Case {
        field: "auditEvents",
        form: Some("filter.workspaceUuid"),
        object: W,
        document: "query($w: Uuid!) { auditEvents(filter: {workspaceUuid: $w}, first: 100) { edges { node { workspaceId } } } }",
        prep: Prep::Nothing,
        effect: Contains("w"),
    },
    Case {
        field: "auditEvents",
        form: Some("filter.organizationUuid"),
        object: Org,
        document: "query($org: Uuid!) { auditEvents(filter: {organizationUuid: $org}, first: 100) { edges { node { organizationId } } } }",
        prep: Prep::Nothing,
        effect: Contains("org"),
    },
    Case {
        field: "auditEvents",
        form: None,
        object: Obj::None,
        document: "{ auditEvents(first: 100) { edges { node { id } } } }",
        prep: Prep::Nothing,
        effect: NonNull("/auditEvents/edges/0/node/id"),
    },
    case(
        "auditEventAdded",
        Org,
        "subscription($org: Uuid!) { auditEventAdded(organizationUuid: $org) { organizationId } }",
        Contains("org"),
    ),
    case(
        "requestPasswordReset",
        Obj::None,
        "mutation { requestPasswordReset(email: \"target@example.com\") }",
        SqlChanged("SELECT count(*)::text AS t FROM mail_outbox WHERE recipient = 'target@example.com'"),
    ),
    prepared(
        "resetPassword",
        Obj::None,
        "mutation($reset: String!) { resetPassword(token: $reset, password: \"correct horse battery\") }",
        Prep::ResetToken,
        Sql("SELECT count(*)::text AS t FROM password_resets WHERE user_id = '{victim}'", "0"),
    ),
    prepared(
        "forcePasswordReset",
        Obj::None,
        "mutation($victim: Uuid!) { forcePasswordReset(userUuid: $victim) }",
        Prep::Victim,
        Sql("SELECT count(*)::text AS t FROM local_credentials WHERE user_id = '{victim}'", "0"),
    ),
    // It revokes the actor's token; the run goes on with the fresh one it answers.
    case(
        "changePassword",
        Obj::None,
        "mutation { changePassword(currentPassword: \"correct horse battery\", newPassword: \"correct horse battery\") { token { value } } }",
        SqlChanged("SELECT tokens_valid_after::text AS t FROM users WHERE id = '{actor}'"),
    ),
    // Last: it revokes the actor's token.
    case(
        "logout",
        Obj::None,
        "mutation { logout }",
        SqlChanged("SELECT tokens_valid_after::text AS t FROM users WHERE id = '{actor}'"),
    ),
];

/// Who calls, and how it gets its roles on each fixture.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Setup {
    Nothing,
    /// A direct workspace role on W.
    Workspace(&'static str),
    /// WORKSPACE_VIEWER on W and this role on D (`sibling`: on W's other deployment instead).
    Deployment(&'static str, bool),
    /// A team's role on W.
    Team(&'static str),
    /// An API key of W with this role.
    WorkspaceKey(&'static str),
    /// An API key of D with this role.
    DeploymentKey(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Anonymous,
    Person,
    Key,
}

/// An actor and, written out by hand from SPEC §2 (implications included), the roles it holds.
struct Actor {
    name: &'static str,
    kind: Kind,
    /// A system role (a user's binding, or a system key's role).
    system: Option<Role>,
    /// Signed up as the fourth user or later: a member of the organization (an owner for `owner`).
    organization: Option<Role>,
    /// Roles on W, direct and implied.
    workspace: &'static [Role],
    /// Roles on D, direct and implied.
    deployment: &'static [Role],
    setup: Setup,
}

use Role::*;

const ACTORS: &[Actor] = &[
    Actor {
        name: "anonymous",
        kind: Kind::Anonymous,
        system: None,
        organization: None,
        workspace: &[],
        deployment: &[],
        setup: Setup::Nothing,
    },
    person("system_admin", Some(SystemAdmin), &[], &[], Setup::Nothing),
    person("system_editor", Some(SystemEditor), &[], &[], Setup::Nothing),
    person("system_viewer", Some(SystemViewer), &[], &[], Setup::Nothing),
    Actor {
        name: "organization_owner",
        kind: Kind::Person,
        system: None,
        organization: Some(OrganizationOwner),
        workspace: &[WorkspaceAdmin],
        deployment: &[DeploymentAdmin],
        setup: Setup::Nothing,
    },
    person("organization_member", None, &[], &[], Setup::Nothing),
    Actor {
        name: "organization_billing_admin",
        kind: Kind::Person,
        system: None,
        organization: Some(OrganizationBillingAdmin),
        workspace: &[],
        deployment: &[],
        setup: Setup::Nothing,
    },
    person("workspace_admin", None, &[WorkspaceAdmin], &[DeploymentAdmin], Setup::Workspace("WORKSPACE_ADMIN")),
    person("workspace_editor", None, &[WorkspaceEditor], &[DeploymentEditor], Setup::Workspace("WORKSPACE_EDITOR")),
    person("workspace_viewer", None, &[WorkspaceViewer], &[DeploymentViewer], Setup::Workspace("WORKSPACE_VIEWER")),
    person("team_workspace_editor", None, &[WorkspaceEditor], &[DeploymentEditor], Setup::Team("WORKSPACE_EDITOR")),
    person(
        "deployment_admin",
        None,
        &[WorkspaceViewer],
        &[DeploymentAdmin, DeploymentViewer],
        Setup::Deployment("DEPLOYMENT_ADMIN", false),
    ),
    person(
        "deployment_editor",
        None,
        &[WorkspaceViewer],
        &[DeploymentEditor, DeploymentViewer],
        Setup::Deployment("DEPLOYMENT_EDITOR", false),
    ),
    person(
        "deployment_viewer",
        None,
        &[WorkspaceViewer],
        &[DeploymentViewer],
        Setup::Deployment("DEPLOYMENT_VIEWER", false),
    ),
    // Editor of the sibling deployment D2: on D only what WORKSPACE_VIEWER implies.
    person(
        "sibling_deployment_editor",
        None,
        &[WorkspaceViewer],
        &[DeploymentViewer],
        Setup::Deployment("DEPLOYMENT_EDITOR", true),
    ),
    // Administers another workspace of the organization (set up once): nothing in W.
    person("other_workspace_admin", None, &[], &[], Setup::Nothing),
    key("workspace_key", None, &[WorkspaceEditor], &[DeploymentEditor], Setup::WorkspaceKey("WORKSPACE_EDITOR")),
    key("deployment_key", None, &[], &[DeploymentAdmin], Setup::DeploymentKey("DEPLOYMENT_ADMIN")),
    key("system_key", Some(SystemEditor), &[], &[], Setup::Nothing),
    // An owner key of the organization: admin of every workspace and deployment in it by implication.
    Actor {
        name: "organization_key",
        kind: Kind::Key,
        system: None,
        organization: Some(OrganizationOwner),
        workspace: &[WorkspaceAdmin],
        deployment: &[DeploymentAdmin],
        setup: Setup::Nothing,
    },
    // An admin key of another workspace: nothing in W.
    key("other_workspace_key", None, &[], &[], Setup::Nothing),
];

const fn person(
    name: &'static str,
    system: Option<Role>,
    workspace: &'static [Role],
    deployment: &'static [Role],
    setup: Setup,
) -> Actor {
    Actor { name, kind: Kind::Person, system, organization: Some(OrganizationMember), workspace, deployment, setup }
}

const fn key(
    name: &'static str,
    system: Option<Role>,
    workspace: &'static [Role],
    deployment: &'static [Role],
    setup: Setup,
) -> Actor {
    Actor { name, kind: Kind::Key, system, organization: None, workspace, deployment, setup }
}

impl Actor {
    fn holds(&self, permission: Permission, object: Obj) -> bool {
        let matrix = Matrix::default();
        let roles: Vec<Role> = match (permission.scope(), object) {
            (Scope::System, _) => self.system.into_iter().collect(),
            (Scope::Organization, Obj::Org) => self.organization.into_iter().collect(),
            (Scope::Workspace, Obj::W) => self.workspace.to_vec(),
            (Scope::Deployment, Obj::D) => self.deployment.to_vec(),
            _ => Vec::new(),
        };
        roles.into_iter().any(|role| matrix.grants(role, permission))
    }

    fn member_of(&self, object: Obj) -> bool {
        match object {
            Obj::W => !self.workspace.is_empty(),
            Obj::D => !self.deployment.is_empty(),
            _ => false,
        }
    }

    fn reads(&self, object: Obj) -> bool {
        match object {
            Obj::W => self.holds(Permission::WorkspaceConfigGet, W) || self.holds(Permission::SystemWorkspaceGet, W),
            Obj::D => self.holds(Permission::DeploymentConfigGet, D) || self.holds(Permission::SystemDeploymentsGet, D),
            _ => false,
        }
    }
}

/// The rule of a case: the table row's, or the chosen form's.
fn rule_of(case: &Case) -> Rule {
    let operation = find(case.field).unwrap_or_else(|| panic!("{} is not in the operation table", case.field));
    match operation.rule {
        Rule::Forms(forms) => {
            forms.iter().find(|(argument, _)| *argument == case.form).map(|(_, rule)| *rule).unwrap_or_else(|| {
                panic!("{} has no form {:?}", case.field, case.form);
            })
        }
        // The test servers run with organization self-service off.
        Rule::Configured(_, _, off) => *off,
        rule => rule,
    }
}

/// Operations that confer or take away a role, or manage a key holding one: the operation table lets
/// system IAM and system key permissions run them, but the grant rule (SPEC §2) still needs every
/// permission of the role at its scope, which a system editor without roles there does not hold.
const CONFERS_A_WORKSPACE_ROLE: &[&str] = &[
    "updateWorkspaceServiceAccount",
    "updateDeploymentServiceAccount",
    "updateOrganizationServiceAccount",
    "deleteWorkspaceServiceAccount",
    "deleteDeploymentServiceAccount",
    "deleteOrganizationServiceAccount",
    "workspaceAddUser",
    "workspaceUpdateUserRole",
    "workspaceUpsertUserRole",
    "workspaceRemoveUser",
    "workspaceAddTeam",
    "workspaceUpdateTeamRole",
    "workspaceRemoveTeam",
];

/// What the table says for `actor` calling `case`.
fn allowed(actor: &Actor, case: &Case) -> bool {
    if actor.system == Some(SystemEditor)
        && actor.workspace.is_empty()
        && actor.organization != Some(OrganizationOwner)
        && (CONFERS_A_WORKSPACE_ROLE.contains(&case.field)
            || (case.field == "rotateServiceAccountKey" && !matches!(case.object, Obj::None)))
        && !(actor.kind == Kind::Person
            && (case.field.ends_with("OrganizationServiceAccount")
                || (case.field == "rotateServiceAccountKey" && matches!(case.object, Obj::Org))))
    {
        return false;
    }
    // applyDeploymentFile's row only lets in those who see W's deployments; creating the file's new
    // deployment then needs createDeployment's permission on W (docs/deployment-file.md).
    if case.field == "applyDeploymentFile" {
        return actor.kind != Kind::Anonymous && actor.holds(Permission::WorkspaceDeploymentsCreate, Obj::W);
    }
    match rule_of(case) {
        Rule::Public => true,
        Rule::SignedIn => actor.kind != Kind::Anonymous,
        Rule::Person => actor.kind == Kind::Person,
        Rule::Permission { any_of, person_only, .. } => {
            actor.kind != Kind::Anonymous
                && (!person_only || actor.kind == Kind::Person)
                && any_of.iter().any(|p| actor.holds(*p, case.object))
        }
        Rule::Forms(_) | Rule::Configured(..) => unreachable!("resolved by rule_of"),
    }
}

#[test]
fn every_row_of_the_operation_table_has_a_case() {
    for operation in OPERATIONS {
        let forms: Vec<Option<&str>> = match operation.rule {
            Rule::Forms(forms) => forms.iter().map(|(argument, _)| *argument).collect(),
            _ => vec![None],
        };
        for form in forms {
            assert!(
                CASES.iter().any(|c| c.field == operation.field && c.form == form),
                "no matrix case for {} (form {form:?})",
                operation.field
            );
        }
    }
    for case in CASES {
        let operation = find(case.field).unwrap_or_else(|| panic!("{} is not in the operation table", case.field));
        let is_subscription = case.document.trim_start().starts_with("subscription");
        assert_eq!(is_subscription, operation.root == Root::Subscription, "{}", case.field);
    }
    // Each rule is exercised on both sides by at least one actor.
    for case in CASES {
        let outcomes: Vec<bool> = ACTORS.iter().map(|actor| allowed(actor, case)).collect();
        let public = matches!(rule_of(case), Rule::Public);
        assert!(outcomes.contains(&true), "nobody may {}", case.field);
        assert!(public || outcomes.contains(&false), "everybody may {}", case.field);
    }
}

/// One fixture: a fresh workspace W (the organization's) with deployments D and D2, a member T with
/// DEPLOYMENT_VIEWER on D, a pending invite, a variable, workspace/deployment/system keys; the actor's
/// roles on it; and the variables documents and probes name.
struct Fixture {
    variables: BTreeMap<String, String>,
    token: Option<String>,
}

impl Fixture {
    fn json(&self) -> Value {
        Value::Object(self.variables.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
    }

    fn fill(&self, sql: &str) -> String {
        let mut sql = sql.to_owned();
        for (name, value) in &self.variables {
            sql = sql.replace(&format!("{{{name}}}"), value);
        }
        sql
    }
}

struct Run {
    app: TestApp,
    root: String,
    actor: &'static Actor,
    actor_token: Option<String>,
    actor_id: String,
    team: Option<String>,
    counter: usize,
    base: BTreeMap<String, String>,
}

async fn ok(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    let body = app.gql(query, variables, Some(token)).await;
    assert!(body.get("errors").is_none(), "{query}: {body}");
    body["data"].clone()
}

impl Run {
    async fn start(actor: &'static Actor) -> Run {
        let app = TestApp::spawn_with(|config| config.public_signups = true).await;
        let root = app.with_owners().await;
        let owner = app.sign_in("owner2@example.com", "correct horse battery").await;
        let (token, actor_id) = app.sign_up("actor@example.com", "correct horse battery").await;
        let (_, target) = app.sign_up("target@example.com", "correct horse battery").await;
        let (_, member_id) = app.sign_up("member@example.com", "correct horse battery").await;
        let org = app.text("SELECT id::text AS t FROM organizations WHERE is_default").await;
        let std = app.text("SELECT id::text AS t FROM clusters WHERE kind = 'STANDARD' AND name = 'default'").await;
        let mut actor_token = match actor.kind {
            Kind::Anonymous => None,
            _ => Some(token.clone()),
        };
        if actor.name == "organization_owner" {
            actor_token = owner["data"]["createToken"]["token"]["value"].as_str().map(str::to_owned);
        }
        let actor_id = if actor.name == "organization_owner" {
            owner["data"]["createToken"]["user"]["id"].as_str().unwrap().to_owned()
        } else {
            actor_id
        };
        if actor.kind == Kind::Person {
            if let Some(role) = actor.system {
                assert!(app.grant_system_role(&root, &actor_id, role.as_str()).await.get("errors").is_none());
            }
        }
        let other = app.create_workspace(&root, "Other workspace").await;
        match actor.name {
            "other_workspace_admin" => {
                assert!(
                    app.add_to_workspace(&root, &other, "actor@example.com", "WORKSPACE_ADMIN")
                        .await
                        .get("errors")
                        .is_none()
                );
                app.create_deployment(&root, &other, "elsewhere").await;
            }
            "other_workspace_key" => {
                let data = ok(&app, &root, "mutation($w: Uuid!) { createWorkspaceServiceAccount(label: \"other\", workspaceUuid: $w, role: WORKSPACE_ADMIN) { apiKey } }", json!({"w": other})).await;
                actor_token = data["createWorkspaceServiceAccount"]["apiKey"].as_str().map(str::to_owned);
            }
            "organization_billing_admin" => {
                ok(&app, &root, "mutation($org: Uuid!, $u: Uuid!) { organizationUpdateUserRole(organizationUuid: $org, userUuid: $u, role: ORGANIZATION_BILLING_ADMIN) }", json!({"org": org, "u": actor_id})).await;
            }
            "organization_key" => {
                let data = ok(&app, &root, "mutation($org: Uuid!) { createOrganizationServiceAccount(label: \"actor key\", organizationUuid: $org, role: ORGANIZATION_OWNER) { apiKey } }", json!({"org": org})).await;
                actor_token = data["createOrganizationServiceAccount"]["apiKey"].as_str().map(str::to_owned);
            }
            "system_key" => {
                let role = actor.system.unwrap().as_str();
                let data = ok(
                    &app,
                    &root,
                    "mutation($r: Role!) { createSystemServiceAccount(label: \"actor key\", role: $r) { apiKey } }",
                    json!({"r": role}),
                )
                .await;
                actor_token = data["createSystemServiceAccount"]["apiKey"].as_str().map(str::to_owned);
            }
            _ => {}
        }
        let team = if let Setup::Team(_) = actor.setup {
            let data = ok(&app, &root, "mutation { createTeam(name: \"Editors\") { id } }", json!({})).await;
            let team = data["createTeam"]["id"].as_str().unwrap().to_owned();
            ok(
                &app,
                &root,
                "mutation($team: Uuid!, $u: Uuid!) { teamAddUser(teamUuid: $team, userUuid: $u) { id } }",
                json!({"team": team, "u": actor_id}),
            )
            .await;
            Some(team)
        } else {
            None
        };
        let base = BTreeMap::from([
            ("actor".to_owned(), actor_id.clone()),
            ("t".to_owned(), target),
            ("te".to_owned(), "target@example.com".to_owned()),
            ("org".to_owned(), org),
            ("mid".to_owned(), member_id),
            ("std".to_owned(), std),
        ]);
        Run { app, root, actor, actor_token, actor_id, team, counter: 0, base }
    }

    async fn fixture(&mut self, prep: Prep) -> Fixture {
        self.counter += 1;
        let n = self.counter;
        let (app, root) = (&self.app, self.root.as_str());
        let mut v = self.base.clone();
        v.insert("n".into(), format!("n{n}-{}@example.com", self.actor.name.replace('_', "-")));
        v.insert("nd".into(), format!("n{n}-{}.example.test", self.actor.name.replace('_', "-")));
        v.insert("np".into(), format!("n{n}-{}", self.actor.name.replace('_', "-")));
        let w = app.create_workspace(root, &format!("Workspace {n}")).await;
        let d = ok(app, root, "mutation($w: Uuid!) { createDeployment(workspaceUuid: $w, label: \"etl\", version: \"11.7.0\") { id releaseName } }", json!({"w": w})).await["createDeployment"].clone();
        let d2 = app.create_deployment(root, &w, "sibling").await;
        let (d_id, d2_id) = (d["id"].as_str().unwrap().to_owned(), d2["id"].as_str().unwrap().to_owned());
        assert!(app.add_to_workspace(root, &w, "target@example.com", "WORKSPACE_VIEWER").await.get("errors").is_none());
        ok(app, root, "mutation($d: Id!) { deploymentAddUserRole(email: \"target@example.com\", deploymentId: $d, role: DEPLOYMENT_VIEWER) { id } }", json!({"d": d_id})).await;
        let pending = format!("pending{n}@example.com");
        assert!(app.add_to_workspace(root, &w, &pending, "WORKSPACE_VIEWER").await.get("errors").is_none());
        let invite = app.text(&format!("SELECT id::text AS t FROM invites WHERE workspace_id = '{w}'")).await;
        ok(app, root, "mutation($d: Uuid!) { updateDeploymentVariables(deploymentUuid: $d, environmentVariables: [{key: \"FIXTURE_KEY\", value: \"x\"}]) { key } }", json!({"d": d_id})).await;
        let sa = ok(app, root, "mutation($w: Uuid!) { createWorkspaceServiceAccount(label: \"existing\", workspaceUuid: $w, role: WORKSPACE_VIEWER) { id } }", json!({"w": w})).await["createWorkspaceServiceAccount"].clone();
        let dsa = ok(app, root, "mutation($d: Uuid!) { createDeploymentServiceAccount(label: \"existing\", deploymentUuid: $d, role: DEPLOYMENT_VIEWER) { id } }", json!({"d": d_id})).await["createDeploymentServiceAccount"].clone();
        let ssa = ok(
            app,
            root,
            "mutation($l: String!) { createSystemServiceAccount(label: $l, role: SYSTEM_VIEWER) { id } }",
            json!({"l": format!("existing {n}")}),
        )
        .await["createSystemServiceAccount"]
            .clone();
        // A team of the organization with WORKSPACE_VIEWER on W and the target as member; an organization key;
        // a cluster dedicated to the organization.
        let team =
            ok(app, root, "mutation($n: String!) { createTeam(name: $n) { id } }", json!({"n": format!("Team {n}")}))
                .await["createTeam"]["id"]
                .as_str()
                .unwrap()
                .to_owned();
        ok(app, root, "mutation($w: Uuid!, $team: Uuid!) { workspaceAddTeam(workspaceUuid: $w, teamUuid: $team, role: WORKSPACE_VIEWER) { id } }", json!({"w": w, "team": team})).await;
        ok(
            app,
            root,
            "mutation($team: Uuid!, $t: Uuid!) { teamAddUser(teamUuid: $team, userUuid: $t) { id } }",
            json!({"team": team, "t": v["t"]}),
        )
        .await;
        let osa = ok(app, root, "mutation($org: Uuid!, $l: String!) { createOrganizationServiceAccount(label: $l, organizationUuid: $org, role: ORGANIZATION_MEMBER) { id } }", json!({"org": v["org"], "l": format!("existing {n}")})).await["createOrganizationServiceAccount"]["id"].as_str().unwrap().to_owned();
        // A claimed domain of the organization whose TXT record is published (not yet verified).
        let claimed = ok(app, root, "mutation($org: Uuid!, $d: String!) { claimOrganizationDomain(organizationUuid: $org, domain: $d) { id recordName recordValue } }", json!({"org": v["org"], "d": format!("claim{n}.example.test")})).await["claimOrganizationDomain"].clone();
        app.dns.publish(claimed["recordName"].as_str().unwrap(), claimed["recordValue"].as_str().unwrap());
        v.insert("claim".into(), claimed["id"].as_str().unwrap().to_owned());
        // An identity provider of the organization.
        let idp = ok(app, root, "mutation($org: Uuid!, $n: String!) { createIdentityProvider(organizationUuid: $org, input: {name: $n, issuerUrl: \"https://idp.example.test\", clientId: \"c\"}) { id } }", json!({"org": v["org"], "n": format!("idp{n}")})).await["createIdentityProvider"]["id"].as_str().unwrap().to_owned();
        v.insert("idp".into(), idp);
        v.insert("idpn".into(), format!("idp{n}"));
        // A custom workspace role of the organization that nobody holds.
        let cr = ok(app, root, "mutation($org: Uuid!, $n: String!) { createCustomRole(organizationUuid: $org, scope: WORKSPACE, name: $n, permissions: [\"workspace.config.get\"]) { id } }", json!({"org": v["org"], "n": format!("role{n}")})).await["createCustomRole"]["id"].as_str().unwrap().to_owned();
        v.insert("cr".into(), cr);
        v.insert("crn".into(), format!("role{n}"));
        let cluster = ok(app, root, "mutation($org: Uuid!, $n: String!) { createCluster(name: $n, type: DEDICATED, organizationUuid: $org) { id } }", json!({"org": v["org"], "n": format!("cluster {n}")})).await["createCluster"]["id"].as_str().unwrap().to_owned();
        for (name, value) in [
            ("team", team.clone()),
            ("osa", osa),
            ("cluster", cluster.clone()),
            ("w", w.clone()),
            ("d", d_id.clone()),
            ("ds", d_id.clone()),
            ("d2", d2_id.clone()),
            ("r", d["releaseName"].as_str().unwrap().to_owned()),
            ("pending", pending),
            ("invite", invite),
            ("variable", "FIXTURE_KEY".into()),
            ("sa", sa["id"].as_str().unwrap().to_owned()),
            ("dsa", dsa["id"].as_str().unwrap().to_owned()),
            ("ssa", ssa["id"].as_str().unwrap().to_owned()),
        ] {
            v.insert(name.into(), value);
        }

        let mut token = self.actor_token.clone();
        match self.actor.setup {
            Setup::Nothing => {}
            Setup::Workspace(role) => {
                assert!(app.add_to_workspace(root, &w, "actor@example.com", role).await.get("errors").is_none());
            }
            Setup::Deployment(role, sibling) => {
                assert!(
                    app.add_to_workspace(root, &w, "actor@example.com", "WORKSPACE_VIEWER")
                        .await
                        .get("errors")
                        .is_none()
                );
                let on = if sibling { &d2_id } else { &d_id };
                ok(app, root, "mutation($d: Id!, $r: Role!) { deploymentAddUserRole(email: \"actor@example.com\", deploymentId: $d, role: $r) { id } }", json!({"d": on, "r": role})).await;
            }
            Setup::Team(role) => {
                let team = self.team.as_deref().unwrap();
                ok(app, root, "mutation($w: Uuid!, $team: Uuid!, $r: Role!) { workspaceAddTeam(workspaceUuid: $w, teamUuid: $team, role: $r) { id } }", json!({"w": w, "team": team, "r": role})).await;
            }
            Setup::WorkspaceKey(role) => {
                let data = ok(app, root, "mutation($w: Uuid!, $r: Role!) { createWorkspaceServiceAccount(label: \"actor key\", workspaceUuid: $w, role: $r) { apiKey } }", json!({"w": w, "r": role})).await;
                token = data["createWorkspaceServiceAccount"]["apiKey"].as_str().map(str::to_owned);
            }
            Setup::DeploymentKey(role) => {
                let data = ok(app, root, "mutation($d: Uuid!, $r: Role!) { createDeploymentServiceAccount(label: \"actor key\", deploymentUuid: $d, role: $r) { apiKey } }", json!({"d": d_id, "r": role})).await;
                token = data["createDeploymentServiceAccount"]["apiKey"].as_str().map(str::to_owned);
            }
        }

        match prep {
            Prep::Nothing => {}
            Prep::NoDeployments => {
                for id in [&d_id, &d2_id] {
                    ok(
                        app,
                        root,
                        "mutation($d: Uuid!) { deleteDeployment(deploymentUuid: $d) { id } }",
                        json!({"d": id}),
                    )
                    .await;
                }
            }
            Prep::Member => {
                let member = "member@example.com";
                assert!(app.add_to_workspace(root, &w, member, "WORKSPACE_VIEWER").await.get("errors").is_none());
                v.insert("m".into(), member.into());
            }
            Prep::SystemRoleTarget => {
                let (_, id) = app.sign_up(&format!("sys{n}@example.com"), "correct horse battery").await;
                v.insert("sys".into(), id);
            }
            Prep::SystemRoleHeld => {
                let (_, id) = app.sign_up(&format!("held{n}@example.com"), "correct horse battery").await;
                assert!(app.grant_system_role(root, &id, "SYSTEM_VIEWER").await.get("errors").is_none());
                v.insert("held".into(), id);
            }
            Prep::Victim => {
                let (_, id) = app.sign_up(&format!("victim{n}@example.com"), "correct horse battery").await;
                v.insert("victim".into(), id);
            }
            Prep::SecondTeam => {
                let data = ok(
                    app,
                    root,
                    "mutation($n: String!) { createTeam(name: $n) { id } }",
                    json!({"n": format!("Second team {n}")}),
                )
                .await;
                v.insert("team2".into(), data["createTeam"]["id"].as_str().unwrap().to_owned());
            }
            Prep::TeamOnDeployment => {
                ok(app, root, "mutation($d: Uuid!, $team: Uuid!) { deploymentAddTeamRole(teamUuid: $team, deploymentUuid: $d, role: DEPLOYMENT_VIEWER) { id } }", json!({"d": d_id, "team": team})).await;
            }
            Prep::TeamSystemRole => {
                ok(app, root, "mutation($team: Uuid!) { createTeamSystemRoleBinding(teamUuid: $team, role: SYSTEM_VIEWER) { role } }", json!({"team": team})).await;
            }
            Prep::ClusterAllowed => {
                ok(app, root, "mutation($cluster: Uuid!, $w: Uuid!) { workspaceAllowCluster(clusterUuid: $cluster, workspaceUuid: $w) { id } }", json!({"cluster": cluster, "w": w})).await;
            }
            Prep::NamespacePool => {
                let pool = format!("pool-{n}");
                ok(
                    app,
                    root,
                    "mutation($std: Uuid!, $p: String!) { updateCluster(clusterUuid: $std, namespaces: [$p]) { id } }",
                    json!({"std": v["std"], "p": pool}),
                )
                .await;
                v.insert("pool".into(), pool);
            }
            Prep::DevelopmentMode => {
                app.text(&format!(
                    "WITH u AS (UPDATE deployments SET is_development_mode = true WHERE id = '{d_id}') SELECT 'x'::text AS t"
                ))
                .await;
            }
            Prep::Ephemeral => {
                app.text(&format!(
                    "WITH u AS (UPDATE deployments SET expires_at = now() + interval '30 days' WHERE id = '{d_id}') SELECT 'x'::text AS t"
                ))
                .await;
            }
            Prep::RuntimeRequested => {
                ok(app, root, "mutation($d: Uuid!) { updateDeploymentRuntime(deploymentUuid: $d, desiredRuntimeVersion: \"12.4.0\") { id } }", json!({"d": d_id})).await;
            }
            Prep::ResetToken => {
                let (_, id) = app.sign_up(&format!("reset{n}@example.com"), "correct horse battery").await;
                let token = format!("ccr_matrix-{n}");
                app.text(&format!(
                    "WITH r AS (INSERT INTO password_resets (token_hash, user_id, expires_at) VALUES (sha256(convert_to('{token}', 'UTF8')), '{id}', now() + interval '1 hour')) SELECT NULL::text AS t"
                ))
                .await;
                v.insert("victim".into(), id);
                v.insert("reset".into(), token);
            }
            Prep::SignInCode => {
                let code = format!("code-{n}-{}", self.actor.name);
                app.text(&format!(
                    "WITH c AS (INSERT INTO sign_in_codes (code_hash, user_id, expires_at) VALUES (sha256(convert_to('{code}', 'UTF8')), '{}', now() + interval '1 hour')) SELECT NULL::text AS t",
                    v["t"]
                ))
                .await;
                v.insert("code".into(), code);
            }
            Prep::AcceptableInvite => {
                // A second address of the actor (adding addresses has no API yet), invited to sign up.
                let alias = format!("alias{n}@example.com");
                ok(app, root, "mutation($e: String!) { inviteUser(email: $e) { id } }", json!({"e": alias})).await;
                app.text(&format!(
                    "WITH e AS (INSERT INTO emails (id, user_id, address) VALUES (gen_random_uuid(), '{}', '{alias}')) SELECT NULL::text AS t",
                    self.actor_id
                ))
                .await;
                v.insert("token".into(), app.invite_token_for(&alias).await);
                v.insert("alias".into(), alias);
            }
        }
        Fixture { variables: v, token }
    }

    /// Every row of every table a call could change (key use times excepted: a denied call by a key still
    /// used the key), in one statement.
    async fn snapshot(&self) -> String {
        let tables = [
            "organizations",
            "users",
            "emails",
            "local_credentials",
            "teams",
            "team_members",
            "workspaces",
            "deployments",
            "environment_variables",
            "deploys",
            "role_bindings",
            "invites",
            "mail_outbox",
            "audit_events",
            "clusters",
            "cluster_workspaces",
            "organization_domains",
            "identity_providers",
            "custom_roles",
            "sign_in_codes",
        ];
        let mut parts: Vec<String> = tables
            .iter()
            // Every insert or update gives a row a new `xmin` and every delete removes one, so a table's row
            // count and the sum of its rows' `xmin` change whenever anything in it is written, even to the
            // same values: stricter than comparing contents, and a scan instead of serialising every row.
            .map(|table| {
                format!("(SELECT '{table}:' || count(*) || ':' || coalesce(sum(xmin::text::bigint), 0) FROM {table})")
            })
            .collect();
        parts.push(
            "(SELECT coalesce(json_agg(to_jsonb(t) - 'last_used_at' ORDER BY t.id), '[]')::text FROM service_accounts t)"
                .into(),
        );
        self.app.text(&format!("SELECT concat_ws(E'\\n', {}) AS t", parts.join(", "))).await
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Runs a subscription over `/ws` (graphql-transport-ws) and returns its first result as a response body.
/// Streams that only speak when something happens (`auditEventAdded`) get something to report: `poke`
/// (an audit-writing change by the fixture's admin) is made now and then until the first result arrives.
async fn subscribe(
    app: &TestApp,
    token: Option<&str>,
    document: &str,
    variables: Value,
    poke: Option<(&str, &str)>,
) -> Value {
    let mut request = format!("{}/ws", app.base.replace("http://", "ws://")).into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    let (mut socket, _): (Socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let payload = match token {
        Some(token) => json!({"authorization": token}),
        None => json!({}),
    };
    socket
        .send(Message::Text(json!({"type": "connection_init", "payload": payload}).to_string().into()))
        .await
        .unwrap();
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {"query": document, "variables": variables}});
    let mut sent = false;
    let period = Duration::from_millis(250);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let mut pokes = 0;
    let wait = async {
        loop {
            let next = tokio::select! {
                next = socket.next() => next,
                _ = ticks.tick(), if sent && poke.is_some() => {
                    if let Some((admin, workspace)) = poke {
                        pokes += 1;
                        let change = json!({"w": workspace, "d": format!("poke {pokes}")});
                        app.gql("mutation($w: Uuid!, $d: String!) { updateWorkspace(workspaceUuid: $w, payload: {description: $d}) { id } }", change, Some(admin)).await;
                    }
                    continue;
                }
            };
            let text = match next {
                Some(Ok(Message::Text(text))) => text,
                // Without credentials the socket is refused at `connection_init` (close 4403).
                Some(Ok(Message::Close(Some(frame)))) if u16::from(frame.code) == 4403 && token.is_none() => {
                    return json!({"errors": [{"message": frame.reason.to_string(), "extensions": {"code": "UNAUTHENTICATED"}}]});
                }
                other => panic!("socket ended: {other:?}"),
            };
            let message: Value = serde_json::from_str(&text).unwrap();
            match message["type"].as_str() {
                Some("connection_ack") if !sent => {
                    sent = true;
                    socket.send(Message::Text(subscribe.to_string().into())).await.unwrap();
                }
                Some("next") => return message["payload"].clone(),
                Some("error") => return json!({"errors": message["payload"]}),
                Some("ping") => socket.send(Message::Text(json!({"type": "pong"}).to_string().into())).await.unwrap(),
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait).await.expect("a result within 20 s")
}

async fn run_actor(name: &str) {
    let actor = ACTORS.iter().find(|a| a.name == name).unwrap();
    let mut run = Run::start(actor).await;
    // Reads share one fixture; every mutation gets its own.
    let shared = run.fixture(Prep::Nothing).await;
    // Fixtures a refused call was shown to leave unchanged, by preparation: the next refused call of the same
    // preparation runs on one of them instead of on a new one (building a fixture is most of a run's time).
    // A call that is expected to succeed always gets a fixture of its own.
    let mut spare: Vec<(Prep, Fixture)> = Vec::new();
    for case in CASES {
        let own = case.document.trim_start().starts_with("mutation") || case.prep != Prep::Nothing;
        let mut owned = None;
        if own {
            let reusable =
                if allowed(actor, case) { None } else { spare.iter().position(|(prep, _)| *prep == case.prep) };
            owned = Some(match reusable {
                Some(at) => spare.swap_remove(at).1,
                None => run.fixture(case.prep).await,
            });
        }
        let fixture = owned.as_ref().unwrap_or(&shared);
        let token = fixture.token.as_deref();
        // A probe that finds no row reads as the empty text.
        let probe = match case.effect {
            Sql(probe, _) | SqlChanged(probe) => {
                Some(format!("SELECT coalesce((SELECT p.t FROM ({}) AS p LIMIT 1), '') AS t", fixture.fill(probe)))
            }
            _ => None,
        };
        let probe_before = match &probe {
            Some(sql) => Some(run.app.text(sql).await),
            None => None,
        };
        let expected_allowed = allowed(actor, case);
        let before = if expected_allowed { None } else { Some(run.snapshot().await) };
        let is_mutation = case.document.trim_start().starts_with("mutation");
        let audit_before = run.app.count("SELECT count(*) AS n FROM audit_events").await;
        let body = if case.document.trim_start().starts_with("subscription") {
            // Only an allowed subscription is poked: a refused one must see nothing change.
            let poke = (case.field == "auditEventAdded" && expected_allowed)
                .then(|| (run.root.as_str(), fixture.variables["w"].as_str()));
            subscribe(&run.app, token, case.document, fixture.json(), poke).await
        } else {
            run.app.gql(case.document, fixture.json(), token).await
        };
        let what = format!(
            "{} may{} {} ({:?})",
            actor.name,
            if allowed(actor, case) { "" } else { " not" },
            case.field,
            case.form
        );
        if allowed(actor, case) {
            check_effect(&run, actor, case, fixture, &body, probe.as_deref(), probe_before.as_deref(), &what).await;
            if let Some(fresh) = body["data"]["changePassword"]["token"]["value"].as_str() {
                run.actor_token = Some(fresh.to_owned());
                // The spare fixtures hold the revoked token.
                spare.clear();
            }
            if is_mutation {
                // SPEC §7: every successful mutation writes exactly one audit event.
                let written = run.app.count("SELECT count(*) AS n FROM audit_events").await - audit_before;
                assert_eq!(written, 1, "{what}: audit events written");
            }
        } else {
            let code = body["errors"][0]["extensions"]["code"].as_str().unwrap_or_default();
            let expected = if actor.kind == Kind::Anonymous { "UNAUTHENTICATED" } else { "FORBIDDEN" };
            assert_eq!(code, expected, "{what}: {body}");
            if expected == "FORBIDDEN" {
                assert_eq!(body["errors"][0]["message"], "Access is Denied", "{what}");
            }
            assert!(
                body["data"].is_null() || body["data"].as_object().is_some_and(|d| d.values().all(Value::is_null)),
                "{what}: {body}"
            );
            assert_eq!(Some(run.snapshot().await), before, "{what}: the denied call changed nothing");
            if let Some(fixture) = owned {
                spare.push((case.prep, fixture));
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn check_effect(
    run: &Run,
    actor: &Actor,
    case: &Case,
    fixture: &Fixture,
    body: &Value,
    probe: Option<&str>,
    probe_before: Option<&str>,
    what: &str,
) {
    if let NotSupported = case.effect {
        assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_SUPPORTED", "{what}: {body}");
        return;
    }
    assert!(body.get("errors").is_none() || body["errors"].is_null(), "{what}: {body}");
    let data = body["data"].to_string();
    let value = |name: &str| fixture.variables.get(name).cloned().unwrap_or_else(|| panic!("no variable {name}"));
    match case.effect {
        Contains(name) => assert!(data.contains(&value(name)), "{what}: {name} missing from {data}"),
        ContainsIfMember(name, object) => {
            assert_eq!(data.contains(&value(name)), actor.member_of(object), "{what}: {name} in {data}")
        }
        ContainsIfReads(name, object) => {
            assert_eq!(data.contains(&value(name)), actor.reads(object), "{what}: {name} in {data}")
        }
        ContainsIfInOrganization(name) => {
            assert_eq!(data.contains(&value(name)), actor.organization.is_some(), "{what}: {name} in {data}")
        }
        TrueIfReadsW(pointer) => {
            let expected = actor.holds(Permission::WorkspaceConfigGet, W);
            assert_eq!(body["data"].pointer(pointer), Some(&Value::Bool(expected)), "{what}: {data}");
        }
        NonNull(pointer) => {
            assert!(body["data"].pointer(pointer).is_some_and(|v| !v.is_null()), "{what}: {pointer} in {data}")
        }
        Sql(_, after) => {
            let sql = probe.unwrap();
            assert_ne!(probe_before, Some(after), "{what}: the probe already said {after} before the call");
            assert_eq!(run.app.text(sql).await, after, "{what}: {sql} after {body}");
        }
        SqlChanged(_) => {
            let sql = probe.unwrap();
            assert_ne!(Some(run.app.text(sql).await.as_str()), probe_before, "{what}: {sql} did not change");
        }
        NotSupported => unreachable!(),
    }
}

macro_rules! actor_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                run_actor(stringify!($name)).await;
            }
        )*
        #[test]
        fn every_actor_has_a_test() {
            let tested = [$(stringify!($name)),*];
            for actor in ACTORS {
                assert!(tested.contains(&actor.name), "no test for {}", actor.name);
            }
        }
    };
}

actor_tests!(
    anonymous,
    system_admin,
    system_editor,
    system_viewer,
    organization_owner,
    organization_member,
    organization_billing_admin,
    workspace_admin,
    workspace_editor,
    workspace_viewer,
    team_workspace_editor,
    deployment_admin,
    deployment_editor,
    deployment_viewer,
    sibling_deployment_editor,
    other_workspace_admin,
    workspace_key,
    deployment_key,
    system_key,
    organization_key,
    other_workspace_key,
);
