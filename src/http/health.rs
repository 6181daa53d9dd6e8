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

/// What one database says about readiness.
async fn database_ready(pool: &crate::db::DbPool, expected: &str) -> Result<(), &'static str> {
    let mut conn = match pool.get().await {
        Ok(conn) => conn,
        Err(error) => {
            tracing::warn!(%error, "readiness: database unreachable");
            return Err("database unreachable");
        }
    };
    match migrate::newest_applied(&mut conn).await {
        Ok(Some(version)) if version == expected => Ok(()),
        Ok(_) => Err("migrations pending"),
        Err(error) => {
            tracing::warn!(%error, "readiness: migration state unreadable");
            Err("migrations not applied")
        }
    }
}

/// Ready when a database connection can be had and the newest embedded migration is applied. With a read
/// standby, a process whose primary is away but whose standby answers is still ready ("ready (read-only)"):
/// it serves reads, and writes are answered UNAVAILABLE, so a load balancer should keep sending it traffic.
pub async fn readyz(State(state): State<HttpState>) -> impl IntoResponse {
    let expected = &*state.app.expected_migration;
    match database_ready(&state.app.pool, expected).await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(reason) => match &state.app.routing {
            Some(routing) if database_ready(routing.standby(), expected).await.is_ok() => {
                (StatusCode::OK, "ready (read-only: the primary is unavailable)")
            }
            _ => (StatusCode::SERVICE_UNAVAILABLE, reason),
        },
    }
}

/// Public keys that verify user tokens.
pub async fn jwks(State(state): State<HttpState>) -> impl IntoResponse {
    Json(state.app.keys.jwks().clone())
}
