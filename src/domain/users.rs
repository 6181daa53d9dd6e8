//! Users: sign-up, sign-in, profile changes, token revocation.

use chrono::{DateTime, Duration, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::json;
use uuid::Uuid;

use crate::auth::password::{self, PasswordHasher};
use crate::db::models::login_failure::{self, FailureKey};
use crate::db::models::organization::{lock_installation, set_first_user};
use crate::db::models::user::{NewEmail, NewUser, UserChanges, set_password_hash};
use crate::domain::audit::{self, Change};
use crate::domain::memberships::{self, Grantor, Join};
use crate::domain::{Actor, Holder, invites, managed_domains, organizations, validate};
use crate::error::{ApiError, ApiResult};
use crate::metrics::SignInFailure;
use crate::rbac::{Role, ScopeRef};
use crate::state::AppState;

/// The one message for every failed sign-in: unknown user and wrong password look the same.
pub const MSG_SIGN_IN_FAILED: &str = "Invalid email, username or password";
/// Message once an identity has failed too often.
pub const MSG_THROTTLED: &str = "Too many failed sign-in attempts. Please wait a few minutes and try again.";

/// What `createUser` asks for.
#[derive(Debug, Clone, Default)]
pub struct SignUp {
    /// Email address (becomes the primary address).
    pub email: String,
    /// Password.
    pub password: String,
    /// Login name; the email address when absent.
    pub username: Option<String>,
    /// Profile JSON; `fullName` in it becomes the display name.
    pub profile: Option<serde_json::Value>,
    /// Invite token.
    pub invite_token: Option<String>,
}

/// Installation-wide sign-up rules.
#[derive(Debug, Clone, Copy)]
pub struct SignUpPolicy<'a> {
    /// Whether anyone may sign up without an invite.
    pub public_signups: bool,
    /// Whether sign-ups without an invite must use an address of a domain some organization verified.
    pub claimed_domains_only: bool,
    /// Hashes the new password.
    pub passwords: &'a PasswordHasher,
    /// The role matrix (pending invites are re-checked against their inviters when applied).
    pub matrix: &'a std::sync::Arc<crate::rbac::Matrix>,
}

impl<'a> SignUpPolicy<'a> {
    /// The policy the configuration of `state` sets.
    pub fn from_state(state: &'a AppState) -> Self {
        SignUpPolicy {
            public_signups: state.config.public_signups,
            claimed_domains_only: state.config.public_signups_claimed_domains_only,
            passwords: &state.passwords,
            matrix: &state.matrix,
        }
    }
}

/// Sign-in throttling: failures are counted per identity and per client address, and past either limit
/// further attempts are refused for the rest of the window without checking the password.
#[derive(Debug, Clone, Copy)]
pub struct Throttle<'a> {
    /// Failures allowed per identity and window.
    pub max_failures: i32,
    /// Failures allowed per client address (IPv6: per /64) and window.
    pub max_failures_per_address: i32,
    /// Window length.
    pub window: Duration,
    /// Checks the password.
    pub passwords: &'a PasswordHasher,
    /// Counts refused sign-ins (`capcom_sign_in_failures_total`).
    pub metrics: &'a crate::metrics::Metrics,
}

impl<'a> Throttle<'a> {
    /// Counts one password attempt for `identity` and the client `address` (one statement per key,
    /// before the password is checked, so concurrent guesses are counted too); true when either is now
    /// over its allowance. Sign-in and password changes share the count.
    pub async fn count_attempt(
        &self,
        conn: &mut AsyncPgConnection,
        identity: &str,
        address: Option<&str>,
        now: DateTime<Utc>,
    ) -> ApiResult<bool> {
        let by_identity = login_failure::record_failure(conn, FailureKey::Identity(identity), now, self.window).await?;
        let by_address = match address {
            Some(address) => {
                login_failure::record_failure(conn, FailureKey::Address(address), now, self.window).await?
            }
            None => 0,
        };
        Ok(by_identity > self.max_failures || by_address > self.max_failures_per_address)
    }

