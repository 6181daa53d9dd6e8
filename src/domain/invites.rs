//! Invites (SPEC §4.4): a pending grant of a role to an email address. The token is random, shown once,
//! stored only as a SHA-256 hash, delivered through the mail outbox, and expires.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::db::models::invite::{InviteFilter, NewInvite, OutboxMessage};
use crate::db::models::role_binding::RoleBindingRow;
use crate::db::models::user::{Email, User};
use crate::db::models::workspace::Workspace;
use crate::domain::audit::{self, Change};
use crate::domain::custom_roles::CustomRole;
use crate::domain::memberships::{self, Conferred, DeploymentRoleRequest, Grantor, Join, RoleRequest};
use crate::domain::{Actor, Authority, ip_access, validate};
use crate::error::{ApiError, ApiResult};
use crate::rbac::{Matrix, Role, Scope, ScopeRef};

pub use crate::db::models::invite::Invite;

/// Prefix of invite tokens, so that a leaked one is recognizable.
pub const TOKEN_PREFIX: &str = "cci_";

/// How invites are made.
#[derive(Debug, Clone)]
pub struct InviteSettings {
    /// Lifetime.
    pub expiry: Duration,
    /// Console address for the mail.
    pub public_url: String,
    /// Current time.
    pub now: DateTime<Utc>,
}

/// A freshly created invite. Its token exists in clear only in the mail it was sent in (SPEC §4.4: never
/// returned to the inviter).
#[derive(Debug)]
pub struct CreatedInvite {
    /// The invite.
    pub invite: Invite,
}

fn new_token() -> ApiResult<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::internal(format!("randomness: {e}")))?;
    Ok(format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// SHA-256 of a token: what the database stores and looks up (an index lookup on a hash of 256 random
/// bits leaks nothing useful through timing).
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.trim().as_bytes()).to_vec()
}

/// Audit snapshot of an invite (never the token or its hash). `role` is the role it carries as read for
/// the change, when it was: a custom role is then named by id and by its name at the change; without it
/// the snapshot still names the custom role's id. Each of its deployment roles is named the same way
/// (`deploymentId`, `role`, `customRoleId`, and `customRoleName` for a custom role found in `custom`, the
/// custom roles read for the change).
pub fn snapshot(invite: &Invite, role: Option<&Conferred>, custom: &[CustomRole]) -> serde_json::Value {
    let deployment_roles: Vec<serde_json::Value> = invite
        .deployment_roles
        .as_array()
        .into_iter()
        .flatten()
        .map(|entry| {
            let custom_role_id = entry.get("customRoleId").and_then(|id| id.as_str()).and_then(|id| id.parse().ok());
            let named = custom_role_id.and_then(|id: Uuid| custom.iter().find(|role| role.row.id == id));
            match named {
                Some(role) => {
                    Conferred::Custom(role.clone()).snapshot_with(json!({"deploymentId": entry.get("deploymentId")}))
                }
                None => json!({"deploymentId": entry.get("deploymentId"), "role": entry.get("role"),
                               "customRoleId": custom_role_id}),
            }
        })
        .collect();
    let snapshot = json!({"id": invite.id, "email": invite.email, "scope": invite.scope, "role": invite.role,
           "customRoleId": invite.custom_role_id, "workspaceId": invite.workspace_id,
           "deploymentRoles": deployment_roles, "expiresAt": invite.expires_at});
    match role {
        Some(role) => role.snapshot_with(snapshot),
        None => snapshot,
    }
}

fn pending_conflict(error: diesel::result::Error) -> ApiError {
    use diesel::result::{DatabaseErrorKind, Error};
    match &error {
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
            if info.constraint_name() == Some("invites_email_scope_key") =>
        {
            ApiError::conflict("An invite for this email address is already pending")
        }
        _ => ApiError::from(error),
    }
}

/// The console page a mail links to: `<CAPCOM_PUBLIC_URL>/console/#/<page>?token=<token>`, which the example
/// console (served at `/console/` with `CAPCOM_CONSOLE`) routes. The token travels in the fragment, so the
/// browser sends it to no server, logs it nowhere and puts it in no `Referer`. `token` must be URL-safe
/// (invite and reset tokens are base64url).
pub fn console_link(public_url: &str, page: &str, token: &str) -> String {
    format!("{}/console/#/{page}?token={token}", public_url.trim_end_matches('/'))
}

