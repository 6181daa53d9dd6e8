//! The roles of SPEC §2 and the scopes they apply at.

use std::fmt;
use std::str::FromStr;

/// Where a role binding applies. Scopes nest: SYSTEM ⊃ ORGANIZATION ⊃ WORKSPACE ⊃ DEPLOYMENT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, async_graphql::Enum)]
#[graphql(name = "RoleScope")]
pub enum Scope {
    /// The whole installation.
    System,
    /// One organization.
    Organization,
    /// One workspace.
    Workspace,
    /// One deployment.
    Deployment,
}

impl Scope {
    /// Database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::System => "SYSTEM",
            Scope::Organization => "ORGANIZATION",
            Scope::Workspace => "WORKSPACE",
            Scope::Deployment => "DEPLOYMENT",
        }
    }
}

/// A role. `USER` is the implicit role of every signed-in principal and is never stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, async_graphql::Enum)]
#[graphql(name = "Role")]
pub enum Role {
    /// Everything, everywhere.
    SystemAdmin,
    /// Manage system IAM and read everything.
    SystemEditor,
    /// Read everything.
    SystemViewer,
    /// Owns an organization: membership, roles, teams, API keys, billing.
    OrganizationOwner,
    /// Organization settings and billing.
    OrganizationBillingAdmin,
    /// Member of an organization.
    OrganizationMember,
    /// Manages a workspace, its users and its deployments.
    WorkspaceAdmin,
    /// Creates and changes deployments in a workspace.
    WorkspaceEditor,
    /// Reads a workspace.
    WorkspaceViewer,
    /// A custom workspace role of the organization (docs/custom-roles.md): the binding's `customRole` says
    /// which, and its permissions are that role's. Not accepted as a `role` argument: name the role with
    /// `customRoleUuid`.
    WorkspaceCustom,
    /// Manages a deployment and its users.
    DeploymentAdmin,
    /// Changes a deployment's settings and deploys to it.
    DeploymentEditor,
    /// Reads a deployment.
    DeploymentViewer,
    /// A custom deployment role of the organization (docs/custom-roles.md): the binding's `customRole`
    /// says which. Not accepted as a `role` argument: name the role with `customRoleUuid`.
    DeploymentCustom,
    /// Any signed-in principal.
    User,
}

impl Role {
    /// Every role, in matrix order, with the two custom-role markers (which hold no permission of the
    /// matrix: a custom binding's permissions are its custom role's).
    pub const ALL: [Role; 15] = [
        Role::SystemAdmin,
        Role::SystemEditor,
        Role::SystemViewer,
        Role::OrganizationOwner,
        Role::OrganizationBillingAdmin,
        Role::OrganizationMember,
        Role::WorkspaceAdmin,
        Role::WorkspaceEditor,
        Role::WorkspaceViewer,
        Role::WorkspaceCustom,
        Role::DeploymentAdmin,
        Role::DeploymentEditor,
        Role::DeploymentViewer,
        Role::DeploymentCustom,
        Role::User,
    ];

    /// Database and API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::SystemAdmin => "SYSTEM_ADMIN",
            Role::SystemEditor => "SYSTEM_EDITOR",
            Role::SystemViewer => "SYSTEM_VIEWER",
            Role::OrganizationOwner => "ORGANIZATION_OWNER",
            Role::OrganizationBillingAdmin => "ORGANIZATION_BILLING_ADMIN",
            Role::OrganizationMember => "ORGANIZATION_MEMBER",
            Role::WorkspaceAdmin => "WORKSPACE_ADMIN",
            Role::WorkspaceEditor => "WORKSPACE_EDITOR",
            Role::WorkspaceViewer => "WORKSPACE_VIEWER",
            Role::WorkspaceCustom => "WORKSPACE_CUSTOM",
            Role::DeploymentAdmin => "DEPLOYMENT_ADMIN",
            Role::DeploymentEditor => "DEPLOYMENT_EDITOR",
            Role::DeploymentViewer => "DEPLOYMENT_VIEWER",
            Role::DeploymentCustom => "DEPLOYMENT_CUSTOM",
            Role::User => "USER",
        }
    }

    /// The scope a binding of this role applies at; `None` for the implicit `USER`.
    pub fn scope(self) -> Option<Scope> {
        match self {
            Role::SystemAdmin | Role::SystemEditor | Role::SystemViewer => Some(Scope::System),
            Role::OrganizationOwner | Role::OrganizationBillingAdmin | Role::OrganizationMember => {
                Some(Scope::Organization)
            }
            Role::WorkspaceAdmin | Role::WorkspaceEditor | Role::WorkspaceViewer | Role::WorkspaceCustom => {
                Some(Scope::Workspace)
            }
            Role::DeploymentAdmin | Role::DeploymentEditor | Role::DeploymentViewer | Role::DeploymentCustom => {
                Some(Scope::Deployment)
            }
            Role::User => None,
        }
    }

    /// Whether this is the marker of a custom role (`WORKSPACE_CUSTOM`, `DEPLOYMENT_CUSTOM`).
    pub fn is_custom(self) -> bool {
        matches!(self, Role::WorkspaceCustom | Role::DeploymentCustom)
    }

    /// The custom-role marker of `scope`, if custom roles exist there (workspaces and deployments).
    pub fn custom_marker(scope: Scope) -> Option<Role> {
        match scope {
            Scope::Workspace => Some(Role::WorkspaceCustom),
            Scope::Deployment => Some(Role::DeploymentCustom),
            _ => None,
        }
    }

    /// The built-in roles of `scope` (custom markers and `USER` excluded), for role templates.
    pub fn built_in_of(scope: Scope) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |role| !role.is_custom() && role.scope() == Some(scope))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of [`Role::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown role {0:?}")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|role| role.as_str() == text).ok_or_else(|| UnknownRole(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip_and_prefix_their_scope() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().ok(), Some(role));
            if let Some(scope) = role.scope() {
                assert!(role.as_str().starts_with(scope.as_str()), "{role} must start with {}", scope.as_str());
            }
        }
        assert!("ADMIN".parse::<Role>().is_err());
    }
}
