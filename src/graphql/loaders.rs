//! DataLoaders: every relation field resolves through one of these, so a list of N objects costs one
//! statement per relation, not N. One loader type with a key newtype per relation.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use uuid::Uuid;

use crate::db::DbPool;
use crate::domain::users::{self, Email, RoleBindingRow};
use crate::domain::{deployments, invites, workspaces};
use crate::error::ApiError;
use crate::graphql::budget::ReplyBudget;

/// Loads relations from the database. One instance per request.
pub struct DbLoader {
    pool: DbPool,
    /// The operation's reply budget: once it is exceeded, no more statements are issued.
    budget: Option<Arc<ReplyBudget>>,
}

impl DbLoader {
    /// A loader drawing connections from `pool`.
    pub fn new(pool: DbPool) -> Self {
        DbLoader { pool, budget: None }
    }

    /// The same loader, refusing to load anything once `budget` is exceeded.
    pub fn with_budget(self, budget: Arc<ReplyBudget>) -> Self {
        DbLoader { budget: Some(budget), ..self }
    }
}

/// Key: the email addresses of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EmailsOfUser(pub Uuid);

/// Key: the role bindings a user holds directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RoleBindingsOfUser(pub Uuid);

fn group<K: std::hash::Hash + Eq + Copy, V>(keys: &[K], rows: Vec<V>, key_of: impl Fn(&V) -> K) -> HashMap<K, Vec<V>> {
    let mut grouped: HashMap<K, Vec<V>> = keys.iter().map(|key| (*key, Vec::new())).collect();
    for row in rows {
        grouped.entry(key_of(&row)).or_default().push(row);
    }
    grouped
}

/// `group`, each group shared: the loader hands every caller a copy of what it loaded (once into the
/// answer of each `load_one`/`load_many`, and again wherever the caller keeps it), and for the relations
/// a list of users loads, hundreds of rows at a time, a deep copy each time cost more than the statement.
fn group_shared<K: std::hash::Hash + Eq + Copy, V>(
    keys: &[K],
    rows: Vec<V>,
    key_of: impl Fn(&V) -> K,
) -> HashMap<K, Arc<[V]>> {
    group(keys, rows, key_of).into_iter().map(|(key, rows)| (key, Arc::from(rows))).collect()
}

impl Loader<EmailsOfUser> for DbLoader {
    type Value = Arc<[Email]>;
    type Error = Arc<ApiError>;

    async fn load(&self, keys: &[EmailsOfUser]) -> Result<HashMap<EmailsOfUser, Self::Value>, Self::Error> {
        let mut conn = self.conn().await?;
        let ids: Vec<Uuid> = keys.iter().map(|key| key.0).collect();
        let rows = users::emails_of(&mut conn, &ids).await.map_err(Arc::new)?;
        Ok(group_shared(keys, rows, |row| EmailsOfUser(row.user_id)))
    }
}

impl Loader<RoleBindingsOfUser> for DbLoader {
    /// Each binding with the full ancestry of its object.
    type Value = Arc<[(RoleBindingRow, crate::rbac::Ancestry)]>;
    type Error = Arc<ApiError>;

    async fn load(&self, keys: &[RoleBindingsOfUser]) -> Result<HashMap<RoleBindingsOfUser, Self::Value>, Self::Error> {
        let mut conn = self.conn().await?;
        let ids: Vec<Uuid> = keys.iter().map(|key| key.0).collect();
        let rows = users::role_bindings_of(&mut conn, &ids).await.map_err(Arc::new)?;
        Ok(group_shared(keys, rows, |(row, _)| RoleBindingsOfUser(row.user_id.unwrap_or_default())))
    }
}

/// Key: a user by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserById(pub Uuid);

/// Key: a workspace by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WorkspaceById(pub Uuid);

/// Key: the users holding a role directly on a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UsersOfWorkspace(pub Uuid);

/// Key: the role bindings on a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RoleBindingsOfWorkspace(pub Uuid);

/// Key: the pending invites of a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InvitesOfWorkspace(pub Uuid);

fn ids<K: Copy>(keys: &[K], id: impl Fn(K) -> Uuid) -> Vec<Uuid> {
    keys.iter().map(|key| id(*key)).collect()
}