/// The address an invite mail links to: `<CAPCOM_PUBLIC_URL>/invite?token=<token>`, which capcom's console
/// serves (its sign-up-by-invite page reads the token, then leaves the address behind). `token` is
/// base64url, so it needs no escaping.
pub fn invite_link(public_url: &str, token: &str) -> String {
    format!("{}/invite?token={token}", public_url.trim_end_matches('/'))
}

pub(crate) async fn insert_and_mail(
    tx: &mut AsyncPgConnection,
    mut new: NewInvite,
    what: &str,
    settings: &InviteSettings,
) -> ApiResult<CreatedInvite> {
    let token = new_token()?;
    new.token_hash = token_hash(&token);
    let invite = Invite::insert(tx, &new).await.map_err(pending_conflict)?;
    // The link opens the console's invite page; tokens are URL-safe.
    let body = format!(
        "You have been invited to {what} on capcom.\n\n\
         Accept the invite: {link}\n\n\
         Or sign up at {url} with this email address and the invite token below, or, if you already have an \
         account, accept it with the acceptInvite mutation.\n\nInvite token: {token}\n\nThe invite expires on {expires}.\n",
        url = settings.public_url.trim_end_matches('/'),
        link = invite_link(&settings.public_url, &token),
        expires = invite.expires_at.to_rfc3339(),
    );
    OutboxMessage::enqueue(tx, &invite.email, &format!("You are invited to {what}"), &body).await?;
    Ok(CreatedInvite { invite })
}

/// Creates a workspace invite (the caller holds the workspace lock).
pub async fn create_workspace_invite(
    tx: &mut AsyncPgConnection,
    workspace: &Workspace,
    email: &str,
    role: &Conferred,
    deployment_roles: &[(Uuid, Conferred)],
    settings: &InviteSettings,
    actor: &Actor,
) -> ApiResult<CreatedInvite> {
    // Stored as `[{"deploymentId", "role", "customRoleId"?}]`: a custom role by its id (the marker in
    // `role`), re-read and re-checked against the inviter when the invite is accepted.
    let roles: Vec<serde_json::Value> = deployment_roles
        .iter()
        .map(|(deployment, role)| {
            let mut entry = json!({"deploymentId": deployment, "role": role.role().as_str()});
            if let Some(id) = role.custom_id() {
                entry["customRoleId"] = json!(id);
            }
            entry
        })
        .collect();
    let mut custom: Vec<CustomRole> = deployment_roles
        .iter()
        .filter_map(|(_, role)| match role {
            Conferred::Custom(custom) => Some(custom.clone()),
            Conferred::Builtin(_) => None,
        })
        .collect();
    if let Conferred::Custom(own) = role {
        custom.push(own.clone());
    }
    let created = insert_and_mail(
        tx,
        NewInvite {
            id: Uuid::now_v7(),
            email: email.to_owned(),
            scope: Scope::Workspace.as_str(),
            organization_id: None,
            workspace_id: Some(workspace.id),
            role: Some(role.role().as_str().to_owned()),
            deployment_roles: serde_json::Value::Array(roles),
            token_hash: Vec::new(),
            expires_at: settings.now + settings.expiry,
            invited_by: actor.user_id,
            invited_by_service_account_id: actor.service_account_id,
            custom_role_id: role.custom_id(),
        },
        &format!("the workspace \"{}\"", workspace.label),
        settings,
    )
    .await?;
    audit::record(
        tx,
        actor,
        Change {
            action: "invite.create",
            target_type: "invite",
            target_id: Some(created.invite.id),
            organization_id: Some(workspace.organization_id),
            workspace_id: Some(workspace.id),
            after: Some(snapshot(&created.invite, Some(role), &custom)),
            ..Change::default()
        },
    )
    .await?;
    Ok(created)
}

