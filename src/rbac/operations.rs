//! THE operation table: every root field of the schema and what it needs (SPEC §2, §6), and the read rule
//! of every kind of object (SPEC §2 rule 5).
//!
//! Guards, capabilities and the role-matrix tests are all derived from these two tables; no resolver
//! decides access by hand. A test compares [`OPERATIONS`] with the schema's root fields, so a new field
//! cannot be added without a row here.

use crate::rbac::Permission::{self, *};
use crate::rbac::Scope;
use crate::rbac::permissions::PermissionSet;

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
    /// The organization of the custom role the argument names.
    CustomRole(&'static str),
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
    /// For a mutation: the kinds of object its answer is, each read-checked against the caller like any
    /// object of its kind (SPEC §2 rule 5), and the kinds its answer tells about, data or error (giving a
    /// member a workspace role answers CONFLICT for someone already a member and NOT_FOUND for someone
    /// who is not: it tells who the members are, `Member`); empty when it answers a plain value (a role
    /// name, a boolean) or only the caller's own records. Whoever may run the mutation must be able to
    /// read them, else the change is committed and then answered FORBIDDEN: [`reads_needed`] is derived
    /// from this.
    /// `None` for queries and subscriptions (a test checks that every mutation names its answer).
    pub answers: Option<&'static [ObjectKind]>,
}

const fn op(root: Root, field: &'static str, rule: Rule) -> Operation {
    Operation { root, field, rule, answers: None }
}

