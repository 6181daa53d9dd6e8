//! Identity operations: sign-up, sign-in, the caller's own account.

use std::sync::Arc;

use async_graphql::{Context, Json, Object, Result};

use crate::auth::password::PasswordHasher;
use crate::domain::passwords;
use crate::domain::users::{self, SelfChanges, SignUp, SignUpPolicy, Throttle};
use crate::error::ApiError;
use crate::graphql::allowance::RequestAllowance;
use crate::graphql::authz::{Access, Member, Op, access};
use crate::graphql::context::{actor, conn, principal, state};
use crate::graphql::payload::Payload;
use crate::graphql::types::auth::{AuthUser, Token, TokenPayload};
use crate::graphql::types::user::User;
use crate::rbac::Ancestry;
use crate::state::AppState;

/// Identity queries.
#[derive(Default)]
pub struct UserQuery;

#[Object(guard = "Op")]
impl UserQuery {
    /// The signed-in user.
    #[graphql(name = "self")]
    async fn self_(&self, ctx: &Context<'_>) -> Result<User> {
        let caller = principal(ctx);
        own(access(ctx)?, caller.user()?.user.clone()).await
    }
}

/// The caller's own record (always readable by the caller).
async fn own(access: &Access, user: users::User) -> Result<User> {
    Ok(User::from(access.admit_one(Member { user, via: Ancestry::SYSTEM }).await?))
}

/// The request's allowance (SPEC §7: one password check and one hash per request). Every executed
/// request carries one (`crate::graphql::GraphqlService` attaches it); without it the bound would not
/// hold, so its absence refuses (INTERNAL) rather than lets a hash through.
fn allowance<'a>(ctx: &'a Context<'_>) -> Result<&'a Arc<RequestAllowance>> {
    Ok(ctx.data_opt::<Arc<RequestAllowance>>().ok_or_else(|| ApiError::internal("a request without its allowance"))?)
}

/// The password hasher of this request: at most one hash per request (the
/// [`HashPermit`](crate::auth::password::HashPermit) of its
/// [`RequestAllowance`]), SPEC §7.
fn request_hasher(ctx: &Context<'_>, state: &AppState) -> Result<PasswordHasher> {
    Ok(state.passwords.for_request(allowance(ctx)?.password.clone()))
}

/// Claims the request's one password check (SPEC §7) before any other work of a sign-up or sign-in: a
/// second one in the same request (alias or batched operation) is refused without a statement.
fn claim_password_check(ctx: &Context<'_>) -> Result<()> {
    allowance(ctx)?.password.claim()?;
    Ok(())
}

/// Identity mutations.
#[derive(Default)]
pub struct UserMutation;

/// The signed-in user and a new token. The rest of the request reads as that user.
async fn auth_user(state: &AppState, access: &Access, user: users::User) -> Result<AuthUser> {
    let claims = state.keys.claims_for(user.id, state.clock.now(), user.tokens_valid_after);
    let value = state.keys.sign(&claims).map_err(ApiError::internal)?;
    access.sign_in_as(user.id).await?;
    Ok(AuthUser {
        token: Token { value, payload: TokenPayload { uuid: user.id.into(), iat: claims.iat, exp: claims.exp } },
        user: own(access, user).await?,
    })
}

#[Object(guard = "Op")]
impl UserMutation {
    /// Creates an account and signs it in. The first account of an installation becomes the system
    /// administrator; later ones need public sign-ups or an invite token for the same email address.
    async fn create_user(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
        username: Option<String>,
        profile: Option<Json<serde_json::Value>>,
        invite_token: Option<String>,
    ) -> Result<AuthUser> {
        claim_password_check(ctx)?;
        let state = state(ctx)?;
        let mut conn = conn(ctx).await?;
        let actor = actor(ctx);
        let address =
            users::admit_sign_up_attempt(&mut conn, state.clock.now(), Throttle::from_state(state), &actor).await?;
        let input = SignUp { email, password, username, profile: profile.map(|p| p.0), invite_token };
        let passwords = request_hasher(ctx, state)?;
        let policy = SignUpPolicy { passwords: &passwords, ..SignUpPolicy::from_state(state) };
        let user = users::sign_up(&mut conn, input, policy, state.clock.now(), &actor).await?;
        // Best effort: the account exists; a failure here only leaves the attempt counted.
        if let Err(error) = users::sign_up_succeeded(&mut conn, address.as_deref()).await {
            tracing::warn!(%error, "could not give back a sign-up attempt");
        }
        drop(conn);
        auth_user(state, access(ctx)?, user).await
    }

    /// Signs in with an email address or username and a password.
    async fn create_token(&self, ctx: &Context<'_>, identity: Option<String>, password: String) -> Result<AuthUser> {
        claim_password_check(ctx)?;
        let state = state(ctx)?;
        let mut conn = conn(ctx).await?;
        let passwords = request_hasher(ctx, state)?;
        let throttle = Throttle { passwords: &passwords, ..Throttle::from_state(state) };
        let identity = identity.unwrap_or_default();
        let user = users::sign_in(&mut conn, &identity, password, state.clock.now(), throttle, &actor(ctx)).await?;
        drop(conn);
        auth_user(state, access(ctx)?, user).await
    }

