//! Business rules, one module per aggregate. Each operation takes a connection, runs in one transaction,
//! and writes its audit event in that transaction. Nothing here knows about GraphQL or HTTP.

pub mod audit;
pub mod catalogue;
pub mod deployments;
pub mod deploys;
pub mod invites;
pub mod organizations;
pub mod service_accounts;
pub mod system_roles;
pub mod users;
pub mod validate;
pub mod variables;
pub mod workspaces;

use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::rbac::{Binding, Matrix, Role, check};

/// Who makes a change and through which request: what every audit event records.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    /// Acting user.
    pub user_id: Option<Uuid>,
    /// Acting service account.
    pub service_account_id: Option<Uuid>,
    /// Readable name of the actor (username or key label).
    pub label: String,
    /// Request id (also in the logs and the `x-request-id` response header).
    pub request_id: Option<String>,
    /// Client address.
    pub client_address: Option<String>,
}

impl Actor {
    /// The same request acting as `user_id` (for changes made before a principal existed, such as sign-up).
    pub fn as_user(&self, user_id: Uuid, label: &str) -> Actor {
        Actor { user_id: Some(user_id), service_account_id: None, label: label.to_owned(), ..self.clone() }
    }
}

/// A new binding of `role` for user `user_id` on `target` (`None` for system roles); the scope and the
/// scope column follow from the role.
pub fn user_binding(
    role: Role,
    user_id: Uuid,
    target: Option<Uuid>,
    granted_by: Option<Uuid>,
) -> crate::db::models::role_binding::NewRoleBinding<'static> {
    use crate::rbac::Scope;
    let scope = role.scope().unwrap_or(Scope::System);
    let on = |wanted: Scope| if scope == wanted { target } else { None };
    crate::db::models::role_binding::NewRoleBinding {
        id: Uuid::now_v7(),
        role: role.as_str(),
        user_id: Some(user_id),
        team_id: None,
        service_account_id: None,
        scope: scope.as_str(),
        organization_id: on(Scope::Organization),
        workspace_id: on(Scope::Workspace),
        deployment_id: on(Scope::Deployment),
        created_by: granted_by,
    }
}

/// The caller's authority, for the rules that depend on it (escalation: nobody grants a role with
/// permissions they lack at that scope).
#[derive(Debug, Clone, Copy)]
pub struct Authority<'a> {
    /// The caller's bindings, implied ones included.
    pub bindings: &'a [Binding],
    /// The matrix in force.
    pub matrix: &'a Matrix,
}

impl Authority<'_> {
    /// FORBIDDEN unless the caller may grant `role` on `target`.
    pub fn require_grantable(&self, role: Role, target: Option<Uuid>) -> ApiResult<()> {
        if check::may_grant(self.bindings, self.matrix, role, target) { Ok(()) } else { Err(ApiError::Forbidden) }
    }
}
