//! Business rules, one module per aggregate. Each operation takes a connection, runs in one transaction,
//! and writes its audit event in that transaction. Nothing here knows about GraphQL or HTTP.

pub mod audit;
pub mod catalogue;
pub mod clusters;
pub mod custom_roles;
pub mod deployment_files;
pub mod deployments;
pub mod deploys;
pub mod identity;
pub mod identity_providers;
pub mod invites;
pub mod ip_access;
pub mod lifecycle;
pub mod managed_domains;
pub mod memberships;
pub mod organizations;
pub mod passwords;
pub mod scim;
pub mod service_accounts;
pub mod system_roles;
pub mod teams;
pub mod users;
pub mod validate;
pub mod variables;
pub mod workspaces;

use std::sync::Arc;

use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::rbac::check::{self, Verdict};
use crate::rbac::{Ancestry, Matrix, Permission, Role, ScopeRef};

/// Who makes a change and through which request: what every audit event records.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    /// Acting user.
    pub user_id: Option<Uuid>,
    /// Acting service account.
    pub service_account_id: Option<Uuid>,
    /// Readable name of the actor (username or key label).
    pub label: String,
    /// Request id (also in the logs and the `x-request-id` response header).
    pub request_id: Option<String>,
    /// Client address.
    pub client_address: Option<String>,
}

impl Actor {
    /// The same request acting as `user_id` (for changes made before a principal existed, such as sign-up).
    pub fn as_user(&self, user_id: Uuid, label: &str) -> Actor {
        Actor { user_id: Some(user_id), service_account_id: None, label: label.to_owned(), ..self.clone() }
    }
}

/// Who holds a role binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// A user.
    User(Uuid),
    /// A team (its members hold the role).
    Team(Uuid),
}

/// A new binding of `role` for `holder` on `target` (`None` for system roles); the scope and the scope
/// column follow from the role.
pub fn binding(
    holder: Holder,
    role: Role,
    target: Option<Uuid>,
    granted_by: Option<Uuid>,
) -> crate::db::models::role_binding::NewRoleBinding<'static> {
    use crate::rbac::Scope;
    let scope = role.scope().unwrap_or(Scope::System);
    let on = |wanted: Scope| if scope == wanted { target } else { None };
    crate::db::models::role_binding::NewRoleBinding {
        id: Uuid::now_v7(),
        role: role.as_str(),
        user_id: match holder {
            Holder::User(id) => Some(id),
            Holder::Team(_) => None,
        },
        team_id: match holder {
            Holder::Team(id) => Some(id),
            Holder::User(_) => None,
        },
        service_account_id: None,
        scope: scope.as_str(),
        organization_id: on(Scope::Organization),
        workspace_id: on(Scope::Workspace),
        deployment_id: on(Scope::Deployment),
        created_by: granted_by,
        custom_role_id: None,
    }
}

/// A new binding of `role` for user `user_id` on `target` (`None` for system roles).
pub fn user_binding(
    role: Role,
    user_id: Uuid,
    target: Option<Uuid>,
    granted_by: Option<Uuid>,
) -> crate::db::models::role_binding::NewRoleBinding<'static> {
    binding(Holder::User(user_id), role, target, granted_by)
}

/// The refusal of a request whose roles would allow it but for the IP access list (docs/ip-access-list.md):
/// FORBIDDEN naming the list.
fn fenced_out() -> ApiError {
    ApiError::ForbiddenBy(crate::error::MSG_IP_ACCESS_LIST.to_owned())
}

/// The caller's authority, for the rules that depend on it (escalation: nobody grants a role with
/// permissions they lack at that scope).
#[derive(Debug, Clone)]
pub struct Authority {
    principal: Arc<Principal>,
    matrix: Arc<Matrix>,
}

/// What granting one role asks of the grantor ([`Authority::require_all_grantable`]).
#[derive(Debug, Clone, Copy)]
pub enum GrantAsk {
    /// A built-in role: everything it gives there (and implies below).
    Role(Role),
    /// A custom role: each of its permissions there.
    Permissions(crate::rbac::permissions::PermissionSet),
}

impl Authority {
    /// The authority of `principal` under `matrix`.
    pub fn new(principal: Arc<Principal>, matrix: Arc<Matrix>) -> Authority {
        Authority { principal, matrix }
    }

