//! Organizations: the default organization and how users join one.

use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use crate::db::models::organization::Organization;
use crate::db::models::role_binding::RoleBindingRow;
use crate::domain::user_binding;
use crate::error::ApiResult;
use crate::rbac::Role;

/// Name given to the organization the first user creates.
pub const DEFAULT_ORGANIZATION_NAME: &str = "Default Organization";

/// How many of an organization's first members become owners (SPEC §1).
pub const FOUNDING_OWNERS: i64 = 3;

/// The default organization, locked; created if the installation has none yet.
pub async fn default_locked(conn: &mut AsyncPgConnection) -> ApiResult<Organization> {
    if let Some(organization) = Organization::default_for_update(conn).await? {
        return Ok(organization);
    }
    Ok(Organization::insert_default(conn, DEFAULT_ORGANIZATION_NAME).await?)
}

/// Makes `user_id` a member of `organization` (which the caller has locked): one of the first three
/// members becomes ORGANIZATION_OWNER, later ones ORGANIZATION_MEMBER. Returns the role granted.
pub async fn join(
    conn: &mut AsyncPgConnection,
    organization: &Organization,
    user_id: Uuid,
    granted_by: Option<Uuid>,
) -> ApiResult<Role> {
    let mut members = 0;
    for role in [Role::OrganizationOwner, Role::OrganizationBillingAdmin, Role::OrganizationMember] {
        members += RoleBindingRow::count_in_organization(conn, organization.id, role.as_str()).await?;
    }
    let role = if members < FOUNDING_OWNERS { Role::OrganizationOwner } else { Role::OrganizationMember };
    RoleBindingRow::insert(conn, &user_binding(role, user_id, Some(organization.id), granted_by)).await?;
    Ok(role)
}

/// Grants a system role to a user.
pub async fn grant_system_role(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    role: Role,
    granted_by: Option<Uuid>,
) -> ApiResult<()> {
    RoleBindingRow::insert(conn, &user_binding(role, user_id, None, granted_by)).await?;
    Ok(())
}
