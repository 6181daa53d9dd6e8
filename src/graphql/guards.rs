//! Field guards built from the matrix. A guard names the permission(s) a field needs and, where the check
//! is made against an object, takes its id from the field's arguments:
//!
//! ```text
//! #[graphql(guard = "Perm::on(Permission::WorkspaceUsersGet, workspace_uuid).or(Permission::SystemUsersGet)")]
//! ```
//!
//! The caller's bindings were loaded once for the request, so a guard is an in-memory decision by
//! [`crate::rbac::check`]. Not signed in: UNAUTHENTICATED; signed in without the permission: FORBIDDEN
//! ("Access is Denied", whether or not the object exists).

use async_graphql::{Context, Guard};
use uuid::Uuid;

use crate::domain::Authority;
use crate::error::{ApiError, ApiResult};
use crate::graphql::context::{principal, state};
use crate::graphql::scalars;
use crate::rbac::{Binding, Permission, Scope, check};

/// What a guard checks the permission against.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// No object (system permissions).
    None,
    /// The object named by an argument (absent when the argument was empty).
    Object(Option<Uuid>),
    /// The caller's own organization (the first one it belongs to), unless an argument names one.
    CallerOrganization(Option<Uuid>),
}

impl From<scalars::Uuid> for Target {
    fn from(id: scalars::Uuid) -> Self {
        Target::Object(id.get())
    }
}

impl From<scalars::Id> for Target {
    fn from(id: scalars::Id) -> Self {
        Target::Object(id.get())
    }
}

impl From<Option<scalars::Uuid>> for Target {
    fn from(id: Option<scalars::Uuid>) -> Self {
        Target::Object(id.and_then(scalars::Uuid::get))
    }
}

impl From<Uuid> for Target {
    fn from(id: Uuid) -> Self {
        Target::Object(Some(id))
    }
}

/// A permission requirement: any of the alternatives, on the target.
#[derive(Debug, Clone)]
pub struct Perm {
    alternatives: Vec<Permission>,
    target: Target,
}

impl Perm {
    /// Needs `permission` on the object `target`.
    pub fn on(permission: Permission, target: impl Into<Target>) -> Self {
        Perm { alternatives: vec![permission], target: target.into() }
    }

    /// Needs the system permission `permission`.
    pub fn system(permission: Permission) -> Self {
        Perm { alternatives: vec![permission], target: Target::None }
    }

    /// Needs `permission` on the caller's organization (or the one `organization` names).
    pub fn on_caller_organization(permission: Permission, organization: Option<scalars::Uuid>) -> Self {
        Perm { alternatives: vec![permission], target: Target::CallerOrganization(organization.and_then(|o| o.get())) }
    }

    /// Also accepts `alternative` (typically the `system.*` permission of the same operation).
    pub fn or(mut self, alternative: Permission) -> Self {
        self.alternatives.push(alternative);
        self
    }
}

/// The caller's organization: `named` if given, else the first organization the caller belongs to.
pub fn caller_organization(bindings: &[Binding], named: Option<Uuid>) -> Option<Uuid> {
    named.or_else(|| {
        bindings
            .iter()
            .find(|b| b.role.scope() == Some(Scope::Organization) && b.implied_from.is_none())
            .and_then(|b| b.target)
    })
}

/// The one authorization check: the signed-in caller must hold one of `permissions` on `target`.
pub fn authorize(ctx: &Context<'_>, permissions: &[Permission], target: Target) -> ApiResult<()> {
    let bindings = principal(ctx).bindings()?;
    let matrix = &state(ctx)?.matrix;
    let object = match target {
        Target::None => None,
        Target::Object(id) => id,
        Target::CallerOrganization(named) => caller_organization(bindings, named),
    };
    if check::allowed_any(bindings, matrix, permissions, object) { Ok(()) } else { Err(ApiError::Forbidden) }
}

/// The error for an object that could not be found: NOT_FOUND for callers who may look at every such
/// object (they hold `system`), FORBIDDEN for everyone else, so that absence reveals nothing.
pub fn absent(ctx: &Context<'_>, system: Permission) -> ApiError {
    match authorize(ctx, &[system], Target::None) {
        Ok(()) => ApiError::NotFound,
        Err(refused) => refused,
    }
}

/// Whether the caller holds `permission` on `target` (for capability objects; never an error).
pub fn can(ctx: &Context<'_>, permission: Permission, target: Option<Uuid>) -> bool {
    let Ok(bindings) = principal(ctx).bindings() else { return false };
    let Ok(state) = state(ctx) else { return false };
    check::decide(bindings, &state.matrix, permission, target).granted
}

/// The caller's authority, for domain rules that depend on it.
pub fn authority<'a>(ctx: &Context<'a>) -> ApiResult<Authority<'a>> {
    Ok(Authority { bindings: principal(ctx).bindings()?, matrix: &state(ctx)?.matrix })
}

impl Guard for Perm {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        Ok(authorize(ctx, &self.alternatives, self.target)?)
    }
}

/// Needs a signed-in principal (user or service account) and nothing more.
pub struct SignedIn;

impl Guard for SignedIn {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        principal(ctx).bindings()?;
        Ok(())
    }
}