    /// The throttle the configuration of `state` sets.
    pub fn from_state(state: &'a AppState) -> Self {
        Throttle {
            max_failures: state.config.login_max_failures,
            max_failures_per_address: state.config.login_max_failures_per_address,
            window: Duration::seconds(state.config.login_window_secs),
            passwords: &state.passwords,
            metrics: &state.metrics,
        }
    }
}

/// The key sign-in failures from `address` are counted under: the IPv4 address, or the /64 of an IPv6
/// address (one client usually holds a whole /64).
pub fn address_key(address: &str) -> Option<String> {
    match address.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(v4) => Some(v4.to_string()),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => Some(v4.to_string()),
            None => {
                let segments = v6.segments();
                Some(format!("{:x}:{:x}:{:x}:{:x}::/64", segments[0], segments[1], segments[2], segments[3]))
            }
        },
    }
}

/// Audit snapshot of a user (never any credential).
pub fn snapshot(user: &User) -> serde_json::Value {
    json!({
        "id": user.id,
        "username": user.username,
        "fullName": user.full_name,
        "status": user.status,
        "profile": user.profile,
    })
}

fn map_unique(error: diesel::result::Error) -> ApiError {
    use diesel::result::{DatabaseErrorKind, Error};
    if let Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) = &error {
        match info.constraint_name() {
            Some("emails_address_key") => return ApiError::conflict("A user with this email address already exists"),
            Some("users_username_key") => return ApiError::conflict("This username is already taken"),
            _ => {}
        }
    }
    ApiError::from(error)
}

