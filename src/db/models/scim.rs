//! `scim_users` and `scim_groups`, and the reads SCIM needs over users, emails and teams of one
//! organization.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::models::team::Team;
use crate::db::models::user::User;
use crate::db::schema::{emails, role_bindings, scim_groups, scim_users, team_members, teams, users};

/// What a SCIM list filter may compare (RFC 7644 §3.4.2.2, `eq` only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserMatch {
    /// Every member.
    All,
    /// `userName eq "…"` (case-insensitive, as RFC 7643 §4.1.1 makes `userName`).
    UserName(String),
    /// `externalId eq "…"`.
    ExternalId(String),
    /// `emails.value eq "…"` (or `emails eq`).
    Email(String),
}

/// What a SCIM group filter may compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupMatch {
    /// Every team.
    All,
    /// `displayName eq "…"` (case-insensitive, as team names are unique).
    DisplayName(String),
    /// `externalId eq "…"`.
    ExternalId(String),
}

/// Records (or updates) that the organization's provider manages `user_id`.
pub async fn link_user(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    user_id: Uuid,
    external_id: Option<&str>,
) -> QueryResult<()> {
    diesel::insert_into(scim_users::table)
        .values((
            scim_users::organization_id.eq(organization_id),
            scim_users::user_id.eq(user_id),
            scim_users::external_id.eq(external_id),
        ))
        .on_conflict((scim_users::organization_id, scim_users::user_id))
        .do_update()
        .set(scim_users::external_id.eq(external_id))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Whether the organization's provider manages `user_id`.
pub async fn is_linked(conn: &mut AsyncPgConnection, organization_id: Uuid, user_id: Uuid) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        scim_users::table
            .filter(scim_users::organization_id.eq(organization_id))
            .filter(scim_users::user_id.eq(user_id)),
    ))
    .get_result(conn)
    .await
}

/// Forgets the link of `user_id` to the organization's provider.
pub async fn unlink_user(conn: &mut AsyncPgConnection, organization_id: Uuid, user_id: Uuid) -> QueryResult<usize> {
    diesel::delete(
        scim_users::table
            .filter(scim_users::organization_id.eq(organization_id))
            .filter(scim_users::user_id.eq(user_id)),
    )
    .execute(conn)
    .await
}

/// The provider's ids of these users in the organization.
pub async fn user_external_ids(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    user_ids: &[Uuid],
) -> QueryResult<HashMap<Uuid, String>> {
    let rows: Vec<(Uuid, Option<String>)> = scim_users::table
        .filter(scim_users::organization_id.eq(organization_id))
        .filter(scim_users::user_id.eq_any(user_ids))
        .select((scim_users::user_id, scim_users::external_id))
        .load(conn)
        .await?;
    Ok(rows.into_iter().filter_map(|(id, external)| Some((id, external?))).collect())
}

/// A page of the organization's members (users holding a role on it directly) matching `filter`, oldest
/// first, and how many match in all. Accounts holding a system role (directly or through a team) are left
/// out: they are out of any organization's provisioning (SPEC §3.1).
pub async fn members_page(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    filter: &UserMatch,
    offset: i64,
    limit: i64,
) -> QueryResult<(Vec<User>, i64)> {
    let query = || {
        let members = role_bindings::table
            .filter(role_bindings::organization_id.eq(organization_id))
            .filter(role_bindings::user_id.is_not_null())
            .select(role_bindings::user_id.assume_not_null());
        let mut query = users::table
            .filter(users::id.eq_any(members))
            .filter(diesel::dsl::not(diesel::dsl::sql::<diesel::sql_types::Bool>(
                crate::db::models::identity::HOLDS_SYSTEM_ROLE_SQL,
            )))
            .into_boxed();
        match filter {
            UserMatch::All => {}
            UserMatch::UserName(name) => {
                query = query.filter(
                    diesel::dsl::sql::<diesel::sql_types::Bool>("lower(users.username) = ")
                        .bind::<diesel::sql_types::Text, _>(name.to_lowercase()),
                );
            }
            UserMatch::ExternalId(external) => {
                let linked = scim_users::table
                    .filter(scim_users::organization_id.eq(organization_id))
                    .filter(scim_users::external_id.eq(external.clone()))
                    .select(scim_users::user_id);
                query = query.filter(users::id.eq_any(linked));
            }
            UserMatch::Email(address) => {
                let owners = emails::table.filter(emails::address.eq(address.to_lowercase())).select(emails::user_id);
                query = query.filter(users::id.eq_any(owners));
            }
        }
        query
    };
    let total: i64 = query().count().get_result(conn).await?;
    let rows = query()
        .order((users::created_at, users::id))
        .offset(offset)
        .limit(limit)
        .select(User::as_select())
        .load(conn)
        .await?;
    Ok((rows, total))
}

