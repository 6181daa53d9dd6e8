//! Access: the matrix as data (`roles`, `can`, `explainPermission`), users, invites, system role
//! bindings, the mail outbox.

use async_graphql::{Context, Object, Result};

use crate::domain::{invites, system_roles, users};
use crate::error::ApiError;
use crate::graphql::context::{actor, conn, principal, state};
use crate::graphql::guards::{Perm, SignedIn, Target, absent, authority, authorize};
use crate::graphql::scalars::Uuid;
use crate::graphql::types::invite::{Invite, MailMessage};
use crate::graphql::types::rbac::{PermissionExplanation, RoleDefinition};
use crate::graphql::types::user::{RoleBinding, User};
use crate::graphql::workspaces::{InviteSearch, UserSearch, invite_settings};
use crate::rbac::{Permission, Role, check};

/// Access queries.
#[derive(Default)]
pub struct AccessQuery;

fn parse_permission(text: &str) -> Result<Permission, ApiError> {
    text.parse()
        .map_err(|_| ApiError::bad_input("permission", format!("{text:?} is not a permission (see the roles query)")))
}

#[Object]
impl AccessQuery {
    /// Every role and its permissions: the matrix in force.
    #[graphql(guard = "SignedIn")]
    async fn roles(&self, ctx: &Context<'_>) -> Result<Vec<RoleDefinition>> {
        let matrix = &state(ctx)?.matrix;
        Ok(Role::ALL
            .into_iter()
            .map(|role| RoleDefinition {
                role,
                scope: role.scope(),
                permissions: matrix.permissions_of(role).map(|p| p.as_str().to_owned()).collect(),
            })
            .collect())
    }

    /// Whether the caller holds `permission` on the object `scopeId` (ignored for `system.*`).
    #[graphql(guard = "SignedIn")]
    async fn can(&self, ctx: &Context<'_>, permission: String, scope_id: Option<Uuid>) -> Result<bool> {
        let permission = parse_permission(&permission)?;
        let bindings = principal(ctx).bindings()?;
        Ok(check::decide(bindings, &state(ctx)?.matrix, permission, scope_id.and_then(Uuid::get)).granted)
    }

    /// Which of the caller's bindings grants `permission` on `scopeId`, or why none does.
    #[graphql(guard = "SignedIn")]
    async fn explain_permission(
        &self,
        ctx: &Context<'_>,
        permission: String,
        scope_id: Option<Uuid>,
    ) -> Result<PermissionExplanation> {
        let parsed = parse_permission(&permission)?;
        let bindings = principal(ctx).bindings()?;
        let decision = check::decide(bindings, &state(ctx)?.matrix, parsed, scope_id.and_then(Uuid::get));
        Ok(PermissionExplanation {
            permission,
            granted: decision.granted,
            role: decision.binding.as_ref().map(|b| b.role),
            binding_id: decision.binding.as_ref().map(|b| b.id.into()),
            explanation: decision.explanation,
        })
    }

    /// Users of the installation, optionally filtered.
    #[graphql(guard = "Perm::system(Permission::SystemUsersGet)")]
    async fn users(&self, ctx: &Context<'_>, user: Option<UserSearch>) -> Result<Vec<User>> {
        let mut conn = conn(ctx).await?;
        let rows = users::search(&mut conn, &user.into(), state(ctx)?.config.list_cap).await?;
        Ok(rows.into_iter().map(User).collect())
    }

    /// Pending invites of the installation, optionally filtered.
    #[graphql(guard = "Perm::system(Permission::SystemInvitesGet)")]
    async fn invites(&self, ctx: &Context<'_>, invite: Option<InviteSearch>) -> Result<Vec<Invite>> {
        let search = invite.unwrap_or_default();
        let filter = invites::Filter {
            workspace_id: None,
            invite_id: search.invite_uuid.and_then(Uuid::get),
            email: search.email.filter(|e| !e.trim().is_empty()),
        };
        let mut conn = conn(ctx).await?;
        let rows = invites::list(&mut conn, &filter, state(ctx)?.config.list_cap).await?;
        Ok(rows.into_iter().map(Invite::listed).collect())
    }

