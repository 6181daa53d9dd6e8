//! Password changes and resets (SPEC §3: argon2id, at least 8 characters, throttled checks; a password
//! change revokes older tokens). See docs/identity.md's neighbour, docs/operations.md "Passwords".
//!
//! - `change`: a signed-in person proves the current password (counted by the sign-in throttle, under
//!   their username), sets a new one, and every token issued before stops working.
//! - `request_reset`: mails a one-time link (`<CAPCOM_PUBLIC_URL>/console/#/reset-password?token=…`, valid
//!   one hour, stored as a SHA-256 hash) to an address that belongs to an active account. The answer is
//!   the same whether or not the address exists; requests are counted per address and per client address,
//!   and past either limit are dropped without a mail (still the same answer).
//! - `reset`: takes the token (once), sets the password, revokes every token and clears the sign-in
//!   throttle of the account's identities.
//! - `force_reset`: a system admin removes a person's password, revokes their tokens and mails them a link.
//!
//! Accounts an organization's SCIM client or identity provider manages get no reset: their mail says to
//! use the company's sign-in, and `change`/`force_reset` are BAD_USER_INPUT saying so.
//!
//! Hashing goes through `PasswordHasher` (`src/auth/password.rs`), the one function every hashing path uses.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::auth::password::PasswordHasher;
use crate::db::models::invite::OutboxMessage;
use crate::db::models::login_failure::{self, FailureKey};
use crate::db::models::password_reset;
use crate::db::models::user::{Email, User, UserChanges, set_password_hash};
use crate::domain::audit::{self, Change};
use crate::domain::users::{MSG_THROTTLED, Throttle, address_key, next_revocation};
use crate::domain::{Actor, invites, validate};
use crate::error::{ApiError, ApiResult};

/// Prefix of reset tokens, so that a leaked one is recognizable.
pub const TOKEN_PREFIX: &str = "ccr_";

/// How long a reset link works.
pub fn reset_lifetime() -> Duration {
    Duration::hours(1)
}

/// The message of a managed account.
pub const MSG_MANAGED: &str = "This account signs in through its organization's identity provider (single sign-on or SCIM); \
     its password is managed there";

/// What a reset is sent with.
#[derive(Debug, Clone, Copy)]
pub struct ResetSettings<'a> {
    /// `CAPCOM_PUBLIC_URL`: where the console's reset page is.
    pub public_url: &'a str,
    /// Request limits (the sign-in throttle's numbers and window).
    pub throttle: Throttle<'a>,
}

fn new_token() -> ApiResult<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::internal(format!("randomness: {e}")))?;
    Ok(format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.trim().as_bytes()).to_vec()
}

/// Sets `hash` as the password of `user_id` and revokes every token issued up to `now`; deletes the
/// user's other reset tokens. Returns the user with its new revocation instant.
async fn set_and_revoke(
    tx: &mut AsyncPgConnection,
    user_id: Uuid,
    hash: Option<&str>,
    now: DateTime<Utc>,
) -> ApiResult<User> {
    let before = User::find_for_update(tx, user_id).await?.ok_or(ApiError::NotFound)?;
    match hash {
        Some(hash) => set_password_hash(tx, user_id, hash).await?,
        None => password_reset::remove_password(tx, user_id).await?,
    }
    password_reset::delete_for_user(tx, user_id).await?;
    let revoked_at = next_revocation(now, before.tokens_valid_after);
    Ok(User::update(
        tx,
        user_id,
        &UserChanges { tokens_valid_after: Some(revoked_at), updated_at: Some(now), ..UserChanges::default() },
    )
    .await?)
}

