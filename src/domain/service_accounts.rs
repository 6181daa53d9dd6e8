//! Service accounts (SPEC §4.3): a non-human principal with one role at one scope and an API key.
//!
//! Rules: the role matches the scope; nobody creates, changes, rotates or deletes a key whose role they
//! could not grant (so an editor cannot mint or take over an admin key); a service account named next to a
//! scope must belong to it (else NOT_FOUND); keys are shown once, stored hashed.

use chrono::{DateTime, Duration, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::json;
use uuid::Uuid;

use crate::auth::api_key;
use crate::db::models::deployment::Deployment;
use crate::db::models::role_binding::{NewRoleBinding, RoleBindingRow};
use crate::db::models::service_account::{NewServiceAccount, ServiceAccountChanges};
use crate::db::models::workspace::Workspace;
use crate::domain::audit::{self, Change};
use crate::domain::memberships::{self, Conferred, Grantor, RoleRequest};
use crate::domain::{Actor, Authority, validate};
use crate::error::{ApiError, ApiResult};
use crate::rbac::{Role, Scope, ScopeRef};

pub use crate::db::models::service_account::ServiceAccountRow as ServiceAccount;

/// Longest allowed expiry.
pub const MAX_EXPIRY_DAYS: i64 = 3650;

/// Where a service account lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountScope {
    /// The installation.
    System,
    /// An organization.
    Organization(Uuid),
    /// A workspace.
    Workspace(Uuid),
    /// A deployment.
    Deployment(Uuid),
}

impl AccountScope {
    fn scope(self) -> Scope {
        match self {
            AccountScope::System => Scope::System,
            AccountScope::Organization(_) => Scope::Organization,
            AccountScope::Workspace(_) => Scope::Workspace,
            AccountScope::Deployment(_) => Scope::Deployment,
        }
    }

    fn target(self) -> Option<Uuid> {
        self.scope_ref().id()
    }

    /// The scope object, for permission checks.
    pub fn scope_ref(self) -> ScopeRef {
        match self {
            AccountScope::System => ScopeRef::System,
            AccountScope::Organization(id) => ScopeRef::Organization(id),
            AccountScope::Workspace(id) => ScopeRef::Workspace(id),
            AccountScope::Deployment(id) => ScopeRef::Deployment(id),
        }
    }

    fn holds(self, account: &ServiceAccount) -> bool {
        match self {
            AccountScope::System => account.scope == "SYSTEM",
            AccountScope::Organization(id) => account.organization_id == Some(id),
            AccountScope::Workspace(id) => account.workspace_id == Some(id),
            AccountScope::Deployment(id) => account.deployment_id == Some(id),
        }
    }

    /// The scope a stored service account lives in.
    pub fn of(account: &ServiceAccount) -> Option<AccountScope> {
        match account.scope.as_str() {
            "SYSTEM" => Some(AccountScope::System),
            "ORGANIZATION" => account.organization_id.map(AccountScope::Organization),
            "WORKSPACE" => account.workspace_id.map(AccountScope::Workspace),
            "DEPLOYMENT" => account.deployment_id.map(AccountScope::Deployment),
            _ => None,
        }
    }
}

/// A service account and its key in clear (only right after creation or rotation).
pub struct WithKey {
    /// The service account.
    pub account: ServiceAccount,
    /// The full key.
    pub key: String,
}

/// What `create…ServiceAccount` asks for.
#[derive(Debug, Clone)]
pub struct NewAccountRequest {
    /// Label, unique in the scope.
    pub label: String,
    /// Category.
    pub category: Option<String>,
    /// Role (must match the scope): built-in, or a custom role of the scope's organization.
    pub role: RoleRequest,
    /// Expiry in days from now.
    pub expires_in_days: Option<i64>,
}

/// `role` if it is a built-in role of the account's scope; BAD_USER_INPUT naming `field` (`role`, or
/// `payload.role` in an update) otherwise.
fn matching_role(field: &str, scope: AccountScope, role: Role) -> ApiResult<Role> {
    let role = memberships::built_in(field, role)?;
    if role.scope() == Some(scope.scope()) {
        Ok(role)
    } else {
        Err(ApiError::bad_input(
            field,
            format!(
                "A {} service account needs a {}_* role, not {role}",
                scope.scope().as_str().to_lowercase(),
                scope.scope().as_str()
            ),
        ))
    }
}