impl Operation {
    /// This mutation row, answering with objects of `kinds`.
    const fn answering(self, kinds: &'static [ObjectKind]) -> Operation {
        Operation { answers: Some(kinds), ..self }
    }
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

use ObjectKind as K;
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
const DEPLOYMENT_CONFIG_UPDATE: &[Permission] = &[DeploymentConfigUpdate, SystemDeploymentsUpdate];
const WORKSPACE_USERS_GET: &[Permission] = &[WorkspaceUsersGet, SystemUsersGet];
const WORKSPACE_IAM: &[Permission] = &[WorkspaceIamUpdate, SystemIamUpdate];
// SPEC §2 names system IAM as the alternative for workspace IAM only.
const DEPLOYMENT_IAM: &[Permission] = &[DeploymentIamUpdate];
const CUSTOM_ROLES_GET: &[Permission] = &[OrganizationCustomRolesGet, SystemOrganizationsGet];
const CUSTOM_ROLES_UPDATE: &[Permission] = &[OrganizationCustomRolesUpdate];
const CUSTOM_ROLE: On = On::CustomRole("customRoleUuid");

/// `updateWorkspace`: a row of [`OPERATIONS`] that a capability names.
pub const UPDATE_WORKSPACE: Operation =
    op(M, "updateWorkspace", on(&[WorkspaceConfigUpdate], WS)).answering(&[K::Workspace]);
/// `deleteWorkspace`: a row of [`OPERATIONS`] that a capability names.
pub const DELETE_WORKSPACE: Operation =
    op(M, "deleteWorkspace", on(&[WorkspaceConfigDelete, SystemWorkspaceDelete], WS)).answering(&[K::Workspace]);
/// `workspaceUpdateUserRole`: a row of [`OPERATIONS`] that a capability names.
pub const WORKSPACE_UPDATE_USER_ROLE: Operation =
    op(M, "workspaceUpdateUserRole", on(WORKSPACE_IAM, WS)).answering(&[K::Member]);
/// `workspaceAddUser`: a row of [`OPERATIONS`] that a capability names.
pub const WORKSPACE_ADD_USER: Operation =
    op(M, "workspaceAddUser", on(WORKSPACE_IAM, WS)).answering(&[K::Workspace, K::Member]);
/// `createDeployment`: a row of [`OPERATIONS`] that a capability names.
pub const CREATE_DEPLOYMENT: Operation =
    op(M, "createDeployment", on(&[WorkspaceDeploymentsCreate], WS)).answering(&[K::Deployment]);
/// `createWorkspaceServiceAccount`: a row of [`OPERATIONS`] that a capability names.
pub const CREATE_WORKSPACE_SERVICE_ACCOUNT: Operation =
    op(M, "createWorkspaceServiceAccount", on(&[WorkspaceServiceAccountsCreate, SystemServiceAccountsCreate], WS))
        .answering(&[K::ServiceAccount]);
/// `updateWorkspaceServiceAccount`: a row of [`OPERATIONS`] that a capability names.
pub const UPDATE_WORKSPACE_SERVICE_ACCOUNT: Operation =
    op(M, "updateWorkspaceServiceAccount", on(&[WorkspaceServiceAccountsUpdate, SystemServiceAccountsUpdate], WS))
        .answering(&[K::ServiceAccount]);
/// `deleteWorkspaceServiceAccount`: a row of [`OPERATIONS`] that a capability names.
pub const DELETE_WORKSPACE_SERVICE_ACCOUNT: Operation =
    op(M, "deleteWorkspaceServiceAccount", on(&[WorkspaceServiceAccountsDelete, SystemServiceAccountsDelete], WS))
        .answering(&[K::ServiceAccount]);
/// `workspaceUsers`: a row of [`OPERATIONS`] that a capability names.
pub const WORKSPACE_USERS: Operation = op(Q, "workspaceUsers", on(WORKSPACE_USERS_GET, WS));
/// `workspaceAddTeam`: a row of [`OPERATIONS`] that a capability names.
pub const WORKSPACE_ADD_TEAM: Operation = op(M, "workspaceAddTeam", on(WORKSPACE_IAM, WS)).answering(&[K::Workspace]);
/// `auditEvents`: a row of [`OPERATIONS`] that a capability names.
pub const AUDIT_EVENTS: Operation = op(
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
);
/// `updateDeployment`: a row of [`OPERATIONS`] that a capability names.
pub const UPDATE_DEPLOYMENT: Operation =
    op(M, "updateDeployment", on(DEPLOYMENT_CONFIG_UPDATE, DEP)).answering(&[K::Deployment]);
/// `updateDeploymentHibernation`: a row of [`OPERATIONS`] that applying a deployment file names (a file
/// that changes the schedule needs what this mutation needs). Issue 26 §3: the same permission as
/// updating the deployment.
pub const UPDATE_DEPLOYMENT_HIBERNATION: Operation =
    op(M, "updateDeploymentHibernation", on(DEPLOYMENT_CONFIG_UPDATE, DEP)).answering(&[K::Deployment]);
/// `deleteDeployment`: a row of [`OPERATIONS`] that a capability names.
pub const DELETE_DEPLOYMENT: Operation =
    op(M, "deleteDeployment", on(&[DeploymentConfigDelete, SystemDeploymentsDelete], DEP)).answering(&[K::Deployment]);
/// Giving an existing permanent deployment an expiry, or bringing its expiry forward
/// (`updateDeploymentExpiry`, checked by `lifecycle::set_expiry`): an expiry is a deletion scheduled, so
/// it needs what [`DELETE_DEPLOYMENT`] needs, on the deployment, on top of the mutation's own row; else an
/// editor could delete by setting an expiry a minute ahead. Putting an expiry off or removing one deletes
/// nothing and needs only the row. Creating a deployment with an expiry (`createDeployment` with
/// `expiresAt` or `ttlHours`) deletes nothing that was there before and needs only `createDeployment`'s
/// row (a CI key with WORKSPACE_EDITOR makes previews that way: docs/ephemeral-deployments.md);
/// `upsertDeployment`, `adoptDeployment` and deployment files cannot set an expiry.
pub const SCHEDULE_DEPLOYMENT_DELETION: Rule = DELETE_DEPLOYMENT.rule;
/// `createDeploy`: a row of [`OPERATIONS`] that a capability names.
pub const CREATE_DEPLOY: Operation = op(M, "createDeploy", on(&[DeploymentImagesPush], DEP)).answering(&[K::Deploy]);
/// `deploymentUpdateUserRole`: a row of [`OPERATIONS`] that a capability names.
pub const DEPLOYMENT_UPDATE_USER_ROLE: Operation =
    op(M, "deploymentUpdateUserRole", on(DEPLOYMENT_IAM, DEP_ID)).answering(&[K::MemberBinding]);
/// `createDeploymentServiceAccount`: a row of [`OPERATIONS`] that a capability names.
pub const CREATE_DEPLOYMENT_SERVICE_ACCOUNT: Operation =
    op(M, "createDeploymentServiceAccount", on(&[DeploymentServiceAccountsCreate, SystemServiceAccountsCreate], DEP))
        .answering(&[K::ServiceAccount]);
/// `updateDeploymentServiceAccount`: a row of [`OPERATIONS`] that a capability names.
pub const UPDATE_DEPLOYMENT_SERVICE_ACCOUNT: Operation =
    op(M, "updateDeploymentServiceAccount", on(&[DeploymentServiceAccountsUpdate, SystemServiceAccountsUpdate], DEP))
        .answering(&[K::ServiceAccount]);
/// `deleteDeploymentServiceAccount`: a row of [`OPERATIONS`] that a capability names.
pub const DELETE_DEPLOYMENT_SERVICE_ACCOUNT: Operation =
    op(M, "deleteDeploymentServiceAccount", on(&[DeploymentServiceAccountsDelete, SystemServiceAccountsDelete], DEP))
        .answering(&[K::ServiceAccount]);
/// `deploymentUsers`: a row of [`OPERATIONS`] that a capability names.
pub const DEPLOYMENT_USERS: Operation = op(Q, "deploymentUsers", on(&[DeploymentUsersGet, SystemUsersGet], DEP_ID));
/// `deploymentVariables`: a row of [`OPERATIONS`] that a capability names.
pub const DEPLOYMENT_VARIABLES: Operation = op(Q, "deploymentVariables", on(READ_DEPLOYMENT, DEP_NAMED));
/// `updateOrganization`: a row of [`OPERATIONS`] that a capability names.
pub const UPDATE_ORGANIZATION: Operation =
    op(M, "updateOrganization", on(&[OrganizationConfigUpdate], ORG)).answering(&[K::Organization]);
/// `organizationInviteUser`: a row of [`OPERATIONS`] that a capability names.
pub const ORGANIZATION_INVITE_USER: Operation =
    op(M, "organizationInviteUser", on(&[OrganizationUsersInvite], ORG)).answering(&[K::Invite]);
/// `organizationUpdateUserRole`: a row of [`OPERATIONS`] that a capability names.
pub const ORGANIZATION_UPDATE_USER_ROLE: Operation =
    op(M, "organizationUpdateUserRole", on(&[OrganizationIamUpdate], ORG)).answering(&[]);
/// `createTeam`: a row of [`OPERATIONS`] that a capability names.
pub const CREATE_TEAM: Operation = op(M, "createTeam", on(&[OrganizationTeamsUpdate], ORG)).answering(&[K::Team]);
/// `createWorkspace`: a row of [`OPERATIONS`] that a capability names.
pub const CREATE_WORKSPACE: Operation =
    op(M, "createWorkspace", person_on(&[OrganizationWorkspacesCreate], On::Organization("organizationUuid")))
        .answering(&[K::Workspace]);
/// `createCluster`: a row of [`OPERATIONS`] that a capability names.
pub const CREATE_CLUSTER: Operation = op(
    M,
    "createCluster",
    Rule::Forms(&[
        (Some("organizationUuid"), on(&[OrganizationClustersUpdate], ORG)),
        (None, system(&[SystemClustersUpdate])),
    ]),
)
.answering(&[K::Cluster]);

/// The operations the `…Capabilities` objects report on, by capability object: whether the caller may
/// perform each of them on the object. Resolvers name these constants directly, so a capability cannot
/// name an operation that does not exist, nor drift from the operation's guard.
pub const CAPABILITY_OPERATIONS: [(Scope, &[&Operation]); 3] = [
    (
        Scope::Workspace,
        &[
            &UPDATE_WORKSPACE,
            &DELETE_WORKSPACE,
            &WORKSPACE_UPDATE_USER_ROLE,
            &WORKSPACE_ADD_USER,
            &CREATE_DEPLOYMENT,
            &CREATE_WORKSPACE_SERVICE_ACCOUNT,
            &UPDATE_WORKSPACE_SERVICE_ACCOUNT,
            &DELETE_WORKSPACE_SERVICE_ACCOUNT,
            &WORKSPACE_USERS,
            &WORKSPACE_ADD_TEAM,
            &AUDIT_EVENTS,
        ],
    ),
    (
        Scope::Deployment,
        &[
            &UPDATE_DEPLOYMENT,
            &DELETE_DEPLOYMENT,
            &CREATE_DEPLOY,
            &DEPLOYMENT_UPDATE_USER_ROLE,
            &CREATE_DEPLOYMENT_SERVICE_ACCOUNT,
            &UPDATE_DEPLOYMENT_SERVICE_ACCOUNT,
            &DELETE_DEPLOYMENT_SERVICE_ACCOUNT,
            &DEPLOYMENT_USERS,
            &DEPLOYMENT_VARIABLES,
        ],
    ),
    (
        Scope::Organization,
        &[
            &UPDATE_ORGANIZATION,
            &ORGANIZATION_INVITE_USER,
            &ORGANIZATION_UPDATE_USER_ROLE,
            &CREATE_TEAM,
            &CREATE_WORKSPACE,
            &CREATE_CLUSTER,
            &AUDIT_EVENTS,
        ],
    ),
];

/// Every root field of the schema.
pub const OPERATIONS: &[Operation] = &[
    // Identity and configuration.
    op(Q, "self", Person),
    op(Q, "appConfig", Public),
    op(Q, "authConfig", Public),
    op(M, "createUser", Public).answering(&[]),
    op(M, "createToken", Public).answering(&[]),
    op(M, "exchangeSignInCode", Public).answering(&[]),
    op(M, "updateSelf", Person).answering(&[]),
    op(M, "logout", Person).answering(&[]),
    op(M, "changePassword", Person).answering(&[]),
    op(M, "requestPasswordReset", Public).answering(&[]),
    op(M, "resetPassword", Public).answering(&[]),
    // Whoever may delete an account may take its password away (SPEC §2 gives system.user.* to SYSTEM_ADMIN).
    op(M, "forcePasswordReset", system(&[SystemUserDelete])).answering(&[]),
    // Workspaces.
    op(Q, "workspaces", Rule::Forms(&[(Some("all"), system(&[SystemWorkspaceGet])), (None, SignedIn)])),
    op(Q, "paginatedWorkspaces", SignedIn),
    op(Q, "workspace", on(&[WorkspaceConfigGet, SystemWorkspaceGet], WS)),
    WORKSPACE_USERS,
    op(Q, "paginatedWorkspaceUsers", on(WORKSPACE_USERS_GET, WS)),
    op(Q, "workspaceUser", on(WORKSPACE_USERS_GET, WS)),
    op(Q, "workspaceInvites", on(&[WorkspaceInvitesGet, SystemInvitesGet], WS)),
    CREATE_WORKSPACE,
    UPDATE_WORKSPACE,
    DELETE_WORKSPACE,
    WORKSPACE_ADD_USER,
    WORKSPACE_UPDATE_USER_ROLE,
    op(M, "workspaceUpsertUserRole", on(WORKSPACE_IAM, WS)).answering(&[K::Member]),
    op(M, "workspaceRemoveUser", on(WORKSPACE_IAM, WS)).answering(&[K::Workspace, K::Member]),
    // Access: the matrix, users, invites, system roles, mail.
    // With an organization, `roles` also lists its custom roles (docs/custom-roles.md).
    op(Q, "roles", Rule::Forms(&[(Some("organizationUuid"), on(CUSTOM_ROLES_GET, ORG)), (None, SignedIn)])),
    // Custom roles (docs/custom-roles.md). Defining one also applies the grant rule in the domain: the
    // caller holds every permission of the role on every workspace (deployment) of the organization.
    op(Q, "customRoles", on(CUSTOM_ROLES_GET, ORG)),
    op(Q, "roleTemplates", SignedIn),
    op(M, "createCustomRole", on(CUSTOM_ROLES_UPDATE, ORG)).answering(&[K::CustomRole]),
    op(M, "updateCustomRole", on(CUSTOM_ROLES_UPDATE, CUSTOM_ROLE)).answering(&[K::CustomRole]),
    op(M, "deleteCustomRole", on(CUSTOM_ROLES_UPDATE, CUSTOM_ROLE)).answering(&[K::CustomRole]),
    op(Q, "can", SignedIn),
    op(Q, "explainPermission", SignedIn),
    op(Q, "users", system(&[SystemUsersGet])),
    op(Q, "invites", system(&[SystemInvitesGet])),
    // The outbox holds invite tokens: only those who may invite anyone may read it.
    op(Q, "mailOutbox", system(&[SystemUserInvite])),
    op(M, "inviteUser", system(&[SystemUserInvite])).answering(&[K::Invite]),
    // An invite is revoked by whoever may make it at its scope: workspace IAM (or system IAM) for a
    // workspace invite, `organization.users.invite` for an organization's (SPEC §2; owners hold both, as
    // ORGANIZATION_OWNER implies WORKSPACE_ADMIN, so the third permission adds nothing for workspaces).
    op(
        M,
        "deleteInviteToken",
        on(
            &[WorkspaceIamUpdate, SystemIamUpdate, OrganizationUsersInvite],
            On::Invite { invite: "inviteUuid", workspace: "workspaceUuid" },
        ),
    )
    .answering(&[K::Invite]),
    op(M, "acceptInvite", Person).answering(&[]),
    op(M, "createSystemRoleBinding", system(&[SystemIamUpdate])).answering(&[K::MemberBinding]),
    op(M, "deleteSystemRoleBinding", system(&[SystemIamUpdate])).answering(&[K::MemberBinding]),
    op(M, "removeUser", system(&[SystemUserDelete])).answering(&[K::Member]),
    // Deployments.
    op(Q, "workspaceDeployments", on(&[WorkspaceDeploymentsGet, SystemDeploymentsGet], WS)),
    op(Q, "workspaceDeployment", on(&[WorkspaceDeploymentsGet, SystemDeploymentsGet], WS)),
    op(Q, "deployments", system(&[SystemDeploymentsGet])),
    op(Q, "deploymentConfig", SignedIn),
    op(Q, "runtimeReleases", SignedIn),
    op(Q, "deployment", on(READ_DEPLOYMENT, D("where.id"))),
    op(Q, "paginatedDeployments", SignedIn),
    op(Q, "logs", on(READ_DEPLOYMENT, DEP)),
    DEPLOYMENT_USERS,
    op(Q, "clusters", SignedIn),
    // Anyone signed in; the answer is about the cluster, so it is read-checked like the cluster itself.
    op(Q, "availableNamespaces", SignedIn),
    DEPLOYMENT_VARIABLES,
    CREATE_DEPLOYMENT,
    UPDATE_DEPLOYMENT,
    op(M, "upgradeDeployment", on(DEPLOYMENT_CONFIG_UPDATE, DEP)).answering(&[K::Deployment]),
    // Issue 26 §2/§3: the same permission as updating the deployment.
    op(M, "updateDeploymentExpiry", on(DEPLOYMENT_CONFIG_UPDATE, DEP)).answering(&[K::Deployment]),
    UPDATE_DEPLOYMENT_HIBERNATION,
    DELETE_DEPLOYMENT,
    op(M, "updateDeploymentRuntime", on(DEPLOYMENT_CONFIG_UPDATE, DEP)).answering(&[K::Deployment]),
    op(M, "cancelRuntimeUpdate", on(DEPLOYMENT_CONFIG_UPDATE, DEP)).answering(&[K::Deployment]),
    op(M, "updateDeploymentAirflow", on(DEPLOYMENT_CONFIG_UPDATE, DEP)).answering(&[K::Deployment]),
    // Adopting records a deployment in the workspace, as creating one does; forgetting one removes it
    // from capcom, as deleting does.
    op(M, "adoptDeployment", on(&[WorkspaceDeploymentsCreate], WS)).answering(&[K::Deployment]),
    op(M, "unadoptDeployment", on(&[DeploymentConfigDelete, SystemDeploymentsDelete], DEP)).answering(&[K::Deployment]),
    CREATE_DEPLOY,
    op(
        M,
        "upsertDeployment",
        Rule::Forms(&[
            (Some("deploymentUuid"), on(DEPLOYMENT_CONFIG_UPDATE, DEP)),
            // An image deploy; a runtime upgrade that comes with it also needs the update permission
            // (checked by the domain with the caller's authority).
            (Some("image"), on(&[DeploymentImagesPush], DEP_NAMED)),
            (None, on(&[WorkspaceDeploymentsCreate], WS)),
        ]),
    )
    .answering(&[K::Deployment]),
    op(M, "deploymentAccessToken", person_on(&[DeploymentAirflowGet, SystemAirflowGet], DEP)).answering(&[]),
    op(M, "deploymentAddUserRole", on(DEPLOYMENT_IAM, DEP_ID)).answering(&[K::MemberBinding]),
    DEPLOYMENT_UPDATE_USER_ROLE,
    op(M, "deploymentRemoveUserRole", on(DEPLOYMENT_IAM, DEP_ID)).answering(&[K::MemberBinding]),
    op(M, "updateDeploymentVariables", on(DEPLOYMENT_CONFIG_UPDATE, DEP)).answering(&[K::EnvironmentVariable]),
    // Deployments as code (docs/deployment-file.md). The file holds the deployment and its members.
    op(Q, "deploymentFile", on(READ_DEPLOYMENT, DEP)),
    // The file names its deployment by label in the workspace: whoever sees the workspace's deployments
    // may send one; the domain then requires the rows of `createDeployment` (a new label) or
    // `updateDeployment` (an existing one) and, for role changes, `deploymentUpdateUserRole` with the
    // grant rule, before anything is written.
    op(M, "applyDeploymentFile", on(&[WorkspaceDeploymentsGet, SystemDeploymentsGet], WS)).answering(&[K::Deployment]),
    op(S, "deploymentStatus", on(READ_DEPLOYMENT, DEP_NAMED)),
    op(S, "log", on(READ_DEPLOYMENT, DEP)),
    // Service accounts.
    op(Q, "workspaceServiceAccounts", on(&[WorkspaceServiceAccountsGet, SystemServiceAccountsGet], WS)),
    op(Q, "workspaceServiceAccount", on(&[WorkspaceServiceAccountsGet, SystemServiceAccountsGet], WS)),
    op(Q, "deploymentServiceAccounts", on(&[DeploymentServiceAccountsGet, SystemServiceAccountsGet], DEP)),
    op(Q, "deploymentServiceAccount", on(&[DeploymentServiceAccountsGet, SystemServiceAccountsGet], DEP)),
    op(Q, "systemServiceAccounts", system(&[SystemServiceAccountsGet])),
    CREATE_WORKSPACE_SERVICE_ACCOUNT,
    CREATE_DEPLOYMENT_SERVICE_ACCOUNT,
    op(M, "createSystemServiceAccount", system(&[SystemServiceAccountsCreate])).answering(&[K::ServiceAccount]),
    UPDATE_WORKSPACE_SERVICE_ACCOUNT,
    UPDATE_DEPLOYMENT_SERVICE_ACCOUNT,
    DELETE_WORKSPACE_SERVICE_ACCOUNT,
    DELETE_DEPLOYMENT_SERVICE_ACCOUNT,
    op(M, "deleteSystemServiceAccount", system(&[SystemServiceAccountsDelete])).answering(&[K::ServiceAccount]),
    op(Q, "organizationServiceAccounts", on(&[OrganizationServiceAccountsGet, SystemServiceAccountsGet], ORG)),
    op(Q, "organizationServiceAccount", on(&[OrganizationServiceAccountsGet, SystemServiceAccountsGet], ORG)),
    op(
        M,
        "createOrganizationServiceAccount",
        on(&[OrganizationServiceAccountsCreate, SystemServiceAccountsCreate], ORG),
    )
    .answering(&[K::ServiceAccount]),
    op(
        M,
        "updateOrganizationServiceAccount",
        on(&[OrganizationServiceAccountsUpdate, SystemServiceAccountsUpdate], ORG),
    )
    .answering(&[K::ServiceAccount]),
    op(
        M,
        "deleteOrganizationServiceAccount",
        on(&[OrganizationServiceAccountsDelete, SystemServiceAccountsDelete], ORG),
    )
    .answering(&[K::ServiceAccount]),
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
    )
    .answering(&[K::ServiceAccount]),
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
    )
    .answering(&[K::Organization]),
    // Billing details need organization.billing.update as well (checked by the domain when they change).
    UPDATE_ORGANIZATION,
    op(Q, "organizationUsers", on(&[OrganizationUsersGet, SystemUsersGet], ORG)),
    ORGANIZATION_INVITE_USER,
    ORGANIZATION_UPDATE_USER_ROLE,
    op(M, "organizationRemoveUser", on(&[OrganizationIamUpdate], ORG)).answering(&[]),
    op(M, "organizationUpdateTeamRole", on(&[OrganizationIamUpdate], ORG)).answering(&[K::MemberBinding]),
    // Managed domains.
    op(Q, "organizationDomains", on(&[OrganizationConfigGet, SystemOrganizationsGet], ORG)),
    op(M, "claimOrganizationDomain", on(&[OrganizationAuthenticationUpdate], ORG)).answering(&[K::OrganizationSetting]),
    op(M, "verifyOrganizationDomain", on(&[OrganizationAuthenticationUpdate], ORG))
        .answering(&[K::OrganizationSetting]),
    op(M, "deleteOrganizationDomain", on(&[OrganizationAuthenticationUpdate], ORG))
        .answering(&[K::OrganizationSetting]),
    // IP access list (docs/ip-access-list.md): who decides where the organization may be reached from
    // decides who may reach it, like identity providers and domains: owners only, never billing admins.
    op(Q, "organizationIpAccessList", on(&[OrganizationConfigGet, SystemOrganizationsGet], ORG)),
    op(M, "updateOrganizationIpAccessList", on(&[OrganizationAuthenticationUpdate], ORG)).answering(&[]),
    // Identity providers (OpenID Connect).
    op(Q, "identityProviders", on(&[OrganizationConfigGet, SystemOrganizationsGet], ORG)),
    op(M, "createIdentityProvider", on(&[OrganizationAuthenticationUpdate], ORG)).answering(&[K::OrganizationSetting]),
    op(M, "updateIdentityProvider", on(&[OrganizationAuthenticationUpdate], ORG)).answering(&[K::OrganizationSetting]),
    op(M, "deleteIdentityProvider", on(&[OrganizationAuthenticationUpdate], ORG)).answering(&[K::OrganizationSetting]),
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
    CREATE_TEAM,
    op(M, "updateTeam", on(&[OrganizationTeamsUpdate], TEAM)).answering(&[K::Team]),
    op(M, "deleteTeam", on(&[OrganizationTeamsUpdate], TEAM)).answering(&[K::Team]),
    op(M, "teamAddUser", on(&[OrganizationTeamsUpdate], TEAM)).answering(&[K::Team]),
    op(M, "teamRemoveUser", on(&[OrganizationTeamsUpdate], TEAM)).answering(&[K::Team]),
    WORKSPACE_ADD_TEAM,
    op(M, "workspaceUpdateTeamRole", on(WORKSPACE_IAM, WS)).answering(&[]),
    op(M, "workspaceRemoveTeam", on(WORKSPACE_IAM, WS)).answering(&[K::Workspace]),
    op(M, "deploymentAddTeamRole", on(DEPLOYMENT_IAM, DEP)).answering(&[K::MemberBinding]),
    op(M, "deploymentUpdateTeamRole", on(DEPLOYMENT_IAM, DEP)).answering(&[K::MemberBinding]),
    op(M, "deploymentRemoveTeamRole", on(DEPLOYMENT_IAM, DEP)).answering(&[K::MemberBinding]),
    op(M, "createTeamSystemRoleBinding", system(&[SystemIamUpdate])).answering(&[K::MemberBinding]),
    op(M, "deleteTeamSystemRoleBinding", system(&[SystemIamUpdate])).answering(&[K::MemberBinding]),
    // Clusters.
    CREATE_CLUSTER,
    op(M, "updateCluster", on(MANAGE_CLUSTER, CLUSTER)).answering(&[K::Cluster]),
    op(M, "deleteCluster", on(MANAGE_CLUSTER, CLUSTER)).answering(&[K::Cluster]),
    op(M, "workspaceAllowCluster", on(MANAGE_CLUSTER, CLUSTER)).answering(&[K::Cluster]),
    op(M, "workspaceDisallowCluster", on(MANAGE_CLUSTER, CLUSTER)).answering(&[K::Cluster]),
    // The audit log: an organization's owners read their organization's, a workspace's admins their
    // workspace's (a deployment's events are its workspace's), system viewers everything.
    AUDIT_EVENTS,
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
    /// A custom role of an organization (its holders always see it).
    CustomRole,
}

