//! The router: every path capcom serves, and the layers every request passes.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, Request};
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;

use crate::graphql::persisted::PersistedQueries;
use crate::graphql::{GraphqlService, build_schema};
use crate::http::client::{self, ProxyTrust};
use crate::http::cors::{self, AllowedOrigins};
use crate::http::ws::SocketRegistry;
use crate::http::{audit_export, console, graphiql, graphql, health, metrics, oauth, scim, telemetry};
use crate::metrics::Metrics;
use crate::state::AppState;

/// Header carrying the request id, in both directions.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// State of the HTTP handlers: shared, since every request clones it (its fields through `Deref`).
#[derive(Clone)]
pub struct HttpState(Arc<HttpShared>);

impl std::ops::Deref for HttpState {
    type Target = HttpShared;

    fn deref(&self) -> &HttpShared {
        &self.0
    }
}

/// What [`HttpState`] holds.
pub struct HttpShared {
    /// Application state.
    pub app: AppState,
    /// The schema.
    pub schema: GraphqlService,
    /// Open WebSockets, in total and per principal.
    pub sockets: Arc<SocketRegistry>,
    /// Origins of other sites allowed to call capcom from a browser (`CAPCOM_CORS_ORIGINS`).
    pub origins: AllowedOrigins,
    /// Turns to execute a GraphQL request over HTTP (`CAPCOM_GRAPHQL_CONCURRENCY`; tokio's semaphore is
    /// fair, so waiting requests are served in arrival order). A batch takes a turn per operation. Split
    /// like the pool, one share per serving runtime (`CAPCOM_RUNTIMES`): a runtime's requests wait for turns
    /// of their own as they wait for connections of their own shard ([`crate::db::DbPool::this_thread_shard`]).
    pub executions: Arc<[tokio::sync::Semaphore]>,
    /// How many turns each share has.
    pub execution_turns: Arc<[u32]>,
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

/// Removes a client-sent request id that is not [`acceptable_request_id`] (a generated one replaces it).
/// A plain service, not a middleware function: it neither boxes nor clones anything per request.
#[derive(Clone)]
struct SanitizeRequestId<S> {
    inner: S,
}

impl<S, B> tower::Service<Request<B>> for SanitizeRequestId<S>
where
    S: tower::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> S::Future {
        if request.headers().get(REQUEST_ID_HEADER).is_some_and(|value| !acceptable_request_id(value)) {
            request.headers_mut().remove(REQUEST_ID_HEADER);
        }
        self.inner.call(request)
    }
}

/// Generated request ids: version-4 UUIDs whose 122 free bits are SipHash (std's keyed hash, a
/// pseudo-random function) of a counter under keys drawn from the system's random source once per process:
/// distinct in practice (a repeat is as likely as two random UUIDs meeting), and neither the count of
/// requests nor the next id can be read from ids a client has seen, without a call to the random source
/// per request.
#[derive(Clone)]
struct RequestIds(Arc<IdSource>);

struct IdSource {
    keys: std::collections::hash_map::RandomState,
    counter: std::sync::atomic::AtomicU64,
}

impl RequestIds {
    fn new() -> RequestIds {
        RequestIds(Arc::new(IdSource {
            keys: std::collections::hash_map::RandomState::new(),
            counter: std::sync::atomic::AtomicU64::new(0),
        }))
    }

    /// The `n`th id under `keys`.
    fn id(keys: &std::collections::hash_map::RandomState, n: u64) -> uuid::Uuid {
        use std::hash::BuildHasher;
        let [high, low] = [0u8, 1].map(|half| keys.hash_one((n, half)));
        let bits = (u128::from(high) << 64) | u128::from(low);
        uuid::Builder::from_random_bytes(bits.to_le_bytes()).into_uuid()
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let n = self.0.counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = RequestIds::id(&self.0.keys, n);
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let text = id.hyphenated().encode_lower(&mut text);
        axum::http::HeaderValue::from_str(text).ok().map(RequestId::new)
    }
}

/// What [`edge_middleware`] needs.
#[derive(Clone)]
struct Edge {
    trust: Arc<ProxyTrust>,
    metrics: Arc<Metrics>,
    origins: AllowedOrigins,
}

