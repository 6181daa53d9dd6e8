//! Team queries and mutations: capcom's own names (`teams`, `createTeam`, …) and the names the astro CLI
//! sends (`paginatedTeams`, `workspaceAddTeam`, …).

use crate::domain::memberships::RoleRequest;
use async_graphql::{Context, Object, Result, SimpleObject};
use uuid::Uuid as RawUuid;

use crate::domain::teams::{self, Team as TeamRow, TeamRoleChange};
use crate::error::ApiError;
use crate::graphql::authz::{Access, Member, Op, TeamReached, access};
use crate::graphql::context::{actor, conn, loader, state};
use crate::graphql::loaders::TeamBindingsOn;
use crate::graphql::scalars::Uuid;
use crate::graphql::types::connection::{self, Page};
use crate::graphql::types::team::Team;
use crate::graphql::types::user::{RoleBinding, User};
use crate::graphql::types::workspace::{Workspace, teams_of};
use crate::graphql::workspaces::{DeploymentRoles, deployment_role_requests, readable_workspace};
use crate::rbac::{Ancestry, Role, ScopeRef};

/// Houston's page of teams: the page and the size of the whole list.
#[derive(SimpleObject)]
pub struct PaginatedTeams {
    /// How many teams the whole list holds (walking the cursor returns exactly these).
    pub count: i64,
    /// This page.
    pub teams: Vec<Team>,
}

/// A team reached through its organization, as the caller may read it.
async fn through_organization(access: &Access, team: TeamRow) -> Result<Team> {
    let via = Ancestry::organization(team.organization_id);
    Ok(Team::from(access.admit_one(TeamReached { team, via }).await?))
}

async fn team_row(ctx: &Context<'_>, id: RawUuid) -> Result<TeamRow, ApiError> {
    let mut conn = conn(ctx).await?;
    teams::get(&mut conn, id).await
}

/// Houston's paging over an ordered list, as the CLI's pager drives it: `take` items after the item at
/// `cursor` (from the start when absent), or with a negative `take` the `|take|` items just before it, in
/// the list's order. Without a cursor (`cursor: ""`, or an id no longer in the list) a page starts at the
/// beginning whichever way it goes. No `take` (or `0`) is the rest of the list.
pub(crate) fn houston_page<T>(items: Vec<T>, cursor: Option<usize>, take: Option<i32>) -> Vec<T> {
    match (take, cursor) {
        (Some(take), Some(end)) if take < 0 => {
            let start = end.saturating_sub(take.unsigned_abs() as usize);
            items.into_iter().skip(start).take(end - start).collect()
        }
        (take, cursor) => {
            let start = cursor.map(|position| position + 1).unwrap_or(0);
            let count = take.filter(|t| *t != 0).map(|t| t.unsigned_abs() as usize).unwrap_or(usize::MAX);
            items.into_iter().skip(start).take(count).collect()
        }
    }
}

/// Team queries.
#[derive(Default)]
pub struct TeamQuery;