impl DbLoader {
    async fn conn(&self) -> Result<crate::db::DbConn, Arc<ApiError>> {
        // Every batch starts here: a reply already over its budget loads nothing more.
        if let Some(budget) = &self.budget {
            budget.check().map_err(Arc::new)?;
        }
        self.pool.get().await.map_err(|e| Arc::new(ApiError::from(e)))
    }
}

impl Loader<UserById> for DbLoader {
    type Value = users::User;
    type Error = Arc<ApiError>;

    async fn load(&self, keys: &[UserById]) -> Result<HashMap<UserById, Self::Value>, Self::Error> {
        let mut conn = self.conn().await?;
        let rows = users::find_many(&mut conn, &ids(keys, |k| k.0)).await.map_err(Arc::new)?;
        Ok(rows.into_iter().map(|user| (UserById(user.id), user)).collect())
    }
}

impl Loader<WorkspaceById> for DbLoader {
    type Value = workspaces::Workspace;
    type Error = Arc<ApiError>;

    async fn load(&self, keys: &[WorkspaceById]) -> Result<HashMap<WorkspaceById, Self::Value>, Self::Error> {
        let mut conn = self.conn().await?;
        let rows = workspaces::list(&mut conn, Some(&ids(keys, |k| k.0)), keys.len()).await.map_err(Arc::new)?;
        Ok(rows.into_iter().map(|workspace| (WorkspaceById(workspace.id), workspace)).collect())
    }
}

impl Loader<UsersOfWorkspace> for DbLoader {
    type Value = Vec<users::User>;
    type Error = Arc<ApiError>;

    async fn load(&self, keys: &[UsersOfWorkspace]) -> Result<HashMap<UsersOfWorkspace, Self::Value>, Self::Error> {
        let mut conn = self.conn().await?;
        let rows = users::members_of_workspaces(&mut conn, &ids(keys, |k| k.0)).await.map_err(Arc::new)?;
        let mut grouped: HashMap<UsersOfWorkspace, Vec<users::User>> = keys.iter().map(|k| (*k, Vec::new())).collect();
        for (workspace, user) in rows {
            grouped.entry(UsersOfWorkspace(workspace)).or_default().push(user);
        }
        Ok(grouped)
    }
}

impl Loader<RoleBindingsOfWorkspace> for DbLoader {
    /// Each binding with the service account holding it, if one does (read in the same statement: the
    /// two are one to one).
    type Value = Vec<(RoleBindingRow, Option<crate::domain::service_accounts::ServiceAccount>)>;
    type Error = Arc<ApiError>;

    async fn load(
        &self,
        keys: &[RoleBindingsOfWorkspace],
    ) -> Result<HashMap<RoleBindingsOfWorkspace, Self::Value>, Self::Error> {
        let mut conn = self.conn().await?;
        let rows =
            users::role_bindings_on_workspaces_with_accounts(&mut conn, &ids(keys, |k| k.0)).await.map_err(Arc::new)?;
        Ok(group(keys, rows, |(row, _)| RoleBindingsOfWorkspace(row.workspace_id.unwrap_or_default())))
    }
}

impl Loader<InvitesOfWorkspace> for DbLoader {
    type Value = Vec<invites::Invite>;
    type Error = Arc<ApiError>;

    async fn load(&self, keys: &[InvitesOfWorkspace]) -> Result<HashMap<InvitesOfWorkspace, Self::Value>, Self::Error> {
        let mut conn = self.conn().await?;
        let rows = invites::of_workspaces(&mut conn, &ids(keys, |k| k.0)).await.map_err(Arc::new)?;
        Ok(group(keys, rows, |row| InvitesOfWorkspace(row.workspace_id.unwrap_or_default())))
    }
}

/// Key: a service account by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceAccountById(pub Uuid);

impl Loader<ServiceAccountById> for DbLoader {
    type Value = crate::domain::service_accounts::ServiceAccount;
    type Error = Arc<ApiError>;

    async fn load(&self, keys: &[ServiceAccountById]) -> Result<HashMap<ServiceAccountById, Self::Value>, Self::Error> {
        let mut conn = self.conn().await?;
        let rows =
            crate::domain::service_accounts::find_many(&mut conn, &ids(keys, |k| k.0)).await.map_err(Arc::new)?;
        Ok(rows.into_iter().map(|row| (ServiceAccountById(row.id), row)).collect())
    }
}

/// Key: a live deployment by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeploymentById(pub Uuid);

/// Key: the live deployments of a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeploymentsOfWorkspace(pub Uuid);

