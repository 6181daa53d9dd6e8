//! `users`, `emails`, `local_credentials`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::{emails, local_credentials, users};

/// A user row.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct User {
    /// Primary key.
    pub id: Uuid,
    /// Unique (case-insensitively) login name.
    pub username: String,
    /// Display name.
    pub full_name: Option<String>,
    /// `active`, `pending`, `inactive` or `banned`.
    pub status: String,
    /// Free-form profile JSON.
    pub profile: serde_json::Value,
    /// Tokens issued before this instant are refused.
    pub tokens_valid_after: DateTime<Utc>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Insert form of [`User`].
#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    /// Primary key.
    pub id: Uuid,
    /// Login name.
    pub username: &'a str,
    /// Display name.
    pub full_name: Option<&'a str>,
    /// Status.
    pub status: &'a str,
    /// Profile JSON.
    pub profile: serde_json::Value,
}

/// Update form of [`User`]: `None` leaves a column unchanged.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    /// New login name.
    pub username: Option<String>,
    /// New display name (`Some(None)` clears it).
    pub full_name: Option<Option<String>>,
    /// New profile.
    pub profile: Option<serde_json::Value>,
    /// New revocation instant.
    pub tokens_valid_after: Option<DateTime<Utc>>,
    /// Set on every change.
    pub updated_at: Option<DateTime<Utc>>,
}

/// An email address of a user.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = emails, check_for_backend(diesel::pg::Pg))]
pub struct Email {
    /// Primary key.
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Lower-cased address.
    pub address: String,
    /// Whether the address was verified.
    pub verified: bool,
    /// Whether this is the user's primary address.
    pub is_primary: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// Insert form of [`Email`].
#[derive(Debug, Insertable)]
#[diesel(table_name = emails)]
pub struct NewEmail<'a> {
    /// Primary key.
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Lower-cased address.
    pub address: &'a str,
    /// Verified flag.
    pub verified: bool,
    /// Primary flag.
    pub is_primary: bool,
}

impl User {
    /// Inserts a user.
    pub async fn insert(conn: &mut AsyncPgConnection, new: &NewUser<'_>) -> QueryResult<User> {
        diesel::insert_into(users::table).values(new).returning(User::as_returning()).get_result(conn).await
    }

    /// The user with this id.
    pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<User>> {
        users::table.find(id).select(User::as_select()).first(conn).await.optional()
    }

    /// The user with this id, locked for update (`FOR NO KEY UPDATE`). The weaker lock is deliberate: every
    /// row written on a user's behalf (an audit event naming them as actor, a binding, an email) takes a
    /// key-share lock on the user's row through its foreign key, and `FOR UPDATE` would make each of those
    /// wait, turning two otherwise ordered transactions into a deadlock. Changes of the user's row still
    /// serialize; only a deletion (which takes the full lock itself) excludes those writers.
    pub async fn find_for_update(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<User>> {
        users::table.find(id).select(User::as_select()).for_no_key_update().first(conn).await.optional()
    }

    /// The users with these ids, in no particular order.
    pub async fn find_many(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<User>> {
        users::table.filter(users::id.eq_any(ids)).select(User::as_select()).load(conn).await
    }

    /// Finds a user by email address or, failing that, by username (both case-insensitive), with the
    /// password hash if the user has local credentials. An address always wins over a username, so that
    /// nobody can take over sign-ins to someone else's address by naming themselves after it.
    ///
    /// One statement whether the identity is an address, a username or nobody's: a lookup by address and
    /// then by username took one statement for an address and two for anything else, which let a caller
    /// tell, from the time a failed sign-in took, whether an address belongs to someone.
    pub async fn find_by_identity(
        conn: &mut AsyncPgConnection,
        identity: &str,
    ) -> QueryResult<Option<(User, Option<String>)>> {
        use diesel::sql_types::{Nullable, Text};
        let lowered = identity.to_lowercase();
        // Both lookups always run, each on its unique index; the address's user comes first. (An `OR` of
        // the two conditions on `users` scanned the whole table.)
        let named = diesel::dsl::sql::<Nullable<diesel::sql_types::Uuid>>(
            "(SELECT candidates.user_id FROM (SELECT emails.user_id, 0 AS rank FROM emails WHERE emails.address = ",
        )
        .bind::<Text, _>(lowered.clone())
        .sql(" UNION ALL SELECT named.id, 1 FROM users AS named WHERE lower(named.username) = ")
        .bind::<Text, _>(lowered)
        .sql(") AS candidates ORDER BY candidates.rank LIMIT 1)");
        users::table
            .left_join(local_credentials::table)
            .filter(users::id.nullable().eq(named))
            .select((User::as_select(), local_credentials::password_hash.nullable()))
            .first(conn)
            .await
            .optional()
    }

    /// The password hash of the user with this id, if they have local credentials.
    pub async fn password_hash(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<String>> {
        local_credentials::table.find(id).select(local_credentials::password_hash).first(conn).await.optional()
    }

    /// Whether a username is taken (case-insensitive).
    pub async fn username_taken(conn: &mut AsyncPgConnection, username: &str) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(
            users::table.filter(
                diesel::dsl::sql::<diesel::sql_types::Bool>("lower(users.username) = ")
                    .bind::<diesel::sql_types::Text, _>(username.to_lowercase()),
            ),
        ))
        .get_result(conn)
        .await
    }

    /// Applies `changes` to user `id`.
    pub async fn update(conn: &mut AsyncPgConnection, id: Uuid, changes: &UserChanges) -> QueryResult<User> {
        diesel::update(users::table.find(id)).set(changes).returning(User::as_returning()).get_result(conn).await
    }

    /// Number of users of the installation.
    pub async fn count(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
        users::table.count().get_result(conn).await
    }
}

impl Email {
    /// Inserts an email address.
    pub async fn insert(conn: &mut AsyncPgConnection, new: &NewEmail<'_>) -> QueryResult<Email> {
        diesel::insert_into(emails::table).values(new).returning(Email::as_returning()).get_result(conn).await
    }

