//! The principal of a request, resolved once from its credentials together with its role bindings.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;

use crate::auth::api_key;
use crate::auth::bindings::{BindingsCache, Holder, settle};
use crate::auth::jwt::{JwtKeys, ceil_secs};
use crate::db::models::principal;
use crate::db::models::service_account::ServiceAccountRow;
use crate::db::models::user::User;
use crate::error::{ApiError, ApiResult};
use crate::rbac::{Binding, Role};

/// A signed-in user with every binding it holds directly (own and through teams). Roles implied on
/// objects below those bindings are decided from each object's ancestry (`crate::rbac::check`).
#[derive(Debug, Clone)]
pub struct UserPrincipal {
    /// The user row as loaded for this request.
    pub user: User,
    /// Its bindings (shared with the process's [`BindingsCache`] while nothing sets one aside).
    pub bindings: Arc<[Binding]>,
    /// When the credential it signed in with stops being valid (a token's `exp`); `None` when it signed in
    /// during this request.
    pub valid_until: Option<DateTime<Utc>>,
    /// Bindings set aside by [`Principal::behind`]: their organization's IP access list does not hold the
    /// request's address. They grant nothing; they only explain a refusal.
    pub fenced: Vec<Binding>,
    /// The request's address once [`Principal::behind`] has placed the principal behind it (`Some`, the
    /// address itself possibly unknown), so that bindings read again later in the request
    /// ([`reloaded_in`]) are set aside by the same lists.
    pub client: Option<Option<std::net::IpAddr>>,
}

impl UserPrincipal {
    /// Whether the user holds `role` at system scope.
    pub fn has_system_role(&self, role: Role) -> bool {
        self.bindings.iter().any(|binding| binding.role == role && binding.target.is_none())
    }
}

/// A service account calling with its API key, with its one binding.
#[derive(Debug, Clone)]
pub struct ServiceAccountPrincipal {
    /// The service account as loaded for this request.
    pub account: ServiceAccountRow,
    /// Its bindings (shared with the process's [`BindingsCache`] while nothing sets one aside).
    pub bindings: Arc<[Binding]>,
    /// Bindings set aside by [`Principal::behind`] (see [`UserPrincipal::fenced`]).
    pub fenced: Vec<Binding>,
    /// The request's address (see [`UserPrincipal::client`]).
    pub client: Option<Option<std::net::IpAddr>>,
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

    /// The principal as seen from a request from `client` (docs/ip-access-list.md): each binding whose
    /// organization has an IP access list without the address is set aside ([`Principal::fenced`]), so no
    /// decision about that organization's objects (the organization, its workspaces, deployments, teams,
    /// keys, audit) can use it, whatever path reached them. System bindings are never set aside. Every
    /// request entry point (GraphQL over HTTP and WebSocket, SCIM, the audit export) applies it.
    pub fn behind(self, client: Option<std::net::IpAddr>) -> Principal {
        fn split(
            bindings: Arc<[Binding]>,
            fenced: &mut Vec<Binding>,
            client: Option<std::net::IpAddr>,
        ) -> Arc<[Binding]> {
            // The usual case (no list sets anything aside) keeps the shared bindings without a copy.
            if bindings.iter().all(|binding| binding.admits(client)) {
                return bindings;
            }
            let (kept, set_aside): (Vec<Binding>, Vec<Binding>) =
                bindings.iter().cloned().partition(|binding| binding.admits(client));
            fenced.extend(set_aside);
            kept.into()
        }
        match self {
            Principal::User(mut user) => {
                user.bindings = split(std::mem::replace(&mut user.bindings, Arc::new([])), &mut user.fenced, client);
                user.client = Some(client);
                Principal::User(user)
            }
            Principal::ServiceAccount(mut account) => {
                account.bindings =
                    split(std::mem::replace(&mut account.bindings, Arc::new([])), &mut account.fenced, client);
                account.client = Some(client);
                Principal::ServiceAccount(account)
            }
            other => other,
        }
    }

