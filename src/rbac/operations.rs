//! THE operation table: every root field of the schema and what it needs (SPEC §2, §6), and the read rule
//! of every kind of object (SPEC §2 rule 5).
//!
//! Guards, capabilities and the role-matrix tests are all derived from these two tables; no resolver
//! decides access by hand. A test compares [`OPERATIONS`] with the schema's root fields, so a new field
//! cannot be added without a row here.

use crate::rbac::Permission::{self, *};
use crate::rbac::Scope;

/// The root type a field belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// `Query`.
    Query,
    /// `Mutation`.
    Mutation,
    /// `Subscription`.
    Subscription,
}

/// Which object a permission is checked against, read from the field's arguments. An argument path may
/// reach into an input object (`where.id`). An empty string or `null` is an absent argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    /// No object: only `system.*` permissions can apply.
    Nothing,
    /// The organization the argument names or, when it is absent, the caller's only organization.
    Organization(&'static str),
    /// The workspace the argument names.
    Workspace(&'static str),
    /// The deployment the argument names.
    Deployment(&'static str),
    /// The deployment named by the `id` argument or, when that is absent, by the `release_name` argument.
    DeploymentNamed {
        /// Argument holding the deployment's id.
        id: &'static str,
        /// Argument holding its release name.
        release_name: &'static str,
    },
    /// The scope object of the service account the argument names.
    ServiceAccount(&'static str),
    /// The workspace the `workspace` argument names or, when it is absent, the scope object of the invite
    /// the `invite` argument names.
    Invite {
        /// Argument holding the invite's id.
        invite: &'static str,
        /// Argument holding a workspace id.
        workspace: &'static str,
    },
    /// The organization of the team the argument names.
    Team(&'static str),
    /// The scope object of the cluster the argument names: its organization for a dedicated cluster, the
    /// installation for a standard one.
    Cluster(&'static str),
    /// The workspace of the deployment the argument names (for permissions that exist at workspace scope
    /// only, such as reading the audit log).
    WorkspaceOfDeployment(&'static str),
}

/// An operator setting a rule can depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// `CAPCOM_ORG_SELF_SERVICE`: anyone signed in may create an organization.
    OrganizationSelfService,
}

/// What a root field needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Nothing: answered without credentials (sign-up, sign-in, configuration).
    Public,
    /// Any signed-in principal, person or API key.
    SignedIn,
    /// A signed-in person (API keys are refused).
    Person,
    /// One of `any_of` on the object `on`; `system.*` alternatives hold regardless of the object. Only
    /// alternatives of the object's own scope (or `system`) are considered.
    Permission {
        /// The permissions any of which suffices.
        any_of: &'static [Permission],
        /// The object they are checked against.
        on: On,
        /// Whether API keys are refused even when they hold the permission.
        person_only: bool,
    },
    /// One field, several operations chosen by their arguments (Houston's `upsertDeployment`): the rule
    /// of the first form whose argument is present, else the last form's (whose argument is `None`).
    Forms(&'static [(Option<&'static str>, Rule)]),
    /// The first rule while the operator setting is on, the second while it is off.
    Configured(Setting, &'static Rule, &'static Rule),
}

/// A root field and its rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// `Query`, `Mutation` or `Subscription`.
    pub root: Root,
    /// The field's name, as in the schema.
    pub field: &'static str,
    /// What it needs.
    pub rule: Rule,
}

const fn op(root: Root, field: &'static str, rule: Rule) -> Operation {
    Operation { root, field, rule }
}

const fn on(any_of: &'static [Permission], on: On) -> Rule {
    Rule::Permission { any_of, on, person_only: false }
}

const fn system(any_of: &'static [Permission]) -> Rule {
    Rule::Permission { any_of, on: On::Nothing, person_only: false }
}

const fn person_on(any_of: &'static [Permission], on: On) -> Rule {
    Rule::Permission { any_of, on, person_only: true }
}

use On::{Deployment as D, Workspace as W};
use Root::{Mutation as M, Query as Q, Subscription as S};
use Rule::{Person, Public, SignedIn};

const WS: On = W("workspaceUuid");
const DEP: On = D("deploymentUuid");
const DEP_ID: On = D("deploymentId");
const DEP_NAMED: On = On::DeploymentNamed { id: "deploymentUuid", release_name: "releaseName" };

const READ_DEPLOYMENT: &[Permission] = &[DeploymentConfigGet, SystemDeploymentsGet];
const ORG: On = On::Organization("organizationUuid");
const TEAM: On = On::Team("teamUuid");
const CLUSTER: On = On::Cluster("clusterUuid");
const ORGANIZATION_TEAMS: &[Permission] = &[OrganizationTeamsGet, SystemUsersGet];
const WORKSPACE_TEAMS: &[Permission] = &[WorkspaceTeamsGet, SystemUsersGet];
const MANAGE_CLUSTER: &[Permission] = &[OrganizationClustersUpdate, SystemClustersUpdate];
const WORKSPACE_AUDIT: &[Permission] = &[WorkspaceAuditLogsGet, SystemAuditLogsGet];
const UPDATE_DEPLOYMENT: &[Permission] = &[DeploymentConfigUpdate, SystemDeploymentsUpdate];
const WORKSPACE_USERS: &[Permission] = &[WorkspaceUsersGet, SystemUsersGet];
const WORKSPACE_IAM: &[Permission] = &[WorkspaceIamUpdate, SystemIamUpdate];
// SPEC §2 names system IAM as the alternative for workspace IAM only.
const DEPLOYMENT_IAM: &[Permission] = &[DeploymentIamUpdate];

/// Every root field of the schema.
pub const OPERATIONS: &[Operation] = &[
    // Identity and configuration.
    op(Q, "self", Person),
    op(Q, "appConfig", Public),
    op(Q, "authConfig", Public),
    op(M, "createUser", Public),
    op(M, "createToken", Public),
    op(M, "exchangeSignInCode", Public),
    op(M, "updateSelf", Person),
    op(M, "logout", Person),
    op(M, "changePassword", Person),
    op(M, "requestPasswordReset", Public),
    op(M, "resetPassword", Public),
    // Whoever may delete an account may take its password away (SPEC §2 gives system.user.* to SYSTEM_ADMIN).
    op(M, "forcePasswordReset", system(&[SystemUserDelete])),
    // Workspaces.
    op(Q, "workspaces", Rule::Forms(&[(Some("all"), system(&[SystemWorkspaceGet])), (None, SignedIn)])),
    op(Q, "paginatedWorkspaces", SignedIn),
    op(Q, "workspace", on(&[WorkspaceConfigGet, SystemWorkspaceGet], WS)),
    op(Q, "workspaceUsers", on(WORKSPACE_USERS, WS)),
    op(Q, "paginatedWorkspaceUsers", on(WORKSPACE_USERS, WS)),
    op(Q, "workspaceUser", on(WORKSPACE_USERS, WS)),
    op(Q, "workspaceInvites", on(&[WorkspaceInvitesGet, SystemInvitesGet], WS)),
    op(M, "createWorkspace", person_on(&[OrganizationWorkspacesCreate], On::Organization("organizationUuid"))),
    op(M, "updateWorkspace", on(&[WorkspaceConfigUpdate], WS)),
    op(M, "deleteWorkspace", on(&[WorkspaceConfigDelete, SystemWorkspaceDelete], WS)),
    op(M, "workspaceAddUser", on(WORKSPACE_IAM, WS)),
    op(M, "workspaceUpdateUserRole", on(WORKSPACE_IAM, WS)),
    op(M, "workspaceUpsertUserRole", on(WORKSPACE_IAM, WS)),
    op(M, "workspaceRemoveUser", on(WORKSPACE_IAM, WS)),
    // Access: the matrix, users, invites, system roles, mail.
    op(Q, "roles", SignedIn),
    op(Q, "can", SignedIn),
    op(Q, "explainPermission", SignedIn),
    op(Q, "users", system(&[SystemUsersGet])),
    op(Q, "invites", system(&[SystemInvitesGet])),
    // The outbox holds invite tokens: only those who may invite anyone may read it.
    op(Q, "mailOutbox", system(&[SystemUserInvite])),
    op(M, "inviteUser", system(&[SystemUserInvite])),
    op(M, "deleteInviteToken", on(WORKSPACE_IAM, On::Invite { invite: "inviteUuid", workspace: "workspaceUuid" })),
    op(M, "acceptInvite", Person),
    op(M, "createSystemRoleBinding", system(&[SystemIamUpdate])),
    op(M, "deleteSystemRoleBinding", system(&[SystemIamUpdate])),
    op(M, "removeUser", system(&[SystemUserDelete])),
    // Deployments.
    op(Q, "workspaceDeployments", on(&[WorkspaceDeploymentsGet, SystemDeploymentsGet], WS)),
    op(Q, "workspaceDeployment", on(&[WorkspaceDeploymentsGet, SystemDeploymentsGet], WS)),
    op(Q, "deployments", system(&[SystemDeploymentsGet])),
    op(Q, "deploymentConfig", SignedIn),
    op(Q, "runtimeReleases", SignedIn),
    op(Q, "deployment", on(READ_DEPLOYMENT, D("where.id"))),
    op(Q, "paginatedDeployments", SignedIn),
    op(Q, "logs", on(READ_DEPLOYMENT, DEP)),
    op(Q, "deploymentUsers", on(&[DeploymentUsersGet, SystemUsersGet], DEP_ID)),
    op(Q, "clusters", SignedIn),
    // Anyone signed in; the answer is about the cluster, so it is read-checked like the cluster itself.
    op(Q, "availableNamespaces", SignedIn),
    op(Q, "deploymentVariables", on(READ_DEPLOYMENT, DEP_NAMED)),
    op(M, "createDeployment", on(&[WorkspaceDeploymentsCreate], WS)),
    op(M, "updateDeployment", on(UPDATE_DEPLOYMENT, DEP)),
    op(M, "upgradeDeployment", on(UPDATE_DEPLOYMENT, DEP)),
    op(M, "deleteDeployment", on(&[DeploymentConfigDelete, SystemDeploymentsDelete], DEP)),
    op(M, "updateDeploymentRuntime", on(UPDATE_DEPLOYMENT, DEP)),
    op(M, "cancelRuntimeUpdate", on(UPDATE_DEPLOYMENT, DEP)),
    op(M, "updateDeploymentAirflow", on(UPDATE_DEPLOYMENT, DEP)),
    // Adopting records a deployment in the workspace, as creating one does; forgetting one removes it
    // from capcom, as deleting does.
    op(M, "adoptDeployment", on(&[WorkspaceDeploymentsCreate], WS)),
    op(M, "unadoptDeployment", on(&[DeploymentConfigDelete, SystemDeploymentsDelete], DEP)),
    op(M, "createDeploy", on(&[DeploymentImagesPush], DEP)),
    op(
        M,
        "upsertDeployment",
        Rule::Forms(&[
            (Some("deploymentUuid"), on(UPDATE_DEPLOYMENT, DEP)),
            // An image deploy; a runtime upgrade that comes with it also needs the update permission
            // (checked by the domain with the caller's authority).
            (Some("image"), on(&[DeploymentImagesPush], DEP_NAMED)),
            (None, on(&[WorkspaceDeploymentsCreate], WS)),
        ]),
    ),
    op(M, "deploymentAccessToken", person_on(&[DeploymentAirflowGet, SystemAirflowGet], DEP)),
    op(M, "deploymentAddUserRole", on(DEPLOYMENT_IAM, DEP_ID)),
    op(M, "deploymentUpdateUserRole", on(DEPLOYMENT_IAM, DEP_ID)),
    op(M, "deploymentRemoveUserRole", on(DEPLOYMENT_IAM, DEP_ID)),
    op(M, "updateDeploymentVariables", on(UPDATE_DEPLOYMENT, DEP)),
    op(S, "deploymentStatus", on(READ_DEPLOYMENT, DEP_NAMED)),
    op(S, "log", on(READ_DEPLOYMENT, DEP)),
    // Service accounts.
    op(Q, "workspaceServiceAccounts", on(&[WorkspaceServiceAccountsGet, SystemServiceAccountsGet], WS)),
    op(Q, "workspaceServiceAccount", on(&[WorkspaceServiceAccountsGet, SystemServiceAccountsGet], WS)),
    op(Q, "deploymentServiceAccounts", on(&[DeploymentServiceAccountsGet, SystemServiceAccountsGet], DEP)),
    op(Q, "deploymentServiceAccount", on(&[DeploymentServiceAccountsGet, SystemServiceAccountsGet], DEP)),
    op(Q, "systemServiceAccounts", system(&[SystemServiceAccountsGet])),
    op(M, "createWorkspaceServiceAccount", on(&[WorkspaceServiceAccountsCreate, SystemServiceAccountsCreate], WS)),
    op(M, "createDeploymentServiceAccount", on(&[DeploymentServiceAccountsCreate, SystemServiceAccountsCreate], DEP)),
    op(M, "createSystemServiceAccount", system(&[SystemServiceAccountsCreate])),
    op(M, "updateWorkspaceServiceAccount", on(&[WorkspaceServiceAccountsUpdate, SystemServiceAccountsUpdate], WS)),
    op(M, "updateDeploymentServiceAccount", on(&[DeploymentServiceAccountsUpdate, SystemServiceAccountsUpdate], DEP)),
    op(M, "deleteWorkspaceServiceAccount", on(&[WorkspaceServiceAccountsDelete, SystemServiceAccountsDelete], WS)),
    op(M, "deleteDeploymentServiceAccount", on(&[DeploymentServiceAccountsDelete, SystemServiceAccountsDelete], DEP)),
    op(M, "deleteSystemServiceAccount", system(&[SystemServiceAccountsDelete])),
    op(Q, "organizationServiceAccounts", on(&[OrganizationServiceAccountsGet, SystemServiceAccountsGet], ORG)),
    op(Q, "organizationServiceAccount", on(&[OrganizationServiceAccountsGet, SystemServiceAccountsGet], ORG)),
    op(
        M,
        "createOrganizationServiceAccount",
        on(&[OrganizationServiceAccountsCreate, SystemServiceAccountsCreate], ORG),
    ),
    op(
        M,
        "updateOrganizationServiceAccount",
        on(&[OrganizationServiceAccountsUpdate, SystemServiceAccountsUpdate], ORG),
    ),
    op(
        M,
        "deleteOrganizationServiceAccount",
        on(&[OrganizationServiceAccountsDelete, SystemServiceAccountsDelete], ORG),
    ),
    op(
        M,
        "rotateServiceAccountKey",
        on(
            &[
                SystemServiceAccountsUpdate,
                OrganizationServiceAccountsUpdate,
                WorkspaceServiceAccountsUpdate,
                DeploymentServiceAccountsUpdate,
            ],
            On::ServiceAccount("serviceAccountUuid"),
        ),
    ),
    // Organizations.
    op(Q, "organizations", Rule::Forms(&[(Some("all"), system(&[SystemOrganizationsGet])), (None, SignedIn)])),
    op(Q, "organization", on(&[OrganizationConfigGet, SystemOrganizationsGet], ORG)),
    op(
        M,
        "createOrganization",
        Rule::Configured(
            Setting::OrganizationSelfService,
            &Person,
            &person_on(&[SystemOrganizationsCreate], On::Nothing),
        ),
    ),
    // Billing details need organization.billing.update as well (checked by the domain when they change).
    op(M, "updateOrganization", on(&[OrganizationConfigUpdate], ORG)),
    op(Q, "organizationUsers", on(&[OrganizationUsersGet, SystemUsersGet], ORG)),
    op(M, "organizationInviteUser", on(&[OrganizationUsersInvite], ORG)),
    op(M, "organizationUpdateUserRole", on(&[OrganizationIamUpdate], ORG)),
    op(M, "organizationRemoveUser", on(&[OrganizationIamUpdate], ORG)),
    op(M, "organizationUpdateTeamRole", on(&[OrganizationIamUpdate], ORG)),
    // Managed domains.
    op(Q, "organizationDomains", on(&[OrganizationConfigGet, SystemOrganizationsGet], ORG)),
    op(M, "claimOrganizationDomain", on(&[OrganizationConfigUpdate], ORG)),
    op(M, "verifyOrganizationDomain", on(&[OrganizationConfigUpdate], ORG)),
    op(M, "deleteOrganizationDomain", on(&[OrganizationConfigUpdate], ORG)),
    // Identity providers (OpenID Connect).
    op(Q, "identityProviders", on(&[OrganizationConfigGet, SystemOrganizationsGet], ORG)),
    op(M, "createIdentityProvider", on(&[OrganizationConfigUpdate], ORG)),
    op(M, "updateIdentityProvider", on(&[OrganizationConfigUpdate], ORG)),
    op(M, "deleteIdentityProvider", on(&[OrganizationConfigUpdate], ORG)),
    // Teams.
    op(Q, "teams", on(ORGANIZATION_TEAMS, ORG)),
    op(
        Q,
        "paginatedTeams",
        Rule::Forms(&[(Some("workspaceUuid"), on(WORKSPACE_TEAMS, WS)), (None, on(ORGANIZATION_TEAMS, ORG))]),
    ),
    op(
        Q,
        "team",
        Rule::Forms(&[(Some("workspaceUuid"), on(WORKSPACE_TEAMS, WS)), (None, on(ORGANIZATION_TEAMS, TEAM))]),
    ),
    op(Q, "teamUsers", on(ORGANIZATION_TEAMS, TEAM)),
    op(Q, "workspaceTeams", on(WORKSPACE_TEAMS, WS)),
    op(Q, "deploymentTeams", on(&[DeploymentUsersGet, SystemUsersGet], DEP)),
    op(M, "createTeam", on(&[OrganizationTeamsUpdate], ORG)),
    op(M, "updateTeam", on(&[OrganizationTeamsUpdate], TEAM)),
    op(M, "deleteTeam", on(&[OrganizationTeamsUpdate], TEAM)),
    op(M, "teamAddUser", on(&[OrganizationTeamsUpdate], TEAM)),
    op(M, "teamRemoveUser", on(&[OrganizationTeamsUpdate], TEAM)),
    op(M, "workspaceAddTeam", on(WORKSPACE_IAM, WS)),
    op(M, "workspaceUpdateTeamRole", on(WORKSPACE_IAM, WS)),
    op(M, "workspaceRemoveTeam", on(WORKSPACE_IAM, WS)),
    op(M, "deploymentAddTeamRole", on(DEPLOYMENT_IAM, DEP)),
    op(M, "deploymentUpdateTeamRole", on(DEPLOYMENT_IAM, DEP)),
    op(M, "deploymentRemoveTeamRole", on(DEPLOYMENT_IAM, DEP)),
    op(M, "createTeamSystemRoleBinding", system(&[SystemIamUpdate])),
    op(M, "deleteTeamSystemRoleBinding", system(&[SystemIamUpdate])),
    // Clusters.
    op(
        M,
        "createCluster",
        Rule::Forms(&[
            (Some("organizationUuid"), on(&[OrganizationClustersUpdate], ORG)),
            (None, system(&[SystemClustersUpdate])),
        ]),
    ),
    op(M, "updateCluster", on(MANAGE_CLUSTER, CLUSTER)),
    op(M, "deleteCluster", on(MANAGE_CLUSTER, CLUSTER)),
    op(M, "workspaceAllowCluster", on(MANAGE_CLUSTER, CLUSTER)),
    op(M, "workspaceDisallowCluster", on(MANAGE_CLUSTER, CLUSTER)),
    // The audit log: an organization's owners read their organization's, a workspace's admins their
    // workspace's (a deployment's events are its workspace's), system viewers everything.
    op(
        Q,
        "auditEvents",
        Rule::Forms(&[
            (Some("filter.deploymentUuid"), on(WORKSPACE_AUDIT, On::WorkspaceOfDeployment("filter.deploymentUuid"))),
            (Some("filter.workspaceUuid"), on(WORKSPACE_AUDIT, W("filter.workspaceUuid"))),
            (
                Some("filter.organizationUuid"),
                on(&[OrganizationAuditLogsGet, SystemAuditLogsGet], On::Organization("filter.organizationUuid")),
            ),
            (None, system(&[SystemAuditLogsGet])),
        ]),
    ),
    op(S, "auditEventAdded", on(&[OrganizationAuditLogsGet, SystemAuditLogsGet], ORG)),
];

/// The row of the root field `field`. Field names are unique across the three roots (a test checks it).
pub fn find(field: &str) -> Option<&'static Operation> {
    OPERATIONS.iter().find(|operation| operation.field == field)
}

