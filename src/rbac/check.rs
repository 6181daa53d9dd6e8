//! The decision procedure of SPEC §2, on bindings already in memory.
//!
//! 1. A principal's bindings are its own plus (for users) its teams'.
//! 2. Implied bindings are added once per request by [`expand`]: ORGANIZATION_OWNER of O ⇒ WORKSPACE_ADMIN
//!    of every workspace in O; WORKSPACE_X of W ⇒ DEPLOYMENT_X of every live deployment in W.
//! 3. `system.*` permissions come from system bindings whatever the target; every other permission only
//!    from bindings on the target itself.
//! 4. The effective permission set is the union.

use uuid::Uuid;

use crate::rbac::matrix::Matrix;
use crate::rbac::permissions::Permission;
use crate::rbac::{Binding, Role, Scope};

/// The parts of the organization → workspace → deployment tree that implied bindings need.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    /// `(organization, workspace)` for every workspace of an organization the principal owns.
    pub workspaces: Vec<(Uuid, Uuid)>,
    /// `(workspace, deployment)` for every live deployment of a workspace the principal has a role in.
    pub deployments: Vec<(Uuid, Uuid)>,
}

fn implied_workspace_role(role: Role) -> Option<Role> {
    (role == Role::OrganizationOwner).then_some(Role::WorkspaceAdmin)
}

fn implied_deployment_role(role: Role) -> Option<Role> {
    match role {
        Role::WorkspaceAdmin => Some(Role::DeploymentAdmin),
        Role::WorkspaceEditor => Some(Role::DeploymentEditor),
        Role::WorkspaceViewer => Some(Role::DeploymentViewer),
        _ => None,
    }
}

/// Organizations whose workspaces [`expand`] needs, given direct bindings.
pub fn owned_organizations(bindings: &[Binding]) -> Vec<Uuid> {
    bindings.iter().filter(|b| b.role == Role::OrganizationOwner).filter_map(|b| b.target).collect()
}

/// Workspaces whose live deployments [`expand`] needs: those with a direct workspace role. (Workspaces of
/// owned organizations are added by the caller from the same query.)
pub fn workspaces_with_roles(bindings: &[Binding]) -> Vec<Uuid> {
    bindings.iter().filter(|b| b.role.scope() == Some(Scope::Workspace)).filter_map(|b| b.target).collect()
}

/// Adds the implied bindings (step 2) to `bindings`.
pub fn expand(mut bindings: Vec<Binding>, topology: &Topology) -> Vec<Binding> {
    let mut implied = Vec::new();
    for binding in &bindings {
        if let (Some(role), Some(organization)) = (implied_workspace_role(binding.role), binding.target) {
            for (_, workspace) in topology.workspaces.iter().filter(|(org, _)| *org == organization) {
                implied.push(Binding {
                    id: binding.id,
                    role,
                    target: Some(*workspace),
                    via_team: binding.via_team,
                    implied_from: Some((binding.role, organization)),
                });
            }
        }
    }
    bindings.extend(implied);
    let mut implied = Vec::new();
    for binding in &bindings {
        if let (Some(role), Some(workspace)) = (implied_deployment_role(binding.role), binding.target) {
            for (_, deployment) in topology.deployments.iter().filter(|(ws, _)| *ws == workspace) {
                implied.push(Binding {
                    id: binding.id,
                    role,
                    target: Some(*deployment),
                    via_team: binding.via_team,
                    implied_from: Some(binding.implied_from.unwrap_or((binding.role, workspace))),
                });
            }
        }
    }
    bindings.extend(implied);
    bindings
}

/// The outcome of a check, with the reason.
#[derive(Debug, Clone)]
pub struct Decision {
    /// Whether the permission is granted.
    pub granted: bool,
    /// The binding that grants it.
    pub binding: Option<Binding>,
    /// A sentence saying which binding grants it, or why none does.
    pub explanation: String,
}

/// Whether `bindings` grant `permission` on `target` (ignored for `system.*`), and why.
pub fn decide(bindings: &[Binding], matrix: &Matrix, permission: Permission, target: Option<Uuid>) -> Decision {
    let scope = permission.scope();
    if scope != Scope::System && target.is_none() {
        return Decision {
            granted: false,
            binding: None,
            explanation: format!(
                "{permission} is checked against a {} and none was named",
                scope.as_str().to_lowercase()
            ),
        };
    }
    let on_target = |b: &&Binding| b.role.scope() == Some(scope) && (scope == Scope::System || b.target == target);
    if let Some(binding) = bindings.iter().filter(on_target).find(|b| matrix.grants(b.role, permission)) {
        let mut explanation = match binding.target {
            Some(object) => format!("granted by {} on {} {object}", binding.role, scope.as_str().to_lowercase()),
            None => format!("granted by the system role {}", binding.role),
        };
        if let Some((role, object)) = binding.implied_from {
            explanation.push_str(&format!(", implied by {role} of {object}"));
        }
        if let Some(team) = binding.via_team {
            explanation.push_str(&format!(", held through team {team}"));
        }
        return Decision { granted: true, binding: Some(binding.clone()), explanation };
    }
    let held: Vec<String> = bindings.iter().filter(on_target).map(|b| b.role.to_string()).collect();
    let granting: Vec<&str> = Role::ALL.iter().filter(|r| matrix.grants(**r, permission)).map(|r| r.as_str()).collect();
    let explanation = if held.is_empty() {
        format!(
            "no role at this {} grants {permission} (it needs one of {})",
            scope.as_str().to_lowercase(),
            granting.join(", ")
        )
    } else {
        format!(
            "the roles held here ({}) do not grant {permission} (it needs one of {})",
            held.join(", "),
            granting.join(", ")
        )
    };
    Decision { granted: false, binding: None, explanation }
}