/// Key: the role bindings on a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RoleBindingsOfDeployment(pub Uuid);

impl Loader<DeploymentById> for DbLoader {
    type Value = deployments::Deployment;
    type Error = Arc<ApiError>;

    async fn load(&self, keys: &[DeploymentById]) -> Result<HashMap<DeploymentById, Self::Value>, Self::Error> {
        let mut conn = self.conn().await?;
        let rows = deployments::by_ids(&mut conn, &ids(keys, |k| k.0)).await.map_err(Arc::new)?;
        Ok(rows.into_iter().map(|row| (DeploymentById(row.id), row)).collect())
    }
}

impl Loader<DeploymentsOfWorkspace> for DbLoader {
    type Value = Vec<deployments::Deployment>;
    type Error = Arc<ApiError>;

    async fn load(
        &self,
        keys: &[DeploymentsOfWorkspace],
    ) -> Result<HashMap<DeploymentsOfWorkspace, Self::Value>, Self::Error> {
        let mut conn = self.conn().await?;
        let rows = deployments::list(&mut conn, Some(&ids(keys, |k| k.0)), None, usize::MAX).await.map_err(Arc::new)?;
        Ok(group(keys, rows, |row| DeploymentsOfWorkspace(row.workspace_id)))
    }
}

impl Loader<RoleBindingsOfDeployment> for DbLoader {
    type Value = Vec<RoleBindingRow>;
    type Error = Arc<ApiError>;

    async fn load(
        &self,
        keys: &[RoleBindingsOfDeployment],
    ) -> Result<HashMap<RoleBindingsOfDeployment, Self::Value>, Self::Error> {
        let mut conn = self.conn().await?;
        let rows = deployments::role_bindings_on(&mut conn, &ids(keys, |k| k.0)).await.map_err(Arc::new)?;
        Ok(group(keys, rows, |row| RoleBindingsOfDeployment(row.deployment_id.unwrap_or_default())))
    }
}

/// Key: the role binding of a service account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RoleBindingOfServiceAccount(pub Uuid);

impl Loader<RoleBindingOfServiceAccount> for DbLoader {
    type Value = RoleBindingRow;
    type Error = Arc<ApiError>;

    async fn load(
        &self,
        keys: &[RoleBindingOfServiceAccount],
    ) -> Result<HashMap<RoleBindingOfServiceAccount, Self::Value>, Self::Error> {
        let mut conn = self.conn().await?;
        let rows =
            crate::domain::service_accounts::bindings_of(&mut conn, &ids(keys, |k| k.0)).await.map_err(Arc::new)?;
        Ok(rows
            .into_iter()
            .filter_map(|row| Some((RoleBindingOfServiceAccount(row.service_account_id?), row)))
            .collect())
    }
}

/// Key: the ancestry of a workspace or deployment (its workspace and organization).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AncestryOf(pub Uuid);

impl Loader<AncestryOf> for DbLoader {
    type Value = crate::rbac::Ancestry;
    type Error = Arc<ApiError>;

    async fn load(&self, keys: &[AncestryOf]) -> Result<HashMap<AncestryOf, Self::Value>, Self::Error> {
        let mut conn = self.conn().await?;
        let rows = crate::db::models::workspace::ancestry(&mut conn, &ids(keys, |k| k.0))
            .await
            .map_err(|e| Arc::new(ApiError::from(e)))?;
        Ok(rows.into_iter().filter_map(|at| Some((AncestryOf(at.object().id()?), at))).collect())
    }
}

/// Key: a team by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TeamById(pub Uuid);

impl Loader<TeamById> for DbLoader {
    type Value = crate::domain::teams::Team;
    type Error = Arc<ApiError>;

    async fn load(&self, keys: &[TeamById]) -> Result<HashMap<TeamById, Self::Value>, Self::Error> {
        let mut conn = self.conn().await?;
        let rows = crate::domain::teams::find_many(&mut conn, &ids(keys, |k| k.0)).await.map_err(Arc::new)?;
        Ok(rows.into_iter().map(|team| (TeamById(team.id), team)).collect())
    }
}

/// Key: a custom role by id (docs/custom-roles.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CustomRoleById(pub Uuid);

impl Loader<CustomRoleById> for DbLoader {
    type Value = crate::domain::custom_roles::CustomRole;
    type Error = Arc<ApiError>;

