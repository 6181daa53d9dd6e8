//! OpenID Connect providers of organizations, and what a sign-in through one does (see docs/sso.md).
//!
//! Rules:
//! - a provider signs in only addresses of domains its organization verified, and only addresses the
//!   provider says it verified (`email_verified`); otherwise any organization could configure a provider
//!   that vouches for someone else's address and take over their account;
//! - a provider's subject is linked to one account at its first sign-in (found by address, or created
//!   without a password); later sign-ins find it by subject;
//! - the account joins the organization as ORGANIZATION_MEMBER if it is not a member;
//! - with a groups claim configured, the user's teams in the organization become exactly the teams named
//!   by the claim (by name, case-insensitively; groups without a team are ignored);
//! - inactive accounts (deactivated through SCIM or by an administrator) are refused;
//! - the client secret is the one the operator stored under the provider's organization and name (SPEC
//!   §3.1): `CAPCOM_OIDC_SECRET_<ORGANIZATION>_<NAME>` ([`secret_env_name`]) or the file
//!   `<CAPCOM_OIDC_SECRETS_DIR>/<organization-id>/<name>`, read when it is needed; no setting chooses
//!   another, and it is never stored, returned, logged or audited. No provider of another organization
//!   can reach it, whatever name it takes;
//! - an organization's provider never signs in, adopts or links an account that holds a system role
//!   (directly or through a team), and acts only on accounts of its organization's verified domains;
//! - adopting an account whose address was never verified first takes every other way in away from it
//!   ([`crate::domain::identity::adopt`]).