/// Creates a user. The first user of the installation becomes SYSTEM_ADMIN and joins (creating) the default
/// organization; later users need public sign-ups or an invite token sent to their email address. A
/// sign-up with an invite token applies every pending invite for that address. Decided under a lock on the installation
/// row, so of two concurrent first sign-ups exactly one is first.
pub async fn sign_up(
    conn: &mut AsyncPgConnection,
    input: SignUp,
    policy: SignUpPolicy<'_>,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<User> {
    let email = validate::email("email", &input.email)?;
    validate::password("password", &input.password)?;
    let username = match input.username.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        Some(name) => validate::username("username", name)?,
        None => email.clone(),
    };
    // A username that looks like an address must be the user's own (SPEC §4.1: identity is an email or a
    // username; one must never be mistaken for someone else's other).
    if username.contains('@') && !username.eq_ignore_ascii_case(&email) {
        return Err(ApiError::bad_input("username", "A username with '@' must be your own email address"));
    }
    let profile = input.profile.clone().unwrap_or_else(|| json!({}));
    validate::json_object("profile", &profile)?;
    let full_name = match profile.get("fullName").and_then(|v| v.as_str()) {
        Some(name) if !name.trim().is_empty() => Some(validate::label("profile.fullName", name, validate::MAX_LABEL)?),
        _ => None,
    };
    let invite_token = input.invite_token.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned);
    // A sign-up that will be refused anyway costs no password hash (hashing is the expensive part, and
    // anyone can ask): checked again under the lock below. An invite token is looked up first too
    // (SPEC §7: the hash comes after every cheap check).
    if let Some(token) = &invite_token {
        invites::check_token_for_sign_up(conn, token, &email, now).await?;
    }
    if invite_token.is_none() && !policy.public_signups && !installation_is_empty(conn).await? {
        return Err(sign_ups_closed());
    }
    if invite_token.is_none()
        && policy.claimed_domains_only
        && managed_domains::verified_owner(conn, &email).await?.is_none()
        && !installation_is_empty(conn).await?
    {
        return Err(domain_not_claimed());
    }
    // Hash before taking locks: it is the slow part.
    let password_hash = policy.passwords.hash(input.password).await?;

    conn.transaction(async |tx| {
        let first_user = lock_installation(tx).await?;
        let is_first = first_user.is_none();
        let mut token_invite = None;
        if let Some(token) = &invite_token {
            token_invite = Some(invites::check_token_for_sign_up(tx, token, &email, now).await?.id);
        } else if !is_first && !policy.public_signups {
            return Err(sign_ups_closed());
        } else if !is_first
            && policy.claimed_domains_only
            && managed_domains::verified_owner(tx, &email).await?.is_none()
        {
            return Err(domain_not_claimed());
        }
        if Email::address_taken(tx, &email).await? {
            return Err(ApiError::conflict("A user with this email address already exists"));
        }
        if User::username_taken(tx, &username).await? {
            return Err(ApiError::conflict("This username is already taken"));
        }
        let user = User::insert(
            tx,
            &NewUser {
                id: Uuid::now_v7(),
                username: &username,
                full_name: full_name.as_deref(),
                status: "active",
                profile,
            },
        )
        .await
        .map_err(map_unique)?;
        Email::insert(
            tx,
            // An invite token was mailed to the address: using it proves the address is the user's.
            &NewEmail {
                id: Uuid::now_v7(),
                user_id: user.id,
                address: &email,
                verified: invite_token.is_some(),
                is_primary: true,
            },
        )
        .await
        .map_err(map_unique)?;
        set_password_hash(tx, user.id, &password_hash).await?;

        if is_first {
            set_first_user(tx, user.id).await?;
            memberships::grant(
                tx,
                &Grantor::FirstUser,
                Holder::User(user.id),
                Role::SystemAdmin,
                ScopeRef::System,
                None,
            )
            .await?;
        }
        // The default organization is locked first by every sign-up, so sign-ups are serialized there.
        let organization = organizations::default_locked(tx).await?;
        // Pending invites are applied only when the sign-up proved it reads the address's mail (it came
        // with an invite token sent there): with public sign-ups, anyone could otherwise claim an address
        // and the roles waiting for it. Without a token they stay pending for `acceptInvite`.
        let invites_applied = if invite_token.is_some() {
            let client = actor.client_address.as_deref();
            invites::apply_pending_for_email(tx, user.id, &email, policy.matrix, now, client, token_invite).await?
        } else {
            Vec::new()
        };
        // A verified address of a verified domain joins the organization that proved the domain.
        let joined_by_domain = managed_domains::join_by_domain(tx, user.id).await?;
        // Invites or the domain may have placed the user in an organization; otherwise they join the
        // default one (the founders' rule: no caller grants).
        let organization_role = if RoleBindingRow::count_organizations_of_user(tx, user.id).await? == 0 {
            Some(
                memberships::join_organization(tx, &Grantor::Rule, &organization, user.id, Join::Founders(None), None)
                    .await?,
            )
        } else {
            None
        };

        // Tenancy (SPEC §2): the sign-up is filed under the organization it joined (the default one, else
        // the first invite's, else the domain's), and each other organization it joined gets its own
        // event with only what concerns it. No event carries the private profile.
        let mut concerned: Vec<Uuid> = Vec::new();
        if organization_role.is_some() {
            concerned.push(organization.id);
        }
        concerned.extend(invites_applied.iter().filter_map(|applied| applied.organization_id));
        concerned.extend(joined_by_domain.iter().copied());
        let mut seen = std::collections::HashSet::new();
        concerned.retain(|id| seen.insert(*id));
        let home = concerned.first().copied();
        let for_organization = |id: Option<Uuid>| -> (Vec<serde_json::Value>, bool) {
            let invites: Vec<serde_json::Value> = invites_applied
                .iter()
                .filter(|applied| applied.organization_id == id)
                .map(|applied| applied.snapshot.clone())
                .collect();
            (invites, id.is_some_and(|id| joined_by_domain.contains(&id)))
        };
        let (home_invites, home_domain) = for_organization(home);
        let mut after = json!({
            "id": user.id,
            "username": user.username,
            "fullName": user.full_name,
            "status": user.status,
            "email": email,
            "organizationRole": organization_role.filter(|_| home == Some(organization.id)).map(Role::as_str),
            "systemAdmin": is_first,
            "invitesApplied": home_invites,
            "joinedByDomain": home_domain,
        });
        if home.is_none() {
            after["organizationRole"] = json!(null);
        }
        let as_user = actor.as_user(user.id, &user.username);
        audit::record(
            tx,
            &as_user,
            Change {
                action: "user.create",
                target_type: "user",
                target_id: Some(user.id),
                organization_id: home,
                after: Some(after),
                ..Change::default()
            },
        )
        .await?;
        for other in concerned.iter().skip(1) {
            let (invites, by_domain) = for_organization(Some(*other));
            audit::record(
                tx,
                &as_user,
                Change {
                    action: "organization.user.join",
                    target_type: "user",
                    target_id: Some(user.id),
                    organization_id: Some(*other),
                    after: Some(json!({"userId": user.id, "username": user.username, "email": email,
                                       "invitesApplied": invites, "joinedByDomain": by_domain})),
                    ..Change::default()
                },
            )
            .await?;
        }
        Ok(user)
    })
    .await
}

