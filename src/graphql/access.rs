//! Access: the matrix as data (`roles`, `can`, `explainPermission`), users, invites, system role
//! bindings, the mail outbox.

use async_graphql::{Context, Object, Result};

use crate::domain::{custom_roles, invites, system_roles, users};
use crate::error::ApiError;
use crate::graphql::authz::{AcceptedInvite, Member, Op, access};
use crate::graphql::context::{actor, conn, principal, state};
use crate::graphql::scalars::Uuid;
use crate::graphql::types::invite::{Invite, MailMessage};
use crate::graphql::types::rbac::{CustomRole, PermissionExplanation, RoleDefinition};
use crate::graphql::types::user::{RoleBinding, User};
use crate::graphql::workspaces::{InviteSearch, UserSearch, invite_settings};
use crate::rbac::{Ancestry, Permission, Role, Scope, ScopeRef};

/// Access queries.
#[derive(Default)]
pub struct AccessQuery;

fn parse_permission(text: &str) -> Result<Permission, ApiError> {
    text.parse()
        .map_err(|_| ApiError::bad_input("permission", format!("{text:?} is not a permission (see the roles query)")))
}

/// The object a permission of `permission`'s scope is checked against, named by `scope_id`.
fn scope_object(permission: Permission, scope_id: Option<Uuid>) -> ScopeRef {
    match (permission.scope(), scope_id.and_then(Uuid::get)) {
        (Scope::Organization, Some(id)) => ScopeRef::Organization(id),
        (Scope::Workspace, Some(id)) => ScopeRef::Workspace(id),
        (Scope::Deployment, Some(id)) => ScopeRef::Deployment(id),
        _ => ScopeRef::System,
    }
}

/// The caller's decision on `permission` over the object `scope_id` names, granted only on an object
/// that is live: a binding on a deleted deployment (a soft delete keeps its bindings and ancestry) would
/// otherwise say "granted" where every operation answers NOT_FOUND. The object is looked up only when the
/// bindings grant the permission, so a caller refused anyway learns nothing about it.
async fn decide_live(
    ctx: &Context<'_>,
    permission: Permission,
    scope_id: Option<Uuid>,
) -> Result<crate::rbac::check::Decision, ApiError> {
    let object = scope_object(permission, scope_id);
    let decision = access(ctx)?.decide(permission, object).await?;
    if !decision.granted || object == ScopeRef::System {
        return Ok(decision);
    }
    let mut conn = conn(ctx).await?;
    if crate::db::models::workspace::is_live(&mut conn, object).await? {
        return Ok(decision);
    }
    let kind = object.scope().as_str().to_lowercase();
    Ok(crate::rbac::check::Decision {
        granted: false,
        grant: None,
        explanation: format!("no live {kind} has this id, so nothing is granted on it"),
    })
}

#[Object(guard = "Op")]
impl AccessQuery {
    /// Every role and its permissions: the matrix in force; with `organizationUuid`, the organization's
    /// custom roles too (docs/custom-roles.md).
    async fn roles(&self, ctx: &Context<'_>, organization_uuid: Option<Uuid>) -> Result<Vec<RoleDefinition>> {
        let matrix = &state(ctx)?.matrix;
        let mut roles: Vec<RoleDefinition> = Role::ALL
            .into_iter()
            .filter(|role| !role.is_custom())
            .map(|role| RoleDefinition {
                role,
                name: role.as_str().to_owned(),
                custom_role_id: None,
                scope: role.scope(),
                permissions: matrix.permissions_of(role).map(|p| p.as_str().to_owned()).collect(),
            })
            .collect();
        if let Some(organization) = organization_uuid.and_then(Uuid::get) {
            for role in readable_custom_roles(ctx, organization).await? {
                roles.push(RoleDefinition {
                    role: role.marker(),
                    name: role.row.name.clone(),
                    custom_role_id: Some(role.row.id.into()),
                    scope: Some(role.scope()),
                    permissions: role.permissions.iter().map(|p| p.as_str().to_owned()).collect(),
                });
            }
        }
        Ok(roles)
    }

    /// The custom roles of an organization (docs/custom-roles.md), workspace roles first, then by name.
    async fn custom_roles(&self, ctx: &Context<'_>, organization_uuid: Uuid) -> Result<Vec<CustomRole>> {
        let organization = organization_uuid.required("organizationUuid")?;
        Ok(readable_custom_roles(ctx, organization).await?.into_iter().map(CustomRole::from).collect())
    }

    /// The built-in roles of `scope` (WORKSPACE or DEPLOYMENT) with their permissions under the matrix in
    /// force: templates to start a custom role from.
    async fn role_templates(&self, ctx: &Context<'_>, scope: Scope) -> Result<Vec<RoleDefinition>> {
        let matrix = &state(ctx)?.matrix;
        Ok(custom_roles::templates(matrix, scope)?
            .into_iter()
            .map(|(role, permissions)| RoleDefinition {
                role,
                name: role.as_str().to_owned(),
                custom_role_id: None,
                scope: role.scope(),
                permissions: permissions.into_iter().map(|p| p.as_str().to_owned()).collect(),
            })
            .collect())
    }