#[Object(guard = "Op")]
impl TeamQuery {
    /// The teams of an organization (the caller's only organization when none is named), by name (a Relay
    /// connection).
    async fn teams(
        &self,
        ctx: &Context<'_>,
        organization_uuid: Option<Uuid>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<Team>> {
        let access = access(ctx)?;
        let organization = match organization_uuid.and_then(Uuid::get) {
            Some(id) => id,
            None => access.only_organization("organizationUuid")?,
        };
        let limit = connection::page_size(first)?;
        let position: Option<(String, RawUuid)> = connection::after(after.as_deref())?;
        let had_cursor = position.is_some();
        let (rows, total) = {
            let mut conn = conn(ctx).await?;
            let rows = teams::page(&mut conn, Some(organization), position, limit).await?;
            (rows, teams::count(&mut conn, Some(organization)).await?)
        };
        let via = Ancestry::organization(organization);
        let reached = rows.into_iter().map(|team| TeamReached { team, via }).collect();
        let admitted = access.admit_all(reached).await?;
        Ok(connection::page(admitted, limit, had_cursor, total, |team| {
            (connection::cursor(&(team.team.name.clone(), team.team.id)), Team::from(team))
        }))
    }

    /// Houston's page of teams: those holding a role on `workspaceUuid`, or else those of the caller's
    /// organization (`organizationUuid`); `take` after `cursor` (a team id), backwards when negative.
    async fn paginated_teams(
        &self,
        ctx: &Context<'_>,
        take: Option<i32>,
        cursor: Option<Uuid>,
        workspace_uuid: Option<Uuid>,
        organization_uuid: Option<Uuid>,
    ) -> Result<PaginatedTeams> {
        let access = access(ctx)?;
        let cap = state(ctx)?.config.list_cap;
        let all: Vec<Team> = match workspace_uuid.and_then(Uuid::get) {
            Some(workspace) => {
                let bindings = loader(ctx)?.load_one(TeamBindingsOn(workspace)).await?.unwrap_or_default();
                let at = access.ancestry_of(ScopeRef::Workspace(workspace)).await?;
                teams_of(ctx, &bindings, at).await?
            }
            None => {
                let organization = match organization_uuid.and_then(Uuid::get) {
                    Some(id) => id,
                    None => access.only_organization("organizationUuid")?,
                };
                let rows = {
                    let mut conn = conn(ctx).await?;
                    teams::page(&mut conn, Some(organization), None, cap).await?
                };
                let via = Ancestry::organization(organization);
                let reached = rows.into_iter().take(cap).map(|team| TeamReached { team, via }).collect();
                access.admit_all(reached).await?.into_iter().map(Team::from).collect()
            }
        };
        let count = i64::try_from(all.len()).unwrap_or(i64::MAX);
        let position = cursor.and_then(Uuid::get).and_then(|id| all.iter().position(|t| t.uuid() == id));
        Ok(PaginatedTeams { count, teams: houston_page(all, position, take) })
    }

    /// One team: through the workspace named (the team must hold a role there, else NOT_FOUND), or else
    /// through its organization.
    async fn team(&self, ctx: &Context<'_>, team_uuid: Uuid, workspace_uuid: Option<Uuid>) -> Result<Team> {
        let team = team_row(ctx, team_uuid.required("teamUuid")?).await?;
        let access = access(ctx)?;
        match workspace_uuid.and_then(Uuid::get) {
            Some(workspace) => {
                let bindings = loader(ctx)?.load_one(TeamBindingsOn(workspace)).await?.unwrap_or_default();
                if !bindings.iter().any(|b| b.team_id == Some(team.id)) {
                    return Err(ApiError::NotFound.into());
                }
                let via = access.ancestry_of(ScopeRef::Workspace(workspace)).await?;
                Ok(Team::from(access.admit_one(TeamReached { team, via }).await?))
            }
            None => through_organization(access, team).await,
        }
    }

    /// The members of a team.
    async fn team_users(&self, ctx: &Context<'_>, team_uuid: Uuid) -> Result<Vec<User>> {
        let team = team_row(ctx, team_uuid.required("teamUuid")?).await?;
        let users = {
            let mut conn = conn(ctx).await?;
            teams::members_of(&mut conn, &[team.id]).await?
        };
        let via = Ancestry::organization(team.organization_id);
        let members = users.into_iter().map(|(_, user)| Member { user, via }).collect();
        User::list(ctx, access(ctx)?.admit_all(members).await?).await
    }

    /// Teams holding a role on the workspace.
    async fn workspace_teams(&self, ctx: &Context<'_>, workspace_uuid: Uuid) -> Result<Vec<Team>> {
        let workspace = workspace_uuid.required("workspaceUuid")?;
        let bindings = loader(ctx)?.load_one(TeamBindingsOn(workspace)).await?.unwrap_or_default();
        let at = access(ctx)?.ancestry_of(ScopeRef::Workspace(workspace)).await?;
        teams_of(ctx, &bindings, at).await
    }

    /// Teams holding a role on the deployment.
    async fn deployment_teams(&self, ctx: &Context<'_>, deployment_uuid: Uuid) -> Result<Vec<Team>> {
        let deployment = deployment_uuid.required("deploymentUuid")?;
        let bindings = loader(ctx)?.load_one(TeamBindingsOn(deployment)).await?.unwrap_or_default();
        let at = access(ctx)?.ancestry_of(ScopeRef::Deployment(deployment)).await?;
        teams_of(ctx, &bindings, at).await
    }
}

/// Team mutations.
#[derive(Default)]
pub struct TeamMutation;

/// Applies a role change and returns the binding as the caller may read it.
async fn role_change(ctx: &Context<'_>, team: Uuid, object: ScopeRef, change: TeamRoleChange) -> Result<RoleBinding> {
    let row = changed_role(ctx, team, object, change).await?;
    Ok(RoleBinding::from(access(ctx)?.admit_one(row).await?))
}

/// The change of [`role_change`] for a field that does not answer with the binding (a role's name, the
/// workspace): the binding is not read-checked, since it is not shown, so the operation table's answer
/// of the field is all the caller must read (`crate::rbac::operations::reads_needed`).
async fn changed_role(
    ctx: &Context<'_>,
    team: Uuid,
    object: ScopeRef,
    change: TeamRoleChange,
) -> Result<crate::db::models::role_binding::RoleBindingRow> {
    let team = team.required("teamUuid")?;
    let authority = access(ctx)?.authority()?;
    let mut conn = conn(ctx).await?;
    Ok(teams::change_role(&mut conn, team, object, change, &authority, &actor(ctx)).await?)
}

#[Object(guard = "Op")]
impl TeamMutation {
    /// Creates a team in an organization (the caller's only one when none is named).
    async fn create_team(
        &self,
        ctx: &Context<'_>,
        organization_uuid: Option<Uuid>,
        name: String,
        description: Option<String>,
    ) -> Result<Team> {
        let access = access(ctx)?;
        let organization = match organization_uuid.and_then(Uuid::get) {
            Some(id) => id,
            None => access.only_organization("organizationUuid")?,
        };
        let team = {
            let mut conn = conn(ctx).await?;
            teams::create(&mut conn, organization, &name, description.as_deref(), &actor(ctx)).await?
        };
        through_organization(access, team).await
    }