impl ObjectKind {
    /// Every kind, in declaration order.
    pub const ALL: [ObjectKind; 15] = [
        ObjectKind::Organization,
        ObjectKind::Workspace,
        ObjectKind::Deployment,
        ObjectKind::Deploy,
        ObjectKind::EnvironmentVariable,
        ObjectKind::MemberBinding,
        ObjectKind::ServiceAccountBinding,
        ObjectKind::Invite,
        ObjectKind::ServiceAccount,
        ObjectKind::Member,
        ObjectKind::Cluster,
        ObjectKind::Team,
        ObjectKind::AuditEvent,
        ObjectKind::OrganizationSetting,
        ObjectKind::CustomRole,
    ];
}

/// The permissions, any of which lets a caller read an object of `kind` whose scope is `scope`
/// (SPEC §2 rule 5). The `system.*` alternative of each holds everywhere.
pub fn read_rule(kind: ObjectKind, scope: Scope) -> &'static [Permission] {
    use Scope::{Deployment as Dep, Organization as Org, System as Sys, Workspace as Ws};
    match (kind, scope) {
        (K::Organization | K::OrganizationSetting, _) => &[OrganizationConfigGet, SystemOrganizationsGet],
        (K::Workspace, _) => &[WorkspaceConfigGet, SystemWorkspaceGet],
        (K::Deployment | K::Deploy | K::EnvironmentVariable, _) => READ_DEPLOYMENT,
        (K::MemberBinding | K::Member, Sys) => &[SystemUsersGet],
        (K::MemberBinding | K::Member, Org) => &[OrganizationUsersGet, SystemUsersGet],
        (K::MemberBinding | K::Member, Ws) => WORKSPACE_USERS_GET,
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
        (K::CustomRole, _) => CUSTOM_ROLES_GET,
    }
}

