//! Organizations and their membership (SPEC §1–§2).
//!
//! Invariants, each guarded by locking the organization row before counting:
//! - the first three users to join an organization become ORGANIZATION_OWNER, later ones
//!   ORGANIZATION_MEMBER (or the role an invite names), however many join at once;
//! - an organization always keeps at least one owner holding the role directly, so the last owner can
//!   neither leave nor be demoted.

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::json;
use uuid::Uuid;

use crate::db::models::invite::{Invite, NewInvite};
use crate::db::models::organization::{Organization, OrganizationChanges};
use crate::db::models::role_binding::RoleBindingRow;
use crate::db::models::team::Team;
use crate::db::models::user::User;
use crate::domain::audit::{self, Change};
use crate::domain::invites::{self, CreatedInvite, InviteSettings};
use crate::domain::{Actor, Authority, user_binding, validate};
use crate::error::{ApiError, ApiResult};
use crate::rbac::{Permission, Role, Scope, ScopeRef};

pub use crate::db::models::organization::Organization as OrganizationRow;

/// Name given to the organization the first user creates.
pub const DEFAULT_ORGANIZATION_NAME: &str = "Default Organization";

/// How many of an organization's first members become owners (SPEC §1).
pub const FOUNDING_OWNERS: i64 = 3;

/// Audit snapshot of an organization (billing details included: they are not secret).
pub fn snapshot(organization: &Organization) -> serde_json::Value {
    json!({
        "id": organization.id,
        "name": organization.name,
        "description": organization.description,
        "billingEmail": organization.billing_email,
        "billingCompany": organization.billing_company,
        "billingPlan": organization.billing_plan,
    })
}

fn name_conflict(error: diesel::result::Error) -> ApiError {
    use diesel::result::{DatabaseErrorKind, Error};
    match &error {
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
            if info.constraint_name() == Some("organizations_name_key") =>
        {
            ApiError::conflict("An organization with this name already exists")
        }
        _ => ApiError::from(error),
    }
}

/// Checks that `role` is an organization role.
pub fn organization_role(field: &str, role: Role) -> ApiResult<Role> {
    if role.scope() == Some(Scope::Organization) {
        Ok(role)
    } else {
        Err(ApiError::bad_input(
            field,
            format!(
                "{role} is not an organization role (ORGANIZATION_OWNER, ORGANIZATION_BILLING_ADMIN or ORGANIZATION_MEMBER)"
            ),
        ))
    }
}

/// The default organization, locked; created if the installation has none yet.
pub async fn default_locked(conn: &mut AsyncPgConnection) -> ApiResult<Organization> {
    if let Some(organization) = Organization::default_for_update(conn).await? {
        return Ok(organization);
    }
    Ok(Organization::insert_default(conn, DEFAULT_ORGANIZATION_NAME).await?)
}

/// Makes `user_id` a member of `organization`, which the caller has locked: one of the first three
/// members becomes ORGANIZATION_OWNER whatever was asked; later ones get `requested` (default
/// ORGANIZATION_MEMBER). Returns the role granted.
pub async fn join(
    conn: &mut AsyncPgConnection,
    organization: &Organization,
    user_id: Uuid,
    requested: Option<Role>,
    granted_by: Option<Uuid>,
) -> ApiResult<Role> {
    let members = RoleBindingRow::count_users_in_organization(conn, organization.id, None).await?;
    let role =
        if members < FOUNDING_OWNERS { Role::OrganizationOwner } else { requested.unwrap_or(Role::OrganizationMember) };
    RoleBindingRow::insert(conn, &user_binding(role, user_id, Some(organization.id), granted_by)).await?;
    Ok(role)
}

