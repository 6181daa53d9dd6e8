//! A role binding as the decision procedure sees it.

use uuid::Uuid;

use crate::db::models::role_binding::RoleBindingRow;
use crate::rbac::Role;

/// One role held by a principal on one scope object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The stored binding's id (for an implied binding, the id of the binding it follows from).
    pub id: Uuid,
    /// The role.
    pub role: Role,
    /// The organization, workspace or deployment it applies to; `None` for system roles.
    pub target: Option<Uuid>,
    /// The team through which a user holds it, if any.
    pub via_team: Option<Uuid>,
    /// For an implied binding (SPEC §2 step 2): the role and scope object it follows from.
    pub implied_from: Option<(Role, Uuid)>,
}

impl Binding {
    /// Converts a stored row; rows with an unknown role (impossible under the CHECK constraint) are skipped.
    pub fn from_row(row: &RoleBindingRow) -> Option<Binding> {
        let role = row.role.parse::<Role>().ok()?;
        Some(Binding {
            id: row.id,
            role,
            target: row.organization_id.or(row.workspace_id).or(row.deployment_id),
            via_team: row.team_id,
            implied_from: None,
        })
    }
}
