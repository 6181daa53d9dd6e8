//! Who may run which operation, written by hand from SPEC §2 (the permission table, the grant rule, the
//! tenancy and membership rules) and §3.1/§4.3/§4.4 — never computed from `src/rbac`. Then one world
//! holding every kind of principal, and every operation of the table run over HTTP as each of them:
//! an allowed principal must succeed, a denied one must get FORBIDDEN (UNAUTHENTICATED when anonymous;
//! NOT_FOUND is accepted where SPEC allows it for an object outside the caller's reach) and must have
//! changed nothing (every access-relevant row compared before and after).
//!
//! Reading the table: `allow` lists the roles that may run the operation on the world's objects (the
//! organization A, its workspace W, W's deployment D), with SPEC §2 rule 2's implied roles written out
//! (ORGANIZATION_OWNER ⇒ WORKSPACE_ADMIN of every workspace ⇒ DEPLOYMENT_ADMIN of every deployment;
//! WORKSPACE_X ⇒ DEPLOYMENT_X). A principal holding any role of `allow` is expected to succeed.
//! `either` lists roles for which SPEC is silent or ambiguous: both answers are accepted, but a refusal
//! must still change nothing. `never` operations must fail for everybody and change nothing.

use std::collections::BTreeMap;

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::common::TestApp;

/// A role a principal may hold (SPEC §2's legend), plus `USER` (every signed-in principal), `PERSON` (a
/// signed-in user, not an API key), `KEY` (every API key, to say where SPEC is silent about keys) and `ANON` (nobody signed in).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[allow(clippy::upper_case_acronyms, clippy::enum_variant_names)]
pub enum R {
    SA,
    SE,
    SV,
    O,
    B,
    M,
    WA,
    WE,
    WV,
    DA,
    DE,
    DV,
    USER,
    PERSON,
    KEY,
    ANON,
}

use R::*;

/// Which test runs an operation (the world is built once per test).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    Reads,
    Workspace,
    Deployment,
    Keys,
    Organization,
    System,
    /// Operations that delete the object the principals hold roles on: each call gets its own copy.
    Destructive,
}

/// What an operation needs besides the world's shared objects; made by the system admin (`root`) just
/// before the call (and made again after a call that succeeded, so every allowed call has its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fresh {
    /// Only the shared objects; `$n` (a fresh label), `$ne` (a fresh address), `$nd` (a fresh domain) and
    /// `$np` (a fresh provider name) are always set.
    Nothing,
    /// `$u`/`$ue`: a member of A with no other role.
    OrgMember,
    /// `$u`/`$ue`: a member of A who is WORKSPACE_VIEWER of W.
    WsMember,
    /// `$u`/`$ue`: WORKSPACE_VIEWER of W and DEPLOYMENT_VIEWER of D.
    DMember,
    /// `$u`: a user holding SYSTEM_VIEWER.
    SysHeld,
    /// `$sa`: a WORKSPACE_VIEWER key of W.
    WsKey,
    /// `$sa`: a DEPLOYMENT_VIEWER key of D.
    DKey,
    /// `$sa`: an ORGANIZATION_MEMBER key of A.
    OrgKey,
    /// `$sa`: a SYSTEM_VIEWER key.
    SysKey,
    /// `$team2`: a team of A holding no role.
    Team,
    /// `$team2`: a team of A with one member (`$u`).
    TeamWithMember,
    /// `$team2`: a team of A holding no role, and `$u`: a member of A not in it.
    TeamAndMember,
    /// `$team2`: a team of A holding WORKSPACE_VIEWER on W.
    TeamW,
    /// `$team2`: a team of A holding WORKSPACE_VIEWER on W and DEPLOYMENT_VIEWER on D.
    TeamD,
    /// `$team2`: a team of A holding SYSTEM_VIEWER.
    TeamSys,
    /// `$inv`: a pending invite to W.
    Invite,
    /// `$cl`: a cluster dedicated to A.
    Cluster,
    /// `$cl`: a cluster dedicated to A and limited to W.
    ClusterAllowed,
    /// `$claim`: a claimed domain of A whose TXT record is published.
    Claim,
    /// `$idp`: an identity provider of A.
    Idp,
    /// `$cr`: a custom workspace role of A that nobody holds.
    CustomRole,
    /// `$fw`: an empty workspace of A where the principal holds what it holds on W (an API key of W is
    /// replaced by the same key of `$fw`).
    MirrorW,
    /// `$fd`: a deployment of W where the principal holds what it holds on D (a key of D is replaced by
    /// the same key of `$fd`).
    MirrorD,
}

/// One operation (one form of it) and who may run it.
pub struct Op {
    pub name: &'static str,
    pub area: Area,
    pub doc: &'static str,
    pub allow: &'static [R],
    pub either: &'static [R],
    pub fresh: Fresh,
    pub never: bool,
}

const fn op(name: &'static str, area: Area, allow: &'static [R], doc: &'static str) -> Op {
    Op { name, area, doc, allow, either: &[], fresh: Fresh::Nothing, never: false }
}

impl Op {
    const fn either(mut self, either: &'static [R]) -> Op {
        self.either = either;
        self
    }
    const fn fresh(mut self, fresh: Fresh) -> Op {
        self.fresh = fresh;
        self
    }
    const fn never(mut self) -> Op {
        self.never = true;
        self
    }
}

use Area::*;
use Fresh as F;

// Shorthands for the sets that recur. Reads of a scope's objects: the scope's viewers and up (implied roles
// written out) and, through the `system.*.get` alternative on reads (SPEC §2 table, first row), SV SE SA.
const SYS_READ: &[R] = &[SV, SE, SA];
const ANYONE: &[R] = &[USER];
/// SPEC §2: `workspace.*.get` (WV WE WA; O ⇒ WA) | `system.*.get`.
const W_READ: &[R] = &[WV, WE, WA, O, SV, SE, SA];
/// SPEC §2: `deployment.*.get` (DV DE DA; WX ⇒ DX; O ⇒ WA) | `system.*.get`.
const D_READ: &[R] = &[DV, DE, DA, WV, WE, WA, O, SV, SE, SA];
/// SPEC §2: `organization.config.get`, `.users.get`, … (M B O) | `system.*.get`.
const ORG_READ: &[R] = &[M, B, O, SV, SE, SA];
/// SPEC §2: `workspace.config.update`, `.deployments.create`, `.serviceAccounts.*` (WE WA; O ⇒ WA).
const W_EDIT: &[R] = &[WE, WA, O];
/// SPEC §2: `workspace.iam.update`, `.config.delete`, `.auditLogs.get` (WA; O ⇒ WA).
const W_ADMIN: &[R] = &[WA, O];
/// SPEC §2: `deployment.config.update`, `.images.push`, `.serviceAccounts.*` (DE DA; implied).
const D_EDIT: &[R] = &[DE, DA, WE, WA, O];
/// SPEC §2: `deployment.iam.update`, `.config.delete` (DA; implied).
const D_ADMIN: &[R] = &[DA, WA, O];
/// SPEC §2: owners only (`organization.iam.update`, `.teams.update`, `.serviceAccounts.*`, `.auditLogs.get`,
/// `.clusters.update`, `.authentication.update`).
const OWNER: &[R] = &[O];
/// SPEC silent whether the system admin may act in an organization's, workspace's or deployment's scope
/// where no `system.*` alternative is named (SPEC §2 rule 3 says only bindings on the object count).
const SA_SILENT: &[R] = &[SA];
/// SPEC §2: `system.iam.update` (SE SA) is "workspace IAM as alternative", but the grant rule asks for
/// every permission of the role granted *at that scope*, which system roles never hold (rule 3): ambiguous.
const SYS_IAM_SILENT: &[R] = &[SE, SA];

