//! System role bindings and removing users. The installation keeps at least one active user holding
//! SYSTEM_ADMIN, and every organization and workspace their owner or admin: decided in
//! `crate::domain::memberships` under its locks.

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::json;
use uuid::Uuid;

use crate::db::models::role_binding::RoleBindingRow;
use crate::db::models::user::User;
use crate::domain::audit::{self, Change};
use crate::domain::memberships::{self, Grantor};
use crate::domain::users::snapshot;
use crate::domain::{Actor, Authority};
use crate::error::{ApiError, ApiResult};
use crate::rbac::{Role, Scope, ScopeRef};

fn system_role(role: Role) -> ApiResult<Role> {
    if role.scope() == Some(Scope::System) {
        Ok(role)
    } else {
        Err(ApiError::bad_input(
            "role",
            format!("{role} is not a system role (SYSTEM_ADMIN, SYSTEM_EDITOR or SYSTEM_VIEWER)"),
        ))
    }
}

/// Gives `user_id` the system role `role`. A user holds at most one system role; granting another
/// replaces it.
pub async fn grant(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    role: Role,
    authority: &Authority,
    actor: &Actor,
) -> ApiResult<RoleBindingRow> {
    let role = system_role(role)?;
    authority.require_grantable(conn, role, ScopeRef::System).await?;
    conn.transaction(async |tx| {
        memberships::lock_system(tx).await?;
        User::find(tx, user_id).await?.ok_or(ApiError::NotFound)?;
        // One system binding per user (unique index): replace it, or add one.
        let (binding, before) =
            memberships::set_system_role(tx, &Grantor::Caller(authority), user_id, role, actor.user_id).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "systemRole.grant",
                target_type: "user",
                target_id: Some(user_id),
                before: before.map(|r| json!({"role": r.as_str()})),
                after: Some(json!({"role": role.as_str()})),
                ..Change::default()
            },
        )
        .await?;
        Ok(binding)
    })
    .await
}

/// Takes the system role `role` from `user_id`.
pub async fn revoke(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    role: Role,
    authority: &Authority,
    actor: &Actor,
) -> ApiResult<RoleBindingRow> {
    let role = system_role(role)?;
    authority.require_grantable(conn, role, ScopeRef::System).await?;
    conn.transaction(async |tx| {
        let row = memberships::revoke_system_role(tx, &Grantor::Caller(authority), user_id, role).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "systemRole.revoke",
                target_type: "user",
                target_id: Some(user_id),
                before: Some(json!({"role": role.as_str()})),
                ..Change::default()
            },
        )
        .await?;
        Ok(row)
    })
    .await
}

/// Deletes a user. Refused (CONFLICT) when it is the last SYSTEM_ADMIN, the only user holding
/// WORKSPACE_ADMIN of a workspace, or the only one holding ORGANIZATION_OWNER of an organization.
pub async fn remove_user(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    _now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<User> {
    conn.transaction(async |tx| {
        // Lock order (crate::domain::memberships): the installation, the organizations and workspaces the
        // user keeps an admin role of, then the user's row.
        memberships::lock_system(tx).await?;
        memberships::check_account_loss(tx, user_id).await?;
        let user = User::find_for_update(tx, user_id).await?.ok_or(ApiError::NotFound)?;
        User::delete(tx, user_id).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "user.delete",
                target_type: "user",
                target_id: Some(user_id),
                before: Some(snapshot(&user)),
                ..Change::default()
            },
        )
        .await?;
        Ok(user)
    })
    .await
}
