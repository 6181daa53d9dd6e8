//! Custom roles (docs/custom-roles.md; issue 26 §4): an organization's own workspace and deployment roles,
//! each a set of permission strings of its scope.
//!
//! - A role's permissions are all of its scope (`workspace.*` for a workspace role, `deployment.*` for a
//!   deployment role); anything else is BAD_USER_INPUT naming `permissions`.
//! - The grant rule applies to defining a role as to granting one: whoever creates, changes or deletes a
//!   role must hold every permission it holds (before and after) on every workspace (or deployment) of the
//!   organization, that is through their organization-level roles (owners do, by implication; defining
//!   roles is the owners' `organization.customRoles.update`); whoever grants one must hold every permission of it on the object
//!   ([`crate::domain::memberships`]).
//! - A role is held only inside its organization and at its scope; it implies nothing below its object
//!   (a custom workspace role gives no deployment role).
//! - Deleting a role that a binding or a pending invite holds is CONFLICT. The role row is locked
//!   `FOR UPDATE` by changes and deletion and `FOR SHARE` by every grant, so a deletion never races a grant.

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::json;
use uuid::Uuid;

use crate::db::models::custom_role::{CustomRoleChanges, CustomRoleRow, NewCustomRole};
use crate::domain::audit::{self, Change};
use crate::domain::memberships::lock_organization;
use crate::domain::{Actor, Authority, validate};
use crate::error::{ApiError, ApiResult};
use crate::rbac::operations;
use crate::rbac::permissions::PermissionSet;
use crate::rbac::{Ancestry, Matrix, Permission, Role, Scope, ScopeRef};

/// The argument naming a role's permissions.
pub const PERMISSIONS_FIELD: &str = "permissions";
/// The argument naming a custom role where one is granted.
pub const CUSTOM_ROLE_FIELD: &str = "customRoleUuid";

/// Most permissions one role names (more than every permission of a scope is a mistake).
const MAX_PERMISSIONS: usize = 128;

/// A custom role as read: the row and its permissions as a set.
#[derive(Debug, Clone)]
pub struct CustomRole {
    /// The stored row.
    pub row: CustomRoleRow,
    /// Its permissions (those of its strings that are permissions of the matrix).
    pub permissions: PermissionSet,
}

impl CustomRole {
    fn from_row(row: CustomRoleRow) -> CustomRole {
        let permissions = PermissionSet::from_strings(row.permissions.iter().map(String::as_str));
        CustomRole { row, permissions }
    }

    /// The role's scope.
    pub fn scope(&self) -> Scope {
        if self.row.scope == Scope::Deployment.as_str() { Scope::Deployment } else { Scope::Workspace }
    }

    /// The marker role a binding holding it stores (`WORKSPACE_CUSTOM`, `DEPLOYMENT_CUSTOM`).
    pub fn marker(&self) -> Role {
        match self.scope() {
            Scope::Deployment => Role::DeploymentCustom,
            _ => Role::WorkspaceCustom,
        }
    }

    /// The organization it belongs to, as an ancestry.
    pub fn ancestry(&self) -> Ancestry {
        Ancestry::organization(self.row.organization_id)
    }

    fn snapshot(&self) -> serde_json::Value {
        json!({
            "name": self.row.name,
            "scope": self.row.scope,
            "description": self.row.description,
            "permissions": self.row.permissions,
        })
    }
}

/// The scopes a custom role can have.
pub fn check_scope(scope: Scope) -> ApiResult<()> {
    match scope {
        Scope::Workspace | Scope::Deployment => Ok(()),
        _ => Err(ApiError::bad_input("scope", "A custom role is a WORKSPACE or a DEPLOYMENT role")),
    }
}