/// The table. One line per operation form; the comment cites SPEC.
pub const OPS: &[Op] = &[
    // ---- Identity and configuration (SPEC §3, §4.1, §6).
    // §6: the signed-in user; an API key is not a user (SPEC silent what `self` answers for one).
    op("self", Reads, &[PERSON], "{ self { id } }").either(&[KEY]),
    // §6 Houston's appConfig: installation facts; SPEC silent about anonymous callers.
    op("appConfig", Reads, ANYONE, "{ appConfig { version } }").either(&[ANON]),
    // §4.1: how to sign in must be readable before signing in.
    op("authConfig", Reads, &[USER, ANON], "{ authConfig { localEnabled } }"),
    // §2: `roles` exports the matrix; SPEC silent about who reads it (it holds nothing private).
    op("roles", Reads, ANYONE, "{ roles { role } }").either(&[ANON]),
    // Custom roles (issue 26 §4, docs/custom-roles.md): an organization's roles are organization data,
    // read like its teams (M B O | system.organizations.get); `roles` with an organization lists them too.
    op("roles(organizationUuid)", Reads, ORG_READ, "query($org: Uuid!) { roles(organizationUuid: $org) { role } }"),
    op("customRoles", Reads, ORG_READ, "query($org: Uuid!) { customRoles(organizationUuid: $org) { id } }"),
    // The built-in roles' permissions, as `roles` shows them: anyone signed in.
    op("roleTemplates", Reads, ANYONE, "{ roleTemplates(scope: WORKSPACE) { role } }").either(&[ANON]),
    // §6: `can` answers about the caller itself.
    op("can", Reads, ANYONE, "query($w: Uuid!) { can(permission: \"workspace.config.get\", scopeId: $w) }"),
    op(
        "explainPermission",
        Reads,
        ANYONE,
        "query($w: Uuid!) { explainPermission(permission: \"workspace.config.get\", scopeId: $w) { granted } }",
    ),
    // §4.1 with public sign-ups: anyone may sign up; SPEC silent about a signed-in caller doing it.
    op(
        "createUser",
        System,
        &[ANON, USER],
        "mutation($ne: String!) { createUser(email: $ne, password: \"correct horse battery\") { user { id } } }",
    ),
    // §4.1: signing in needs no token.
    op(
        "createToken",
        System,
        &[ANON, USER],
        "mutation($te: String!) { createToken(identity: $te, password: \"correct horse battery\") { token { value } } }",
    ),
    // §6 updateSelf: a user changes their own account; an API key has no account (SPEC silent).
    op("updateSelf", System, &[PERSON], "mutation { updateSelf(payload: {fullName: \"Changed\"}) { id } }").either(&[KEY]),
    // ---- System-wide lists (§2 table row 1: system.*.get to SV SE SA).
    op("users", Reads, SYS_READ, "{ users { id } }"),
    op("invites", Reads, SYS_READ, "{ invites { id } }"),
    op("workspaces(all)", Reads, SYS_READ, "{ workspaces(all: true) { id } }"),
    op("deployments", Reads, SYS_READ, "{ deployments { id } }"),
    op("organizations(all)", Reads, SYS_READ, "{ organizations(all: true) { id } }"),
    op("systemServiceAccounts", Reads, SYS_READ, "{ systemServiceAccounts { id } }"),
    // §4.4: the outbox holds invite tokens; readable by system admins (schema: system.user.invite, SA).
    op("mailOutbox", Reads, &[SA], "{ mailOutbox { id } }"),
    // Lists of the caller's own objects: any signed-in principal (§6 Houston names).
    op("workspaces", Reads, ANYONE, "{ workspaces { id } }"),
    op("paginatedWorkspaces", Reads, ANYONE, "{ paginatedWorkspaces(take: 10) { id } }"),
    op("organizations", Reads, ANYONE, "{ organizations { id } }"),
    op("paginatedDeployments", Reads, ANYONE, "{ paginatedDeployments(take: 10) { id } }"),
    op("clusters", Reads, ANYONE, "{ clusters { id } }"),
    // The catalogue (§5.1): SPEC silent; nothing of any tenant in it.
    op("deploymentConfig", Reads, ANYONE, "{ deploymentConfig { workerMax } }"),
    op("runtimeReleases", Reads, ANYONE, "{ runtimeReleases { version } }"),
    // ---- Workspace reads (§2: workspace.*.get | system.*.get).
    op("workspace", Reads, W_READ, "query($w: Uuid!) { workspace(workspaceUuid: $w) { id } }"),
    op("workspaceUsers", Reads, W_READ, "query($w: Uuid!) { workspaceUsers(workspaceUuid: $w) { id } }"),
    op(
        "paginatedWorkspaceUsers",
        Reads,
        W_READ,
        "query($w: Uuid!) { paginatedWorkspaceUsers(workspaceUuid: $w, take: 10) { id } }",
    ),
    op(
        "workspaceUser",
        Reads,
        W_READ,
        "query($w: Uuid!, $te: String!) { workspaceUser(workspaceUuid: $w, user: {email: $te}) { id } }",
    ),
    op("workspaceInvites", Reads, W_READ, "query($w: Uuid!) { workspaceInvites(workspaceUuid: $w) { id } }"),
    op("workspaceDeployments", Reads, W_READ, "query($w: Uuid!) { workspaceDeployments(workspaceUuid: $w) { id } }"),
    op(
        "workspaceDeployment",
        Reads,
        W_READ,
        "query($w: Uuid!, $r: String!) { workspaceDeployment(workspaceUuid: $w, releaseName: $r) { id } }",
    ),
    op(
        "workspaceServiceAccounts",
        Reads,
        W_READ,
        "query($w: Uuid!) { workspaceServiceAccounts(workspaceUuid: $w) { id } }",
    ),
    op(
        "workspaceServiceAccount",
        Reads,
        W_READ,
        "query($w: Uuid!, $wsa: Uuid!) { workspaceServiceAccount(workspaceUuid: $w, serviceAccountUuid: $wsa) { id } }",
    ),
    // §2 workspace.teams.get (WV WE WA); SPEC silent whether system.*.get also reads teams.
    op("workspaceTeams", Reads, &[WV, WE, WA, O], "query($w: Uuid!) { workspaceTeams(workspaceUuid: $w) { id } }")
        .either(SYS_READ),
    op(
        "paginatedTeams(workspace)",
        Reads,
        &[WV, WE, WA, O],
        "query($w: Uuid!) { paginatedTeams(workspaceUuid: $w, take: 10) { count } }",
    )
    .either(SYS_READ),
    op("team(workspace)", Reads, &[WV, WE, WA, O], "query($w: Uuid!, $team: Uuid!) { team(teamUuid: $team, workspaceUuid: $w) { id } }")
        .either(SYS_READ),
    // §2 workspace.auditLogs.get (WA) | system.auditLogs.get.
    op(
        "auditEvents(workspace)",
        Reads,
        &[WA, O, SV, SE, SA],
        "query($w: Uuid!) { auditEvents(filter: {workspaceUuid: $w}) { totalCount } }",
    ),
    // Schema: a workspace's admins read its deployments' events; SPEC has no deployment.auditLogs.get.
    op(
        "auditEvents(deployment)",
        Reads,
        &[WA, O, SV, SE, SA],
        "query($d: Uuid!) { auditEvents(filter: {deploymentUuid: $d}) { totalCount } }",
    ),
    // ---- Deployment reads (§2: deployment.*.get | system.*.get).
    op("deployment", Reads, D_READ, "query($d: String!) { deployment(where: {id: $d}) { id } }"),
    op("deploymentUsers", Reads, D_READ, "query($d: Id!) { deploymentUsers(deploymentId: $d) { id } }"),
    op("deploymentFile", Reads, D_READ, "query($d: Uuid!) { deploymentFile(deploymentUuid: $d) }"),
    op(
        "deploymentVariables",
        Reads,
        D_READ,
        "query($d: Uuid!) { deploymentVariables(deploymentUuid: $d) { key } }",
    ),
    op(
        "deploymentServiceAccounts",
        Reads,
        D_READ,
        "query($d: Uuid!) { deploymentServiceAccounts(deploymentUuid: $d) { id } }",
    ),
    op(
        "deploymentServiceAccount",
        Reads,
        D_READ,
        "query($d: Uuid!, $dsa: Uuid!) { deploymentServiceAccount(deploymentUuid: $d, serviceAccountUuid: $dsa) { id } }",
    ),
    // SPEC silent which permission lists a deployment's teams: read as deployment.users.get.
    op("deploymentTeams", Reads, &[DV, DE, DA, WV, WE, WA, O], "query($d: Uuid!) { deploymentTeams(deploymentUuid: $d) { id } }")
        .either(SYS_READ),
    // §3.1: the token carries the caller's Airflow role there (viewer and up; system roles everywhere, §2
    // Airflow role mapping).
    op(
        "deploymentAccessToken",
        Deployment,
        D_READ,
        "mutation($d: Uuid!) { deploymentAccessToken(deploymentUuid: $d) { airflowRole } }",
    )
    // SPEC silent whether an API key gets one (keys call the Airflow API with their own key).
    .either(&[KEY]),
    // ---- Organization reads (§2: organization.*.get M B O | system.*.get).
    op("organization", Reads, ORG_READ, "query($org: Uuid!) { organization(organizationUuid: $org) { id } }"),
    op(
        "organizationUsers",
        Reads,
        ORG_READ,
        "query($org: Uuid!) { organizationUsers(organizationUuid: $org) { totalCount } }",
    ),
    // §2 organization.teams.get (M B O); SPEC silent about the system alternative.
    op("teams", Reads, &[M, B, O], "query($org: Uuid!) { teams(organizationUuid: $org) { totalCount } }")
        .either(SYS_READ),
    op(
        "paginatedTeams(organization)",
        Reads,
        &[M, B, O],
        "query($org: Uuid!) { paginatedTeams(organizationUuid: $org, take: 10) { count } }",
    )
    .either(SYS_READ),
    op("team", Reads, &[M, B, O], "query($team: Uuid!) { team(teamUuid: $team) { id } }").either(SYS_READ),
    op("teamUsers", Reads, &[M, B, O], "query($team: Uuid!) { teamUsers(teamUuid: $team) { id } }").either(SYS_READ),
    // §2 organization.serviceAccounts.get: owners only | system.serviceAccounts.get.
    op(
        "organizationServiceAccounts",
        Reads,
        &[O, SV, SE, SA],
        "query($org: Uuid!) { organizationServiceAccounts(organizationUuid: $org) { id } }",
    ),
    op(
        "organizationServiceAccount",
        Reads,
        &[O, SV, SE, SA],
        "query($org: Uuid!, $osa: Uuid!) { organizationServiceAccount(organizationUuid: $org, serviceAccountUuid: $osa) { id } }",
    ),
    // §2 organization.auditLogs.get: owners only (not billing admins) | system.auditLogs.get.
    op(
        "auditEvents(organization)",
        Reads,
        &[O, SV, SE, SA],
        "query($org: Uuid!) { auditEvents(filter: {organizationUuid: $org}) { totalCount } }",
    ),
    // §2 organization.clusters.get (M B O); the standard cluster serves every organization. SPEC silent
    // about callers outside any organization and about keys.
    op(
        "availableNamespaces",
        Reads,
        &[M, B, O, SV, SE, SA],
        "query($std: Uuid!) { availableNamespaces(clusterId: $std) { name } }",
    )
    .either(&[USER]),
    // SPEC silent who reads an organization's domains and providers: owners (authentication.update) and
    // system readers surely; members and billing admins either way.
    op(
        "organizationDomains",
        Reads,
        &[O, SV, SE, SA],
        "query($org: Uuid!) { organizationDomains(organizationUuid: $org) { id } }",
    )
    .either(&[M, B]),
    op(
        "organizationIpAccessList",
        Reads,
        ORG_READ,
        "query($org: Uuid!) { organizationIpAccessList(organizationUuid: $org) }",
    ),
    op(
        "identityProviders",
        Reads,
        &[O, SV, SE, SA],
        "query($org: Uuid!) { identityProviders(organizationUuid: $org) { id } }",
    )
    .either(&[M, B]),
    // ---- Workspace mutations.
    // §2 organization.workspaces.create (M B O).
    op(
        "createWorkspace",
        Workspace,
        &[M, B, O],
        "mutation($n: String!, $org: Uuid!) { createWorkspace(label: $n, organizationUuid: $org) { id } }",
    )
    // SPEC §1: a workspace keeps a WORKSPACE_ADMIN *user*; an API key creating one has none to make
    // admin, so SPEC is silent about keys here.
    .either(&[SA, KEY]),
    // §2 workspace.config.update (WE WA).
    op(
        "updateWorkspace",
        Workspace,
        W_EDIT,
        "mutation($w: Uuid!, $n: String!) { updateWorkspace(workspaceUuid: $w, payload: {description: $n}) { id } }",
    )
    .either(SA_SILENT),
    // §2 workspace.iam.update (WA) for users, invites and roles; §2 membership: an address without an
    // account gets an invite (default WORKSPACE_VIEWER).
    op(
        "workspaceAddUser(new address)",
        Workspace,
        W_ADMIN,
        "mutation($w: Uuid!, $ne: String!) { workspaceAddUser(workspaceUuid: $w, email: $ne) { id } }",
    )
    .either(SYS_IAM_SILENT),
    // Grant rule: WORKSPACE_ADMIN can be granted by whoever holds all of its permissions on W (WA, O).
    op(
        "workspaceAddUser(member, WORKSPACE_ADMIN)",
        Workspace,
        W_ADMIN,
        "mutation($w: Uuid!, $ue: String!) { workspaceAddUser(workspaceUuid: $w, email: $ue, role: WORKSPACE_ADMIN) { id } }",
    )
    .either(SYS_IAM_SILENT)
    .fresh(F::OrgMember),
    // A workspace role must be a WORKSPACE_* role (§2: role must match its scope).
    op(
        "workspaceAddUser(member, SYSTEM_ADMIN)",
        Workspace,
        &[],
        "mutation($w: Uuid!, $ue: String!) { workspaceAddUser(workspaceUuid: $w, email: $ue, role: SYSTEM_ADMIN) { id } }",
    )
    .fresh(F::OrgMember)
    .never(),
    op(
        "workspaceUpdateUserRole",
        Workspace,
        W_ADMIN,
        "mutation($w: Uuid!, $ue: String!) { workspaceUpdateUserRole(workspaceUuid: $w, email: $ue, role: WORKSPACE_EDITOR) }",
    )
    .either(SYS_IAM_SILENT)
    .fresh(F::WsMember),
    op(
        "workspaceUpsertUserRole",
        Workspace,
        W_ADMIN,
        "mutation($w: Uuid!, $ue: String!) { workspaceUpsertUserRole(workspaceUuid: $w, email: $ue, role: WORKSPACE_EDITOR) }",
    )
    .either(SYS_IAM_SILENT)
    .fresh(F::WsMember),
    op(
        "workspaceRemoveUser",
        Workspace,
        W_ADMIN,
        "mutation($w: Uuid!, $u: Uuid!) { workspaceRemoveUser(workspaceUuid: $w, userUuid: $u) { id } }",
    )
    .either(SYS_IAM_SILENT)
    .fresh(F::WsMember),
    // Schema: IAM rights on the invite's workspace (WA), or system IAM rights (SE SA).
    op(
        "deleteInviteToken",
        Workspace,
        &[WA, O, SE, SA],
        "mutation($inv: Uuid!, $w: Uuid!) { deleteInviteToken(inviteUuid: $inv, workspaceUuid: $w) { id } }",
    )
    .fresh(F::Invite),
    // §2 workspace.iam.update: teams and their roles on the workspace.
    op(
        "workspaceAddTeam",
        Workspace,
        W_ADMIN,
        "mutation($w: Uuid!, $team2: Uuid!) { workspaceAddTeam(workspaceUuid: $w, teamUuid: $team2) { id } }",
    )
    .either(SYS_IAM_SILENT)
    .fresh(F::Team),
    op(
        "workspaceUpdateTeamRole",
        Workspace,
        W_ADMIN,
        "mutation($w: Uuid!, $team2: Uuid!) { workspaceUpdateTeamRole(workspaceUuid: $w, teamUuid: $team2, role: WORKSPACE_EDITOR) }",
    )
    .either(SYS_IAM_SILENT)
    .fresh(F::TeamW),
    op(
        "workspaceRemoveTeam",
        Workspace,
        W_ADMIN,
        "mutation($w: Uuid!, $team2: Uuid!) { workspaceRemoveTeam(workspaceUuid: $w, teamUuid: $team2) { id } }",
    )
    .either(SYS_IAM_SILENT)
    .fresh(F::TeamW),
    // §2 workspace.deployments.create (WE WA).
    op(
        "createDeployment",
        Workspace,
        W_EDIT,
        "mutation($w: Uuid!, $n: String!) { createDeployment(workspaceUuid: $w, label: $n) { id } }",
    )
    .either(SA_SILENT),
    // ---- Deployment mutations.
    // §2 deployment.config.update (DE DA) | system.deployments.update (SA).
    op(
        "updateDeployment",
        Deployment,
        &[DE, DA, WE, WA, O, SA],
        "mutation($d: Uuid!, $n: String!) { updateDeployment(deploymentUuid: $d, payload: {description: $n}) { id } }",
    ),
    // Issue 26 §2/§3: the expiry and the hibernation settings are deployment settings, so they need what
    // updateDeployment needs (deployment.config.update | system.deployments.update). D is a development
    // deployment (only those may hibernate).
    // Giving a permanent deployment an expiry schedules its deletion: it also needs what deleteDeployment
    // needs (deployment.config.delete | system.deployments.delete: DA, and WA, O through implied roles, SA).
    op(
        "updateDeploymentExpiry",
        Deployment,
        &[DA, WA, O, SA],
        "mutation($d: Uuid!) { updateDeploymentExpiry(deploymentUuid: $d, ttlHours: 5) { id expiresAt } }",
    ),
    op(
        "updateDeploymentHibernation",
        Deployment,
        &[DE, DA, WE, WA, O, SA],
        "mutation($d: Uuid!) { updateDeploymentHibernation(deploymentUuid: $d, hibernateAtCron: \"0 20 * * *\", wakeAtCron: \"0 8 * * *\") { id nextTransition { at to } } }",
    ),
    // A deployment file naming a new label creates it (§2 workspace.deployments.create: WE WA, O); once it
    // exists, the same file updates it (deployment.config.update there: the same roles through implied
    // deployment roles, and SA through system.deployments.update, which cannot create: order-dependent).
    op(
        "applyDeploymentFile",
        Workspace,
        W_EDIT,
        "mutation($w: Uuid!) { applyDeploymentFile(workspaceUuid: $w, file: \"apiVersion: capcom/v1\\nlabel: filed\\n\") { created } }",
    )
    .either(SA_SILENT),
    op(
        "updateDeploymentVariables",
        Deployment,
        &[DE, DA, WE, WA, O, SA],
        "mutation($d: Uuid!) { updateDeploymentVariables(deploymentUuid: $d, environmentVariables: [{key: \"MY_KEY\", value: \"v\"}]) { key } }",
    ),
    // §5.4 deployment.images.push (DE DA).
    op(
        "createDeploy",
        Deployment,
        D_EDIT,
        "mutation($d: Uuid!) { createDeploy(deploymentUuid: $d, type: IMAGE) { id } }",
    )
    .either(SA_SILENT),
    // §2 deployment.iam.update (DA): deployment users and their roles; the target holds a role in W.
    op(
        "deploymentAddUserRole(DEPLOYMENT_VIEWER)",
        Deployment,
        D_ADMIN,
        "mutation($d: Id!, $ue: String!) { deploymentAddUserRole(email: $ue, deploymentId: $d) { id } }",
    )
    .either(SYS_IAM_SILENT)
    .fresh(F::WsMember),
    op(
        "deploymentAddUserRole(DEPLOYMENT_ADMIN)",
        Deployment,
        D_ADMIN,
        "mutation($d: Id!, $ue: String!) { deploymentAddUserRole(email: $ue, deploymentId: $d, role: DEPLOYMENT_ADMIN) { id } }",
    )
    .either(SYS_IAM_SILENT)
    .fresh(F::WsMember),
    op(
        "deploymentUpdateUserRole",
        Deployment,
        D_ADMIN,
        "mutation($d: Id!, $ue: String!) { deploymentUpdateUserRole(email: $ue, deploymentId: $d, role: DEPLOYMENT_EDITOR) { id } }",
    )
    .either(SYS_IAM_SILENT)
    .fresh(F::DMember),
    op(
        "deploymentRemoveUserRole",
        Deployment,
        D_ADMIN,
        "mutation($d: Id!, $ue: String!) { deploymentRemoveUserRole(email: $ue, deploymentId: $d) { id } }",
    )
    .either(SYS_IAM_SILENT)
    .fresh(F::DMember),
    op(
        "deploymentAddTeamRole",
        Deployment,
        D_ADMIN,
        "mutation($d: Uuid!, $team2: Uuid!) { deploymentAddTeamRole(teamUuid: $team2, deploymentUuid: $d) { id } }",
    )
    .either(SYS_IAM_SILENT)
    .fresh(F::TeamW),
    op(
        "deploymentUpdateTeamRole",
        Deployment,
        D_ADMIN,
        "mutation($d: Uuid!, $team2: Uuid!) { deploymentUpdateTeamRole(deploymentUuid: $d, teamUuid: $team2, role: DEPLOYMENT_EDITOR) { id } }",
    )
    .either(SYS_IAM_SILENT)
    .fresh(F::TeamD),
    op(
        "deploymentRemoveTeamRole",
        Deployment,
        D_ADMIN,
        "mutation($d: Uuid!, $team2: Uuid!) { deploymentRemoveTeamRole(deploymentUuid: $d, teamUuid: $team2) { id } }",
    )
    .either(SYS_IAM_SILENT)
    .fresh(F::TeamD),
    // ---- API keys (§4.3; §2 *.serviceAccounts.*; grant rule; role matches scope).
    op(
        "createWorkspaceServiceAccount(WORKSPACE_VIEWER)",
        Keys,
        W_EDIT,
        "mutation($w: Uuid!, $n: String!) { createWorkspaceServiceAccount(label: $n, workspaceUuid: $w, role: WORKSPACE_VIEWER) { id } }",
    )
    .either(SA_SILENT),
    // Grant rule: "An editor cannot mint an admin key."
    op(
        "createWorkspaceServiceAccount(WORKSPACE_ADMIN)",
        Keys,
        W_ADMIN,
        "mutation($w: Uuid!, $n: String!) { createWorkspaceServiceAccount(label: $n, workspaceUuid: $w, role: WORKSPACE_ADMIN) { id } }",
    )
    .either(SA_SILENT),
    // §2: a workspace key holds a WORKSPACE_* role, never SYSTEM_*.
    op(
        "createWorkspaceServiceAccount(SYSTEM_ADMIN)",
        Keys,
        &[],
        "mutation($w: Uuid!, $n: String!) { createWorkspaceServiceAccount(label: $n, workspaceUuid: $w, role: SYSTEM_ADMIN) { id } }",
    )
    .never(),
    op(
        "createDeploymentServiceAccount(DEPLOYMENT_VIEWER)",
        Keys,
        D_EDIT,
        "mutation($d: Uuid!, $n: String!) { createDeploymentServiceAccount(label: $n, deploymentUuid: $d, role: DEPLOYMENT_VIEWER) { id } }",
    )
    .either(SA_SILENT),
    op(
        "createDeploymentServiceAccount(DEPLOYMENT_ADMIN)",
        Keys,
        D_ADMIN,
        "mutation($d: Uuid!, $n: String!) { createDeploymentServiceAccount(label: $n, deploymentUuid: $d, role: DEPLOYMENT_ADMIN) { id } }",
    )
    .either(SA_SILENT),
    op(
        "createDeploymentServiceAccount(WORKSPACE_ADMIN)",
        Keys,
        &[],
        "mutation($d: Uuid!, $n: String!) { createDeploymentServiceAccount(label: $n, deploymentUuid: $d, role: WORKSPACE_ADMIN) { id } }",
    )
    .never(),
    // SPEC silent whether system.serviceAccounts.update (SE SA) is an alternative for scoped keys.
    op(
        "updateWorkspaceServiceAccount(category)",
        Keys,
        W_EDIT,
        "mutation($w: Uuid!, $sa: Uuid!) { updateWorkspaceServiceAccount(serviceAccountUuid: $sa, workspaceUuid: $w, payload: {category: \"changed\"}) { id } }",
    )
    .either(&[SE, SA])
    .fresh(F::WsKey),
    // Grant rule on update: raising a key to WORKSPACE_ADMIN needs all of its permissions.
    op(
        "updateWorkspaceServiceAccount(WORKSPACE_ADMIN)",
        Keys,
        W_ADMIN,
        "mutation($w: Uuid!, $sa: Uuid!) { updateWorkspaceServiceAccount(serviceAccountUuid: $sa, workspaceUuid: $w, payload: {role: \"WORKSPACE_ADMIN\"}) { id } }",
    )
    .either(SA_SILENT)
    .fresh(F::WsKey),
    op(
        "deleteWorkspaceServiceAccount",
        Keys,
        W_EDIT,
        "mutation($w: Uuid!, $sa: Uuid!) { deleteWorkspaceServiceAccount(serviceAccountUuid: $sa, workspaceUuid: $w) { id } }",
    )
    .either(SA_SILENT)
    .fresh(F::WsKey),
    op(
        "updateDeploymentServiceAccount(category)",
        Keys,
        D_EDIT,
        "mutation($d: Uuid!, $sa: Uuid!) { updateDeploymentServiceAccount(serviceAccountUuid: $sa, deploymentUuid: $d, payload: {category: \"changed\"}) { id } }",
    )
    .either(&[SE, SA])
    .fresh(F::DKey),
    op(
        "updateDeploymentServiceAccount(DEPLOYMENT_ADMIN)",
        Keys,
        D_ADMIN,
        "mutation($d: Uuid!, $sa: Uuid!) { updateDeploymentServiceAccount(serviceAccountUuid: $sa, deploymentUuid: $d, payload: {role: \"DEPLOYMENT_ADMIN\"}) { id } }",
    )
    .either(SA_SILENT)
    .fresh(F::DKey),
    op(
        "deleteDeploymentServiceAccount",
        Keys,
        D_EDIT,
        "mutation($d: Uuid!, $sa: Uuid!) { deleteDeploymentServiceAccount(serviceAccountUuid: $sa, deploymentUuid: $d) { id } }",
    )
    .either(SA_SILENT)
    .fresh(F::DKey),
    // §4.3 / schema: rotating needs the update permission of the key's scope.
    op(
        "rotateServiceAccountKey(workspace key)",
        Keys,
        W_EDIT,
        "mutation($sa: Uuid!) { rotateServiceAccountKey(serviceAccountUuid: $sa) { id } }",
    )
    .either(&[SE, SA])
    .fresh(F::WsKey),
    // §2 organization.serviceAccounts.*: owners only.
    op(
        "createOrganizationServiceAccount(ORGANIZATION_MEMBER)",
        Keys,
        OWNER,
        "mutation($org: Uuid!, $n: String!) { createOrganizationServiceAccount(label: $n, organizationUuid: $org, role: ORGANIZATION_MEMBER) { id } }",
    )
    .either(SA_SILENT),
    op(
        "createOrganizationServiceAccount(ORGANIZATION_OWNER)",
        Keys,
        OWNER,
        "mutation($org: Uuid!, $n: String!) { createOrganizationServiceAccount(label: $n, organizationUuid: $org, role: ORGANIZATION_OWNER) { id } }",
    )
    .either(SA_SILENT),
    op(
        "updateOrganizationServiceAccount",
        Keys,
        OWNER,
        "mutation($org: Uuid!, $sa: Uuid!) { updateOrganizationServiceAccount(serviceAccountUuid: $sa, organizationUuid: $org, payload: {category: \"changed\"}) { id } }",
    )
    .either(&[SE, SA])
    .fresh(F::OrgKey),
    op(
        "deleteOrganizationServiceAccount",
        Keys,
        OWNER,
        "mutation($org: Uuid!, $sa: Uuid!) { deleteOrganizationServiceAccount(serviceAccountUuid: $sa, organizationUuid: $org) { id } }",
    )
    .either(SA_SILENT)
    .fresh(F::OrgKey),
    // §2 system.serviceAccounts.create/delete: SA.
    op(
        "createSystemServiceAccount(SYSTEM_VIEWER)",
        Keys,
        &[SA],
        "mutation($n: String!) { createSystemServiceAccount(label: $n, role: SYSTEM_VIEWER) { id } }",
    ),
    op(
        "deleteSystemServiceAccount",
        Keys,
        &[SA],
        "mutation($sa: Uuid!) { deleteSystemServiceAccount(serviceAccountUuid: $sa) { id } }",
    )
    .fresh(F::SysKey),
    // ---- Organizations, teams, clusters, sign-in configuration.
    // Schema: system admins only unless the operator allows self-service (off here); §2
    // system.organizations.create (SA).
    op("createOrganization", Organization, &[SA], "mutation($n: String!) { createOrganization(name: $n) { id } }")
        .either(&[KEY]),
    // §2 organization.config.update (B O).
    op(
        "updateOrganization(description)",
        Organization,
        &[B, O],
        "mutation($org: Uuid!, $n: String!) { updateOrganization(organizationUuid: $org, payload: {description: $n}) { id } }",
    )
    .either(SA_SILENT),
    // §2 organization.billing.update (B O).
    op(
        "updateOrganization(billing)",
        Organization,
        &[B, O],
        "mutation($org: Uuid!, $n: String!) { updateOrganization(organizationUuid: $org, payload: {billingPlan: $n}) { id } }",
    )
    .either(SA_SILENT),
    // §2 organization.users.invite: owners only (not billing admins).
    op(
        "organizationInviteUser(new address)",
        Organization,
        OWNER,
        "mutation($org: Uuid!, $ne: String!) { organizationInviteUser(organizationUuid: $org, email: $ne) { role } }",
    )
    .either(SA_SILENT),
    // §2 organization.iam.update: owners only.
    op(
        "organizationUpdateUserRole(BILLING_ADMIN)",
        Organization,
        OWNER,
        "mutation($org: Uuid!, $u: Uuid!) { organizationUpdateUserRole(organizationUuid: $org, userUuid: $u, role: ORGANIZATION_BILLING_ADMIN) }",
    )
    .either(SYS_IAM_SILENT)
    .fresh(F::OrgMember),
    op(
        "organizationUpdateUserRole(OWNER)",
        Organization,
        OWNER,
        "mutation($org: Uuid!, $u: Uuid!) { organizationUpdateUserRole(organizationUuid: $org, userUuid: $u, role: ORGANIZATION_OWNER) }",
    )
    .either(SYS_IAM_SILENT)
    .fresh(F::OrgMember),
    op(
        "organizationRemoveUser",
        Organization,
        OWNER,
        "mutation($org: Uuid!, $u: Uuid!) { organizationRemoveUser(organizationUuid: $org, userUuid: $u) }",
    )
    .either(SYS_IAM_SILENT)
    .fresh(F::OrgMember),
    // §2 organization.teams.update: owners only.
    op(
        "createTeam",
        Organization,
        OWNER,
        "mutation($org: Uuid!, $n: String!) { createTeam(organizationUuid: $org, name: $n) { id } }",
    )
    .either(SA_SILENT),
    op(
        "updateTeam",
        Organization,
        OWNER,
        "mutation($team2: Uuid!) { updateTeam(teamUuid: $team2, description: \"changed\") { id } }",
    )
    .either(SA_SILENT)
    .fresh(F::Team),
    op("deleteTeam", Organization, OWNER, "mutation($team2: Uuid!) { deleteTeam(teamUuid: $team2) { id } }")
        .either(SA_SILENT)
        .fresh(F::Team),
    op(
        "teamAddUser",
        Organization,
        OWNER,
        "mutation($team2: Uuid!, $u: Uuid!) { teamAddUser(teamUuid: $team2, userUuid: $u) { id } }",
    )
    .either(SA_SILENT)
    .fresh(F::TeamAndMember),
    op(
        "teamRemoveUser",
        Organization,
        OWNER,
        "mutation($team2: Uuid!, $u: Uuid!) { teamRemoveUser(teamUuid: $team2, userUuid: $u) { id } }",
    )
    .either(SA_SILENT)
    .fresh(F::TeamWithMember),
    op(
        "organizationUpdateTeamRole(MEMBER)",
        Organization,
        OWNER,
        "mutation($org: Uuid!, $team2: Uuid!) { organizationUpdateTeamRole(organizationUuid: $org, teamUuid: $team2, role: ORGANIZATION_MEMBER) { id } }",
    )
    .either(SYS_IAM_SILENT)
    .fresh(F::Team),
    // §2 organization.clusters.update: owners (dedicated clusters); system.clusters.update (SA) for
    // standard ones, SPEC silent whether it also covers dedicated ones.
    op(
        "createCluster(DEDICATED)",
        Organization,
        OWNER,
        "mutation($org: Uuid!, $n: String!) { createCluster(name: $n, type: DEDICATED, organizationUuid: $org) { id } }",
    )
    .either(SA_SILENT),
    op(
        "createCluster(STANDARD)",
        Organization,
        &[SA],
        "mutation($n: String!) { createCluster(name: $n, type: STANDARD) { id } }",
    ),
    op(
        "updateCluster",
        Organization,
        OWNER,
        "mutation($cl: Uuid!, $n: String!) { updateCluster(clusterUuid: $cl, name: $n) { id } }",
    )
    .either(SA_SILENT)
    .fresh(F::Cluster),
    op("deleteCluster", Organization, OWNER, "mutation($cl: Uuid!) { deleteCluster(clusterUuid: $cl) { id } }")
        .either(SA_SILENT)
        .fresh(F::Cluster),
    // SPEC silent whether a workspace admin takes part in putting a workspace on a cluster's list.
    op(
        "workspaceAllowCluster",
        Organization,
        OWNER,
        "mutation($cl: Uuid!, $w: Uuid!) { workspaceAllowCluster(clusterUuid: $cl, workspaceUuid: $w) { id } }",
    )
    .either(&[SA, WA])
    .fresh(F::Cluster),
    op(
        "workspaceDisallowCluster",
        Organization,
        OWNER,
        "mutation($cl: Uuid!, $w: Uuid!) { workspaceDisallowCluster(clusterUuid: $cl, workspaceUuid: $w) { id } }",
    )
    .either(&[SA, WA])
    .fresh(F::ClusterAllowed),
    // §2/§3.1 organization.authentication.update: owners only; billing admins may NOT.
    op(
        "updateOrganizationIpAccessList",
        Organization,
        OWNER,
        "mutation($org: Uuid!) { updateOrganizationIpAccessList(organizationUuid: $org, cidrs: [\"127.0.0.0/8\"]) }",
    )
    .either(SA_SILENT),
    op(
        "claimOrganizationDomain",
        Organization,
        OWNER,
        "mutation($org: Uuid!, $nd: String!) { claimOrganizationDomain(organizationUuid: $org, domain: $nd) { id } }",
    )
    .either(SA_SILENT),
    op(
        "verifyOrganizationDomain",
        Organization,
        OWNER,
        "mutation($org: Uuid!, $claim: Uuid!) { verifyOrganizationDomain(organizationUuid: $org, domainUuid: $claim) { id } }",
    )
    .either(SA_SILENT)
    .fresh(F::Claim),
    op(
        "deleteOrganizationDomain",
        Organization,
        OWNER,
        "mutation($org: Uuid!, $claim: Uuid!) { deleteOrganizationDomain(organizationUuid: $org, domainUuid: $claim) { id } }",
    )
    .either(SA_SILENT)
    .fresh(F::Claim),
    op(
        "createIdentityProvider",
        Organization,
        OWNER,
        "mutation($org: Uuid!, $np: String!) { createIdentityProvider(organizationUuid: $org, input: {name: $np, issuerUrl: \"https://idp.example.test\", clientId: \"c\"}) { id } }",
    )
    .either(SA_SILENT),
    op(
        "updateIdentityProvider",
        Organization,
        OWNER,
        "mutation($org: Uuid!, $idp: Uuid!, $np: String!) { updateIdentityProvider(organizationUuid: $org, providerUuid: $idp, input: {name: $np, issuerUrl: \"https://idp2.example.test\", clientId: \"c2\"}) { id } }",
    )
    .either(SA_SILENT)
    .fresh(F::Idp),
    op(
        "deleteIdentityProvider",
        Organization,
        OWNER,
        "mutation($org: Uuid!, $idp: Uuid!) { deleteIdentityProvider(organizationUuid: $org, providerUuid: $idp) { id } }",
    )
    .either(SA_SILENT)
    .fresh(F::Idp),
    // Issue 26 §4: defining custom roles is membership policy, the owners' (as organization.iam.update);
    // the grant rule holds for them (an owner holds every workspace permission of A by implication).
    op(
        "createCustomRole",
        Organization,
        OWNER,
        "mutation($org: Uuid!, $n: String!) { createCustomRole(organizationUuid: $org, scope: WORKSPACE, name: $n, permissions: [\"workspace.config.get\"]) { id } }",
    )
    .either(SA_SILENT),
    op(
        "updateCustomRole",
        Organization,
        OWNER,
        "mutation($cr: Uuid!) { updateCustomRole(customRoleUuid: $cr, description: \"changed\") { id } }",
    )
    .either(SA_SILENT)
    .fresh(F::CustomRole),
    op("deleteCustomRole", Organization, OWNER, "mutation($cr: Uuid!) { deleteCustomRole(customRoleUuid: $cr) { id } }")
        .either(SA_SILENT)
        .fresh(F::CustomRole),
    // ---- System IAM and users (§2 system.iam.update SE SA; grant rule).
    op("inviteUser", System, &[SA], "mutation($ne: String!) { inviteUser(email: $ne) { id } }"),
    // Grant rule: SE holds every permission of SYSTEM_VIEWER, not of SYSTEM_ADMIN.
    op(
        "createSystemRoleBinding(SYSTEM_VIEWER)",
        System,
        &[SE, SA],
        "mutation($u: Uuid!) { createSystemRoleBinding(userId: $u, role: SYSTEM_VIEWER) { role } }",
    )
    .fresh(F::OrgMember),
    op(
        "createSystemRoleBinding(SYSTEM_ADMIN)",
        System,
        &[SA],
        "mutation($u: Uuid!) { createSystemRoleBinding(userId: $u, role: SYSTEM_ADMIN) { role } }",
    )
    .fresh(F::OrgMember),
    op(
        "deleteSystemRoleBinding",
        System,
        &[SE, SA],
        "mutation($u: Uuid!) { deleteSystemRoleBinding(userId: $u, role: SYSTEM_VIEWER) { role } }",
    )
    .fresh(F::SysHeld),
    // §2 joining a team / a team's roles: granting a system role to a team is system IAM.
    op(
        "createTeamSystemRoleBinding(SYSTEM_VIEWER)",
        System,
        &[SE, SA],
        "mutation($team2: Uuid!) { createTeamSystemRoleBinding(teamUuid: $team2, role: SYSTEM_VIEWER) { role } }",
    )
    .fresh(F::Team),
    op(
        "createTeamSystemRoleBinding(SYSTEM_ADMIN)",
        System,
        &[SA],
        "mutation($team2: Uuid!) { createTeamSystemRoleBinding(teamUuid: $team2, role: SYSTEM_ADMIN) { role } }",
    )
    .fresh(F::Team),
    op(
        "deleteTeamSystemRoleBinding",
        System,
        &[SE, SA],
        "mutation($team2: Uuid!) { deleteTeamSystemRoleBinding(teamUuid: $team2, role: SYSTEM_VIEWER) { role } }",
    )
    .fresh(F::TeamSys),
    // §2 system.user.delete (SA).
    op("removeUser", System, &[SA], "mutation($u: Uuid!) { removeUser(userUuid: $u) { id } }").fresh(F::OrgMember),
    // ---- Operations that delete the object principals hold roles on (each call on its own copy).
    // §2 workspace.config.delete (WA) | system.workspace.delete (SA).
    op("deleteWorkspace", Destructive, &[WA, O, SA], "mutation($fw: Uuid!) { deleteWorkspace(workspaceUuid: $fw) { id } }")
        .fresh(F::MirrorW),
    // §2 deployment.config.delete (DA) | system.deployments.delete (SA).
    op(
        "deleteDeployment",
        Destructive,
        &[DA, WA, O, SA],
        "mutation($fd: Uuid!) { deleteDeployment(deploymentUuid: $fd) { id } }",
    )
    .fresh(F::MirrorD),
    // SPEC silent: forgetting a deployment's record is read as deleting it (deployment.config.delete).
    op(
        "unadoptDeployment",
        Destructive,
        &[DA, WA, O],
        "mutation($fd: Uuid!) { unadoptDeployment(deploymentUuid: $fd) { id } }",
    )
    .either(SA_SILENT)
    .fresh(F::MirrorD),
];

