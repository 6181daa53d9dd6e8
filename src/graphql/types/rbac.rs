//! The matrix as data: `RoleDefinition`, `PermissionExplanation`.

use async_graphql::SimpleObject;

use crate::rbac::{Role, Scope};

/// A role and the permissions it holds.
#[derive(SimpleObject)]
pub struct RoleDefinition {
    /// The role.
    pub role: Role,
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