/// Whether `rule` lets a holder of `permission` in (in any of its forms or settings).
fn admits(rule: &Rule, permission: Permission) -> bool {
    match rule {
        Rule::Permission { any_of, .. } => any_of.contains(&permission),
        Rule::Forms(forms) => forms.iter().any(|(_, rule)| admits(rule, permission)),
        Rule::Configured(_, on, off) => admits(on, permission) || admits(off, permission),
        Rule::Public | Rule::SignedIn | Rule::Person => false,
    }
}

/// The read permissions a role holding `permission` must also hold so that what the mutations it
/// admits answer with can be read (SPEC §2 rule 5: an answer is read-checked like any object): for every
/// mutation row whose rule admits `permission` (in any form), for every kind of object it answers with
/// ([`Operation::answers`]), the read rule of that kind at `permission`'s scope, less its `system.*`
/// alternative. Without them a holder's change would be committed and then answered FORBIDDEN. Custom
/// roles ([`crate::domain::custom_roles`]) and the roles of an operator's roles file
/// ([`crate::rbac::Matrix`]) must hold them.
///
/// Empty for `system.*` permissions (the grant rule and the system roles' own reads decide there) and
/// for permissions whose answers are read at another scope: creating a deployment or a workspace
/// answers with an object its creator then administers (`deployments::require_author_reads` decides
/// for API keys). Each read rule has at most one alternative of a scope (a test checks it), so the
/// reads form a set, all of them needed.
pub fn reads_needed(permission: Permission) -> PermissionSet {
    let scope = permission.scope();
    let mut needed = PermissionSet::default();
    if scope == Scope::System {
        return needed;
    }
    for operation in OPERATIONS {
        let Some(kinds) = operation.answers else { continue };
        if !admits(&operation.rule, permission) {
            continue;
        }
        for kind in kinds {
            for read in read_rule(*kind, scope) {
                if read.scope() == scope {
                    needed.insert(*read);
                }
            }
        }
    }
    needed
}