/// `inviteUser(email)`: an invitation to sign up at all.
pub async fn invite_to_system(
    conn: &mut AsyncPgConnection,
    email: &str,
    settings: &InviteSettings,
    actor: &Actor,
) -> ApiResult<CreatedInvite> {
    let email = validate::email("email", email)?;
    conn.transaction(async |tx| {
        if User::find_by_email(tx, &email).await?.is_some() {
            return Err(ApiError::conflict("A user with this email address already exists"));
        }
        let created = insert_and_mail(
            tx,
            NewInvite {
                id: Uuid::now_v7(),
                email: email.clone(),
                scope: Scope::System.as_str(),
                organization_id: None,
                workspace_id: None,
                role: None,
                deployment_roles: json!([]),
                token_hash: Vec::new(),
                expires_at: settings.now + settings.expiry,
                invited_by: actor.user_id,
                invited_by_service_account_id: actor.service_account_id,
                custom_role_id: None,
            },
            "capcom",
            settings,
        )
        .await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "invite.create",
                target_type: "invite",
                target_id: Some(created.invite.id),
                after: Some(snapshot(&created.invite, None, &[])),
                ..Change::default()
            },
        )
        .await?;
        Ok(created)
    })
    .await
}

/// Invites matching `filter`.
pub async fn list(conn: &mut AsyncPgConnection, filter: &InviteFilter, limit: usize) -> ApiResult<Vec<Invite>> {
    Ok(Invite::list(conn, filter, i64::try_from(limit).unwrap_or(i64::MAX)).await?)
}

/// The invite, or NOT_FOUND.
pub async fn get(conn: &mut AsyncPgConnection, id: Uuid) -> ApiResult<Invite> {
    Invite::find(conn, id).await?.ok_or(ApiError::NotFound)
}

/// Deletes an invite. With `in_workspace`, the invite must belong to that workspace (else NOT_FOUND).
pub async fn delete(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    in_workspace: Option<Uuid>,
    actor: &Actor,
) -> ApiResult<Invite> {
    conn.transaction(async |tx| {
        let invite = Invite::find(tx, id).await?.ok_or(ApiError::NotFound)?;
        if in_workspace.is_some_and(|workspace| invite.workspace_id != Some(workspace)) {
            return Err(ApiError::NotFound);
        }
        let organization_id = organization_of(tx, &invite).await?;
        // The custom roles it carried (its own and its deployment roles'), for their names in the record:
        // read together, not locked (nothing is granted).
        let mut ids: Vec<Uuid> = invite.custom_role_id.into_iter().collect();
        ids.extend(deployment_requests(&invite).into_iter().filter_map(|r| match r.role {
            RoleRequest::Custom(id) => Some(id),
            RoleRequest::Builtin(_) => None,
        }));
        let custom = if ids.is_empty() { Vec::new() } else { crate::domain::custom_roles::by_ids(tx, &ids).await? };
        let role = invite
            .custom_role_id
            .and_then(|id| custom.iter().find(|role| role.row.id == id).cloned())
            .map(Conferred::Custom);
        Invite::delete(tx, id).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "invite.delete",
                target_type: "invite",
                target_id: Some(id),
                organization_id,
                workspace_id: invite.workspace_id,
                before: Some(snapshot(&invite, role.as_ref(), &custom)),
                ..Change::default()
            },
        )
        .await?;
        Ok(invite)
    })
    .await
}

/// The deployment roles an invite carries.
fn deployment_requests(invite: &Invite) -> Vec<DeploymentRoleRequest> {
    invite
        .deployment_roles
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let role = match entry.get("customRoleId").and_then(|id| id.as_str()) {
                Some(id) => RoleRequest::Custom(id.parse().ok()?),
                None => RoleRequest::Builtin(entry.get("role")?.as_str()?.parse().ok()?),
            };
            Some(DeploymentRoleRequest { deployment_id: entry.get("deploymentId")?.as_str()?.parse().ok()?, role })
        })
        .collect()
}

