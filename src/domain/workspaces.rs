//! Workspaces and their members. Every role change goes through `crate::domain::memberships` (the grant
//! rule; every workspace keeps an active WORKSPACE_ADMIN held directly by a user, under the locks
//! described there).

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::json;
use uuid::Uuid;

use crate::db::models::role_binding::RoleBindingRow;
use crate::db::models::user::{User, UserFilter};
use crate::db::models::workspace::WorkspaceChanges;
use crate::domain::audit::{self, Change};
use crate::domain::invites::{self, InviteSettings};
use crate::domain::memberships::{self, Grantor, RoleRequest};
use crate::domain::{Actor, Authority, user_binding, validate};
use crate::error::{ApiError, ApiResult};
use crate::rbac::{Role, Scope, ScopeRef};

pub use crate::db::models::workspace::Workspace;

/// Audit snapshot of a workspace.
pub fn snapshot(workspace: &Workspace) -> serde_json::Value {
    json!({"id": workspace.id, "label": workspace.label, "description": workspace.description})
}

fn label_conflict(error: diesel::result::Error) -> ApiError {
    use diesel::result::{DatabaseErrorKind, Error};
    match &error {
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
            if info.constraint_name() == Some("workspaces_organization_label_key") =>
        {
            ApiError::conflict("A workspace with this label already exists in the organization")
        }
        _ => ApiError::from(error),
    }
}

/// Checks that `role` is a workspace role.
pub fn workspace_role(field: &str, role: Role) -> ApiResult<Role> {
    let role = memberships::built_in(field, role)?;
    if role.scope() == Some(Scope::Workspace) {
        Ok(role)
    } else {
        Err(ApiError::bad_input(
            field,
            format!("{role} is not a workspace role (WORKSPACE_ADMIN, WORKSPACE_EDITOR or WORKSPACE_VIEWER)"),
        ))
    }
}

/// Creates a workspace in `organization_id`; its creator becomes WORKSPACE_ADMIN.
pub async fn create(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    label: &str,
    description: Option<&str>,
    creator: Uuid,
    actor: &Actor,
) -> ApiResult<Workspace> {
    let label = validate::label("label", label, validate::MAX_LABEL)?;
    let description = validate::description("description", description.unwrap_or_default())?;
    conn.transaction(async |tx| {
        let workspace = Workspace::insert(tx, organization_id, &label, &description).await.map_err(label_conflict)?;
        memberships::grant_creator(tx, creator, Role::WorkspaceAdmin, ScopeRef::Workspace(workspace.id)).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "workspace.create",
                target_type: "workspace",
                target_id: Some(workspace.id),
                organization_id: Some(organization_id),
                workspace_id: Some(workspace.id),
                after: Some(snapshot(&workspace)),
                ..Change::default()
            },
        )
        .await?;
        Ok(workspace)
    })
    .await
}

/// The workspace, or NOT_FOUND.
pub async fn get(conn: &mut AsyncPgConnection, id: Uuid) -> ApiResult<Workspace> {
    Workspace::find(conn, id).await?.ok_or(ApiError::NotFound)
}

/// Workspaces by id (all when `ids` is `None`), by label, at most `limit`.
pub async fn list(conn: &mut AsyncPgConnection, ids: Option<&[Uuid]>, limit: usize) -> ApiResult<Vec<Workspace>> {
    Ok(Workspace::list(conn, ids, i64::try_from(limit).unwrap_or(i64::MAX)).await?)
}

/// The workspaces with these ids or in these organizations (a caller's own: those it has a role in and
/// those of the organizations it owns), by label, at most `limit`.
pub async fn with_ids_or_in(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
    organizations: &[Uuid],
    limit: usize,
) -> ApiResult<Vec<Workspace>> {
    Ok(Workspace::with_ids_or_in(conn, ids, organizations, i64::try_from(limit).unwrap_or(i64::MAX)).await?)
}

/// Changes to a workspace (`updateWorkspace(payload)`).
#[derive(Debug, Clone, Default)]
pub struct WorkspaceUpdate {
    /// New label.
    pub label: Option<String>,
    /// New description.
    pub description: Option<String>,
}