/// How a principal was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Anonymous,
    User,
    SystemKey,
    OrganizationKey,
    WorkspaceKey(&'static str),
    DeploymentKey(&'static str),
}

/// A principal of the world and the roles it holds on A, W and D (implied ones not repeated: the table
/// writes them out).
pub struct Principal {
    pub name: &'static str,
    pub kind: Kind,
    pub roles: Vec<R>,
    pub token: Option<String>,
    pub email: Option<String>,
    pub id: Option<String>,
}

/// The outcome the table expects for a principal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    Allow,
    Deny,
    Either,
    Never,
}

/// What the table says `principal` may do with `op`.
pub fn expect(op: &Op, principal: &Principal) -> Expect {
    if op.never {
        return Expect::Never;
    }
    // `either: [KEY]` says SPEC is silent about API keys: it wins over `allow` for them.
    if principal.roles.contains(&KEY) && op.either.contains(&KEY) {
        return Expect::Either;
    }
    if principal.roles.iter().any(|r| op.allow.contains(r)) {
        Expect::Allow
    } else if principal.roles.iter().any(|r| op.either.contains(r)) {
        Expect::Either
    } else {
        Expect::Deny
    }
}

pub const PASSWORD: &str = "correct horse battery";

/// The world every operation is tried in.
pub struct World {
    pub app: TestApp,
    /// The first user: SYSTEM_ADMIN and owner of A (and of B, which it created).
    pub root: String,
    /// Shared objects by variable name: `org` (A), `orgB`, `w`, `d`, `r` (D's release name), `wB`, `dB`,
    /// `t`/`te` (a member of A, WV of W, DV of D), `team` (WV on W, `t` a member), `wsa`/`dsa`/`osa`/`ssa`
    /// (viewer keys), `std` (the standard cluster).
    pub vars: BTreeMap<String, String>,
    pub principals: Vec<Principal>,
    counter: usize,
}