/// The organization an invite concerns (a workspace invite: the workspace's), if it still exists.
pub async fn organization_of(tx: &mut AsyncPgConnection, invite: &Invite) -> ApiResult<Option<Uuid>> {
    if invite.organization_id.is_some() {
        return Ok(invite.organization_id);
    }
    match invite.workspace_id {
        Some(id) => Ok(Workspace::find(tx, id).await?.map(|w| w.organization_id)),
        None => Ok(None),
    }
}

/// What an invite grants, as read (and locked) for its acceptance.
#[derive(Debug, Clone)]
struct Carried {
    /// Its role: at the organization, or at the workspace.
    role: Conferred,
    /// The deployment roles of a workspace invite on deployments still live in the workspace (those on
    /// deleted deployments grant nothing).
    deployment_roles: Vec<(Uuid, Conferred)>,
    /// Every custom role it names that still exists, for the audit record.
    custom: Vec<CustomRole>,
}

/// The inviter's authority as it is now, after checking that they may still grant every role the invite
/// carries (SPEC §2: an invite applies the grant rule when it is created and when it is accepted), with
/// what it carries. FORBIDDEN when the inviter is gone, disabled, or lost the right; `None` for an invite
/// that grants no role (`inviteUser`: an invitation to sign up only). The deployment roles are decided
/// together ([`memberships::check_grants`]), whatever their number.
async fn check_inviter(
    tx: &mut AsyncPgConnection,
    invite: &Invite,
    matrix: &Arc<Matrix>,
    now: DateTime<Utc>,
) -> ApiResult<Option<(Authority, Carried)>> {
    let Some(carried) = carried(tx, invite).await? else { return Ok(None) };
    let authority =
        memberships::inviter_authority(tx, invite.invited_by, invite.invited_by_service_account_id, matrix, now)
            .await?
            .ok_or(ApiError::Forbidden)?;
    let grantor = Grantor::Inviter(&authority);
    if let Some(id) = invite.organization_id {
        memberships::check_grant(tx, &grantor, carried.role.clone(), ScopeRef::Organization(id)).await?;
    }
    if let Some(id) = invite.workspace_id {
        let mut asks = vec![(carried.role.clone(), ScopeRef::Workspace(id))];
        asks.extend(
            carried.deployment_roles.iter().map(|(deployment, role)| (role.clone(), ScopeRef::Deployment(*deployment))),
        );
        memberships::check_grants(tx, &grantor, &asks).await?;
    }
    Ok(Some((authority, carried)))
}

/// What an invite grants, if any: its role, its custom role read (and locked against deletion) when it names
/// one, and for a workspace invite its deployment roles on live deployments, their custom roles read and
/// locked together. A custom role gone since the invite was made is NOT_FOUND, as for the invite's own
/// (deleting a role an invite holds is refused, so this does not happen while the invite is pending).
async fn carried(tx: &mut AsyncPgConnection, invite: &Invite) -> ApiResult<Option<Carried>> {
    let Some(role) = invite.role.as_deref().and_then(|r| r.parse::<Role>().ok()) else { return Ok(None) };
    let role = match (invite.custom_role_id, invite.workspace_id) {
        // The acceptor named no role: a role gone is the invite's fault, not bad input of theirs.
        (Some(id), Some(workspace_id)) => {
            match RoleRequest::Custom(id).resolve(tx, ScopeRef::Workspace(workspace_id)).await {
                Err(ApiError::BadUserInput { .. }) => return Err(ApiError::NotFound),
                other => other?,
            }
        }
        (Some(_), None) => return Err(ApiError::internal("a custom role on an invite that is not a workspace's")),
        (None, _) => Conferred::Builtin(role),
    };
    let mut custom: Vec<CustomRole> = match &role {
        Conferred::Custom(own) => vec![own.clone()],
        Conferred::Builtin(_) => Vec::new(),
    };
    let requests = deployment_requests(invite);
    let workspace = match invite.workspace_id {
        Some(id) if !requests.is_empty() => Workspace::find(tx, id).await?,
        _ => None,
    };
    let Some(workspace) = workspace else { return Ok(Some(Carried { role, deployment_roles: Vec::new(), custom })) };
    // Deployments deleted since the invite was made are skipped.
    let ids: Vec<Uuid> = requests.iter().map(|r| r.deployment_id).collect();
    let live = crate::db::models::workspace::live_deployments_in(tx, workspace.id, &ids).await?;
    let custom_ids = crate::domain::memberships::custom_role_ids(&requests);
    let mut found =
        crate::domain::custom_roles::for_grants(tx, &custom_ids, workspace.organization_id).await?.into_iter();
    let mut deployment_roles = Vec::new();
    for request in requests {
        let conferred = match request.role {
            RoleRequest::Builtin(role) => Some(Conferred::Builtin(role)),
            RoleRequest::Custom(_) => found.next().flatten().map(|role| {
                custom.push(role.clone());
                Conferred::Custom(role)
            }),
        };
        if !live.contains(&request.deployment_id) {
            continue;
        }
        match conferred {
            Some(conferred) if conferred.role().scope() == Some(Scope::Deployment) => {
                deployment_roles.push((request.deployment_id, conferred));
            }
            _ => return Err(ApiError::NotFound),
        }
    }
    Ok(Some(Carried { role, deployment_roles, custom }))
}

