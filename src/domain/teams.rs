//! Teams: named groups of an organization's users that hold organization, workspace, deployment and
//! system roles for their members (SPEC §1–§2). A member's effective permissions include the team's
//! roles from their next request on (bindings are loaded per request).

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::json;
use uuid::Uuid;

use crate::db::models::deployment::Deployment;
use crate::db::models::role_binding::RoleBindingRow;
use crate::db::models::team::TeamChanges;
use crate::db::models::user::User;
use crate::db::models::workspace::Workspace;
use crate::domain::audit::{self, Change};
use crate::domain::memberships::{self, Conferred, Grantor, RoleRequest};
use crate::domain::{Actor, Authority, Holder, validate};
use crate::error::{ApiError, ApiResult};
use crate::rbac::{Role, Scope, ScopeRef};

pub use crate::db::models::team::Team;

/// Audit snapshot of a team.
pub fn snapshot(team: &Team) -> serde_json::Value {
    json!({"id": team.id, "organizationId": team.organization_id, "name": team.name, "description": team.description})
}

fn name_conflict(error: diesel::result::Error) -> ApiError {
    use diesel::result::{DatabaseErrorKind, Error};
    match &error {
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
            if info.constraint_name() == Some("teams_organization_name_key") =>
        {
            ApiError::conflict("A team with this name already exists in the organization")
        }
        _ => ApiError::from(error),
    }
}

/// The team, or NOT_FOUND.
pub async fn get(conn: &mut AsyncPgConnection, id: Uuid) -> ApiResult<Team> {
    Team::find(conn, id).await?.ok_or(ApiError::NotFound)
}

