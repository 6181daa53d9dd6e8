//! The decision procedure of SPEC §2, on bindings already in memory and the target's own ancestry.
//!
//! 1. A principal's bindings are its own plus (for users) its teams'; they are loaded once per request.
//! 2. Implied bindings are never enumerated: a decision about an object looks at the object's ancestry
//!    (deployment → workspace → organization) and asks whether a binding on an ancestor implies a role on
//!    the object: ORGANIZATION_OWNER of O ⇒ WORKSPACE_ADMIN of every workspace in O (and so DEPLOYMENT_ADMIN
//!    of their deployments); WORKSPACE_X of W ⇒ DEPLOYMENT_X of every deployment in W. The cost of a
//!    decision therefore never grows with how many objects the principal can reach.
//! 3. `system.*` permissions come from system bindings whatever the target; every other permission only
//!    from bindings on the target itself or, by implication, on its ancestors.
//! 4. The effective permission set is the union.

use uuid::Uuid;

use crate::rbac::matrix::Matrix;
use crate::rbac::permissions::{Permission, PermissionSet};
use crate::rbac::{Binding, Role, Scope};

/// An object named by its scope kind and id: what a permission is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeRef {
    /// The installation.
    System,
    /// An organization.
    Organization(Uuid),
    /// A workspace.
    Workspace(Uuid),
    /// A deployment.
    Deployment(Uuid),
}

impl ScopeRef {
    /// The scope kind.
    pub fn scope(self) -> Scope {
        match self {
            ScopeRef::System => Scope::System,
            ScopeRef::Organization(_) => Scope::Organization,
            ScopeRef::Workspace(_) => Scope::Workspace,
            ScopeRef::Deployment(_) => Scope::Deployment,
        }
    }

    /// The object's id (`None` for the installation).
    pub fn id(self) -> Option<Uuid> {
        match self {
            ScopeRef::System => None,
            ScopeRef::Organization(id) | ScopeRef::Workspace(id) | ScopeRef::Deployment(id) => Some(id),
        }
    }
}

/// Where an object sits: its scope object and the ancestors known so far. A deployment's ancestry is
/// (its workspace, that workspace's organization); a workspace's is its organization. Unknown ancestors
/// are `None` and simply imply nothing; [`needs_ancestors`] says when looking them up can change a
/// decision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ancestry {
    /// The organization (of the object, or the object itself).
    pub organization: Option<Uuid>,
    /// The workspace (of the deployment, or the object itself).
    pub workspace: Option<Uuid>,
    /// The deployment itself.
    pub deployment: Option<Uuid>,
}

impl Ancestry {
    /// The installation: only `system.*` permissions apply.
    pub const SYSTEM: Ancestry = Ancestry { organization: None, workspace: None, deployment: None };

    /// An organization.
    pub fn organization(id: Uuid) -> Ancestry {
        Ancestry { organization: Some(id), ..Ancestry::SYSTEM }
    }

    /// A workspace, with its organization when known.
    pub fn workspace(organization: Option<Uuid>, id: Uuid) -> Ancestry {
        Ancestry { organization, workspace: Some(id), deployment: None }
    }

    /// A deployment, with its workspace and organization when known.
    pub fn deployment(organization: Option<Uuid>, workspace: Option<Uuid>, id: Uuid) -> Ancestry {
        Ancestry { organization, workspace, deployment: Some(id) }
    }

    /// The ancestry known from a reference alone.
    pub fn of(scope: ScopeRef) -> Ancestry {
        match scope {
            ScopeRef::System => Ancestry::SYSTEM,
            ScopeRef::Organization(id) => Ancestry::organization(id),
            ScopeRef::Workspace(id) => Ancestry::workspace(None, id),
            ScopeRef::Deployment(id) => Ancestry::deployment(None, None, id),
        }
    }

    /// The deepest object of the ancestry.
    pub fn object(&self) -> ScopeRef {
        match (self.deployment, self.workspace, self.organization) {
            (Some(id), _, _) => ScopeRef::Deployment(id),
            (None, Some(id), _) => ScopeRef::Workspace(id),
            (None, None, Some(id)) => ScopeRef::Organization(id),
            (None, None, None) => ScopeRef::System,
        }
    }

