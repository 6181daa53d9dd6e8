//! The one grant path (SPEC §2, "Every path that grants a role…" and "Membership rules"): every role
//! binding of a user, a team or a service account is created, changed and removed here, and so is every
//! team membership (joining a team grants the team's roles). Nothing else writes `role_bindings` or
//! `team_members` (bulk imports for `capcom seed` go through [`seed_bindings`]).
//!
//! Three rules live here and nowhere else:
//!
//! - **The grant rule.** Whoever grants a role must hold every permission of that role at that scope
//!   ([`Grantor::Caller`]); adding someone to a team grants every role the team holds, system roles
//!   included. Taking a role away needs the same authority as granting it. Paths without a caller say
//!   in [`Grantor`] why no check applies.
//! - **Keep one** ([`keep_one`]): the installation keeps an active user holding SYSTEM_ADMIN, every
//!   organization an active user holding ORGANIZATION_OWNER directly, every workspace an active user
//!   holding WORKSPACE_ADMIN directly, whatever path removes or demotes (a team's roles never count).
//! - **Membership**: the founders' rule counts joins, not members; removals from an organization stick
//!   until an explicit add or an accepted invite.
//!
//! Lock order (so that concurrent changes serialize instead of deadlocking): the installation row (for
//! anything that can take SYSTEM_ADMIN away), then organization rows in id order, then workspace rows in
//! id order, then the rows that change. A change to a workspace's members locks its organization's row
//! first ([`lock_workspace`]), so one organization lock orders every membership change inside it, and
//! removing someone from an organization sees every workspace admin role they hold there.

use std::sync::Arc;

use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use crate::auth::{Principal, principal::ServiceAccountPrincipal, principal::UserPrincipal};
use crate::db::models::organization::{Organization, lock_installation};
use crate::db::models::role_binding::{NewRoleBinding, RoleBindingRow};
use crate::db::models::team::Team;
use crate::db::models::workspace::Workspace;
use crate::domain::custom_roles::CustomRole;
use crate::domain::identity::{self, OutOfReach};
use crate::domain::{Authority, GrantAsk, Holder, binding};
use crate::error::{ApiError, ApiResult};
use crate::rbac::{Ancestry, Binding, Matrix, Role, Scope, ScopeRef};

/// How many of an organization's first joins become owners (SPEC §1).
pub const FOUNDING_OWNERS: i64 = 3;

/// The argument that lists deployment roles given with a workspace role; its items are named
/// `deploymentRoles[<index>].<field>` in errors ([`deployment_role_field`]).
pub const DEPLOYMENT_ROLES_FIELD: &str = "deploymentRoles";

/// The name of `field` of item `index` of `deploymentRoles`, as the client sent it
/// (`deploymentRoles[2].deploymentId`).
pub fn deployment_role_field(index: usize, field: &str) -> String {
    format!("{DEPLOYMENT_ROLES_FIELD}[{index}].{field}")
}

/// A deployment role requested with a workspace role (`workspaceAddUser`, workspace invites, teams): a
/// built-in DEPLOYMENT_* role or one of the organization's custom deployment roles. Requests are kept in
/// the order they were sent, so that an error names the item by its index.
#[derive(Debug, Clone)]
pub struct DeploymentRoleRequest {
    /// The deployment (must belong to the workspace).
    pub deployment_id: Uuid,
    /// A DEPLOYMENT_* role, or a custom deployment role.
    pub role: RoleRequest,
}

/// Checks what can be checked of `requests` without reading anything: a built-in role must be a
/// deployment role (BAD_USER_INPUT naming `deploymentRoles[i].role`), and a deployment is named once
/// (one binding per principal and deployment; BAD_USER_INPUT naming the later item's `deploymentId`).
pub fn check_deployment_requests(requests: &[DeploymentRoleRequest]) -> ApiResult<()> {
    for (index, request) in requests.iter().enumerate() {
        if let RoleRequest::Builtin(role) = request.role {
            let field = deployment_role_field(index, "role");
            let role = built_in(&field, role)?;
            if role.scope() != Some(Scope::Deployment) {
                return Err(ApiError::bad_input(
                    field,
                    format!(
                        "{role} is not a deployment role (DEPLOYMENT_ADMIN, DEPLOYMENT_EDITOR or DEPLOYMENT_VIEWER)"
                    ),
                ));
            }
        }
        if requests[..index].iter().any(|earlier| earlier.deployment_id == request.deployment_id) {
            return Err(ApiError::bad_input(
                deployment_role_field(index, "deploymentId"),
                "This deployment is named twice: give it one role",
            ));
        }
    }
    Ok(())
}

/// The custom roles `requests` name, in their order (what `custom_roles::for_grants` reads, one
/// statement for all).
pub fn custom_role_ids(requests: &[DeploymentRoleRequest]) -> Vec<Uuid> {
    requests
        .iter()
        .filter_map(|r| match r.role {
            RoleRequest::Custom(id) => Some(id),
            RoleRequest::Builtin(_) => None,
        })
        .collect()
}

/// The deployment roles `requests` (checked with [`check_deployment_requests`]) as granted in
/// `workspace`, in their order, whatever their number in at most three statements: their deployments must
/// be live deployments of the workspace (else NOT_FOUND, SPEC §2 rule 6), and their custom roles are read
/// and locked against deletion together ([`crate::domain::custom_roles::for_grants`]). A custom role that
/// is not a deployment role of the workspace's organization is BAD_USER_INPUT naming the item's
/// `customRoleUuid`; an id of another organization's role gets the same answer as an id that names
/// nothing, so nothing is told about other organizations.
pub async fn resolve_deployment_roles(
    tx: &mut AsyncPgConnection,
    workspace: &Workspace,
    requests: &[DeploymentRoleRequest],
) -> ApiResult<Vec<(Uuid, Conferred)>> {
    if requests.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = requests.iter().map(|r| r.deployment_id).collect();
    let live = crate::db::models::workspace::live_deployments_in(tx, workspace.id, &ids).await?;
    if !ids.iter().all(|id| live.contains(id)) {
        return Err(ApiError::NotFound);
    }
    let mut found = crate::domain::custom_roles::for_grants(tx, &custom_role_ids(requests), workspace.organization_id)
        .await?
        .into_iter();
    let mut resolved = Vec::with_capacity(requests.len());
    for (index, request) in requests.iter().enumerate() {
        let conferred = match request.role {
            RoleRequest::Builtin(role) => Conferred::Builtin(role),
            RoleRequest::Custom(_) => {
                let field = deployment_role_field(index, crate::domain::custom_roles::CUSTOM_ROLE_FIELD);
                let Some(role) = found.next().flatten() else {
                    return Err(ApiError::bad_input(field, crate::domain::custom_roles::NO_SUCH_ROLE));
                };
                if role.scope() != Scope::Deployment {
                    return Err(ApiError::bad_input(
                        field,
                        format!("{:?} is a {} role; a deployment role is needed here", role.row.name, role.row.scope),
                    ));
                }
                Conferred::Custom(role)
            }
        };
        resolved.push((request.deployment_id, conferred));
    }
    Ok(resolved)
}