fn domain_not_claimed() -> ApiError {
    ApiError::bad_input(
        "email",
        "Sign-ups on this server are open only to addresses of domains an organization has verified",
    )
}

fn sign_ups_closed() -> ApiError {
    ApiError::bad_input(
        "inviteToken",
        "Public sign-ups are disabled on this server: an invite is needed to create an account",
    )
}

/// Checks `identity` (email or username) and `password`. Failures are counted per identity and per client
/// address and, past either limit, refused without checking the password.
pub async fn sign_in(
    conn: &mut AsyncPgConnection,
    identity: &str,
    password_text: String,
    now: DateTime<Utc>,
    throttle: Throttle<'_>,
    actor: &Actor,
) -> ApiResult<User> {
    let identity = identity.trim().to_lowercase();
    if identity.is_empty() {
        return Err(ApiError::bad_input("identity", "Enter your email address or username"));
    }
    if identity.chars().count() > validate::MAX_EMAIL || password_text.chars().count() > password::MAX_LENGTH {
        return Err(ApiError::Unauthenticated(MSG_SIGN_IN_FAILED.to_owned()));
    }
    let address = actor.client_address.as_deref().and_then(address_key);
    // Every attempt is counted before the password is checked (one statement per key), so concurrent
    // guesses are counted too; a successful sign-in gives its attempts back.
    if throttle.count_attempt(conn, &identity, address.as_deref(), now).await? {
        throttle.metrics.sign_in_failed(SignInFailure::Throttled);
        return Err(ApiError::Unauthenticated(MSG_THROTTLED.to_owned()));
    }
    let found = User::find_by_identity(conn, &identity).await?;
    let (user, stored_hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, None),
    };
    let password_ok = throttle.passwords.verify(password_text, stored_hash).await?;
    let user = match user {
        Some(user) if password_ok && user.status == "active" => user,
        _ => {
            throttle.metrics.sign_in_failed(SignInFailure::InvalidCredentials);
            return Err(ApiError::Unauthenticated(MSG_SIGN_IN_FAILED.to_owned()));
        }
    };
    if let Some(address) = &address {
        login_failure::release(conn, FailureKey::Address(address)).await?;
    }
    conn.transaction(async |tx| {
        login_failure::clear(tx, FailureKey::Identity(&identity)).await?;
        let joined_by_domain = managed_domains::join_by_domain(tx, user.id).await?;
        // Each organization joined files its own event (tenancy, SPEC §2).
        managed_domains::record_joins(tx, &actor.as_user(user.id, &user.username), &user, &joined_by_domain).await?;
        audit::record(
            tx,
            &actor.as_user(user.id, &user.username),
            Change {
                action: "user.signIn",
                target_type: "user",
                target_id: Some(user.id),
                after: (!joined_by_domain.is_empty()).then(|| json!({"joinedByDomain": joined_by_domain})),
                ..Change::default()
            },
        )
        .await?;
        Ok(user)
    })
    .await
}

/// Changes to one's own account (`updateSelf`).
#[derive(Debug, Clone, Default)]
pub struct SelfChanges {
    /// New username.
    pub username: Option<String>,
    /// New display name; empty clears it.
    pub full_name: Option<String>,
    /// New profile (replaces the old one).
    pub profile: Option<serde_json::Value>,
}