    /// Renames a team or changes its description.
    async fn update_team(
        &self,
        ctx: &Context<'_>,
        team_uuid: Uuid,
        name: Option<String>,
        description: Option<String>,
    ) -> Result<Team> {
        let id = team_uuid.required("teamUuid")?;
        let now = state(ctx)?.clock.now();
        let team = {
            let mut conn = conn(ctx).await?;
            teams::update(&mut conn, id, name.as_deref(), description.as_deref(), now, &actor(ctx)).await?
        };
        through_organization(access(ctx)?, team).await
    }

    /// Deletes a team; its members lose its roles.
    async fn delete_team(&self, ctx: &Context<'_>, team_uuid: Uuid) -> Result<Team> {
        let id = team_uuid.required("teamUuid")?;
        let authority = access(ctx)?.authority()?;
        let team = {
            let mut conn = conn(ctx).await?;
            teams::delete(&mut conn, id, &authority, &actor(ctx)).await?
        };
        through_organization(access(ctx)?, team).await
    }

    /// Adds a member of the team's organization to the team (BAD_USER_INPUT for someone outside it).
    /// Joining a team grants every role the team holds, so the caller must be able to grant each of
    /// them at its scope, system roles included (FORBIDDEN otherwise; SPEC §2 grant rule).
    async fn team_add_user(&self, ctx: &Context<'_>, team_uuid: Uuid, user_uuid: Uuid) -> Result<Team> {
        let (id, user) = (team_uuid.required("teamUuid")?, user_uuid.required("userUuid")?);
        let authority = access(ctx)?.authority()?;
        let team = {
            let mut conn = conn(ctx).await?;
            teams::add_member(&mut conn, id, user, &authority, &actor(ctx)).await?
        };
        through_organization(access(ctx)?, team).await
    }

