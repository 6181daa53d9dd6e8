//! The principal of a request, resolved once from its credentials together with its role bindings.

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;

use crate::auth::api_key;
use crate::auth::jwt::{JwtKeys, ceil_secs};
use crate::db::models::role_binding::RoleBindingRow;
use crate::db::models::service_account::ServiceAccountRow;
use crate::db::models::user::User;
use crate::db::models::workspace::topology;
use crate::error::{ApiError, ApiResult};
use crate::rbac::check::{Topology, expand, owned_organizations, workspaces_with_roles};
use crate::rbac::{Binding, Role};

/// A signed-in user with every binding it holds (own and through teams).
#[derive(Debug, Clone)]
pub struct UserPrincipal {
    /// The user row as loaded for this request.
    pub user: User,
    /// Its bindings.
    pub bindings: Vec<Binding>,
}

impl UserPrincipal {
    /// Whether the user holds `role` at system scope.
    pub fn has_system_role(&self, role: Role) -> bool {
        self.bindings.iter().any(|binding| binding.role == role && binding.target.is_none())
    }
}

/// A service account calling with its API key, with its one binding (and, for a workspace key, the
/// deployment bindings it implies).
#[derive(Debug, Clone)]
pub struct ServiceAccountPrincipal {
    /// The service account as loaded for this request.
    pub account: ServiceAccountRow,
    /// Its bindings.
    pub bindings: Vec<Binding>,
}

/// Who is calling.
#[derive(Debug, Clone, Default)]
pub enum Principal {
    /// No credentials were sent.
    #[default]
    Anonymous,
    /// Credentials were sent and refused (invalid, expired, revoked). Fields that need no principal still
    /// work, so a client holding a stale token can sign in again.
    Rejected,
    /// A signed-in user.
    User(UserPrincipal),
    /// A service account (API key).
    ServiceAccount(ServiceAccountPrincipal),
}

impl Principal {
    /// The signed-in user; UNAUTHENTICATED with the message that fits when nobody signed in, FORBIDDEN
    /// for a service account (the operation is a person's).
    pub fn user(&self) -> ApiResult<&UserPrincipal> {
        match self {
            Principal::User(user) => Ok(user),
            Principal::ServiceAccount(_) => Err(ApiError::Forbidden),
            Principal::Anonymous => Err(ApiError::NotSignedIn),
            Principal::Rejected => Err(ApiError::invalid_token()),
        }
    }

    /// The bindings of whoever is signed in (user or service account), or UNAUTHENTICATED.
    pub fn bindings(&self) -> ApiResult<&[Binding]> {
        match self {
            Principal::User(user) => Ok(&user.bindings),
            Principal::ServiceAccount(account) => Ok(&account.bindings),
            Principal::Anonymous => Err(ApiError::NotSignedIn),
            Principal::Rejected => Err(ApiError::invalid_token()),
        }
    }
}

/// The credential in an `Authorization` header value: `Bearer <token>` or, as Houston accepted, the bare
/// token.
pub fn credential_from_header(value: &str) -> Option<&str> {
    let value = value.trim();
    let token = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => value,
    };
    (!token.is_empty()).then_some(token)
}

/// Resolves an API key: found by its public prefix, compared in constant time, refused when inactive,
/// expired or rotated away. `lastUsedAt` is written at most once a minute per key. Two statements (three
/// for a workspace key with live deployments), like a user token.
pub async fn resolve_api_key(conn: &mut AsyncPgConnection, now: DateTime<Utc>, key: &str) -> ApiResult<Principal> {
    let Some(prefix) = api_key::prefix_of(key) else {
        return Ok(Principal::Rejected);
    };
    let Some(account) = ServiceAccountRow::find_by_prefix(conn, prefix).await? else {
        // Same work as a found key, so timing does not say whether the prefix exists.
        let _ = api_key::matches(key, &[0u8; 32]);
        return Ok(Principal::Rejected);
    };
    if !api_key::matches(key, &account.key_hash) || !account.active || account.expires_at.is_some_and(|at| at <= now) {
        return Ok(Principal::Rejected);
    }
    if account.last_used_at.is_none_or(|at| at + chrono::Duration::seconds(LAST_USED_GRANULARITY_SECS) <= now) {
        ServiceAccountRow::touch(conn, account.id, now).await?;
    }
    let rows = RoleBindingRow::of_service_account(conn, account.id).await?;
    let bindings = with_implied(conn, rows.iter().filter_map(Binding::from_row).collect()).await?;
    Ok(Principal::ServiceAccount(ServiceAccountPrincipal { account, bindings }))
}

/// `lastUsedAt` is precise to this many seconds: it is written at most once per interval per key.
pub const LAST_USED_GRANULARITY_SECS: i64 = 60;

/// Resolves a credential into a principal: verifies the token, loads the user (whose `tokensValidAfter`
/// decides revocation) and its bindings. Two statements.
pub async fn resolve_token(
    conn: &mut AsyncPgConnection,
    keys: &JwtKeys,
    now: DateTime<Utc>,
    token: &str,
) -> ApiResult<Principal> {
    let Ok(claims) = keys.verify(token, now) else {
        return Ok(Principal::Rejected);
    };
    let Some(user) = User::find(conn, claims.uuid).await? else {
        return Ok(Principal::Rejected);
    };
    if user.status != "active" || claims.iat < ceil_secs(user.tokens_valid_after) {
        return Ok(Principal::Rejected);
    }
    let rows = RoleBindingRow::effective_for_user(conn, user.id).await?;
    let bindings = with_implied(conn, rows.iter().filter_map(Binding::from_row).collect()).await?;
    Ok(Principal::User(UserPrincipal { user, bindings }))
}

/// Adds the implied bindings (SPEC §2 step 2). One more statement, only when the principal owns an
/// organization or holds a workspace role.
pub async fn with_implied(conn: &mut AsyncPgConnection, bindings: Vec<Binding>) -> ApiResult<Vec<Binding>> {
    let organizations = owned_organizations(&bindings);
    let workspaces = workspaces_with_roles(&bindings);
    if organizations.is_empty() && workspaces.is_empty() {
        return Ok(bindings);
    }
    let (owned, live) = topology(conn, &organizations, &workspaces).await?;
    Ok(expand(bindings, &Topology { workspaces: owned, deployments: live }))
}
