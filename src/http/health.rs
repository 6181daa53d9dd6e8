//! `/healthz` (the process answers), `/readyz` (the database answers and is migrated), JWKS.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use crate::db::migrate;
use crate::http::router::HttpState;

/// The process is alive.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready when a database connection can be had and the newest embedded migration is applied.
pub async fn readyz(State(state): State<HttpState>) -> impl IntoResponse {
    let mut conn = match state.app.pool.get().await {
        Ok(conn) => conn,
        Err(error) => {
            tracing::warn!(%error, "readiness: database unreachable");
            return (StatusCode::SERVICE_UNAVAILABLE, "database unreachable");
        }
    };
    match migrate::newest_applied(&mut conn).await {
        Ok(Some(version)) if version == *state.app.expected_migration => (StatusCode::OK, "ready"),
        Ok(_) => (StatusCode::SERVICE_UNAVAILABLE, "migrations pending"),
        Err(error) => {
            tracing::warn!(%error, "readiness: migration state unreadable");
            (StatusCode::SERVICE_UNAVAILABLE, "migrations not applied")
        }
    }
}

/// Public keys that verify user tokens.
pub async fn jwks(State(state): State<HttpState>) -> impl IntoResponse {
    Json(state.app.keys.jwks().clone())
}
