//! `AuthUser`, `Token`, `TokenPayload`: what sign-up and sign-in return.

use async_graphql::SimpleObject;

use crate::graphql::scalars::Uuid;
use crate::graphql::types::user::User;

/// A signed-in user and its token.
#[derive(SimpleObject)]
pub struct AuthUser {
    /// The user.
    pub user: User,
    /// A token for the `Authorization` header.
    pub token: Token,
}

/// A user token.
#[derive(SimpleObject)]
pub struct Token {
    /// The JWT.
    pub value: String,
    /// Its main claims, decoded.
    pub payload: TokenPayload,
}

/// Claims of a token.
#[derive(SimpleObject)]
pub struct TokenPayload {
    /// The user id.
    pub uuid: Uuid,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
}