    /// Exchanges the one-time code that `/v1/oauth/callback` handed the console (`signInCode`) for a
    /// token. A code works once, within two minutes.
    async fn exchange_sign_in_code(&self, ctx: &Context<'_>, code: String) -> Result<AuthUser> {
        let state = state(ctx)?;
        let mut conn = conn(ctx).await?;
        let user =
            crate::domain::identity_providers::exchange_code(&mut conn, code.trim(), state.clock.now(), &actor(ctx))
                .await?;
        drop(conn);
        auth_user(state, access(ctx)?, user).await
    }

    /// Changes the caller's own account. `payload` may hold `username`, `fullName` and `profile`.
    async fn update_self(&self, ctx: &Context<'_>, payload: Json<serde_json::Value>) -> Result<User> {
        let caller = principal(ctx);
        let changes = self_changes(&payload.0)?;
        let state = state(ctx)?;
        let mut conn = conn(ctx).await?;
        let user =
            users::update_self(&mut conn, caller.user()?.user.id, changes, state.clock.now(), &actor(ctx)).await?;
        drop(conn);
        own(access(ctx)?, user).await
    }

    /// Changes the caller's password (SPEC §3): `currentPassword` must be right (a wrong one is
    /// BAD_USER_INPUT on `currentPassword` and counts toward the sign-in throttle), `newPassword` 8 to 1024
    /// characters. Every token issued before stops working; the answer holds a fresh one.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        current_password: String,
        new_password: String,
    ) -> Result<AuthUser> {
        let caller = principal(ctx);
        let user_id = caller.user()?.user.id;
        // One password change per request (it checks the current password and hashes the new one: two
        // hashes, the most any request may cause).
        claim_password_check(ctx)?;
        let state = state(ctx)?;
        let mut conn = conn(ctx).await?;
        let throttle = Throttle::from_state(state);
        let user = passwords::change(
            &mut conn,
            user_id,
            current_password,
            new_password,
            state.clock.now(),
            throttle,
            &actor(ctx),
        )
        .await?;
        drop(conn);
        auth_user(state, access(ctx)?, user).await
    }

    /// Mails a one-time link (valid one hour) to reset the password of the account with this address.
    /// Always `true`, whether or not the address has an account, so the answer reveals nothing; requests
    /// past the per-address and per-client limits send no mail.
    async fn request_password_reset(&self, ctx: &Context<'_>, email: String) -> Result<bool> {
        let state = state(ctx)?;
        let mut conn = conn(ctx).await?;
        let settings =
            passwords::ResetSettings { public_url: &state.config.public_url, throttle: Throttle::from_state(state) };
        passwords::request_reset(&mut conn, &email, state.clock.now(), settings, &actor(ctx)).await?;
        Ok(true)
    }

    /// Sets a new password with the token of a reset mail (once, within the hour). Every token of the
    /// account stops working; sign in with the new password.
    async fn reset_password(&self, ctx: &Context<'_>, token: String, password: String) -> Result<bool> {
        claim_password_check(ctx)?;
        let state = state(ctx)?;
        let mut conn = conn(ctx).await?;
        let hasher = request_hasher(ctx, state)?;
        passwords::reset(&mut conn, &token, password, state.clock.now(), &hasher, &actor(ctx)).await?;
        Ok(true)
    }

    /// Removes a person's password, revokes their tokens and mails them a reset link (system admins).
    async fn force_password_reset(&self, ctx: &Context<'_>, user_uuid: crate::graphql::scalars::Uuid) -> Result<bool> {
        let user_id = user_uuid.required("userUuid")?;
        let state = state(ctx)?;
        let mut conn = conn(ctx).await?;
        passwords::force_reset(&mut conn, user_id, state.clock.now(), &state.config.public_url, &actor(ctx)).await?;
        Ok(true)
    }

    /// Signs the caller out everywhere: every token issued to it so far stops working.
    async fn logout(&self, ctx: &Context<'_>) -> Result<bool> {
        let caller = principal(ctx);
        let state = state(ctx)?;
        let mut conn = conn(ctx).await?;
        users::revoke_tokens(&mut conn, caller.user()?.user.id, state.clock.now(), &actor(ctx)).await?;
        Ok(true)
    }
}

/// Reads `updateSelf`'s JSON payload; unknown keys and wrong types are BAD_USER_INPUT.
fn self_changes(payload: &serde_json::Value) -> Result<SelfChanges, ApiError> {
    let payload = Payload::parse(payload, &["username", "fullName", "profile"], "updateSelf")?;
    Ok(SelfChanges {
        username: payload.text("username")?,
        full_name: payload.text("fullName")?,
        profile: payload.value("profile").cloned(),
    })
}