    /// Removes a member from the team: they lose its roles from their next request on.
    async fn team_remove_user(&self, ctx: &Context<'_>, team_uuid: Uuid, user_uuid: Uuid) -> Result<Team> {
        let (id, user) = (team_uuid.required("teamUuid")?, user_uuid.required("userUuid")?);
        let authority = access(ctx)?.authority()?;
        let team = {
            let mut conn = conn(ctx).await?;
            teams::remove_member(&mut conn, id, user, &authority, &actor(ctx)).await?
        };
        through_organization(access(ctx)?, team).await
    }

    /// Gives a team an organization role, or changes it.
    async fn organization_update_team_role(
        &self,
        ctx: &Context<'_>,
        organization_uuid: Uuid,
        team_uuid: Uuid,
        role: Role,
    ) -> Result<RoleBinding> {
        let organization = organization_uuid.required("organizationUuid")?;
        let request = RoleRequest::from_arguments(Some(role), None, None)?;
        role_change(ctx, team_uuid, ScopeRef::Organization(organization), TeamRoleChange::Set(request)).await
    }

    /// Gives a team of the workspace's organization a workspace role (and deployment roles in it): `role`
    /// (default WORKSPACE_VIEWER) or, instead, the organization's custom workspace role `customRoleUuid`;
    /// each of `deploymentRoles` a DEPLOYMENT_* role or, with its `customRoleUuid`, a custom deployment role.
    async fn workspace_add_team(
        &self,
        ctx: &Context<'_>,
        workspace_uuid: Uuid,
        team_uuid: Uuid,
        role: Option<Role>,
        deployment_roles: Option<Vec<DeploymentRoles>>,
        custom_role_uuid: Option<Uuid>,
    ) -> Result<Workspace> {
        let workspace = workspace_uuid.required("workspaceUuid")?;
        let role =
            RoleRequest::from_arguments(role, custom_role_uuid.and_then(Uuid::get), Some(Role::WorkspaceViewer))?;
        let team = team_uuid.required("teamUuid")?;
        let requests = deployment_role_requests(deployment_roles)?;
        let authority = access(ctx)?.authority()?;
        {
            let mut conn = conn(ctx).await?;
            teams::add_to_workspace(&mut conn, team, workspace, role, &requests, &authority, &actor(ctx)).await?;
        }
        readable_workspace(ctx, workspace).await
    }

    /// Changes a team's workspace role to `role` or, instead, to the custom workspace role
    /// `customRoleUuid`; returns it (`WORKSPACE_CUSTOM` for a custom role).
    async fn workspace_update_team_role(
        &self,
        ctx: &Context<'_>,
        workspace_uuid: Uuid,
        team_uuid: Uuid,
        role: Option<Role>,
        custom_role_uuid: Option<Uuid>,
    ) -> Result<Role> {
        let workspace = workspace_uuid.required("workspaceUuid")?;
        let request = RoleRequest::from_arguments(role, custom_role_uuid.and_then(Uuid::get), None)?;
        let binding =
            changed_role(ctx, team_uuid, ScopeRef::Workspace(workspace), TeamRoleChange::Update(request)).await?;
        Ok(binding.role.parse::<Role>().map_err(ApiError::internal)?)
    }

    /// Takes a team's workspace role away, and its deployment roles in the workspace.
    async fn workspace_remove_team(
        &self,
        ctx: &Context<'_>,
        workspace_uuid: Uuid,
        team_uuid: Uuid,
    ) -> Result<Workspace> {
        let workspace = workspace_uuid.required("workspaceUuid")?;
        changed_role(ctx, team_uuid, ScopeRef::Workspace(workspace), TeamRoleChange::Remove(None)).await?;
        readable_workspace(ctx, workspace).await
    }