use chrono::{DateTime, Duration, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::db::models::identity_provider::{self as rows, IdentityProvider, ProviderSettings};
use crate::db::models::organization::Organization;
use crate::db::models::scim;
use crate::db::models::team::Team;
use crate::db::models::user::{Email, NewEmail, NewUser, User};
use crate::domain::audit::{self, Change};
use crate::domain::identity::{self, OutOfReach};
use crate::domain::{Actor, managed_domains, validate};
use crate::error::{ApiError, ApiResult};

/// Environment variables holding client secrets are this followed by the provider's name
/// ([`secret_env_name`]).
pub const SECRET_ENV_PREFIX: &str = "CAPCOM_OIDC_SECRET_";

/// How long a started sign-in may take.
pub const FLOW_LIFETIME_SECS: i64 = 600;

/// How long the one-time code handed to the console stays valid.
pub const CODE_LIFETIME_SECS: i64 = 120;

/// A provider's settings as an operator writes them.
#[derive(Debug, Clone, Default)]
pub struct ProviderInput {
    /// Short name (`[a-z0-9-]`, at most 63).
    pub name: String,
    /// Name a console shows (defaults to the name).
    pub display_name: Option<String>,
    /// Issuer URL.
    pub issuer_url: String,
    /// Client id.
    pub client_id: String,
    /// Scopes (defaults to `openid email profile`; `openid` is always added).
    pub scopes: Option<Vec<String>>,
    /// Claim holding the address (default `email`).
    pub email_claim: Option<String>,
    /// Claim holding the display name (default `name`).
    pub name_claim: Option<String>,
    /// Claim holding group names, mapped to teams.
    pub groups_claim: Option<String>,
    /// Whether it is offered (default true).
    pub enabled: Option<bool>,
}

/// Where client secrets are read from.
#[derive(Debug, Clone, Default)]
pub struct SecretPolicy {
    /// `CAPCOM_OIDC_SECRETS_DIR`: the secret of provider `name` of organization `id` may be the file
    /// `<dir>/<id>/<name>`.
    pub secrets_dir: Option<std::path::PathBuf>,
    /// `CAPCOM_OIDC_ALLOW_HTTP`: accept `http://` issuers (for providers on loopback in tests and labs).
    pub allow_http: bool,
}

/// Audit and API snapshot of a provider: where its secret comes from, never the secret.
pub fn snapshot(provider: &IdentityProvider) -> serde_json::Value {
    json!({
        "id": provider.id,
        "name": provider.name,
        "displayName": provider.display_name,
        "issuerUrl": provider.issuer_url,
        "clientId": provider.client_id,
        "scopes": provider.scopes,
        "emailClaim": provider.email_claim,
        "nameClaim": provider.name_claim,
        "groupsClaim": provider.groups_claim,
        "enabled": provider.enabled,
    })
}

/// The environment variable that holds the client secret of provider `name` of organization
/// `organization_id`: `CAPCOM_OIDC_SECRET_`, the organization's id as 32 upper-case hex digits, `_`, then
/// the name upper-cased with hyphens as underscores (`acme-sso` of organization
/// `0191…` → `CAPCOM_OIDC_SECRET_0191…_ACME_SSO`).
///
/// The organization is part of the key because provider names are first come, first served across the
/// installation: keyed by name alone, an owner of another organization who created `acme` first (or
/// after Acme deleted theirs) would be handed the secret the operator meant for Acme. The id has a fixed
/// length and names are `[a-z0-9-]`, so two providers never share a variable.
pub fn secret_env_name(organization_id: Uuid, name: &str) -> String {
    let organization = organization_id.simple().to_string().to_ascii_uppercase();
    format!("{SECRET_ENV_PREFIX}{organization}_{}", name.to_ascii_uppercase().replace('-', "_"))
}

/// Where the client secret of provider `name` of organization `organization_id` is found now:
/// `env:<variable>` ([`secret_env_name`]), `file:<organization-id>/<name>` (inside
/// `CAPCOM_OIDC_SECRETS_DIR`), or `none` (a public client). Never the secret.
pub fn secret_source(organization_id: Uuid, name: &str, policy: &SecretPolicy) -> String {
    let env = secret_env_name(organization_id, name);
    if std::env::var(&env).is_ok_and(|value| !value.trim().is_empty()) {
        return format!("env:{env}");
    }
    match secret_file(organization_id, name, policy) {
        Some(path) if path.is_file() => format!("file:{}", secret_file_name(organization_id, name)),
        _ => "none".to_owned(),
    }
}

/// The file, relative to `CAPCOM_OIDC_SECRETS_DIR`, that may hold the client secret of provider `name`
/// of organization `organization_id`: `<organization-id>/<name>` (the id hyphenated, as the API shows
/// it). Where the operator stores it; see [`secret_env_name`] for why the organization is part of it.
pub fn secret_file_name(organization_id: Uuid, name: &str) -> String {
    format!("{}/{name}", organization_id.hyphenated())
}

/// `<CAPCOM_OIDC_SECRETS_DIR>/<organization-id>/<name>`. The name has no `/` or `.` (it is `[a-z0-9-]`)
/// and the id is hex and hyphens, so the path stays in the folder.
fn secret_file(organization_id: Uuid, name: &str, policy: &SecretPolicy) -> Option<std::path::PathBuf> {
    let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    valid.then(|| policy.secrets_dir.as_ref().map(|dir| dir.join(secret_file_name(organization_id, name)))).flatten()
}

fn claim_name(field: &str, value: Option<&str>, default: &str) -> ApiResult<String> {
    let value = value.map(str::trim).filter(|v| !v.is_empty()).unwrap_or(default);
    if value.len() > 255 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::bad_input(field, format!("{field} must be a claim name")));
    }
    Ok(value.to_owned())
}

