//! Identity operations: sign-up, sign-in, the caller's own account.

use async_graphql::{Context, Json, Object, Result};

use crate::domain::users::{self, SelfChanges, SignUp, SignUpPolicy, Throttle};
use crate::error::ApiError;
use crate::graphql::context::{actor, conn, principal, state};
use crate::graphql::payload::Payload;
use crate::graphql::types::auth::{AuthUser, Token, TokenPayload};
use crate::graphql::types::user::User;
use crate::state::AppState;

/// Identity queries.
#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
    /// The signed-in user.
    #[graphql(name = "self")]
    async fn self_(&self, ctx: &Context<'_>) -> Result<User> {
        let caller = principal(ctx).user()?;
        Ok(User(caller.user.clone()))
    }
}

/// Identity mutations.
#[derive(Default)]
pub struct UserMutation;

fn auth_user(state: &AppState, user: users::User) -> Result<AuthUser> {
    let claims = state.keys.claims_for(user.id, state.clock.now(), user.tokens_valid_after);
    let value = state.keys.sign(&claims).map_err(ApiError::internal)?;
    Ok(AuthUser {
        token: Token { value, payload: TokenPayload { uuid: user.id.into(), iat: claims.iat, exp: claims.exp } },
        user: User(user),
    })
}

#[Object]
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
        let state = state(ctx)?;
        let mut conn = conn(ctx).await?;
        let input = SignUp { email, password, username, profile: profile.map(|p| p.0), invite_token };
        let policy = SignUpPolicy::from_state(state);
        let user = users::sign_up(&mut conn, input, policy, state.clock.now(), &actor(ctx)).await?;
        auth_user(state, user)
    }

    /// Signs in with an email address or username and a password.
    async fn create_token(&self, ctx: &Context<'_>, identity: Option<String>, password: String) -> Result<AuthUser> {
        let state = state(ctx)?;
        let mut conn = conn(ctx).await?;
        let throttle = Throttle::from_state(state);
        let identity = identity.unwrap_or_default();
        let user = users::sign_in(&mut conn, &identity, password, state.clock.now(), throttle, &actor(ctx)).await?;
        auth_user(state, user)
    }

    /// Changes the caller's own account. `payload` may hold `username`, `fullName` and `profile`.
    async fn update_self(&self, ctx: &Context<'_>, payload: Json<serde_json::Value>) -> Result<User> {
        let caller = principal(ctx).user()?;
        let changes = self_changes(&payload.0)?;
        let state = state(ctx)?;
        let mut conn = conn(ctx).await?;
        let user = users::update_self(&mut conn, caller.user.id, changes, state.clock.now(), &actor(ctx)).await?;
        Ok(User(user))
    }

    /// Signs the caller out everywhere: every token issued to it so far stops working.
    async fn logout(&self, ctx: &Context<'_>) -> Result<bool> {
        let caller = principal(ctx).user()?;
        let state = state(ctx)?;
        let mut conn = conn(ctx).await?;
        users::revoke_tokens(&mut conn, caller.user.id, state.clock.now(), &actor(ctx)).await?;
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
