//! Permission strings of SPEC §2: `<scope>.<resource>.<verb>`; the scope word says which object a check
//! is made against.

use std::fmt;
use std::str::FromStr;

use crate::rbac::Scope;

macro_rules! permissions {
    ($($variant:ident => $text:literal,)+) => {
        /// A permission.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Permission {
            $(
                #[doc = $text]
                $variant,
            )+
        }

        impl Permission {
            /// Every permission.
            pub const ALL: &'static [Permission] = &[$(Permission::$variant),+];

            /// The exact string of SPEC §2.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Permission::$variant => $text,)+
                }
            }
        }
    };
}

permissions! {
    SystemWorkspaceGet => "system.workspace.get",
    SystemDeploymentsGet => "system.deployments.get",
    SystemUsersGet => "system.users.get",
    SystemInvitesGet => "system.invites.get",
    SystemServiceAccountsGet => "system.serviceAccounts.get",
    SystemOrganizationsGet => "system.organizations.get",
    SystemAuditLogsGet => "system.auditLogs.get",
    SystemAirflowGet => "system.airflow.get",
    SystemMonitoringGet => "system.monitoring.get",
    SystemIamUpdate => "system.iam.update",
    SystemServiceAccountsUpdate => "system.serviceAccounts.update",
    SystemAirflowUser => "system.airflow.user",
    SystemDeploymentsUpdate => "system.deployments.update",
    SystemDeploymentsDelete => "system.deployments.delete",
    SystemServiceAccountsCreate => "system.serviceAccounts.create",
    SystemServiceAccountsDelete => "system.serviceAccounts.delete",
    SystemUserInvite => "system.user.invite",
    SystemUserDelete => "system.user.delete",
    SystemUserVerifyEmail => "system.user.verifyEmail",
    SystemWorkspaceDelete => "system.workspace.delete",
    SystemOrganizationsCreate => "system.organizations.create",
    SystemClustersUpdate => "system.clusters.update",
    SystemAirflowAdmin => "system.airflow.admin",
    OrganizationConfigGet => "organization.config.get",
    OrganizationUsersGet => "organization.users.get",
    OrganizationTeamsGet => "organization.teams.get",
    OrganizationClustersGet => "organization.clusters.get",
    OrganizationWorkspacesCreate => "organization.workspaces.create",
    OrganizationConfigUpdate => "organization.config.update",
    OrganizationBillingUpdate => "organization.billing.update",
    OrganizationAuthenticationUpdate => "organization.authentication.update",
    OrganizationIamUpdate => "organization.iam.update",
    OrganizationUsersInvite => "organization.users.invite",
    OrganizationTeamsUpdate => "organization.teams.update",
    OrganizationServiceAccountsGet => "organization.serviceAccounts.get",
    OrganizationServiceAccountsCreate => "organization.serviceAccounts.create",
    OrganizationServiceAccountsUpdate => "organization.serviceAccounts.update",
    OrganizationServiceAccountsDelete => "organization.serviceAccounts.delete",
    OrganizationAuditLogsGet => "organization.auditLogs.get",
    OrganizationClustersUpdate => "organization.clusters.update",
    OrganizationScimProvision => "organization.scim.provision",
    OrganizationCustomRolesGet => "organization.customRoles.get",
    OrganizationCustomRolesUpdate => "organization.customRoles.update",
    WorkspaceConfigGet => "workspace.config.get",
    WorkspaceUsersGet => "workspace.users.get",
    WorkspaceTeamsGet => "workspace.teams.get",
    WorkspaceInvitesGet => "workspace.invites.get",
    WorkspaceDeploymentsGet => "workspace.deployments.get",
    WorkspaceServiceAccountsGet => "workspace.serviceAccounts.get",
    WorkspaceConfigUpdate => "workspace.config.update",
    WorkspaceDeploymentsCreate => "workspace.deployments.create",
    WorkspaceServiceAccountsCreate => "workspace.serviceAccounts.create",
    WorkspaceServiceAccountsUpdate => "workspace.serviceAccounts.update",
    WorkspaceServiceAccountsDelete => "workspace.serviceAccounts.delete",
    WorkspaceConfigDelete => "workspace.config.delete",
    WorkspaceIamUpdate => "workspace.iam.update",
    WorkspaceAuditLogsGet => "workspace.auditLogs.get",
    DeploymentConfigGet => "deployment.config.get",
    DeploymentUsersGet => "deployment.users.get",
    DeploymentServiceAccountsGet => "deployment.serviceAccounts.get",
    DeploymentAirflowGet => "deployment.airflow.get",
    DeploymentImagesPull => "deployment.images.pull",
    DeploymentConfigUpdate => "deployment.config.update",
    DeploymentImagesPush => "deployment.images.push",
    DeploymentAirflowUser => "deployment.airflow.user",
    DeploymentServiceAccountsCreate => "deployment.serviceAccounts.create",
    DeploymentServiceAccountsUpdate => "deployment.serviceAccounts.update",
    DeploymentServiceAccountsDelete => "deployment.serviceAccounts.delete",
    DeploymentConfigDelete => "deployment.config.delete",
    DeploymentIamUpdate => "deployment.iam.update",
    DeploymentAirflowAdmin => "deployment.airflow.admin",
}

impl Permission {
    /// The scope the permission is checked against (its first word).
    pub fn scope(self) -> Scope {
        match self.as_str().split('.').next() {
            Some("system") => Scope::System,
            Some("organization") => Scope::Organization,
            Some("workspace") => Scope::Workspace,
            _ => Scope::Deployment,
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of permissions, as bits (one per permission of [`Permission::ALL`]): what a custom role holds.
/// Copy and allocation-free, so a binding carries its custom role's permissions and a check on it costs
/// a mask test.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PermissionSet(u128);

// Every permission has a bit.
const _: () = assert!(Permission::ALL.len() <= 128);

impl PermissionSet {
    fn bit(permission: Permission) -> u128 {
        1u128 << (permission as usize)
    }

    /// Whether the set holds `permission`.
    pub fn contains(self, permission: Permission) -> bool {
        self.0 & Self::bit(permission) != 0
    }

    /// Adds `permission`.
    pub fn insert(&mut self, permission: Permission) {
        self.0 |= Self::bit(permission);
    }

    /// The permissions of the set, in [`Permission::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL.iter().copied().filter(move |p| self.contains(*p))
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The set of the permission strings that parse; unknown strings (a permission an operator's upgrade
    /// removed) are left out, so a stored role never grants more than the strings it names.
    pub fn from_strings<'a>(texts: impl IntoIterator<Item = &'a str>) -> PermissionSet {
        texts.into_iter().filter_map(|text| text.parse::<Permission>().ok()).collect()
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        let mut set = PermissionSet::default();
        for permission in iter {
            set.insert(permission);
        }
        set
    }
}

/// A permission string that is not one of [`Permission::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown permission {0:?}")]
pub struct UnknownPermission(pub String);

impl FromStr for Permission {
    type Err = UnknownPermission;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Permission::ALL.iter().copied().find(|p| p.as_str() == text).ok_or_else(|| UnknownPermission(text.to_owned()))
    }
}