/// A custom role's name in Unicode's compatibility form (NFKC: fullwidth letters, ligatures and the
/// many spaces become the plain ones), trimmed. BAD_USER_INPUT naming `name` when it is empty, longer than
/// 255 characters, or could pass for another name in a console or an audit record (Unicode TR #39's
/// concerns):
/// - it holds a character that shows nothing: a format or control character, an unassigned or private
///   one, a space other than U+0020, or one of [`is_invisible`]'s;
/// - it holds phonetic letters ([`is_phonetic`]), or Latin letters that are not a plain letter with
///   accents (`Ʀ`, `ǀ`, `Ɩ`: they read as `R`, `I`, `l`);
/// - it mixes letters of two scripts, Han, kana and Hangul aside (Latin with Greek, Cyrillic, Arabic's
///   tatweel or Runic: `deployment_аdmin` with a Cyrillic `а`);
/// - its ASCII letters and digits, accents taken off, are a built-in role's whatever the case and the
///   marks, spaces or other characters between them (`Deployment admin`, `SYSTEM ADMİN`,
///   `Workspaceーadmin`);
/// - it is written as built-in names are, in ASCII capitals joined by `_`, `-`, `.` or any other
///   character without a space or a lower-case letter (`OPS_ADMIN`, `DEPLOYMENT一EDITOR`).
///
/// Two names that are one in NFKC are one name (the uniqueness rule compares what is stored).
fn role_name(text: &str) -> ApiResult<String> {
    use unicode_normalization::UnicodeNormalization;
    use unicode_properties::{GeneralCategory as G, UnicodeGeneralCategory};
    let folded: String = text.nfkc().collect();
    let name = validate::label("name", &folded, 255)?;
    // Runs of spaces show as one in a console: they make no other name.
    let name = name.split(' ').filter(|word| !word.is_empty()).collect::<Vec<_>>().join(" ");
    // (Tabs and line breaks are control characters; the other spaces, separators.)
    let hidden = |c: char| {
        is_invisible(c)
            || matches!(
                c.general_category(),
                G::Format
                    | G::Control
                    | G::Unassigned
                    | G::PrivateUse
                    | G::Surrogate
                    | G::LineSeparator
                    | G::ParagraphSeparator
                    | G::SpaceSeparator
            ) && c != ' '
    };
    if name.chars().any(hidden) {
        return Err(ApiError::bad_input(
            "name",
            "name must not contain invisible characters (format or control characters, zero-width, direction \
             or tag characters, fillers) nor spaces other than the plain one",
        ));
    }
    let odd_latin = |c: char| {
        script_of(c) == Some(Script::Latin)
            && !c.is_ascii()
            && !c.nfkd().next().is_some_and(|base| base.is_ascii_alphabetic())
            && !"ßẞæÆøØđĐłŁþÞðÐœŒħĦŋŊŧŦıƏ".contains(c)
    };
    if name.chars().any(|c| is_phonetic(c) || odd_latin(c)) {
        return Err(ApiError::bad_input(
            "name",
            "name must not use phonetic letters (IPA, small capitals, modifier letters) nor Latin letters \
             other than plain and accented ones (such as Ʀ or ǀ): they pass for other letters",
        ));
    }
    let mut scripts = name.chars().filter_map(script_of).filter(|s| *s != Script::Cjk);
    if let Some(first) = scripts.next()
        && scripts.any(|script| script != first)
    {
        return Err(ApiError::bad_input(
            "name",
            "name mixes letters of different scripts (such as Latin with Greek, Cyrillic or Arabic); write it \
             in one of them (Han, kana and Hangul go with any)",
        ));
    }
    let skeleton: String = name.nfkd().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect();
    if let Some(role) = Role::ALL.into_iter().find(|role| role.as_str().replace('_', "") == skeleton) {
        return Err(ApiError::bad_input(
            "name",
            format!("{name:?} reads as {role}, a built-in role's name; choose another"),
        ));
    }
    // What joins the capitals: a mark, or a letter of another script standing in for one (`ー`, `一`).
    let joins = |c: char| !c.is_alphanumeric() || (c.is_alphabetic() && script_of(c) != Some(Script::Latin));
    let built_in_style = name.chars().any(|c| c.is_ascii_uppercase())
        && !name.chars().any(|c| c.is_lowercase() || c == ' ')
        && name.chars().any(joins);
    if built_in_style {
        return Err(ApiError::bad_input(
            "name",
            "Capitals joined by _ (or another mark) without a space are how built-in roles are named; \
             write a custom role's name otherwise (for example \"Deployment operator\")",
        ));
    }
    Ok(name)
}

/// The script of a letter as the name rule tells them apart (`None` for what is not a letter): the
/// scripts whose letters share shapes with Latin's or with one another's (Unicode TR #39 §5), Han, kana
/// and Hangul together (they go with any script), and every other script as one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    Latin,
    Greek,
    Cyrillic,
    Armenian,
    Cherokee,
    Lisu,
    Coptic,
    Cjk,
    Other,
}