/// The kinds of object that belong to a scope and are read-checked wherever they appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// An organization.
    Organization,
    /// A workspace.
    Workspace,
    /// A deployment.
    Deployment,
    /// A deploy of a deployment.
    Deploy,
    /// An environment variable of a deployment.
    EnvironmentVariable,
    /// A role binding held by a user or a team.
    MemberBinding,
    /// A role binding held by a service account.
    ServiceAccountBinding,
    /// A pending invite.
    Invite,
    /// A service account.
    ServiceAccount,
    /// A user, reached as a member of a scope object.
    Member,
    /// A dedicated cluster (standard clusters are shared by everyone).
    Cluster,
    /// A team, reached through its organization or an object it holds a role on.
    Team,
    /// An audit event (a deployment's events belong to its workspace).
    AuditEvent,
    /// A setting of an organization (a claimed domain, an identity provider).
    OrganizationSetting,
}

/// The permissions, any of which lets a caller read an object of `kind` whose scope is `scope`
/// (SPEC §2 rule 5). The `system.*` alternative of each holds everywhere.
pub fn read_rule(kind: ObjectKind, scope: Scope) -> &'static [Permission] {
    use ObjectKind as K;
    use Scope::{Deployment as Dep, Organization as Org, System as Sys, Workspace as Ws};
    match (kind, scope) {
        (K::Organization | K::OrganizationSetting, _) => &[OrganizationConfigGet, SystemOrganizationsGet],
        (K::Workspace, _) => &[WorkspaceConfigGet, SystemWorkspaceGet],
        (K::Deployment | K::Deploy | K::EnvironmentVariable, _) => READ_DEPLOYMENT,
        (K::MemberBinding | K::Member, Sys) => &[SystemUsersGet],
        (K::MemberBinding | K::Member, Org) => &[OrganizationUsersGet, SystemUsersGet],
        (K::MemberBinding | K::Member, Ws) => WORKSPACE_USERS,
        (K::MemberBinding | K::Member, Dep) => &[DeploymentUsersGet, SystemUsersGet],
        (K::ServiceAccountBinding | K::ServiceAccount, Sys) => &[SystemServiceAccountsGet],
        (K::ServiceAccountBinding | K::ServiceAccount, Org) => {
            &[OrganizationServiceAccountsGet, SystemServiceAccountsGet]
        }
        (K::ServiceAccountBinding | K::ServiceAccount, Ws) => &[WorkspaceServiceAccountsGet, SystemServiceAccountsGet],
        (K::ServiceAccountBinding | K::ServiceAccount, Dep) => {
            &[DeploymentServiceAccountsGet, SystemServiceAccountsGet]
        }
        (K::Invite, Sys) => &[SystemInvitesGet],
        (K::Invite, Org) => &[OrganizationUsersGet, SystemInvitesGet],
        (K::Invite, _) => &[WorkspaceInvitesGet, SystemInvitesGet],
        (K::Cluster, _) => &[OrganizationClustersGet, SystemOrganizationsGet],
        (K::Team, Sys | Org) => ORGANIZATION_TEAMS,
        (K::Team, Ws) => WORKSPACE_TEAMS,
        (K::Team, Dep) => &[DeploymentUsersGet, SystemUsersGet],
        (K::AuditEvent, Sys) => &[SystemAuditLogsGet],
        (K::AuditEvent, Org) => &[OrganizationAuditLogsGet, SystemAuditLogsGet],
        (K::AuditEvent, Ws | Dep) => WORKSPACE_AUDIT,
    }
}

