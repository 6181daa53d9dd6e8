//! SCIM 2.0 provisioning (RFC 7643/7644) of one organization's people and teams by its identity
//! provider. The HTTP shapes live in `crate::http::scim`; the rules live here (see docs/sso.md):
//!
//! - the provider manages only addresses of domains its organization verified: it can create such users,
//!   or adopt an existing account with such an address; it changes, deactivates or removes only those;
//! - an account holding a system role (directly or through a team) is out of its reach (SPEC §3.1): it is
//!   not listed, reading, changing or deleting it is NOT_FOUND as for a stranger, and creating a user with
//!   its address is CONFLICT; so no provider can lock out, rename or take over an installation's admins;
//! - adopting an account whose address was never verified first removes its password, revokes its tokens
//!   and deactivates the API keys it created (see [`crate::domain::identity::adopt`]);
//! - a provisioned user joins the organization as ORGANIZATION_MEMBER, with a verified address and no
//!   password (they sign in through the organization's identity provider);
//! - deactivating (`active: false`) sets the account `inactive` and revokes its tokens at once, removing
//!   nothing else; reactivating sets it `active` again (old tokens stay revoked);
//! - deleting removes the user's membership of the organization (with their roles below it and their
//!   places in its teams); the account itself stays, as it may belong to other organizations;
//! - SCIM groups are the organization's teams.
//!
//! Each operation is one transaction with one audit event.

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::json;
use uuid::Uuid;

use crate::db::models::organization::Organization;
use crate::db::models::role_binding::RoleBindingRow;
use crate::db::models::scim;
use crate::db::models::team::{Team, TeamChanges};
use crate::db::models::user::{Email, NewEmail, NewUser, User, UserChanges};
use crate::domain::audit::{self, Change};
use crate::domain::identity::{self, OutOfReach};
use crate::domain::memberships::{self, Grantor};
use crate::domain::{Actor, Authority, managed_domains, organizations, users, validate};
use crate::error::{ApiError, ApiResult};

/// A user as the provider describes it.
#[derive(Debug, Clone, Default)]
pub struct UserInput {
    /// `userName`: capcom's username.
    pub user_name: String,
    /// The primary address (`emails[primary]`, else the `userName` when it is an address).
    pub email: Option<String>,
    /// `name.formatted` or `displayName`.
    pub full_name: Option<String>,
    /// The provider's id.
    pub external_id: Option<String>,
    /// Whether the account may sign in.
    pub active: bool,
}

/// A user as SCIM shows it.
#[derive(Debug, Clone)]
pub struct ScimUser {
    /// The account.
    pub user: User,
    /// Its primary address.
    pub email: Option<String>,
    /// The provider's id.
    pub external_id: Option<String>,
    /// `(id, name)` of the organization's teams it is in.
    pub groups: Vec<(Uuid, String)>,
}

/// A team as SCIM shows it.
#[derive(Debug, Clone)]
pub struct ScimGroup {
    /// The team.
    pub team: Team,
    /// The provider's id.
    pub external_id: Option<String>,
    /// `(id, username)` of its members.
    pub members: Vec<(Uuid, String)>,
}

fn snapshot(user: &User, email: Option<&str>, external_id: Option<&str>) -> serde_json::Value {
    json!({
        "id": user.id,
        "userName": user.username,
        "fullName": user.full_name,
        "active": user.status == "active",
        "email": email,
        "externalId": external_id,
    })
}

fn external(field: &str, value: Option<&str>) -> ApiResult<Option<String>> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(text) if text.chars().count() <= 255 => Ok(Some(text.to_owned())),
        Some(_) => Err(ApiError::bad_input(field, format!("{field} is at most 255 characters"))),
    }
}

struct Checked {
    username: String,
    email: String,
    full_name: Option<String>,
    external_id: Option<String>,
}

