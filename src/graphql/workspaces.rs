//! Workspace queries and mutations, with Houston's names and arguments.

use crate::domain::memberships::{DEPLOYMENT_ROLES_FIELD, RoleRequest, deployment_role_field};
use async_graphql::{Context, InputObject, Json, Object, Result};
use chrono::Duration;

use crate::domain::invites;
use crate::domain::invites::InviteSettings;
use crate::domain::users::UserFilter;
use crate::domain::workspaces::{self, DeploymentRoleRequest, WorkspaceUpdate};
use crate::error::ApiError;
use crate::graphql::authz::{Member, Op, Readable, Scoped, access};
use crate::graphql::context::{actor, conn, principal, state};
use crate::graphql::payload::Payload;
use crate::graphql::scalars::{Id, Uuid};
use crate::graphql::types::invite::Invite;
use crate::graphql::types::user::User;
use crate::graphql::types::workspace::Workspace;
use crate::rbac::{Role, ScopeRef};
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

/// Houston's `DeploymentRoles`: a deployment role to grant together with a workspace role: `role` or,
/// instead, the organization's custom deployment role `customRoleUuid` (docs/custom-roles.md). Errors name
/// the item (`deploymentRoles[1].customRoleUuid`).
#[derive(InputObject)]
pub struct DeploymentRoles {
    /// The deployment (in the same workspace).
    pub deployment_id: Id,
    /// A DEPLOYMENT_* role; leave it out when giving `customRoleUuid`.
    pub role: Option<Role>,
    /// One of the organization's custom deployment roles, instead of `role` (the binding then shows
    /// `DEPLOYMENT_CUSTOM`).
    pub custom_role_uuid: Option<Uuid>,
}

/// The requests of a `deploymentRoles` argument, in the order sent: each item names a deployment and
/// exactly one of `role` and `customRoleUuid`, as `role` and `customRoleUuid` of the operation itself do
/// (RoleRequest::from_arguments, without a default); errors name the item
/// (`deploymentRoles[2].deploymentId`).
pub(crate) fn deployment_role_requests(
    items: Option<Vec<DeploymentRoles>>,
) -> Result<Vec<DeploymentRoleRequest>, ApiError> {
    items
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let deployment_id = item.deployment_id.required(&deployment_role_field(index, "deploymentId"))?;
            let role = RoleRequest::from_arguments(item.role, item.custom_role_uuid.and_then(Uuid::get), None)
                .map_err(|error| error.within(&format!("{DEPLOYMENT_ROLES_FIELD}[{index}]")))?;
            Ok(DeploymentRoleRequest { deployment_id, role })
        })
        .collect()
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

/// The members of workspace `id` as users the caller may read.
async fn members_of(ctx: &Context<'_>, id: uuid::Uuid, rows: Vec<crate::domain::users::User>) -> Result<Vec<User>> {
    User::list(ctx, readable_members(ctx, id, rows).await?).await
}

/// Records the ancestry of `workspace`, read to check that it exists: deciding on its members then needs
/// no lookup of its organization (one statement fewer). Nothing is admitted by it.
fn knows_workspace(ctx: &Context<'_>, workspace: &workspaces::Workspace) -> Result<()> {
    access(ctx)?.learn(workspace.ancestry());
    Ok(())
}

/// The members of workspace `id` the caller may read, before their relations are loaded (so that a page
/// loads them for its own members only).
async fn readable_members(
    ctx: &Context<'_>,
    id: uuid::Uuid,
    rows: Vec<crate::domain::users::User>,
) -> Result<Vec<Readable<Member>>> {
    let access = access(ctx)?;
    let via = access.ancestry_of(ScopeRef::Workspace(id)).await?;
    let members = rows.into_iter().map(|user| Member { user, via }).collect();
    Ok(access.admit_all(members).await?)
}

/// Workspace `id` as the caller may read it (NOT_FOUND when it does not exist).
pub(crate) async fn readable_workspace(ctx: &Context<'_>, id: uuid::Uuid) -> Result<Workspace> {
    let row = {
        let mut conn = conn(ctx).await?;
        workspaces::get(&mut conn, id).await?
    };
    Ok(Workspace::from(access(ctx)?.admit_one(row).await?))
}

#[Object(guard = "Op")]
impl WorkspaceQuery {
    /// The workspaces the caller belongs to (directly, through a team, or as organization owner). With
    /// `all: true`, every workspace of the installation (needs `system.workspace.get`).
    async fn workspaces(&self, ctx: &Context<'_>, all: Option<bool>) -> Result<Vec<Workspace>> {
        let access = access(ctx)?;
        let limit = state(ctx)?.config.list_cap;
        let mut conn = conn(ctx).await?;
        let rows = if all == Some(true) {
            workspaces::list(&mut conn, None, limit).await?
        } else {
            let reach = access.reach()?;
            workspaces::with_ids_or_in(&mut conn, &reach.workspaces, &reach.owned_organizations, limit).await?
        };
        drop(conn);
        Ok(access.admit_all(rows).await?.into_iter().map(Workspace::from).collect())
    }