/// Turns an invite into bindings for `user_id` and deletes it (caller's transaction, invite locked),
/// after re-checking its inviter. A workspace invite also makes the user a member of the workspace's
/// organization. The caller records the audit event of the operation that applied it. Returns the role
/// the invite carried and the custom roles it names, as read (and locked) for the grant.
async fn apply(
    tx: &mut AsyncPgConnection,
    invite: &Invite,
    user_id: Uuid,
    matrix: &Arc<Matrix>,
    now: DateTime<Utc>,
) -> ApiResult<(Option<Conferred>, Vec<CustomRole>)> {
    let checked = check_inviter(tx, invite, matrix, now).await?;
    if let Some((authority, carried)) = &checked {
        let grantor = Grantor::Inviter(authority);
        let role = &carried.role;
        if let Some(organization_id) = invite.organization_id {
            let organization = memberships::lock_organization(tx, organization_id).await?;
            if RoleBindingRow::user_in_organization_for_update(tx, organization_id, user_id).await?.is_none() {
                memberships::join_organization(
                    tx,
                    &grantor,
                    &organization,
                    user_id,
                    Join::Founders(Some(role.role())),
                    invite.invited_by,
                )
                .await?;
            }
        }
        if let Some(workspace_id) = invite.workspace_id {
            if let Some(workspace) = Workspace::find(tx, workspace_id).await? {
                memberships::ensure_member(tx, &grantor, workspace.organization_id, user_id, invite.invited_by).await?;
                let workspace = memberships::lock_workspace(tx, workspace_id).await?;
                if RoleBindingRow::user_in_workspace_for_update(tx, workspace_id, user_id).await?.is_none() {
                    memberships::add_to_workspace(
                        tx,
                        &grantor,
                        &workspace,
                        user_id,
                        role.clone(),
                        &carried.deployment_roles,
                        invite.invited_by,
                    )
                    .await?;
                }
            }
        }
    }
    Invite::delete(tx, invite.id).await?;
    Ok(checked.map(|(_, carried)| (Some(carried.role), carried.custom)).unwrap_or_default())
}

/// Checks a sign-up's invite token: it must be pending and sent to `email`.
pub async fn check_token_for_sign_up(
    tx: &mut AsyncPgConnection,
    token: &str,
    email: &str,
    now: DateTime<Utc>,
) -> ApiResult<Invite> {
    let invalid =
        || ApiError::bad_input("inviteToken", "This invite token is not valid (it may have expired or been used)");
    let invite = Invite::find_by_token_for_update(tx, &token_hash(token)).await?.ok_or_else(invalid)?;
    if invite.expires_at <= now {
        return Err(invalid());
    }
    if invite.email != email {
        return Err(ApiError::bad_input("inviteToken", "This invite was sent to another email address"));
    }
    Ok(invite)
}

/// An invite applied at sign-up: the organization it concerns and its audit snapshot.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The organization the invite was to (a workspace invite: the workspace's).
    pub organization_id: Option<Uuid>,
    /// Its snapshot (never the token).
    pub snapshot: serde_json::Value,
}