/// What each capability of `workspaceCapabilities` reports: whether the caller may perform this
/// operation on the workspace.
pub const WORKSPACE_CAPABILITIES: &[(&str, &str)] = &[
    ("canUpdateWorkspace", "updateWorkspace"),
    ("canDeleteWorkspace", "deleteWorkspace"),
    ("canUpdateIAM", "workspaceUpdateUserRole"),
    ("canInviteUser", "workspaceAddUser"),
    ("canCreateDeployment", "createDeployment"),
    ("canCreateServiceAccount", "createWorkspaceServiceAccount"),
    ("canUpdateServiceAccount", "updateWorkspaceServiceAccount"),
    ("canDeleteServiceAccount", "deleteWorkspaceServiceAccount"),
    ("canViewUsers", "workspaceUsers"),
    ("canManageTeams", "workspaceAddTeam"),
    ("canGetAuditLogs", "auditEvents"),
];

/// What each capability of `deploymentCapabilities` reports: whether the caller may perform this
/// operation on the deployment.
pub const DEPLOYMENT_CAPABILITIES: &[(&str, &str)] = &[
    ("canUpdateDeployment", "updateDeployment"),
    ("canDeleteDeployment", "deleteDeployment"),
    ("canDeploy", "createDeploy"),
    ("canUpdateIAM", "deploymentUpdateUserRole"),
    ("canCreateServiceAccount", "createDeploymentServiceAccount"),
    ("canUpdateServiceAccount", "updateDeploymentServiceAccount"),
    ("canDeleteServiceAccount", "deleteDeploymentServiceAccount"),
    ("canViewUsers", "deploymentUsers"),
    ("canReadVariables", "deploymentVariables"),
];