/// The audit record of deployment roles granted with a workspace role: each deployment with the fields
/// naming its role ([`Conferred::audit_fields`]: a custom role by id and name).
pub fn deployment_roles_snapshot(roles: &[(Uuid, Conferred)]) -> Vec<serde_json::Value> {
    roles.iter().map(|(deployment, role)| role.snapshot_with(serde_json::json!({"deploymentId": deployment}))).collect()
}

/// A role to confer or held: a built-in role, or one of an organization's custom roles (docs/custom-roles.md;
/// resolved for a grant with [`crate::domain::custom_roles::for_grant`], which locks it and checks its
/// organization and scope).
#[derive(Debug, Clone)]
pub enum Conferred {
    /// A role of the matrix.
    Builtin(Role),
    /// A custom role.
    Custom(CustomRole),
}

impl From<Role> for Conferred {
    fn from(role: Role) -> Conferred {
        Conferred::Builtin(role)
    }
}

impl Conferred {
    /// The role a binding stores: the built-in role, or the custom role's scope marker.
    pub fn role(&self) -> Role {
        match self {
            Conferred::Builtin(role) => *role,
            Conferred::Custom(custom) => custom.marker(),
        }
    }

    /// The custom role's id, for a custom role.
    pub fn custom_id(&self) -> Option<Uuid> {
        match self {
            Conferred::Builtin(_) => None,
            Conferred::Custom(custom) => Some(custom.row.id),
        }
    }

    /// The fields an audit event names this role by: `role` (for a custom role its marker), `customRoleId`
    /// (null for a built-in role) and, for a custom role, `customRoleName` as it was at the change (a later
    /// rename does not rewrite the record).
    pub fn audit_fields(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut fields = serde_json::Map::new();
        fields.insert("role".to_owned(), serde_json::Value::from(self.role().as_str()));
        fields.insert("customRoleId".to_owned(), serde_json::json!(self.custom_id()));
        if let Conferred::Custom(custom) = self {
            fields.insert("customRoleName".to_owned(), serde_json::Value::from(custom.row.name.clone()));
        }
        fields
    }

    /// An audit snapshot of the role alone ([`Conferred::audit_fields`] as an object).
    pub fn snapshot(&self) -> serde_json::Value {
        serde_json::Value::Object(self.audit_fields())
    }

    /// `snapshot` (an object) with the fields naming this role added.
    pub fn snapshot_with(&self, mut snapshot: serde_json::Value) -> serde_json::Value {
        if let Some(object) = snapshot.as_object_mut() {
            object.extend(self.audit_fields());
        }
        snapshot
    }

    fn ask(&self) -> GrantAsk {
        match self {
            Conferred::Builtin(role) => GrantAsk::Role(*role),
            Conferred::Custom(custom) => GrantAsk::Permissions(custom.permissions),
        }
    }

    fn is_system(&self) -> bool {
        self.role().scope() == Some(Scope::System)
    }

    fn same_as(&self, other: &Conferred) -> bool {
        self.role() == other.role() && self.custom_id() == other.custom_id()
    }
}

/// A role asked for by argument: a built-in role (`role`) or one of the organization's custom roles
/// (`customRoleUuid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleRequest {
    /// A role of the matrix (never a custom-role marker).
    Builtin(Role),
    /// The custom role with this id.
    Custom(Uuid),
}

impl RoleRequest {
    /// The request made by a `role` argument and a `customRoleUuid` argument: exactly one of them
    /// (`default` when neither is given, if the operation has a default role); BAD_USER_INPUT otherwise,
    /// and for a custom-role marker given as `role`.
    pub fn from_arguments(
        role: Option<Role>,
        custom_role: Option<Uuid>,
        default: Option<Role>,
    ) -> ApiResult<RoleRequest> {
        match (role, custom_role) {
            (Some(_), Some(_)) => Err(ApiError::bad_input(
                crate::domain::custom_roles::CUSTOM_ROLE_FIELD,
                "Give either role or customRoleUuid, not both",
            )),
            (Some(role), None) => Ok(RoleRequest::Builtin(built_in("role", role)?)),
            (None, Some(id)) => Ok(RoleRequest::Custom(id)),
            (None, None) => default
                .map(RoleRequest::Builtin)
                .ok_or_else(|| ApiError::bad_input("role", "Give a role or a customRoleUuid")),
        }
    }

    /// The built-in role asked for, if that is what was asked.
    pub fn builtin(self) -> Option<Role> {
        match self {
            RoleRequest::Builtin(role) => Some(role),
            RoleRequest::Custom(_) => None,
        }
    }

    /// What is asked for on `object`: the custom role read and locked against deletion for the rest of the
    /// transaction (BAD_USER_INPUT for an id of no role of the organization, or of a role of another scope:
    /// [`crate::domain::custom_roles::no_such_role`]).
    pub async fn resolve(self, tx: &mut AsyncPgConnection, object: ScopeRef) -> ApiResult<Conferred> {
        match self {
            RoleRequest::Builtin(role) => Ok(Conferred::Builtin(role)),
            RoleRequest::Custom(id) => {
                Ok(Conferred::Custom(crate::domain::custom_roles::for_grant(tx, id, object).await?))
            }
        }
    }
}

/// `role` unless it is a custom-role marker, which stands for a custom role and cannot be asked for by
/// name (BAD_USER_INPUT naming `field`).
pub fn built_in(field: &str, role: Role) -> ApiResult<Role> {
    if role.is_custom() {
        return Err(ApiError::bad_input(
            field,
            format!("{role} stands for a custom role: name the role with customRoleUuid instead"),
        ));
    }
    Ok(role)
}

/// What binding `row` holds (its custom role read, and locked `FOR SHARE`, when it holds one): see
/// [`conferred_of_all`].
pub async fn conferred_of(tx: &mut AsyncPgConnection, row: &RoleBindingRow) -> ApiResult<Conferred> {
    conferred_of_all(tx, std::slice::from_ref(row))
        .await?
        .pop()
        .ok_or_else(|| ApiError::internal("a binding without what it holds"))
}

