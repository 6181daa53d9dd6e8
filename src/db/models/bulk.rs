//! Multi-row inserts and lookups for bulk operations (an operator's import, `capcom seed`): the same rows
//! the one-at-a-time queries of each table's module write, a thousand at a time (audit events excepted:
//! they are written by their model's own insert).

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::models::audit_event::NewAuditEvent;
use crate::db::models::role_binding::NewRoleBinding;
use crate::db::models::user::{NewEmail, NewUser};
use crate::db::schema::{
    audit_events, deployments, emails, local_credentials, role_bindings, service_accounts, users, workspaces,
};

/// Rows per statement: well below PostgreSQL's 65 535 bind parameters for every table here.
const CHUNK: usize = 1000;

/// Inserts users.
pub async fn insert_users(conn: &mut AsyncPgConnection, rows: &[NewUser<'_>]) -> QueryResult<()> {
    for chunk in rows.chunks(CHUNK) {
        diesel::insert_into(users::table).values(chunk).execute(conn).await?;
    }
    Ok(())
}

/// Inserts email addresses.
pub async fn insert_emails(conn: &mut AsyncPgConnection, rows: &[NewEmail<'_>]) -> QueryResult<()> {
    for chunk in rows.chunks(CHUNK) {
        diesel::insert_into(emails::table).values(chunk).execute(conn).await?;
    }
    Ok(())
}

/// Stores password hashes (PHC strings) of new users.
pub async fn insert_password_hashes(conn: &mut AsyncPgConnection, user_ids: &[Uuid], hash: &str) -> QueryResult<()> {
    for chunk in user_ids.chunks(CHUNK) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|id| (local_credentials::user_id.eq(*id), local_credentials::password_hash.eq(hash)))
            .collect();
        diesel::insert_into(local_credentials::table).values(rows).execute(conn).await?;
    }
    Ok(())
}

/// Inserts role bindings.
pub async fn insert_role_bindings(conn: &mut AsyncPgConnection, rows: &[NewRoleBinding<'_>]) -> QueryResult<()> {
    for chunk in rows.chunks(CHUNK) {
        diesel::insert_into(role_bindings::table).values(chunk).execute(conn).await?;
    }
    Ok(())
}

/// Inserts audit events, each through [`NewAuditEvent::insert`] (one statement each): the audit trail is
/// written one way only, whatever the caller.
pub async fn insert_audit_events(conn: &mut AsyncPgConnection, rows: &[NewAuditEvent]) -> QueryResult<()> {
    for row in rows {
        row.insert(conn).await?;
    }
    Ok(())
}

/// Which of `addresses` belong to a user already.
pub async fn taken_addresses(conn: &mut AsyncPgConnection, addresses: &[String]) -> QueryResult<Vec<String>> {
    let mut taken = Vec::new();
    for chunk in addresses.chunks(CHUNK) {
        taken.extend(
            emails::table.filter(emails::address.eq_any(chunk)).select(emails::address).load::<String>(conn).await?,
        );
    }
    Ok(taken)
}

/// Which of `usernames` are taken (compared case-insensitively, as the unique index does).
pub async fn taken_usernames(conn: &mut AsyncPgConnection, usernames: &[String]) -> QueryResult<Vec<String>> {
    let lowered: Vec<String> = usernames.iter().map(|name| name.to_lowercase()).collect();
    let mut taken = Vec::new();
    for chunk in lowered.chunks(CHUNK) {
        taken.extend(
            users::table
                .filter(diesel::dsl::sql::<diesel::sql_types::Text>("lower(username)").eq_any(chunk))
                .select(users::username)
                .load::<String>(conn)
                .await?,
        );
    }
    Ok(taken)
}

/// The ids of the users with these (lower-case) addresses, by address.
pub async fn user_ids_by_email(
    conn: &mut AsyncPgConnection,
    addresses: &[String],
) -> QueryResult<std::collections::HashMap<String, Uuid>> {
    let mut found = std::collections::HashMap::new();
    for chunk in addresses.chunks(CHUNK) {
        let rows: Vec<(String, Uuid)> = emails::table
            .filter(emails::address.eq_any(chunk))
            .select((emails::address, emails::user_id))
            .load(conn)
            .await?;
        found.extend(rows);
    }
    Ok(found)
}

/// Users holding a role directly on workspace `workspace_id`.
pub async fn workspace_member_ids(conn: &mut AsyncPgConnection, workspace_id: Uuid) -> QueryResult<Vec<Uuid>> {
    role_bindings::table
        .filter(role_bindings::workspace_id.eq(workspace_id))
        .filter(role_bindings::scope.eq("WORKSPACE"))
        .filter(role_bindings::user_id.is_not_null())
        .select(role_bindings::user_id.assume_not_null())
        .load(conn)
        .await
}

/// Rows in the tables an installation is made of.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableCounts {
    /// Users.
    pub users: i64,
    /// Workspaces.
    pub workspaces: i64,
    /// Live deployments.
    pub deployments: i64,
    /// Role bindings.
    pub role_bindings: i64,
    /// Service accounts.
    pub service_accounts: i64,
    /// Audit events.
    pub audit_events: i64,
}

/// Counts the rows of the main tables.
pub async fn table_counts(conn: &mut AsyncPgConnection) -> QueryResult<TableCounts> {
    Ok(TableCounts {
        users: users::table.count().get_result(conn).await?,
        workspaces: workspaces::table.count().get_result(conn).await?,
        deployments: deployments::table.filter(deployments::deleted_at.is_null()).count().get_result(conn).await?,
        role_bindings: role_bindings::table.count().get_result(conn).await?,
        service_accounts: service_accounts::table.count().get_result(conn).await?,
        audit_events: audit_events::table.count().get_result(conn).await?,
    })
}
