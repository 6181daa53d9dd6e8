//! The matrix as data: `RoleDefinition`, `PermissionExplanation`.

use async_graphql::{Context, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::graphql::authz::{Readable, charged};
use crate::graphql::scalars::Uuid;
use crate::rbac::{Role, Scope};

/// A role and the permissions it holds.
#[derive(SimpleObject)]
pub struct RoleDefinition {
    /// The role (`WORKSPACE_CUSTOM` or `DEPLOYMENT_CUSTOM` for a custom role).
    pub role: Role,
    /// The role's name: the built-in role's, or the custom role's.
    pub name: String,
    /// For a custom role, its id (docs/custom-roles.md).
    pub custom_role_id: Option<Uuid>,
    /// Where it applies (none for the implicit USER).
    pub scope: Option<Scope>,
    /// Its permissions, as SPEC strings.
    pub permissions: Vec<String>,
}

/// Why a permission is granted or not.
#[derive(SimpleObject)]
pub struct PermissionExplanation {
    /// The permission asked about.
    pub permission: String,
    /// Whether the caller holds it there.
    pub granted: bool,
    /// The role that grants it.
    pub role: Option<Role>,
    /// The id of the stored binding that grants it (for an implied role, the binding it follows from).
    pub binding_id: Option<crate::graphql::scalars::Uuid>,
    /// The team through which the caller holds that binding, if it is a team's.
    pub team_id: Option<crate::graphql::scalars::Uuid>,
    /// A sentence explaining the decision.
    pub explanation: String,
}

/// One of an organization's custom workspace or deployment roles (docs/custom-roles.md): assignable
/// wherever a built-in role of its scope is, with `customRoleUuid`.
pub struct CustomRole(Readable<crate::domain::custom_roles::CustomRole>);

impl From<Readable<crate::domain::custom_roles::CustomRole>> for CustomRole {
    fn from(role: Readable<crate::domain::custom_roles::CustomRole>) -> Self {
        CustomRole(role)
    }
}

/// A custom role.
#[Object]
impl CustomRole {
    /// Its id (the `customRoleUuid` that assigns it).
    async fn id(&self) -> Uuid {
        self.0.row.id.into()
    }

    /// The organization that defined it; it is held only there.
    async fn organization_id(&self) -> Uuid {
        self.0.row.organization_id.into()
    }

    /// WORKSPACE or DEPLOYMENT.
    async fn scope(&self) -> Scope {
        self.0.scope()
    }

    /// The role a binding holding it shows (`WORKSPACE_CUSTOM` or `DEPLOYMENT_CUSTOM`).
    async fn role(&self) -> Role {
        self.0.marker()
    }

    /// Its name, unique in the organization for its scope.
    async fn name(&self) -> &str {
        &self.0.row.name
    }

    /// Free text.
    async fn description(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        Ok(self.0.row.description.as_deref().map(|text| charged(ctx, text)).transpose()?)
    }

    /// Its permissions, as SPEC strings, all of its scope.
    async fn permissions(&self) -> Vec<String> {
        self.0.permissions.iter().map(|p| p.as_str().to_owned()).collect()
    }

    /// When it was defined.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.row.created_at
    }

    /// When it last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.row.updated_at
    }
}