fn check_user(input: &UserInput) -> ApiResult<Checked> {
    let username = validate::username("userName", &input.user_name)?;
    let email = match input.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        Some(address) => validate::email("emails", address)?,
        None if username.contains('@') => validate::email("userName", &username)?,
        None => return Err(ApiError::bad_input("emails", "A user needs an email address (emails or userName)")),
    };
    if username.contains('@') && !username.eq_ignore_ascii_case(&email) {
        return Err(ApiError::bad_input("userName", "A userName with '@' must be the user's primary email address"));
    }
    let full_name = match input.full_name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => Some(validate::label("name", name, validate::MAX_LABEL)?),
        None => None,
    };
    Ok(Checked { username, email, full_name, external_id: external("externalId", input.external_id.as_deref())? })
}

async fn require_managed_address(tx: &mut AsyncPgConnection, organization_id: Uuid, address: &str) -> ApiResult<()> {
    if managed_domains::verified_owner(tx, address).await? == Some(organization_id) {
        Ok(())
    } else {
        Err(ApiError::ForbiddenBy(
            "The address is not in a domain this organization has verified; verify the domain first".to_owned(),
        ))
    }
}

fn unique(error: diesel::result::Error) -> ApiError {
    use diesel::result::{DatabaseErrorKind, Error};
    if let Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) = &error {
        match info.constraint_name() {
            Some("emails_address_key") => return ApiError::conflict("A user with this email address already exists"),
            Some("users_username_key") => return ApiError::conflict("This userName is already taken"),
            Some("teams_organization_name_key") => {
                return ApiError::conflict("The organization already has a team with this name");
            }
            _ => {}
        }
    }
    ApiError::from(error)
}

async fn primary_email(tx: &mut AsyncPgConnection, user_id: Uuid) -> ApiResult<Option<String>> {
    let emails = Email::for_users(tx, &[user_id]).await?;
    Ok(emails.iter().find(|e| e.is_primary).or(emails.first()).map(|e| e.address.clone()))
}

async fn is_member(tx: &mut AsyncPgConnection, organization_id: Uuid, user_id: Uuid) -> ApiResult<bool> {
    Ok(RoleBindingRow::user_in_organization_for_update(tx, organization_id, user_id).await?.is_some())
}

/// Users of the organization as SCIM shows them, in the given order (three statements for any number).
pub async fn describe_users(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    users: Vec<User>,
) -> ApiResult<Vec<ScimUser>> {
    let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
    let emails = Email::for_users(conn, &ids).await?;
    let mut externals = scim::user_external_ids(conn, organization_id, &ids).await?;
    let teams = scim::teams_of_users(conn, organization_id, &ids).await?;
    Ok(users
        .into_iter()
        .map(|user| {
            let own: Vec<&Email> = emails.iter().filter(|e| e.user_id == user.id).collect();
            let email = own.iter().find(|e| e.is_primary).or(own.first()).map(|e| e.address.clone());
            let groups = teams.iter().filter(|(u, _)| *u == user.id).map(|(_, t)| (t.id, t.name.clone())).collect();
            ScimUser { external_id: externals.remove(&user.id), email, groups, user }
        })
        .collect())
}

/// A page of the organization's members matching `filter` (`offset` from 0), and the total.
pub async fn list_users(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    filter: &scim::UserMatch,
    offset: i64,
    limit: i64,
) -> ApiResult<(Vec<ScimUser>, i64)> {
    let (rows, total) = scim::members_page(conn, organization_id, filter, offset, limit).await?;
    Ok((describe_users(conn, organization_id, rows).await?, total))
}

/// One member of the organization, or NOT_FOUND (also for an account holding a system role: it is out of
/// the provider's reach).
pub async fn get_user(conn: &mut AsyncPgConnection, organization_id: Uuid, user_id: Uuid) -> ApiResult<ScimUser> {
    let user = User::find(conn, user_id).await?.ok_or(ApiError::NotFound)?;
    if RoleBindingRow::user_in_organization_for_update(conn, organization_id, user_id).await?.is_none()
        || identity::holds_system_role(conn, user_id).await?
    {
        return Err(ApiError::NotFound);
    }
    describe_users(conn, organization_id, vec![user]).await?.pop().ok_or(ApiError::NotFound)
}