/// Checks `input` and turns it into stored settings; the secret reference must resolve now.
pub fn settings(input: &ProviderInput, policy: &SecretPolicy) -> ApiResult<ProviderSettings> {
    let name = input.name.trim().to_lowercase();
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-');
    if !name_ok {
        return Err(ApiError::bad_input("input.name", "name is 1 to 63 lower-case letters, digits and hyphens"));
    }
    let display_name = validate::label(
        "input.displayName",
        input.display_name.as_deref().filter(|d| !d.trim().is_empty()).unwrap_or(&name),
        validate::MAX_LABEL,
    )?;
    let issuer = input.issuer_url.trim().trim_end_matches('/').to_owned();
    let parsed =
        url::Url::parse(&issuer).map_err(|_| ApiError::bad_input("input.issuerUrl", "issuerUrl must be a URL"))?;
    let scheme_ok = parsed.scheme() == "https" || (policy.allow_http && parsed.scheme() == "http");
    if !scheme_ok
        || parsed.host_str().is_none()
        || parsed.query().is_some()
        || parsed.fragment().is_some()
        || issuer.len() > 2048
    {
        return Err(ApiError::bad_input(
            "input.issuerUrl",
            "issuerUrl must be an https:// URL without query or fragment (http:// only with CAPCOM_OIDC_ALLOW_HTTP)",
        ));
    }
    let client_id = input.client_id.trim().to_owned();
    if client_id.is_empty() || client_id.len() > 1024 {
        return Err(ApiError::bad_input("input.clientId", "clientId is required"));
    }
    let mut scopes: Vec<String> = input
        .scopes
        .clone()
        .unwrap_or_else(|| vec!["openid".into(), "email".into(), "profile".into()])
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    if scopes.iter().any(|s| s.len() > 128 || s.chars().any(|c| c.is_whitespace() || c == '"' || c == '\\')) {
        return Err(ApiError::bad_input("input.scopes", "scopes are words without spaces or quotes"));
    }
    if !scopes.iter().any(|s| s == "openid") {
        scopes.insert(0, "openid".into());
    }
    scopes.dedup();
    let scopes = scopes.join(" ");
    if scopes.len() > 1024 {
        return Err(ApiError::bad_input("input.scopes", "too many scopes"));
    }
    let settings = ProviderSettings {
        name,
        display_name,
        issuer_url: issuer,
        client_id,
        scopes,
        email_claim: claim_name("input.emailClaim", input.email_claim.as_deref(), "email")?,
        name_claim: claim_name("input.nameClaim", input.name_claim.as_deref(), "name")?,
        groups_claim: match input.groups_claim.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            Some(claim) => Some(claim_name("input.groupsClaim", Some(claim), claim)?),
            None => None,
        },
        enabled: input.enabled.unwrap_or(true),
    };
    Ok(settings)
}