/// Changes the password of the signed-in person `user_id`: BAD_USER_INPUT on `newPassword` for a password
/// out of bounds, on `currentPassword` when the current one is wrong (nothing changes), UNAUTHENTICATED
/// past the sign-in throttle. Returns the user; the caller issues a fresh token (older ones are revoked).
pub async fn change(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    current: String,
    new: String,
    now: DateTime<Utc>,
    throttle: Throttle<'_>,
    actor: &Actor,
) -> ApiResult<User> {
    validate::password("newPassword", &new)?;
    if current.chars().count() > crate::auth::password::MAX_LENGTH {
        return Err(ApiError::bad_input("currentPassword", "The current password is not correct"));
    }
    let user = User::find(conn, user_id).await?.ok_or(ApiError::NotFound)?;
    if password_reset::managed_elsewhere(conn, user_id).await? {
        return Err(ApiError::bad_input("currentPassword", MSG_MANAGED));
    }
    // Counted like a sign-in by username, before the check, so guesses through this mutation are
    // throttled together with guesses at the sign-in form.
    let identity = user.username.to_lowercase();
    let address = actor.client_address.as_deref().and_then(address_key);
    if throttle.count_attempt(conn, &identity, address.as_deref(), now).await? {
        return Err(ApiError::Unauthenticated(MSG_THROTTLED.to_owned()));
    }
    // By id: looked up by the username, the check could find another user, whose name lowercases (in
    // PostgreSQL) to what this one's does in Rust, and verify against their hash.
    let stored = User::password_hash(conn, user_id).await?;
    if !throttle.passwords.verify(current, stored).await? {
        return Err(ApiError::bad_input("currentPassword", "The current password is not correct"));
    }
    let hash = throttle.passwords.hash(new).await?;
    if let Some(address) = &address {
        login_failure::release(conn, FailureKey::Address(address)).await?;
    }
    conn.transaction(async |tx| {
        login_failure::clear(tx, FailureKey::Identity(&identity)).await?;
        let user = set_and_revoke(tx, user_id, Some(&hash), now).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "user.password.change",
                target_type: "user",
                target_id: Some(user_id),
                ..Change::default()
            },
        )
        .await?;
        Ok(user)
    })
    .await
}

/// Mails a reset link for `user`, or, for an account managed elsewhere, a mail saying so. Runs in `tx`.
async fn mail_reset(
    tx: &mut AsyncPgConnection,
    user: &User,
    address: &str,
    now: DateTime<Utc>,
    public_url: &str,
) -> ApiResult<()> {
    if password_reset::managed_elsewhere(tx, user.id).await? {
        let body = "Someone asked to reset the password of your capcom account.\n\n\
             Your account signs in through your organization's identity provider (single sign-on), so it has \
             no capcom password to reset: sign in with your company account, or ask your administrator.\n";
        OutboxMessage::enqueue(tx, address, "Your capcom password", body).await?;
        return Ok(());
    }
    let token = new_token()?;
    let expires_at = now + reset_lifetime();
    password_reset::insert(tx, &token_hash(&token), user.id, expires_at).await?;
    let body = format!(
        "Someone asked to reset the password of your capcom account ({username}).\n\n\
         Choose a new password: {link}\n\n\
         Or call resetPassword(token, password) with this token: {token}\n\n\
         The link works once, until {expires}. If you did not ask, ignore this mail: your password stays as it is.\n",
        username = user.username,
        link = invites::console_link(public_url, "reset-password", &token),
        expires = expires_at.to_rfc3339(),
    );
    OutboxMessage::enqueue(tx, address, "Reset your capcom password", &body).await?;
    Ok(())
}

