//! Queries over who a person is (SPEC §3.1), across `emails`, `local_credentials`, `role_bindings`,
//! `team_members`, `service_accounts`, `external_identities` and `sign_in_codes`: whether an account holds
//! a system role, whether an address of it is verified, and taking every way in away from an account.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::{
    emails, external_identities, installation, local_credentials, role_bindings, service_accounts, sign_in_codes,
    team_members,
};

/// SQL condition, over a query whose `users` row is in scope, that the user holds a system role directly
/// or through one of its teams.
pub const HOLDS_SYSTEM_ROLE_SQL: &str = "EXISTS (SELECT 1 FROM role_bindings sb WHERE sb.scope = 'SYSTEM' AND \
     (sb.user_id = users.id OR sb.team_id IN (SELECT sm.team_id FROM team_members sm WHERE sm.user_id = users.id)))";

/// Whether `user_id` holds a system role (SYSTEM_ADMIN, SYSTEM_EDITOR, SYSTEM_VIEWER), directly or
/// through a team.
pub async fn holds_system_role(conn: &mut AsyncPgConnection, user_id: Uuid) -> QueryResult<bool> {
    let teams = team_members::table.filter(team_members::user_id.eq(user_id)).select(team_members::team_id);
    diesel::select(diesel::dsl::exists(
        role_bindings::table
            .filter(role_bindings::scope.eq("SYSTEM"))
            .filter(role_bindings::user_id.eq(user_id).or(role_bindings::team_id.eq_any(teams.nullable()))),
    ))
    .get_result(conn)
    .await
}

/// Takes a shared lock on the installation row. Grants of system roles lock it exclusively, so a decision
/// that depends on "this account holds no system role" holds until the transaction ends.
pub async fn share_installation(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    installation::table.select(installation::singleton).for_share().load::<bool>(conn).await.map(|_| ())
}

/// Whether `user_id` holds `address` and it is verified; `None` when the user does not hold it.
pub async fn address_verified(conn: &mut AsyncPgConnection, user_id: Uuid, address: &str) -> QueryResult<Option<bool>> {
    emails::table
        .filter(emails::user_id.eq(user_id))
        .filter(emails::address.eq(address))
        .select(emails::verified)
        .first(conn)
        .await
        .optional()
}

/// Marks `address` of `user_id` verified (another account's address is never touched).
pub async fn verify_own_address(conn: &mut AsyncPgConnection, user_id: Uuid, address: &str) -> QueryResult<usize> {
    diesel::update(emails::table.filter(emails::user_id.eq(user_id)).filter(emails::address.eq(address)))
        .set(emails::verified.eq(true))
        .execute(conn)
        .await
}

/// Removes the user's password; returns whether there was one.
pub async fn remove_password(conn: &mut AsyncPgConnection, user_id: Uuid) -> QueryResult<bool> {
    Ok(diesel::delete(local_credentials::table.filter(local_credentials::user_id.eq(user_id))).execute(conn).await? > 0)
}

/// Deactivates the active API keys the user created in organization `organization_id` (keys of the
/// organization, of its workspaces and of their deployments); returns their ids. Keys of other
/// organizations are theirs to manage and are left alone.
pub async fn deactivate_keys_created_by_in(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    organization_id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<Vec<Uuid>> {
    use crate::db::schema::{deployments, workspaces};
    let organization_workspaces =
        workspaces::table.filter(workspaces::organization_id.eq(organization_id)).select(workspaces::id.nullable());
    let organization_deployments =
        deployments::table
            .filter(deployments::workspace_id.eq_any(
                workspaces::table.filter(workspaces::organization_id.eq(organization_id)).select(workspaces::id),
            ))
            .select(deployments::id.nullable());
    diesel::update(
        service_accounts::table
            .filter(service_accounts::created_by.eq(user_id))
            .filter(service_accounts::active)
            .filter(
                service_accounts::organization_id
                    .eq(organization_id)
                    .or(service_accounts::workspace_id.eq_any(organization_workspaces))
                    .or(service_accounts::deployment_id.eq_any(organization_deployments)),
            ),
    )
    .set((service_accounts::active.eq(false), service_accounts::updated_at.eq(now)))
    .returning(service_accounts::id)
    .get_results(conn)
    .await
}

/// Forgets every identity-provider subject linked to the user and every unused sign-in code of it;
/// returns how many links there were.
pub async fn unlink_everything(conn: &mut AsyncPgConnection, user_id: Uuid) -> QueryResult<usize> {
    diesel::delete(sign_in_codes::table.filter(sign_in_codes::user_id.eq(user_id))).execute(conn).await?;
    diesel::delete(external_identities::table.filter(external_identities::user_id.eq(user_id))).execute(conn).await
}
