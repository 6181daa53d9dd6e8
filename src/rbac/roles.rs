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
    /// Manages a deployment and its users.
    DeploymentAdmin,
    /// Changes a deployment's settings and deploys to it.
    DeploymentEditor,
    /// Reads a deployment.
    DeploymentViewer,
    /// Any signed-in principal.
    User,
}

impl Role {
    /// Every role, in matrix order.
    pub const ALL: [Role; 13] = [
        Role::SystemAdmin,
        Role::SystemEditor,
        Role::SystemViewer,
        Role::OrganizationOwner,
        Role::OrganizationBillingAdmin,
        Role::OrganizationMember,
        Role::WorkspaceAdmin,
        Role::WorkspaceEditor,
        Role::WorkspaceViewer,
        Role::DeploymentAdmin,
        Role::DeploymentEditor,
        Role::DeploymentViewer,
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
            Role::DeploymentAdmin => "DEPLOYMENT_ADMIN",
            Role::DeploymentEditor => "DEPLOYMENT_EDITOR",
            Role::DeploymentViewer => "DEPLOYMENT_VIEWER",
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
            Role::WorkspaceAdmin | Role::WorkspaceEditor | Role::WorkspaceViewer => Some(Scope::Workspace),
            Role::DeploymentAdmin | Role::DeploymentEditor | Role::DeploymentViewer => Some(Scope::Deployment),
            Role::User => None,
        }
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