/// Asks for a reset link for `email`. Always `Ok(())` for a well-formed address, whether or not it belongs
/// to an account and whether or not a limit dropped the request, so the answer tells nothing.
pub async fn request_reset(
    conn: &mut AsyncPgConnection,
    email: &str,
    now: DateTime<Utc>,
    settings: ResetSettings<'_>,
    actor: &Actor,
) -> ApiResult<()> {
    let email = email.trim().to_lowercase();
    if email.is_empty() || email.chars().count() > validate::MAX_EMAIL || !email.contains('@') {
        return Err(ApiError::bad_input("email", "Enter the email address of your account"));
    }
    let throttle = settings.throttle;
    let client = actor.client_address.as_deref().and_then(address_key);
    let by_email = login_failure::record_failure(conn, FailureKey::ResetEmail(&email), now, throttle.window).await?;
    let by_client = match &client {
        Some(client) => {
            login_failure::record_failure(conn, FailureKey::ResetAddress(client), now, throttle.window).await?
        }
        None => 0,
    };
    let dropped = by_email > throttle.max_failures || by_client > throttle.max_failures_per_address;
    conn.transaction(async |tx| {
        let user = User::find_by_email(tx, &email).await?.filter(|u| u.status == "active");
        let mailed = match (&user, dropped) {
            (Some(user), false) => {
                mail_reset(tx, user, &email, now, settings.public_url).await?;
                true
            }
            _ => false,
        };
        // The event names the account when there is one (system viewers read events), never the token.
        audit::record(
            tx,
            actor,
            Change {
                action: "user.password.resetRequested",
                target_type: "user",
                target_id: user.as_ref().map(|u| u.id),
                after: Some(serde_json::json!({"mailed": mailed, "throttled": dropped})),
                ..Change::default()
            },
        )
        .await?;
        Ok(())
    })
    .await
}

/// Sets a new password with a reset token: BAD_USER_INPUT on `token` when it is unknown, used or expired
/// (one message for all three), on `password` when out of bounds. Revokes every token of the account and
/// clears the sign-in throttle of its identities.
pub async fn reset(
    conn: &mut AsyncPgConnection,
    token: &str,
    password: String,
    now: DateTime<Utc>,
    passwords: &PasswordHasher,
    actor: &Actor,
) -> ApiResult<User> {
    validate::password("password", &password)?;
    let invalid = || ApiError::bad_input("token", "This reset link is invalid, was used already or has expired");
    if !token.trim().starts_with(TOKEN_PREFIX) || token.len() > 128 {
        return Err(invalid());
    }
    // Cheap before dear (SPEC §7): a token that names no live reset costs a lookup, never a hash.
    let hashed_token = token_hash(token);
    if !password_reset::is_live(conn, &hashed_token, now).await? {
        return Err(invalid());
    }
    let hash = passwords.hash(password).await?;
    conn.transaction(async |tx| {
        let user_id = password_reset::take(tx, &hashed_token, now).await?.ok_or_else(invalid)?;
        let user = set_and_revoke(tx, user_id, Some(&hash), now).await?;
        login_failure::clear(tx, FailureKey::Identity(&user.username.to_lowercase())).await?;
        for email in Email::for_users(tx, &[user_id]).await? {
            login_failure::clear(tx, FailureKey::Identity(&email.address)).await?;
        }
        audit::record(
            tx,
            &actor.as_user(user.id, &user.username),
            Change {
                action: "user.password.reset",
                target_type: "user",
                target_id: Some(user_id),
                ..Change::default()
            },
        )
        .await?;
        Ok(user)
    })
    .await
}

/// A system admin's forced reset of `user_id`: removes the password, revokes every token and mails a reset
/// link to the account's addresses. NOT_FOUND for no such user; BAD_USER_INPUT on `userUuid` for an account
/// managed elsewhere.
pub async fn force_reset(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    now: DateTime<Utc>,
    public_url: &str,
    actor: &Actor,
) -> ApiResult<User> {
    conn.transaction(async |tx| {
        let user = User::find_for_update(tx, user_id).await?.ok_or(ApiError::NotFound)?;
        if password_reset::managed_elsewhere(tx, user_id).await? {
            return Err(ApiError::bad_input("userUuid", MSG_MANAGED));
        }
        let user_after = set_and_revoke(tx, user_id, None, now).await?;
        for email in Email::for_users(tx, &[user_id]).await? {
            mail_reset(tx, &user, &email.address, now, public_url).await?;
        }
        audit::record(
            tx,
            actor,
            Change {
                action: "user.password.forceReset",
                target_type: "user",
                target_id: Some(user_id),
                ..Change::default()
            },
        )
        .await?;
        Ok(user_after)
    })
    .await
}