    /// Whether the caller holds `permission` on the object `scopeId` (an organization, workspace or
    /// deployment id, as the permission's scope says; ignored for `system.*`).
    ///
    /// An object that does not exist, or a deployment that was deleted, grants nothing: `false`, as every
    /// operation on it is refused.
    async fn can(&self, ctx: &Context<'_>, permission: String, scope_id: Option<Uuid>) -> Result<bool> {
        let permission = parse_permission(&permission)?;
        Ok(decide_live(ctx, permission, scope_id).await?.granted)
    }

    /// Which of the caller's bindings grants `permission` on `scopeId`, or why none does (nothing is
    /// granted on an object that does not exist or a deleted deployment, as for `can`).
    async fn explain_permission(
        &self,
        ctx: &Context<'_>,
        permission: String,
        scope_id: Option<Uuid>,
    ) -> Result<PermissionExplanation> {
        let parsed = parse_permission(&permission)?;
        let decision = decide_live(ctx, parsed, scope_id).await?;
        Ok(PermissionExplanation {
            permission,
            granted: decision.granted,
            role: decision.grant.as_ref().map(|g| g.role),
            binding_id: decision.grant.as_ref().map(|g| g.binding.id.into()),
            team_id: decision.grant.as_ref().and_then(|g| g.binding.via_team).map(Uuid::from),
            explanation: decision.explanation,
        })
    }

    /// Users of the installation, optionally filtered.
    async fn users(&self, ctx: &Context<'_>, user: Option<UserSearch>) -> Result<Vec<User>> {
        let mut conn = conn(ctx).await?;
        let rows = users::search(&mut conn, &user.into(), state(ctx)?.config.list_cap).await?;
        drop(conn);
        let members = rows.into_iter().map(|user| Member { user, via: Ancestry::SYSTEM }).collect();
        User::list(ctx, access(ctx)?.admit_all(members).await?).await
    }

    /// Pending invites of the installation, optionally filtered.
    async fn invites(&self, ctx: &Context<'_>, invite: Option<InviteSearch>) -> Result<Vec<Invite>> {
        let search = invite.unwrap_or_default();
        let filter = invites::Filter {
            workspace_id: None,
            invite_id: search.invite_uuid.and_then(Uuid::get),
            email: search.email.filter(|e| !e.trim().is_empty()),
        };
        let mut conn = conn(ctx).await?;
        let rows = invites::list(&mut conn, &filter, state(ctx)?.config.list_cap).await?;
        drop(conn);
        Ok(access(ctx)?.admit_all(rows).await?.into_iter().map(Invite::listed).collect())
    }

    /// Outgoing mail, newest first (with no SMTP configured, messages stay here). It holds invite
    /// tokens, so it needs `system.user.invite`.
    async fn mail_outbox(&self, ctx: &Context<'_>) -> Result<Vec<MailMessage>> {
        let mut conn = conn(ctx).await?;
        let rows = invites::outbox(&mut conn, state(ctx)?.config.list_cap).await?;
        drop(conn);
        let bytes = rows.iter().map(|row| row.recipient.len() + row.subject.len() + row.body_text.len()).sum();
        access(ctx)?.charge_items(rows.len(), bytes)?;
        Ok(rows.into_iter().map(MailMessage::from).collect())
    }
}

/// The custom roles of `organization` the caller may read.
async fn readable_custom_roles(
    ctx: &Context<'_>,
    organization: uuid::Uuid,
) -> Result<Vec<crate::graphql::authz::Readable<custom_roles::CustomRole>>, ApiError> {
    let mut conn = conn(ctx).await?;
    let rows = custom_roles::list(&mut conn, organization, state(ctx)?.config.list_cap).await?;
    drop(conn);
    access(ctx)?.admit_all(rows).await
}

/// Access mutations.
#[derive(Default)]
pub struct AccessMutation;

#[Object(guard = "Op")]
impl AccessMutation {
    /// Defines a custom workspace or deployment role of an organization (docs/custom-roles.md) from
    /// permission strings of its scope (BAD_USER_INPUT naming `permissions` otherwise). The caller must
    /// hold every one of them on every workspace (deployment) of the organization (grant rule). CONFLICT
    /// if the organization has a role of that scope and name.
    async fn create_custom_role(
        &self,
        ctx: &Context<'_>,
        organization_uuid: Uuid,
        scope: Scope,
        name: String,
        permissions: Vec<String>,
        description: Option<String>,
    ) -> Result<CustomRole> {
        let organization = organization_uuid.required("organizationUuid")?;
        let authority = access(ctx)?.authority()?;
        let new = custom_roles::NewRole { organization_id: organization, scope, name, permissions, description };
        let mut conn = conn(ctx).await?;
        let role = custom_roles::create(&mut conn, &authority, new, &actor(ctx)).await?;
        drop(conn);
        Ok(CustomRole::from(access(ctx)?.admit_one(role).await?))
    }

