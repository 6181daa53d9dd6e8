//! The one query that loads a principal with its role bindings (SPEC §3: revocation is read in the same
//! query that loads the principal; the bindings are all a request's decisions need).
//!
//! The bindings are versioned (migration `2026-12-08-000001_authz_version`): the statement reads the
//! principal's `authz_version` and the shared `authz_epoch`, and packs the bindings only when the caller
//! does not already hold them at exactly these numbers ([`AuthzVersion`]). A principal holding a thousand
//! bindings then costs what one holding five does, in the same one statement.
//!
//! The statement is a cached prepared statement: its SQL is fixed text with bind parameters, marked safe
//! to cache and identified by its type, so PostgreSQL parses and plans it once per connection rather
//! than on every request (`sql()` literals are never cached by diesel).

use diesel::backend::Backend;
use diesel::expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping, is_aggregate};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Jsonb, Nullable};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::models::service_account::ServiceAccountRow;
use crate::db::models::user::User;
use crate::db::schema::{service_accounts, users};

/// The numbers that say which bindings a principal holds: its own version (moved by a change of its own
/// bindings or team memberships) and the shared epoch (moved by a change of what bindings share: team
/// bindings, custom roles, IP access lists, where workspaces and deployments belong). Both come from one
/// sequence and never repeat, so bindings read at equal numbers are the same bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthzVersion {
    /// The principal's `authz_version`.
    pub principal: i64,
    /// `authz_epoch.epoch`.
    pub epoch: i64,
}

impl AuthzVersion {
    /// No version the database ever holds (the sequence starts at 1): asks for the bindings.
    pub const NONE: AuthzVersion = AuthzVersion { principal: -1, epoch: -1 };
}

/// The packed bindings of a principal row, as an array of
/// `[id, role, target, team, ipAccessList, customRoleId, customPermissions]` (target: the organization,
/// workspace or deployment; null for system roles; ipAccessList: the IP access list of the target's
/// organization, null for system roles; the last two: the custom role a `*_CUSTOM` binding holds and its
/// permission strings, null otherwise). The list and the custom role's permissions come with the bindings
/// so that neither the IP rule nor a custom role costs a statement of its own.
///
/// For a user, the teams are an array (`= ANY(ARRAY(…))`) rather than `IN (SELECT …)`: PostgreSQL plans the
/// array form as two index scans joined by a bitmap OR, the subquery form as a scan of every binding
/// (measured on the bench data set: 0.25 ms against 3.4 ms; bench/README.md).
const PACKED_FROM: &str = "(SELECT coalesce(jsonb_agg(jsonb_build_array(rb.id, rb.role, \
     coalesce(rb.organization_id, rb.workspace_id, rb.deployment_id), rb.team_id, o.ip_access_list, \
     rb.custom_role_id, cr.permissions)), '[]'::jsonb) \
     FROM role_bindings rb \
     LEFT JOIN deployments d ON d.id = rb.deployment_id \
     LEFT JOIN workspaces w ON w.id = coalesce(rb.workspace_id, d.workspace_id) \
     LEFT JOIN organizations o ON o.id = coalesce(rb.organization_id, w.organization_id) \
     LEFT JOIN custom_roles cr ON cr.id = rb.custom_role_id AND cr.organization_id = o.id ";

const USER_WHERE: &str = "WHERE rb.user_id = users.id \
     OR rb.team_id = ANY(ARRAY(SELECT tm.team_id FROM team_members tm WHERE tm.user_id = users.id)))";

const SERVICE_ACCOUNT_WHERE: &str = "WHERE rb.service_account_id = service_accounts.id)";

/// The shared epoch, read in the statement's snapshot.
const EPOCH: &str = "(SELECT epoch FROM authz_epoch)";

/// For a user (`false`) or a service account (`true`): `CASE WHEN <row>.authz_version = $held AND epoch = $held THEN NULL ELSE <packed bindings> END`: the
/// bindings only when the caller's numbers are not the current ones. PostgreSQL evaluates the correlated
/// subquery of a CASE branch only when that branch is taken (bench/README.md shows the plan).
#[derive(Debug, Clone, Copy)]
pub struct PackedUnlessHeld<const SERVICE_ACCOUNT: bool> {
    held: AuthzVersion,
}

impl<const SERVICE_ACCOUNT: bool> Expression for PackedUnlessHeld<SERVICE_ACCOUNT> {
    type SqlType = Nullable<Jsonb>;
}