    async fn load(&self, keys: &[CustomRoleById]) -> Result<HashMap<CustomRoleById, Self::Value>, Self::Error> {
        let mut conn = self.conn().await?;
        let rows = crate::domain::custom_roles::by_ids(&mut conn, &ids(keys, |k| k.0)).await.map_err(Arc::new)?;
        Ok(rows.into_iter().map(|role| (CustomRoleById(role.row.id), role)).collect())
    }
}

/// Key: the members of a team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MembersOfTeam(pub Uuid);

impl Loader<MembersOfTeam> for DbLoader {
    type Value = Vec<users::User>;
    type Error = Arc<ApiError>;

    async fn load(&self, keys: &[MembersOfTeam]) -> Result<HashMap<MembersOfTeam, Self::Value>, Self::Error> {
        let mut conn = self.conn().await?;
        let rows = crate::domain::teams::members_of(&mut conn, &ids(keys, |k| k.0)).await.map_err(Arc::new)?;
        let mut grouped: HashMap<MembersOfTeam, Vec<users::User>> = keys.iter().map(|k| (*k, Vec::new())).collect();
        for (team, user) in rows {
            grouped.entry(MembersOfTeam(team)).or_default().push(user);
        }
        Ok(grouped)
    }
}

/// Key: the role bindings a team holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RoleBindingsOfTeam(pub Uuid);

impl Loader<RoleBindingsOfTeam> for DbLoader {
    type Value = Vec<RoleBindingRow>;
    type Error = Arc<ApiError>;

    async fn load(&self, keys: &[RoleBindingsOfTeam]) -> Result<HashMap<RoleBindingsOfTeam, Self::Value>, Self::Error> {
        let mut conn = self.conn().await?;
        let rows = crate::domain::teams::bindings_of(&mut conn, &ids(keys, |k| k.0)).await.map_err(Arc::new)?;
        Ok(group(keys, rows, |row| RoleBindingsOfTeam(row.team_id.unwrap_or_default())))
    }
}

/// Key: the bindings teams hold on a workspace or deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TeamBindingsOn(pub Uuid);

impl Loader<TeamBindingsOn> for DbLoader {
    type Value = Vec<RoleBindingRow>;
    type Error = Arc<ApiError>;

    async fn load(&self, keys: &[TeamBindingsOn]) -> Result<HashMap<TeamBindingsOn, Self::Value>, Self::Error> {
        let mut conn = self.conn().await?;
        let rows = crate::domain::teams::bindings_on(&mut conn, &ids(keys, |k| k.0)).await.map_err(Arc::new)?;
        Ok(group(keys, rows, |row| TeamBindingsOn(row.workspace_id.or(row.deployment_id).unwrap_or_default())))
    }
}

/// Key: an organization by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrganizationById(pub Uuid);

impl Loader<OrganizationById> for DbLoader {
    type Value = crate::domain::organizations::OrganizationRow;
    type Error = Arc<ApiError>;

    async fn load(&self, keys: &[OrganizationById]) -> Result<HashMap<OrganizationById, Self::Value>, Self::Error> {
        let mut conn = self.conn().await?;
        let ids = ids(keys, |k| k.0);
        let rows = crate::domain::organizations::list(&mut conn, Some(&ids), ids.len()).await.map_err(Arc::new)?;
        Ok(rows.into_iter().map(|row| (OrganizationById(row.id), row)).collect())
    }
}

/// Key: the workspaces a dedicated cluster is limited to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WorkspacesOfCluster(pub Uuid);

impl Loader<WorkspacesOfCluster> for DbLoader {
    type Value = Vec<Uuid>;
    type Error = Arc<ApiError>;

    async fn load(
        &self,
        keys: &[WorkspacesOfCluster],
    ) -> Result<HashMap<WorkspacesOfCluster, Self::Value>, Self::Error> {
        let mut conn = self.conn().await?;
        let rows =
            crate::domain::clusters::allowed_workspaces(&mut conn, &ids(keys, |k| k.0)).await.map_err(Arc::new)?;
        let mut grouped: HashMap<WorkspacesOfCluster, Vec<Uuid>> = keys.iter().map(|k| (*k, Vec::new())).collect();
        for (cluster, workspace) in rows {
            grouped.entry(WorkspacesOfCluster(cluster)).or_default().push(workspace);
        }
        Ok(grouped)
    }
}