/// The body's data, or a panic naming what failed.
pub async fn ok(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    let body = app.gql(query, variables, Some(token)).await;
    assert!(body.get("errors").is_none() || body["errors"].is_null(), "{query}: {body}");
    body["data"].clone()
}

/// The `id` at `field` of `data`.
fn id_of(data: &Value, field: &str) -> String {
    data[field]["id"].as_str().unwrap_or_else(|| panic!("{field}: {data}")).to_owned()
}

/// The invite token mailed to `email` (the newest message to it), read from the outbox — never from the
/// API (SPEC §4.4: the token reaches nobody but the address's owner).
pub async fn mailed_token(app: &TestApp, email: &str) -> String {
    let token = app
        .text(&format!(
            "SELECT substring(body_text from 'token=([A-Za-z0-9_.~-]+)') AS t FROM mail_outbox \
             WHERE recipient = '{}' ORDER BY created_at DESC LIMIT 1",
            email.replace('\'', "''")
        ))
        .await;
    assert!(!token.is_empty(), "no invite mailed to {email}");
    token
}

/// Every row an operation could change (key use times excepted: a refused call by a key still used it).
pub async fn snapshot(app: &TestApp) -> String {
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
        "scim_users",
        "scim_groups",
        "external_identities",
    ];
    let mut parts: Vec<String> = tables
        .iter()
        // Every insert or update gives a row a new `xmin` and every delete removes one, so a table's row count
        // and the sum of its rows' `xmin` change whenever anything in it is written, even to the same values:
        // stricter than comparing contents, and a scan instead of serialising and sorting every row.
        .map(|table| {
            format!("(SELECT '{table}:' || count(*) || ':' || coalesce(sum(xmin::text::bigint), 0) FROM {table})")
        })
        .collect();
    parts.push(
        "(SELECT 'service_accounts:' || coalesce(md5(string_agg((to_jsonb(t) - 'last_used_at')::text, '|' ORDER BY t.id)), '') FROM service_accounts t)"
            .into(),
    );
    app.text(&format!("SELECT concat_ws(E'\\n', {}) AS t", parts.join(", "))).await
}