/// [`Script`] of `c`.
fn script_of(c: char) -> Option<Script> {
    // The ʻokina and the modifier apostrophe go with Latin letters (Hawaiian, Uzbek) and read as marks.
    if !c.is_alphabetic() || matches!(c, '\u{02BB}' | '\u{02BC}') {
        return None;
    }
    Some(match u32::from(c) {
        0x0041..=0x005A
        | 0x0061..=0x007A
        | 0x00AA
        | 0x00BA
        | 0x00C0..=0x024F
        | 0x1E00..=0x1EFF
        | 0x2C60..=0x2C7F
        | 0xA720..=0xA7FF
        | 0xAB30..=0xAB6F => Script::Latin,
        0x0370..=0x03FF | 0x1F00..=0x1FFF => Script::Greek,
        0x0400..=0x052F | 0x1C80..=0x1C8F | 0x2DE0..=0x2DFF | 0xA640..=0xA69F => Script::Cyrillic,
        0x0530..=0x058F => Script::Armenian,
        0x13A0..=0x13FF | 0xAB70..=0xABBF => Script::Cherokee,
        0xA4D0..=0xA4FF => Script::Lisu,
        0x2C80..=0x2CFF => Script::Coptic,
        0x1100..=0x11FF
        | 0x3005..=0x3007
        | 0x3040..=0x30FF
        | 0x3130..=0x318F
        | 0x31F0..=0x31FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xAC00..=0xD7AF
        | 0xF900..=0xFAFF
        | 0x20000..=0x3FFFF => Script::Cjk,
        _ => Script::Other,
    })
}

/// Phonetic letters, which NFKC keeps and which read as plain Latin letters (`ᴅᴇᴘʟᴏʏᴍᴇɴᴛ`, `ɑdmin`): the
/// IPA and modifier letters, the phonetic extensions (small capitals), Latin Extended-E, -F and -G. Not
/// the letters of living languages among them: `ə` (Azerbaijani), the ʻokina and the modifier apostrophe
/// (Hawaiian, Uzbek).
fn is_phonetic(c: char) -> bool {
    !matches!(c, 'ə' | '\u{02BB}' | '\u{02BC}')
        && matches!(u32::from(c), 0x0250..=0x02FF | 0x1D00..=0x1DBF | 0xAB30..=0xAB6F | 0x10780..=0x107BF | 0x1DF00..=0x1DFFF)
}

/// Characters that show nothing (or reorder what is shown) yet make two names differ: zero-width spaces
/// and joiners, direction marks and overrides, invisible operators, the byte-order mark, the soft hyphen,
/// the combining grapheme joiner, Hangul and Mongolian fillers, the braille blank, variation selectors,
/// tag characters, the interlinear annotation and object replacement specials, and the shorthand and
/// musical format controls (Unicode's Default_Ignorable_Code_Point and its kin).
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{2800}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFFB}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// The permissions of a role of `scope` named by `texts`, without repeats, in the matrix's order.
/// BAD_USER_INPUT naming `permissions` for an unknown string, one of another scope, or an empty list.
pub fn parse_permissions(scope: Scope, texts: &[String]) -> ApiResult<PermissionSet> {
    if texts.is_empty() {
        return Err(ApiError::bad_input(PERMISSIONS_FIELD, "A custom role holds at least one permission"));
    }
    if texts.len() > MAX_PERMISSIONS {
        return Err(ApiError::bad_input(
            PERMISSIONS_FIELD,
            format!("A custom role names at most {MAX_PERMISSIONS} permissions"),
        ));
    }
    let mut set = PermissionSet::default();
    for (index, text) in texts.iter().enumerate() {
        let permission: Permission = text.trim().parse().map_err(|_| {
            let shown: String = text.chars().take(64).collect();
            ApiError::bad_input(
                PERMISSIONS_FIELD,
                format!("permissions[{index}] ({shown:?}) is not a permission (see the roleTemplates query)"),
            )
        })?;
        if permission.scope() != scope {
            return Err(ApiError::bad_input(
                PERMISSIONS_FIELD,
                format!(
                    "permissions[{index}] ({permission}) is a {} permission: a {} role holds {} permissions only",
                    permission.scope().as_str().to_lowercase(),
                    scope.as_str().to_lowercase(),
                    scope.as_str().to_lowercase()
                ),
            ));
        }
        set.insert(permission);
    }
    // A role that may change something must be able to read what the change answers with, else the
    // change would be committed and then answered FORBIDDEN (derived from the operation table:
    // operations::reads_needed).
    for permission in set.iter() {
        if let Some(missing) = operations::reads_needed(permission).iter().find(|needed| !set.contains(*needed)) {
            return Err(ApiError::bad_input(
                PERMISSIONS_FIELD,
                format!(
                    "{permission} needs {missing} in the same role: what it changes is answered with what \
                     {missing} reads (start from a template: roleTemplates)"
                ),
            ));
        }
    }
    Ok(set)
}