    /// The object a permission of `scope` is checked against: the ancestry's object of that scope, and
    /// only when that is the deepest object (a workspace permission is never checked against a
    /// deployment; SPEC §2 rule 6).
    fn target(&self, scope: Scope) -> Option<Uuid> {
        match scope {
            Scope::System => None,
            _ if self.object().scope() != scope => None,
            Scope::Organization => self.organization,
            Scope::Workspace => self.workspace,
            Scope::Deployment => self.deployment,
        }
    }

    /// Whether every ancestor of the object is known.
    pub fn is_complete(&self) -> bool {
        match self.object() {
            ScopeRef::Deployment(_) => self.workspace.is_some() && self.organization.is_some(),
            ScopeRef::Workspace(_) => self.organization.is_some(),
            ScopeRef::Organization(_) | ScopeRef::System => true,
        }
    }
}

/// The role a binding of `held` implies on an object of `scope` below the binding's object (SPEC §2 step 2).
pub fn implied_role(held: Role, scope: Scope) -> Option<Role> {
    match (held, scope) {
        (Role::OrganizationOwner, Scope::Workspace) => Some(Role::WorkspaceAdmin),
        (Role::OrganizationOwner, Scope::Deployment) | (Role::WorkspaceAdmin, Scope::Deployment) => {
            Some(Role::DeploymentAdmin)
        }
        (Role::WorkspaceEditor, Scope::Deployment) => Some(Role::DeploymentEditor),
        (Role::WorkspaceViewer, Scope::Deployment) => Some(Role::DeploymentViewer),
        _ => None,
    }
}

/// Whether looking up the ancestors of an object of `scope` can change a decision for these bindings:
/// only when a binding could imply a role there. A caller without organization ownership or workspace
/// roles never pays for the lookup.
pub fn needs_ancestors(bindings: &[Binding], scope: Scope) -> bool {
    bindings.iter().any(|b| implied_role(b.role, scope).is_some())
}

/// A role held on the target, directly or by implication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The stored binding it comes from.
    pub binding: Binding,
    /// The role it gives on the target (the binding's own role, or the implied one).
    pub role: Role,
    /// For an implied role: the scope of the binding it follows from.
    pub implied_by: Option<Scope>,
}

impl Grant {
    /// Whether this grant gives `permission`: a custom role's own permissions for a custom binding held
    /// directly (custom roles imply nothing below their object), the matrix's for a built-in role.
    pub fn holds(&self, matrix: &Matrix, permission: Permission) -> bool {
        match (self.implied_by, self.binding.custom) {
            (None, Some(custom)) => custom.permissions.contains(permission),
            _ => matrix.grants(self.role, permission),
        }
    }
}

/// Every role the bindings give on the deepest object of `at` (direct ones first), for permissions of
/// that object's scope.
fn grants_on<'b>(bindings: &'b [Binding], at: &'b Ancestry, scope: Scope) -> impl Iterator<Item = Grant> + 'b {
    let target = at.target(scope);
    let direct = bindings
        .iter()
        .filter(move |b| b.role.scope() == Some(scope) && (scope == Scope::System || b.target == target))
        .map(|b| Grant { binding: b.clone(), role: b.role, implied_by: None });
    let implied = bindings.iter().filter_map(move |b| {
        target?;
        let role = implied_role(b.role, scope)?;
        let from = b.role.scope()?;
        let ancestor = match from {
            Scope::Organization => at.organization,
            Scope::Workspace => at.workspace,
            _ => None,
        };
        (ancestor.is_some() && b.target == ancestor).then(|| Grant { binding: b.clone(), role, implied_by: Some(from) })
    });
    direct.chain(implied)
}

/// The outcome of a check, with the reason.
#[derive(Debug, Clone)]
pub struct Decision {
    /// Whether the permission is granted.
    pub granted: bool,
    /// The role that grants it, and the binding it comes from.
    pub grant: Option<Grant>,
    /// A sentence saying which binding grants it, or why none does.
    pub explanation: String,
}

