//! `/metrics`: the Prometheus text exposition of [`crate::metrics::Metrics`].
//!
//! Gauges that describe a moment (pool use, outbox depth, deployments pending expiry or hibernating) are
//! read at each scrape: three SQL statements per scrape, on the standby when there is one.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::metrics::Database;
use crate::state::AppState;

/// Content type of the text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

async fn outbox_pending(state: &AppState) -> crate::error::ApiResult<i64> {
    let pool = state.routing.as_ref().map(|routing| routing.standby()).unwrap_or(&state.pool);
    let mut conn = pool.get().await?;
    crate::mail::pending_count(&mut conn).await
}

async fn lifecycle_counts(state: &AppState) -> crate::error::ApiResult<(i64, i64)> {
    let pool = state.routing.as_ref().map(|routing| routing.standby()).unwrap_or(&state.pool);
    let mut conn = pool.get().await?;
    let pending = crate::domain::lifecycle::pending_expiry_count(&mut conn).await?;
    let hibernating = crate::domain::lifecycle::hibernating_count(&mut conn).await?;
    Ok((pending, hibernating))
}

/// The metrics, in the text format.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    match outbox_pending(&state).await {
        Ok(pending) => state.metrics.set_outbox_pending(pending),
        Err(error) => {
            tracing::warn!(%error, "metrics: the outbox depth could not be read")
        }
    }
    match lifecycle_counts(&state).await {
        Ok((pending, hibernating)) => state.metrics.set_lifecycle(pending, hibernating),
        Err(error) => {
            tracing::warn!(%error, "metrics: the deployment lifecycle gauges could not be read")
        }
    }
    state.metrics.set_password_hashing_memory(state.passwords.memory_held());
    state.metrics.observe_pool(Database::Primary, state.pool.usage(), state.pool.statements());
    if let Some(routing) = &state.routing {
        state.metrics.observe_pool(Database::Standby, routing.standby().usage(), routing.standby().statements());
    }
    ([(header::CONTENT_TYPE, TEXT_FORMAT)], state.metrics.render())
}
