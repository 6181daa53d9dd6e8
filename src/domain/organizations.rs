//! Organizations and their membership (SPEC §1–§2).
//!
//! Membership itself (the founders' rule, keeping an owner, removals that stick) is decided in
//! `crate::domain::memberships`, the one grant path; this module validates and records.

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::json;
use uuid::Uuid;

use crate::db::models::invite::NewInvite;
use crate::db::models::organization::{Organization, OrganizationChanges};
use crate::db::models::role_binding::RoleBindingRow;
use crate::db::models::user::User;
use crate::domain::audit::{self, Change};
use crate::domain::invites::{self, CreatedInvite, InviteSettings};
use crate::domain::memberships::{self, Grantor, Join};
use crate::domain::{Actor, Authority, validate};
use crate::error::{ApiError, ApiResult};
use crate::rbac::{Permission, Role, Scope, ScopeRef};

pub use crate::db::models::organization::Organization as OrganizationRow;

/// Name given to the organization the first user creates.
pub const DEFAULT_ORGANIZATION_NAME: &str = "Default Organization";

/// How many of an organization's first joins become owners (SPEC §1).
pub use crate::domain::memberships::FOUNDING_OWNERS;

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
        // The creator is the organization's first join: the founders' rule makes them its owner.
        memberships::join_organization(tx, &Grantor::Rule, &organization, creator, Join::Founders(None), Some(creator))
            .await?;
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

/// What `organizationInviteUser` did: an invite was mailed (SPEC §2: adding a person who is not yet a
/// member always goes through an invite they accept, whether or not the address has an account).
#[derive(Debug)]
pub enum InviteOutcome {
    /// The invite mailed to the address.
    Invited(Box<CreatedInvite>),
}

/// Invites a person to the organization with `role` (default ORGANIZATION_MEMBER): an invite is mailed
/// whether or not the address has an account (the answer does not tell who is registered), and an
/// existing account accepts it with `acceptInvite`. An address of a member already is CONFLICT (SPEC
/// §4.4). The grant rule is checked against the inviter now, and again when the invite is accepted.
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
        let organization = memberships::lock_organization(tx, organization_id).await?;
        memberships::check_grant(tx, &Grantor::Caller(authority), role, ScopeRef::Organization(organization_id))
            .await?;
        if let Some(user) = User::find_by_email(tx, &email).await? {
            if RoleBindingRow::user_in_organization_for_update(tx, organization_id, user.id).await?.is_some() {
                return Err(ApiError::conflict("This user is already a member of the organization"));
            }
        }
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
                invited_by_service_account_id: actor.service_account_id,
                custom_role_id: None,
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
                after: Some(invites::snapshot(&created.invite, None, &[])),
                ..Change::default()
            },
        )
        .await?;
        Ok(InviteOutcome::Invited(Box::new(created)))
    })
    .await
}

/// Changes a member's organization role; returns the new role. Taking a role away needs the same
/// authority as granting it; the organization keeps an owner (CONFLICT).
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
        let (held, role) =
            memberships::set_organization_role(tx, &Grantor::Caller(authority), organization_id, user_id, role).await?;
        if held == role {
            return Ok(role);
        }
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
/// places in its teams; the removal sticks (no domain join brings them back). The last owner, or the
/// only admin of one of its workspaces, cannot be removed (CONFLICT).
pub async fn remove_user(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    user_id: Uuid,
    authority: &Authority,
    actor: &Actor,
) -> ApiResult<Organization> {
    remove_user_by(conn, organization_id, user_id, &Grantor::Caller(authority), actor).await
}

/// [`remove_user`] by any grantor (SCIM deletion passes its provisioning client).
pub async fn remove_user_by(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    user_id: Uuid,
    grantor: &Grantor<'_>,
    actor: &Actor,
) -> ApiResult<Organization> {
    conn.transaction(async |tx| {
        let removed = memberships::remove_from_organization(tx, grantor, organization_id, user_id).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "organization.user.remove",
                target_type: "user",
                target_id: Some(user_id),
                organization_id: Some(organization_id),
                before: Some(json!({"role": removed.role.as_str()})),
                after: Some(
                    json!({"workspaceAndDeploymentRolesRemoved": removed.roles_below, "teamsLeft": removed.teams_left}),
                ),
                ..Change::default()
            },
        )
        .await?;
        Ok(removed.organization)
    })
    .await
}