/// Whether any of `permissions` is granted: `system.*` alternatives ignore the target.
pub fn allowed_any(bindings: &[Binding], matrix: &Matrix, permissions: &[Permission], target: Option<Uuid>) -> bool {
    permissions.iter().any(|p| decide(bindings, matrix, *p, target).granted)
}

/// Escalation rule (SPEC §2): a principal may grant `role` on `target` only if it holds every permission
/// of that role there. A holder of `system.iam.update` administers IAM everywhere and may grant any
/// non-system role; system roles still need every permission of the role granted.
pub fn may_grant(bindings: &[Binding], matrix: &Matrix, role: Role, target: Option<Uuid>) -> bool {
    if role.scope() != Some(Scope::System) && decide(bindings, matrix, Permission::SystemIamUpdate, None).granted {
        return true;
    }
    matrix.permissions_of(role).all(|permission| decide(bindings, matrix, permission, target).granted)
}

/// The Airflow role (SPEC §2 mapping) the bindings give on deployment `deployment`: `Admin`, `User` or
/// `Viewer`, from the `deployment.airflow.*` permissions there or their `system.airflow.*` counterparts.
pub fn airflow_role(bindings: &[Binding], matrix: &Matrix, deployment: Uuid) -> Option<&'static str> {
    let held = |scoped: Permission, system: Permission| {
        decide(bindings, matrix, scoped, Some(deployment)).granted || decide(bindings, matrix, system, None).granted
    };
    if held(Permission::DeploymentAirflowAdmin, Permission::SystemAirflowAdmin) {
        Some("Admin")
    } else if held(Permission::DeploymentAirflowUser, Permission::SystemAirflowUser) {
        Some("User")
    } else if held(Permission::DeploymentAirflowGet, Permission::SystemAirflowGet) {
        Some("Viewer")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(role: Role, target: Option<Uuid>) -> Binding {
        Binding { id: Uuid::new_v4(), role, target, via_team: None, implied_from: None }
    }

    #[test]
    fn owners_imply_workspace_admins_who_imply_deployment_admins() {
        let (org, ws, dep, other_ws) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let topology = Topology { workspaces: vec![(org, ws)], deployments: vec![(ws, dep)] };
        let bindings = expand(vec![binding(Role::OrganizationOwner, Some(org))], &topology);
        let matrix = Matrix::default();
        assert!(decide(&bindings, &matrix, Permission::WorkspaceIamUpdate, Some(ws)).granted);
        let decision = decide(&bindings, &matrix, Permission::DeploymentConfigDelete, Some(dep));
        assert!(decision.granted, "{}", decision.explanation);
        assert!(decision.explanation.contains("ORGANIZATION_OWNER"));
        assert!(!decide(&bindings, &matrix, Permission::WorkspaceConfigGet, Some(other_ws)).granted);
    }

    #[test]
    fn system_permissions_ignore_the_target_and_scoped_ones_need_it() {
        let matrix = Matrix::default();
        let admin = vec![binding(Role::SystemAdmin, None)];
        assert!(decide(&admin, &matrix, Permission::SystemUsersGet, Some(Uuid::new_v4())).granted);
        assert!(!decide(&admin, &matrix, Permission::WorkspaceConfigGet, Some(Uuid::new_v4())).granted);
        let viewer = vec![binding(Role::WorkspaceViewer, Some(Uuid::new_v4()))];
        assert!(!decide(&viewer, &matrix, Permission::WorkspaceConfigGet, None).granted);
    }

    #[test]
    fn editors_cannot_grant_admin_roles() {
        let matrix = Matrix::default();
        let ws = Uuid::new_v4();
        let editor = vec![binding(Role::WorkspaceEditor, Some(ws))];
        assert!(!may_grant(&editor, &matrix, Role::WorkspaceAdmin, Some(ws)));
        assert!(may_grant(&editor, &matrix, Role::WorkspaceViewer, Some(ws)));
        let system_editor = vec![binding(Role::SystemEditor, None)];
        assert!(may_grant(&system_editor, &matrix, Role::WorkspaceAdmin, Some(ws)));
        assert!(!may_grant(&system_editor, &matrix, Role::SystemAdmin, None));
        assert!(may_grant(&system_editor, &matrix, Role::SystemViewer, None));
    }
}