/// Teams by id (one statement).
pub async fn find_many(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> ApiResult<Vec<Team>> {
    Ok(Team::find_many(conn, ids).await?)
}

/// A page of the teams of `organization_id` (every organization's with `None`) by name, after `after`
/// (`(name, id)`); `limit + 1` rows are read so that the caller can tell whether another page follows.
pub async fn page(
    conn: &mut AsyncPgConnection,
    organization_id: Option<Uuid>,
    after: Option<(String, Uuid)>,
    limit: usize,
) -> ApiResult<Vec<Team>> {
    Ok(Team::page(conn, organization_id, after, i64::try_from(limit + 1).unwrap_or(i64::MAX)).await?)
}

/// How many teams `organization_id` has (every organization with `None`).
pub async fn count(conn: &mut AsyncPgConnection, organization_id: Option<Uuid>) -> ApiResult<i64> {
    Ok(Team::count(conn, organization_id).await?)
}

/// `(team, member)` for the members of these teams (one statement).
pub async fn members_of(conn: &mut AsyncPgConnection, team_ids: &[Uuid]) -> ApiResult<Vec<(Uuid, User)>> {
    Ok(Team::members_of(conn, team_ids).await?)
}

/// The role bindings of these teams (one statement).
pub async fn bindings_of(conn: &mut AsyncPgConnection, team_ids: &[Uuid]) -> ApiResult<Vec<RoleBindingRow>> {
    Ok(RoleBindingRow::of_teams(conn, team_ids).await?)
}

/// Bindings held by teams on these workspaces or deployments (one statement).
pub async fn bindings_on(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> ApiResult<Vec<RoleBindingRow>> {
    Ok(RoleBindingRow::team_bindings_on(conn, ids).await?)
}

/// Creates a team in an organization.
pub async fn create(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    name: &str,
    description: Option<&str>,
    actor: &Actor,
) -> ApiResult<Team> {
    let name = validate::label("name", name, validate::MAX_LABEL)?;
    let description = validate::description("description", description.unwrap_or_default())?;
    conn.transaction(async |tx| {
        crate::db::models::organization::Organization::find(tx, organization_id).await?.ok_or(ApiError::NotFound)?;
        let team = Team::insert(tx, organization_id, &name, &description).await.map_err(name_conflict)?;
        audit::record(
            tx,
            actor,
            Change {
                action: "team.create",
                target_type: "team",
                target_id: Some(team.id),
                organization_id: Some(organization_id),
                after: Some(snapshot(&team)),
                ..Change::default()
            },
        )
        .await?;
        Ok(team)
    })
    .await
}

/// Renames a team or changes its description.
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    name: Option<&str>,
    description: Option<&str>,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<Team> {
    let changes = TeamChanges {
        name: name.map(|n| validate::label("name", n, validate::MAX_LABEL)).transpose()?,
        description: description.map(|d| validate::description("description", d)).transpose()?,
        updated_at: Some(now),
    };
    conn.transaction(async |tx| {
        let before = Team::find_for_update(tx, id).await?.ok_or(ApiError::NotFound)?;
        let after = Team::update(tx, id, &changes).await.map_err(name_conflict)?;
        audit::record(
            tx,
            actor,
            Change {
                action: "team.update",
                target_type: "team",
                target_id: Some(id),
                organization_id: Some(after.organization_id),
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

/// Deletes a team; its members lose its roles (taking them away needs the authority to grant them).
pub async fn delete(conn: &mut AsyncPgConnection, id: Uuid, authority: &Authority, actor: &Actor) -> ApiResult<Team> {
    conn.transaction(async |tx| {
        let team = Team::find_for_update(tx, id).await?.ok_or(ApiError::NotFound)?;
        memberships::check_team_deletion(tx, &Grantor::Caller(authority), &team).await?;
        Team::delete(tx, id).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "team.delete",
                target_type: "team",
                target_id: Some(id),
                organization_id: Some(team.organization_id),
                before: Some(snapshot(&team)),
                ..Change::default()
            },
        )
        .await?;
        Ok(team)
    })
    .await
}

/// Adds a member of the team's organization to the team (BAD_USER_INPUT for someone outside it,
/// CONFLICT for a member already). Joining a team grants every role it holds: the caller must be able to
/// grant each of them, system roles included (FORBIDDEN otherwise; SPEC §2).
pub async fn add_member(
    conn: &mut AsyncPgConnection,
    team_id: Uuid,
    user_id: Uuid,
    authority: &Authority,
    actor: &Actor,
) -> ApiResult<Team> {
    conn.transaction(async |tx| {
        let team = Team::find(tx, team_id).await?.ok_or(ApiError::NotFound)?;
        // Lock order: the organization, then the team (crate::domain::memberships).
        memberships::lock_organization(tx, team.organization_id).await?;
        let team = Team::find_for_update(tx, team_id).await?.ok_or(ApiError::NotFound)?;
        User::find(tx, user_id).await?.ok_or(ApiError::NotFound)?;
        if !memberships::add_team_member(tx, &Grantor::Caller(authority), &team, user_id).await? {
            return Err(ApiError::conflict("This user is already a member of the team"));
        }
        audit::record(
            tx,
            actor,
            Change {
                action: "team.user.add",
                target_type: "user",
                target_id: Some(user_id),
                organization_id: Some(team.organization_id),
                after: Some(json!({"teamId": team_id, "userId": user_id})),
                ..Change::default()
            },
        )
        .await?;
        Ok(team)
    })
    .await
}

/// Removes a member from the team (NOT_FOUND if they are not one); taking the team's roles away needs
/// the authority to grant them.
pub async fn remove_member(
    conn: &mut AsyncPgConnection,
    team_id: Uuid,
    user_id: Uuid,
    authority: &Authority,
    actor: &Actor,
) -> ApiResult<Team> {
    conn.transaction(async |tx| {
        let team = Team::find_for_update(tx, team_id).await?.ok_or(ApiError::NotFound)?;
        if !memberships::remove_team_member(tx, &Grantor::Caller(authority), &team, user_id).await? {
            return Err(ApiError::NotFound);
        }
        audit::record(
            tx,
            actor,
            Change {
                action: "team.user.remove",
                target_type: "user",
                target_id: Some(user_id),
                organization_id: Some(team.organization_id),
                before: Some(json!({"teamId": team_id, "userId": user_id})),
                ..Change::default()
            },
        )
        .await?;
        Ok(team)
    })
    .await
}

/// What to do with a team's role on an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeamRoleChange {
    /// Grant a role the team does not hold there yet (CONFLICT if it holds one).
    Add(RoleRequest),
    /// Change the role it holds there (NOT_FOUND if none).
    Update(RoleRequest),
    /// Grant or change.
    Set(RoleRequest),
    /// Take the role away (NOT_FOUND if none); a team leaving a workspace also leaves its deployments.
    Remove(Option<Role>),
}

/// Checks that the object belongs to the team's organization (NOT_FOUND otherwise) and, for a deployment,
/// that the team holds a role in the deployment's workspace (SPEC §2: as for users).
async fn check_object(tx: &mut AsyncPgConnection, team: &Team, object: ScopeRef, granting: bool) -> ApiResult<()> {
    match object {
        ScopeRef::System => Ok(()),
        ScopeRef::Organization(id) if id == team.organization_id => Ok(()),
        ScopeRef::Organization(_) => Err(ApiError::NotFound),
        ScopeRef::Workspace(id) => {
            let workspace = Workspace::find(tx, id).await?.ok_or(ApiError::NotFound)?;
            if workspace.organization_id == team.organization_id { Ok(()) } else { Err(ApiError::NotFound) }
        }
        ScopeRef::Deployment(id) => {
            let deployment = Deployment::live_by_ids(tx, &[id]).await?.into_iter().next().ok_or(ApiError::NotFound)?;
            let workspace = Workspace::find(tx, deployment.workspace_id).await?.ok_or(ApiError::NotFound)?;
            if workspace.organization_id != team.organization_id {
                return Err(ApiError::NotFound);
            }
            let in_workspace =
                RoleBindingRow::team_on_for_update(tx, team.id, Scope::Workspace.as_str(), Some(workspace.id)).await?;
            if granting && in_workspace.is_none() {
                return Err(ApiError::bad_input(
                    "teamUuid",
                    "This team has no role in the deployment's workspace; add it to the workspace first",
                ));
            }
            Ok(())
        }
    }
}

/// Grants, changes or removes a team's role on `object`; returns the binding (as it was, for a removal).
/// Escalation rules apply as for users: granting a role, and changing or taking away the one held, need
/// the authority to grant it there.
pub async fn change_role(
    conn: &mut AsyncPgConnection,
    team_id: Uuid,
    object: ScopeRef,
    change: TeamRoleChange,
    authority: &Authority,
    actor: &Actor,
) -> ApiResult<RoleBindingRow> {
    check_role_scope(object, change)?;
    conn.transaction(async |tx| {
        let team = Team::find_for_update(tx, team_id).await?.ok_or(ApiError::NotFound)?;
        let (row, before, after) = change_role_in(tx, &team, object, change, authority, actor).await?;
        record_role_change(tx, &team, object, before.as_ref(), after.as_ref(), &[], actor).await?;
        Ok(row)
    })
    .await
}

/// Gives a team a workspace role together with deployment roles in that workspace (Houston's
/// `workspaceAddTeam`), in one transaction. Deployment roles are built-in or custom
/// ([`memberships::resolve_deployment_roles`]); the grant rule applies to each, and they are decided and
/// written together, so their number does not change how many statements the change costs.
pub async fn add_to_workspace(
    conn: &mut AsyncPgConnection,
    team_id: Uuid,
    workspace_id: Uuid,
    role: RoleRequest,
    deployment_roles: &[memberships::DeploymentRoleRequest],
    authority: &Authority,
    actor: &Actor,
) -> ApiResult<()> {
    let object = ScopeRef::Workspace(workspace_id);
    check_role_scope(object, TeamRoleChange::Add(role))?;
    memberships::check_deployment_requests(deployment_roles)?;
    conn.transaction(async |tx| {
        let team = Team::find_for_update(tx, team_id).await?.ok_or(ApiError::NotFound)?;
        let workspace = Workspace::find(tx, workspace_id).await?.ok_or(ApiError::NotFound)?;
        if workspace.organization_id != team.organization_id {
            return Err(ApiError::NotFound);
        }
        // Deployments of another workspace are NOT_FOUND before anything else is decided.
        let requested = memberships::resolve_deployment_roles(tx, &workspace, deployment_roles).await?;
        let (_, before, after) = change_role_in(tx, &team, object, TeamRoleChange::Add(role), authority, actor).await?;
        // The team holds a role in the workspace now: its deployment roles there may follow.
        let grantor = Grantor::Caller(authority);
        memberships::grant_deployment_roles(tx, &grantor, Holder::Team(team.id), &requested, actor.user_id).await?;
        let granted = memberships::deployment_roles_snapshot(&requested);
        record_role_change(tx, &team, object, before.as_ref(), after.as_ref(), &granted, actor).await
    })
    .await
}

fn check_role_scope(object: ScopeRef, change: TeamRoleChange) -> ApiResult<()> {
    let scope = object.scope();
    if let TeamRoleChange::Add(RoleRequest::Builtin(role))
    | TeamRoleChange::Update(RoleRequest::Builtin(role))
    | TeamRoleChange::Set(RoleRequest::Builtin(role)) = change
    {
        let role = memberships::built_in("role", role)?;
        if role.scope() != Some(scope) {
            return Err(ApiError::bad_input("role", format!("{role} is not a {} role", scope.as_str().to_lowercase())));
        }
    }
    Ok(())
}

/// What [`change_role_in`] did: the binding, the role held before and after (with their custom roles).
pub type RoleChangeOutcome = (RoleBindingRow, Option<Conferred>, Option<Conferred>);

/// The change itself, in the caller's transaction with the team locked, without an audit event: the
/// binding and the roles held before and after.
pub async fn change_role_in(
    tx: &mut AsyncPgConnection,
    team: &Team,
    object: ScopeRef,
    change: TeamRoleChange,
    authority: &Authority,
    actor: &Actor,
) -> ApiResult<RoleChangeOutcome> {
    let scope = object.scope();
    let granting = !matches!(change, TeamRoleChange::Remove(_));
    check_object(tx, team, object, granting).await?;
    let grantor = Grantor::Caller(authority);
    let wanted = match change {
        TeamRoleChange::Add(request) | TeamRoleChange::Update(request) | TeamRoleChange::Set(request) => {
            let role = request.resolve(tx, object).await?;
            memberships::check_grant(tx, &grantor, role.clone(), object).await?;
            Some(role)
        }
        TeamRoleChange::Remove(_) => None,
    };
    let current = RoleBindingRow::team_on_for_update(tx, team.id, scope.as_str(), object.id()).await?;
    let held = match &current {
        Some(row) => Some(memberships::conferred_of(tx, row).await?),
        None => None,
    };
    if let Some(held) = &held {
        memberships::check_grant(tx, &grantor, held.clone(), object).await?;
    }
    Ok(match (change, current, held, wanted) {
        (TeamRoleChange::Add(_), Some(_), _, _) => {
            return Err(ApiError::conflict("This team already holds a role here"));
        }
        (TeamRoleChange::Update(_) | TeamRoleChange::Remove(_), None, _, _) => return Err(ApiError::NotFound),
        (TeamRoleChange::Remove(Some(role)), Some(_), Some(held), _) if held.role() != role => {
            return Err(ApiError::NotFound);
        }
        (TeamRoleChange::Add(_) | TeamRoleChange::Set(_), None, _, Some(role)) => {
            let after = role.clone();
            let row = memberships::grant(tx, &grantor, Holder::Team(team.id), role, object, actor.user_id).await?;
            (row, None, Some(after))
        }
        (TeamRoleChange::Update(_) | TeamRoleChange::Set(_), Some(row), Some(held), Some(role)) => {
            let after = role.clone();
            let updated = memberships::set_held_role(tx, &grantor, &row, held.clone(), role).await?;
            (updated, Some(held), Some(after))
        }
        (TeamRoleChange::Remove(_), Some(row), Some(held), _) => {
            // A team leaving a workspace also leaves its deployments.
            memberships::revoke_held(tx, &grantor, &row, held.clone()).await?;
            (row, Some(held), None)
        }
        (_, Some(_), None, _) => return Err(ApiError::internal("a binding without what it holds")),
        (TeamRoleChange::Add(_) | TeamRoleChange::Update(_) | TeamRoleChange::Set(_), _, _, None) => {
            return Err(ApiError::internal("a grant without its role"));
        }
    })
}

async fn record_role_change(
    tx: &mut AsyncPgConnection,
    team: &Team,
    object: ScopeRef,
    before: Option<&Conferred>,
    after: Option<&Conferred>,
    deployment_roles: &[serde_json::Value],
    actor: &Actor,
) -> ApiResult<()> {
    let scope = object.scope();
    let (workspace_id, deployment_id) = match object {
        ScopeRef::Workspace(id) => (Some(id), None),
        ScopeRef::Deployment(id) => (None, Some(id)),
        ScopeRef::System | ScopeRef::Organization(_) => (None, None),
    };
    let mut after_snapshot = after.map(|role| role.snapshot_with(json!({"scope": scope.as_str()})));
    if let (Some(snapshot), false) = (after_snapshot.as_mut(), deployment_roles.is_empty()) {
        snapshot["deploymentRoles"] = json!(deployment_roles);
    }
    audit::record(
        tx,
        actor,
        Change {
            action: "team.role",
            target_type: "team",
            target_id: Some(team.id),
            organization_id: Some(team.organization_id),
            workspace_id,
            deployment_id,
            before: before.map(|role| role.snapshot_with(json!({"scope": scope.as_str()}))),
            after: after_snapshot,
        },
    )
    .await
}