    /// The bindings [`Principal::behind`] set aside (empty for anyone else).
    pub fn fenced(&self) -> &[Binding] {
        match self {
            Principal::User(user) => &user.fenced,
            Principal::ServiceAccount(account) => &account.fenced,
            Principal::Anonymous | Principal::Rejected => &[],
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

/// The principal as `conn` now sees it (the writes of the transaction it belongs to included), read again
/// without the process's cache (never caching what a transaction has not committed), with the bindings
/// the request's IP access lists set aside set aside again. For a rule about what a change leaves the
/// caller holding (docs/deployment-file.md: a file may not take away its applier's own access). A caller
/// gone or no longer active meanwhile is [`Principal::Rejected`]. One statement.
pub async fn reloaded_in(principal: &Principal, conn: &mut AsyncPgConnection) -> ApiResult<Principal> {
    let held = principal::AuthzVersion::NONE;
    let fresh = match principal {
        Principal::User(current) => match principal::user_with_bindings(conn, current.user.id, held).await? {
            Some((user, _, packed)) if user.status == "active" => Principal::User(UserPrincipal {
                user,
                bindings: Binding::from_packed(&packed.unwrap_or_default()).into(),
                valid_until: current.valid_until,
                fenced: Vec::new(),
                client: None,
            }),
            _ => Principal::Rejected,
        },
        Principal::ServiceAccount(current) => {
            match principal::service_account_with_bindings(conn, &current.account.key_prefix, held).await? {
                Some((account, _, packed)) if account.id == current.account.id && account.active => {
                    Principal::ServiceAccount(ServiceAccountPrincipal {
                        account,
                        bindings: Binding::from_packed(&packed.ok_or_else(unsettled)?).into(),
                        fenced: Vec::new(),
                        client: None,
                    })
                }
                _ => Principal::Rejected,
            }
        }
        Principal::Anonymous | Principal::Rejected => return Ok(principal.clone()),
    };
    let client = match principal {
        Principal::User(user) => user.client,
        Principal::ServiceAccount(account) => account.client,
        Principal::Anonymous | Principal::Rejected => None,
    };
    Ok(match client {
        Some(address) => fresh.behind(address),
        None => fresh,
    })
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

/// Resolves an API key: found by its public prefix together with its bindings (one statement; the
/// bindings are taken from `cache` when it holds them at the current version), compared in constant time,
/// refused when inactive, expired or rotated away. `lastUsedAt` is written at most once a minute per key (a
/// second statement then).
pub async fn resolve_api_key(
    conn: &mut AsyncPgConnection,
    cache: &BindingsCache,
    now: DateTime<Utc>,
    key: &str,
) -> ApiResult<Principal> {
    let principal = check_api_key(conn, cache, now, key).await?;
    touch_api_key(conn, &principal, now).await?;
    Ok(principal)
}

/// [`resolve_api_key`] without writing `lastUsedAt` (for a read-only connection: the caller writes it on
/// the primary with [`touch_api_key`]).
pub async fn check_api_key(
    conn: &mut AsyncPgConnection,
    cache: &BindingsCache,
    now: DateTime<Utc>,
    key: &str,
) -> ApiResult<Principal> {
    let Some(prefix) = api_key::prefix_of(key) else {
        return Ok(Principal::Rejected);
    };
    let holder = Holder::ServiceAccountKey(prefix.to_owned());
    let held = cache.get(&holder);
    let loaded =
        principal::service_account_with_bindings(conn, prefix, BindingsCache::version_of(held.as_ref())).await?;
    let Some((account, version, packed)) = loaded else {
        // Same work as a found key, so timing does not say whether the prefix exists.
        let _ = api_key::matches(key, &[0u8; 32]);
        return Ok(Principal::Rejected);
    };
    if !api_key::matches(key, &account.key_hash) || !account.active || account.expires_at.is_some_and(|at| at <= now) {
        return Ok(Principal::Rejected);
    }
    let bindings = settle(cache, holder, account.id, version, packed, held).ok_or_else(unsettled)?;
    Ok(Principal::ServiceAccount(ServiceAccountPrincipal { account, bindings, fenced: Vec::new(), client: None }))
}

/// Writes `lastUsedAt` of a service-account principal if it is older than the granularity (nothing for
/// other principals).
pub async fn touch_api_key(conn: &mut AsyncPgConnection, principal: &Principal, now: DateTime<Utc>) -> ApiResult<()> {
    if let Principal::ServiceAccount(account) = principal {
        if touch_due(account, now) {
            ServiceAccountRow::touch(conn, account.account.id, now).await?;
        }
    }
    Ok(())
}

/// Whether `lastUsedAt` of `account` is due to be written.
pub fn touch_due(account: &ServiceAccountPrincipal, now: DateTime<Utc>) -> bool {
    account.account.last_used_at.is_none_or(|at| at + chrono::Duration::seconds(LAST_USED_GRANULARITY_SECS) <= now)
}

/// `lastUsedAt` is precise to this many seconds: it is written at most once per interval per key.
pub const LAST_USED_GRANULARITY_SECS: i64 = 60;

/// Resolves a credential into a principal: verifies the token, then loads the user (whose
/// `tokensValidAfter` decides revocation) with its bindings. One statement, whatever the user can reach.
pub async fn resolve_token(
    conn: &mut AsyncPgConnection,
    cache: &BindingsCache,
    keys: &JwtKeys,
    now: DateTime<Utc>,
    token: &str,
) -> ApiResult<Principal> {
    let Ok(claims) = keys.verify(token, now) else {
        return Ok(Principal::Rejected);
    };
    let Some(user) = load_user(conn, cache, claims.uuid).await? else {
        return Ok(Principal::Rejected);
    };
    if claims.iat < ceil_secs(user.user.tokens_valid_after) {
        return Ok(Principal::Rejected);
    }
    Ok(Principal::User(UserPrincipal { valid_until: DateTime::from_timestamp(claims.exp, 0), ..user }))
}

/// Loads an active user with its bindings (one statement; the bindings are taken from `cache` when it
/// holds them at the current version); `None` when the user is gone or not active.
pub async fn load_user(
    conn: &mut AsyncPgConnection,
    cache: &BindingsCache,
    user_id: uuid::Uuid,
) -> ApiResult<Option<UserPrincipal>> {
    let holder = Holder::User(user_id);
    let held = cache.get(&holder);
    let loaded = principal::user_with_bindings(conn, user_id, BindingsCache::version_of(held.as_ref())).await?;
    let Some((user, version, packed)) = loaded else {
        return Ok(None);
    };
    if user.status != "active" {
        return Ok(None);
    }
    let bindings = settle(cache, holder, user.id, version, packed, held).ok_or_else(unsettled)?;
    Ok(Some(UserPrincipal { user, bindings, valid_until: None, fenced: Vec::new(), client: None }))
}

/// The statement packed no bindings although the numbers sent were not current: refused, never guessed.
fn unsettled() -> ApiError {
    ApiError::Internal("the authentication statement answered no bindings for numbers it did not hold".to_owned())
}

/// Loads a service account with its bindings again (for a long-lived connection that re-checks access);
/// `None` when the account is gone, inactive or expired.
pub async fn reload_service_account(
    conn: &mut AsyncPgConnection,
    cache: &BindingsCache,
    account: &ServiceAccountRow,
    now: DateTime<Utc>,
) -> ApiResult<Option<ServiceAccountPrincipal>> {
    let holder = Holder::ServiceAccountKey(account.key_prefix.clone());
    let held = cache.get(&holder);
    let loaded =
        principal::service_account_with_bindings(conn, &account.key_prefix, BindingsCache::version_of(held.as_ref()))
            .await?;
    let Some((fresh, version, packed)) = loaded else {
        return Ok(None);
    };
    if fresh.id != account.id || !fresh.active || fresh.expires_at.is_some_and(|at| at <= now) {
        return Ok(None);
    }
    let bindings = settle(cache, holder, fresh.id, version, packed, held).ok_or_else(unsettled)?;
    Ok(Some(ServiceAccountPrincipal { account: fresh, bindings, fenced: Vec::new(), client: None }))
}
