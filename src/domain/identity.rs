//! Who a person is (SPEC §3.1): the rules every path that links, adopts or changes an account on an
//! organization's behalf (its OpenID Connect provider, its SCIM client) goes through.
//!
//! - An organization's provider and SCIM client act only on accounts of that organization's verified
//!   domains, and never on an account that holds a system role (SYSTEM_*, directly or through a team):
//!   such accounts sign in by password; an organization cannot adopt, sign in, deactivate, rename or delete
//!   them ([`require_within_reach`]).
//! - Adopting an existing account whose address was never verified first takes every other way in away
//!   from it ([`adopt`]): whoever registered the address before the company cannot stay in.
//! - An address is marked verified only on the account that holds it ([`adopt`]).
//!
//! These run inside the caller's transaction.

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use serde_json::json;
use uuid::Uuid;

use crate::db::models::identity as rows;
use crate::db::models::user::{Email, User, UserChanges};
use crate::domain::{managed_domains, users};
use crate::error::{ApiError, ApiResult};

/// Why an organization's provider or SCIM client cannot act on an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutOfReach {
    /// The account holds a system role (directly or through a team).
    SystemRole,
    /// None of the account's addresses is of a domain the organization verified.
    OtherDomain,
}

/// Takes the installation row's lock in shared mode: no system role can be granted (that takes it
/// exclusively) until the transaction ends, so what [`require_within_reach`] finds stays true. It is
/// the first lock of the order (crate::domain::memberships): a transaction acting for an organization's
/// provider or SCIM client takes it before any organization, workspace, team or user row.
pub async fn hold_reach(tx: &mut AsyncPgConnection) -> ApiResult<()> {
    Ok(rows::share_installation(tx).await?)
}

/// Whether an organization's provider or SCIM client may act on `user_id`: `Ok(())`, or why not. Takes a
/// shared lock on the installation row first ([`hold_reach`]), so that no system role is granted to the
/// account until the caller's transaction ends; a caller that locks other rows takes [`hold_reach`]
/// before them.
pub async fn require_within_reach(
    tx: &mut AsyncPgConnection,
    organization_id: Uuid,
    user_id: Uuid,
) -> ApiResult<Result<(), OutOfReach>> {
    hold_reach(tx).await?;
    if rows::holds_system_role(tx, user_id).await? {
        return Ok(Err(OutOfReach::SystemRole));
    }
    for email in Email::for_users(tx, &[user_id]).await? {
        if managed_domains::verified_owner(tx, &email.address).await? == Some(organization_id) {
            return Ok(Ok(()));
        }
    }
    Ok(Err(OutOfReach::OtherDomain))
}

/// Whether the account holds a system role, directly or through a team.
pub async fn holds_system_role(conn: &mut AsyncPgConnection, user_id: Uuid) -> ApiResult<bool> {
    Ok(rows::holds_system_role(conn, user_id).await?)
}

/// Organization `organization_id`'s provider or SCIM client takes on `address` of `user` (the caller
/// holds the user's row lock and checked [`require_within_reach`]). When the address was never verified,
/// whoever registered it may not be the address's owner, so every other way in to the account goes
/// first: the password is removed, every token revoked (`tokensValidAfter` moves), its provider links and
/// unused sign-in codes are forgotten, and the API keys it created in *this* organization are
/// deactivated. Keys it created in other organizations belong to those organizations (their owners
/// granted them their roles) and are left to them: one tenant's sign-in settings never change another
/// tenant's resources. Then the address is marked verified. Returns what was taken away, for the caller's
/// audit event, which is filed under this organization (`null` when the address was verified already).
pub async fn adopt(
    tx: &mut AsyncPgConnection,
    organization_id: Uuid,
    user: &User,
    address: &str,
    now: DateTime<Utc>,
) -> ApiResult<serde_json::Value> {
    let verified = rows::address_verified(tx, user.id, address)
        .await?
        .ok_or_else(|| ApiError::internal("adopting an address the account does not hold"))?;
    if verified {
        return Ok(serde_json::Value::Null);
    }
    let password_removed = rows::remove_password(tx, user.id).await?;
    let keys_deactivated = rows::deactivate_keys_created_by_in(tx, user.id, organization_id, now).await?;
    let links_removed = rows::unlink_everything(tx, user.id).await?;
    User::update(
        tx,
        user.id,
        &UserChanges {
            tokens_valid_after: Some(users::next_revocation(now, user.tokens_valid_after)),
            updated_at: Some(now),
            ..UserChanges::default()
        },
    )
    .await?;
    rows::verify_own_address(tx, user.id, address).await?;
    Ok(json!({
        "unverifiedAddressTakenOver": address,
        "passwordRemoved": password_removed,
        "tokensRevoked": true,
        "apiKeysDeactivated": keys_deactivated,
        "providerLinksRemoved": links_removed,
    }))
}