/// Applies `changes` to user `user_id`.
pub async fn update_self(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    changes: SelfChanges,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<User> {
    let username = changes.username.as_deref().map(|u| validate::username("payload.username", u)).transpose()?;
    let full_name = match changes.full_name.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(name) => Some(Some(validate::label("payload.fullName", name, validate::MAX_LABEL)?)),
    };
    if let Some(profile) = &changes.profile {
        validate::json_object("payload.profile", profile)?;
    }
    conn.transaction(async |tx| {
        let before = User::find_for_update(tx, user_id).await?.ok_or(ApiError::NotFound)?;
        if let Some(name) = &username {
            if name.contains('@') {
                let own = Email::for_users(tx, &[user_id]).await?;
                if !own.iter().any(|address| address.address.eq_ignore_ascii_case(name)) {
                    return Err(ApiError::bad_input(
                        "payload.username",
                        "A username with '@' must be one of your own email addresses",
                    ));
                }
            }
            if !name.eq_ignore_ascii_case(&before.username) && User::username_taken(tx, name).await? {
                return Err(ApiError::conflict("This username is already taken"));
            }
        }
        let after = User::update(
            tx,
            user_id,
            &UserChanges {
                username,
                full_name,
                profile: changes.profile,
                tokens_valid_after: None,
                updated_at: Some(now),
            },
        )
        .await
        .map_err(map_unique)?;
        audit::record(
            tx,
            actor,
            Change {
                action: "user.update",
                target_type: "user",
                target_id: Some(user_id),
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

/// The `tokensValidAfter` that revokes every token issued so far. Token `iat`s are whole seconds and a
/// token is never issued with an `iat` before the current `tokensValidAfter`, so moving it to a whole
/// second that is both after `now` and after its previous value revokes them all, including tokens issued
/// earlier within the same second; a token issued right after gets exactly that second as its `iat`.
pub fn next_revocation(now: DateTime<Utc>, previous: DateTime<Utc>) -> DateTime<Utc> {
    let seconds = crate::auth::jwt::ceil_secs(now).max(crate::auth::jwt::ceil_secs(previous) + 1);
    DateTime::from_timestamp(seconds, 0).unwrap_or(now)
}

/// Revokes every token of `user_id` issued up to now.
pub async fn revoke_tokens(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<User> {
    conn.transaction(async |tx| {
        let before = User::find_for_update(tx, user_id).await?.ok_or(ApiError::NotFound)?;
        let revoked_at = next_revocation(now, before.tokens_valid_after);
        let user = User::update(
            tx,
            user_id,
            &UserChanges { tokens_valid_after: Some(revoked_at), updated_at: Some(now), ..UserChanges::default() },
        )
        .await?;
        audit::record(
            tx,
            actor,
            Change { action: "user.logout", target_type: "user", target_id: Some(user_id), ..Change::default() },
        )
        .await?;
        Ok(user)
    })
    .await
}

pub use crate::db::models::role_binding::RoleBindingRow;
pub use crate::db::models::user::{Email, User};

/// The email addresses of the given users (one statement).
pub async fn emails_of(conn: &mut AsyncPgConnection, user_ids: &[Uuid]) -> ApiResult<Vec<Email>> {
    Ok(Email::for_users(conn, user_ids).await?)
}

/// The role bindings the given users hold directly, each with the full ancestry of its object (one
/// statement).
pub async fn role_bindings_of(
    conn: &mut AsyncPgConnection,
    user_ids: &[Uuid],
) -> ApiResult<Vec<(RoleBindingRow, crate::rbac::Ancestry)>> {
    use crate::rbac::Ancestry;
    let rows = RoleBindingRow::direct_for_users_with_ancestors(conn, user_ids).await?;
    Ok(rows
        .into_iter()
        .map(|(row, organization, workspace)| {
            let at = match (row.deployment_id, row.workspace_id, row.organization_id) {
                (Some(deployment), _, _) => Ancestry::deployment(organization, workspace, deployment),
                (None, Some(id), _) => Ancestry::workspace(organization, id),
                (None, None, Some(id)) => Ancestry::organization(id),
                (None, None, None) => Ancestry::SYSTEM,
            };
            (row, at)
        })
        .collect())
}

/// Whether the installation has no user yet.
pub async fn installation_is_empty(conn: &mut AsyncPgConnection) -> ApiResult<bool> {
    Ok(User::count(conn).await? == 0)
}

/// Users by id (one statement).
pub async fn find_many(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> ApiResult<Vec<User>> {
    Ok(User::find_many(conn, ids).await?)
}

/// `(workspace, user)` for every user holding a role directly on one of the workspaces (one statement).
pub async fn members_of_workspaces(
    conn: &mut AsyncPgConnection,
    workspace_ids: &[Uuid],
) -> ApiResult<Vec<(Uuid, User)>> {
    Ok(User::members_of_workspaces(conn, workspace_ids).await?)
}

/// Every role binding on the given workspaces with the service account holding it, if one does (one
/// statement).
pub async fn role_bindings_on_workspaces_with_accounts(
    conn: &mut AsyncPgConnection,
    workspace_ids: &[Uuid],
) -> ApiResult<Vec<(RoleBindingRow, Option<crate::domain::service_accounts::ServiceAccount>)>> {
    Ok(RoleBindingRow::for_workspaces_with_accounts(conn, workspace_ids).await?)
}

/// Users matching `filter` across the installation.
pub async fn search(conn: &mut AsyncPgConnection, filter: &UserFilter, limit: usize) -> ApiResult<Vec<User>> {
    Ok(User::search(conn, filter, None, i64::try_from(limit).unwrap_or(i64::MAX)).await?)
}

pub use crate::db::models::user::UserFilter;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_revocation_moves_past_every_earlier_token() {
        let now = DateTime::from_timestamp(1_000, 500_000_000).unwrap_or_default();
        let created = DateTime::from_timestamp(1_000, 100_000_000).unwrap_or_default();
        // Sign-up at 1000.1 issues iat = 1001; a logout at 1000.5 must refuse it.
        let first = next_revocation(now, created);
        assert_eq!(first.timestamp(), 1_002);
        // The token issued right after has iat = 1002; a second logout in the same second refuses it too.
        let second = next_revocation(now, first);
        assert_eq!(second.timestamp(), 1_003);
    }
}

/// The user with this email address, if any.
pub async fn by_email(conn: &mut AsyncPgConnection, email: &str) -> ApiResult<Option<User>> {
    Ok(User::find_by_email(conn, email).await?)
}

/// A person for [`import`].
#[derive(Debug, Clone, Default)]
pub struct Person {
    /// Email address (becomes the primary address).
    pub email: String,
    /// Login name; the email address when absent.
    pub username: Option<String>,
    /// Display name.
    pub full_name: Option<String>,
}

/// Creates many users in one transaction, for an operator's import (`capcom seed`): each is validated as
/// [`sign_up`] validates, gets `password_hash` (a PHC string from [`PasswordHasher::hash`], so a thousand
/// users cost one hash), joins the default organization by the same rule (its first three members become
/// owners) and gets its own `user.create` audit event, in a handful of multi-row statements. An address or
/// username already taken, or given twice, is CONFLICT and nothing is created. The installation must have
/// its first user already (sign-up makes it). Returns the new users' ids, in order.
pub async fn import(
    conn: &mut AsyncPgConnection,
    people: &[Person],
    password_hash: &str,
    actor: &Actor,
) -> ApiResult<Vec<Uuid>> {
    use crate::db::models::bulk;

    let mut rows = Vec::with_capacity(people.len());
    for (index, person) in people.iter().enumerate() {
        let email = validate::email(&format!("people.{index}.email"), &person.email)?;
        let username = match person.username.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            Some(name) => validate::username(&format!("people.{index}.username"), name)?,
            None => email.clone(),
        };
        let full_name = match person.full_name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            Some(name) => Some(validate::label(&format!("people.{index}.fullName"), name, validate::MAX_LABEL)?),
            None => None,
        };
        rows.push((Uuid::now_v7(), email, username, full_name));
    }
    let mut addresses: Vec<String> = rows.iter().map(|row| row.1.clone()).collect();
    let mut usernames: Vec<String> = rows.iter().map(|row| row.2.to_lowercase()).collect();
    addresses.sort();
    addresses.dedup();
    usernames.sort();
    usernames.dedup();
    if addresses.len() != rows.len() || usernames.len() != rows.len() {
        return Err(ApiError::conflict("An email address or username is listed twice"));
    }
    conn.transaction(async |tx| {
        if lock_installation(tx).await?.is_none() {
            return Err(ApiError::conflict("The installation has no users yet: sign up its first user first"));
        }
        if !bulk::taken_addresses(tx, &addresses).await?.is_empty() {
            return Err(ApiError::conflict("A user with one of these email addresses already exists"));
        }
        if !bulk::taken_usernames(tx, &usernames).await?.is_empty() {
            return Err(ApiError::conflict("One of these usernames is already taken"));
        }
        let organization = organizations::default_locked(tx).await?;
        // The founders' rule counts joins (SPEC §2): these people are the next `rows.len()` joins.
        let members = crate::db::models::organization::Organization::count_joins(
            tx,
            organization.id,
            i64::try_from(rows.len()).unwrap_or(i64::MAX),
        )
        .await?;
        let new_users: Vec<NewUser<'_>> = rows
            .iter()
            .map(|(id, _, username, full_name)| NewUser {
                id: *id,
                username,
                full_name: full_name.as_deref(),
                status: "active",
                profile: json!({}),
            })
            .collect();
        let new_emails: Vec<NewEmail<'_>> = rows
            .iter()
            .map(|(id, email, _, _)| NewEmail {
                id: Uuid::now_v7(),
                user_id: *id,
                address: email,
                verified: false,
                is_primary: true,
            })
            .collect();
        let ids: Vec<Uuid> = rows.iter().map(|row| row.0).collect();
        let mut bindings = Vec::with_capacity(rows.len());
        let mut events = Vec::with_capacity(rows.len());
        for (position, (id, email, username, full_name)) in rows.iter().enumerate() {
            let ordinal = members + i64::try_from(position).unwrap_or(i64::MAX);
            let role = if ordinal < organizations::FOUNDING_OWNERS {
                Role::OrganizationOwner
            } else {
                Role::OrganizationMember
            };
            bindings.push(crate::domain::user_binding(role, *id, Some(organization.id), actor.user_id));
            let after = json!({"id": id, "username": username, "fullName": full_name, "status": "active",
                               "profile": {}, "email": email, "organizationRole": role.as_str(),
                               "systemAdmin": false, "imported": true});
            events.push(audit::event(
                actor,
                Change {
                    action: "user.create",
                    target_type: "user",
                    target_id: Some(*id),
                    organization_id: Some(organization.id),
                    after: Some(after),
                    ..Change::default()
                },
            ));
        }
        bulk::insert_users(tx, &new_users).await.map_err(map_unique)?;
        bulk::insert_emails(tx, &new_emails).await.map_err(map_unique)?;
        bulk::insert_password_hashes(tx, &ids, password_hash).await?;
        // The founders' rule was applied above; no caller grants (an operator's import).
        memberships::seed_bindings(tx, &bindings).await?;
        bulk::insert_audit_events(tx, &events).await?;
        Ok(ids)
    })
    .await
}

/// Counts a sign-up attempt against the client address's sign-in failures (the same counter and limit,
/// `CAPCOM_LOGIN_MAX_FAILURES_PER_ADDRESS`), before anything costly: past the limit the sign-up is refused
/// at once (BAD_USER_INPUT on `email`, [`MSG_THROTTLED`]). Returns the address key to give the attempt back
/// with [`sign_up_succeeded`] once the account exists. A request without a client address is not counted.
pub async fn admit_sign_up_attempt(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    throttle: Throttle<'_>,
    actor: &Actor,
) -> ApiResult<Option<String>> {
    let Some(address) = actor.client_address.as_deref().and_then(address_key) else { return Ok(None) };
    let attempts = login_failure::record_failure(conn, FailureKey::Address(&address), now, throttle.window).await?;
    if attempts > throttle.max_failures_per_address {
        throttle.metrics.sign_in_failed(SignInFailure::Throttled);
        return Err(ApiError::bad_input("email", MSG_THROTTLED));
    }
    Ok(Some(address))
}

/// Gives back the attempt [`admit_sign_up_attempt`] counted, after a sign-up that created its account.
pub async fn sign_up_succeeded(conn: &mut AsyncPgConnection, address: Option<&str>) -> ApiResult<()> {
    if let Some(address) = address {
        login_failure::release(conn, FailureKey::Address(address)).await?;
    }
    Ok(())
}