/// Checks that member `user_id` of the organization is the provider's to change, before any lock but the
/// installation's: NOT_FOUND when it is not a member or holds a system role (out of reach, SPEC §3.1),
/// FORBIDDEN (with the reason) when none of its addresses is of a domain the organization verified.
///
/// Lock order (crate::domain::memberships): [`identity::require_within_reach`] takes the installation
/// row (shared) first, so no system role can be granted until the transaction ends; the caller then
/// locks the scopes it reasons about, and the user's row last.
async fn require_member_within_reach(
    tx: &mut AsyncPgConnection,
    organization_id: Uuid,
    user_id: Uuid,
) -> ApiResult<()> {
    identity::hold_reach(tx).await?;
    if RoleBindingRow::user_in_organization(tx, organization_id, user_id).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    match identity::require_within_reach(tx, organization_id, user_id).await? {
        Ok(()) => Ok(()),
        Err(OutOfReach::SystemRole) => Err(ApiError::NotFound),
        Err(OutOfReach::OtherDomain) => Err(ApiError::ForbiddenBy(
            "The user's address is not in a domain this organization has verified".to_owned(),
        )),
    }
}

/// Provisions a user: creates the account, or adopts the existing account of that address, and makes it a
/// member of the organization. An address the provider already manages here is CONFLICT, and so is the
/// address of an account holding a system role (out of any organization's reach, SPEC §3.1). Adopting an
/// account whose address was never verified first takes every other way in away from it.
pub async fn create_user(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    input: UserInput,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<ScimUser> {
    let checked = check_user(&input)?;
    let user_id: ApiResult<Uuid> = conn
        .transaction(async |tx| {
            // Lock order (crate::domain::memberships): the installation (shared), the organization, then
            // the account's row.
            identity::hold_reach(tx).await?;
            Organization::find_for_update(tx, organization_id).await?.ok_or(ApiError::NotFound)?;
            require_managed_address(tx, organization_id, &checked.email).await?;
            let (user, adopted) = match User::find_by_email(tx, &checked.email).await? {
                Some(existing) => {
                    let existing = User::find_for_update(tx, existing.id).await?.ok_or(ApiError::NotFound)?;
                    if identity::require_within_reach(tx, organization_id, existing.id).await?
                        == Err(OutOfReach::SystemRole)
                    {
                        return Err(ApiError::conflict(
                            "An account with this address exists and holds a system role: no organization can provision it",
                        ));
                    }
                    if scim::is_linked(tx, organization_id, existing.id).await? {
                        return Err(ApiError::conflict("The organization already provisions a user with this address"));
                    }
                    (existing, true)
                }
                None => {
                    if User::username_taken(tx, &checked.username).await? {
                        return Err(ApiError::conflict("This userName is already taken"));
                    }
                    let user = User::insert(
                        tx,
                        &NewUser {
                            id: Uuid::now_v7(),
                            username: &checked.username,
                            full_name: checked.full_name.as_deref(),
                            status: if input.active { "active" } else { "inactive" },
                            profile: json!({}),
                        },
                    )
                    .await
                    .map_err(unique)?;
                    Email::insert(
                        tx,
                        &NewEmail {
                            id: Uuid::now_v7(),
                            user_id: user.id,
                            address: &checked.email,
                            verified: true,
                            is_primary: true,
                        },
                    )
                    .await
                    .map_err(unique)?;
                    (user, false)
                }
            };
            // The provider vouches for addresses of its organization's verified domain; an address nobody
            // had verified is taken over first (whoever registered it loses every other way in).
            let taken_over =
                if adopted { identity::adopt(tx, organization_id, &user, &checked.email, now).await? } else { serde_json::Value::Null };
            if !is_member(tx, organization_id, user.id).await? {
                memberships::provision_member(tx, organization_id, user.id).await?;
            }
            scim::link_user(tx, organization_id, user.id, checked.external_id.as_deref()).await?;
            let mut after = snapshot(&user, Some(&checked.email), checked.external_id.as_deref());
            after["adopted"] = json!(adopted);
            after["takenOver"] = taken_over;
            audit::record(
                tx,
                actor,
                Change {
                    action: "scim.user.create",
                    target_type: "user",
                    target_id: Some(user.id),
                    organization_id: Some(organization_id),
                    after: Some(after),
                    ..Change::default()
                },
            )
            .await?;
            Ok(user.id)
        })
        .await;
    let user_id = user_id?;
    get_user(conn, organization_id, user_id).await
}

/// Replaces what the provider manages of a user: `userName`, name, `externalId`, `active`. The address
/// must be in a domain the organization verified (else FORBIDDEN with the reason). Deactivation revokes
/// every token of the user at once.
pub async fn replace_user(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    user_id: Uuid,
    input: UserInput,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<ScimUser> {
    let done: ApiResult<()> = conn
        .transaction(async |tx| {
            require_member_within_reach(tx, organization_id, user_id).await?;
            // An inactive account counts as no admin (SPEC §2): every scope it keeps keeps another. The
            // scopes are locked before the user's row (the lock order), so the status is read first
            // without a lock and checked again once the row is held.
            let deactivating = !input.active;
            let mut scopes_checked = false;
            if deactivating && User::find(tx, user_id).await?.is_some_and(|u| u.status == "active") {
                memberships::check_account_loss(tx, user_id).await?;
                scopes_checked = true;
            }
            let before = User::find_for_update(tx, user_id).await?.ok_or(ApiError::NotFound)?;
            if !is_member(tx, organization_id, user_id).await? {
                return Err(ApiError::NotFound);
            }
            let email = primary_email(tx, user_id).await?.ok_or(ApiError::NotFound)?;
            let mut input = input;
            // The address itself is not changed through SCIM (it decides who manages the account).
            input.email = Some(email.clone());
            let checked = check_user(&input)?;
            require_managed_address(tx, organization_id, &email).await?;
            let before_external = scim::user_external_ids(tx, organization_id, &[user_id]).await?.remove(&user_id);
            if !checked.username.eq_ignore_ascii_case(&before.username)
                && User::username_taken(tx, &checked.username).await?
            {
                return Err(ApiError::conflict("This userName is already taken"));
            }
            let was_active = before.status == "active";
            let revoke = was_active && !input.active;
            if revoke && !scopes_checked {
                // Reactivated between the two reads: rare, and checked now rather than let through.
                memberships::check_account_loss(tx, user_id).await?;
            }
            User::update(
                tx,
                user_id,
                &UserChanges {
                    username: Some(checked.username.clone()),
                    full_name: Some(checked.full_name.clone()),
                    profile: None,
                    tokens_valid_after: revoke.then(|| users::next_revocation(now, before.tokens_valid_after)),
                    updated_at: Some(now),
                },
            )
            .await
            .map_err(unique)?;
            let after = if was_active != input.active {
                scim::set_user_status(tx, user_id, if input.active { "active" } else { "inactive" }, now).await?
            } else {
                User::find(tx, user_id).await?.ok_or(ApiError::NotFound)?
            };
            scim::link_user(tx, organization_id, user_id, checked.external_id.as_deref()).await?;
            let mut after_snapshot = snapshot(&after, Some(&email), checked.external_id.as_deref());
            after_snapshot["tokensRevoked"] = json!(revoke);
            audit::record(
                tx,
                actor,
                Change {
                    action: if revoke { "scim.user.deactivate" } else { "scim.user.update" },
                    target_type: "user",
                    target_id: Some(user_id),
                    organization_id: Some(organization_id),
                    before: Some(snapshot(&before, Some(&email), before_external.as_deref())),
                    after: Some(after_snapshot),
                    ..Change::default()
                },
            )
            .await?;
            Ok(())
        })
        .await;
    done?;
    get_user(conn, organization_id, user_id).await
}

/// Removes the user from the organization (their roles in it and its teams go too) and forgets the
/// provider's link; the account stays. The organization's last owner cannot be removed (CONFLICT); an
/// account holding a system role is NOT_FOUND and one of another domain FORBIDDEN, as for changes.
pub async fn delete_user(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    user_id: Uuid,
    authority: &Authority,
    actor: &Actor,
) -> ApiResult<()> {
    conn.transaction(async |tx| {
        require_member_within_reach(tx, organization_id, user_id).await?;
        // Runs inside this transaction (as a savepoint) and writes the one audit event; the removal is
        // the provisioning client's, under the rules of provisioning (crate::domain::memberships).
        organizations::remove_user_by(tx, organization_id, user_id, &Grantor::Provisioning(authority), actor).await?;
        scim::unlink_user(tx, organization_id, user_id).await?;
        Ok(())
    })
    .await
}

/// Teams of the organization as SCIM shows them (two statements for any number).
pub async fn describe_groups(conn: &mut AsyncPgConnection, teams: Vec<Team>) -> ApiResult<Vec<ScimGroup>> {
    let ids: Vec<Uuid> = teams.iter().map(|t| t.id).collect();
    let mut externals = scim::group_external_ids(conn, &ids).await?;
    let members = Team::members_of(conn, &ids).await?;
    Ok(teams
        .into_iter()
        .map(|team| {
            let own = members.iter().filter(|(t, _)| *t == team.id).map(|(_, u)| (u.id, u.username.clone())).collect();
            ScimGroup { external_id: externals.remove(&team.id), members: own, team }
        })
        .collect())
}

/// A page of the organization's teams matching `filter`, and the total.
pub async fn list_groups(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    filter: &scim::GroupMatch,
    offset: i64,
    limit: i64,
) -> ApiResult<(Vec<ScimGroup>, i64)> {
    let (rows, total) = scim::teams_page(conn, organization_id, filter, offset, limit).await?;
    Ok((describe_groups(conn, rows).await?, total))
}

/// One team of the organization, or NOT_FOUND.
pub async fn get_group(conn: &mut AsyncPgConnection, organization_id: Uuid, team_id: Uuid) -> ApiResult<ScimGroup> {
    let team =
        Team::find(conn, team_id).await?.filter(|t| t.organization_id == organization_id).ok_or(ApiError::NotFound)?;
    describe_groups(conn, vec![team]).await?.pop().ok_or(ApiError::NotFound)
}

/// A change to a team.
#[derive(Debug, Clone, Default)]
pub struct GroupChange {
    /// New name.
    pub name: Option<String>,
    /// New provider id (`Some(None)` clears it).
    pub external_id: Option<Option<String>>,
    /// The whole member list (replaces the members).
    pub members: Option<Vec<Uuid>>,
    /// Members to add.
    pub add: Vec<Uuid>,
    /// Members to remove.
    pub remove: Vec<Uuid>,
}

async fn require_members(tx: &mut AsyncPgConnection, organization_id: Uuid, ids: &[Uuid]) -> ApiResult<()> {
    for id in ids {
        if !is_member(tx, organization_id, *id).await? {
            return Err(ApiError::bad_input("members", format!("{id} is not a member of the organization")));
        }
    }
    Ok(())
}

/// Creates a team from a SCIM group (a new team holds no role, so its members are granted nothing yet).
#[allow(clippy::too_many_arguments)] // the organization, the group, and who does it how
pub async fn create_group(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    name: &str,
    external_id: Option<&str>,
    members: &[Uuid],
    authority: &Authority,
    actor: &Actor,
) -> ApiResult<ScimGroup> {
    let name = validate::label("displayName", name, validate::MAX_LABEL)?;
    let external_id = external("externalId", external_id)?;
    let team_id: ApiResult<Uuid> = conn
        .transaction(async |tx| {
            identity::hold_reach(tx).await?;
            Organization::find_for_update(tx, organization_id).await?.ok_or(ApiError::NotFound)?;
            require_members(tx, organization_id, members).await?;
            let team = Team::insert(tx, organization_id, &name, "").await.map_err(unique)?;
            for member in members {
                memberships::add_team_member(tx, &Grantor::Provisioning(authority), &team, *member).await?;
            }
            scim::link_group(tx, team.id, external_id.as_deref()).await?;
            audit::record(
                tx,
                actor,
                Change {
                    action: "scim.group.create",
                    target_type: "team",
                    target_id: Some(team.id),
                    organization_id: Some(organization_id),
                    after: Some(
                        json!({"id": team.id, "name": team.name, "externalId": external_id, "members": members}),
                    ),
                    ..Change::default()
                },
            )
            .await?;
            Ok(team.id)
        })
        .await;
    let team_id = team_id?;
    get_group(conn, organization_id, team_id).await
}

/// Changes a team: its name, its provider id, its members. Adding or removing members goes through the
/// grant rule (the provisioning key must be able to grant every role the team holds), never touches a
/// team holding a system role, and acts only on accounts within the organization's reach (SPEC §3.1:
/// no system-role account, an address of a verified domain); naming another in `add`/`remove` is
/// FORBIDDEN with the reason, and a replaced member list leaves such accounts where they are.
#[allow(clippy::too_many_arguments)] // the organization, the group, the change, and who does it how
pub async fn update_group(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    team_id: Uuid,
    change: GroupChange,
    now: DateTime<Utc>,
    authority: &Authority,
    actor: &Actor,
) -> ApiResult<ScimGroup> {
    let name = change.name.as_deref().map(|n| validate::label("displayName", n, validate::MAX_LABEL)).transpose()?;
    let external_id = match &change.external_id {
        Some(value) => Some(external("externalId", value.as_deref())?),
        None => None,
    };
    let done: ApiResult<()> = conn.transaction(async |tx| {
        // Lock order (crate::domain::memberships): the installation (shared: no system role is granted
        // to a member meanwhile), the organization, then the team.
        identity::hold_reach(tx).await?;
        memberships::lock_organization(tx, organization_id).await?;
        let before = Team::find_for_update(tx, team_id)
            .await?
            .filter(|t| t.organization_id == organization_id)
            .ok_or(ApiError::NotFound)?;
        let grantor = Grantor::Provisioning(authority);
        let mut added = Vec::new();
        let mut removed = Vec::new();
        if let Some(members) = &change.members {
            require_members(tx, organization_id, members).await?;
            let current: Vec<Uuid> = Team::members_of(tx, &[team_id]).await?.into_iter().map(|(_, u)| u.id).collect();
            for id in current.iter().filter(|id| !members.contains(id)) {
                // A member the provider may not act on (a system-role account, one of another domain)
                // was put there by someone else: a replaced list leaves them where they are.
                if !memberships::within_reach(tx, &grantor, organization_id, *id).await? {
                    continue;
                }
                memberships::remove_team_member(tx, &grantor, &before, *id).await?;
                removed.push(*id);
            }
            for id in members.iter().filter(|id| !current.contains(id)) {
                memberships::add_team_member(tx, &grantor, &before, *id).await?;
                added.push(*id);
            }
        }
        require_members(tx, organization_id, &change.add).await?;
        for id in &change.add {
            if memberships::add_team_member(tx, &grantor, &before, *id).await? {
                added.push(*id);
            }
        }
        for id in &change.remove {
            if memberships::remove_team_member(tx, &grantor, &before, *id).await? {
                removed.push(*id);
            }
        }
        if name.is_some() {
            Team::update(tx, team_id, &TeamChanges { name: name.clone(), description: None, updated_at: Some(now) })
                .await
                .map_err(unique)?;
        }
        if let Some(external_id) = &external_id {
            scim::link_group(tx, team_id, external_id.as_deref()).await?;
        }
        audit::record(
            tx,
            actor,
            Change {
                action: "scim.group.update",
                target_type: "team",
                target_id: Some(team_id),
                organization_id: Some(organization_id),
                before: Some(json!({"name": before.name})),
                after: Some(json!({"name": name.as_deref().unwrap_or(&before.name), "membersAdded": added, "membersRemoved": removed})),
                ..Change::default()
            },
        )
        .await?;
        Ok(())
    })
    .await;
    done?;
    get_group(conn, organization_id, team_id).await
}

/// Deletes a team (its roles and memberships go with it); a team holding a system role is not the
/// provider's to delete (FORBIDDEN with the reason).
pub async fn delete_group(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    team_id: Uuid,
    authority: &Authority,
    actor: &Actor,
) -> ApiResult<()> {
    conn.transaction(async |tx| {
        let team = Team::find_for_update(tx, team_id)
            .await?
            .filter(|t| t.organization_id == organization_id)
            .ok_or(ApiError::NotFound)?;
        memberships::check_team_deletion(tx, &Grantor::Provisioning(authority), &team).await?;
        Team::delete(tx, team_id).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "scim.group.delete",
                target_type: "team",
                target_id: Some(team_id),
                organization_id: Some(organization_id),
                before: Some(json!({"id": team.id, "name": team.name})),
                ..Change::default()
            },
        )
        .await?;
        Ok(())
    })
    .await
}
