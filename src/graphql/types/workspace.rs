//! `Workspace` and `WorkspaceCapabilities`.

use async_graphql::{Context, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::domain::workspaces;
use crate::graphql::authz::{Member, Readable, Scoped, TeamReached, access, charged};
use crate::graphql::context::loader;
use crate::graphql::loaders::{
    DeploymentsOfWorkspace, InvitesOfWorkspace, OrganizationById, RoleBindingsOfWorkspace, TeamBindingsOn, TeamById,
    UsersOfWorkspace,
};
use crate::graphql::scalars::Uuid;
use crate::graphql::types::deployment::Deployment;
use crate::graphql::types::invite::Invite;
use crate::graphql::types::organization::Organization;
use crate::graphql::types::team::Team;
use crate::graphql::types::user::{Holder, RoleBinding, User};
use crate::rbac::Ancestry;

/// A group of deployments shared by a group of people. Only made from a workspace the caller may read.
pub struct Workspace(Readable<workspaces::Workspace>);

impl From<Readable<workspaces::Workspace>> for Workspace {
    fn from(workspace: Readable<workspaces::Workspace>) -> Self {
        Workspace(workspace)
    }
}

/// A workspace.
#[Object]
impl Workspace {
    /// The workspace's id.
    async fn id(&self) -> Uuid {
        self.0.id.into()
    }

    /// Label, unique in its organization.
    async fn label(&self) -> &str {
        &self.0.label
    }

    /// Description.
    async fn description(&self, ctx: &Context<'_>) -> Result<&str> {
        Ok(charged(ctx, &self.0.description)?)
    }

    /// The organization it belongs to.
    async fn organization_id(&self) -> Uuid {
        self.0.organization_id.into()
    }

    /// The organization it belongs to (null unless the caller may read it).
    async fn organization(&self, ctx: &Context<'_>) -> Result<Option<Organization>> {
        let Some(row) = loader(ctx)?.load_one(OrganizationById(self.0.organization_id)).await? else {
            return Ok(None);
        };
        Ok(access(ctx)?.admit(row).await?.map(Organization::from))
    }

    /// Teams holding a role on the workspace (empty unless the caller may read its teams).
    async fn teams(&self, ctx: &Context<'_>) -> Result<Vec<Team>> {
        let bindings = loader(ctx)?.load_one(TeamBindingsOn(self.0.id)).await?.unwrap_or_default();
        teams_of(ctx, &bindings, self.0.ancestry()).await
    }

    /// Users holding a role directly on the workspace (empty unless the caller may read its members).
    async fn users(&self, ctx: &Context<'_>) -> Result<Vec<User>> {
        let users = loader(ctx)?.load_one(UsersOfWorkspace(self.0.id)).await?.unwrap_or_default();
        let via = self.0.ancestry();
        let members = users.into_iter().map(|user| Member { user, via }).collect();
        User::list(ctx, access(ctx)?.admit_all(members).await?).await
    }

    /// Role bindings on the workspace (users, teams, service accounts) the caller may read.
    ///
    /// The users holding them are the workspace's members: when `user` is selected they are asked of the
    /// members' loader, in the same batch as a `users` field beside this one, so a page selecting both
    /// loads the users once. The service accounts come with the bindings.
    async fn role_bindings(&self, ctx: &Context<'_>) -> Result<Vec<RoleBinding>> {
        let loader = loader(ctx)?;
        let want_users = ctx.look_ahead().field("user").exists();
        let bindings = loader.load_one(RoleBindingsOfWorkspace(self.0.id));
        let members = async { if want_users { loader.load_one(UsersOfWorkspace(self.0.id)).await } else { Ok(None) } };
        let (rows, members) = futures_util::try_join!(bindings, members)?;
        let members: std::collections::HashMap<uuid::Uuid, crate::domain::users::User> =
            members.unwrap_or_default().into_iter().map(|user| (user.id, user)).collect();
        let (rows, mut accounts): (Vec<_>, std::collections::HashMap<uuid::Uuid, _>) = rows
            .unwrap_or_default()
            .into_iter()
            .map(|(row, account)| {
                let id = row.id;
                (row, (id, account))
            })
            .unzip();
        Ok(access(ctx)?
            .admit_all(rows)
            .await?
            .into_iter()
            .map(|binding| {
                let holder = Holder {
                    user: binding.user_id.and_then(|id| members.get(&id).cloned()),
                    account: accounts.remove(&binding.id).flatten(),
                };
                RoleBinding::with_holder(binding, holder)
            })
            .collect())
    }

    /// Pending invites to the workspace the caller may read.
    async fn invites(&self, ctx: &Context<'_>) -> Result<Vec<Invite>> {
        let rows = loader(ctx)?.load_one(InvitesOfWorkspace(self.0.id)).await?.unwrap_or_default();
        Ok(access(ctx)?.admit_all(rows).await?.into_iter().map(Invite::listed).collect())
    }

    /// Live deployments of the workspace the caller may read.
    async fn deployments(&self, ctx: &Context<'_>) -> Result<Vec<Deployment>> {
        let rows = loader(ctx)?.load_one(DeploymentsOfWorkspace(self.0.id)).await?.unwrap_or_default();
        Ok(access(ctx)?.admit_all(rows).await?.into_iter().map(Deployment::from).collect())
    }

    /// What the caller may do here: for each capability, whether the operation it names in the operation
    /// table would be allowed on this workspace.
    async fn workspace_capabilities(&self, ctx: &Context<'_>) -> Result<WorkspaceCapabilities> {
        use crate::rbac::operations::*;
        let access = access(ctx)?;
        let at = self.0.ancestry();
        Ok(WorkspaceCapabilities {
            can_update_workspace: access.may(&UPDATE_WORKSPACE, at).await?,
            can_delete_workspace: access.may(&DELETE_WORKSPACE, at).await?,
            can_update_iam: access.may(&WORKSPACE_UPDATE_USER_ROLE, at).await?,
            can_invite_user: access.may(&WORKSPACE_ADD_USER, at).await?,
            can_create_deployment: access.may(&CREATE_DEPLOYMENT, at).await?,
            can_create_service_account: access.may(&CREATE_WORKSPACE_SERVICE_ACCOUNT, at).await?,
            can_update_service_account: access.may(&UPDATE_WORKSPACE_SERVICE_ACCOUNT, at).await?,
            can_delete_service_account: access.may(&DELETE_WORKSPACE_SERVICE_ACCOUNT, at).await?,
            can_view_users: access.may(&WORKSPACE_USERS, at).await?,
            can_manage_teams: access.may(&WORKSPACE_ADD_TEAM, at).await?,
            can_get_audit_logs: access.may(&AUDIT_EVENTS, at).await?,
        })
    }

    /// Creation time.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// Last change.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// What the caller may do in a workspace: each field says whether the operation named in
/// `rbac::operations::CAPABILITY_OPERATIONS` would be allowed.
#[derive(SimpleObject)]
#[graphql(rename_fields = "camelCase")]
pub struct WorkspaceCapabilities {
    /// `updateWorkspace`: change label and description.
    pub can_update_workspace: bool,
    /// `deleteWorkspace`.
    pub can_delete_workspace: bool,
    /// `workspaceUpdateUserRole`: manage members and their roles.
    #[graphql(name = "canUpdateIAM")]
    pub can_update_iam: bool,
    /// `workspaceAddUser`: add or invite people.
    pub can_invite_user: bool,
    /// `createDeployment`.
    pub can_create_deployment: bool,
    /// `createWorkspaceServiceAccount`.
    pub can_create_service_account: bool,
    /// `updateWorkspaceServiceAccount`.
    pub can_update_service_account: bool,
    /// `deleteWorkspaceServiceAccount`.
    pub can_delete_service_account: bool,
    /// `workspaceUsers`: list members.
    pub can_view_users: bool,
    /// `workspaceAddTeam`: give teams roles here.
    pub can_manage_teams: bool,
    /// `auditEvents` of the workspace.
    pub can_get_audit_logs: bool,
}

/// The teams holding `bindings` (on one workspace or deployment whose ancestry is `via`), as the caller may
/// read them, in the bindings' order.
pub(crate) async fn teams_of(
    ctx: &Context<'_>,
    bindings: &[crate::domain::users::RoleBindingRow],
    via: Ancestry,
) -> Result<Vec<Team>> {
    let ids: Vec<TeamById> = bindings.iter().filter_map(|b| b.team_id.map(TeamById)).collect();
    let found = loader(ctx)?.load_many(ids.iter().copied()).await?;
    let reached = ids.iter().filter_map(|id| found.get(id).cloned()).map(|team| TeamReached { team, via }).collect();
    Ok(access(ctx)?.admit_all(reached).await?.into_iter().map(Team::from).collect())
}
