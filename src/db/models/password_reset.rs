//! `password_resets`: one-time password-reset tokens, stored as SHA-256 hashes; and the rows that say an
//! account's password is managed elsewhere (SCIM, an identity provider).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::{external_identities, local_credentials, password_resets, scim_users};

/// Stores a reset token's hash for `user_id`, valid until `expires_at`.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    token_hash: &[u8],
    user_id: Uuid,
    expires_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(password_resets::table)
        .values((
            password_resets::token_hash.eq(token_hash),
            password_resets::user_id.eq(user_id),
            password_resets::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Whether `token_hash` names a reset token that has not expired (without using it): the cheap check
/// that runs before a new password is hashed.
pub async fn is_live(conn: &mut AsyncPgConnection, token_hash: &[u8], now: DateTime<Utc>) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        password_resets::table.find(token_hash).filter(password_resets::expires_at.gt(now)),
    ))
    .get_result(conn)
    .await
}

/// Takes the token with this hash: deletes it and answers its user when it had not expired at `now`.
/// One statement, so two uses of one token at once cannot both succeed.
pub async fn take(conn: &mut AsyncPgConnection, token_hash: &[u8], now: DateTime<Utc>) -> QueryResult<Option<Uuid>> {
    let taken: Option<(Uuid, DateTime<Utc>)> = diesel::delete(password_resets::table.find(token_hash))
        .returning((password_resets::user_id, password_resets::expires_at))
        .get_result(conn)
        .await
        .optional()?;
    Ok(taken.filter(|(_, expires_at)| *expires_at > now).map(|(user, _)| user))
}

/// Deletes every reset token of `user_id` (after a reset, a change or a forced reset).
pub async fn delete_for_user(conn: &mut AsyncPgConnection, user_id: Uuid) -> QueryResult<()> {
    diesel::delete(password_resets::table.filter(password_resets::user_id.eq(user_id))).execute(conn).await.map(|_| ())
}

/// Whether an organization's SCIM client or identity provider manages `user_id` (then its password, if
/// any, is not capcom's to reset).
pub async fn managed_elsewhere(conn: &mut AsyncPgConnection, user_id: Uuid) -> QueryResult<bool> {
    let scim: i64 = scim_users::table.filter(scim_users::user_id.eq(user_id)).count().get_result(conn).await?;
    if scim > 0 {
        return Ok(true);
    }
    let oidc: i64 =
        external_identities::table.filter(external_identities::user_id.eq(user_id)).count().get_result(conn).await?;
    Ok(oidc > 0)
}

/// Removes a user's password (a forced reset): until a reset sets a new one, no password signs in.
pub async fn remove_password(conn: &mut AsyncPgConnection, user_id: Uuid) -> QueryResult<()> {
    diesel::delete(local_credentials::table.find(user_id)).execute(conn).await.map(|_| ())
}