/// Every workspace (or deployment) of organization `organization_id` at once: an object of `scope` in the
/// organization that no binding names, so only the organization-level roles' implications (and system
/// permissions) give anything on it. Defining a role is checked there.
fn anywhere_in(organization_id: Uuid, scope: Scope) -> Ancestry {
    match scope {
        Scope::Deployment => Ancestry::deployment(Some(organization_id), Some(Uuid::nil()), Uuid::nil()),
        _ => Ancestry::workspace(Some(organization_id), Uuid::nil()),
    }
}

/// What a new role is made of.
#[derive(Debug, Clone)]
pub struct NewRole {
    /// Its organization.
    pub organization_id: Uuid,
    /// WORKSPACE or DEPLOYMENT.
    pub scope: Scope,
    /// Its name.
    pub name: String,
    /// Its permission strings.
    pub permissions: Vec<String>,
    /// Free text.
    pub description: Option<String>,
}

/// Creates a custom role: validated, the grant rule applied to the caller, one transaction with its
/// `customRole.create` audit event. CONFLICT if the organization has a role of that scope and name.
pub async fn create(
    conn: &mut AsyncPgConnection,
    authority: &Authority,
    new: NewRole,
    actor: &Actor,
) -> ApiResult<CustomRole> {
    check_scope(new.scope)?;
    let name = role_name(&new.name)?;
    let description = new.description.as_deref().map(|d| validate::description("description", d)).transpose()?;
    let permissions = parse_permissions(new.scope, &new.permissions)?;
    let texts: Vec<String> = permissions.iter().map(|p| p.as_str().to_owned()).collect();
    conn.transaction(async |tx| {
        lock_organization(tx, new.organization_id).await?;
        authority.require_permissions_grantable(tx, permissions, anywhere_in(new.organization_id, new.scope)).await?;
        let row = CustomRoleRow::insert(
            tx,
            &NewCustomRole {
                id: Uuid::now_v7(),
                organization_id: new.organization_id,
                scope: new.scope.as_str(),
                name: &name,
                description: description.as_deref().filter(|d| !d.is_empty()),
                permissions: &texts,
                created_by: actor.user_id,
            },
        )
        .await?
        .ok_or_else(|| {
            ApiError::conflict(format!("The organization has a {} role named {name:?} already", new.scope.as_str()))
        })?;
        let role = CustomRole::from_row(row);
        audit::record(
            tx,
            actor,
            Change {
                action: "customRole.create",
                target_type: "customRole",
                target_id: Some(role.row.id),
                organization_id: Some(role.row.organization_id),
                after: Some(role.snapshot()),
                ..Change::default()
            },
        )
        .await?;
        Ok(role)
    })
    .await
}

/// A change to a role: `None` leaves a field as it is; `description: Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct RoleUpdate {
    /// New name.
    pub name: Option<String>,
    /// New permission strings (the whole list).
    pub permissions: Option<Vec<String>>,
    /// New description.
    pub description: Option<Option<String>>,
}