/// A category (empty is none); BAD_USER_INPUT naming `field` (`category`, or `payload.category`).
fn category(field: &str, raw: Option<&str>) -> ApiResult<Option<String>> {
    match raw.map(str::trim).filter(|c| !c.is_empty()) {
        Some(text) => Ok(Some(validate::label(field, text, validate::MAX_LABEL)?)),
        None => Ok(None),
    }
}

fn expiry(days: Option<i64>, max_days: Option<i64>, now: DateTime<Utc>) -> ApiResult<Option<DateTime<Utc>>> {
    let cap = max_days.unwrap_or(MAX_EXPIRY_DAYS).min(MAX_EXPIRY_DAYS);
    match days {
        None if max_days.is_some() => Err(ApiError::bad_input(
            "expiresInDays",
            format!("API keys must expire on this server: give expiresInDays (1 to {cap})"),
        )),
        None => Ok(None),
        Some(days) if !(1..=cap).contains(&days) => {
            Err(ApiError::bad_input("expiresInDays", format!("expiresInDays must be between 1 and {cap}")))
        }
        Some(days) => Ok(Some(now + Duration::days(days))),
    }
}

fn label_conflict(error: diesel::result::Error) -> ApiError {
    use diesel::result::{DatabaseErrorKind, Error};
    match &error {
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
            if info.constraint_name() == Some("service_accounts_scope_label_key") =>
        {
            ApiError::conflict("A service account with this label already exists here")
        }
        _ => ApiError::from(error),
    }
}

/// Audit snapshot (never the key or its hash), with the role the key holds (its custom role named when
/// it holds one).
fn snapshot(account: &ServiceAccount, role: &Conferred) -> serde_json::Value {
    role.snapshot_with(json!({"id": account.id, "label": account.label, "category": account.category,
           "scope": account.scope, "active": account.active, "expiresAt": account.expires_at,
           "keyPrefix": account.key_prefix}))
}

/// Locks the scope object; returns `(organization, workspace, deployment)` of the scope as far as they
/// are columns of the account.
async fn lock_scope(
    tx: &mut AsyncPgConnection,
    scope: AccountScope,
) -> ApiResult<(Option<Uuid>, Option<Uuid>, Option<Uuid>)> {
    match scope {
        AccountScope::System => Ok((None, None, None)),
        AccountScope::Organization(id) => {
            crate::db::models::organization::Organization::find_for_update(tx, id).await?.ok_or(ApiError::NotFound)?;
            Ok((Some(id), None, None))
        }
        AccountScope::Workspace(id) => {
            Workspace::find_for_update(tx, id).await?.ok_or(ApiError::NotFound)?;
            Ok((None, Some(id), None))
        }
        AccountScope::Deployment(id) => {
            let deployment = Deployment::live_for_update(tx, id).await?.ok_or(ApiError::NotFound)?;
            Ok((None, Some(deployment.workspace_id), Some(id)))
        }
    }
}