/// Applies every pending invite for `email` to a newly signed-up user. An invite whose inviter may no
/// longer grant what it carries is left pending and not applied (it grants nothing), except the one the
/// sign-up's token names (`token_invite`): that refusal is the sign-up's (FORBIDDEN). Accepting is atomic
/// (SPEC §4.4): where sign-ups need an invite, a token admits its holder because its invite grants
/// something, so a demoted inviter's token opens no account, not even a bare one in the default
/// organization. (An invite the organization's IP access list keeps pending still grants: it is accepted
/// later from a listed address, docs/ip-access-list.md.)
/// An invite of an organization whose IP access list does not admit `client` is left pending too
/// (docs/ip-access-list.md).
pub async fn apply_pending_for_email(
    tx: &mut AsyncPgConnection,
    user_id: Uuid,
    email: &str,
    matrix: &Arc<Matrix>,
    now: DateTime<Utc>,
    client: Option<&str>,
    token_invite: Option<Uuid>,
) -> ApiResult<Vec<Applied>> {
    let pending = Invite::pending_for_email(tx, email, now).await?;
    let mut applied = Vec::new();
    for invite in &pending {
        match check_inviter(tx, invite, matrix, now).await {
            Ok(_) => {}
            Err(ApiError::Forbidden | ApiError::ForbiddenBy(_)) if token_invite != Some(invite.id) => continue,
            Err(other) => return Err(other),
        }
        let organization_id = organization_of(tx, invite).await?;
        if !ip_access::admits(tx, organization_id, client).await? {
            continue;
        }
        let (role, custom) = apply(tx, invite, user_id, matrix, now).await?;
        applied.push(Applied { organization_id, snapshot: snapshot(invite, role.as_ref(), &custom) });
    }
    Ok(applied)
}

/// `acceptInvite(token)` by a signed-in user whose addresses include the invited one. FORBIDDEN when the
/// inviter may no longer grant what the invite carries.
pub async fn accept(
    conn: &mut AsyncPgConnection,
    token: &str,
    user_id: Uuid,
    matrix: &Arc<Matrix>,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<Invite> {
    let hash = token_hash(token);
    conn.transaction(async |tx| {
        let invalid =
            || ApiError::bad_input("token", "This invite token is not valid (it may have expired or been used)");
        let invite = Invite::find_by_token_for_update(tx, &hash).await?.ok_or_else(invalid)?;
        if invite.expires_at <= now {
            return Err(invalid());
        }
        let addresses = Email::for_users(tx, &[user_id]).await?;
        if !addresses.iter().any(|address| address.address == invite.email) {
            return Err(ApiError::bad_input("token", "This invite was sent to another email address"));
        }
        let organization_id = organization_of(tx, &invite).await?;
        // Joining an organization is acting on it: its IP access list applies (docs/ip-access-list.md).
        if !ip_access::admits(tx, organization_id, actor.client_address.as_deref()).await? {
            return Err(ApiError::ForbiddenBy(crate::error::MSG_IP_ACCESS_LIST.to_owned()));
        }
        let (role, custom) = apply(tx, &invite, user_id, matrix, now).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "invite.accept",
                target_type: "invite",
                target_id: Some(invite.id),
                organization_id,
                workspace_id: invite.workspace_id,
                before: Some(snapshot(&invite, role.as_ref(), &custom)),
                after: Some(json!({"userId": user_id})),
                ..Change::default()
            },
        )
        .await?;
        Ok(invite)
    })
    .await
}

/// The invites of the given workspaces (one statement).
pub async fn of_workspaces(conn: &mut AsyncPgConnection, workspace_ids: &[Uuid]) -> ApiResult<Vec<Invite>> {
    Ok(Invite::for_workspaces(conn, workspace_ids).await?)
}

/// The newest outbox messages.
pub async fn outbox(conn: &mut AsyncPgConnection, limit: usize) -> ApiResult<Vec<OutboxMessage>> {
    Ok(OutboxMessage::newest(conn, i64::try_from(limit).unwrap_or(i64::MAX)).await?)
}

pub use crate::db::models::invite::{InviteFilter as Filter, OutboxMessage as MailMessage};
