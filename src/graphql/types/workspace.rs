//! `Workspace` and `WorkspaceCapabilities`.

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::domain::workspaces;
use crate::graphql::guards::{Perm, can};
use crate::graphql::loaders::{DbLoader, InvitesOfWorkspace, RoleBindingsOfWorkspace, UsersOfWorkspace};
use crate::graphql::scalars::Uuid;
use crate::graphql::types::invite::Invite;
use crate::graphql::types::user::{RoleBinding, User};
use crate::rbac::Permission;

/// A group of deployments shared by a group of people.
pub struct Workspace(pub workspaces::Workspace);

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
    async fn description(&self) -> &str {
        &self.0.description
    }

    /// The organization it belongs to.
    async fn organization_id(&self) -> Uuid {
        self.0.organization_id.into()
    }

    /// Users holding a role directly on the workspace.
    #[graphql(guard = "Perm::on(Permission::WorkspaceUsersGet, self.0.id).or(Permission::SystemUsersGet)")]
    async fn users(&self, ctx: &Context<'_>) -> Result<Vec<User>> {
        let loader = ctx.data::<DataLoader<DbLoader>>()?;
        let users = loader.load_one(UsersOfWorkspace(self.0.id)).await?.unwrap_or_default();
        Ok(users.into_iter().map(User).collect())
    }

    /// Role bindings on the workspace (users, teams, service accounts).
    #[graphql(guard = "Perm::on(Permission::WorkspaceUsersGet, self.0.id).or(Permission::SystemUsersGet)")]
    async fn role_bindings(&self, ctx: &Context<'_>) -> Result<Vec<RoleBinding>> {
        let loader = ctx.data::<DataLoader<DbLoader>>()?;
        let rows = loader.load_one(RoleBindingsOfWorkspace(self.0.id)).await?.unwrap_or_default();
        Ok(rows.into_iter().map(RoleBinding).collect())
    }

    /// Pending invites to the workspace.
    #[graphql(guard = "Perm::on(Permission::WorkspaceInvitesGet, self.0.id).or(Permission::SystemInvitesGet)")]
    async fn invites(&self, ctx: &Context<'_>) -> Result<Vec<Invite>> {
        let loader = ctx.data::<DataLoader<DbLoader>>()?;
        let rows = loader.load_one(InvitesOfWorkspace(self.0.id)).await?.unwrap_or_default();
        Ok(rows.into_iter().map(Invite::listed).collect())
    }

    /// Live deployments of the workspace.
    #[graphql(guard = "Perm::on(Permission::WorkspaceDeploymentsGet, self.0.id).or(Permission::SystemDeploymentsGet)")]
    async fn deployments(&self, ctx: &Context<'_>) -> Result<Vec<crate::graphql::types::deployment::Deployment>> {
        let loader = ctx.data::<DataLoader<DbLoader>>()?;
        let rows =
            loader.load_one(crate::graphql::loaders::DeploymentsOfWorkspace(self.0.id)).await?.unwrap_or_default();
        Ok(rows.into_iter().map(crate::graphql::types::deployment::Deployment).collect())
    }

    /// What the caller may do here, from the same matrix the API enforces.
    async fn workspace_capabilities(&self, ctx: &Context<'_>) -> WorkspaceCapabilities {
        let id = Some(self.0.id);
        let any = |scoped: Permission, system: Option<Permission>| {
            can(ctx, scoped, id) || system.is_some_and(|p| can(ctx, p, None))
        };
        WorkspaceCapabilities {
            can_update_workspace: any(Permission::WorkspaceConfigUpdate, None),
            can_delete_workspace: any(Permission::WorkspaceConfigDelete, Some(Permission::SystemWorkspaceDelete)),
            can_update_iam: any(Permission::WorkspaceIamUpdate, Some(Permission::SystemIamUpdate)),
            can_invite_user: any(Permission::WorkspaceIamUpdate, Some(Permission::SystemIamUpdate)),
            can_create_deployment: any(Permission::WorkspaceDeploymentsCreate, None),
            can_create_service_account: any(Permission::WorkspaceServiceAccountsCreate, None),
            can_update_service_account: any(Permission::WorkspaceServiceAccountsUpdate, None),
            can_delete_service_account: any(Permission::WorkspaceServiceAccountsDelete, None),
            can_get_audit_logs: any(Permission::WorkspaceAuditLogsGet, Some(Permission::SystemAuditLogsGet)),
            can_view_users: any(Permission::WorkspaceUsersGet, Some(Permission::SystemUsersGet)),
        }
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

/// What the caller may do in a workspace (computed from the permission matrix).
#[derive(SimpleObject)]
#[graphql(rename_fields = "camelCase")]
pub struct WorkspaceCapabilities {
    /// Change label and description.
    pub can_update_workspace: bool,
    /// Delete the workspace.
    pub can_delete_workspace: bool,
    /// Manage members and their roles.
    #[graphql(name = "canUpdateIAM")]
    pub can_update_iam: bool,
    /// Invite people.
    pub can_invite_user: bool,
    /// Create deployments.
    pub can_create_deployment: bool,
    /// Create workspace API keys.
    pub can_create_service_account: bool,
    /// Change workspace API keys.
    pub can_update_service_account: bool,
    /// Delete workspace API keys.
    pub can_delete_service_account: bool,
    /// Read the workspace's audit log.
    pub can_get_audit_logs: bool,
    /// List members.
    pub can_view_users: bool,
}