/// Creates a service account with a new key.
#[allow(clippy::too_many_arguments)]
pub async fn create(
    conn: &mut AsyncPgConnection,
    scope: AccountScope,
    request: NewAccountRequest,
    max_days: Option<i64>,
    authority: &Authority,
    creator: Option<Uuid>,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<WithKey> {
    if let Some(role) = request.role.builtin() {
        let role = matching_role("role", scope, role)?;
        authority.require_grantable(conn, role, scope.scope_ref()).await?;
    }
    let label = validate::label("label", &request.label, validate::MAX_LABEL)?;
    let category = category("category", request.category.as_deref())?;
    let expires_at = expiry(request.expires_in_days, max_days, now)?;
    let minted = api_key::mint().map_err(|e| ApiError::internal(format!("randomness: {e}")))?;
    conn.transaction(async |tx| {
        let (organization_id, workspace_id, deployment_id) = lock_scope(tx, scope).await?;
        let account = ServiceAccount::insert(
            tx,
            &NewServiceAccount {
                id: Uuid::now_v7(),
                label: label.clone(),
                category: category.clone(),
                scope: scope.scope().as_str(),
                organization_id,
                workspace_id: matches!(scope, AccountScope::Workspace(_)).then_some(workspace_id).flatten(),
                deployment_id,
                key_prefix: minted.prefix.clone(),
                key_hash: minted.hash.clone(),
                expires_at,
                created_by: creator,
            },
        )
        .await
        .map_err(label_conflict)?;
        let conferred = request.role.resolve(tx, scope.scope_ref()).await?;
        let role = conferred.role();
        memberships::grant_service_account(
            tx,
            &Grantor::Caller(authority),
            &NewRoleBinding {
                id: Uuid::now_v7(),
                role: role.as_str(),
                custom_role_id: conferred.custom_id(),
                user_id: None,
                team_id: None,
                service_account_id: Some(account.id),
                scope: scope.scope().as_str(),
                organization_id: account.organization_id,
                workspace_id: account.workspace_id,
                deployment_id: account.deployment_id,
                created_by: creator,
            },
            conferred.clone(),
        )
        .await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "serviceAccount.create",
                target_type: "serviceAccount",
                target_id: Some(account.id),
                organization_id,
                workspace_id,
                deployment_id,
                after: Some(snapshot(&account, &conferred)),
                ..Change::default()
            },
        )
        .await?;
        Ok(WithKey { account, key: minted.key.clone() })
    })
    .await
}

/// Service accounts of a scope.
pub async fn list(conn: &mut AsyncPgConnection, scope: AccountScope) -> ApiResult<Vec<ServiceAccount>> {
    Ok(ServiceAccount::in_scope(conn, scope.scope().as_str(), scope.target()).await?)
}

/// One service account of a scope (NOT_FOUND if it lives elsewhere).
pub async fn get(conn: &mut AsyncPgConnection, scope: AccountScope, id: Uuid) -> ApiResult<ServiceAccount> {
    let found = ServiceAccount::find_many(conn, &[id]).await?.into_iter().next().ok_or(ApiError::NotFound)?;
    if scope.holds(&found) { Ok(found) } else { Err(ApiError::NotFound) }
}

/// The service account, wherever it lives (for rotation, whose only argument is the id).
pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> ApiResult<ServiceAccount> {
    ServiceAccount::find_many(conn, &[id]).await?.into_iter().next().ok_or(ApiError::NotFound)
}

/// Changes to a service account.
#[derive(Debug, Clone, Default)]
pub struct AccountUpdate {
    /// New label.
    pub label: Option<String>,
    /// New category (empty clears it).
    pub category: Option<String>,
    /// New role (same scope): built-in, or a custom role of the scope's organization.
    pub role: Option<RoleRequest>,
    /// Enable or disable the key.
    pub active: Option<bool>,
}

async fn locked_in_scope(
    tx: &mut AsyncPgConnection,
    scope: AccountScope,
    id: Uuid,
    authority: &Authority,
) -> ApiResult<(ServiceAccount, RoleBindingRow, Conferred)> {
    let account = ServiceAccount::find_for_update(tx, id).await?.ok_or(ApiError::NotFound)?;
    if !scope.holds(&account) {
        return Err(ApiError::NotFound);
    }
    let binding = RoleBindingRow::of_service_account(tx, id).await?.into_iter().next().ok_or(ApiError::NotFound)?;
    let held = memberships::conferred_of(tx, &binding).await?;
    // Touching a key whose role the caller could not grant would hand them that role.
    memberships::check_grant(tx, &Grantor::Caller(authority), held.clone(), scope.scope_ref()).await?;
    Ok((account, binding, held))
}

/// An update's BAD_USER_INPUT names the field inside `payload`, where the client sent it.
fn in_payload(error: ApiError) -> ApiError {
    error.within("payload")
}