    /// Whether an address is already in use.
    pub async fn address_taken(conn: &mut AsyncPgConnection, address: &str) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(emails::table.filter(emails::address.eq(address)))).get_result(conn).await
    }

    /// Every address of the given users.
    pub async fn for_users(conn: &mut AsyncPgConnection, user_ids: &[Uuid]) -> QueryResult<Vec<Email>> {
        emails::table
            .filter(emails::user_id.eq_any(user_ids))
            .order((emails::is_primary.desc(), emails::created_at))
            .select(Email::as_select())
            .load(conn)
            .await
    }
}

/// Stores (or replaces) a user's password hash.
pub async fn set_password_hash(conn: &mut AsyncPgConnection, user_id: Uuid, hash: &str) -> QueryResult<()> {
    diesel::insert_into(local_credentials::table)
        .values((local_credentials::user_id.eq(user_id), local_credentials::password_hash.eq(hash)))
        .on_conflict(local_credentials::user_id)
        .do_update()
        .set((local_credentials::password_hash.eq(hash), local_credentials::updated_at.eq(diesel::dsl::now)))
        .execute(conn)
        .await
        .map(|_| ())
}

/// User search as Houston's `UserSearch` input; empty fields are ignored.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Exact user id.
    pub user_id: Option<Uuid>,
    /// Username, case-insensitive substring.
    pub username: Option<String>,
    /// Email address, case-insensitive substring.
    pub email: Option<String>,
    /// Display name, case-insensitive substring.
    pub full_name: Option<String>,
}

fn like_pattern(text: &str) -> String {
    let escaped = text.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

impl User {
    /// Users matching `filter`, by username: the one query both searches start from.
    fn matching(
        filter: &UserFilter,
    ) -> users::BoxedQuery<'static, diesel::pg::Pg, diesel::dsl::AsSelect<User, diesel::pg::Pg>> {
        let mut query = users::table.select(User::as_select()).order((users::username, users::id)).into_boxed();
        if let Some(id) = filter.user_id {
            query = query.filter(users::id.eq(id));
        }
        if let Some(name) = &filter.username {
            query = query.filter(
                diesel::dsl::sql::<diesel::sql_types::Bool>("lower(users.username) LIKE ")
                    .bind::<diesel::sql_types::Text, _>(like_pattern(name)),
            );
        }
        if let Some(name) = &filter.full_name {
            query = query.filter(
                diesel::dsl::sql::<diesel::sql_types::Bool>("lower(coalesce(users.full_name, '')) LIKE ")
                    .bind::<diesel::sql_types::Text, _>(like_pattern(name)),
            );
        }
        if let Some(email) = &filter.email {
            let matching = emails::table.filter(emails::address.like(like_pattern(email))).select(emails::user_id);
            query = query.filter(users::id.eq_any(matching));
        }
        query
    }

    /// Users matching `filter`; with `workspace_id`, only users holding a role directly on that workspace.
    pub async fn search(
        conn: &mut AsyncPgConnection,
        filter: &UserFilter,
        workspace_id: Option<Uuid>,
        limit: i64,
    ) -> QueryResult<Vec<User>> {
        use crate::db::schema::role_bindings;
        let mut query = Self::matching(filter).limit(limit);
        if let Some(workspace_id) = workspace_id {
            let members = role_bindings::table
                .filter(role_bindings::workspace_id.eq(workspace_id))
                .filter(role_bindings::user_id.is_not_null())
                .select(role_bindings::user_id.assume_not_null());
            query = query.filter(users::id.eq_any(members));
        }
        query.load(conn).await
    }

    /// Users matching `filter` among `ids`, by username.
    pub async fn search_among(
        conn: &mut AsyncPgConnection,
        filter: &UserFilter,
        ids: &[Uuid],
    ) -> QueryResult<Vec<User>> {
        Self::matching(filter).filter(users::id.eq_any(ids.to_vec())).load(conn).await
    }

    /// `(workspace, user)` for every user holding a role directly on one of `workspace_ids`.
    pub async fn members_of_workspaces(
        conn: &mut AsyncPgConnection,
        workspace_ids: &[Uuid],
    ) -> QueryResult<Vec<(Uuid, User)>> {
        use crate::db::schema::role_bindings;
        role_bindings::table
            .inner_join(users::table.on(role_bindings::user_id.eq(users::id.nullable())))
            .filter(role_bindings::workspace_id.eq_any(workspace_ids))
            .order((users::username, users::id))
            .select((role_bindings::workspace_id.assume_not_null(), User::as_select()))
            .load(conn)
            .await
    }

    /// The user owning this email address.
    pub async fn find_by_email(conn: &mut AsyncPgConnection, address: &str) -> QueryResult<Option<User>> {
        users::table
            .inner_join(emails::table)
            .filter(emails::address.eq(address.to_lowercase()))
            .select(User::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// Deletes a user (emails, credentials, bindings and team memberships go with it).
    pub async fn delete(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<usize> {
        diesel::delete(users::table.find(id)).execute(conn).await
    }
}