    /// A page of the caller's workspaces (Houston's paging: `take` items, page `pageNumber` counted from
    /// 0 as the astro CLI counts: it asks for page 0 at login and adds 1 for the next page).
    async fn paginated_workspaces(
        &self,
        ctx: &Context<'_>,
        take: Option<i32>,
        page_number: Option<i32>,
    ) -> Result<Vec<Workspace>> {
        let access = access(ctx)?;
        let limit = state(ctx)?.config.list_cap;
        let mut conn = conn(ctx).await?;
        let reach = access.reach()?;
        let rows = workspaces::with_ids_or_in(&mut conn, &reach.workspaces, &reach.owned_organizations, limit).await?;
        drop(conn);
        // Only the page counts against the reply budget: it is all the reply holds.
        let kept = access.admit_kept(rows, |all| page(all, take, page_number.map(|p| p.saturating_add(1)))).await?;
        Ok(kept.into_iter().map(Workspace::from).collect())
    }

    /// One workspace.
    ///
    /// Null for an id that names no workspace, as Houston answered and the CLI expects ("no workspaces
    /// with id … found"). Only callers who may read every workspace (`system.workspace.get`) get that
    /// far for a missing id: for everyone else the guard answers FORBIDDEN whether or not it exists, so
    /// the null reveals nothing (docs/cli.md).
    async fn workspace(&self, ctx: &Context<'_>, workspace_uuid: Uuid) -> Result<Option<Workspace>> {
        let id = workspace_uuid.required("workspaceUuid")?;
        let row = {
            let mut conn = conn(ctx).await?;
            match workspaces::get(&mut conn, id).await {
                Ok(row) => row,
                Err(ApiError::NotFound) => return Ok(None),
                Err(other) => return Err(other.into()),
            }
        };
        Ok(Some(Workspace::from(access(ctx)?.admit_one(row).await?)))
    }

    /// Users holding a role directly on the workspace, optionally filtered.
    async fn workspace_users(
        &self,
        ctx: &Context<'_>,
        workspace_uuid: Uuid,
        user: Option<UserSearch>,
    ) -> Result<Vec<User>> {
        let id = workspace_uuid.required("workspaceUuid")?;
        let mut conn = conn(ctx).await?;
        let workspace = workspaces::get(&mut conn, id).await?;
        let members = workspaces::members(&mut conn, id, &user.into(), state(ctx)?.config.list_cap).await?;
        drop(conn);
        knows_workspace(ctx, &workspace)?;
        members_of(ctx, id, members).await
    }

    /// A page of the workspace's members by username: `take` after the member `cursor` (from the first
    /// when absent), or with a negative `take` the `|take|` members just before it, in the same order.
    async fn paginated_workspace_users(
        &self,
        ctx: &Context<'_>,
        workspace_uuid: Uuid,
        cursor: Option<Uuid>,
        take: Option<i32>,
    ) -> Result<Vec<User>> {
        let id = workspace_uuid.required("workspaceUuid")?;
        let mut conn = conn(ctx).await?;
        let workspace = workspaces::get(&mut conn, id).await?;
        let members = workspaces::members(&mut conn, id, &UserFilter::default(), state(ctx)?.config.list_cap).await?;
        drop(conn);
        knows_workspace(ctx, &workspace)?;
        let members = readable_members(ctx, id, members).await?;
        let position = cursor.and_then(Uuid::get).and_then(|c| members.iter().position(|m| m.user.id == c));
        User::list(ctx, crate::graphql::teams::houston_page(members, position, take)).await
    }

    /// One member of the workspace, found by the search (NOT_FOUND if no member matches).
    async fn workspace_user(&self, ctx: &Context<'_>, workspace_uuid: Uuid, user: Option<UserSearch>) -> Result<User> {
        let id = workspace_uuid.required("workspaceUuid")?;
        let mut conn = conn(ctx).await?;
        let workspace = workspaces::get(&mut conn, id).await?;
        let members = workspaces::members(&mut conn, id, &user.into(), 1).await?;
        drop(conn);
        knows_workspace(ctx, &workspace)?;
        Ok(members_of(ctx, id, members).await?.into_iter().next().ok_or(ApiError::NotFound)?)
    }

    /// Pending invites of the workspace.
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
        drop(conn);
        Ok(access(ctx)?.admit_all(rows).await?.into_iter().map(Invite::listed).collect())
    }
}

/// Workspace mutations.
#[derive(Default)]
pub struct WorkspaceMutation;

#[Object(guard = "Op")]
impl WorkspaceMutation {
    /// Creates a workspace in the caller's organization (the one named, or the caller's only one); the
    /// caller becomes its WORKSPACE_ADMIN.
    async fn create_workspace(
        &self,
        ctx: &Context<'_>,
        label: String,
        description: Option<String>,
        organization_uuid: Option<Uuid>,
    ) -> Result<Workspace> {
        let access = access(ctx)?;
        let caller = principal(ctx);
        let creator = caller.user()?.user.id;
        // The guard checked the organization named or the caller's only one; the same rule picks it here.
        let organization = match organization_uuid.and_then(Uuid::get) {
            Some(id) => id,
            None => access.only_organization("organizationUuid")?,
        };
        let mut conn = conn(ctx).await?;
        let workspace =
            workspaces::create(&mut conn, organization, &label, description.as_deref(), creator, &actor(ctx)).await?;
        drop(conn);
        // The caller now administers it: read the result with that role.
        access.reload().await?;
        Ok(Workspace::from(access.admit_one(workspace).await?))
    }