impl Rule {
    /// The permissions of a plain permission rule (empty for the others).
    pub fn permissions(&self) -> &'static [Permission] {
        match self {
            Rule::Permission { any_of, .. } => any_of,
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_are_unique_across_roots() {
        for (index, operation) in OPERATIONS.iter().enumerate() {
            assert!(
                OPERATIONS[index + 1..].iter().all(|other| other.field != operation.field),
                "{} is listed twice",
                operation.field
            );
        }
    }

    #[test]
    fn every_permission_rule_names_an_object_of_its_scope() {
        fn check(field: &str, rule: &Rule) {
            match rule {
                Rule::Permission { any_of, on, .. } => {
                    let scoped: Vec<Scope> = any_of.iter().map(|p| p.scope()).filter(|s| *s != Scope::System).collect();
                    match on {
                        On::Nothing => assert!(scoped.is_empty(), "{field}: scoped permission without an object"),
                        On::Organization(_) => assert!(scoped.iter().all(|s| *s == Scope::Organization), "{field}"),
                        On::Workspace(_) | On::Invite { .. } => {
                            assert!(scoped.iter().all(|s| *s == Scope::Workspace), "{field}")
                        }
                        On::Deployment(_) | On::DeploymentNamed { .. } => {
                            assert!(scoped.iter().all(|s| *s == Scope::Deployment), "{field}")
                        }
                        On::ServiceAccount(_) | On::Cluster(_) => {}
                        On::Team(_) => assert!(scoped.iter().all(|s| *s == Scope::Organization), "{field}"),
                        On::WorkspaceOfDeployment(_) => {
                            assert!(scoped.iter().all(|s| *s == Scope::Workspace), "{field}")
                        }
                    }
                    assert!(!any_of.is_empty(), "{field}");
                }
                Rule::Forms(forms) => {
                    assert!(forms.last().is_some_and(|(argument, _)| argument.is_none()), "{field}: no default");
                    for (_, rule) in *forms {
                        check(field, rule);
                    }
                }
                Rule::Configured(_, on, off) => {
                    check(field, on);
                    check(field, off);
                }
                Rule::Public | Rule::SignedIn | Rule::Person => {}
            }
        }
        for operation in OPERATIONS {
            check(operation.field, &operation.rule);
        }
    }

    #[test]
    fn capabilities_name_operations_on_their_object() {
        for (capability, field) in WORKSPACE_CAPABILITIES {
            let operation = find(field).unwrap_or_else(|| panic!("{capability}: no operation {field}"));
            let on_workspace = |rule: &Rule| matches!(rule, Rule::Permission { on: On::Workspace(_), .. });
            let ok = match operation.rule {
                Rule::Forms(forms) => forms.iter().any(|(_, rule)| on_workspace(rule)),
                rule => on_workspace(&rule),
            };
            assert!(ok, "{capability}");
        }
        for (capability, field) in DEPLOYMENT_CAPABILITIES {
            let operation = find(field).unwrap_or_else(|| panic!("{capability}: no operation {field}"));
            assert!(
                matches!(operation.rule, Rule::Permission { on: On::Deployment(_) | On::DeploymentNamed { .. }, .. }),
                "{capability}"
            );
        }
    }
}