/// Whether `bindings` grant `permission` on the deepest object of `at` (ignored for `system.*`), and why.
pub fn decide(bindings: &[Binding], matrix: &Matrix, permission: Permission, at: &Ancestry) -> Decision {
    let scope = permission.scope();
    let scope_word = scope.as_str().to_lowercase();
    if scope != Scope::System && at.target(scope).is_none() {
        return Decision {
            granted: false,
            grant: None,
            explanation: format!("{permission} is checked against a {scope_word} and none was named"),
        };
    }
    if let Some(grant) = grants_on(bindings, at, scope).find(|g| g.holds(matrix, permission)) {
        let mut explanation = match (grant.implied_by, grant.binding.target, at.target(scope)) {
            (None, _, Some(object)) if grant.binding.custom.is_some() => format!(
                "granted by the custom role {} on {scope_word} {object}",
                grant.binding.custom.map(|c| c.id.to_string()).unwrap_or_default()
            ),
            (None, _, Some(object)) => format!("granted by {} on {scope_word} {object}", grant.role),
            (None, _, None) => format!("granted by the system role {}", grant.role),
            (Some(from), Some(ancestor), object) => format!(
                "granted by {} on {scope_word} {}, implied by {} of {} {ancestor}",
                grant.role,
                object.map(|o| o.to_string()).unwrap_or_default(),
                grant.binding.role,
                from.as_str().to_lowercase()
            ),
            (Some(_), None, _) => format!("granted by {}", grant.role),
        };
        if let Some(team) = grant.binding.via_team {
            explanation.push_str(&format!(", held through team {team}"));
        }
        return Decision { granted: true, grant: Some(grant), explanation };
    }
    let held: Vec<String> = grants_on(bindings, at, scope)
        .map(|g| match g.binding.custom {
            Some(custom) if g.implied_by.is_none() => format!("custom role {}", custom.id),
            _ => g.role.to_string(),
        })
        .collect();
    let granting: Vec<&str> = Role::ALL.iter().filter(|r| matrix.grants(**r, permission)).map(|r| r.as_str()).collect();
    let explanation = if held.is_empty() {
        format!("no role at this {scope_word} grants {permission} (it needs one of {})", granting.join(", "))
    } else {
        format!(
            "the roles held here ({}) do not grant {permission} (it needs one of {})",
            held.join(", "),
            granting.join(", ")
        )
    };
    Decision { granted: false, grant: None, explanation }
}

/// Whether `bindings` grant `permission` on the deepest object of `at`: [`decide`]'s verdict without its
/// explanation. Read checks run this for every object of a reply (thousands in a large one), so it
/// allocates nothing.
pub fn granted(bindings: &[Binding], matrix: &Matrix, permission: Permission, at: &Ancestry) -> bool {
    let scope = permission.scope();
    if scope != Scope::System && at.target(scope).is_none() {
        return false;
    }
    grants_on(bindings, at, scope).any(|grant| grant.holds(matrix, permission))
}

/// Whether any of `permissions` is granted on `at`: `system.*` alternatives ignore the target.
pub fn allowed_any(bindings: &[Binding], matrix: &Matrix, permissions: &[Permission], at: &Ancestry) -> bool {
    permissions.iter().any(|p| granted(bindings, matrix, *p, at))
}

/// What a decision made from the ancestry known so far concludes. Every caller of the decision procedure
/// (request guards, read checks, domain rules) goes through [`verdict`] or [`grant_verdict`], so the rule
/// "look the ancestors up only when a binding could imply a role through them" is stated once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Granted by what is known.
    Granted,
    /// Refused, and knowing more ancestors cannot change that.
    Denied,
    /// Refused by what is known, but a binding of the caller could imply a role through an ancestor that
    /// is not known yet: complete the ancestry and decide again (with [`allowed_any`] or [`may_grant`]).
    NeedsAncestry,
}

impl Verdict {
    fn of(granted: bool, bindings: &[Binding], at: &Ancestry) -> Verdict {
        if granted {
            Verdict::Granted
        } else if at.is_complete() || !needs_ancestors(bindings, at.object().scope()) {
            Verdict::Denied
        } else {
            Verdict::NeedsAncestry
        }
    }
}