impl World {
    /// Builds the world: organization A (default) with its owners, a billing admin, a member; workspace W
    /// with an admin, editor and viewer; deployment D with an admin, editor and viewer; system users of
    /// each system role and a plain user, outside A; API keys of every scope and role; organization B
    /// with its own workspace and deployment.
    pub async fn build() -> World {
        let app = TestApp::spawn_with(|config| config.public_signups = true).await;
        let root = app.with_owners().await;
        let owner = app.sign_in("owner2@example.com", PASSWORD).await;
        let owner_token = owner["data"]["createToken"]["token"]["value"].as_str().unwrap().to_owned();
        let owner_id = owner["data"]["createToken"]["user"]["id"].as_str().unwrap().to_owned();
        let org = app.text("SELECT id::text AS t FROM organizations WHERE is_default").await;
        let std =
            app.text("SELECT id::text AS t FROM clusters WHERE kind = 'STANDARD' ORDER BY created_at LIMIT 1").await;
        let w = app.create_workspace(&root, "W").await;
        let d = app.create_deployment(&root, &w, "etl").await;
        let (d_id, release) = (d["id"].as_str().unwrap().to_owned(), d["releaseName"].as_str().unwrap().to_owned());
        // D may hibernate (updateDeploymentHibernation needs a development deployment).
        app.text(&format!(
            "WITH u AS (UPDATE deployments SET is_development_mode = true WHERE id = '{d_id}') SELECT 'x'::text AS t"
        ))
        .await;

        // Everyone signs up at once (they join A as members: the founders are taken).
        let names = ["sa", "se", "sv", "user", "billing", "member", "wa", "we", "wv", "da", "de", "dv", "target"];
        let signed = join_all(names.iter().map(|n| app.sign_up_owned(format!("{n}@example.com")))).await;
        let users: BTreeMap<&str, (String, String)> = names.iter().copied().zip(signed).collect();

        let mut vars = BTreeMap::new();
        vars.insert("org".to_owned(), org.clone());
        vars.insert("w".to_owned(), w.clone());
        vars.insert("d".to_owned(), d_id.clone());
        vars.insert("r".to_owned(), release);
        vars.insert("std".to_owned(), std);
        vars.insert("t".to_owned(), users["target"].1.clone());
        vars.insert("te".to_owned(), "target@example.com".to_owned());

        let grant_d = "mutation($d: Id!, $e: String!, $r: Role!) { deploymentAddUserRole(email: $e, deploymentId: $d, role: $r) { id } }";
        for (name, role) in [("sa", "SYSTEM_ADMIN"), ("se", "SYSTEM_EDITOR"), ("sv", "SYSTEM_VIEWER")] {
            let body = app.grant_system_role(&root, &users[name].1, role).await;
            assert!(body.get("errors").is_none(), "{body}");
        }
        for name in ["sa", "se", "sv", "user"] {
            ok(
                &app,
                &root,
                "mutation($o: Uuid!, $u: Uuid!) { organizationRemoveUser(organizationUuid: $o, userUuid: $u) }",
                json!({"o": org, "u": users[name].1}),
            )
            .await;
        }
        ok(&app, &root, "mutation($o: Uuid!, $u: Uuid!) { organizationUpdateUserRole(organizationUuid: $o, userUuid: $u, role: ORGANIZATION_BILLING_ADMIN) }", json!({"o": org, "u": users["billing"].1})).await;
        for (name, role) in [("wa", "WORKSPACE_ADMIN"), ("we", "WORKSPACE_EDITOR"), ("wv", "WORKSPACE_VIEWER")] {
            let body = app.add_to_workspace(&root, &w, &format!("{name}@example.com"), role).await;
            assert!(body.get("errors").is_none(), "{body}");
        }
        for (name, role) in [
            ("da", "DEPLOYMENT_ADMIN"),
            ("de", "DEPLOYMENT_EDITOR"),
            ("dv", "DEPLOYMENT_VIEWER"),
            ("target", "DEPLOYMENT_VIEWER"),
        ] {
            let email = format!("{name}@example.com");
            let body = app.add_to_workspace(&root, &w, &email, "WORKSPACE_VIEWER").await;
            assert!(body.get("errors").is_none(), "{body}");
            ok(&app, &root, grant_d, json!({"d": d_id, "e": email, "r": role})).await;
        }
        // A team of A holding WORKSPACE_VIEWER on W, the target its member.
        let team =
            id_of(&ok(&app, &root, "mutation { createTeam(name: \"Readers\") { id } }", json!({})).await, "createTeam");
        ok(&app, &root, "mutation($w: Uuid!, $t: Uuid!) { workspaceAddTeam(workspaceUuid: $w, teamUuid: $t, role: WORKSPACE_VIEWER) { id } }", json!({"w": w, "t": team})).await;
        ok(
            &app,
            &root,
            "mutation($t: Uuid!, $u: Uuid!) { teamAddUser(teamUuid: $t, userUuid: $u) { id } }",
            json!({"t": team, "u": vars["t"]}),
        )
        .await;
        vars.insert("team".to_owned(), team);
        // A pending invite and variables, so lists have something in them.
        ok(
            &app,
            &root,
            "mutation($w: Uuid!) { workspaceAddUser(workspaceUuid: $w, email: \"pending@example.com\") { id } }",
            json!({"w": w}),
        )
        .await;
        ok(&app, &root, "mutation($d: Uuid!) { updateDeploymentVariables(deploymentUuid: $d, environmentVariables: [{key: \"FIXTURE\", value: \"x\"}]) { key } }", json!({"d": d_id})).await;

        // Keys: viewer keys as objects to read, and one actor key per scope and role.
        let key = |doc: &'static str, vars: Value| {
            let (app, root) = (&app, &root);
            async move {
                let data = ok(app, root, doc, vars).await;
                let field = data.as_object().unwrap().values().next().unwrap().clone();
                (field["id"].as_str().unwrap().to_owned(), field["apiKey"].as_str().unwrap().to_owned())
            }
        };
        const WKEY: &str = "mutation($w: Uuid!, $l: String!, $r: Role!) { createWorkspaceServiceAccount(label: $l, workspaceUuid: $w, role: $r) { id apiKey } }";
        const DKEY: &str = "mutation($d: Uuid!, $l: String!, $r: Role!) { createDeploymentServiceAccount(label: $l, deploymentUuid: $d, role: $r) { id apiKey } }";
        const OKEY: &str = "mutation($o: Uuid!, $l: String!, $r: Role!) { createOrganizationServiceAccount(label: $l, organizationUuid: $o, role: $r) { id apiKey } }";
        const SKEY: &str =
            "mutation($l: String!, $r: Role!) { createSystemServiceAccount(label: $l, role: $r) { id apiKey } }";
        vars.insert("wsa".into(), key(WKEY, json!({"w": w, "l": "object", "r": "WORKSPACE_VIEWER"})).await.0);
        vars.insert("dsa".into(), key(DKEY, json!({"d": d_id, "l": "object", "r": "DEPLOYMENT_VIEWER"})).await.0);
        vars.insert("osa".into(), key(OKEY, json!({"o": org, "l": "object", "r": "ORGANIZATION_MEMBER"})).await.0);
        vars.insert("ssa".into(), key(SKEY, json!({"l": "object", "r": "SYSTEM_VIEWER"})).await.0);

