//! `teams` and `team_members`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::models::user::User;
use crate::db::schema::{team_members, teams, users};

/// A team row.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = teams, check_for_backend(diesel::pg::Pg))]
pub struct Team {
    /// Primary key.
    pub id: Uuid,
    /// The organization it belongs to (never changes).
    pub organization_id: Uuid,
    /// Name, unique (case-insensitively) in the organization.
    pub name: String,
    /// Description.
    pub description: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Update form of [`Team`].
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = teams)]
pub struct TeamChanges {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// Set on every change.
    pub updated_at: Option<DateTime<Utc>>,
}

impl Team {
    /// Inserts a team.
    pub async fn insert(
        conn: &mut AsyncPgConnection,
        organization_id: Uuid,
        name: &str,
        description: &str,
    ) -> QueryResult<Team> {
        diesel::insert_into(teams::table)
            .values((
                teams::id.eq(Uuid::now_v7()),
                teams::organization_id.eq(organization_id),
                teams::name.eq(name),
                teams::description.eq(description),
            ))
            .returning(Team::as_returning())
            .get_result(conn)
            .await
    }

    /// The team with this id.
    pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Team>> {
        teams::table.find(id).select(Team::as_select()).first(conn).await.optional()
    }

    /// The team with this id, locked.
    pub async fn find_for_update(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Team>> {
        teams::table.find(id).select(Team::as_select()).for_update().first(conn).await.optional()
    }

    /// The teams with these ids.
    pub async fn find_many(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<Team>> {
        teams::table.filter(teams::id.eq_any(ids)).select(Team::as_select()).load(conn).await
    }

    /// Teams of `organization_id` (of every organization when `None`) by name and id, after the keyset
    /// position `after` (`(name, id)`), at most `limit`.
    pub async fn page(
        conn: &mut AsyncPgConnection,
        organization_id: Option<Uuid>,
        after: Option<(String, Uuid)>,
        limit: i64,
    ) -> QueryResult<Vec<Team>> {
        let mut query =
            teams::table.select(Team::as_select()).order((teams::name, teams::id)).limit(limit).into_boxed();
        if let Some(organization_id) = organization_id {
            query = query.filter(teams::organization_id.eq(organization_id));
        }
        if let Some((name, id)) = after {
            query = query.filter(teams::name.gt(name.clone()).or(teams::name.eq(name).and(teams::id.gt(id))));
        }
        query.load(conn).await
    }

    /// How many teams `organization_id` has (every organization when `None`).
    pub async fn count(conn: &mut AsyncPgConnection, organization_id: Option<Uuid>) -> QueryResult<i64> {
        let mut query = teams::table.into_boxed();
        if let Some(organization_id) = organization_id {
            query = query.filter(teams::organization_id.eq(organization_id));
        }
        query.count().get_result(conn).await
    }

    /// Applies `changes`.
    pub async fn update(conn: &mut AsyncPgConnection, id: Uuid, changes: &TeamChanges) -> QueryResult<Team> {
        diesel::update(teams::table.find(id)).set(changes).returning(Team::as_returning()).get_result(conn).await
    }

    /// Deletes the team (its memberships and role bindings go with it).
    pub async fn delete(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<usize> {
        diesel::delete(teams::table.find(id)).execute(conn).await
    }

    /// Adds a member; `false` if they already were one.
    pub async fn add_member(conn: &mut AsyncPgConnection, team_id: Uuid, user_id: Uuid) -> QueryResult<bool> {
        diesel::insert_into(team_members::table)
            .values((team_members::team_id.eq(team_id), team_members::user_id.eq(user_id)))
            .on_conflict_do_nothing()
            .execute(conn)
            .await
            .map(|inserted| inserted == 1)
    }

    /// Whether `user_id` is a member of team `team_id`.
    pub async fn is_member(conn: &mut AsyncPgConnection, team_id: Uuid, user_id: Uuid) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(
            team_members::table.filter(team_members::team_id.eq(team_id)).filter(team_members::user_id.eq(user_id)),
        ))
        .get_result(conn)
        .await
    }

    /// Removes a member; `false` if they were not one.
    pub async fn remove_member(conn: &mut AsyncPgConnection, team_id: Uuid, user_id: Uuid) -> QueryResult<bool> {
        diesel::delete(
            team_members::table.filter(team_members::team_id.eq(team_id)).filter(team_members::user_id.eq(user_id)),
        )
        .execute(conn)
        .await
        .map(|deleted| deleted == 1)
    }

    /// The teams of `organization_id` that `user_id` belongs to.
    pub async fn of_member_in(
        conn: &mut AsyncPgConnection,
        organization_id: Uuid,
        user_id: Uuid,
    ) -> QueryResult<Vec<Uuid>> {
        team_members::table
            .inner_join(teams::table)
            .filter(team_members::user_id.eq(user_id))
            .filter(teams::organization_id.eq(organization_id))
            .select(team_members::team_id)
            .load(conn)
            .await
    }

    /// Removes `user_id` from every team of `organization_id`.
    pub async fn remove_member_everywhere_in(
        conn: &mut AsyncPgConnection,
        organization_id: Uuid,
        user_id: Uuid,
    ) -> QueryResult<usize> {
        let in_organization = teams::table.filter(teams::organization_id.eq(organization_id)).select(teams::id);
        diesel::delete(
            team_members::table
                .filter(team_members::user_id.eq(user_id))
                .filter(team_members::team_id.eq_any(in_organization)),
        )
        .execute(conn)
        .await
    }

    /// `(team, member)` for the members of these teams, by username.
    pub async fn members_of(conn: &mut AsyncPgConnection, team_ids: &[Uuid]) -> QueryResult<Vec<(Uuid, User)>> {
        team_members::table
            .inner_join(users::table)
            .filter(team_members::team_id.eq_any(team_ids))
            .order(users::username)
            .select((team_members::team_id, User::as_select()))
            .load(conn)
            .await
    }
}