/// Whether any of `permissions` is granted on the object of `at`, from the ancestors known so far.
pub fn verdict(bindings: &[Binding], matrix: &Matrix, permissions: &[Permission], at: &Ancestry) -> Verdict {
    Verdict::of(allowed_any(bindings, matrix, permissions, at), bindings, at)
}

/// Whether `role` may be granted on the object of `at` ([`may_grant`]), from the ancestors known so far.
pub fn grant_verdict(bindings: &[Binding], matrix: &Matrix, role: Role, at: &Ancestry) -> Verdict {
    Verdict::of(may_grant(bindings, matrix, role, at), bindings, at)
}

/// Escalation rule (SPEC §2): a principal may grant `role` on the object of `at` only if it holds every
/// permission of that role there, and of every role it implies below (on every child object). The one principal that holds everything everywhere — every `system.*`
/// permission of the matrix, in the default matrix SYSTEM_ADMIN — may grant any non-system role. Holding
/// `system.iam.update` alone (SYSTEM_EDITOR) lets a principal run IAM operations (SPEC §2: "workspace IAM
/// as alternative") but not confer a role whose permissions it lacks at that scope: otherwise an editor
/// could make a viewer key an admin key and take its secret on rotation. System roles always need every
/// permission of the role granted.
pub fn may_grant(bindings: &[Binding], matrix: &Matrix, role: Role, at: &Ancestry) -> bool {
    // A custom-role marker alone names no permissions: granting one means granting a custom role
    // (`may_grant_permissions`), never the marker.
    if role.is_custom() {
        return false;
    }
    if role.scope() != Some(Scope::System) && holds_every_system_permission(bindings, matrix) {
        return true;
    }
    matrix.permissions_of(role).all(|permission| granted(bindings, matrix, permission, at))
        && implied_below(role, at).into_iter().flatten().all(|(implied, below)| {
            matrix.permissions_of(implied).all(|permission| granted(bindings, matrix, permission, &below))
        })
}

/// The roles `role` held on the object of `at` implies below it (SPEC §2 step 2), each with the ancestry
/// of a child object that stands for every child, present and future: a nil id, so that only what the
/// grantor holds on `at` and above counts, never a role on one particular child. Granting WORKSPACE_VIEWER
/// gives DEPLOYMENT_VIEWER on every deployment of the workspace, so the grantor must hold that too: a
/// custom workspace role, which implies nothing below, does not.
fn implied_below(role: Role, at: &Ancestry) -> [Option<(Role, Ancestry)>; 2] {
    let child = Uuid::nil();
    match at.object() {
        ScopeRef::Organization(organization) => [
            implied_role(role, Scope::Workspace).map(|r| (r, Ancestry::workspace(Some(organization), child))),
            implied_role(role, Scope::Deployment).map(|r| (r, Ancestry::deployment(Some(organization), None, child))),
        ],
        ScopeRef::Workspace(workspace) => [
            implied_role(role, Scope::Deployment)
                .map(|r| (r, Ancestry::deployment(at.organization, Some(workspace), child))),
            None,
        ],
        ScopeRef::Deployment(_) | ScopeRef::System => [None, None],
    }
}

/// The grant rule for a custom role (docs/custom-roles.md): a principal may create, change or grant a
/// custom role holding `permissions` on the object of `at` only if it holds every one of them there; as
/// for built-in roles, the principal holding every `system.*` permission may grant any.
pub fn may_grant_permissions(bindings: &[Binding], matrix: &Matrix, permissions: PermissionSet, at: &Ancestry) -> bool {
    if holds_every_system_permission(bindings, matrix) {
        return true;
    }
    permissions.iter().all(|permission| granted(bindings, matrix, permission, at))
}

/// Whether a custom role holding `permissions` may be granted on the object of `at`
/// ([`may_grant_permissions`]), from the ancestors known so far.
pub fn grant_permissions_verdict(
    bindings: &[Binding],
    matrix: &Matrix,
    permissions: PermissionSet,
    at: &Ancestry,
) -> Verdict {
    Verdict::of(may_grant_permissions(bindings, matrix, permissions, at), bindings, at)
}

