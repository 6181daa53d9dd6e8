//! Per-request data and the accessors resolvers use to reach it.

use std::sync::Arc;

use async_graphql::Context;
use async_graphql::dataloader::DataLoader;

use crate::auth::Principal;
use crate::db::DbConn;
use crate::domain::Actor;
use crate::error::{ApiError, ApiResult};
use crate::graphql::authz::access;
use crate::graphql::loaders::DbLoader;
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

/// The caller as it stands now.
pub fn principal(ctx: &Context<'_>) -> Arc<Principal> {
    match access(ctx) {
        Ok(access) => access.principal(),
        Err(_) => Arc::new(Principal::Anonymous),
    }
}

/// The request's DataLoader.
pub fn loader<'a>(ctx: &Context<'a>) -> ApiResult<&'a DataLoader<DbLoader>> {
    Ok(access(ctx)?.loader())
}

/// The caller as an audit actor, with the request's id and client address.
pub fn actor(ctx: &Context<'_>) -> Actor {
    let meta = ctx.data_opt::<RequestMeta>().cloned().unwrap_or_default();
    let mut actor = Actor {
        request_id: Some(meta.request_id).filter(|id| !id.is_empty()),
        client_address: meta.client_address,
        ..Actor::default()
    };
    match principal(ctx).as_ref() {
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

/// A pooled connection for one resolver. Refused once the reply is over a budget (SPEC §7): the reply will
/// be refused anyway, so no more statements run for it (checked again once a connection was waited for).
pub async fn conn(ctx: &Context<'_>) -> ApiResult<DbConn> {
    let budget = access(ctx).ok().map(|access| access.budget().clone());
    if let Some(budget) = &budget {
        budget.check()?;
    }
    let conn = state(ctx)?.pool.get().await?;
    if let Some(budget) = &budget {
        budget.check()?;
    }
    Ok(conn)
}