/// Makes `user_id` a member of organization `organization_id` unless they already are one (a user who
/// joins a workspace joins its organization). Locks the organization. Returns the role granted, if any.
pub async fn ensure_member(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    user_id: Uuid,
    granted_by: Option<Uuid>,
) -> ApiResult<Option<Role>> {
    let organization = Organization::find_for_update(conn, organization_id).await?.ok_or(ApiError::NotFound)?;
    if RoleBindingRow::user_in_organization_for_update(conn, organization_id, user_id).await?.is_some() {
        return Ok(None);
    }
    Ok(Some(join(conn, &organization, user_id, None, granted_by).await?))
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

/// Creates an organization; `creator` is its first member, so its owner.
pub async fn create(
    conn: &mut AsyncPgConnection,
    name: &str,
    description: Option<&str>,
    creator: Uuid,
    actor: &Actor,
) -> ApiResult<Organization> {
    let name = validate::label("name", name, validate::MAX_LABEL)?;
    let description = validate::description("description", description.unwrap_or_default())?;
    conn.transaction(async |tx| {
        let organization = Organization::insert(tx, &name, &description).await.map_err(name_conflict)?;
        join(tx, &organization, creator, None, Some(creator)).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "organization.create",
                target_type: "organization",
                target_id: Some(organization.id),
                organization_id: Some(organization.id),
                after: Some(snapshot(&organization)),
                ..Change::default()
            },
        )
        .await?;
        Ok(organization)
    })
    .await
}

/// The organization, or NOT_FOUND.
pub async fn get(conn: &mut AsyncPgConnection, id: Uuid) -> ApiResult<Organization> {
    Organization::find(conn, id).await?.ok_or(ApiError::NotFound)
}

/// Organizations by id (all when `ids` is `None`), by name, at most `limit`.
pub async fn list(conn: &mut AsyncPgConnection, ids: Option<&[Uuid]>, limit: usize) -> ApiResult<Vec<Organization>> {
    Ok(Organization::list(conn, ids, i64::try_from(limit).unwrap_or(i64::MAX)).await?)
}

/// Changes to an organization. Billing details need `organization.billing.update` on top of the
/// settings permission.
#[derive(Debug, Clone, Default)]
pub struct OrganizationUpdate {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New billing contact (`Some(None)` clears it).
    pub billing_email: Option<Option<String>>,
    /// New billing company.
    pub billing_company: Option<Option<String>>,
    /// New billing plan.
    pub billing_plan: Option<Option<String>>,
}

impl OrganizationUpdate {
    fn touches_billing(&self) -> bool {
        self.billing_email.is_some() || self.billing_company.is_some() || self.billing_plan.is_some()
    }
}

fn optional_text(field: &str, value: Option<Option<String>>, max: usize) -> ApiResult<Option<Option<String>>> {
    value.map(|inner| inner.map(|text| validate::label(field, &text, max)).transpose()).transpose()
}

/// Applies `update` to organization `id`.
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    update: OrganizationUpdate,
    authority: &Authority,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<Organization> {
    let changes = OrganizationChanges {
        name: update.name.as_deref().map(|n| validate::label("payload.name", n, validate::MAX_LABEL)).transpose()?,
        description: update
            .description
            .as_deref()
            .map(|d| validate::description("payload.description", d))
            .transpose()?,
        billing_email: update
            .billing_email
            .clone()
            .map(|email| email.map(|e| validate::email("payload.billingEmail", &e)).transpose())
            .transpose()?,
        billing_company: optional_text("payload.billingCompany", update.billing_company.clone(), validate::MAX_LABEL)?,
        billing_plan: optional_text("payload.billingPlan", update.billing_plan.clone(), 64)?,
        updated_at: Some(now),
    };
    if update.touches_billing() {
        authority.require(conn, &[Permission::OrganizationBillingUpdate], ScopeRef::Organization(id)).await?;
    }
    conn.transaction(async |tx| {
        let before = Organization::find_for_update(tx, id).await?.ok_or(ApiError::NotFound)?;
        let after = Organization::update(tx, id, &changes).await.map_err(name_conflict)?;
        audit::record(
            tx,
            actor,
            Change {
                action: "organization.update",
                target_type: "organization",
                target_id: Some(id),
                organization_id: Some(id),
                before: Some(snapshot(&before)),
                after: Some(snapshot(&after)),
                ..Change::default()
            },
        )
        .await?;
        Ok(after)
    })
    .await
}