    /// Changes a workspace. `payload` may hold `label` and `description`.
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
        let workspace = workspaces::update(&mut conn, id, update, state.clock.now(), &actor(ctx)).await?;
        drop(conn);
        Ok(Workspace::from(access(ctx)?.admit_one(workspace).await?))
    }

    /// Deletes a workspace; CONFLICT while it has deployments.
    async fn delete_workspace(&self, ctx: &Context<'_>, workspace_uuid: Uuid) -> Result<Workspace> {
        let id = workspace_uuid.required("workspaceUuid")?;
        let mut conn = conn(ctx).await?;
        let workspace = workspaces::delete(&mut conn, id, &actor(ctx)).await?;
        drop(conn);
        Ok(Workspace::from(access(ctx)?.admit_one(workspace).await?))
    }

    /// Gives a person a workspace role (default WORKSPACE_VIEWER), with optional deployment roles in it:
    /// at once to a member of the workspace's organization; anyone else (with an account or not) gets an
    /// invite mailed to them, so the answer never tells whether an address is registered. The caller
    /// must be able to grant every role asked for (SPEC §2 grant rule; FORBIDDEN otherwise). The role is
    /// `role` or, instead, the organization's custom workspace role `customRoleUuid` (docs/custom-roles.md);
    /// each of `deploymentRoles` likewise a DEPLOYMENT_* role or a custom deployment role.
    async fn workspace_add_user(
        &self,
        ctx: &Context<'_>,
        workspace_uuid: Uuid,
        email: String,
        role: Option<Role>,
        deployment_roles: Option<Vec<DeploymentRoles>>,
        custom_role_uuid: Option<Uuid>,
    ) -> Result<Workspace> {
        let id = workspace_uuid.required("workspaceUuid")?;
        let role =
            RoleRequest::from_arguments(role, custom_role_uuid.and_then(Uuid::get), Some(Role::WorkspaceViewer))?;
        let requests = deployment_role_requests(deployment_roles)?;
        let settings = invite_settings(state(ctx)?);
        let authority = access(ctx)?.authority()?;
        let mut conn = conn(ctx).await?;
        workspaces::add_user(&mut conn, id, &email, role, requests, &authority, &settings, &actor(ctx)).await?;
        drop(conn);
        readable_workspace(ctx, id).await
    }

    /// Changes a member's workspace role to `role` or, instead, to the organization's custom workspace role
    /// `customRoleUuid`; returns the new role (`WORKSPACE_CUSTOM` for a custom role).
    async fn workspace_update_user_role(
        &self,
        ctx: &Context<'_>,
        workspace_uuid: Uuid,
        email: String,
        role: Option<Role>,
        custom_role_uuid: Option<Uuid>,
    ) -> Result<Role> {
        let id = workspace_uuid.required("workspaceUuid")?;
        let role = RoleRequest::from_arguments(role, custom_role_uuid.and_then(Uuid::get), None)?;
        let authority = access(ctx)?.authority()?;
        let mut conn = conn(ctx).await?;
        Ok(workspaces::update_user_role(&mut conn, id, &email, role, &authority, &actor(ctx)).await?)
    }

    /// Adds the person with `role`, or changes their role if they are a member; returns the role.
    async fn workspace_upsert_user_role(
        &self,
        ctx: &Context<'_>,
        workspace_uuid: Uuid,
        email: String,
        role: Role,
    ) -> Result<Role> {
        let id = workspace_uuid.required("workspaceUuid")?;
        let request = RoleRequest::from_arguments(Some(role), None, None)?;
        let settings = invite_settings(state(ctx)?);
        let authority = access(ctx)?.authority()?;
        let mut conn = conn(ctx).await?;
        match workspaces::update_user_role(&mut conn, id, &email, request, &authority, &actor(ctx)).await {
            Err(ApiError::NotFound) => {
                workspaces::add_user(&mut conn, id, &email, request, Vec::new(), &authority, &settings, &actor(ctx))
                    .await?;
                Ok(role)
            }
            other => Ok(other?),
        }
    }

    /// Removes a member, and their deployment roles in the workspace.
    async fn workspace_remove_user(
        &self,
        ctx: &Context<'_>,
        workspace_uuid: Uuid,
        user_uuid: Uuid,
    ) -> Result<Workspace> {
        let id = workspace_uuid.required("workspaceUuid")?;
        let user = user_uuid.required("userUuid")?;
        let authority = access(ctx)?.authority()?;
        let mut conn = conn(ctx).await?;
        let workspace = workspaces::remove_user(&mut conn, id, user, &authority, &actor(ctx)).await?;
        drop(conn);
        Ok(Workspace::from(access(ctx)?.admit_one(workspace).await?))
    }
}