/// Applies `update` to a service account of `scope` (Houston's `payload`: every BAD_USER_INPUT names
/// `payload.<field>`).
pub async fn update(
    conn: &mut AsyncPgConnection,
    scope: AccountScope,
    id: Uuid,
    update: AccountUpdate,
    authority: &Authority,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<ServiceAccount> {
    let label =
        update.label.as_deref().map(|l| validate::label("payload.label", l, validate::MAX_LABEL)).transpose()?;
    let category = match update.category.as_deref() {
        None => None,
        Some(text) => Some(category("payload.category", Some(text))?),
    };
    if let Some(role) = update.role.and_then(RoleRequest::builtin) {
        let role = matching_role("payload.role", scope, role)?;
        authority.require_grantable(conn, role, scope.scope_ref()).await?;
    }
    conn.transaction(async |tx| {
        let (before, binding, held) = locked_in_scope(tx, scope, id, authority).await?;
        let after = ServiceAccount::update(
            tx,
            id,
            &ServiceAccountChanges {
                label: label.clone(),
                category: category.clone(),
                active: update.active,
                updated_at: Some(now),
                ..Default::default()
            },
        )
        .await
        .map_err(label_conflict)?;
        let role_after = match update.role {
            Some(request) => {
                let new_role = request.resolve(tx, scope.scope_ref()).await.map_err(in_payload)?;
                memberships::set_held_role(tx, &Grantor::Caller(authority), &binding, held.clone(), new_role.clone())
                    .await?;
                new_role
            }
            None => held.clone(),
        };
        audit::record(
            tx,
            actor,
            Change {
                action: "serviceAccount.update",
                target_type: "serviceAccount",
                target_id: Some(id),
                organization_id: after.organization_id,
                workspace_id: after.workspace_id,
                deployment_id: after.deployment_id,
                before: Some(snapshot(&before, &held)),
                after: Some(snapshot(&after, &role_after)),
            },
        )
        .await?;
        Ok(after)
    })
    .await
}

/// Deletes a service account of `scope`; its key stops working at once.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    scope: AccountScope,
    id: Uuid,
    authority: &Authority,
    actor: &Actor,
) -> ApiResult<ServiceAccount> {
    conn.transaction(async |tx| {
        let (account, _, held) = locked_in_scope(tx, scope, id, authority).await?;
        ServiceAccount::delete(tx, id).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "serviceAccount.delete",
                target_type: "serviceAccount",
                target_id: Some(id),
                organization_id: account.organization_id,
                workspace_id: account.workspace_id,
                deployment_id: account.deployment_id,
                before: Some(snapshot(&account, &held)),
                ..Change::default()
            },
        )
        .await?;
        Ok(account)
    })
    .await
}

/// Issues a new key; the old one stops working at once.
pub async fn rotate(
    conn: &mut AsyncPgConnection,
    scope: AccountScope,
    id: Uuid,
    authority: &Authority,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<WithKey> {
    let minted = api_key::mint().map_err(|e| ApiError::internal(format!("randomness: {e}")))?;
    conn.transaction(async |tx| {
        let (before, _, held) = locked_in_scope(tx, scope, id, authority).await?;
        let account = ServiceAccount::update(
            tx,
            id,
            &ServiceAccountChanges {
                key_prefix: Some(minted.prefix.clone()),
                key_hash: Some(minted.hash.clone()),
                updated_at: Some(now),
                ..Default::default()
            },
        )
        .await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "serviceAccount.rotate",
                target_type: "serviceAccount",
                target_id: Some(id),
                organization_id: account.organization_id,
                workspace_id: account.workspace_id,
                deployment_id: account.deployment_id,
                before: Some(snapshot(&before, &held)),
                after: Some(snapshot(&account, &held)),
            },
        )
        .await?;
        Ok(WithKey { account, key: minted.key.clone() })
    })
    .await
}

/// Role bindings of these service accounts (one statement).
pub async fn bindings_of(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> ApiResult<Vec<RoleBindingRow>> {
    Ok(RoleBindingRow::of_service_accounts(conn, ids).await?)
}

/// Service accounts by id (one statement).
pub async fn find_many(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> ApiResult<Vec<ServiceAccount>> {
    Ok(ServiceAccount::find_many(conn, ids).await?)
}