/// `(user, team)` for the teams of the organization these users are in.
pub async fn teams_of_users(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    user_ids: &[Uuid],
) -> QueryResult<Vec<(Uuid, Team)>> {
    team_members::table
        .inner_join(teams::table)
        .filter(teams::organization_id.eq(organization_id))
        .filter(team_members::user_id.eq_any(user_ids))
        .order(teams::name)
        .select((team_members::user_id, Team::as_select()))
        .load(conn)
        .await
}

/// Sets a user's status.
pub async fn set_user_status(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    status: &str,
    now: DateTime<Utc>,
) -> QueryResult<User> {
    diesel::update(users::table.find(user_id))
        .set((users::status.eq(status), users::updated_at.eq(now)))
        .returning(User::as_returning())
        .get_result(conn)
        .await
}

/// Records (or updates) the provider's id of a team.
pub async fn link_group(conn: &mut AsyncPgConnection, team_id: Uuid, external_id: Option<&str>) -> QueryResult<()> {
    diesel::insert_into(scim_groups::table)
        .values((scim_groups::team_id.eq(team_id), scim_groups::external_id.eq(external_id)))
        .on_conflict(scim_groups::team_id)
        .do_update()
        .set(scim_groups::external_id.eq(external_id))
        .execute(conn)
        .await
        .map(|_| ())
}

/// The provider's ids of these teams.
pub async fn group_external_ids(conn: &mut AsyncPgConnection, team_ids: &[Uuid]) -> QueryResult<HashMap<Uuid, String>> {
    let rows: Vec<(Uuid, Option<String>)> = scim_groups::table
        .filter(scim_groups::team_id.eq_any(team_ids))
        .select((scim_groups::team_id, scim_groups::external_id))
        .load(conn)
        .await?;
    Ok(rows.into_iter().filter_map(|(id, external)| Some((id, external?))).collect())
}

/// A page of the organization's teams matching `filter`, by name, and how many match in all.
pub async fn teams_page(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    filter: &GroupMatch,
    offset: i64,
    limit: i64,
) -> QueryResult<(Vec<Team>, i64)> {
    let query = || {
        let mut query = teams::table.filter(teams::organization_id.eq(organization_id)).into_boxed();
        match filter {
            GroupMatch::All => {}
            GroupMatch::DisplayName(name) => {
                query = query.filter(
                    diesel::dsl::sql::<diesel::sql_types::Bool>("lower(teams.name) = ")
                        .bind::<diesel::sql_types::Text, _>(name.to_lowercase()),
                );
            }
            GroupMatch::ExternalId(external) => {
                let linked = scim_groups::table
                    .filter(scim_groups::external_id.eq(external.clone()))
                    .select(scim_groups::team_id);
                query = query.filter(teams::id.eq_any(linked));
            }
        }
        query
    };
    let total: i64 = query().count().get_result(conn).await?;
    let rows = query()
        .order((teams::name, teams::id))
        .offset(offset)
        .limit(limit)
        .select(Team::as_select())
        .load(conn)
        .await?;
    Ok((rows, total))
}

/// Removes every member of a team; returns how many there were.
pub async fn clear_team(conn: &mut AsyncPgConnection, team_id: Uuid) -> QueryResult<usize> {
    diesel::delete(team_members::table.filter(team_members::team_id.eq(team_id))).execute(conn).await
}