/// Whether `bindings` grant every `system.*` permission of the matrix.
fn holds_every_system_permission(bindings: &[Binding], matrix: &Matrix) -> bool {
    Permission::ALL
        .iter()
        .filter(|permission| permission.scope() == Scope::System)
        .all(|permission| granted(bindings, matrix, *permission, &Ancestry::SYSTEM))
}

/// The Airflow role (SPEC §2 mapping) the bindings give on the deployment of `at`: `Admin`, `User` or
/// `Viewer`, from the `deployment.airflow.*` permissions there or their `system.airflow.*` counterparts.
pub fn airflow_role(bindings: &[Binding], matrix: &Matrix, at: &Ancestry) -> Option<&'static str> {
    let held = |scoped: Permission, system: Permission| {
        granted(bindings, matrix, scoped, at) || granted(bindings, matrix, system, &Ancestry::SYSTEM)
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
        Binding { id: Uuid::new_v4(), role, target, via_team: None, allowed_from: Vec::new(), custom: None }
    }

    #[test]
    fn owners_imply_workspace_admins_who_imply_deployment_admins() {
        let (org, ws, dep, other_ws) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let bindings = vec![binding(Role::OrganizationOwner, Some(org))];
        let matrix = Matrix::default();
        let workspace = Ancestry::workspace(Some(org), ws);
        assert!(decide(&bindings, &matrix, Permission::WorkspaceIamUpdate, &workspace).granted);
        let deployment = Ancestry::deployment(Some(org), Some(ws), dep);
        let decision = decide(&bindings, &matrix, Permission::DeploymentConfigDelete, &deployment);
        assert!(decision.granted, "{}", decision.explanation);
        assert!(decision.explanation.contains("ORGANIZATION_OWNER"));
        let elsewhere = Ancestry::workspace(Some(Uuid::new_v4()), other_ws);
        assert!(!decide(&bindings, &matrix, Permission::WorkspaceConfigGet, &elsewhere).granted);
        // Without the ancestry, nothing is implied: the caller must look it up when needs_ancestors says so.
        assert!(!decide(&bindings, &matrix, Permission::WorkspaceConfigGet, &Ancestry::workspace(None, ws)).granted);
        assert!(needs_ancestors(&bindings, Scope::Workspace));
    }

    #[test]
    fn workspace_roles_imply_the_same_deployment_role_and_nothing_on_siblings() {
        let (org, ws, dep) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let matrix = Matrix::default();
        let editor = vec![binding(Role::WorkspaceEditor, Some(ws))];
        let here = Ancestry::deployment(Some(org), Some(ws), dep);
        assert!(decide(&editor, &matrix, Permission::DeploymentConfigUpdate, &here).granted);
        assert!(!decide(&editor, &matrix, Permission::DeploymentConfigDelete, &here).granted);
        let sibling_editor = vec![binding(Role::WorkspaceViewer, Some(ws)), binding(Role::DeploymentEditor, Some(dep))];
        let sibling = Ancestry::deployment(Some(org), Some(ws), Uuid::new_v4());
        assert!(!decide(&sibling_editor, &matrix, Permission::DeploymentConfigUpdate, &sibling).granted);
        assert!(decide(&sibling_editor, &matrix, Permission::DeploymentConfigGet, &sibling).granted);
        // A workspace permission is never checked against a deployment.
        assert!(!decide(&editor, &matrix, Permission::WorkspaceConfigGet, &here).granted);
        assert!(!needs_ancestors(&[binding(Role::DeploymentViewer, Some(dep))], Scope::Deployment));
    }

    #[test]
    fn system_permissions_ignore_the_target_and_scoped_ones_need_it() {
        let matrix = Matrix::default();
        let admin = vec![binding(Role::SystemAdmin, None)];
        let somewhere = Ancestry::workspace(None, Uuid::new_v4());
        assert!(decide(&admin, &matrix, Permission::SystemUsersGet, &somewhere).granted);
        assert!(!decide(&admin, &matrix, Permission::WorkspaceConfigGet, &somewhere).granted);
        let viewer = vec![binding(Role::WorkspaceViewer, Some(Uuid::new_v4()))];
        assert!(!decide(&viewer, &matrix, Permission::WorkspaceConfigGet, &Ancestry::SYSTEM).granted);
    }

    #[test]
    fn editors_cannot_grant_admin_roles() {
        let matrix = Matrix::default();
        let ws = Uuid::new_v4();
        let at = Ancestry::workspace(None, ws);
        let editor = vec![binding(Role::WorkspaceEditor, Some(ws))];
        assert!(!may_grant(&editor, &matrix, Role::WorkspaceAdmin, &at));
        assert!(may_grant(&editor, &matrix, Role::WorkspaceViewer, &at));
        // A system editor runs IAM operations but confers no role whose permissions it lacks there.
        let system_editor = vec![binding(Role::SystemEditor, None)];
        assert!(!may_grant(&system_editor, &matrix, Role::WorkspaceAdmin, &at));
        assert!(!may_grant(&system_editor, &matrix, Role::WorkspaceViewer, &at));
        let system_admin = vec![binding(Role::SystemAdmin, None)];
        assert!(may_grant(&system_admin, &matrix, Role::WorkspaceAdmin, &at));
        assert!(!may_grant(&system_editor, &matrix, Role::SystemAdmin, &Ancestry::SYSTEM));
        assert!(may_grant(&system_editor, &matrix, Role::SystemViewer, &Ancestry::SYSTEM));
    }

    #[test]
    fn a_custom_binding_grants_its_own_permissions_on_its_object_only() {
        use crate::rbac::binding::CustomGrant;
        let matrix = Matrix::default();
        let (org, ws, dep) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let permissions: PermissionSet =
            [Permission::WorkspaceConfigGet, Permission::WorkspaceDeploymentsCreate].into_iter().collect();
        let custom = Binding {
            custom: Some(CustomGrant { id: Uuid::new_v4(), permissions }),
            ..binding(Role::WorkspaceCustom, Some(ws))
        };
        let bindings = vec![custom];
        let here = Ancestry::workspace(Some(org), ws);
        assert!(decide(&bindings, &matrix, Permission::WorkspaceDeploymentsCreate, &here).granted);
        assert!(!decide(&bindings, &matrix, Permission::WorkspaceConfigUpdate, &here).granted);
        assert!(!granted(
            &bindings,
            &matrix,
            Permission::WorkspaceConfigGet,
            &Ancestry::workspace(Some(org), Uuid::new_v4())
        ));
        // Nothing implied below the workspace.
        assert!(!granted(
            &bindings,
            &matrix,
            Permission::DeploymentConfigGet,
            &Ancestry::deployment(Some(org), Some(ws), dep)
        ));
        assert!(may_grant_permissions(&bindings, &matrix, permissions, &here));
        let more: PermissionSet =
            [Permission::WorkspaceConfigGet, Permission::WorkspaceIamUpdate].into_iter().collect();
        assert!(!may_grant_permissions(&bindings, &matrix, more, &here));
        assert!(!may_grant(&bindings, &matrix, Role::WorkspaceViewer, &here));
    }

    #[test]
    fn the_quick_verdict_is_the_explained_one() {
        let matrix = Matrix::default();
        let (org, ws, dep) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let places = [
            Ancestry::SYSTEM,
            Ancestry::organization(org),
            Ancestry::workspace(Some(org), ws),
            Ancestry::workspace(None, ws),
            Ancestry::deployment(Some(org), Some(ws), dep),
            Ancestry::deployment(None, None, dep),
            Ancestry::workspace(Some(org), Uuid::new_v4()),
        ];
        for role in Role::ALL {
            let target = match role.scope() {
                Some(Scope::Organization) => Some(org),
                Some(Scope::Workspace) => Some(ws),
                Some(Scope::Deployment) => Some(dep),
                _ => None,
            };
            let bindings = vec![binding(role, target)];
            for at in &places {
                for permission in Permission::ALL {
                    assert_eq!(
                        granted(&bindings, &matrix, *permission, at),
                        decide(&bindings, &matrix, *permission, at).granted,
                        "{role} {permission} at {at:?}"
                    );
                }
            }
        }
    }
}
