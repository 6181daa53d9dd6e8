//! The router: every path capcom serves, and the layers every request passes.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, Request};
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::graphql::persisted::PersistedQueries;
use crate::graphql::{GraphqlService, build_schema};
use crate::http::client::{self, ProxyTrust};
use crate::http::cors::{self, AllowedOrigins};
use crate::http::ws::SocketRegistry;
use crate::http::{audit_export, console, graphiql, graphql, health, metrics, oauth, scim, telemetry};
use crate::state::AppState;

/// Header carrying the request id, in both directions.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// State of the HTTP handlers.
#[derive(Clone)]
pub struct HttpState {
    /// Application state.
    pub app: AppState,
    /// The schema.
    pub schema: GraphqlService,
    /// Open WebSockets, in total and per principal.
    pub sockets: Arc<SocketRegistry>,
    /// Origins of other sites allowed to call capcom from a browser (`CAPCOM_CORS_ORIGINS`).
    pub origins: AllowedOrigins,
    /// Turns to execute a GraphQL request over HTTP (`CAPCOM_GRAPHQL_CONCURRENCY`; tokio's semaphore is
    /// fair, so waiting requests are served in arrival order). A batch takes a turn per operation.
    pub executions: Arc<tokio::sync::Semaphore>,
    /// How many turns there are.
    pub execution_turns: u32,
    /// Documents registered by hash (Apollo's automatic persisted queries, `CAPCOM_PERSISTED_QUERY_ENTRIES`).
    pub persisted: Arc<PersistedQueries>,
}

/// Whether a client-sent request id is kept: short, printable, no spaces (it goes into every log line and
/// audit event of the request). Others are replaced by a generated id.
fn acceptable_request_id(value: &axum::http::HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/'))
}

/// A router serving only `/metrics` (for `CAPCOM_METRICS_LISTEN`).
pub fn metrics_router(state: AppState) -> Router {
    Router::new().route("/metrics", get(metrics::metrics)).with_state(state)
}

/// Builds the router for `state`. `/metrics` is served here unless `CAPCOM_METRICS_LISTEN` gives it an
/// address of its own.
pub fn build_router(state: AppState) -> Router {
    let schema = build_schema(state.clone());
    let max_body = state.config.max_body_bytes;
    // The GraphQL handlers answer within the configured deadline themselves (with a GraphQL error and the
    // statement cancelled); this outer limit only catches what has no deadline of its own.
    let outer_timeout = Duration::from_millis(state.config.request_timeout_ms.saturating_add(2_000));
    let sockets = Arc::new(SocketRegistry::new(
        state.config.ws_max_sockets,
        state.config.ws_max_sockets_per_principal,
        state.config.ws_max_subscriptions_per_principal,
    ));
    let metrics_here = state.config.metrics_listen.is_none();
    let metrics_routes = if metrics_here { metrics_router(state.clone()) } else { Router::new() };
    let origins = AllowedOrigins::new(&state.config.cors_origins.0);
    let serve_console = state.config.console;
    let pool_size = u32::try_from(state.config.pool_size).unwrap_or(u32::MAX);
    let execution_turns = state.config.graphql_concurrency.unwrap_or(pool_size).clamp(1, 100_000);
    let executions = Arc::new(tokio::sync::Semaphore::new(execution_turns as usize));
    let persisted = Arc::new(PersistedQueries::new(
        state.config.persisted_query_entries,
        crate::graphql::limits::DocumentLimits::from_config(&state.config),
    ));
    let http_state =
        HttpState { app: state, schema, sockets, origins: origins.clone(), executions, execution_turns, persisted };
    let request_id = HeaderName::from_static(REQUEST_ID_HEADER);
    let trust = ProxyTrust {
        proxies: http_state.app.config.trusted_proxies.clone(),
        header: http_state.app.config.trusted_proxy_header,
    };

    let mut router = Router::new();
    if serve_console {
        router = router
            .route("/", get(console::index))
            .route("/invite", get(console::index))
            .route("/console", get(console::redirect))
            .route("/console/", get(console::index))
            .route("/console/{*path}", get(console::asset));
    }
    router
        .route("/v1", get(graphql::get_handler).post(graphql::post_handler))
        .route("/graphql", get(graphql::get_handler).post(graphql::post_handler))
        .route("/ws", get(graphql::ws_handler))
        .route("/v1/audit/export", get(audit_export::export))
        .route("/v1/oauth/start", get(oauth::start))
        .route("/v1/oauth/callback", get(oauth::callback))
        .route("/scim/v2/ServiceProviderConfig", get(scim::service_provider_config))
        .route("/scim/v2/ResourceTypes", get(scim::list_resource_types))
        .route("/scim/v2/ResourceTypes/{id}", get(scim::get_resource_type))
        .route("/scim/v2/Schemas", get(scim::list_schemas))
        .route("/scim/v2/Schemas/{id}", get(scim::get_schema))
        .route("/scim/v2/Users", get(scim::list_users).post(scim::create_user))
        .route(
            "/scim/v2/Users/{id}",
            get(scim::get_user).put(scim::replace_user).patch(scim::patch_user_handler).delete(scim::delete_user),
        )
        .route("/scim/v2/Groups", get(scim::list_groups).post(scim::create_group))
        .route(
            "/scim/v2/Groups/{id}",
            get(scim::get_group).put(scim::replace_group).patch(scim::patch_group_handler).delete(scim::delete_group),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/.well-known/jwks.json", get(health::jwks))
        .route("/graphiql/{file}", get(graphiql::asset))
        .with_state(http_state.clone())
        .merge(metrics_routes)
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::SERVICE_UNAVAILABLE, outer_timeout))
        .layer(CatchPanicLayer::new())
        // Outside the limits, the deadline and the panic guard, so that their answers carry the CORS
        // headers too and a console can read why its request failed.
        .layer(origins.layer())
        .layer(axum::middleware::from_fn_with_state(origins, cors::finish))
        .layer(axum::middleware::from_fn_with_state(http_state, telemetry::track))
        // Outside the telemetry layer, so that the request's log line has the client's address too.
        .layer(axum::middleware::from_fn_with_state(trust, client::resolve))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let id = request
                .extensions()
                .get::<RequestId>()
                .and_then(|id| id.header_value().to_str().ok())
                .unwrap_or_default()
                .to_owned();
            tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
        }))
        .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
        .layer(axum::middleware::map_request(move |mut request: Request<axum::body::Body>| {
            let header = request_id.clone();
            async move {
                if request.headers().get(&header).is_some_and(|value| !acceptable_request_id(value)) {
                    request.headers_mut().remove(&header);
                }
                request
            }
        }))
}