/// A page of an organization's members with their roles, by username, after `after` (`(username,
/// id)`); `limit + 1` rows are read so that the caller can tell whether another page follows.
pub async fn members(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    after: Option<(String, Uuid)>,
    limit: usize,
) -> ApiResult<Vec<(User, Role)>> {
    let rows = RoleBindingRow::organization_members(
        conn,
        organization_id,
        after,
        i64::try_from(limit + 1).unwrap_or(i64::MAX),
    )
    .await?;
    Ok(rows.into_iter().filter_map(|(user, role)| Some((user, role.parse().ok()?))).collect())
}

/// How many users hold a role directly on the organization.
pub async fn member_count(conn: &mut AsyncPgConnection, organization_id: Uuid) -> ApiResult<i64> {
    Ok(RoleBindingRow::count_users_in_organization(conn, organization_id, None).await?)
}

/// What `organizationInviteUser` did.
#[derive(Debug)]
pub enum InviteOutcome {
    /// The person had an account and now holds this role.
    Added(Role),
    /// The person has no account yet: an invite was mailed.
    Invited(Box<CreatedInvite>),
}

/// Gives a person a role in the organization (default ORGANIZATION_MEMBER): at once if they have an
/// account, otherwise by an invite mailed to them. An existing member is CONFLICT.
#[allow(clippy::too_many_arguments)] // the organization, the person, the role, and who does it how
pub async fn invite_user(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    email: &str,
    role: Role,
    authority: &Authority,
    settings: &InviteSettings,
    actor: &Actor,
) -> ApiResult<InviteOutcome> {
    let email = validate::email("email", email)?;
    let role = organization_role("role", role)?;
    authority.require_grantable(conn, role, ScopeRef::Organization(organization_id)).await?;
    conn.transaction(async |tx| {
        let organization = Organization::find_for_update(tx, organization_id).await?.ok_or(ApiError::NotFound)?;
        let Some(user) = User::find_by_email(tx, &email).await? else {
            let created = invites::insert_and_mail(
                tx,
                NewInvite {
                    id: Uuid::now_v7(),
                    email: email.clone(),
                    scope: Scope::Organization.as_str(),
                    organization_id: Some(organization_id),
                    workspace_id: None,
                    role: Some(role.as_str().to_owned()),
                    deployment_roles: json!([]),
                    token_hash: Vec::new(),
                    expires_at: settings.now + settings.expiry,
                    invited_by: actor.user_id,
                },
                &format!("the organization \"{}\"", organization.name),
                settings,
            )
            .await?;
            audit::record(
                tx,
                actor,
                Change {
                    action: "invite.create",
                    target_type: "invite",
                    target_id: Some(created.invite.id),
                    organization_id: Some(organization_id),
                    after: Some(invites::snapshot(&created.invite)),
                    ..Change::default()
                },
            )
            .await?;
            return Ok(InviteOutcome::Invited(Box::new(created)));
        };
        if RoleBindingRow::user_in_organization_for_update(tx, organization_id, user.id).await?.is_some() {
            return Err(ApiError::conflict("This user is already a member of the organization"));
        }
        let granted = join(tx, &organization, user.id, Some(role), actor.user_id).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "organization.user.add",
                target_type: "user",
                target_id: Some(user.id),
                organization_id: Some(organization_id),
                after: Some(json!({"userId": user.id, "role": granted.as_str()})),
                ..Change::default()
            },
        )
        .await?;
        Ok(InviteOutcome::Added(granted))
    })
    .await
}

/// Refuses (CONFLICT) taking ORGANIZATION_OWNER from `current` when no other user holds it directly.
async fn keep_one_owner(tx: &mut AsyncPgConnection, organization_id: Uuid, current: &RoleBindingRow) -> ApiResult<()> {
    if current.role != Role::OrganizationOwner.as_str() {
        return Ok(());
    }
    let owners =
        RoleBindingRow::count_users_in_organization(tx, organization_id, Some(Role::OrganizationOwner.as_str()))
            .await?;
    if owners <= 1 {
        return Err(ApiError::conflict("An organization must keep at least one ORGANIZATION_OWNER"));
    }
    Ok(())
}