/// Applies `update` to workspace `id`.
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    update: WorkspaceUpdate,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<Workspace> {
    let label =
        update.label.as_deref().map(|l| validate::label("payload.label", l, validate::MAX_LABEL)).transpose()?;
    let description =
        update.description.as_deref().map(|d| validate::description("payload.description", d)).transpose()?;
    conn.transaction(async |tx| {
        let before = Workspace::find_for_update(tx, id).await?.ok_or(ApiError::NotFound)?;
        let after = Workspace::update(tx, id, &WorkspaceChanges { label, description, updated_at: Some(now) })
            .await
            .map_err(label_conflict)?;
        audit::record(
            tx,
            actor,
            Change {
                action: "workspace.update",
                target_type: "workspace",
                target_id: Some(id),
                organization_id: Some(after.organization_id),
                workspace_id: Some(id),
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

/// Deletes a workspace; CONFLICT while it has live deployments. Its soft-deleted deployments, bindings and
/// invites go with it.
pub async fn delete(conn: &mut AsyncPgConnection, id: Uuid, actor: &Actor) -> ApiResult<Workspace> {
    conn.transaction(async |tx| {
        let workspace = Workspace::find_for_update(tx, id).await?.ok_or(ApiError::NotFound)?;
        // How many is not told: whoever may delete a workspace need not be able to list its deployments
        // (a custom role).
        if Workspace::live_deployment_count(tx, id).await? > 0 {
            return Err(ApiError::conflict(
                "The workspace still has deployments; delete them before deleting the workspace",
            ));
        }
        Workspace::delete(tx, id).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "workspace.delete",
                target_type: "workspace",
                target_id: Some(id),
                organization_id: Some(workspace.organization_id),
                workspace_id: Some(id),
                before: Some(snapshot(&workspace)),
                ..Change::default()
            },
        )
        .await?;
        Ok(workspace)
    })
    .await
}

/// Users holding a role directly on the workspace, matching `filter`.
pub async fn members(
    conn: &mut AsyncPgConnection,
    workspace_id: Uuid,
    filter: &UserFilter,
    limit: usize,
) -> ApiResult<Vec<User>> {
    Ok(User::search(conn, filter, Some(workspace_id), i64::try_from(limit).unwrap_or(i64::MAX)).await?)
}

/// What `workspaceAddUser` did.
#[derive(Debug)]
pub enum AddUserOutcome {
    /// The user is a member of the organization and now holds the role.
    Added,
    /// The address is not a member's: an invite was created (the token went to the mail outbox).
    Invited,
}

pub use crate::domain::memberships::DeploymentRoleRequest;

/// Gives `email` the workspace role `role`: at once to a member of the workspace's organization,
/// otherwise by invite (whether or not the address has an account). `deployment_roles` go with it, built-in
/// or custom ([`memberships::resolve_deployment_roles`]); the grant rule applies to each of them, and their
/// number does not change how many statements the change costs.
#[allow(clippy::too_many_arguments)]
pub async fn add_user(
    conn: &mut AsyncPgConnection,
    workspace_id: Uuid,
    email: &str,
    role: RoleRequest,
    deployment_roles: Vec<DeploymentRoleRequest>,
    authority: &Authority,
    settings: &InviteSettings,
    actor: &Actor,
) -> ApiResult<AddUserOutcome> {
    let email = validate::email("email", email)?;
    if let Some(role) = role.builtin() {
        let role = workspace_role("role", role)?;
        authority.require_grantable(conn, role, ScopeRef::Workspace(workspace_id)).await?;
    }
    memberships::check_deployment_requests(&deployment_roles)?;
    conn.transaction(async |tx| {
        let workspace = memberships::lock_workspace(tx, workspace_id).await?;
        // A deployment of another workspace is NOT_FOUND (SPEC §2 rule 6) before anything else is decided.
        let requested = memberships::resolve_deployment_roles(tx, &workspace, &deployment_roles).await?;
        let grantor = Grantor::Caller(authority);
        let role = role.resolve(tx, ScopeRef::Workspace(workspace_id)).await?;
        // The grant rule applies to the invite as to a direct add: checked before either is decided, for
        // every role at once.
        let mut asks = vec![(role.clone(), ScopeRef::Workspace(workspace_id))];
        asks.extend(requested.iter().map(|(deployment, role)| (role.clone(), ScopeRef::Deployment(*deployment))));
        memberships::check_grants(tx, &grantor, &asks).await?;
        // Someone outside the workspace's organization is invited, whether or not they have an account:
        // adding them at once would show their name and addresses to the caller (and tell that the
        // account exists) without their consent.
        let existing = User::find_by_email(tx, &email).await?;
        let member_of_organization = match &existing {
            Some(user) => {
                RoleBindingRow::user_in_organization_for_update(tx, workspace.organization_id, user.id).await?.is_some()
            }
            None => false,
        };
        let Some(user) = existing.filter(|_| member_of_organization) else {
            invites::create_workspace_invite(tx, &workspace, &email, &role, &requested, settings, actor).await?;
            return Ok(AddUserOutcome::Invited);
        };
        let mut after = role.snapshot_with(json!({"userId": user.id}));
        if !requested.is_empty() {
            after["deploymentRoles"] = json!(memberships::deployment_roles_snapshot(&requested));
        }
        memberships::add_to_workspace(tx, &grantor, &workspace, user.id, role, &requested, actor.user_id).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "workspace.user.add",
                target_type: "user",
                target_id: Some(user.id),
                organization_id: Some(workspace.organization_id),
                workspace_id: Some(workspace_id),
                after: Some(after),
                ..Change::default()
            },
        )
        .await?;
        Ok(AddUserOutcome::Added)
    })
    .await
}

/// Changes the workspace role of the member with `email`.
pub async fn update_user_role(
    conn: &mut AsyncPgConnection,
    workspace_id: Uuid,
    email: &str,
    role: RoleRequest,
    authority: &Authority,
    actor: &Actor,
) -> ApiResult<Role> {
    let email = validate::email("email", email)?;
    if let Some(role) = role.builtin() {
        let role = workspace_role("role", role)?;
        authority.require_grantable(conn, role, ScopeRef::Workspace(workspace_id)).await?;
    }
    conn.transaction(async |tx| {
        let user = User::find_by_email(tx, &email).await?.ok_or(ApiError::NotFound)?;
        let conferred = role.resolve(tx, ScopeRef::Workspace(workspace_id)).await?;
        let role = conferred.role();
        let after = conferred.snapshot();
        // Taking a role away needs the same authority as granting it; the workspace keeps an admin.
        let (workspace, held) =
            memberships::set_workspace_role(tx, &Grantor::Caller(authority), workspace_id, user.id, conferred.clone())
                .await?;
        if held.role() == role && held.custom_id() == conferred.custom_id() {
            return Ok(role);
        }
        audit::record(
            tx,
            actor,
            Change {
                action: "workspace.user.updateRole",
                target_type: "user",
                target_id: Some(user.id),
                organization_id: Some(workspace.organization_id),
                workspace_id: Some(workspace_id),
                before: Some(held.snapshot()),
                after: Some(after),
                ..Change::default()
            },
        )
        .await?;
        Ok(role)
    })
    .await
}

/// Removes a member (and their deployment roles in the workspace).
pub async fn remove_user(
    conn: &mut AsyncPgConnection,
    workspace_id: Uuid,
    user_id: Uuid,
    authority: &Authority,
    actor: &Actor,
) -> ApiResult<Workspace> {
    conn.transaction(async |tx| {
        let (workspace, held, removed_deployment_roles) =
            memberships::remove_from_workspace(tx, &Grantor::Caller(authority), workspace_id, user_id).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "workspace.user.remove",
                target_type: "user",
                target_id: Some(user_id),
                organization_id: Some(workspace.organization_id),
                workspace_id: Some(workspace_id),
                before: Some(held.snapshot_with(json!({"deploymentRoles": removed_deployment_roles}))),
                ..Change::default()
            },
        )
        .await?;
        Ok(workspace)
    })
    .await
}

