//! The GraphQL endpoint (`POST`/`GET` on `/v1` and `/graphql`) and the WebSocket endpoint `/ws`.
//!
//! Per request: the principal is resolved once from the `Authorization` header (or the WebSocket's
//! `connection_init` payload), a fresh DataLoader is made, and both go into the request data.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use async_graphql::dataloader::DataLoader;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{BatchRequest, Data, Response as GqlResponse, ServerError};
use async_graphql_axum::{GraphQLBatchRequest, GraphQLProtocol, GraphQLResponse, GraphQLWebSocket};
use axum::Extension;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::task::AtomicWaker;
use tower_http::request_id::RequestId;

use crate::auth::Principal;
use crate::auth::principal::{credential_from_header, resolve_api_key, resolve_token};
use crate::error::{ApiError, ApiResult};
use crate::graphql::authz::Access;
use crate::graphql::errors;
use crate::graphql::loaders::DbLoader;
use crate::graphql::{CapcomSchema, RequestMeta};
use crate::http::graphiql;
use crate::http::router::HttpState;
use crate::state::AppState;

fn request_meta(
    request_id: Option<Extension<RequestId>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
) -> RequestMeta {
    RequestMeta {
        request_id: request_id
            .and_then(|Extension(id)| id.header_value().to_str().ok().map(str::to_owned))
            .unwrap_or_default(),
        client_address: peer.map(|Extension(ConnectInfo(address))| address.ip().to_string()),
    }
}

/// Resolves the credential (if any) into a principal with its bindings: the one database round trip every
/// authenticated request pays before resolvers run.
async fn resolve_principal(state: &AppState, credential: Option<&str>) -> ApiResult<Principal> {
    let Some(token) = credential.and_then(credential_from_header) else {
        return Ok(Principal::Anonymous);
    };
    let mut conn = state.pool.get().await?;
    if crate::auth::api_key::is_api_key(token) {
        resolve_api_key(&mut conn, state.clock.now(), token).await
    } else {
        resolve_token(&mut conn, &state.keys, state.clock.now(), token).await
    }
}

/// Where a loader's batches run.
#[derive(Clone)]
enum Batches {
    /// On the runtime (a WebSocket connection's subscriptions).
    Spawned,
    /// In the task that executes the request, in waves ([`run_with_batches`]).
    Local(tokio::sync::mpsc::UnboundedSender<BoxFuture<'static, ()>>),
}

/// A DataLoader for one request or connection.
///
/// For HTTP requests the batches run in the request's own task, in waves ([`run_with_batches`]): every
/// key a request asks for before the running wave finishes goes into the next wave, one statement per
/// kind of key. What a request costs in statements then depends on its shape only, never on timing or on
/// how many threads the runtime has. Subscriptions' batches run on the runtime with a 1 ms window, after
/// yielding a few times so that a long list (async-graphql yields every 32 items) is not cut in two.
fn new_loader(state: &AppState, batches: Batches) -> DataLoader<DbLoader> {
    let window = match batches {
        Batches::Spawned => std::time::Duration::from_millis(1),
        // A wave starts only when the request cannot progress without it: no timer is needed.
        Batches::Local(_) => std::time::Duration::ZERO,
    };
    DataLoader::new(DbLoader::new(state.pool.clone()), move |batch: BoxFuture<'static, ()>| match &batches {
        Batches::Spawned => drop(tokio::spawn(async move {
            for _ in 0..BATCH_YIELDS {
                tokio::task::yield_now().await;
            }
            batch.await;
        })),
        Batches::Local(sender) => {
            // The receiver lives as long as the request; a send fails only once it has finished.
            let _ = sender.send(batch);
        }
    })
    .delay(window)
}

/// Scheduler turns a spawned batch waits for before its window opens (each lets a resolver enqueue 32
/// more keys).
const BATCH_YIELDS: usize = 64;

/// Records that the request future was woken (it can make progress by itself), and passes the wake on.
struct WakeFlag {
    woken: AtomicBool,
    outer: AtomicWaker,
}

impl Wake for WakeFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.outer.wake();
    }
}

/// Runs `request` and, in the same task, the loader batches it starts (received on `receiver`), in
/// waves: a wave of batches starts only once the previous one has finished and the request cannot make
/// progress by itself; every batch started meanwhile joins it.
async fn run_with_batches<T>(
    request: impl Future<Output = T>,
    mut receiver: tokio::sync::mpsc::UnboundedReceiver<BoxFuture<'static, ()>>,
) -> T {
    let mut request = std::pin::pin!(request);
    let flag = Arc::new(WakeFlag { woken: AtomicBool::new(true), outer: AtomicWaker::new() });
    let request_waker = Waker::from(flag.clone());
    let mut waiting: Vec<BoxFuture<'static, ()>> = Vec::new();
    let mut wave = FuturesUnordered::new();
    std::future::poll_fn(move |cx| {
        flag.outer.register(cx.waker());
        loop {
            if flag.woken.swap(false, Ordering::SeqCst) {
                if let Poll::Ready(output) = request.as_mut().poll(&mut Context::from_waker(&request_waker)) {
                    return Poll::Ready(output);
                }
            }
            while let Poll::Ready(Some(batch)) = receiver.poll_recv(cx) {
                waiting.push(batch);
            }
            // Finished batches hand their rows to the resolvers waiting for them, which wakes the request.
            while let Poll::Ready(Some(())) = wave.poll_next_unpin(cx) {}
            if flag.woken.load(Ordering::SeqCst) {
                continue;
            }
            if wave.is_empty() && !waiting.is_empty() {
                wave.extend(waiting.drain(..));
                continue;
            }
            return Poll::Pending;
        }
    })
    .await
}