/// Changes a member's organization role; returns the new role.
pub async fn update_user_role(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    user_id: Uuid,
    role: Role,
    authority: &Authority,
    actor: &Actor,
) -> ApiResult<Role> {
    let role = organization_role("role", role)?;
    authority.require_grantable(conn, role, ScopeRef::Organization(organization_id)).await?;
    conn.transaction(async |tx| {
        Organization::find_for_update(tx, organization_id).await?.ok_or(ApiError::NotFound)?;
        let current = RoleBindingRow::user_in_organization_for_update(tx, organization_id, user_id)
            .await?
            .ok_or(ApiError::NotFound)?;
        let held: Role = current.role.parse().map_err(ApiError::internal)?;
        // Taking a role away needs the same authority as granting it.
        authority.require_grantable(tx, held, ScopeRef::Organization(organization_id)).await?;
        if held == role {
            return Ok(role);
        }
        if role != Role::OrganizationOwner {
            keep_one_owner(tx, organization_id, &current).await?;
        }
        RoleBindingRow::set_role(tx, current.id, role.as_str()).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "organization.user.updateRole",
                target_type: "user",
                target_id: Some(user_id),
                organization_id: Some(organization_id),
                before: Some(json!({"role": held.as_str()})),
                after: Some(json!({"role": role.as_str()})),
                ..Change::default()
            },
        )
        .await?;
        Ok(role)
    })
    .await
}

/// Removes a member from the organization, with their roles on its workspaces and deployments and their
/// places in its teams. The last owner cannot be removed (CONFLICT).
pub async fn remove_user(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    user_id: Uuid,
    authority: &Authority,
    actor: &Actor,
) -> ApiResult<Organization> {
    conn.transaction(async |tx| {
        let organization = Organization::find_for_update(tx, organization_id).await?.ok_or(ApiError::NotFound)?;
        let current = RoleBindingRow::user_in_organization_for_update(tx, organization_id, user_id)
            .await?
            .ok_or(ApiError::NotFound)?;
        let held: Role = current.role.parse().map_err(ApiError::internal)?;
        authority.require_grantable(tx, held, ScopeRef::Organization(organization_id)).await?;
        keep_one_owner(tx, organization_id, &current).await?;
        // Every workspace keeps a direct admin: a user who is the only one somewhere in the organization
        // must hand that role over first.
        let sole = RoleBindingRow::workspaces_where_sole_admin(tx, user_id).await?;
        let sole_here = crate::db::models::workspace::Workspace::list(tx, Some(&sole), i64::MAX)
            .await?
            .into_iter()
            .any(|w| w.organization_id == organization_id);
        if sole_here {
            return Err(ApiError::conflict(
                "This user is the only WORKSPACE_ADMIN of a workspace of the organization; give that role to someone else first",
            ));
        }
        RoleBindingRow::delete(tx, current.id).await?;
        let below = RoleBindingRow::delete_user_roles_below_organization(tx, organization_id, user_id).await?;
        let teams = Team::remove_member_everywhere_in(tx, organization_id, user_id).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "organization.user.remove",
                target_type: "user",
                target_id: Some(user_id),
                organization_id: Some(organization_id),
                before: Some(json!({"role": held.as_str()})),
                after: Some(json!({"workspaceAndDeploymentRolesRemoved": below, "teamsLeft": teams})),
                ..Change::default()
            },
        )
        .await?;
        Ok(organization)
    })
    .await
}

/// Turns a pending organization invite into membership for `user_id` (caller's transaction).
pub async fn apply_invite(tx: &mut AsyncPgConnection, invite: &Invite, user_id: Uuid) -> ApiResult<()> {
    let (Some(organization_id), Some(role)) =
        (invite.organization_id, invite.role.as_deref().and_then(|r| r.parse::<Role>().ok()))
    else {
        return Ok(());
    };
    let organization = Organization::find_for_update(tx, organization_id).await?.ok_or(ApiError::NotFound)?;
    if RoleBindingRow::user_in_organization_for_update(tx, organization_id, user_id).await?.is_none() {
        join(tx, &organization, user_id, Some(role), invite.invited_by).await?;
    }
    Ok(())
}
