//! Per-request data and the accessors resolvers use to reach it.

use async_graphql::Context;

use crate::auth::Principal;
use crate::db::DbConn;
use crate::domain::Actor;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Facts about the HTTP request an operation arrived with.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// The request id (`x-request-id`).
    pub request_id: String,
    /// The client's address.
    pub client_address: Option<String>,
}

/// The application state.
pub fn state<'a>(ctx: &Context<'a>) -> ApiResult<&'a AppState> {
    ctx.data::<AppState>().map_err(|_| ApiError::internal("application state missing from the schema"))
}

/// The caller.
pub fn principal<'a>(ctx: &Context<'a>) -> &'a Principal {
    static ANONYMOUS: Principal = Principal::Anonymous;
    ctx.data_opt::<Principal>().unwrap_or(&ANONYMOUS)
}

/// The caller as an audit actor, with the request's id and client address.
pub fn actor(ctx: &Context<'_>) -> Actor {
    let meta = ctx.data_opt::<RequestMeta>().cloned().unwrap_or_default();
    let mut actor = Actor {
        request_id: Some(meta.request_id).filter(|id| !id.is_empty()),
        client_address: meta.client_address,
        ..Actor::default()
    };
    match principal(ctx) {
        Principal::User(user) => {
            actor.user_id = Some(user.user.id);
            actor.label = user.user.username.clone();
        }
        Principal::ServiceAccount(account) => {
            actor.service_account_id = Some(account.account.id);
            actor.label = format!("service account {}", account.account.label);
        }
        Principal::Anonymous | Principal::Rejected => {}
    }
    actor
}

/// A pooled connection for one resolver.
pub async fn conn(ctx: &Context<'_>) -> ApiResult<DbConn> {
    Ok(state(ctx)?.pool.get().await?)
}