    /// Gives a team a deployment role (`role`, default DEPLOYMENT_VIEWER, or the custom deployment role
    /// `customRoleUuid`); the team must hold a role in the deployment's workspace.
    async fn deployment_add_team_role(
        &self,
        ctx: &Context<'_>,
        team_uuid: Uuid,
        deployment_uuid: Uuid,
        role: Option<Role>,
        custom_role_uuid: Option<Uuid>,
    ) -> Result<RoleBinding> {
        let deployment = deployment_uuid.required("deploymentUuid")?;
        let request =
            RoleRequest::from_arguments(role, custom_role_uuid.and_then(Uuid::get), Some(Role::DeploymentViewer))?;
        role_change(ctx, team_uuid, ScopeRef::Deployment(deployment), TeamRoleChange::Add(request)).await
    }

    /// Changes a team's deployment role to `role` or to the custom deployment role `customRoleUuid`.
    async fn deployment_update_team_role(
        &self,
        ctx: &Context<'_>,
        deployment_uuid: Uuid,
        team_uuid: Uuid,
        role: Option<Role>,
        custom_role_uuid: Option<Uuid>,
    ) -> Result<RoleBinding> {
        let deployment = deployment_uuid.required("deploymentUuid")?;
        let request = RoleRequest::from_arguments(role, custom_role_uuid.and_then(Uuid::get), None)?;
        role_change(ctx, team_uuid, ScopeRef::Deployment(deployment), TeamRoleChange::Update(request)).await
    }

    /// Takes a team's deployment role away.
    async fn deployment_remove_team_role(
        &self,
        ctx: &Context<'_>,
        deployment_uuid: Uuid,
        team_uuid: Uuid,
    ) -> Result<RoleBinding> {
        let deployment = deployment_uuid.required("deploymentUuid")?;
        role_change(ctx, team_uuid, ScopeRef::Deployment(deployment), TeamRoleChange::Remove(None)).await
    }

    /// Gives a team a system role (replacing the one it holds).
    async fn create_team_system_role_binding(
        &self,
        ctx: &Context<'_>,
        team_uuid: Uuid,
        role: Role,
    ) -> Result<RoleBinding> {
        let request = RoleRequest::from_arguments(Some(role), None, None)?;
        role_change(ctx, team_uuid, ScopeRef::System, TeamRoleChange::Set(request)).await
    }

    /// Takes a system role from a team.
    async fn delete_team_system_role_binding(
        &self,
        ctx: &Context<'_>,
        team_uuid: Uuid,
        role: Role,
    ) -> Result<RoleBinding> {
        role_change(ctx, team_uuid, ScopeRef::System, TeamRoleChange::Remove(Some(role))).await
    }
}

#[cfg(test)]
mod paging_tests {
    use super::houston_page;

    #[test]
    fn pages_go_forward_and_back_in_the_same_order() {
        let rows: Vec<u8> = (0..10).collect();
        assert_eq!(houston_page(rows.clone(), None, Some(3)), [0, 1, 2]);
        assert_eq!(houston_page(rows.clone(), Some(2), Some(3)), [3, 4, 5]);
        assert_eq!(houston_page(rows.clone(), Some(3), Some(-3)), [0, 1, 2]);
        assert_eq!(houston_page(rows.clone(), Some(6), Some(-3)), [3, 4, 5]);
        assert_eq!(houston_page(rows.clone(), Some(1), Some(-3)), [0], "fewer rows than asked before the cursor");
        assert_eq!(houston_page(rows.clone(), Some(0), Some(-3)), Vec::<u8>::new(), "nothing before the first row");
        assert_eq!(houston_page(rows.clone(), None, Some(-3)), [0, 1, 2], "no cursor: the first page");
        assert_eq!(houston_page(rows.clone(), Some(8), Some(5)), [9]);
        assert_eq!(houston_page(rows.clone(), None, None).len(), 10);
        assert_eq!(houston_page(rows, Some(4), Some(i32::MIN)), [0, 1, 2, 3], "no overflow at the edge");
    }
}