/// Gives many existing users workspace roles at once, for an operator's import (`capcom seed`): the
/// workspace is locked, each role must be one `authority` may grant there (as for `workspaceAddUser`),
/// users who already hold a role in the workspace are skipped, and one `workspace.users.add` audit event
/// lists those added. Nobody is invited: every user must exist. Returns how many were added.
pub async fn add_members(
    conn: &mut AsyncPgConnection,
    workspace_id: Uuid,
    members: &[(Uuid, Role)],
    authority: &Authority,
    actor: &Actor,
) -> ApiResult<usize> {
    let mut roles: Vec<Role> = Vec::new();
    for (_, role) in members {
        let role = workspace_role("role", *role)?;
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    for role in &roles {
        authority.require_grantable(conn, *role, ScopeRef::Workspace(workspace_id)).await?;
    }
    conn.transaction(async |tx| {
        let workspace = memberships::lock_workspace(tx, workspace_id).await?;
        let present: std::collections::HashSet<Uuid> =
            crate::db::models::bulk::workspace_member_ids(tx, workspace_id).await?.into_iter().collect();
        let mut seen = std::collections::HashSet::new();
        let added: Vec<(Uuid, Role)> =
            members.iter().copied().filter(|(user, _)| !present.contains(user) && seen.insert(*user)).collect();
        if added.is_empty() {
            return Ok(0);
        }
        let bindings: Vec<_> =
            added.iter().map(|(user, role)| user_binding(*role, *user, Some(workspace_id), actor.user_id)).collect();
        // The grant rule was applied to every role above; the operator's import inserts in bulk.
        memberships::seed_bindings(tx, &bindings).await?;
        let listed: Vec<serde_json::Value> =
            added.iter().map(|(user, role)| json!({"userId": user, "role": role.as_str()})).collect();
        audit::record(
            tx,
            actor,
            Change {
                action: "workspace.users.add",
                target_type: "workspace",
                target_id: Some(workspace_id),
                organization_id: Some(workspace.organization_id),
                workspace_id: Some(workspace_id),
                after: Some(json!({"members": listed})),
                ..Change::default()
            },
        )
        .await?;
        Ok(added.len())
    })
    .await
}