/// What each of `rows` holds, in their order. Their custom roles are read together in one statement
/// (none when no row holds one), so the cost does not grow with the number of bindings, and locked
/// `FOR SHARE` until the transaction ends, as every grant locks the role it grants
/// ([`crate::domain::custom_roles::held`]): a change to a role's permissions or its deletion waits for
/// the decision made from them.
pub async fn conferred_of_all(tx: &mut AsyncPgConnection, rows: &[RoleBindingRow]) -> ApiResult<Vec<Conferred>> {
    let ids: Vec<Uuid> = rows.iter().filter_map(|row| row.custom_role_id).collect();
    let custom = if ids.is_empty() { Vec::new() } else { crate::domain::custom_roles::held(tx, &ids).await? };
    rows.iter()
        .map(|row| {
            let role = parse_role(&row.role)?;
            match row.custom_role_id {
                None if !role.is_custom() => Ok(Conferred::Builtin(role)),
                Some(id) if role.is_custom() => custom
                    .iter()
                    .find(|held| held.row.id == id)
                    .cloned()
                    .map(Conferred::Custom)
                    .ok_or(ApiError::NotFound),
                _ => Err(ApiError::internal("a custom-role marker without its role, or the other way round")),
            }
        })
        .collect()
}

/// Who grants (or takes away) a role, and so which check applies.
#[derive(Debug, Clone, Copy)]
pub enum Grantor<'a> {
    /// A signed-in user or an API key: the grant rule applies to it.
    Caller(&'a Authority),
    /// An invite being accepted: the rule was checked against the inviter when the invite was made, and
    /// is checked again against the inviter as they are now (a demoted inviter's invites grant nothing).
    Inviter(&'a Authority),
    /// An organization's SCIM client (an organization API key): the grant rule applies to the key, and it
    /// never confers a system role (an organization's provisioning acts inside the organization only).
    Provisioning(&'a Authority),
    /// An organization's identity provider mapping group claims to teams at sign-in: there is no caller
    /// (the person signing in is the one being granted); the organization's owners configured the mapping
    /// and hold every role of its teams but system roles, which the provider never confers.
    IdentityProvider,
    /// The installation's first user becomes SYSTEM_ADMIN (SPEC §1): there is nobody else to ask.
    FirstUser,
    /// SPEC's own rules of joining: a sign-up joining the default organization, a creator joining the
    /// organization they create, the founders' rule. No caller grants; the rule does.
    Rule,
    /// A domain join: ORGANIZATION_MEMBER of the organization that verified the address's domain, and
    /// nothing else (the domain's verification by the organization's owner is the consent).
    DomainJoin,
    /// The creator of a workspace or deployment gets its admin role (SPEC §1); creating it was checked.
    Creator,
}

fn system_refused() -> ApiError {
    ApiError::ForbiddenBy(
        "An organization's provisioning never grants or takes away a system role (the team holds one)".to_owned(),
    )
}

/// FORBIDDEN unless `grantor` may grant `role` on `object` (SPEC §2 grant rule).
pub async fn check_grant(
    tx: &mut AsyncPgConnection,
    grantor: &Grantor<'_>,
    role: impl Into<Conferred>,
    object: ScopeRef,
) -> ApiResult<()> {
    let role = match role.into() {
        Conferred::Builtin(role) => role,
        Conferred::Custom(custom) => {
            // A custom role is held at a workspace or deployment only, never a system role: the grant
            // rule is every one of its permissions on the object.
            return match grantor {
                Grantor::Caller(authority) | Grantor::Inviter(authority) | Grantor::Provisioning(authority) => {
                    authority.require_permissions_grantable(tx, custom.permissions, Ancestry::of(object)).await
                }
                Grantor::IdentityProvider => Ok(()),
                _ => Err(ApiError::internal("only a caller, an inviter or a provisioning client grants custom roles")),
            };
        }
    };
    let system = role.scope() == Some(Scope::System);
    match grantor {
        Grantor::Caller(authority) | Grantor::Inviter(authority) => authority.require_grantable(tx, role, object).await,
        Grantor::Provisioning(authority) => {
            if system {
                return Err(system_refused());
            }
            authority.require_grantable(tx, role, object).await
        }
        Grantor::IdentityProvider => {
            if system {
                return Err(system_refused());
            }
            Ok(())
        }
        Grantor::FirstUser => {
            if role == Role::SystemAdmin {
                Ok(())
            } else {
                Err(ApiError::internal("first user: only SYSTEM_ADMIN"))
            }
        }
        Grantor::Rule => {
            if role.scope() == Some(Scope::Organization) {
                Ok(())
            } else {
                Err(ApiError::internal("joining grants organization roles only"))
            }
        }
        Grantor::DomainJoin => {
            if role == Role::OrganizationMember {
                Ok(())
            } else {
                Err(ApiError::internal("a domain join grants ORGANIZATION_MEMBER only"))
            }
        }
        Grantor::Creator => {
            if matches!(role, Role::WorkspaceAdmin | Role::DeploymentAdmin) {
                Ok(())
            } else {
                Err(ApiError::internal("a creator gets the admin role of what they created only"))
            }
        }
    }
}

/// FORBIDDEN unless `grantor` may grant every one of `roles` on its object (the grant rule for a team's
/// roles, all conferred by one membership). For a caller, an inviter or a provisioning client the
/// decisions are made together ([`Authority::require_all_grantable`]): one statement at most, however
/// many roles.
pub async fn check_grants(
    tx: &mut AsyncPgConnection,
    grantor: &Grantor<'_>,
    roles: &[(Conferred, ScopeRef)],
) -> ApiResult<()> {
    match grantor {
        Grantor::Caller(authority) | Grantor::Inviter(authority) | Grantor::Provisioning(authority) => {
            if matches!(grantor, Grantor::Provisioning(_)) && roles.iter().any(|(role, _)| role.is_system()) {
                return Err(system_refused());
            }
            let asks: Vec<(GrantAsk, ScopeRef)> = roles.iter().map(|(role, object)| (role.ask(), *object)).collect();
            authority.require_all_grantable(tx, &asks).await
        }
        // The other grantors' rules read nothing.
        _ => {
            for (role, object) in roles {
                check_grant(tx, grantor, role.clone(), *object).await?;
            }
            Ok(())
        }
    }
}

/// FORBIDDEN unless `grantor` may take every one of `held` away: [`check_grants`], as
/// [`check_revoke`] is [`check_grant`].
async fn check_revokes(
    tx: &mut AsyncPgConnection,
    grantor: &Grantor<'_>,
    held: &[(Conferred, ScopeRef)],
) -> ApiResult<()> {
    match grantor {
        // An inviter takes away only what an accepted invite replaces, held to the rule as they are now.
        Grantor::Caller(_) | Grantor::Inviter(_) | Grantor::Provisioning(_) | Grantor::IdentityProvider => {
            check_grants(tx, grantor, held).await
        }
        _ => Err(ApiError::internal("only a caller, an inviter or a provisioning client takes roles away")),
    }
}

/// What the team bindings `rows` hold, each with its object: one statement for the custom roles.
async fn held_by_teams(tx: &mut AsyncPgConnection, rows: &[RoleBindingRow]) -> ApiResult<Vec<(Conferred, ScopeRef)>> {
    let held = conferred_of_all(tx, rows).await?;
    Ok(held.into_iter().zip(rows.iter().map(object_of)).collect())
}

/// FORBIDDEN unless `grantor` may take `held` away on `object`: the same authority as granting it.
async fn check_revoke(
    tx: &mut AsyncPgConnection,
    grantor: &Grantor<'_>,
    held: impl Into<Conferred>,
    object: ScopeRef,
) -> ApiResult<()> {
    match grantor {
        Grantor::Caller(_) | Grantor::Provisioning(_) | Grantor::IdentityProvider => {
            check_grant(tx, grantor, held, object).await
        }
        // Nothing else takes roles away.
        _ => Err(ApiError::internal("only a caller or a provisioning client takes roles away")),
    }
}

fn parse_role(text: &str) -> ApiResult<Role> {
    text.parse().map_err(ApiError::internal)
}

/// The scope object of a binding row.
pub fn object_of(row: &RoleBindingRow) -> ScopeRef {
    match (row.deployment_id, row.workspace_id, row.organization_id) {
        (Some(id), _, _) => ScopeRef::Deployment(id),
        (None, Some(id), _) => ScopeRef::Workspace(id),
        (None, None, Some(id)) => ScopeRef::Organization(id),
        (None, None, None) => ScopeRef::System,
    }
}

// ---------------------------------------------------------------------------------------------------
// Locks

/// Locks the installation row: first in the lock order; taken by every change that can take
/// SYSTEM_ADMIN from someone.
pub async fn lock_system(tx: &mut AsyncPgConnection) -> ApiResult<()> {
    lock_installation(tx).await?;
    Ok(())
}

/// Locks an organization row (NOT_FOUND if there is none).
pub async fn lock_organization(tx: &mut AsyncPgConnection, id: Uuid) -> ApiResult<Organization> {
    Organization::find_for_update(tx, id).await?.ok_or(ApiError::NotFound)
}

/// Locks a workspace's organization, then the workspace (NOT_FOUND if there is none).
pub async fn lock_workspace(tx: &mut AsyncPgConnection, id: Uuid) -> ApiResult<Workspace> {
    let workspace = Workspace::find(tx, id).await?.ok_or(ApiError::NotFound)?;
    lock_organization(tx, workspace.organization_id).await?;
    Workspace::find_for_update(tx, id).await?.ok_or(ApiError::NotFound)
}

async fn lock_scope_of(tx: &mut AsyncPgConnection, object: ScopeRef) -> ApiResult<()> {
    match object {
        ScopeRef::System => lock_system(tx).await,
        ScopeRef::Organization(id) => lock_organization(tx, id).await.map(|_| ()),
        ScopeRef::Workspace(id) => lock_workspace(tx, id).await.map(|_| ()),
        ScopeRef::Deployment(_) => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------------
// Keep one

/// The role a scope must keep one holder of, if any.
fn kept_role(scope: Scope) -> Option<Role> {
    match scope {
        Scope::System => Some(Role::SystemAdmin),
        Scope::Organization => Some(Role::OrganizationOwner),
        Scope::Workspace => Some(Role::WorkspaceAdmin),
        Scope::Deployment => None,
    }
}

/// CONFLICT unless `object` keeps an active user holding its kept role directly once the users in
/// `losing` lose it. The caller holds the object's lock (see the module's lock order).
pub async fn keep_one(tx: &mut AsyncPgConnection, object: ScopeRef, losing: &[Uuid]) -> ApiResult<()> {
    let Some(role) = kept_role(object.scope()) else { return Ok(()) };
    let left = match object.id() {
        None => RoleBindingRow::count_active_system_holders(tx, role.as_str(), losing).await?,
        Some(id) => RoleBindingRow::count_active_holders_on(tx, id, role.as_str(), losing).await?,
    };
    if left > 0 {
        return Ok(());
    }
    Err(ApiError::conflict(match object.scope() {
        Scope::System => "The installation must keep at least one active SYSTEM_ADMIN",
        Scope::Organization => "An organization must keep at least one active ORGANIZATION_OWNER",
        _ => "A workspace must keep at least one active WORKSPACE_ADMIN",
    }))
}

/// Locks and checks every scope where `user_id` holds a kept role directly, as if the user lost every
/// role: for deleting the account (`removeUser`) or deactivating it (SCIM). CONFLICT names the first
/// scope that would be left without one. Takes the installation lock only when the user holds
/// SYSTEM_ADMIN (a deletion takes it anyway).
pub async fn check_account_loss(tx: &mut AsyncPgConnection, user_id: Uuid) -> ApiResult<()> {
    let system = RoleBindingRow::of_user_with_role(tx, user_id, Role::SystemAdmin.as_str()).await?;
    if system.iter().any(|row| row.scope == Scope::System.as_str()) {
        lock_system(tx).await?;
        keep_one(tx, ScopeRef::System, &[user_id]).await?;
    }
    let owned: Vec<Uuid> = RoleBindingRow::of_user_with_role(tx, user_id, Role::OrganizationOwner.as_str())
        .await?
        .into_iter()
        .filter_map(|row| row.organization_id)
        .collect();
    let administered: Vec<Uuid> = RoleBindingRow::of_user_with_role(tx, user_id, Role::WorkspaceAdmin.as_str())
        .await?
        .into_iter()
        .filter_map(|row| row.workspace_id)
        .collect();
    let workspaces = Workspace::list(tx, Some(&administered), i64::MAX).await?;
    let mut organizations: Vec<Uuid> = owned.clone();
    organizations.extend(workspaces.iter().map(|w| w.organization_id));
    organizations.sort();
    organizations.dedup();
    for id in &organizations {
        Organization::find_for_update(tx, *id).await?;
    }
    let mut workspace_ids: Vec<Uuid> = workspaces.iter().map(|w| w.id).collect();
    workspace_ids.sort();
    for id in &workspace_ids {
        Workspace::find_for_update(tx, *id).await?;
    }
    for id in &owned {
        keep_one(tx, ScopeRef::Organization(*id), &[user_id]).await?;
    }
    for id in &workspace_ids {
        keep_one(tx, ScopeRef::Workspace(*id), &[user_id]).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// Bindings: grant, change, take away

/// Grants `role` on `object` to `holder` (a user or a team) after the grant rule; returns the binding.
/// Organization membership of a user goes through [`join_organization`] instead (founders' rule).
pub async fn grant(
    tx: &mut AsyncPgConnection,
    grantor: &Grantor<'_>,
    holder: Holder,
    role: impl Into<Conferred>,
    object: ScopeRef,
    granted_by: Option<Uuid>,
) -> ApiResult<RoleBindingRow> {
    let conferred = role.into();
    let role = conferred.role();
    if role.scope() != Some(object.scope()) {
        return Err(ApiError::internal(format!("{role} is not a role of its object's scope")));
    }
    let custom_role_id = conferred.custom_id();
    check_grant(tx, grantor, conferred, object).await?;
    let new = NewRoleBinding { custom_role_id, ..binding(holder, role, object.id(), granted_by) };
    Ok(RoleBindingRow::insert(tx, &new).await?)
}

/// Changes binding `row` to `role`: the grantor must be able to grant both the new role and the one held;
/// demoting a kept role's holder keeps one (the scope is locked first).
pub async fn set_role(
    tx: &mut AsyncPgConnection,
    grantor: &Grantor<'_>,
    row: &RoleBindingRow,
    role: impl Into<Conferred>,
) -> ApiResult<RoleBindingRow> {
    let held = conferred_of(tx, row).await?;
    set_held_role(tx, grantor, row, held, role).await
}

/// [`set_role`] for a caller that read what `row` holds already ([`conferred_of`]): `held`.
pub async fn set_held_role(
    tx: &mut AsyncPgConnection,
    grantor: &Grantor<'_>,
    row: &RoleBindingRow,
    held: Conferred,
    role: impl Into<Conferred>,
) -> ApiResult<RoleBindingRow> {
    let conferred = role.into();
    let object = object_of(row);
    let role = conferred.role();
    if role.scope() != Some(object.scope()) {
        return Err(ApiError::internal(format!("{role} is not a role of its object's scope")));
    }
    check_grant(tx, grantor, conferred.clone(), object).await?;
    check_revoke(tx, grantor, held.clone(), object).await?;
    if held.same_as(&conferred) {
        return Ok(row.clone());
    }
    if let (Some(user), Some(kept)) = (row.user_id, kept_role(object.scope())) {
        if held.role() == kept {
            lock_scope_of(tx, object).await?;
            keep_one(tx, object, &[user]).await?;
        }
    }
    Ok(RoleBindingRow::set_role(tx, row.id, role.as_str(), conferred.custom_id()).await?)
}

/// Takes binding `row` away (after the same checks as [`set_role`]); a workspace binding takes the
/// holder's deployment roles in that workspace with it. Returns how many deployment roles went too.
pub async fn revoke(tx: &mut AsyncPgConnection, grantor: &Grantor<'_>, row: &RoleBindingRow) -> ApiResult<usize> {
    let conferred = conferred_of(tx, row).await?;
    revoke_held(tx, grantor, row, conferred).await
}

/// [`revoke`] for a caller that read what `row` holds already ([`conferred_of`]): `conferred`.
pub async fn revoke_held(
    tx: &mut AsyncPgConnection,
    grantor: &Grantor<'_>,
    row: &RoleBindingRow,
    conferred: Conferred,
) -> ApiResult<usize> {
    let object = object_of(row);
    let held = conferred.role();
    check_revoke(tx, grantor, conferred, object).await?;
    if let (Some(user), Some(kept)) = (row.user_id, kept_role(object.scope())) {
        if held == kept {
            lock_scope_of(tx, object).await?;
            keep_one(tx, object, &[user]).await?;
        }
    }
    RoleBindingRow::delete(tx, row.id).await?;
    let below = match (object, row.user_id, row.team_id) {
        (ScopeRef::Workspace(id), Some(user), _) => {
            RoleBindingRow::delete_user_deployment_roles_in_workspace(tx, id, user).await?
        }
        (ScopeRef::Workspace(id), None, Some(team)) => {
            RoleBindingRow::delete_team_deployment_roles_in_workspace(tx, id, team).await?
        }
        _ => 0,
    };
    Ok(below)
}

/// The admin role of a new workspace or deployment for its creator (SPEC §1).
pub async fn grant_creator(
    tx: &mut AsyncPgConnection,
    user_id: Uuid,
    role: Role,
    object: ScopeRef,
) -> ApiResult<RoleBindingRow> {
    grant(tx, &Grantor::Creator, Holder::User(user_id), role, object, Some(user_id)).await
}

/// The role binding of a new service account (SPEC §4.3): the grant rule applies to the key's creator.
pub async fn grant_service_account(
    tx: &mut AsyncPgConnection,
    grantor: &Grantor<'_>,
    new: &NewRoleBinding<'_>,
    conferred: Conferred,
) -> ApiResult<RoleBindingRow> {
    let role = parse_role(new.role)?;
    if role != conferred.role() || new.custom_role_id != conferred.custom_id() {
        return Err(ApiError::internal("a service account's binding stores the role it is granted"));
    }
    let object = match (new.deployment_id, new.workspace_id, new.organization_id) {
        (Some(id), _, _) => ScopeRef::Deployment(id),
        (None, Some(id), _) => ScopeRef::Workspace(id),
        (None, None, Some(id)) => ScopeRef::Organization(id),
        (None, None, None) => ScopeRef::System,
    };
    if new.service_account_id.is_none() || role.scope() != Some(object.scope()) {
        return Err(ApiError::internal("a service account's binding names the account and matches its scope"));
    }
    check_grant(tx, grantor, conferred, object).await?;
    Ok(RoleBindingRow::insert(tx, new).await?)
}

/// Inserts many bindings at once, for the operator's imports behind `capcom seed` only
/// (`users::import`, `workspaces::add_members`): their callers apply the grant rule and the founders'
/// rule themselves before building the rows.
pub async fn seed_bindings(tx: &mut AsyncPgConnection, rows: &[NewRoleBinding<'_>]) -> ApiResult<()> {
    crate::db::models::bulk::insert_role_bindings(tx, rows).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// System roles

/// Gives `user_id` the system role `role`, replacing the one it holds (one system binding per user).
/// Returns the binding and the role replaced. CONFLICT if it already holds `role`.
pub async fn set_system_role(
    tx: &mut AsyncPgConnection,
    grantor: &Grantor<'_>,
    user_id: Uuid,
    role: Role,
    granted_by: Option<Uuid>,
) -> ApiResult<(RoleBindingRow, Option<Role>)> {
    lock_system(tx).await?;
    match RoleBindingRow::user_system_binding_for_update(tx, user_id).await? {
        Some(row) => {
            let held = parse_role(&row.role)?;
            if held == role {
                return Err(ApiError::conflict(format!("The user already holds {role}")));
            }
            Ok((set_role(tx, grantor, &row, role).await?, Some(held)))
        }
        None => Ok((grant(tx, grantor, Holder::User(user_id), role, ScopeRef::System, granted_by).await?, None)),
    }
}

/// Takes the system role `role` from `user_id` (NOT_FOUND if it does not hold it).
pub async fn revoke_system_role(
    tx: &mut AsyncPgConnection,
    grantor: &Grantor<'_>,
    user_id: Uuid,
    role: Role,
) -> ApiResult<RoleBindingRow> {
    lock_system(tx).await?;
    let row =
        RoleBindingRow::user_system_role_for_update(tx, user_id, role.as_str()).await?.ok_or(ApiError::NotFound)?;
    revoke(tx, grantor, &row).await?;
    Ok(row)
}

// ---------------------------------------------------------------------------------------------------
// Organizations

/// How a person joins an organization.
#[derive(Debug, Clone, Copy)]
pub enum Join {
    /// By the founders' rule: one of the first three joins becomes ORGANIZATION_OWNER whatever was asked;
    /// later ones get the role asked for (ORGANIZATION_MEMBER when none).
    Founders(Option<Role>),
    /// As a plain ORGANIZATION_MEMBER (a domain join, SCIM provisioning): the join counts, the founders'
    /// rule does not make an owner of it.
    Member,
}

/// Makes `user_id` a member of `organization` (locked by the caller with [`lock_organization`]); counts
/// the join and forgets a past removal (this is an explicit add). Returns the role granted. The caller
/// checked that the user is not a member yet.
pub async fn join_organization(
    tx: &mut AsyncPgConnection,
    grantor: &Grantor<'_>,
    organization: &Organization,
    user_id: Uuid,
    join: Join,
    granted_by: Option<Uuid>,
) -> ApiResult<Role> {
    let earlier = Organization::count_join(tx, organization.id).await?;
    let scope = ScopeRef::Organization(organization.id);
    let role = match join {
        // The founders' rule grants ownership (SPEC §1), but like every path it applies the grant rule
        // (SPEC §2): a join someone brought about (a caller adding, an inviter, a provisioning key) makes
        // an owner only if that someone could make one; otherwise the join gets the role asked for.
        // Joins no one brought about (the organization's creator, sign-ups by the installation's rule)
        // follow the rule alone.
        Join::Founders(requested) if earlier < FOUNDING_OWNERS => {
            let asked = matches!(grantor, Grantor::Caller(_) | Grantor::Inviter(_) | Grantor::Provisioning(_));
            if !asked || check_grant(tx, grantor, Role::OrganizationOwner, scope).await.is_ok() {
                Role::OrganizationOwner
            } else {
                requested_role(tx, grantor, requested, scope).await?
            }
        }
        Join::Founders(requested) => requested_role(tx, grantor, requested, scope).await?,
        Join::Member => {
            check_grant(tx, grantor, Role::OrganizationMember, ScopeRef::Organization(organization.id)).await?;
            Role::OrganizationMember
        }
    };
    RoleBindingRow::insert(tx, &binding(Holder::User(user_id), role, Some(organization.id), granted_by)).await?;
    Organization::clear_removal(tx, organization.id, user_id).await?;
    Ok(role)
}

/// The organization role of a join that is not a founder's: the role asked for, which its grantor must be
/// able to grant; with none asked, ORGANIZATION_MEMBER as the consequence of a workspace role the grantor
/// was checked for (SPEC §2: a user who joins a workspace joins its organization), which needs no
/// organization permission of its own.
async fn requested_role(
    tx: &mut AsyncPgConnection,
    grantor: &Grantor<'_>,
    requested: Option<Role>,
    scope: ScopeRef,
) -> ApiResult<Role> {
    match requested {
        Some(role) => {
            check_grant(tx, grantor, role, scope).await?;
            Ok(role)
        }
        None => Ok(Role::OrganizationMember),
    }
}

/// Makes `user_id` a member of organization `organization_id` unless they are one already (a user who
/// joins a workspace joins its organization). Locks the organization. Returns the role granted, if any.
pub async fn ensure_member(
    tx: &mut AsyncPgConnection,
    grantor: &Grantor<'_>,
    organization_id: Uuid,
    user_id: Uuid,
    granted_by: Option<Uuid>,
) -> ApiResult<Option<Role>> {
    let organization = lock_organization(tx, organization_id).await?;
    if RoleBindingRow::user_in_organization_for_update(tx, organization_id, user_id).await?.is_some() {
        return Ok(None);
    }
    Ok(Some(join_organization(tx, grantor, &organization, user_id, Join::Founders(None), granted_by).await?))
}

/// A domain join (SPEC §3.1): ORGANIZATION_MEMBER of `organization_id`, unless the user is a member
/// already or was removed from it (SPEC §2: removals stick). Returns whether the user joined.
pub async fn join_by_domain(tx: &mut AsyncPgConnection, organization_id: Uuid, user_id: Uuid) -> ApiResult<bool> {
    let Some(organization) = Organization::find_for_update(tx, organization_id).await? else { return Ok(false) };
    if RoleBindingRow::user_in_organization_for_update(tx, organization_id, user_id).await?.is_some()
        || Organization::was_removed(tx, organization_id, user_id).await?
    {
        return Ok(false);
    }
    join_organization(tx, &Grantor::DomainJoin, &organization, user_id, Join::Member, None).await?;
    Ok(true)
}

/// SCIM provisioning of an account whose address is in the organization's verified domain: a domain
/// join made explicit by the organization's client, so it also brings back someone removed before.
pub async fn provision_member(tx: &mut AsyncPgConnection, organization_id: Uuid, user_id: Uuid) -> ApiResult<Role> {
    let organization = lock_organization(tx, organization_id).await?;
    join_organization(tx, &Grantor::DomainJoin, &organization, user_id, Join::Member, None).await
}

/// Changes a member's organization role; returns `(held, new)`.
pub async fn set_organization_role(
    tx: &mut AsyncPgConnection,
    grantor: &Grantor<'_>,
    organization_id: Uuid,
    user_id: Uuid,
    role: Role,
) -> ApiResult<(Role, Role)> {
    lock_organization(tx, organization_id).await?;
    let current = RoleBindingRow::user_in_organization_for_update(tx, organization_id, user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let held = parse_role(&current.role)?;
    set_role(tx, grantor, &current, role).await?;
    Ok((held, role))
}

/// What removing someone from an organization took away.
#[derive(Debug, Clone)]
pub struct OrganizationRemoval {
    /// The organization (as locked).
    pub organization: Organization,
    /// The organization role they held.
    pub role: Role,
    /// Workspace and deployment roles in the organization removed with it.
    pub roles_below: usize,
    /// Teams of the organization they left.
    pub teams_left: usize,
}

/// Removes `user_id` from the organization with their roles on its workspaces and deployments and their
/// places in its teams, and records the removal (a domain join does not bring them back). The grantor
/// must be able to grant the organization role they held; the organization keeps an owner and each of
/// its workspaces an admin (CONFLICT otherwise).
pub async fn remove_from_organization(
    tx: &mut AsyncPgConnection,
    grantor: &Grantor<'_>,
    organization_id: Uuid,
    user_id: Uuid,
) -> ApiResult<OrganizationRemoval> {
    let organization = lock_organization(tx, organization_id).await?;
    let current = RoleBindingRow::user_in_organization_for_update(tx, organization_id, user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let held = parse_role(&current.role)?;
    check_revoke(tx, grantor, held, ScopeRef::Organization(organization_id)).await?;
    if held == Role::OrganizationOwner {
        keep_one(tx, ScopeRef::Organization(organization_id), &[user_id]).await?;
    }
    // Each workspace of the organization the user administers keeps another admin: locked in id order
    // (under the organization's lock, see the module's lock order), then re-counted.
    let mut administered = RoleBindingRow::user_workspace_roles_in_organization(
        tx,
        organization_id,
        user_id,
        Role::WorkspaceAdmin.as_str(),
    )
    .await?;
    administered.sort();
    for id in &administered {
        Workspace::find_for_update(tx, *id).await?;
    }
    for id in &administered {
        keep_one(tx, ScopeRef::Workspace(*id), &[user_id]).await.map_err(|_| {
            ApiError::conflict(
                "This user is the only WORKSPACE_ADMIN of a workspace of the organization; give that role to someone else first",
            )
        })?;
    }
    // Leaving the organization leaves its teams, and with them every role they hold (system roles
    // included): taking those away needs the authority to grant them, as removing the person from each
    // team would (SPEC §2). Decided before anything is deleted, and the teams' custom roles locked before
    // the person's bindings are (as a role's deletion locks the role before the bindings it deletes).
    let teams = Team::of_member_in(tx, organization_id, user_id).await?;
    let rows = RoleBindingRow::of_teams(tx, &teams).await?;
    let team_roles = held_by_teams(tx, &rows).await?;
    check_revokes(tx, grantor, &team_roles).await?;
    RoleBindingRow::delete(tx, current.id).await?;
    let roles_below = RoleBindingRow::delete_user_roles_below_organization(tx, organization_id, user_id).await?;
    let teams_left = Team::remove_member_everywhere_in(tx, organization_id, user_id).await?;
    Organization::record_removal(tx, organization_id, user_id).await?;
    Ok(OrganizationRemoval { organization, role: held, roles_below, teams_left })
}

// ---------------------------------------------------------------------------------------------------
// Workspaces

/// Gives a member of the workspace's organization the workspace role `role` and deployment roles in it
/// (`(deployment, role)`, deployments checked to be live in the workspace by the caller, e.g. with
/// [`resolve_deployment_roles`]). CONFLICT if they hold a workspace role already. The caller locked the
/// workspace with [`lock_workspace`]. The grant rule is decided for every role at once and the deployment
/// roles are written together ([`grant_deployment_roles`]): the cost does not grow with their number.
pub async fn add_to_workspace(
    tx: &mut AsyncPgConnection,
    grantor: &Grantor<'_>,
    workspace: &Workspace,
    user_id: Uuid,
    role: Conferred,
    deployment_roles: &[(Uuid, Conferred)],
    granted_by: Option<Uuid>,
) -> ApiResult<()> {
    let mut asks = vec![(role.clone(), ScopeRef::Workspace(workspace.id))];
    asks.extend(deployment_roles.iter().map(|(deployment, role)| (role.clone(), ScopeRef::Deployment(*deployment))));
    check_grants(tx, grantor, &asks).await?;
    if RoleBindingRow::user_in_workspace_for_update(tx, workspace.id, user_id).await?.is_some() {
        return Err(ApiError::conflict("This user is already a member of the workspace"));
    }
    grant(tx, grantor, Holder::User(user_id), role, ScopeRef::Workspace(workspace.id), granted_by).await?;
    grant_deployment_roles(tx, grantor, Holder::User(user_id), deployment_roles, granted_by).await
}

/// Grants `holder` each of `roles` (`(deployment, role)`, one per deployment) after the grant rule, in a
/// constant number of statements whatever their number: the decisions together ([`check_grants`]), the
/// holder's bindings on those deployments read and locked in one statement, and the new bindings written
/// in one. A role the holder already holds on one of them is replaced, which needs the authority to grant
/// it (as [`set_role`]). The caller checked that the deployments are live in a workspace where the holder
/// now holds a role.
pub async fn grant_deployment_roles(
    tx: &mut AsyncPgConnection,
    grantor: &Grantor<'_>,
    holder: Holder,
    roles: &[(Uuid, Conferred)],
    granted_by: Option<Uuid>,
) -> ApiResult<()> {
    if roles.is_empty() {
        return Ok(());
    }
    if roles.iter().any(|(_, role)| role.role().scope() != Some(Scope::Deployment)) {
        return Err(ApiError::internal("a deployment binding holds a deployment role"));
    }
    let asks: Vec<(Conferred, ScopeRef)> =
        roles.iter().map(|(deployment, role)| (role.clone(), ScopeRef::Deployment(*deployment))).collect();
    check_grants(tx, grantor, &asks).await?;
    let (user_id, team_id) = match holder {
        Holder::User(id) => (Some(id), None),
        Holder::Team(id) => (None, Some(id)),
    };
    let deployments: Vec<Uuid> = roles.iter().map(|(deployment, _)| *deployment).collect();
    let existing = RoleBindingRow::holder_on_deployments_for_update(tx, user_id, team_id, &deployments).await?;
    if !existing.is_empty() {
        // What a role replaces is taken away: the revoke rule (`check_revokes`), which an inviter is held
        // to as well here.
        let held = held_by_teams(tx, &existing).await?;
        check_revokes(tx, grantor, &held).await?;
        let ids: Vec<Uuid> = existing.iter().map(|row| row.id).collect();
        RoleBindingRow::delete_many(tx, &ids).await?;
    }
    let rows: Vec<NewRoleBinding<'static>> = roles
        .iter()
        .map(|(deployment, role)| NewRoleBinding {
            custom_role_id: role.custom_id(),
            ..binding(holder, role.role(), Some(*deployment), granted_by)
        })
        .collect();
    RoleBindingRow::insert_many(tx, &rows).await?;
    Ok(())
}

/// Changes a member's workspace role; returns the workspace and the role held before (with its custom
/// role, if it was one). The workspace keeps an admin.
pub async fn set_workspace_role(
    tx: &mut AsyncPgConnection,
    grantor: &Grantor<'_>,
    workspace_id: Uuid,
    user_id: Uuid,
    role: impl Into<Conferred>,
) -> ApiResult<(Workspace, Conferred)> {
    let workspace = lock_workspace(tx, workspace_id).await?;
    let current =
        RoleBindingRow::user_in_workspace_for_update(tx, workspace_id, user_id).await?.ok_or(ApiError::NotFound)?;
    let held = conferred_of(tx, &current).await?;
    set_held_role(tx, grantor, &current, held.clone(), role).await?;
    Ok((workspace, held))
}

/// Removes a member from a workspace with their deployment roles in it; returns the workspace, the role
/// held (with its custom role, if it was one) and how many deployment roles went. The workspace keeps an
/// admin.
pub async fn remove_from_workspace(
    tx: &mut AsyncPgConnection,
    grantor: &Grantor<'_>,
    workspace_id: Uuid,
    user_id: Uuid,
) -> ApiResult<(Workspace, Conferred, usize)> {
    let workspace = lock_workspace(tx, workspace_id).await?;
    let current =
        RoleBindingRow::user_in_workspace_for_update(tx, workspace_id, user_id).await?.ok_or(ApiError::NotFound)?;
    let held = conferred_of(tx, &current).await?;
    let below = revoke_held(tx, grantor, &current, held.clone()).await?;
    Ok((workspace, held, below))
}

// ---------------------------------------------------------------------------------------------------
// Teams

/// Adds `user_id` to `team` (locked by the caller). Joining a team grants every role the team holds, at
/// every scope, system roles included: the grantor must be able to grant each of them (SPEC §2).
/// NOT_FOUND for someone outside the team's organization, as for an id that names nobody (SPEC §2 rule 6:
/// whether the id names a user elsewhere is not told); returns `false` if they were a member.
pub async fn add_team_member(
    tx: &mut AsyncPgConnection,
    grantor: &Grantor<'_>,
    team: &Team,
    user_id: Uuid,
) -> ApiResult<bool> {
    if RoleBindingRow::user_in_organization_for_update(tx, team.organization_id, user_id).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    require_reach(tx, grantor, team.organization_id, user_id).await?;
    let rows = RoleBindingRow::of_teams(tx, &[team.id]).await?;
    let held = held_by_teams(tx, &rows).await?;
    check_grants(tx, grantor, &held).await?;
    Ok(Team::add_member(tx, team.id, user_id).await?)
}

/// Removes `user_id` from `team` (locked by the caller); taking the team's roles away needs the
/// authority to grant them, and provisioning never touches a team holding a system role. Team roles do
/// not count for the keep-one invariants, so none can break. Returns `false` if they were not a member.
pub async fn remove_team_member(
    tx: &mut AsyncPgConnection,
    grantor: &Grantor<'_>,
    team: &Team,
    user_id: Uuid,
) -> ApiResult<bool> {
    if Team::is_member(tx, team.id, user_id).await? {
        require_reach(tx, grantor, team.organization_id, user_id).await?;
    }
    let rows = RoleBindingRow::of_teams(tx, &[team.id]).await?;
    let held = held_by_teams(tx, &rows).await?;
    check_revokes(tx, grantor, &held).await?;
    Ok(Team::remove_member(tx, team.id, user_id).await?)
}

/// For an organization's SCIM client or identity provider: FORBIDDEN (with the reason) unless the
/// account is within the organization's reach (SPEC §3.1, [`identity::require_within_reach`]): it holds
/// no system role and has an address of a domain the organization verified. Other grantors pass. The
/// caller took [`identity::hold_reach`] first (the lock order).
async fn require_reach(
    tx: &mut AsyncPgConnection,
    grantor: &Grantor<'_>,
    organization_id: Uuid,
    user_id: Uuid,
) -> ApiResult<()> {
    if !matches!(grantor, Grantor::Provisioning(_) | Grantor::IdentityProvider) {
        return Ok(());
    }
    match identity::require_within_reach(tx, organization_id, user_id).await? {
        Ok(()) => Ok(()),
        Err(OutOfReach::SystemRole) => Err(ApiError::ForbiddenBy(
            "The account holds a system role: an organization's provisioning never changes its teams".to_owned(),
        )),
        Err(OutOfReach::OtherDomain) => Err(ApiError::ForbiddenBy(
            "The account's address is not of a domain this organization has verified: its provisioning cannot change its teams"
                .to_owned(),
        )),
    }
}

/// Whether an organization's SCIM client or identity provider may change the teams of `user_id`
/// (the reach rule of [`add_team_member`] as a yes or no): for a whole member list, where accounts out of reach are left as
/// they are rather than refused.
pub async fn within_reach(
    tx: &mut AsyncPgConnection,
    grantor: &Grantor<'_>,
    organization_id: Uuid,
    user_id: Uuid,
) -> ApiResult<bool> {
    match require_reach(tx, grantor, organization_id, user_id).await {
        Ok(()) => Ok(true),
        Err(ApiError::ForbiddenBy(_)) => Ok(false),
        Err(other) => Err(other),
    }
}

/// Whether `team` holds a system role (an organization's provisioning leaves such a team alone).
pub async fn team_holds_system_role(tx: &mut AsyncPgConnection, team_id: Uuid) -> ApiResult<bool> {
    Ok(RoleBindingRow::of_teams(tx, &[team_id]).await?.iter().any(|row| row.scope == Scope::System.as_str()))
}

/// Deletes a team: its members lose its roles. Taking them away needs the authority to grant them.
pub async fn check_team_deletion(tx: &mut AsyncPgConnection, grantor: &Grantor<'_>, team: &Team) -> ApiResult<()> {
    let rows = RoleBindingRow::of_teams(tx, &[team.id]).await?;
    let held = held_by_teams(tx, &rows).await?;
    check_revokes(tx, grantor, &held).await
}

// ---------------------------------------------------------------------------------------------------
// Inviters

/// The authority of an invite's inviter as they are now, for re-checking the grant rule when the invite
/// is accepted: `None` when the inviter is gone, inactive or disabled (their invites then grant nothing).
pub async fn inviter_authority(
    tx: &mut AsyncPgConnection,
    user_id: Option<Uuid>,
    service_account_id: Option<Uuid>,
    matrix: &Arc<Matrix>,
    now: chrono::DateTime<chrono::Utc>,
) -> ApiResult<Option<Authority>> {
    use crate::db::models::principal;
    use crate::db::models::service_account::ServiceAccountRow;
    if let Some(id) = user_id {
        // Read inside the transaction, never from a cache: the numbers sent are none, so it packs.
        let held = principal::AuthzVersion::NONE;
        let Some((user, _, packed)) = principal::user_with_bindings(tx, id, held).await? else { return Ok(None) };
        if user.status != "active" {
            return Ok(None);
        }
        let principal = Principal::User(UserPrincipal {
            user,
            bindings: Binding::from_packed(&packed.unwrap_or_default()).into(),
            valid_until: None,
            fenced: Vec::new(),
            client: None,
        });
        return Ok(Some(Authority::new(Arc::new(principal), matrix.clone())));
    }
    if let Some(id) = service_account_id {
        let Some(account) = ServiceAccountRow::find_many(tx, &[id]).await?.into_iter().next() else { return Ok(None) };
        let held = principal::AuthzVersion::NONE;
        let Some((account, _, packed)) =
            principal::service_account_with_bindings(tx, &account.key_prefix, held).await?
        else {
            return Ok(None);
        };
        if account.id != id || !account.active || account.expires_at.is_some_and(|at| at <= now) {
            return Ok(None);
        }
        let principal = Principal::ServiceAccount(ServiceAccountPrincipal {
            account,
            bindings: Binding::from_packed(&packed.unwrap_or_default()).into(),
            fenced: Vec::new(),
            client: None,
        });
        return Ok(Some(Authority::new(Arc::new(principal), matrix.clone())));
    }
    Ok(None)
}