/// The caller's authority with a fresh loader, for one request or one WebSocket connection.
fn new_access(state: &AppState, principal: Principal, batches: Batches) -> Access {
    Access::new(state, principal, Arc::new(new_loader(state, batches)))
}

fn connection_data(state: &AppState, principal: Principal, meta: RequestMeta) -> Data {
    let mut data = Data::default();
    data.insert(new_access(state, principal, Batches::Spawned));
    data.insert(meta);
    data
}

/// A response holding only `error`, shaped by the error policy.
fn error_response(error: ApiError, meta: &RequestMeta) -> Response {
    let mut server_error = async_graphql::Error::from(error).into_server_error(async_graphql::Pos::default());
    server_error.locations.clear();
    errors::apply(&mut server_error, &meta.request_id);
    GraphQLResponse::from(GqlResponse::from_errors(vec![server_error])).into_response()
}

async fn execute(state: &HttpState, headers: &HeaderMap, meta: RequestMeta, batch: BatchRequest) -> Response {
    if let BatchRequest::Batch(requests) = &batch {
        if requests.len() > state.app.config.max_batch {
            let message = format!("At most {} operations may be batched in one request", state.app.config.max_batch);
            return error_response(ApiError::bad_input("batch", message), &meta);
        }
    }
    let credential = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
    let principal = match resolve_principal(&state.app, credential).await {
        Ok(principal) => principal,
        Err(error) => return error_response(error, &meta),
    };
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    let attach = |request: async_graphql::Request| {
        let access = new_access(&state.app, principal.clone(), Batches::Local(sender.clone()));
        request.data(access).data(meta.clone())
    };
    let batch = match batch {
        BatchRequest::Single(request) => BatchRequest::Single(attach(request)),
        BatchRequest::Batch(requests) => BatchRequest::Batch(requests.into_iter().map(attach).collect()),
    };
    drop(sender);
    let response = run_with_batches(state.schema.execute_batch(batch), receiver).await;
    GraphQLResponse::from(response).into_response()
}

/// `POST /v1`, `POST /graphql`.
pub async fn post_handler(
    State(state): State<HttpState>,
    request_id: Option<Extension<RequestId>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    request: GraphQLBatchRequest,
) -> Response {
    execute(&state, &headers, request_meta(request_id, peer), request.into_inner()).await
}

/// `GET /v1`, `GET /graphql`: GraphiQL for a browser, otherwise a query from the URL (never a mutation:
/// a GET must not change anything).
pub async fn get_handler(
    State(state): State<HttpState>,
    request_id: Option<Extension<RequestId>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let meta = request_meta(request_id, peer);
    let query_string = uri.query().unwrap_or_default();
    if wants_html && !query_string.contains("query=") {
        return graphiql::page(uri.path()).into_response();
    }
    let request = match async_graphql::http::parse_query_string(query_string) {
        Ok(request) => request,
        Err(error) => return error_response(ApiError::bad_input("query", error.to_string()), &meta),
    };
    if let Ok(document) = async_graphql::parser::parse_query(&request.query) {
        let is_mutation = |ty: OperationType| ty == OperationType::Mutation;
        let has_mutation = match &document.operations {
            DocumentOperations::Single(op) => is_mutation(op.node.ty),
            DocumentOperations::Multiple(ops) => ops.values().any(|op| is_mutation(op.node.ty)),
        };
        if has_mutation {
            return error_response(ApiError::bad_input("query", "Mutations must be sent with POST"), &meta);
        }
    }
    execute(&state, &headers, meta, BatchRequest::Single(request)).await
}

/// `GET /ws`: GraphQL over WebSocket, `graphql-transport-ws` and the legacy `graphql-ws` protocol. The
/// token comes in `connection_init`'s payload (`authorization` or `Authorization`).
pub async fn ws_handler(
    State(state): State<HttpState>,
    request_id: Option<Extension<RequestId>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let meta = request_meta(request_id, peer);
    let schema: CapcomSchema = state.schema.clone();
    let app = state.app.clone();
    upgrade.protocols(ALL_WEBSOCKET_PROTOCOLS).on_upgrade(move |socket| async move {
        GraphQLWebSocket::new(socket, schema, protocol)
            .on_connection_init(move |payload| async move {
                let credential = ["authorization", "Authorization"]
                    .iter()
                    .find_map(|key| payload.get(*key).and_then(|value| value.as_str()).map(str::to_owned));
                let principal = resolve_principal(&app, credential.as_deref()).await.map_err(|error| {
                    let mut server_error = ServerError::new(error.to_string(), None);
                    errors::apply(&mut server_error, &meta.request_id);
                    async_graphql::Error::new(server_error.message)
                })?;
                Ok(connection_data(&app, principal, meta))
            })
            .serve()
            .await
    })
}