    /// Outgoing mail, newest first (with no SMTP configured, messages stay here).
    #[graphql(guard = "Perm::system(Permission::SystemUserInvite)")]
    async fn mail_outbox(&self, ctx: &Context<'_>) -> Result<Vec<MailMessage>> {
        let mut conn = conn(ctx).await?;
        let rows = invites::outbox(&mut conn, state(ctx)?.config.list_cap).await?;
        Ok(rows.into_iter().map(MailMessage::from).collect())
    }
}

/// Access mutations.
#[derive(Default)]
pub struct AccessMutation;

#[Object]
impl AccessMutation {
    /// Invites a person to sign up. The token is returned once and mailed.
    #[graphql(guard = "Perm::system(Permission::SystemUserInvite)")]
    async fn invite_user(&self, ctx: &Context<'_>, email: String) -> Result<Invite> {
        let settings = invite_settings(state(ctx)?);
        let mut conn = conn(ctx).await?;
        Ok(Invite::created(invites::invite_to_system(&mut conn, &email, &settings, &actor(ctx)).await?))
    }

    /// Withdraws an invite: needs IAM rights on the invite's workspace, or system IAM rights. With
    /// `workspaceUuid`, the invite must belong to that workspace (else NOT_FOUND).
    #[graphql(guard = "SignedIn")]
    async fn delete_invite_token(
        &self,
        ctx: &Context<'_>,
        invite_uuid: Uuid,
        workspace_uuid: Option<Uuid>,
    ) -> Result<Invite> {
        let id = invite_uuid.required("inviteUuid")?;
        let named_workspace = workspace_uuid.and_then(Uuid::get);
        let mut conn = conn(ctx).await?;
        // The permission is checked on the workspace named, or else on the invite's own workspace.
        let target = match named_workspace {
            Some(workspace) => Some(workspace),
            None => match invites::get(&mut conn, id).await {
                Ok(invite) => invite.workspace_id,
                // Only those who could delete any invite learn that this one does not exist.
                Err(ApiError::NotFound) => return Err(absent(ctx, Permission::SystemIamUpdate).into()),
                Err(other) => return Err(other.into()),
            },
        };
        authorize(ctx, &[Permission::WorkspaceIamUpdate, Permission::SystemIamUpdate], Target::Object(target))?;
        Ok(Invite::listed(invites::delete(&mut conn, id, named_workspace, &actor(ctx)).await?))
    }

    /// Accepts an invite sent to one of the caller's email addresses.
    #[graphql(guard = "SignedIn")]
    async fn accept_invite(&self, ctx: &Context<'_>, token: String) -> Result<Invite> {
        let caller = principal(ctx).user()?;
        let now = state(ctx)?.clock.now();
        let mut conn = conn(ctx).await?;
        Ok(Invite::listed(invites::accept(&mut conn, &token, caller.user.id, now, &actor(ctx)).await?))
    }

    /// Gives a user a system role (replacing the one it holds).
    #[graphql(guard = "Perm::system(Permission::SystemIamUpdate)")]
    async fn create_system_role_binding(&self, ctx: &Context<'_>, user_id: Uuid, role: Role) -> Result<RoleBinding> {
        let user = user_id.required("userId")?;
        let mut conn = conn(ctx).await?;
        Ok(RoleBinding(system_roles::grant(&mut conn, user, role, authority(ctx)?, &actor(ctx)).await?))
    }

    /// Takes a system role from a user.
    #[graphql(guard = "Perm::system(Permission::SystemIamUpdate)")]
    async fn delete_system_role_binding(&self, ctx: &Context<'_>, user_id: Uuid, role: Role) -> Result<RoleBinding> {
        let user = user_id.required("userId")?;
        let mut conn = conn(ctx).await?;
        Ok(RoleBinding(system_roles::revoke(&mut conn, user, role, authority(ctx)?, &actor(ctx)).await?))
    }

    /// Deletes a user account.
    #[graphql(guard = "Perm::system(Permission::SystemUserDelete)")]
    async fn remove_user(&self, ctx: &Context<'_>, user_uuid: Uuid) -> Result<User> {
        let user = user_uuid.required("userUuid")?;
        let now = state(ctx)?.clock.now();
        let mut conn = conn(ctx).await?;
        Ok(User(system_roles::remove_user(&mut conn, user, now, &actor(ctx)).await?))
    }
}