/// The client's address ([`client::attach`]), the request's log line and metrics ([`telemetry::Tracked`])
/// and the finishing of CORS answers ([`cors::Finishing`]), in that order from the outside, as one
/// middleware (each middleware function boxes its call and clones the services inside it per request).
/// Every response is marked `X-Content-Type-Options: nosniff`: a browser then runs as a script only what
/// capcom serves as one, so the pages' `script-src 'self'` (docs/security.md, "Browser pages") cannot be
/// turned against them by loading a JSON or text answer of the same origin with `<script src>`.
async fn edge_middleware(
    axum::extract::State(edge): axum::extract::State<Edge>,
    mut request: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> axum::response::Response {
    client::attach(&mut request, &edge.trust);
    let tracked = telemetry::Tracked::start(&mut request);
    let finishing = cors::Finishing::of(&edge.origins, &request);
    let mut response = crate::request_id::serving(tracked.request_id(), next.run(request)).await;
    finishing.apply(&mut response);
    response
        .headers_mut()
        .insert(axum::http::header::X_CONTENT_TYPE_OPTIONS, axum::http::HeaderValue::from_static("nosniff"));
    tracked.finish(&edge.metrics, &response);
    response
}

/// The GraphQL routes' `GET`: its answers vary by `Accept` ([`graphql::varies_by_accept`]).
fn graphql_get() -> axum::routing::MethodRouter<HttpState> {
    get(graphql::get_handler).layer(axum::middleware::map_response(graphql::varies_by_accept))
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
    let turns = state.config.graphql_concurrency.unwrap_or(pool_size).clamp(1, 100_000);
    // Each share has a turn at least, as each shard of the pool has a connection at least.
    let execution_turns: Arc<[u32]> = crate::db::pool::split_evenly(turns as usize, state.config.runtimes)
        .map(|share| u32::try_from(share.max(1)).unwrap_or(u32::MAX))
        .collect();
    let executions = execution_turns.iter().map(|&share| tokio::sync::Semaphore::new(share as usize)).collect();
    let persisted = Arc::new(PersistedQueries::new(
        state.config.persisted_query_entries,
        crate::graphql::limits::DocumentLimits::from_config(&state.config),
    ));
    let http_state = HttpState(Arc::new(HttpShared {
        app: state,
        schema,
        sockets,
        origins: origins.clone(),
        executions,
        execution_turns,
        persisted,
    }));
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
    let routes = router
        .route("/v1", graphql_get().post(graphql::post_handler))
        .route("/graphql", graphql_get().post(graphql::post_handler))
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
        .merge(metrics_routes);
    // The layers wrap the router once, as one service, outermost first. (`Router::layer` would wrap each
    // route in each layer separately, with a boxed service between two layers that is cloned, with
    // everything inside it, on every call: measured as a share of a small request's CPU, bench/README.md
    // "Results, part 5".)
    let edge = Edge { trust: Arc::new(trust), metrics: http_state.app.metrics.clone(), origins: origins.clone() };
    let layers = tower::ServiceBuilder::new()
        .layer(tower::layer::layer_fn(|inner| SanitizeRequestId { inner }))
        .layer(SetRequestIdLayer::new(HeaderName::from_static(REQUEST_ID_HEADER), RequestIds::new()))
        .layer(PropagateRequestIdLayer::new(HeaderName::from_static(REQUEST_ID_HEADER)))
        .layer(axum::middleware::from_fn_with_state(edge, edge_middleware))
        .layer(origins.layer())
        .layer(CatchPanicLayer::new())
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::SERVICE_UNAVAILABLE, outer_timeout))
        .layer(RequestBodyLimitLayer::new(max_body))
        .service(routes);
    Router::new().fallback_service(layers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_request_ids_are_distinct_version_4_uuids() {
        let mut ids = RequestIds::new();
        let request = Request::new(());
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let id = ids.make_request_id(&request).map(|id| id.header_value().to_str().map(str::to_owned));
            let Some(Ok(text)) = id else { panic!("no id made") };
            let parsed = uuid::Uuid::parse_str(&text).unwrap();
            assert_eq!(text.len(), 36);
            assert_eq!(parsed.get_version_num(), 4);
            assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
            assert!(seen.insert(text), "ids repeat");
        }
        // Ids of the same count differ between processes (keys), and neighbouring counts differ in many bits.
        let (one, two) =
            (std::collections::hash_map::RandomState::new(), std::collections::hash_map::RandomState::new());
        assert_ne!(RequestIds::id(&one, 0), RequestIds::id(&two, 0));
        let (a, b) = (RequestIds::id(&one, 0).as_u128(), RequestIds::id(&one, 1).as_u128());
        assert!((a ^ b).count_ones() > 10);
    }
}