/// The rules of fields below the root whose answer needs a permission of its own, beyond reading the
/// object they belong to (SPEC §2 rule 4: "a field that also accepts a system permission says so").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldRule {
    /// `User.profile`: private to the user themselves and to holders of these (system-wide).
    UserProfile,
    /// `Organization.billing*`: shown to those who may change billing details, and to system viewers.
    OrganizationBilling,
    /// Changing an organization's billing details (`updateOrganization` with billing fields, and the
    /// `canUpdateBilling` capability), on top of the operation's own rule.
    OrganizationBillingUpdate,
    /// `deployments` lists every deployment of the installation (not only the caller's), and a release
    /// name that names nothing answers NOT_FOUND instead of FORBIDDEN.
    AllDeployments,
}

impl FieldRule {
    /// The permissions any of which grants the field (checked on the field's object; `system.*` ones on
    /// the installation).
    pub const fn permissions(self) -> &'static [Permission] {
        match self {
            FieldRule::UserProfile => &[SystemUsersGet],
            FieldRule::OrganizationBilling => &[OrganizationBillingUpdate, SystemOrganizationsGet],
            FieldRule::OrganizationBillingUpdate => &[OrganizationBillingUpdate],
            FieldRule::AllDeployments => &[SystemDeploymentsGet],
        }
    }
}

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
                        On::Workspace(_) => assert!(scoped.iter().all(|s| *s == Scope::Workspace), "{field}"),
                        // An invite is a workspace's or an organization's: either scope's permission fits.
                        On::Invite { .. } => assert!(
                            scoped.iter().all(|s| matches!(s, Scope::Workspace | Scope::Organization)),
                            "{field}"
                        ),
                        On::Deployment(_) | On::DeploymentNamed { .. } => {
                            assert!(scoped.iter().all(|s| *s == Scope::Deployment), "{field}")
                        }
                        On::ServiceAccount(_) | On::Cluster(_) => {}
                        On::Team(_) | On::CustomRole(_) => {
                            assert!(scoped.iter().all(|s| *s == Scope::Organization), "{field}")
                        }
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
    fn every_mutation_names_what_it_answers_with() {
        for operation in OPERATIONS {
            assert_eq!(
                operation.answers.is_some(),
                operation.root == Root::Mutation,
                "{}: a mutation names its answer, nothing else does",
                operation.field
            );
        }
    }

    /// `reads_needed` asks for every read it derives: each read rule has at most one alternative of a
    /// scope other than `system`.
    #[test]
    fn read_rules_have_one_alternative_per_scope() {
        for kind in ObjectKind::ALL {
            for scope in [Scope::Organization, Scope::Workspace, Scope::Deployment] {
                let of_scope = read_rule(kind, scope).iter().filter(|p| p.scope() == scope).count();
                assert!(of_scope <= 1, "{kind:?} at {scope:?}");
            }
        }
    }

    /// The reads each permission of a non-system scope needs, written by hand from the mutations' answers
    /// (SPEC §2 and §6): a workspace or a deployment, an API key, a binding, an invite, a team, a cluster.
    #[test]
    fn reads_needed_are_what_the_answers_are_read_with() {
        let expected: &[(&str, &[&str])] = &[
            ("workspace.config.update", &["workspace.config.get"]),
            ("workspace.config.delete", &["workspace.config.get"]),
            ("workspace.serviceAccounts.create", &["workspace.serviceAccounts.get"]),
            ("workspace.serviceAccounts.update", &["workspace.serviceAccounts.get"]),
            ("workspace.serviceAccounts.delete", &["workspace.serviceAccounts.get"]),
            // Adding and removing members and teams answers with the workspace; changing a role with the
            // role's name; deleting an invite with the invite; and giving, changing or taking a member's
            // role tells whether the address or id is a member's (CONFLICT, NOT_FOUND).
            ("workspace.iam.update", &["workspace.config.get", "workspace.users.get", "workspace.invites.get"]),
            ("deployment.config.update", &["deployment.config.get"]),
            ("deployment.config.delete", &["deployment.config.get"]),
            ("deployment.images.push", &["deployment.config.get"]),
            ("deployment.serviceAccounts.create", &["deployment.serviceAccounts.get"]),
            ("deployment.serviceAccounts.update", &["deployment.serviceAccounts.get"]),
            ("deployment.serviceAccounts.delete", &["deployment.serviceAccounts.get"]),
            // Every deployment IAM mutation answers with the binding.
            ("deployment.iam.update", &["deployment.users.get"]),
            ("organization.config.update", &["organization.config.get"]),
            ("organization.authentication.update", &["organization.config.get"]),
            ("organization.iam.update", &["organization.users.get"]),
            ("organization.users.invite", &["organization.users.get"]),
            ("organization.teams.update", &["organization.teams.get"]),
            ("organization.serviceAccounts.create", &["organization.serviceAccounts.get"]),
            ("organization.serviceAccounts.update", &["organization.serviceAccounts.get"]),
            ("organization.serviceAccounts.delete", &["organization.serviceAccounts.get"]),
            ("organization.clusters.update", &["organization.clusters.get"]),
            ("organization.customRoles.update", &["organization.customRoles.get"]),
        ];
        for permission in Permission::ALL.iter().copied() {
            let derived: Vec<&str> = reads_needed(permission).iter().map(Permission::as_str).collect();
            let mut wanted: Vec<&str> = expected
                .iter()
                .find(|(name, _)| *name == permission.as_str())
                .map(|(_, reads)| reads.to_vec())
                .unwrap_or_default();
            wanted.sort_by_key(|name| Permission::ALL.iter().position(|p| p.as_str() == *name));
            assert_eq!(derived, wanted, "{permission}");
        }
    }

    #[test]
    fn scheduling_a_deletion_needs_what_deleting_needs() {
        // Written by hand from SPEC §2: deleting a deployment is deployment.config.delete, or
        // system.deployments.delete for the system admins.
        match SCHEDULE_DEPLOYMENT_DELETION {
            Rule::Permission { any_of, on: On::Deployment(_), person_only: false } => {
                let names: Vec<&str> = any_of.iter().map(|p| p.as_str()).collect();
                assert_eq!(names, ["deployment.config.delete", "system.deployments.delete"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn capabilities_name_operations_on_their_object() {
        for (scope, operations) in CAPABILITY_OPERATIONS {
            for operation in operations {
                assert!(OPERATIONS.contains(operation), "{} is not a row of OPERATIONS", operation.field);
                let on_object = |rule: &Rule| {
                    matches!(
                        (rule, scope),
                        (Rule::Permission { on: On::Workspace(_), .. }, Scope::Workspace)
                            | (
                                Rule::Permission { on: On::Deployment(_) | On::DeploymentNamed { .. }, .. },
                                Scope::Deployment
                            )
                            | (Rule::Permission { on: On::Organization(_), .. }, Scope::Organization)
                    )
                };
                let ok = match operation.rule {
                    Rule::Forms(forms) => forms.iter().any(|(_, rule)| on_object(rule)),
                    Rule::Configured(_, on, off) => on_object(on) || on_object(off),
                    rule => on_object(&rule),
                };
                assert!(ok, "{} is not checked on the {scope:?}", operation.field);
            }
        }
    }
}