        let user = |name: &'static str, roles: Vec<R>| Principal {
            name,
            kind: Kind::User,
            roles,
            token: Some(users[name].0.clone()),
            email: Some(format!("{name}@example.com")),
            id: Some(users[name].1.clone()),
        };
        let mut principals = vec![
            Principal {
                name: "anonymous",
                kind: Kind::Anonymous,
                roles: vec![ANON],
                token: None,
                email: None,
                id: None,
            },
            user("sa", vec![USER, PERSON, SA]),
            user("se", vec![USER, PERSON, SE]),
            user("sv", vec![USER, PERSON, SV]),
            user("user", vec![USER, PERSON]),
            Principal {
                name: "owner",
                kind: Kind::User,
                roles: vec![USER, PERSON, O],
                token: Some(owner_token),
                email: Some("owner2@example.com".into()),
                id: Some(owner_id),
            },
            user("billing", vec![USER, PERSON, B]),
            user("member", vec![USER, PERSON, M]),
            user("wa", vec![USER, PERSON, M, WA]),
            user("we", vec![USER, PERSON, M, WE]),
            user("wv", vec![USER, PERSON, M, WV]),
            user("da", vec![USER, PERSON, M, WV, DA]),
            user("de", vec![USER, PERSON, M, WV, DE]),
            user("dv", vec![USER, PERSON, M, WV, DV]),
        ];
        for (name, role, r) in
            [("sa-key", "SYSTEM_ADMIN", SA), ("se-key", "SYSTEM_EDITOR", SE), ("sv-key", "SYSTEM_VIEWER", SV)]
        {
            let (id, token) = key(SKEY, json!({"l": name, "r": role})).await;
            principals.push(Principal {
                name,
                kind: Kind::SystemKey,
                roles: vec![USER, KEY, r],
                token: Some(token),
                email: None,
                id: Some(id),
            });
        }
        for (name, role, r) in [
            ("o-key", "ORGANIZATION_OWNER", O),
            ("b-key", "ORGANIZATION_BILLING_ADMIN", B),
            ("m-key", "ORGANIZATION_MEMBER", M),
        ] {
            let (id, token) = key(OKEY, json!({"o": org, "l": name, "r": role})).await;
            principals.push(Principal {
                name,
                kind: Kind::OrganizationKey,
                roles: vec![USER, KEY, r],
                token: Some(token),
                email: None,
                id: Some(id),
            });
        }
        for (name, role, r) in
            [("wa-key", "WORKSPACE_ADMIN", WA), ("we-key", "WORKSPACE_EDITOR", WE), ("wv-key", "WORKSPACE_VIEWER", WV)]
        {
            let (id, token) = key(WKEY, json!({"w": w, "l": name, "r": role})).await;
            principals.push(Principal {
                name,
                kind: Kind::WorkspaceKey(role),
                roles: vec![USER, KEY, r],
                token: Some(token),
                email: None,
                id: Some(id),
            });
        }
        for (name, role, r) in [
            ("da-key", "DEPLOYMENT_ADMIN", DA),
            ("de-key", "DEPLOYMENT_EDITOR", DE),
            ("dv-key", "DEPLOYMENT_VIEWER", DV),
        ] {
            let (id, token) = key(DKEY, json!({"d": d_id, "l": name, "r": role})).await;
            principals.push(Principal {
                name,
                kind: Kind::DeploymentKey(role),
                roles: vec![USER, KEY, r],
                token: Some(token),
                email: None,
                id: Some(id),
            });
        }

        // Tenant B: its own workspace and deployment, owned by root (who created B).
        let b = id_of(
            &ok(&app, &root, "mutation { createOrganization(name: \"Tenant B\") { id } }", json!({})).await,
            "createOrganization",
        );
        let wb = id_of(
            &ok(
                &app,
                &root,
                "mutation($o: Uuid!) { createWorkspace(label: \"WB\", organizationUuid: $o) { id } }",
                json!({"o": b}),
            )
            .await,
            "createWorkspace",
        );
        let db = app.create_deployment(&root, &wb, "b-etl").await["id"].as_str().unwrap().to_owned();
        vars.insert("orgB".into(), b);
        vars.insert("wB".into(), wb);
        vars.insert("dB".into(), db);
        World { app, root, vars, principals, counter: 0 }
    }

    /// Makes what `fresh` asks for (as root) for a call by `principal`; returns the variables and, for a
    /// mirrored key, the token to call with instead of the principal's own.
    pub async fn fresh(&mut self, fresh: Fresh, principal: &Principal) -> (BTreeMap<String, String>, Option<String>) {
        self.counter += 1;
        let n = self.counter;
        let (app, root) = (&self.app, self.root.as_str());
        let mut v = self.vars.clone();
        v.insert("n".into(), format!("fresh{n}"));
        v.insert("ne".into(), format!("fresh{n}@example.com"));
        v.insert("nd".into(), format!("fresh{n}.example.test"));
        v.insert("np".into(), format!("idp-fresh{n}"));
        let (w, d, org) = (v["w"].clone(), v["d"].clone(), v["org"].clone());
        let mut token = None;
        let member = |n: usize| {
            let app = &self.app;
            async move {
                let email = format!("member{n}@example.com");
                let (_, id) = app.sign_up(&email, PASSWORD).await;
                (email, id)
            }
        };
        let team = |n: usize, org: String| async move {
            id_of(
                &ok(
                    app,
                    root,
                    "mutation($o: Uuid!, $n: String!) { createTeam(organizationUuid: $o, name: $n) { id } }",
                    json!({"o": org, "n": format!("team{n}")}),
                )
                .await,
                "createTeam",
            )
        };
        match fresh {
            F::Nothing => {}
            F::OrgMember | F::WsMember | F::DMember | F::SysHeld => {
                let (email, id) = member(n).await;
                if matches!(fresh, F::WsMember | F::DMember) {
                    let body = app.add_to_workspace(root, &w, &email, "WORKSPACE_VIEWER").await;
                    assert!(body.get("errors").is_none(), "{body}");
                }
                if fresh == F::DMember {
                    ok(
                        app,
                        root,
                        "mutation($d: Id!, $e: String!) { deploymentAddUserRole(email: $e, deploymentId: $d) { id } }",
                        json!({"d": d, "e": email}),
                    )
                    .await;
                }
                if fresh == F::SysHeld {
                    let body = app.grant_system_role(root, &id, "SYSTEM_VIEWER").await;
                    assert!(body.get("errors").is_none(), "{body}");
                }
                v.insert("u".into(), id);
                v.insert("ue".into(), email);
            }
            F::WsKey => {
                let data = ok(app, root, "mutation($w: Uuid!, $n: String!) { createWorkspaceServiceAccount(label: $n, workspaceUuid: $w, role: WORKSPACE_VIEWER) { id } }", json!({"w": w, "n": format!("k{n}")})).await;
                v.insert("sa".into(), id_of(&data, "createWorkspaceServiceAccount"));
            }
            F::DKey => {
                let data = ok(app, root, "mutation($d: Uuid!, $n: String!) { createDeploymentServiceAccount(label: $n, deploymentUuid: $d, role: DEPLOYMENT_VIEWER) { id } }", json!({"d": d, "n": format!("k{n}")})).await;
                v.insert("sa".into(), id_of(&data, "createDeploymentServiceAccount"));
            }
            F::OrgKey => {
                let data = ok(app, root, "mutation($o: Uuid!, $n: String!) { createOrganizationServiceAccount(label: $n, organizationUuid: $o, role: ORGANIZATION_MEMBER) { id } }", json!({"o": org, "n": format!("k{n}")})).await;
                v.insert("sa".into(), id_of(&data, "createOrganizationServiceAccount"));
            }
            F::SysKey => {
                let data = ok(
                    app,
                    root,
                    "mutation($n: String!) { createSystemServiceAccount(label: $n, role: SYSTEM_VIEWER) { id } }",
                    json!({"n": format!("k{n}")}),
                )
                .await;
                v.insert("sa".into(), id_of(&data, "createSystemServiceAccount"));
            }
            F::Team | F::TeamWithMember | F::TeamAndMember | F::TeamW | F::TeamD | F::TeamSys => {
                let t = team(n, org.clone()).await;
                if matches!(fresh, F::TeamWithMember | F::TeamAndMember) {
                    let (email, id) = member(n).await;
                    if fresh == F::TeamWithMember {
                        ok(
                            app,
                            root,
                            "mutation($t: Uuid!, $u: Uuid!) { teamAddUser(teamUuid: $t, userUuid: $u) { id } }",
                            json!({"t": t, "u": id}),
                        )
                        .await;
                    }
                    v.insert("u".into(), id);
                    v.insert("ue".into(), email);
                }
                if matches!(fresh, F::TeamW | F::TeamD) {
                    ok(
                        app,
                        root,
                        "mutation($w: Uuid!, $t: Uuid!) { workspaceAddTeam(workspaceUuid: $w, teamUuid: $t) { id } }",
                        json!({"w": w, "t": t}),
                    )
                    .await;
                }
                if fresh == F::TeamD {
                    ok(app, root, "mutation($d: Uuid!, $t: Uuid!) { deploymentAddTeamRole(teamUuid: $t, deploymentUuid: $d) { id } }", json!({"d": d, "t": t})).await;
                }
                if fresh == F::TeamSys {
                    ok(app, root, "mutation($t: Uuid!) { createTeamSystemRoleBinding(teamUuid: $t, role: SYSTEM_VIEWER) { role } }", json!({"t": t})).await;
                }
                v.insert("team2".into(), t);
            }
            F::Invite => {
                let email = format!("invitee{n}@example.com");
                ok(
                    app,
                    root,
                    "mutation($w: Uuid!, $e: String!) { workspaceAddUser(workspaceUuid: $w, email: $e) { id } }",
                    json!({"w": w, "e": email}),
                )
                .await;
                let id = app.text(&format!("SELECT id::text AS t FROM invites WHERE email = '{email}'")).await;
                v.insert("inv".into(), id);
            }
            F::Cluster | F::ClusterAllowed => {
                let data = ok(app, root, "mutation($o: Uuid!, $n: String!) { createCluster(name: $n, type: DEDICATED, organizationUuid: $o) { id } }", json!({"o": org, "n": format!("cluster{n}")})).await;
                let cl = id_of(&data, "createCluster");
                if fresh == F::ClusterAllowed {
                    ok(app, root, "mutation($c: Uuid!, $w: Uuid!) { workspaceAllowCluster(clusterUuid: $c, workspaceUuid: $w) { id } }", json!({"c": cl, "w": w})).await;
                }
                v.insert("cl".into(), cl);
            }
            F::Claim => {
                let data = ok(app, root, "mutation($o: Uuid!, $d: String!) { claimOrganizationDomain(organizationUuid: $o, domain: $d) { id recordName recordValue } }", json!({"o": org, "d": format!("claim{n}.example.test")})).await;
                let claim = &data["claimOrganizationDomain"];
                app.dns.publish(claim["recordName"].as_str().unwrap(), claim["recordValue"].as_str().unwrap());
                v.insert("claim".into(), claim["id"].as_str().unwrap().to_owned());
            }
            F::Idp => {
                let data = ok(app, root, "mutation($o: Uuid!, $n: String!) { createIdentityProvider(organizationUuid: $o, input: {name: $n, issuerUrl: \"https://idp.example.test\", clientId: \"c\"}) { id } }", json!({"o": org, "n": format!("idp-made{n}")})).await;
                v.insert("idp".into(), id_of(&data, "createIdentityProvider"));
            }
            F::CustomRole => {
                let data = ok(app, root, "mutation($o: Uuid!, $n: String!) { createCustomRole(organizationUuid: $o, scope: WORKSPACE, name: $n, permissions: [\"workspace.config.get\"]) { id } }", json!({"o": org, "n": format!("role-made{n}")})).await;
                v.insert("cr".into(), id_of(&data, "createCustomRole"));
            }
            F::MirrorW => {
                let fw = id_of(
                    &ok(
                        app,
                        root,
                        "mutation($o: Uuid!, $n: String!) { createWorkspace(label: $n, organizationUuid: $o) { id } }",
                        json!({"o": org, "n": format!("mirror{n}")}),
                    )
                    .await,
                    "createWorkspace",
                );
                let role = match principal.kind {
                    Kind::User if principal.roles.contains(&WA) => Some("WORKSPACE_ADMIN"),
                    Kind::User if principal.roles.contains(&WE) => Some("WORKSPACE_EDITOR"),
                    Kind::User if principal.roles.contains(&WV) => Some("WORKSPACE_VIEWER"),
                    _ => None,
                };
                if let (Some(role), Some(email)) = (role, &principal.email) {
                    let body = app.add_to_workspace(root, &fw, email, role).await;
                    assert!(body.get("errors").is_none(), "{body}");
                }
                if let Kind::WorkspaceKey(role) = principal.kind {
                    let data = ok(app, root, "mutation($w: Uuid!, $r: Role!) { createWorkspaceServiceAccount(label: \"mirror\", workspaceUuid: $w, role: $r) { apiKey } }", json!({"w": fw, "r": role})).await;
                    token = data["createWorkspaceServiceAccount"]["apiKey"].as_str().map(str::to_owned);
                }
                v.insert("fw".into(), fw);
            }
            F::MirrorD => {
                let fd =
                    app.create_deployment(root, &w, &format!("mirror{n}")).await["id"].as_str().unwrap().to_owned();
                let role = match principal.kind {
                    Kind::User if principal.roles.contains(&DA) => Some("DEPLOYMENT_ADMIN"),
                    Kind::User if principal.roles.contains(&DE) => Some("DEPLOYMENT_EDITOR"),
                    Kind::User if principal.roles.contains(&DV) => Some("DEPLOYMENT_VIEWER"),
                    _ => None,
                };
                if let (Some(role), Some(email)) = (role, &principal.email) {
                    ok(app, root, "mutation($d: Id!, $e: String!, $r: Role!) { deploymentAddUserRole(email: $e, deploymentId: $d, role: $r) { id } }", json!({"d": fd, "e": email, "r": role})).await;
                }
                if let Kind::DeploymentKey(role) = principal.kind {
                    let data = ok(app, root, "mutation($d: Uuid!, $r: Role!) { createDeploymentServiceAccount(label: \"mirror\", deploymentUuid: $d, role: $r) { apiKey } }", json!({"d": fd, "r": role})).await;
                    token = data["createDeploymentServiceAccount"]["apiKey"].as_str().map(str::to_owned);
                }
                v.insert("fd".into(), fd);
            }
        }
        (v, token)
    }
}