impl<const SERVICE_ACCOUNT: bool> QueryFragment<Pg> for PackedUnlessHeld<SERVICE_ACCOUNT> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        // Fixed text and two binds: safe to cache (nothing here calls `unsafe_to_cache_prepared`).
        let (version, filter) = if SERVICE_ACCOUNT {
            ("CASE WHEN service_accounts.authz_version = ", SERVICE_ACCOUNT_WHERE)
        } else {
            ("CASE WHEN users.authz_version = ", USER_WHERE)
        };
        out.push_sql(version);
        out.push_bind_param::<BigInt, i64>(&self.held.principal)?;
        out.push_sql(" AND ");
        out.push_sql(EPOCH);
        out.push_sql(" = ");
        out.push_bind_param::<BigInt, i64>(&self.held.epoch)?;
        out.push_sql(" THEN NULL ELSE ");
        out.push_sql(PACKED_FROM);
        out.push_sql(filter);
        out.push_sql(" END");
        Ok(())
    }
}

impl<const SERVICE_ACCOUNT: bool> QueryId for PackedUnlessHeld<SERVICE_ACCOUNT> {
    type QueryId = Self;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<const SERVICE_ACCOUNT: bool> ValidGrouping<()> for PackedUnlessHeld<SERVICE_ACCOUNT> {
    type IsAggregate = is_aggregate::Never;
}

impl<QS, const SERVICE_ACCOUNT: bool> AppearsOnTable<QS> for PackedUnlessHeld<SERVICE_ACCOUNT> {}
impl<QS, const SERVICE_ACCOUNT: bool> SelectableExpression<QS> for PackedUnlessHeld<SERVICE_ACCOUNT> {}

/// The shared epoch as a select expression.
#[derive(Debug, Clone, Copy, QueryId)]
pub struct CurrentEpoch;

impl Expression for CurrentEpoch {
    type SqlType = BigInt;
}

impl<DB: Backend> QueryFragment<DB> for CurrentEpoch {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql(EPOCH);
        Ok(())
    }
}

impl ValidGrouping<()> for CurrentEpoch {
    type IsAggregate = is_aggregate::Never;
}

impl<QS> AppearsOnTable<QS> for CurrentEpoch {}
impl<QS> SelectableExpression<QS> for CurrentEpoch {}

/// A principal row as the authentication statement returns it: the row, the numbers its bindings are at,
/// and the packed bindings unless the caller said it holds them at these numbers.
pub type Loaded<T> = (T, AuthzVersion, Option<serde_json::Value>);

fn loaded<T>((row, principal, epoch, packed): (T, i64, i64, Option<serde_json::Value>)) -> Loaded<T> {
    (row, AuthzVersion { principal, epoch }, packed)
}

/// The authentication statement for a user (a macro so that its concrete diesel type, which the statement
/// cache is keyed by, needs no spelling out).
macro_rules! user_statement {
    ($user_id:expr, $held:expr) => {
        users::table
            .find($user_id)
            .select((User::as_select(), users::authz_version, CurrentEpoch, PackedUnlessHeld::<false> { held: $held }))
            .limit(1)
    };
}

/// The authentication statement for a service account's key prefix.
macro_rules! service_account_statement {
    ($key_prefix:expr, $held:expr) => {
        service_accounts::table
            .filter(service_accounts::key_prefix.eq($key_prefix))
            .select((
                ServiceAccountRow::as_select(),
                service_accounts::authz_version,
                CurrentEpoch,
                PackedUnlessHeld::<true> { held: $held },
            ))
            .limit(1)
    };
}

/// A user, the numbers its bindings are at, and its packed bindings unless `held` are the current
/// numbers ([`AuthzVersion::NONE`]: always): one statement.
pub async fn user_with_bindings(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    held: AuthzVersion,
) -> QueryResult<Option<Loaded<User>>> {
    Ok(user_statement!(user_id, held).get_result(conn).await.optional()?.map(loaded))
}

/// The service account whose key has this public prefix, the numbers its bindings are at, and its packed
/// bindings unless `held` are the current numbers: one statement.
pub async fn service_account_with_bindings(
    conn: &mut AsyncPgConnection,
    key_prefix: &str,
    held: AuthzVersion,
) -> QueryResult<Option<Loaded<ServiceAccountRow>>> {
    Ok(service_account_statement!(key_prefix, held).get_result(conn).await.optional()?.map(loaded))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// diesel keeps a prepared statement per connection only for a query with a static id that is safe to
    /// cache; both statements must be, or PostgreSQL parses and plans them on every request.
    #[test]
    fn the_authentication_statements_are_cached_prepared_statements() {
        fn cacheable<Q: QueryFragment<Pg> + QueryId>(query: &Q) -> bool {
            Q::HAS_STATIC_QUERY_ID && query.is_safe_to_cache_prepared(&Pg).unwrap_or(false)
        }
        assert!(cacheable(&user_statement!(Uuid::nil(), AuthzVersion::NONE)));
        assert!(cacheable(&service_account_statement!("p", AuthzVersion::NONE)));
        let sql = diesel::debug_query::<Pg, _>(&user_statement!(Uuid::nil(), AuthzVersion::NONE)).to_string();
        assert!(sql.contains("CASE WHEN users.authz_version = $1 AND (SELECT epoch FROM authz_epoch) = $2"), "{sql}");
    }
}