/// Changes custom role `id` (NOT_FOUND if there is none): the caller must be able to grant what it held and
/// what it will hold (grant rule); the change reaches every holder at once. One transaction with its
/// `customRole.update` audit event.
pub async fn update(
    conn: &mut AsyncPgConnection,
    authority: &Authority,
    id: Uuid,
    change: RoleUpdate,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<CustomRole> {
    let name = change.name.as_deref().map(role_name).transpose()?;
    let description = match &change.description {
        Some(Some(text)) => Some(Some(validate::description("description", text)?).filter(|d| !d.is_empty())),
        Some(None) => Some(None),
        None => None,
    };
    conn.transaction(async |tx| {
        let before = CustomRole::from_row(CustomRoleRow::find_for_update(tx, id).await?.ok_or(ApiError::NotFound)?);
        let scope = before.scope();
        let anywhere = anywhere_in(before.row.organization_id, scope);
        authority.require_permissions_grantable(tx, before.permissions, anywhere).await?;
        let permissions = change.permissions.as_deref().map(|texts| parse_permissions(scope, texts)).transpose()?;
        if let Some(set) = permissions {
            authority.require_permissions_grantable(tx, set, anywhere).await?;
        }
        let changes = CustomRoleChanges {
            name: name.clone(),
            description: description.clone(),
            permissions: permissions.map(|set| set.iter().map(|p| p.as_str().to_owned()).collect()),
            updated_at: Some(now),
        };
        let row = CustomRoleRow::update(tx, id, &changes).await?.ok_or_else(|| {
            ApiError::conflict(format!(
                "The organization has a {} role named {:?} already",
                scope.as_str(),
                name.clone().unwrap_or_default()
            ))
        })?;
        let after = CustomRole::from_row(row);
        audit::record(
            tx,
            actor,
            Change {
                action: "customRole.update",
                target_type: "customRole",
                target_id: Some(id),
                organization_id: Some(after.row.organization_id),
                before: Some(before.snapshot()),
                after: Some(after.snapshot()),
                ..Change::default()
            },
        )
        .await?;
        Ok(after)
    })
    .await
}

/// Deletes custom role `id`: CONFLICT while a binding or a pending invite holds it; the caller must be
/// able to grant it. One transaction with its `customRole.delete` audit event. Returns the role deleted.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    authority: &Authority,
    id: Uuid,
    actor: &Actor,
) -> ApiResult<CustomRole> {
    conn.transaction(async |tx| {
        let role = CustomRole::from_row(CustomRoleRow::find_for_update(tx, id).await?.ok_or(ApiError::NotFound)?);
        authority
            .require_permissions_grantable(tx, role.permissions, anywhere_in(role.row.organization_id, role.scope()))
            .await?;
        let (bindings, invites) = CustomRoleRow::uses(tx, id).await?;
        if bindings > 0 || invites > 0 {
            return Err(ApiError::conflict(format!(
                "The role {:?} is in use ({bindings} role bindings, {invites} pending invites): give the holders \
                 another role first",
                role.row.name
            )));
        }
        // Holders on deleted deployments cannot be given another role: their bindings go with the role,
        // and the audit event counts them.
        let leftovers = CustomRoleRow::drop_leftovers(tx, id).await?;
        CustomRoleRow::delete(tx, id).await?;
        let mut before = role.snapshot();
        if let Some(object) = before.as_object_mut() {
            object.insert("bindingsOnDeletedDeployments".to_owned(), serde_json::json!(leftovers));
        }
        audit::record(
            tx,
            actor,
            Change {
                action: "customRole.delete",
                target_type: "customRole",
                target_id: Some(id),
                organization_id: Some(role.row.organization_id),
                before: Some(before),
                ..Change::default()
            },
        )
        .await?;
        Ok(role)
    })
    .await
}

/// An organization's custom roles, workspace roles first, then by name.
pub async fn list(conn: &mut AsyncPgConnection, organization_id: Uuid, limit: usize) -> ApiResult<Vec<CustomRole>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    Ok(CustomRoleRow::of_organization(conn, organization_id, limit)
        .await?
        .into_iter()
        .map(CustomRole::from_row)
        .collect())
}