    /// FORBIDDEN unless the caller holds one of `permissions` on `object` (for rules that depend on data,
    /// such as "an image deploy that changes the runtime is also an upgrade").
    pub async fn require(
        &self,
        conn: &mut AsyncPgConnection,
        permissions: &[Permission],
        object: ScopeRef,
    ) -> ApiResult<()> {
        let bindings = self.principal.bindings()?;
        if self.allows(conn, bindings, permissions, object).await? {
            return Ok(());
        }
        // Refused: say so by the IP access list when a binding it set aside would have allowed it.
        if let Some(all) = self.unfenced()? {
            if self.allows(conn, &all, permissions, object).await? {
                return Err(fenced_out());
            }
        }
        Err(ApiError::Forbidden)
    }

    /// The caller's bindings with those the IP access list set aside, when it set any aside: what a
    /// refusal is tried again with, to tell a refusal by the list ([`fenced_out`]) from one by the roles.
    fn unfenced(&self) -> ApiResult<Option<Vec<crate::rbac::Binding>>> {
        let fenced = self.principal.fenced();
        if fenced.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.principal.bindings()?.iter().chain(fenced).cloned().collect()))
    }

    async fn allows(
        &self,
        conn: &mut AsyncPgConnection,
        bindings: &[crate::rbac::Binding],
        permissions: &[Permission],
        object: ScopeRef,
    ) -> ApiResult<bool> {
        Ok(match check::verdict(bindings, &self.matrix, permissions, &Ancestry::of(object)) {
            Verdict::Granted => true,
            Verdict::Denied => false,
            Verdict::NeedsAncestry => {
                let at = self.ancestry(conn, object).await?;
                check::allowed_any(bindings, &self.matrix, permissions, &at)
            }
        })
    }

    async fn ancestry(&self, conn: &mut AsyncPgConnection, object: ScopeRef) -> ApiResult<Ancestry> {
        let Some(id) = object.id() else { return Ok(Ancestry::of(object)) };
        let found = crate::db::models::workspace::ancestry(conn, &[id]).await?;
        // Only an ancestry of the same kind of object counts (an id named as a deployment may be a
        // workspace's).
        Ok(found.into_iter().find(|at| at.object().scope() == object.scope()).unwrap_or(Ancestry::of(object)))
    }

    /// The signed-in person's user id; `None` for an API key. A person who creates a deployment or a
    /// workspace becomes its admin (SPEC §1); an API key gets no role from what it creates.
    pub fn person(&self) -> Option<Uuid> {
        match self.principal.as_ref() {
            Principal::User(user) => Some(user.user.id),
            _ => None,
        }
    }

    /// FORBIDDEN unless the caller holds one of `permissions` on the object of `at`, an ancestry known in
    /// full (for an object not written yet, such as the deployment about to be created). Decided in
    /// memory: nothing is read.
    pub fn require_at(&self, permissions: &[Permission], at: &Ancestry) -> ApiResult<()> {
        let bindings = self.principal.bindings()?;
        if check::allowed_any(bindings, &self.matrix, permissions, at) {
            return Ok(());
        }
        match self.unfenced()? {
            Some(all) if check::allowed_any(&all, &self.matrix, permissions, at) => Err(fenced_out()),
            _ => Err(ApiError::Forbidden),
        }
    }

    /// This authority as the current transaction leaves it: the caller's bindings read again through
    /// `conn` (its uncommitted writes included, the IP access lists applied as for the request), for a
    /// rule about what a change leaves its author holding. One statement.
    pub async fn as_now(&self, conn: &mut AsyncPgConnection) -> ApiResult<Authority> {
        let principal = crate::auth::principal::reloaded_in(&self.principal, conn).await?;
        Ok(Authority { principal: Arc::new(principal), matrix: self.matrix.clone() })
    }

    /// This authority with DEPLOYMENT_ADMIN of `deployment_id` added, for a user who just created that
    /// deployment in the current transaction (SPEC §1: its creator administers it); an API key gets no
    /// role from creating one, so its authority is unchanged.
    pub fn as_creator_of(&self, deployment_id: Uuid) -> Authority {
        let principal = match self.principal.as_ref() {
            Principal::User(user) => {
                let mut user = user.clone();
                let mut bindings = user.bindings.to_vec();
                bindings.push(crate::rbac::Binding {
                    id: Uuid::nil(),
                    role: Role::DeploymentAdmin,
                    target: Some(deployment_id),
                    via_team: None,
                    allowed_from: Vec::new(),
                    custom: None,
                });
                user.bindings = bindings.into();
                Arc::new(Principal::User(user))
            }
            _ => self.principal.clone(),
        };
        Authority { principal, matrix: self.matrix.clone() }
    }

    /// FORBIDDEN unless the caller may grant `role` on `object` (SPEC §2 escalation rule). The object's
    /// ancestry is read only when a binding of the caller could imply a role through it.
    pub async fn require_grantable(&self, conn: &mut AsyncPgConnection, role: Role, object: ScopeRef) -> ApiResult<()> {
        let bindings = self.principal.bindings()?;
        let granted = match check::grant_verdict(bindings, &self.matrix, role, &Ancestry::of(object)) {
            Verdict::Granted => true,
            Verdict::Denied => false,
            Verdict::NeedsAncestry => {
                let at = self.ancestry(conn, object).await?;
                check::may_grant(bindings, &self.matrix, role, &at)
            }
        };
        if granted { Ok(()) } else { Err(ApiError::Forbidden) }
    }

    /// FORBIDDEN unless the caller holds every one of `permissions` on the object of `at` (the grant rule
    /// for a custom role, docs/custom-roles.md). An incomplete `at` is completed only when a binding of
    /// the caller could imply a role through an ancestor.
    pub async fn require_permissions_grantable(
        &self,
        conn: &mut AsyncPgConnection,
        permissions: crate::rbac::permissions::PermissionSet,
        at: Ancestry,
    ) -> ApiResult<()> {
        let bindings = self.principal.bindings()?;
        let granted = match check::grant_permissions_verdict(bindings, &self.matrix, permissions, &at) {
            Verdict::Granted => true,
            Verdict::Denied => false,
            Verdict::NeedsAncestry => {
                let at = self.ancestry(conn, at.object()).await?;
                check::may_grant_permissions(bindings, &self.matrix, permissions, &at)
            }
        };
        if granted { Ok(()) } else { Err(ApiError::Forbidden) }
    }

    /// FORBIDDEN unless the caller may grant every one of `asks` on its object: the grant rule for many
    /// roles at once (joining a team grants every role the team holds). The ancestries the decisions need
    /// are read together, in one statement at most, so the cost does not grow with the number of roles.
    /// Refuses with the first ask (in order) decided without an ancestry, then with those that needed one.
    pub async fn require_all_grantable(
        &self,
        conn: &mut AsyncPgConnection,
        asks: &[(GrantAsk, ScopeRef)],
    ) -> ApiResult<()> {
        let bindings = self.principal.bindings()?;
        let verdict = |ask: &GrantAsk, at: &Ancestry| match ask {
            GrantAsk::Role(role) => check::grant_verdict(bindings, &self.matrix, *role, at),
            GrantAsk::Permissions(permissions) => {
                check::grant_permissions_verdict(bindings, &self.matrix, *permissions, at)
            }
        };
        let mut undecided: Vec<(&GrantAsk, ScopeRef)> = Vec::new();
        for (ask, object) in asks {
            match verdict(ask, &Ancestry::of(*object)) {
                Verdict::Granted => {}
                Verdict::Denied => return Err(ApiError::Forbidden),
                Verdict::NeedsAncestry => undecided.push((ask, *object)),
            }
        }
        if undecided.is_empty() {
            return Ok(());
        }
        let mut ids: Vec<Uuid> = undecided.iter().filter_map(|(_, object)| object.id()).collect();
        ids.sort();
        ids.dedup();
        let found =
            if ids.is_empty() { Vec::new() } else { crate::db::models::workspace::ancestry(conn, &ids).await? };
        for (ask, object) in undecided {
            // Only an ancestry of the same kind of object counts (an id named as a deployment may be a
            // workspace's), as in a single check.
            let at = found.iter().find(|at| at.object() == object).copied().unwrap_or(Ancestry::of(object));
            let granted = match ask {
                GrantAsk::Role(role) => check::may_grant(bindings, &self.matrix, *role, &at),
                GrantAsk::Permissions(permissions) => {
                    check::may_grant_permissions(bindings, &self.matrix, *permissions, &at)
                }
            };
            if !granted {
                return Err(ApiError::Forbidden);
            }
        }
        Ok(())
    }

    /// The matrix in force.
    pub fn matrix(&self) -> &Matrix {
        &self.matrix
    }
}