impl TestApp {
    /// [`TestApp::sign_up`] with an owned address (for `join_all`).
    pub async fn sign_up_owned(&self, email: String) -> (String, String) {
        self.sign_up(&email, PASSWORD).await
    }
}

/// The first error's code, if any.
fn code(body: &Value) -> Option<&str> {
    body.get("errors").and_then(|e| e.get(0)).map(|e| e["extensions"]["code"].as_str().unwrap_or("(none)"))
}

/// Runs every operation of `area` as every principal; returns the mismatches and the notes (answers
/// SPEC allows but that are worth knowing, such as NOT_FOUND for a denied call).
pub async fn run_area(area: Area) -> (Vec<String>, Vec<String>) {
    let mut world = World::build().await;
    let principals = std::mem::take(&mut world.principals);
    let mut failures = Vec::new();
    let mut notes = Vec::new();
    for op in OPS.iter().filter(|op| op.area == area) {
        // Refusals first, so the shared objects are as built when they are tried; then allowed calls.
        let mut order: Vec<&Principal> = principals.iter().collect();
        order.sort_by_key(|p| match expect(op, p) {
            Expect::Deny | Expect::Never => 0,
            Expect::Either => 1,
            Expect::Allow => 2,
        });
        let mut prepared: Option<(BTreeMap<String, String>, Option<String>)> = None;
        for principal in order {
            let mirrored = matches!(op.fresh, F::MirrorD | F::MirrorW);
            if prepared.is_none() || mirrored {
                prepared = Some(world.fresh(op.fresh, principal).await);
            }
            let (vars, token_override) = prepared.clone().unwrap();
            let token = token_override.or_else(|| principal.token.clone());
            let variables = Value::Object(vars.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect());
            let expected = expect(op, principal);
            let before = if expected == Expect::Allow { None } else { Some(snapshot(&world.app).await) };
            let body = world.app.gql(op.doc, variables, token.as_deref()).await;
            let what = format!("{} as {} (expected {:?})", op.name, principal.name, expected);
            let answer = code(&body);
            let refused = matches!(answer, Some("FORBIDDEN" | "UNAUTHENTICATED" | "NOT_FOUND"));
            match expected {
                Expect::Allow => {
                    if let Some(answer) = answer {
                        failures.push(format!("{what}: answered {answer}: {}", body["errors"][0]["message"]));
                    }
                }
                Expect::Deny => {
                    let wanted = if principal.kind == Kind::Anonymous { "UNAUTHENTICATED" } else { "FORBIDDEN" };
                    match answer {
                        Some(a) if a == wanted => {}
                        Some("NOT_FOUND") if principal.kind != Kind::Anonymous => notes.push(format!(
                            "{what}: NOT_FOUND (SPEC §7 allows it for an object outside the caller's reach)"
                        )),
                        Some(a) => failures
                            .push(format!("{what}: answered {a}, wanted {wanted}: {}", body["errors"][0]["message"])),
                        None => failures.push(format!("{what}: SUCCEEDED, wanted {wanted}: {}", body["data"])),
                    }
                }
                Expect::Either => match answer {
                    None => notes.push(format!("{what}: allowed")),
                    Some(a) if refused => notes.push(format!("{what}: refused with {a}")),
                    Some(a) => failures.push(format!("{what}: answered {a}: {}", body["errors"][0]["message"])),
                },
                Expect::Never => {
                    if answer.is_none() {
                        failures.push(format!("{what}: SUCCEEDED, wanted a refusal: {}", body["data"]));
                    }
                }
            }
            if let Some(before) = before {
                if answer.is_some() && snapshot(&world.app).await != before {
                    failures.push(format!("{what}: the refused call CHANGED rows ({body})"));
                }
            }
            // A call that did something used its fresh objects up.
            if answer.is_none() {
                prepared = None;
            }
        }
    }
    (failures, notes)
}

async fn check_area(area: Area) {
    let (failures, notes) = run_area(area).await;
    for note in &notes {
        eprintln!("note: {note}");
    }
    assert!(failures.is_empty(), "{} mismatches with SPEC:\n{}", failures.len(), failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_matrix_reads() {
    check_area(Area::Reads).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_matrix_workspace_mutations() {
    check_area(Area::Workspace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_matrix_deployment_mutations() {
    check_area(Area::Deployment).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_matrix_api_keys() {
    check_area(Area::Keys).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_matrix_organization_mutations() {
    check_area(Area::Organization).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_matrix_system_mutations() {
    check_area(Area::System).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_matrix_destructive_mutations() {
    check_area(Area::Destructive).await;
}