/// The custom roles with these ids (for loaders: one statement).
pub async fn by_ids(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> ApiResult<Vec<CustomRole>> {
    Ok(CustomRoleRow::find_many(conn, ids).await?.into_iter().map(CustomRole::from_row).collect())
}

/// Custom role `id` (NOT_FOUND if there is none).
pub async fn get(conn: &mut AsyncPgConnection, id: Uuid) -> ApiResult<CustomRole> {
    by_ids(conn, &[id]).await?.into_iter().next().ok_or(ApiError::NotFound)
}

/// The custom roles `ids` that bindings already hold (a team's, for a decision on its members), read in
/// one statement and locked `FOR SHARE` until the transaction ends, in id order, as [`for_grant`] locks
/// the role it grants: a change or deletion of one of them waits for the decision made from its
/// permissions. No unlocked read comes first, unlike [`for_grant`]: these ids come from stored bindings,
/// not from the caller, so waiting on one tells the caller nothing. A role gone is simply not returned.
pub async fn held(tx: &mut AsyncPgConnection, ids: &[Uuid]) -> ApiResult<Vec<CustomRole>> {
    let mut ids = ids.to_vec();
    ids.sort();
    ids.dedup();
    Ok(CustomRoleRow::find_many_for_share(tx, &ids).await?.into_iter().map(CustomRole::from_row).collect())
}

/// The built-in roles of `scope` with their permissions under `matrix`: templates to start a custom role
/// from.
pub fn templates(matrix: &Matrix, scope: Scope) -> ApiResult<Vec<(Role, Vec<Permission>)>> {
    check_scope(scope)?;
    Ok(Role::built_in_of(scope).map(|role| (role, matrix.permissions_of(role).collect())).collect())
}

/// The answer to a custom-role id that names no role of the organization granted in: BAD_USER_INPUT
/// naming `customRoleUuid`, the same for an id of another organization's role, of a deleted role and of
/// nothing, so that nothing is told about other organizations (SPEC §2 rule 6). A `deploymentRoles` item
/// gets the same answer, naming the item.
pub fn no_such_role() -> ApiError {
    ApiError::bad_input(CUSTOM_ROLE_FIELD, NO_SUCH_ROLE)
}

/// The message of [`no_such_role`].
pub const NO_SUCH_ROLE: &str = "No custom role of this organization has this id";

/// Custom role `id` for a grant on `object`, locked `FOR SHARE` until the transaction ends (a deletion
/// waits, then sees the new binding). BAD_USER_INPUT naming `customRoleUuid` when there is no such role or
/// it belongs to another organization than the object's ([`no_such_role`]), or when its scope is not the
/// object's.
pub async fn for_grant(tx: &mut AsyncPgConnection, id: Uuid, object: ScopeRef) -> ApiResult<CustomRole> {
    // Read unlocked first: another organization's role is refused before this transaction can hold a lock
    // on it (a wait would tell the caller it exists while its owner edits it).
    let unlocked = CustomRoleRow::find_many(tx, &[id]).await?.into_iter().next().ok_or_else(no_such_role)?;
    let organization = match object {
        ScopeRef::Organization(id) => Some(id),
        ScopeRef::Workspace(id) | ScopeRef::Deployment(id) => crate::db::models::workspace::ancestry(tx, &[id])
            .await?
            .into_iter()
            .find(|at| at.object().scope() == object.scope())
            .and_then(|at| at.organization),
        ScopeRef::System => None,
    };
    if organization != Some(unlocked.organization_id) {
        return Err(no_such_role());
    }
    // Then locked, and read again: the organization of a role never changes, its permissions may have (a
    // role deleted meanwhile names nothing).
    let role = CustomRole::from_row(CustomRoleRow::find_for_share(tx, id).await?.ok_or_else(no_such_role)?);
    if role.scope() != object.scope() {
        return Err(ApiError::bad_input(
            CUSTOM_ROLE_FIELD,
            format!(
                "{:?} is a {} role; this grant needs a {} role",
                role.row.name,
                role.row.scope,
                object.scope().as_str()
            ),
        ));
    }
    Ok(role)
}

/// Custom roles `ids` for grants on objects of organization `organization_id` (the deployment roles given
/// with a workspace role, and those an invite carries), in two statements whatever their number: read
/// unlocked first, so that another organization's role is refused before this transaction can hold a lock
/// on it (as [`for_grant`] does), then the organization's own locked `FOR SHARE` in id order until the
/// transaction ends (a deletion waits, then sees the new bindings). Each id answers in its place: `None`
/// when no role of that organization has it, whether it names nothing or another organization's role, so
/// the answer tells nothing about other organizations. The caller checks each role's scope.
pub async fn for_grants(
    tx: &mut AsyncPgConnection,
    ids: &[Uuid],
    organization_id: Uuid,
) -> ApiResult<Vec<Option<CustomRole>>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut ours: Vec<Uuid> = CustomRoleRow::find_many(tx, ids)
        .await?
        .into_iter()
        .filter(|row| row.organization_id == organization_id)
        .map(|row| row.id)
        .collect();
    ours.sort();
    ours.dedup();
    // Locked, and read again: the organization of a role never changes, its permissions may have (and a
    // role deleted meanwhile is simply not returned).
    let locked: Vec<CustomRole> = if ours.is_empty() {
        Vec::new()
    } else {
        CustomRoleRow::find_many_for_share(tx, &ours).await?.into_iter().map(CustomRole::from_row).collect()
    };
    Ok(ids.iter().map(|id| locked.iter().find(|role| role.row.id == *id).cloned()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn permissions_must_be_of_the_roles_scope() {
        let set =
            parse_permissions(Scope::Workspace, &texts(&["workspace.config.get", "workspace.config.get"])).unwrap();
        assert_eq!(set.iter().collect::<Vec<_>>(), [Permission::WorkspaceConfigGet]);
        for (scope, bad) in [
            (Scope::Workspace, vec!["deployment.config.get"]),
            (Scope::Deployment, vec!["workspace.config.get"]),
            (Scope::Workspace, vec!["system.users.get"]),
            (Scope::Workspace, vec!["workspace.nothing.get"]),
            (Scope::Workspace, vec![]),
        ] {
            match parse_permissions(scope, &texts(&bad)) {
                Err(ApiError::BadUserInput { field, .. }) => assert_eq!(field, PERMISSIONS_FIELD),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    /// A role that changes something also reads what the change answers with (written by hand from the
    /// answers: a deployment, an API key, the members).
    #[test]
    fn a_role_that_changes_something_reads_what_it_answers_with() {
        for (scope, refused) in [
            (Scope::Deployment, vec!["deployment.config.update"]),
            (Scope::Deployment, vec!["deployment.config.delete"]),
            (Scope::Deployment, vec!["deployment.images.push"]),
            (Scope::Deployment, vec!["deployment.config.get", "deployment.serviceAccounts.create"]),
            (Scope::Deployment, vec!["deployment.config.get", "deployment.iam.update"]),
            (Scope::Workspace, vec!["workspace.config.update"]),
            (Scope::Workspace, vec!["workspace.config.get", "workspace.serviceAccounts.create"]),
            (Scope::Workspace, vec!["workspace.config.get", "workspace.iam.update"]),
            (Scope::Workspace, vec!["workspace.config.get", "workspace.users.get", "workspace.iam.update"]),
        ] {
            match parse_permissions(scope, &texts(&refused)) {
                Err(ApiError::BadUserInput { field, message }) => {
                    assert_eq!(field, PERMISSIONS_FIELD);
                    assert!(message.contains(" needs "), "{message}");
                }
                other => panic!("{refused:?}: {other:?}"),
            }
        }
        for (scope, accepted) in [
            (Scope::Deployment, vec!["deployment.config.get"]),
            (Scope::Deployment, vec!["deployment.config.get", "deployment.config.update", "deployment.images.push"]),
            (
                Scope::Deployment,
                vec!["deployment.config.get", "deployment.serviceAccounts.get", "deployment.serviceAccounts.create"],
            ),
            (Scope::Workspace, vec!["workspace.deployments.create", "workspace.deployments.get"]),
            (Scope::Workspace, vec!["workspace.users.get"]),
            (
                Scope::Workspace,
                vec!["workspace.config.get", "workspace.users.get", "workspace.invites.get", "workspace.iam.update"],
            ),
        ] {
            assert!(parse_permissions(scope, &texts(&accepted)).is_ok(), "{accepted:?}");
        }
    }

    /// A custom role may not pass for a built-in one: its name, as it reads, is none of theirs.
    #[test]
    fn built_in_role_names_are_refused_however_written() {
        for name in [
            "WORKSPACE_ADMIN",
            "deployment_viewer",
            " Deployment_Admin ",
            "\u{FF24}EPLOYMENT_ADMIN",
            "DEPLOYMENT\u{200B}_ADMIN",
            "DEPLOYMENT_ADMIN.",
            "DEPLOYMENT\u{2010}ADMIN",
            "DEPLOYMENT_\u{391}DMIN",
            "DEPLOYMENT_\u{410}DMIN",
            "DEPLOYMENT_ADMI\u{301}N",
            "\u{202E}NIMDA_TNEMYOLPED",
            "DEPLOYMENT_ADMIN\u{E0001}",
            "\u{3164}DEPLOYMENT_ADMIN",
            "\u{1D30}\u{1D31}\u{1D3E}_\u{1D2C}\u{1D30}",
            "OPS_ADMIN",
            // Unicode spaces, line separators and confusable lower-case letters.
            "DEPLOYMENT_AD\u{200A}MIN",
            "DEPLOYMENT\u{2009}ADMIN",
            "WORKSPACE\u{3000}ADMIN",
            "WORKSPACE_ADMIN\u{2028}x",
            "deployment_\u{430}dmin",
            "W\u{43E}rkspace_admin",
            "Deployment admin",
            "workspace-admin",
            "Workspace Admin",
            "\u{1D403}\u{1D404}PLOYMENT_ADMIN",
            // Phonetic letters and format controls (attack run 5).
            "\u{1D05}\u{1D07}\u{1D18}\u{029F}\u{1D0F}\u{028F}\u{1D0D}\u{1D07}\u{0274}\u{1D1B} \u{1D00}\u{1D05}\u{1D0D}\u{026A}\u{0274}",
            "Workspace \u{0251}dmin",
            "Workspace adm\u{0269}n",
            "Deployment \u{AB64}dmin",
            "Deployer\u{E0100}",
            "Deployer\u{1D173}",
            // Attack run 6: stand-ins for `_`, look-alike letters of other scripts, format characters.
            "WORKSPACE\u{0640}ADMIN",
            "WORKSPACE\u{30FC}ADMIN",
            "Workspace\u{30FC}admin",
            "DEPLOYMENT\u{4E00}EDITOR",
            "WORKSPACE\u{07FA}ADMIN",
            "SYSTEM ADM\u{A7AE}N",
            "SYSTEM ADM\u{16C1}N",
            "SYSTEM ADM\u{2D4F}N",
            "SYSTEM ADM\u{01C0}N",
            "SYSTEM ADM\u{0196}N",
            "SYSTEM ADM\u{0130}N",
            "ORGANIZATION OWNE\u{01A6}",
            "Deployer\u{13430}",
            "Deployer\u{0890}",
            "Deployer\u{E000}",
        ] {
            match role_name(name) {
                Err(ApiError::BadUserInput { field, .. }) => assert_eq!(field, "name", "{name:?}"),
                other => panic!("{name:?}: {other:?}"),
            }
        }
        for fine in [
            "Deployment operator",
            "SRE",
            "Data-platform lead",
            "Opérateur",
            "CI deployer (main)",
            "Équipe données",
            "運用チーム",
            "Команда данных",
            "Workspace admin (read only)",
            "CI 運用",
            "データ基盤",
            "Straße crew",
            "Altyapı ekibi",
            "Ekip Ə",
            "STRAẞE",
            "Hawaiʻi ops",
            "ÉQUIPE",
        ] {
            assert_eq!(role_name(&format!(" {fine} ")).ok().as_deref(), Some(fine));
        }
        // Names that NFKC makes one are one name: stored as NFKC, the uniqueness rule sees them equal.
        assert_eq!(role_name("\u{FF24}eployer").ok().as_deref(), Some("Deployer"));
        assert_eq!(role_name("Night\u{00A0}shift").ok().as_deref(), Some("Night shift"));
        assert_eq!(role_name("Night  shift").ok().as_deref(), Some("Night shift"));
    }

    /// The built-in workspace and deployment roles, the templates custom roles start from, pass the rule.
    #[test]
    fn every_built_in_role_template_passes_it() {
        let matrix = Matrix::default();
        for scope in [Scope::Workspace, Scope::Deployment] {
            for (role, permissions) in templates(&matrix, scope).unwrap() {
                let strings: Vec<String> = permissions.iter().map(|p| p.as_str().to_owned()).collect();
                assert!(parse_permissions(scope, &strings).is_ok(), "{role}: {strings:?}");
            }
        }
    }
}