/// The client secret of provider `name` of organization `organization_id` (`None`: none is stored, a
/// public client), read now: the environment variable [`secret_env_name`], else the file
/// [`secret_file_name`] in `CAPCOM_OIDC_SECRETS_DIR`. Nothing else can be read: the operator assigns a
/// secret to one organization's provider by storing it under that organization and name (SPEC §3.1). A
/// file that exists but cannot be read is INTERNAL (the message never holds the secret).
pub fn read_secret(organization_id: Uuid, name: &str, policy: &SecretPolicy) -> ApiResult<Option<String>> {
    if let Ok(value) = std::env::var(secret_env_name(organization_id, name)) {
        if !value.trim().is_empty() {
            return Ok(Some(value.trim().to_owned()));
        }
    }
    let Some(path) = secret_file(organization_id, name, policy) else { return Ok(None) };
    match std::fs::read_to_string(&path) {
        Ok(value) => Ok(Some(value.trim().to_owned()).filter(|v| !v.is_empty())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => {
            Err(ApiError::internal(format!("the client secret file of provider {name} cannot be read: {error}")))
        }
    }
}

fn name_conflict(error: diesel::result::Error) -> ApiError {
    use diesel::result::{DatabaseErrorKind, Error};
    match &error {
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
            if info.constraint_name() == Some("identity_providers_name_key") =>
        {
            ApiError::conflict("An identity provider with this name already exists")
        }
        _ => ApiError::from(error),
    }
}

/// Adds a provider to organization `organization_id`.
pub async fn create(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    input: &ProviderInput,
    policy: &SecretPolicy,
    actor: &Actor,
) -> ApiResult<IdentityProvider> {
    let settings = settings(input, policy)?;
    conn.transaction(async |tx| {
        Organization::find_for_update(tx, organization_id).await?.ok_or(ApiError::NotFound)?;
        let provider = IdentityProvider::insert(tx, organization_id, &settings).await.map_err(name_conflict)?;
        audit::record(
            tx,
            actor,
            Change {
                action: "organization.identityProvider.create",
                target_type: "identityProvider",
                target_id: Some(provider.id),
                organization_id: Some(organization_id),
                after: Some(snapshot(&provider)),
                ..Change::default()
            },
        )
        .await?;
        Ok(provider)
    })
    .await
}

/// Replaces a provider's settings.
pub async fn update(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    provider_id: Uuid,
    input: &ProviderInput,
    policy: &SecretPolicy,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<IdentityProvider> {
    let settings = settings(input, policy)?;
    conn.transaction(async |tx| {
        let before = IdentityProvider::find_for_update(tx, provider_id)
            .await?
            .filter(|p| p.organization_id == organization_id)
            .ok_or(ApiError::NotFound)?;
        let after = IdentityProvider::update(tx, provider_id, &settings, now).await.map_err(name_conflict)?;
        audit::record(
            tx,
            actor,
            Change {
                action: "organization.identityProvider.update",
                target_type: "identityProvider",
                target_id: Some(provider_id),
                organization_id: Some(organization_id),
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

/// Removes a provider; accounts that signed in through it stay, unlinked.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    provider_id: Uuid,
    actor: &Actor,
) -> ApiResult<IdentityProvider> {
    conn.transaction(async |tx| {
        let provider = IdentityProvider::find_for_update(tx, provider_id)
            .await?
            .filter(|p| p.organization_id == organization_id)
            .ok_or(ApiError::NotFound)?;
        IdentityProvider::delete(tx, provider_id).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "organization.identityProvider.delete",
                target_type: "identityProvider",
                target_id: Some(provider_id),
                organization_id: Some(organization_id),
                before: Some(snapshot(&provider)),
                ..Change::default()
            },
        )
        .await?;
        Ok(provider)
    })
    .await
}

/// The providers of the given organizations, by name.
pub async fn of_organizations(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> ApiResult<Vec<IdentityProvider>> {
    Ok(IdentityProvider::list(conn, Some(ids)).await?)
}

/// The enabled providers (what `authConfig` lists), at most `limit`.
pub async fn enabled(conn: &mut AsyncPgConnection, limit: usize) -> ApiResult<Vec<IdentityProvider>> {
    Ok(IdentityProvider::enabled(conn, i64::try_from(limit).unwrap_or(i64::MAX)).await?)
}

/// The enabled provider with this name, or NOT_FOUND.
pub async fn by_name(conn: &mut AsyncPgConnection, name: &str) -> ApiResult<IdentityProvider> {
    IdentityProvider::by_name(conn, name).await?.filter(|p| p.enabled).ok_or(ApiError::NotFound)
}

/// The provider with this id.
pub async fn get(conn: &mut AsyncPgConnection, id: Uuid) -> ApiResult<IdentityProvider> {
    IdentityProvider::find(conn, id).await?.ok_or(ApiError::NotFound)
}

/// SHA-256 of a random value handed out (state, browser cookie, sign-in code).
pub fn hash(value: &str) -> Vec<u8> {
    Sha256::digest(value.as_bytes()).to_vec()
}

/// A random URL-safe value of 256 bits.
pub fn random_value() -> ApiResult<String> {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(ApiError::internal)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Records a started sign-in.
pub async fn start_flow(conn: &mut AsyncPgConnection, flow: rows::OidcFlow, now: DateTime<Utc>) -> ApiResult<()> {
    Ok(rows::OidcFlow::insert(conn, &flow, now).await?)
}

/// Takes the sign-in `state` names (once); `None` when there is none (tampered, replayed, lapsed).
pub async fn take_flow(
    conn: &mut AsyncPgConnection,
    state: &str,
    now: DateTime<Utc>,
) -> ApiResult<Option<rows::OidcFlow>> {
    Ok(rows::OidcFlow::take(conn, &hash(state)).await?.filter(|flow| flow.expires_at > now))
}

/// What a verified ID token says about the person.
#[derive(Debug, Clone)]
pub struct VerifiedIdentity {
    /// `sub`.
    pub subject: String,
    /// The address (lower-cased).
    pub email: String,
    /// Whether the provider says it verified the address.
    pub email_verified: bool,
    /// Display name.
    pub name: Option<String>,
    /// Group names (when the provider has a groups claim).
    pub groups: Option<Vec<String>>,
}

/// Why a sign-in through a provider was refused (shown to the person; no secret in it).
pub fn refused(message: impl Into<String>) -> ApiError {
    ApiError::Unauthenticated(message.into())
}

/// Signs `identity` in through `provider`: finds, links or creates the account, makes it a member of the
/// provider's organization, maps its groups to teams, and returns the account with a one-time code for
/// the console. One transaction, one `user.signIn` audit event.
pub async fn sign_in(
    conn: &mut AsyncPgConnection,
    provider: &IdentityProvider,
    identity: VerifiedIdentity,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<(User, String)> {
    if !identity.email_verified {
        return Err(refused("The identity provider has not verified this email address"));
    }
    let email = validate::email("email", &identity.email)
        .map_err(|_| refused("The identity provider sent no usable email address"))?;
    if identity.subject.is_empty() || identity.subject.len() > 255 {
        return Err(refused("The identity provider sent no usable subject"));
    }
    let full_name = identity
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| n.chars().take(validate::MAX_LABEL).collect::<String>());
    let code = random_value()?;
    conn.transaction(async |tx| {
        // Lock order (crate::domain::memberships): the installation (shared, so no system role is granted
        // meanwhile), the organization the sign-in may join and change teams in, then the user's row.
        identity::hold_reach(tx).await?;
        crate::domain::memberships::lock_organization(tx, provider.organization_id).await?;
        if managed_domains::verified_owner(tx, &email).await? != Some(provider.organization_id) {
            return Err(refused("This provider can sign in only addresses of domains its organization has verified"));
        }
        let linked = rows::linked_user(tx, provider.id, &identity.subject).await?;
        let found = match linked {
            Some(user_id) => Some(user_id),
            None => User::find_by_email(tx, &email).await?.map(|user| user.id),
        };
        let (user, created) = match found {
            Some(user_id) => (User::find_for_update(tx, user_id).await?.ok_or(ApiError::NotFound)?, false),
            None => {
                let username = if User::username_taken(tx, &email).await? {
                    format!("{}-{}", email, &Uuid::now_v7().simple().to_string()[..8])
                } else {
                    email.clone()
                };
                let user = User::insert(
                    tx,
                    &NewUser {
                        id: Uuid::now_v7(),
                        username: &username,
                        full_name: full_name.as_deref(),
                        status: "active",
                        profile: json!({}),
                    },
                )
                .await?;
                Email::insert(
                    tx,
                    &NewEmail { id: Uuid::now_v7(), user_id: user.id, address: &email, verified: true, is_primary: true },
                )
                .await?;
                (user, true)
            }
        };
        // SPEC §3.1: an organization's provider never signs in an account holding a system role, and acts
        // only on accounts of its organization's verified domains (a linked account may have another
        // address than the one the provider names now).
        match identity::require_within_reach(tx, provider.organization_id, user.id).await? {
            Ok(()) => {}
            Err(OutOfReach::SystemRole) => {
                return Err(refused(
                    "This account holds a system role: it signs in with its password, not through an organization's identity provider",
                ));
            }
            Err(OutOfReach::OtherDomain) => {
                return Err(refused(
                    "This account's address is not of a domain the provider's organization has verified",
                ));
            }
        }
        if user.status != "active" {
            return Err(refused("This account is disabled"));
        }
        // The provider vouches for the address it names, on the account that holds it. An address nobody
        // had verified is taken over: whoever registered it first loses every other way in.
        let taken_over = if Email::for_users(tx, &[user.id]).await?.iter().any(|e| e.address == email) {
            identity::adopt(tx, provider.organization_id, &user, &email, now).await?
        } else {
            serde_json::Value::Null
        };
        rows::link(tx, provider.id, &identity.subject, user.id, now).await?;
        let joined = managed_domains::join_by_domain(tx, user.id).await?;
        let teams = match &identity.groups {
            Some(groups) if provider.groups_claim.is_some() => {
                Some(sync_teams(tx, provider.organization_id, user.id, groups).await?)
            }
            _ => None,
        };
        rows::insert_code(tx, &hash(&code), user.id, now + Duration::seconds(CODE_LIFETIME_SECS), now).await?;
        audit::record(
            tx,
            &actor.as_user(user.id, &user.username),
            Change {
                action: "user.signIn",
                target_type: "user",
                target_id: Some(user.id),
                organization_id: Some(provider.organization_id),
                after: Some(json!({
                    "provider": provider.name,
                    "subject": identity.subject,
                    "created": created,
                    "joinedByDomain": joined,
                    "teams": teams,
                    "takenOver": taken_over,
                })),
                ..Change::default()
            },
        )
        .await?;
        Ok((user, code.clone()))
    })
    .await
}

/// Makes the user's teams in the organization exactly those named by `groups`, through the grant path:
/// a team holding a system role is left alone (an organization's provider never confers or takes a
/// system role), and someone who is not a member of the organization (removed from it) joins no team.
/// Returns the team names the user is in.
async fn sync_teams(
    tx: &mut AsyncPgConnection,
    organization_id: Uuid,
    user_id: Uuid,
    groups: &[String],
) -> ApiResult<Vec<String>> {
    use crate::domain::memberships::{self, Grantor};
    let wanted: Vec<String> = groups.iter().map(|g| g.trim().to_lowercase()).collect();
    memberships::lock_organization(tx, organization_id).await?;
    if crate::db::models::role_binding::RoleBindingRow::user_in_organization_for_update(tx, organization_id, user_id)
        .await?
        .is_none()
    {
        return Ok(Vec::new());
    }
    let (teams, _) = scim::teams_page(tx, organization_id, &scim::GroupMatch::All, 0, i64::MAX).await?;
    let mut now_in = Vec::new();
    for team in teams {
        if memberships::team_holds_system_role(tx, team.id).await? {
            continue;
        }
        let team = Team::find_for_update(tx, team.id).await?.ok_or(ApiError::NotFound)?;
        if wanted.contains(&team.name.to_lowercase()) {
            memberships::add_team_member(tx, &Grantor::IdentityProvider, &team, user_id).await?;
            now_in.push(team.name);
        } else {
            memberships::remove_team_member(tx, &Grantor::IdentityProvider, &team, user_id).await?;
        }
    }
    Ok(now_in)
}

/// Exchanges a one-time sign-in code for the account it names (the code works once, for
/// [`CODE_LIFETIME_SECS`]). One transaction, one `user.signIn.exchange` audit event.
pub async fn exchange_code(
    conn: &mut AsyncPgConnection,
    code: &str,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<User> {
    let invalid = || ApiError::Unauthenticated("This sign-in code is invalid, expired or used already".to_owned());
    if code.is_empty() || code.len() > 128 {
        return Err(invalid());
    }
    conn.transaction(async |tx| {
        let user_id = rows::take_code(tx, &hash(code), now).await?.ok_or_else(invalid)?;
        let user = User::find(tx, user_id).await?.filter(|u| u.status == "active").ok_or_else(invalid)?;
        audit::record(
            tx,
            &actor.as_user(user.id, &user.username),
            Change {
                action: "user.signIn.exchange",
                target_type: "user",
                target_id: Some(user.id),
                ..Change::default()
            },
        )
        .await?;
        Ok(user)
    })
    .await
}