    /// Changes a custom role: its name, its permissions (the whole list) or its description (an empty
    /// one clears it). Every holder gets the new permissions at once. The caller must be able to grant
    /// what it held and what it will hold.
    async fn update_custom_role(
        &self,
        ctx: &Context<'_>,
        custom_role_uuid: Uuid,
        name: Option<String>,
        permissions: Option<Vec<String>>,
        description: Option<String>,
    ) -> Result<CustomRole> {
        let id = custom_role_uuid.required("customRoleUuid")?;
        let authority = access(ctx)?.authority()?;
        let change = custom_roles::RoleUpdate {
            name,
            permissions,
            description: description.map(|text| Some(text).filter(|t| !t.trim().is_empty())),
        };
        let now = state(ctx)?.clock.now();
        let mut conn = conn(ctx).await?;
        let role = custom_roles::update(&mut conn, &authority, id, change, now, &actor(ctx)).await?;
        drop(conn);
        Ok(CustomRole::from(access(ctx)?.admit_one(role).await?))
    }

    /// Deletes a custom role; CONFLICT while a binding or a pending invite holds it.
    async fn delete_custom_role(&self, ctx: &Context<'_>, custom_role_uuid: Uuid) -> Result<CustomRole> {
        let id = custom_role_uuid.required("customRoleUuid")?;
        let authority = access(ctx)?.authority()?;
        let mut conn = conn(ctx).await?;
        let role = custom_roles::delete(&mut conn, &authority, id, &actor(ctx)).await?;
        drop(conn);
        Ok(CustomRole::from(access(ctx)?.admit_one(role).await?))
    }

    /// Invites a person to sign up. The token is only mailed (SPEC §4.4), never returned.
    async fn invite_user(&self, ctx: &Context<'_>, email: String) -> Result<Invite> {
        let settings = invite_settings(state(ctx)?);
        let mut conn = conn(ctx).await?;
        let created = invites::invite_to_system(&mut conn, &email, &settings, &actor(ctx)).await?;
        drop(conn);
        Ok(Invite::listed(access(ctx)?.admit_one(created.invite).await?))
    }

    /// Withdraws an invite: needs what making it needed — IAM rights on the invite's workspace
    /// (`workspace.iam.update`) for a workspace invite, `organization.users.invite` for an organization's,
    /// or system IAM rights for any. With `workspaceUuid`, the invite must belong to that workspace (else
    /// NOT_FOUND).
    async fn delete_invite_token(
        &self,
        ctx: &Context<'_>,
        invite_uuid: Uuid,
        workspace_uuid: Option<Uuid>,
    ) -> Result<Invite> {
        let id = invite_uuid.required("inviteUuid")?;
        let mut conn = conn(ctx).await?;
        let deleted = invites::delete(&mut conn, id, workspace_uuid.and_then(Uuid::get), &actor(ctx)).await?;
        drop(conn);
        Ok(Invite::listed(access(ctx)?.admit_one(deleted).await?))
    }

    /// Accepts an invite sent to one of the caller's email addresses.
    async fn accept_invite(&self, ctx: &Context<'_>, token: String) -> Result<Invite> {
        let caller = principal(ctx);
        let by = caller.user()?.user.id;
        let now = state(ctx)?.clock.now();
        let mut conn = conn(ctx).await?;
        let matrix = state(ctx)?.matrix.clone();
        let invite = invites::accept(&mut conn, &token, by, &matrix, now, &actor(ctx)).await?;
        drop(conn);
        // The caller now holds the invite's role: the rest of the response reads with it.
        let access = access(ctx)?;
        access.reload().await?;
        Ok(Invite::listed(access.admit_one(AcceptedInvite { invite, by }).await?.into_invite()))
    }

    /// Gives a user a system role (replacing the one it holds).
    async fn create_system_role_binding(&self, ctx: &Context<'_>, user_id: Uuid, role: Role) -> Result<RoleBinding> {
        let user = user_id.required("userId")?;
        let authority = access(ctx)?.authority()?;
        let mut conn = conn(ctx).await?;
        let binding = system_roles::grant(&mut conn, user, role, &authority, &actor(ctx)).await?;
        drop(conn);
        Ok(RoleBinding::from(access(ctx)?.admit_one(binding).await?))
    }

    /// Takes a system role from a user.
    async fn delete_system_role_binding(&self, ctx: &Context<'_>, user_id: Uuid, role: Role) -> Result<RoleBinding> {
        let user = user_id.required("userId")?;
        let authority = access(ctx)?.authority()?;
        let mut conn = conn(ctx).await?;
        let binding = system_roles::revoke(&mut conn, user, role, &authority, &actor(ctx)).await?;
        drop(conn);
        Ok(RoleBinding::from(access(ctx)?.admit_one(binding).await?))
    }

    /// Deletes a user account.
    async fn remove_user(&self, ctx: &Context<'_>, user_uuid: Uuid) -> Result<User> {
        let user = user_uuid.required("userUuid")?;
        let now = state(ctx)?.clock.now();
        let mut conn = conn(ctx).await?;
        let removed = system_roles::remove_user(&mut conn, user, now, &actor(ctx)).await?;
        drop(conn);
        let member = Member { user: removed, via: Ancestry::SYSTEM };
        Ok(User::from(access(ctx)?.admit_one(member).await?))
    }
}
