//! Workspace queries and mutations, with Houston's names and arguments.

use async_graphql::{Context, InputObject, Json, Object, Result};
use chrono::Duration;

use crate::domain::invites;
use crate::domain::invites::InviteSettings;
use crate::domain::users::UserFilter;
use crate::domain::workspaces::{self, DeploymentRoleRequest, WorkspaceUpdate};
use crate::error::ApiError;
use crate::graphql::context::{actor, conn, principal, state};
use crate::graphql::guards::{Perm, SignedIn, Target, authority, authorize, caller_organization};
use crate::graphql::payload::Payload;
use crate::graphql::scalars::{Id, Uuid};
use crate::graphql::types::invite::Invite;
use crate::graphql::types::user::User;
use crate::graphql::types::workspace::Workspace;
use crate::rbac::{Permission, Role, check};
use crate::state::AppState;

/// Houston's `UserSearch`: every field optional; empty strings are ignored.
#[derive(InputObject, Default)]
pub struct UserSearch {
    /// Exact user id.
    pub user_id: Option<Id>,
    /// Username (case-insensitive substring).
    pub username: Option<String>,
    /// Email address (case-insensitive substring).
    pub email: Option<String>,
    /// Display name (case-insensitive substring).
    pub full_name: Option<String>,
}

fn non_empty(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

impl From<Option<UserSearch>> for UserFilter {
    fn from(search: Option<UserSearch>) -> Self {
        let search = search.unwrap_or_default();
        UserFilter {
            user_id: search.user_id.and_then(Id::get),
            username: non_empty(search.username),
            email: non_empty(search.email),
            full_name: non_empty(search.full_name),
        }
    }
}

/// Invite search; empty fields are ignored.
#[derive(InputObject, Default)]
pub struct InviteSearch {
    /// Exact invite id.
    pub invite_uuid: Option<Uuid>,
    /// Invited address.
    pub email: Option<String>,
}

/// Houston's `DeploymentRoles`: a deployment role to grant together with a workspace role.
#[derive(InputObject)]
pub struct DeploymentRoles {
    /// The deployment (in the same workspace).
    pub deployment_id: Id,
    /// A DEPLOYMENT_* role.
    pub role: Role,
}

/// Houston-style paging of a plain list: `take` (default all, at most the list cap) items of page
/// `page_number` (from 1).
pub(crate) fn page<T>(items: Vec<T>, take: Option<i32>, page_number: Option<i32>) -> Vec<T> {
    let take = take.filter(|t| *t > 0).map(|t| t as usize).unwrap_or(items.len().max(1));
    let skip = page_number.filter(|p| *p > 1).map(|p| (p as usize - 1) * take).unwrap_or(0);
    items.into_iter().skip(skip).take(take).collect()
}

/// How invites are made now.
pub fn invite_settings(state: &AppState) -> InviteSettings {
    InviteSettings {
        expiry: Duration::days(state.config.invite_expiry_days),
        public_url: state.config.public_url.clone(),
        now: state.clock.now(),
    }
}

/// Workspace queries.
#[derive(Default)]
pub struct WorkspaceQuery;

#[Object]
impl WorkspaceQuery {
    /// The workspaces the caller belongs to (directly, through a team, or as organization owner). With
    /// `all: true`, every workspace of the installation (needs `system.workspace.get`).
    #[graphql(guard = "SignedIn")]
    async fn workspaces(&self, ctx: &Context<'_>, all: Option<bool>) -> Result<Vec<Workspace>> {
        let state = state(ctx)?;
        let mut conn = conn(ctx).await?;
        let limit = state.config.list_cap;
        let rows = if all == Some(true) {
            authorize(ctx, &[Permission::SystemWorkspaceGet], Target::None)?;
            workspaces::list(&mut conn, None, limit).await?
        } else {
            let bindings = principal(ctx).bindings()?;
            let mut visible: Vec<uuid::Uuid> = bindings
                .iter()
                .filter_map(|b| b.target)
                .filter(|id| check::decide(bindings, &state.matrix, Permission::WorkspaceConfigGet, Some(*id)).granted)
                .collect();
            visible.sort();
            visible.dedup();
            workspaces::list(&mut conn, Some(&visible), limit).await?
        };
        Ok(rows.into_iter().map(Workspace).collect())
    }

    /// A page of the caller's workspaces (Houston's paging: `take` items, page `pageNumber` from 1).
    #[graphql(guard = "SignedIn")]
    async fn paginated_workspaces(
        &self,
        ctx: &Context<'_>,
        take: Option<i32>,
        page_number: Option<i32>,
    ) -> Result<Vec<Workspace>> {
        let all = self.workspaces(ctx, None).await?;
        Ok(page(all, take, page_number))
    }

    /// One workspace.
    #[graphql(guard = "Perm::on(Permission::WorkspaceConfigGet, workspace_uuid).or(Permission::SystemWorkspaceGet)")]
    async fn workspace(&self, ctx: &Context<'_>, workspace_uuid: Uuid) -> Result<Workspace> {
        let id = workspace_uuid.required("workspaceUuid")?;
        let mut conn = conn(ctx).await?;
        Ok(Workspace(workspaces::get(&mut conn, id).await?))
    }

    /// Users holding a role directly on the workspace, optionally filtered.
    #[graphql(guard = "Perm::on(Permission::WorkspaceUsersGet, workspace_uuid).or(Permission::SystemUsersGet)")]
    async fn workspace_users(
        &self,
        ctx: &Context<'_>,
        workspace_uuid: Uuid,
        user: Option<UserSearch>,
    ) -> Result<Vec<User>> {
        let id = workspace_uuid.required("workspaceUuid")?;
        let mut conn = conn(ctx).await?;
        workspaces::get(&mut conn, id).await?;
        let members = workspaces::members(&mut conn, id, &user.into(), state(ctx)?.config.list_cap).await?;
        Ok(members.into_iter().map(User).collect())
    }

    /// A page of the workspace's members, after the member `cursor` (Houston's paging).
    #[graphql(guard = "Perm::on(Permission::WorkspaceUsersGet, workspace_uuid).or(Permission::SystemUsersGet)")]
    async fn paginated_workspace_users(
        &self,
        ctx: &Context<'_>,
        workspace_uuid: Uuid,
        cursor: Option<Uuid>,
        take: Option<i32>,
    ) -> Result<Vec<User>> {
        let id = workspace_uuid.required("workspaceUuid")?;
        let mut conn = conn(ctx).await?;
        workspaces::get(&mut conn, id).await?;
        let members = workspaces::members(&mut conn, id, &UserFilter::default(), state(ctx)?.config.list_cap).await?;
        let after = cursor.and_then(Uuid::get);
        let start = after.and_then(|c| members.iter().position(|m| m.id == c).map(|p| p + 1)).unwrap_or(0);
        let members: Vec<User> = members.into_iter().skip(start).map(User).collect();
        Ok(page(members, take, None))
    }

    /// One member of the workspace, found by the search (NOT_FOUND if no member matches).
    #[graphql(guard = "Perm::on(Permission::WorkspaceUsersGet, workspace_uuid).or(Permission::SystemUsersGet)")]
    async fn workspace_user(&self, ctx: &Context<'_>, workspace_uuid: Uuid, user: Option<UserSearch>) -> Result<User> {
        let id = workspace_uuid.required("workspaceUuid")?;
        let mut conn = conn(ctx).await?;
        workspaces::get(&mut conn, id).await?;
        let members = workspaces::members(&mut conn, id, &user.into(), 1).await?;
        Ok(members.into_iter().next().map(User).ok_or(ApiError::NotFound)?)
    }

    /// Pending invites of the workspace.
    #[graphql(guard = "Perm::on(Permission::WorkspaceInvitesGet, workspace_uuid).or(Permission::SystemInvitesGet)")]
    async fn workspace_invites(
        &self,
        ctx: &Context<'_>,
        workspace_uuid: Uuid,
        invite: Option<InviteSearch>,
    ) -> Result<Vec<Invite>> {
        let id = workspace_uuid.required("workspaceUuid")?;
        let mut conn = conn(ctx).await?;
        workspaces::get(&mut conn, id).await?;
        let search = invite.unwrap_or_default();
        let filter = invites::Filter {
            workspace_id: Some(id),
            invite_id: search.invite_uuid.and_then(Uuid::get),
            email: non_empty(search.email),
        };
        let rows = invites::list(&mut conn, &filter, state(ctx)?.config.list_cap).await?;
        Ok(rows.into_iter().map(Invite::listed).collect())
    }
}

/// Workspace mutations.
#[derive(Default)]
pub struct WorkspaceMutation;

async fn reload(ctx: &Context<'_>, id: uuid::Uuid) -> Result<Workspace> {
    let mut conn = conn(ctx).await?;
    Ok(Workspace(workspaces::get(&mut conn, id).await?))
}

#[Object]
impl WorkspaceMutation {
    /// Creates a workspace in the caller's organization (or the one named); the caller becomes its
    /// WORKSPACE_ADMIN.
    #[graphql(guard = "Perm::on_caller_organization(Permission::OrganizationWorkspacesCreate, organization_uuid)")]
    async fn create_workspace(
        &self,
        ctx: &Context<'_>,
        label: String,
        description: Option<String>,
        organization_uuid: Option<Uuid>,
    ) -> Result<Workspace> {
        // A person creates workspaces (and becomes their admin); API keys do not.
        let caller = principal(ctx).user()?;
        let organization =
            caller_organization(&caller.bindings, organization_uuid.and_then(Uuid::get)).ok_or(ApiError::Forbidden)?;
        let mut conn = conn(ctx).await?;
        let workspace =
            workspaces::create(&mut conn, organization, &label, description.as_deref(), caller.user.id, &actor(ctx))
                .await?;
        Ok(Workspace(workspace))
    }

    /// Changes a workspace. `payload` may hold `label` and `description`.
    #[graphql(guard = "Perm::on(Permission::WorkspaceConfigUpdate, workspace_uuid)")]
    async fn update_workspace(
        &self,
        ctx: &Context<'_>,
        workspace_uuid: Uuid,
        payload: Json<serde_json::Value>,
    ) -> Result<Workspace> {
        let id = workspace_uuid.required("workspaceUuid")?;
        let payload = Payload::parse(&payload.0, &["label", "description"], "updateWorkspace")?;
        let update = WorkspaceUpdate { label: payload.text("label")?, description: payload.text("description")? };
        let state = state(ctx)?;
        let mut conn = conn(ctx).await?;
        Ok(Workspace(workspaces::update(&mut conn, id, update, state.clock.now(), &actor(ctx)).await?))
    }

    /// Deletes a workspace; CONFLICT while it has deployments.
    #[graphql(
        guard = "Perm::on(Permission::WorkspaceConfigDelete, workspace_uuid).or(Permission::SystemWorkspaceDelete)"
    )]
    async fn delete_workspace(&self, ctx: &Context<'_>, workspace_uuid: Uuid) -> Result<Workspace> {
        let id = workspace_uuid.required("workspaceUuid")?;
        let mut conn = conn(ctx).await?;
        Ok(Workspace(workspaces::delete(&mut conn, id, &actor(ctx)).await?))
    }

    /// Gives a person a workspace role (default WORKSPACE_VIEWER): at once if they have an account,
    /// otherwise by an invite mailed to them.
    #[graphql(guard = "Perm::on(Permission::WorkspaceIamUpdate, workspace_uuid).or(Permission::SystemIamUpdate)")]
    async fn workspace_add_user(
        &self,
        ctx: &Context<'_>,
        workspace_uuid: Uuid,
        email: String,
        #[graphql(default_with = "Role::WorkspaceViewer")] role: Role,
        deployment_roles: Option<Vec<DeploymentRoles>>,
    ) -> Result<Workspace> {
        let id = workspace_uuid.required("workspaceUuid")?;
        let requests = deployment_roles
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                Ok(DeploymentRoleRequest {
                    deployment_id: r.deployment_id.required("deploymentRoles.deploymentId")?,
                    role: r.role,
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        let settings = invite_settings(state(ctx)?);
        let mut conn = conn(ctx).await?;
        workspaces::add_user(&mut conn, id, &email, role, requests, authority(ctx)?, &settings, &actor(ctx)).await?;
        drop(conn);
        reload(ctx, id).await
    }

    /// Changes a member's workspace role; returns the new role.
    #[graphql(guard = "Perm::on(Permission::WorkspaceIamUpdate, workspace_uuid).or(Permission::SystemIamUpdate)")]
    async fn workspace_update_user_role(
        &self,
        ctx: &Context<'_>,
        workspace_uuid: Uuid,
        email: String,
        role: Role,
    ) -> Result<Role> {
        let id = workspace_uuid.required("workspaceUuid")?;
        let mut conn = conn(ctx).await?;
        Ok(workspaces::update_user_role(&mut conn, id, &email, role, authority(ctx)?, &actor(ctx)).await?)
    }

    /// Adds the person with `role`, or changes their role if they are a member; returns the role.
    #[graphql(guard = "Perm::on(Permission::WorkspaceIamUpdate, workspace_uuid).or(Permission::SystemIamUpdate)")]
    async fn workspace_upsert_user_role(
        &self,
        ctx: &Context<'_>,
        workspace_uuid: Uuid,
        email: String,
        role: Role,
    ) -> Result<Role> {
        let id = workspace_uuid.required("workspaceUuid")?;
        let settings = invite_settings(state(ctx)?);
        let mut conn = conn(ctx).await?;
        match workspaces::update_user_role(&mut conn, id, &email, role, authority(ctx)?, &actor(ctx)).await {
            Err(ApiError::NotFound) => {
                workspaces::add_user(&mut conn, id, &email, role, Vec::new(), authority(ctx)?, &settings, &actor(ctx))
                    .await?;
                Ok(role)
            }
            other => Ok(other?),
        }
    }

    /// Removes a member, and their deployment roles in the workspace.
    #[graphql(guard = "Perm::on(Permission::WorkspaceIamUpdate, workspace_uuid).or(Permission::SystemIamUpdate)")]
    async fn workspace_remove_user(
        &self,
        ctx: &Context<'_>,
        workspace_uuid: Uuid,
        user_uuid: Uuid,
    ) -> Result<Workspace> {
        let id = workspace_uuid.required("workspaceUuid")?;
        let user = user_uuid.required("userUuid")?;
        let mut conn = conn(ctx).await?;
        Ok(Workspace(workspaces::remove_user(&mut conn, id, user, authority(ctx)?, &actor(ctx)).await?))
    }
}
