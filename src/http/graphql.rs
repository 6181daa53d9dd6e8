//! The GraphQL endpoint (`POST`/`GET` on `/v1` and `/graphql`) and the WebSocket endpoint `/ws`.
//!
//! Per request: the principal is resolved once from the `Authorization` header (or the WebSocket's
//! `connection_init` payload), a fresh DataLoader is made, and both go into the request data.
//!
//! HTTP follows the GraphQL-over-HTTP specification (the version the graphql-http audits check; see
//! `docs/limits.md` for the choices): POST bodies are `application/json`; the response is
//! `application/json` unless the client's `Accept` prefers `application/graphql-response+json`. With
//! `application/json` every GraphQL error is answered with HTTP 200 (the `astro` CLI relies on it); with
//! `application/graphql-response+json`, a request error (unparsable, invalid, refused before execution)
//! has no `data` entry and a 4xx/5xx status. A mutation sent with GET is answered 405 with `Allow: POST`.
//! Every request runs under a deadline (`CAPCOM_REQUEST_TIMEOUT_MS`).

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use async_graphql::dataloader::DataLoader;
use async_graphql::{BatchRequest, BatchResponse, Response as GqlResponse};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::task::AtomicWaker;
use serde_json::Value;
use tower_http::request_id::RequestId;

use crate::auth::Principal;
use crate::auth::principal::{check_api_key, credential_from_header, resolve_api_key, resolve_token, touch_api_key};
use crate::db::routing::{self, Route};
use crate::error::{ApiError, ApiResult, code};
use crate::graphql::authz::Access;
use crate::graphql::budget::{LimitedWriter, ReplyBudget, ReplyBytes, bytes_exceeded};
use crate::graphql::loaders::DbLoader;
use crate::graphql::persisted::{self, PersistedQueries, QueryHash, Unresolved};
use crate::graphql::{RequestMeta, errors, limits};
use crate::http::client::ClientAddress;
use crate::http::input::BoundedJsonError;
use crate::http::operation::{OperationType, operation};
use crate::http::router::HttpState;
use crate::http::telemetry::RequestReport;
use crate::http::{graphiql, ws};
use crate::metrics::{Database, RequestType, error_code_label};
use crate::state::AppState;

/// The request's report, if the telemetry layer gave it one.
type Report = Option<Extension<Arc<RequestReport>>>;

fn request_meta(request_id: Option<Extension<RequestId>>, client: Option<Extension<ClientAddress>>) -> RequestMeta {
    RequestMeta {
        request_id: request_id
            .and_then(|Extension(id)| id.header_value().to_str().ok().map(str::to_owned))
            .unwrap_or_default(),
        client_address: client.map(|Extension(address)| address.text()),
    }
}

/// The principal a credential names, seen from the request's address `client` (for HTTP endpoints outside
/// GraphQL).
pub(crate) async fn principal_for(
    state: &AppState,
    credential: Option<&str>,
    client: Option<IpAddr>,
) -> ApiResult<Principal> {
    resolve_principal(state, credential, client).await
}

/// Resolves the credential (if any) into a principal with its bindings, seen from `client` (the
/// organizations' IP access lists, [`Principal::behind`]): the one database round trip every
/// authenticated request pays before resolvers run.
async fn resolve_principal(state: &AppState, credential: Option<&str>, client: Option<IpAddr>) -> ApiResult<Principal> {
    let Some(token) = credential.and_then(credential_from_header) else {
        return Ok(Principal::Anonymous);
    };
    let mut conn = state.pool.get().await?;
    let principal = if crate::auth::api_key::is_api_key(token) {
        resolve_api_key(&mut conn, &state.principals, state.clock.now(), token).await?
    } else {
        resolve_token(&mut conn, &state.principals, &state.keys, state.clock.now(), token).await?
    };
    Ok(principal.behind(client))
}

/// The request's client address as [`RequestMeta`] keeps it.
pub(crate) fn client_of(meta: &RequestMeta) -> Option<IpAddr> {
    meta.client_address.as_deref().and_then(|text| text.parse().ok())
}

/// [`resolve_principal`] on the database that serves the request (`state.pool`). On the standby an API
/// key's `lastUsedAt` is written on the primary (`primary`) instead, best effort: it is informative, and a
/// read must not fail because the primary is away.
async fn resolve_principal_on(
    state: &AppState,
    primary: &crate::db::DbPool,
    database: Database,
    credential: Option<&str>,
    client: Option<IpAddr>,
) -> ApiResult<Principal> {
    let token = credential.and_then(credential_from_header);
    match (database, token) {
        (Database::Standby, Some(token)) if crate::auth::api_key::is_api_key(token) => {
            let principal = {
                let mut conn = state.pool.get().await?;
                check_api_key(&mut conn, &state.principals, state.clock.now(), token).await?
            };
            if let Principal::ServiceAccount(account) = &principal {
                if crate::auth::principal::touch_due(account, state.clock.now()) {
                    let touched = async {
                        let mut conn = primary.get().await?;
                        touch_api_key(&mut conn, &principal, state.clock.now()).await
                    };
                    if let Err(error) = touched.await {
                        tracing::warn!(%error, "could not record an API key's last use");
                    }
                }
            }
            Ok(principal.behind(client))
        }
        _ => resolve_principal(state, credential, client).await,
    }
}

/// The read-your-writes key of the caller a credential names (unverified: it only routes).
fn fence_key(credential: Option<&str>) -> Option<String> {
    let token = credential.and_then(credential_from_header)?;
    if crate::auth::api_key::is_api_key(token) {
        crate::auth::api_key::prefix_of(token).map(routing::api_key_key)
    } else {
        crate::auth::jwt::unverified_user_id(token).map(routing::user_key)
    }
}

/// The read-your-writes key of a resolved principal.
fn principal_key(principal: &Principal) -> Option<String> {
    match principal {
        Principal::User(user) => Some(routing::user_key(user.user.id)),
        Principal::ServiceAccount(account) => Some(routing::api_key_key(&account.account.key_prefix)),
        Principal::Anonymous | Principal::Rejected => None,
    }
}

/// What the operations of a request are: the metrics' type, the names for the log line, whether all are
/// queries (read-only) and whether any is a mutation.
struct Shape {
    request_type: RequestType,
    names: Vec<String>,
    read_only: bool,
    writes: bool,
}

fn shape_of(batch: &BatchRequest) -> Shape {
    let requests: Vec<&async_graphql::Request> = match batch {
        BatchRequest::Single(request) => vec![request],
        BatchRequest::Batch(requests) => requests.iter().collect(),
    };
    let mut names = Vec::with_capacity(requests.len());
    let mut kinds = Vec::with_capacity(requests.len());
    for request in &requests {
        let found = operation(&request.query, request.operation_name.as_deref());
        let name = request.operation_name.clone().or_else(|| found.and_then(|f| f.name).map(str::to_owned));
        names.push(name.unwrap_or_default());
        kinds.push(found.map(|f| f.kind));
    }
    let request_type = match (batch, kinds.first()) {
        (BatchRequest::Batch(_), _) => RequestType::Batch,
        (_, Some(Some(OperationType::Query))) => RequestType::Query,
        (_, Some(Some(OperationType::Mutation))) => RequestType::Mutation,
        (_, Some(Some(OperationType::Subscription))) => RequestType::Subscription,
        _ => RequestType::Invalid,
    };
    Shape {
        request_type,
        names,
        read_only: !kinds.is_empty() && kinds.iter().all(|kind| *kind == Some(OperationType::Query)),
        // An operation whose type cannot be told is treated as one that may write.
        writes: kinds.iter().any(|kind| !matches!(kind, Some(OperationType::Query | OperationType::Subscription))),
    }
}

/// Where a loader's batches run.
#[derive(Clone)]
enum Batches {
    /// On the runtime (subscriptions on a WebSocket).
    Spawned,
    /// In the task that executes the request, in waves ([`run_with_batches`]).
    Local(tokio::sync::mpsc::UnboundedSender<BoxFuture<'static, ()>>),
}

/// A DataLoader for one request or subscription.
///
/// For HTTP requests the batches run in the request's own task, in waves ([`run_with_batches`]): every
/// key a request asks for before the running wave finishes goes into the next wave, one statement per
/// kind of key. What a request costs in statements then depends on its shape only, never on timing or on
/// how many threads the runtime has. Subscriptions' batches run on the runtime with a 1 ms window, after
/// yielding a few times so that a long list (async-graphql yields every 32 items) is not cut in two.
fn new_loader(state: &AppState, batches: Batches, budget: Arc<ReplyBudget>) -> DataLoader<DbLoader> {
    let window = match batches {
        Batches::Spawned => Duration::from_millis(1),
        // A wave starts only when the request cannot progress without it: no timer is needed.
        Batches::Local(_) => Duration::ZERO,
    };
    DataLoader::new(DbLoader::new(state.pool.clone()).with_budget(budget), move |batch: BoxFuture<'static, ()>| {
        match &batches {
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
        }
    })
    .delay(window)
    .max_batch_size(MAX_BATCH_KEYS)
}

/// Keys of one kind a batch takes before it runs (async-graphql's default is 1 000). A dashboard with
/// a 1 200-member workspace then costs one statement per kind rather than two; the request limits
/// (`src/graphql/limits.rs`) already bound how many objects one request can reach, and PostgreSQL takes
/// an array of this many keys as one parameter.
const MAX_BATCH_KEYS: usize = 10_000;

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

/// The caller's authority for one operation from `client`, with the operation's own reply budget
/// (`CAPCOM_MAX_REPLY_OBJECTS`; each operation of a batch has its own) charging text to the request's
/// `bytes` (`CAPCOM_MAX_REPLY_BYTES`, shared by the operations of a batch).
fn new_access(
    state: &AppState,
    principal: Principal,
    batches: Batches,
    client: Option<IpAddr>,
    bytes: Arc<ReplyBytes>,
) -> Access {
    let budget = ReplyBudget::new(state.config.max_reply_objects, bytes);
    Access::new(state, principal, Arc::new(new_loader(state, batches, budget.clone())), budget, client)
}

/// The caller's authority for one subscription (its loader's batches run on the runtime), for a request
/// from `client`: one WebSocket operation is a request of its own, with its own reply bytes.
pub(crate) fn subscription_access(state: &AppState, principal: Principal, client: Option<IpAddr>) -> Access {
    new_access(state, principal, Batches::Spawned, client, ReplyBytes::new(state.config.max_reply_bytes))
}

/// The media type of a GraphQL response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `application/json`: HTTP 200 for every GraphQL result, request errors included.
    Json,
    /// `application/graphql-response+json`: request errors get a 4xx/5xx status and no `data`.
    GraphqlResponseJson,
}

const JSON: &str = "application/json";
const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

impl MediaType {
    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            MediaType::Json => "application/json; charset=utf-8",
            MediaType::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
        })
    }
}

/// The response media type an `Accept` header asks for (RFC 9110 §12.5.1): the supported type with the
/// highest quality; a type named exactly beats one reached through `application/*` or `*/*` (so `*/*`
/// gets `application/json`), and of two named with equal quality `application/graphql-response+json`
/// wins. No header (or an empty one) means `application/json`. `None`: nothing acceptable (406).
pub fn negotiate(accept: Option<&str>) -> Option<MediaType> {
    let Some(accept) = accept.map(str::trim).filter(|accept| !accept.is_empty()) else {
        return Some(MediaType::Json);
    };
    // (quality, specificity) per supported type: specificity 2 = named, 1 = application/*, 0 = */*.
    let mut best: [Option<(f32, u8)>; 2] = [None, None];
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let quality = parts
            .filter_map(|parameter| parameter.split_once('='))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
            .and_then(|(_, value)| value.trim().parse::<f32>().ok())
            .unwrap_or(1.0)
            .clamp(0.0, 1.0);
        for (index, supported) in [JSON, GRAPHQL_RESPONSE_JSON].iter().enumerate() {
            let specificity = match media.as_str() {
                exact if exact == *supported => 2,
                "application/*" => 1,
                "*/*" => 0,
                _ => continue,
            };
            // The most specific range that matches decides the type's quality.
            if best[index].is_none_or(|(_, known)| specificity > known) {
                best[index] = Some((quality, specificity));
            }
        }
    }
    let json = best[0].filter(|(quality, _)| *quality > 0.0);
    let graphql = best[1].filter(|(quality, _)| *quality > 0.0);
    match (json, graphql) {
        (None, None) => None,
        (Some(_), None) => Some(MediaType::Json),
        (None, Some(_)) => Some(MediaType::GraphqlResponseJson),
        (Some((json_q, json_s)), Some((graphql_q, graphql_s))) => {
            if graphql_q > json_q || (graphql_q == json_q && graphql_s >= json_s && graphql_s == 2) {
                Some(MediaType::GraphqlResponseJson)
            } else {
                Some(MediaType::Json)
            }
        }
    }
}

/// At most this many errors are returned for one operation; the rest are summarized in one more error (a
/// document can make the validator report one error per token).
const MAX_ERRORS: usize = 50;

/// One operation's response, ready to serialise, and the code of its request error if it is one
/// (nothing executed: no `data`).
fn response_body(mut response: GqlResponse, before_execution: bool) -> (Body, Option<&'static str>) {
    let request_error = before_execution || ws::is_request_error(&response);
    if response.errors.len() > MAX_ERRORS {
        let omitted = response.errors.len() - MAX_ERRORS;
        response.errors.truncate(MAX_ERRORS);
        let mut summary = async_graphql::ServerError::new(format!("{omitted} more errors were omitted"), None);
        errors::apply(&mut summary, "");
        response.errors.push(summary);
    }
    let status_code = request_error.then(|| {
        let first = response.errors.first().and_then(|error| error.extensions.as_ref()).and_then(|e| e.get("code"));
        match first {
            Some(async_graphql::Value::String(code)) if code == code::UNAUTHENTICATED => code::UNAUTHENTICATED,
            Some(async_graphql::Value::String(code)) if code == code::FORBIDDEN => code::FORBIDDEN,
            Some(async_graphql::Value::String(code)) if code == code::UNAVAILABLE => code::UNAVAILABLE,
            Some(async_graphql::Value::String(code)) if code == code::INTERNAL => code::INTERNAL,
            _ => code::BAD_USER_INPUT,
        }
    });
    (Body { response, data: !request_error }, status_code)
}

/// A response body as GraphQL over HTTP shapes it: `errors` first when there are any, then `data` (absent
/// for a request error), then `extensions`.
///
/// It is written straight from async-graphql's value tree, whose objects keep the order of the selection
/// set (GraphQL spec §7.1, "Serialized Map Ordering"); no intermediate `serde_json::Value` is built, which
/// would both copy every field of a large reply and sort its keys.
pub(crate) struct Body {
    response: GqlResponse,
    data: bool,
}

impl Body {
    /// The body of `response`, with its `data` (a response that executed) or without (a request error).
    pub(crate) fn new(response: GqlResponse, data: bool) -> Body {
        Body { response, data }
    }
}

impl serde::Serialize for Body {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let response = &self.response;
        let mut map = serializer.serialize_map(None)?;
        if !response.errors.is_empty() {
            map.serialize_entry("errors", &response.errors)?;
        }
        if self.data {
            map.serialize_entry("data", &response.data)?;
        }
        if !response.extensions.is_empty() {
            map.serialize_entry("extensions", &response.extensions)?;
        }
        map.end()
    }
}

fn status_of(code_value: &str) -> StatusCode {
    match code_value {
        code::UNAUTHENTICATED => StatusCode::UNAUTHORIZED,
        code::FORBIDDEN => StatusCode::FORBIDDEN,
        code::UNAVAILABLE => StatusCode::SERVICE_UNAVAILABLE,
        code::INTERNAL => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// The `extensions.code` of every error in `batch`.
fn error_codes(batch: &BatchResponse) -> Vec<&'static str> {
    let responses: Vec<&GqlResponse> = match batch {
        BatchResponse::Single(response) => vec![response],
        BatchResponse::Batch(responses) => responses.iter().collect(),
    };
    responses
        .iter()
        .flat_map(|response| response.errors.iter())
        .map(|error| match error.extensions.as_ref().and_then(|e| e.get("code")) {
            Some(async_graphql::Value::String(value)) => error_code_label(value),
            _ => error_code_label(""),
        })
        .collect()
}

/// The HTTP response for a GraphQL result in `media`. A body that would be larger than `max_bytes`
/// is replaced by a request error naming `CAPCOM_MAX_REPLY_BYTES` (what was built is dropped).
fn reply(
    batch: BatchResponse,
    media: MediaType,
    before_execution: bool,
    report: &Report,
    max_bytes: usize,
) -> Response {
    let codes = error_codes(&batch);
    let (body, status) = match batch {
        BatchResponse::Single(response) => {
            let (body, request_error) = response_body(response, before_execution);
            let status = match (media, request_error) {
                (MediaType::GraphqlResponseJson, Some(code_value)) => status_of(code_value),
                _ => StatusCode::OK,
            };
            (write_limited(&body, max_bytes), status)
        }
        // Batching is outside the specification: a batch is answered 200, each item shaped as above.
        BatchResponse::Batch(responses) => {
            let bodies: Vec<Body> =
                responses.into_iter().map(|response| response_body(response, before_execution).0).collect();
            (write_limited(&bodies, max_bytes), StatusCode::OK)
        }
    };
    let body = match body {
        Err(Written::TooLarge) => {
            let mut error =
                async_graphql::Error::from(bytes_exceeded(max_bytes)).into_server_error(async_graphql::Pos::default());
            error.locations.clear();
            errors::apply(&mut error, "");
            return reply(
                BatchResponse::Single(GqlResponse::from_errors(vec![error])),
                media,
                true,
                report,
                usize::MAX,
            );
        }
        Err(Written::Failed(error)) => Err(error),
        Ok(body) => Ok(body),
    };
    if let Some(Extension(report)) = report {
        report.errors(codes);
    }
    // Serialising a tree of strings, numbers and maps with string keys cannot fail; should it ever, the
    // client gets the policy's INTERNAL error rather than a half-written body.
    let body = body.unwrap_or_else(|error| {
        tracing::error!(%error, "a GraphQL response could not be serialised");
        br#"{"errors":[{"message":"Internal error","extensions":{"code":"INTERNAL"}}]}"#.to_vec()
    });
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, media.content_type());
    response
}

/// What the reply buffer starts with (16 KiB): replies smaller than this take one allocation, larger
/// ones are doubled from here rather than from nothing.
const REPLY_BUFFER: usize = 16 * 1024;

/// Why a body could not be written.
enum Written {
    /// It would be larger than the cap.
    TooLarge,
    /// Serialisation failed.
    Failed(serde_json::Error),
}

/// `value` as JSON, unless it would be larger than `max_bytes`.
fn write_limited(value: &impl serde::Serialize, max_bytes: usize) -> Result<Vec<u8>, Written> {
    // Started at a size that holds most replies whole: grown from nothing, a reply of a hundred KiB is
    // copied a dozen times on its way.
    let mut writer = LimitedWriter::new(Vec::with_capacity(REPLY_BUFFER.min(max_bytes)), max_bytes);
    match serde_json::to_writer(&mut writer, value) {
        Ok(()) => Ok(writer.into_inner()),
        Err(_) if writer.exceeded => Err(Written::TooLarge),
        Err(error) => Err(Written::Failed(error)),
    }
}

/// A response holding only `error` (a request error: nothing was executed), shaped by the error policy.
fn error_response(error: ApiError, meta: &RequestMeta, media: MediaType, report: &Report) -> Response {
    let mut server_error = async_graphql::Error::from(error).into_server_error(async_graphql::Pos::default());
    server_error.locations.clear();
    errors::apply(&mut server_error, &meta.request_id);
    reply(BatchResponse::Single(GqlResponse::from_errors(vec![server_error])), media, true, report, usize::MAX)
}

/// A request that is not a well-formed GraphQL-over-HTTP request (400 whatever the media type).
fn malformed(message: impl Into<String>, meta: &RequestMeta, media: MediaType, report: &Report) -> Response {
    if let Some(Extension(report)) = report {
        report.graphql(RequestType::Invalid, Vec::new());
    }
    let mut response = error_response(ApiError::bad_input("body", message), meta, media, report);
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response
}

fn not_acceptable() -> Response {
    (
        StatusCode::NOT_ACCEPTABLE,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "Accept application/json or application/graphql-response+json",
    )
        .into_response()
}

fn accept_header(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ACCEPT).and_then(|value| value.to_str().ok())
}

/// Executes `batch` within the request's deadline. `refused` are the operations of a batch that could not
/// be resolved (a persisted query: `crate::graphql::persisted`), with their place in it: they are answered
/// there with their error, and do not execute.
async fn execute(
    state: &HttpState,
    headers: &HeaderMap,
    meta: RequestMeta,
    batch: BatchRequest,
    refused: Vec<(usize, Unresolved)>,
    media: MediaType,
    report: &Report,
) -> Response {
    let deadline = Duration::from_millis(state.app.config.request_timeout_ms);
    let work = execute_within_deadline(state, headers, &meta, batch, refused, media, report);
    match tokio::time::timeout(deadline, work).await {
        Ok(response) => response,
        // Dropping the work cancels whatever SQL statement it was waiting for (`crate::db::pool`).
        Err(_) => error_response(
            ApiError::unavailable(format!("the request's deadline of {} ms passed", deadline.as_millis())),
            &meta,
            media,
            report,
        ),
    }
}

async fn execute_within_deadline(
    state: &HttpState,
    headers: &HeaderMap,
    meta: &RequestMeta,
    batch: BatchRequest,
    refused: Vec<(usize, Unresolved)>,
    media: MediaType,
    report: &Report,
) -> Response {
    let shape = shape_of(&batch);
    if let Some(Extension(report)) = report {
        report.graphql(shape.request_type, shape.names.clone());
    }
    if let BatchRequest::Batch(requests) = &batch {
        if requests.len() + refused.len() > state.app.config.max_batch {
            let message = format!("At most {} operations may be batched in one request", state.app.config.max_batch);
            return error_response(ApiError::bad_input("batch", message), meta, media, report);
        }
        if requests.is_empty() {
            // Nothing to run: no caller to authenticate.
            let answers = refused_in_place(BatchResponse::Batch(Vec::new()), refused, &meta.request_id);
            return with_protocol_headers(reply(answers, media, false, report, state.app.config.max_reply_bytes));
        }
    }
    let credential = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
    // Every statement of the request is counted for its log line, on whichever database serves it.
    let statements = match report {
        Some(Extension(report)) => report.statements(),
        None => Arc::default(),
    };
    let primary = state.app.pool.for_request(statements.clone());
    let (app, database) = match (&state.app.routing, shape.read_only) {
        (Some(routing), true) => {
            let standby = routing.standby().for_request(statements);
            match routing.route_read(fence_key(credential).as_deref(), &primary, &standby).await {
                Route::Standby => (state.app.with_pool(standby), Database::Standby),
                Route::Primary => (state.app.with_pool(primary.clone()), Database::Primary),
            }
        }
        _ => (state.app.with_pool(primary.clone()), Database::Primary),
    };
    if let Some(Extension(report)) = report {
        report.database(database);
    }
    let client = client_of(meta);
    let principal = match resolve_principal_on(&app, &primary, database, credential, client).await {
        Ok(principal) => principal,
        Err(error) => return error_response(error, meta, media, report),
    };
    if let Some(Extension(report)) = report {
        report.principal(&principal);
    }
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    let mut accesses = Vec::new();
    // One allowance for the whole request, however many operations it batches.
    let allowance = crate::graphql::allowance::RequestAllowance::new();
    // One reply, one byte budget: the text the batched operations put into it is counted together, so
    // that building it stops once it passes CAPCOM_MAX_REPLY_BYTES.
    let bytes = ReplyBytes::new(state.app.config.max_reply_bytes);
    let mut attach = |request: async_graphql::Request| {
        let access = new_access(&app, principal.clone(), Batches::Local(sender.clone()), client, bytes.clone());
        accesses.push(access.clone());
        request.data(access).data(meta.clone()).data(app.clone()).data(allowance.clone())
    };
    let batch = match batch {
        BatchRequest::Single(request) => BatchRequest::Single(attach(request)),
        BatchRequest::Batch(requests) => BatchRequest::Batch(requests.into_iter().map(&mut attach).collect()),
    };
    drop(sender);
    // The turn is held until the reply is serialised: what a request holds in memory while it runs (rows,
    // the value tree, the body) is then bounded by the number of turns, whatever the number of clients.
    let operations = match &batch {
        BatchRequest::Single(_) => 1,
        BatchRequest::Batch(requests) => u32::try_from(requests.len()).unwrap_or(u32::MAX),
    };
    let share = crate::db::DbPool::this_thread_shard(state.executions.len());
    let Ok(_turn) = state.executions[share].acquire_many(operations.clamp(1, state.execution_turns[share])).await
    else {
        return error_response(ApiError::unavailable("the server is shutting down"), meta, media, report);
    };
    let mut response = run_with_batches(state.schema.execute_batch(batch), receiver).await;
    let too_large = bytes.exceeded();
    if too_large {
        // Whatever the operations built is dropped: the reply is refused as one that is too large.
        let mut error =
            async_graphql::Error::from(bytes_exceeded(bytes.max())).into_server_error(async_graphql::Pos::default());
        error.locations.clear();
        errors::apply(&mut error, &meta.request_id);
        response = BatchResponse::Single(GqlResponse::from_errors(vec![error]));
    }
    if let (Some(routing), true) = (&state.app.routing, shape.writes) {
        // The caller as it was and as it is now (a sign-up or sign-in becomes the new user).
        let mut keys: Vec<String> = fence_key(credential).into_iter().collect();
        keys.extend(accesses.iter().filter_map(|access| principal_key(&access.principal())));
        keys.sort();
        keys.dedup();
        routing.record_write(&primary, &keys).await;
    }
    let refusals = !refused.is_empty();
    let response = refused_in_place(response, refused, &meta.request_id);
    let reply = reply(response, media, too_large, report, state.app.config.max_reply_bytes);
    if refusals { with_protocol_headers(reply) } else { reply }
}

/// `responses` (a batch's) with the answer of each operation of `refused` put back at its place.
fn refused_in_place(responses: BatchResponse, refused: Vec<(usize, Unresolved)>, request_id: &str) -> BatchResponse {
    let BatchResponse::Batch(mut responses) = responses else { return responses };
    // Ascending positions, each inserted where it was: the ones before it are already in place.
    for (index, unresolved) in refused {
        let mut error = unresolved.into_server_error();
        errors::apply(&mut error, request_id);
        responses.insert(index.min(responses.len()), GqlResponse::from_errors(vec![error]));
    }
    BatchResponse::Batch(responses)
}

/// `response` marked as Apollo Server marks an answer holding one of its persisted-query errors: not to
/// be kept by any cache (a `GET` by hash answered "not found" must not stay so once the text is known).
fn with_protocol_headers(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache, must-revalidate"));
    response
}

/// The answer to a request naming a persisted query that cannot run. Apollo's own two errors
/// (`PersistedQueryNotFound`, `PersistedQueryNotSupported`) are answered with HTTP 200 whatever the media
/// type, as Apollo Server answers them and as its clients expect before they retry; a malformed or
/// mismatched hash is a request error like any other (BAD_USER_INPUT).
fn unresolved_response(unresolved: Unresolved, meta: &RequestMeta, media: MediaType, report: &Report) -> Response {
    if let Some(Extension(report)) = report {
        report.graphql(RequestType::Invalid, Vec::new());
    }
    let protocol = unresolved.is_protocol();
    let mut error = unresolved.into_server_error();
    errors::apply(&mut error, &meta.request_id);
    let mut response =
        reply(BatchResponse::Single(GqlResponse::from_errors(vec![error])), media, true, report, usize::MAX);
    if protocol {
        *response.status_mut() = StatusCode::OK;
        response = with_protocol_headers(response);
    }
    response
}

/// One operation as a request carries it, before the persisted query it names (if any) is resolved.
struct Incoming {
    /// The operation; its `query` is empty when the client sent only a hash.
    request: async_graphql::Request,
    /// The hash `extensions.persistedQuery` names, if any, or why it cannot be read.
    persisted: Result<Option<QueryHash>, ApiError>,
}

impl Incoming {
    /// The operation to run: the request itself, or the document its persisted query names (Apollo's
    /// protocol, `crate::graphql::persisted`), registering the text it sent under its hash.
    fn resolve(self, store: &PersistedQueries) -> Result<async_graphql::Request, Unresolved> {
        let mut request = self.request;
        match self.persisted.map_err(Unresolved::Invalid)? {
            None => Ok(request),
            Some(hash) => {
                let sent = std::mem::take(&mut request.query);
                request.query = store.resolve(Some(sent), hash)?;
                Ok(request)
            }
        }
    }
}

/// Reads one request object of a POST body: `query` must be a string; `operationName` a string or null;
/// `variables` and `extensions` objects or null. Other properties are ignored (the specification says so).
/// `query` may be left out when `extensions.persistedQuery` names a hash instead (Apollo's automatic
/// persisted queries).
fn request_from_json(value: Value) -> Result<Incoming, String> {
    let Value::Object(mut object) = value else {
        return Err("The request body must be a JSON object (or an array of them)".to_owned());
    };
    let query = match object.remove("query") {
        Some(Value::String(query)) => Some(query),
        Some(_) => return Err("query must be a string".to_owned()),
        None => None,
    };
    let persisted = persisted::requested_hash(object.get("extensions"));
    let query = match query {
        Some(query) => query,
        // A hash stands for the text; a malformed persistedQuery entry is answered as such.
        None if !matches!(persisted, Ok(None)) => String::new(),
        None => return Err("The request has no query".to_owned()),
    };
    let mut request = async_graphql::Request::new(query);
    match object.remove("operationName") {
        None | Some(Value::Null) => {}
        Some(Value::String(name)) => request = request.operation_name(name),
        Some(_) => return Err("operationName must be a string".to_owned()),
    }
    match object.remove("variables") {
        None | Some(Value::Null) => {}
        Some(variables @ Value::Object(_)) => {
            request = request.variables(async_graphql::Variables::from_json(variables))
        }
        Some(_) => return Err("variables must be an object".to_owned()),
    }
    match object.remove("extensions") {
        None | Some(Value::Null) | Some(Value::Object(_)) => {}
        Some(_) => return Err("extensions must be an object".to_owned()),
    }
    Ok(Incoming { request, persisted })
}

/// Reads a GET request's parameters: `query`, `operationName`, and `variables` / `extensions` as JSON
/// text (async-graphql's own reader expects `operation_name`, not the specification's `operationName`).
fn request_from_query_string(query_string: &str, max_values: usize) -> Result<Incoming, String> {
    #[derive(serde::Deserialize)]
    struct Parameters {
        query: Option<String>,
        #[serde(rename = "operationName", alias = "operation_name")]
        operation_name: Option<String>,
        variables: Option<String>,
        extensions: Option<String>,
    }
    let parameters: Parameters = serde_urlencoded::from_str(query_string)
        .map_err(|error| format!("The URL's parameters are unreadable: {error}"))?;
    let mut object = serde_json::Map::new();
    object.insert("query".to_owned(), parameters.query.map(Value::String).unwrap_or(Value::Null));
    if let Some(name) = parameters.operation_name.filter(|name| !name.is_empty()) {
        object.insert("operationName".to_owned(), Value::String(name));
    }
    for (key, text) in [("variables", parameters.variables), ("extensions", parameters.extensions)] {
        if let Some(text) = text.filter(|text| !text.is_empty()) {
            let value = crate::http::input::json_bounded(text.as_bytes(), max_values).map_err(|error| match error {
                BoundedJsonError::Invalid(error) => format!("{key} is not valid JSON: {error}"),
                error => format!("{key} {error}"),
            })?;
            object.insert(key.to_owned(), value);
        }
    }
    if object.get("query").is_some_and(Value::is_null) {
        object.remove("query");
    }
    request_from_json(Value::Object(object))
}

/// Whether a `Content-Type` names JSON in UTF-8 (the only request encoding capcom reads).
fn is_json_content_type(content_type: &str) -> bool {
    let mut parts = content_type.split(';');
    let media = parts.next().unwrap_or_default().trim();
    let utf8 = parts.filter_map(|parameter| parameter.split_once('=')).all(|(name, value)| {
        !name.trim().eq_ignore_ascii_case("charset") || value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
    });
    media.eq_ignore_ascii_case(JSON) && utf8
}

/// Names `Accept` in the `Vary` of a [`get_handler`] answer (RFC 9110 §12.5.5): what it is (the page,
/// `application/json` or `application/graphql-response+json`) depends on it, so a cache must not hand one
/// client's answer to another.
pub async fn varies_by_accept(mut response: Response) -> Response {
    response.headers_mut().append(header::VARY, HeaderValue::from_static("accept"));
    response
}

/// `POST /v1`, `POST /graphql`.
pub async fn post_handler(
    State(state): State<HttpState>,
    request_id: Option<Extension<RequestId>>,
    client: Option<Extension<ClientAddress>>,
    report: Report,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let meta = request_meta(request_id, client);
    let Some(media) = negotiate(accept_header(&headers)) else { return not_acceptable() };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok());
    if !content_type.is_some_and(is_json_content_type) {
        if let Some(Extension(report)) = &report {
            report.graphql(RequestType::Invalid, Vec::new());
        }
        let mut response = error_response(
            ApiError::bad_input("Content-Type", "Send the request as Content-Type: application/json"),
            &meta,
            media,
            &report,
        );
        *response.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
        return response;
    }
    let json: Value = match crate::http::input::json_bounded(&body, state.app.config.max_input_values) {
        Ok(json) => json,
        Err(BoundedJsonError::Invalid(error)) => {
            return malformed(format!("The request body is not valid JSON: {error}"), &meta, media, &report);
        }
        Err(error) => return malformed(format!("The request body {error}"), &meta, media, &report),
    };
    let store = &state.persisted;
    let (batch, refused) = match json {
        Value::Array(items) if items.is_empty() => return malformed("The batch is empty", &meta, media, &report),
        Value::Array(items) => match items.into_iter().map(request_from_json).collect::<Result<Vec<_>, _>>() {
            // Each operation of a batch is resolved on its own: one whose hash is unknown is answered
            // PersistedQueryNotFound in its place, and the others run.
            Ok(items) => {
                let mut requests = Vec::with_capacity(items.len());
                let mut refused = Vec::new();
                for (index, item) in items.into_iter().enumerate() {
                    match item.resolve(store) {
                        Ok(request) => requests.push(request),
                        Err(unresolved) => refused.push((index, unresolved)),
                    }
                }
                (BatchRequest::Batch(requests), refused)
            }
            Err(message) => return malformed(message, &meta, media, &report),
        },
        single => match request_from_json(single).map(|incoming| incoming.resolve(store)) {
            Ok(Ok(request)) => (BatchRequest::Single(request), Vec::new()),
            Ok(Err(unresolved)) => return unresolved_response(unresolved, &meta, media, &report),
            Err(message) => return malformed(message, &meta, media, &report),
        },
    };
    execute(&state, &headers, meta, batch, refused, media, &report).await
}

/// `GET /v1`, `GET /graphql`: GraphiQL for a browser, otherwise a query from the URL (never a mutation:
/// a GET must not change anything, so one is answered 405 with `Allow: POST`). The router names `Accept`
/// in each answer's `Vary` ([`varies_by_accept`]).
pub async fn get_handler(
    State(state): State<HttpState>,
    request_id: Option<Extension<RequestId>>,
    client: Option<Extension<ClientAddress>>,
    report: Report,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let accept = accept_header(&headers);
    let wants_html = accept.is_some_and(|accept| accept.contains("text/html"));
    let meta = request_meta(request_id, client);
    let query_string = uri.query().unwrap_or_default();
    if wants_html && !query_string.contains("query=") {
        // The route's own path, as a constant: nothing of the request reaches the page.
        return graphiql::page(if uri.path() == "/graphql" { "/graphql" } else { "/v1" });
    }
    let Some(media) = negotiate(accept) else { return not_acceptable() };
    let request = match request_from_query_string(query_string, state.app.config.max_input_values) {
        Ok(incoming) => match incoming.resolve(&state.persisted) {
            Ok(request) => request,
            Err(unresolved) => return unresolved_response(unresolved, &meta, media, &report),
        },
        Err(message) => return malformed(message, &meta, media, &report),
    };
    // The document (the one a hash names, when it came by hash) is checked for size before it is parsed
    // to see which operation it selects.
    if let Err(error) = limits::check_text(&request.query, state.app.config.max_tokens) {
        return malformed(error.message, &meta, media, &report);
    }
    if let Ok(document) = async_graphql::parser::parse_query(&request.query) {
        if limits::selects_mutation(&document, request.operation_name.as_deref()) {
            if let Some(Extension(report)) = &report {
                report.graphql(RequestType::Mutation, request.operation_name.iter().cloned().collect());
            }
            let mut response =
                error_response(ApiError::bad_input("query", "Mutations must be sent with POST"), &meta, media, &report);
            *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
    }
    execute(&state, &headers, meta, BatchRequest::Single(request), Vec::new(), media, &report).await
}

/// `GET /ws`: GraphQL over WebSocket, `graphql-transport-ws` and the legacy `graphql-ws` protocol (see
/// [`crate::http::ws`]). The token comes in `connection_init`'s payload (`authorization` or
/// `Authorization`). A browser page of another site not listed in `CAPCOM_CORS_ORIGINS` is refused with 403
/// before the upgrade (see [`crate::http::cors`]).
pub async fn ws_handler(
    State(state): State<HttpState>,
    request_id: Option<Extension<RequestId>>,
    client: Option<Extension<ClientAddress>>,
    headers: HeaderMap,
    uri: Uri,
    upgrade: WebSocketUpgrade,
) -> Response {
    let meta = request_meta(request_id, client);
    if !state.origins.allows_websocket(&headers, uri.authority().map(|authority| authority.as_str())) {
        let origin = headers.get(header::ORIGIN).and_then(|value| value.to_str().ok()).unwrap_or_default();
        tracing::info!(origin, "WebSocket refused: the page's origin is not in CAPCOM_CORS_ORIGINS");
        return (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "This page's origin may not open a WebSocket to capcom (CAPCOM_CORS_ORIGINS)",
        )
            .into_response();
    }
    let offered = headers.get(header::SEC_WEBSOCKET_PROTOCOL).and_then(|value| value.to_str().ok()).unwrap_or_default();
    let Some(protocol) = offered.split(',').find_map(ws::Protocol::from_name) else {
        return (StatusCode::BAD_REQUEST, "Sec-WebSocket-Protocol must offer graphql-transport-ws or graphql-ws")
            .into_response();
    };
    let Some(permit) = state.sockets.try_open() else {
        return (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "5")], "Too many open WebSockets")
            .into_response();
    };
    let max_message = state.app.config.max_body_bytes;
    let app = state.app.clone();
    let client = client_of(&meta);
    let session = ws::Session {
        protocol,
        schema: state.schema.clone(),
        app: state.app.clone(),
        meta,
        registry: state.sockets.clone(),
        permit,
    };
    upgrade.protocols([protocol.name()]).max_message_size(max_message).max_frame_size(max_message).on_upgrade(
        move |socket| async move {
            ws::serve(socket, session, move |credential: Option<String>| {
                let app = app.clone();
                async move { resolve_principal(&app, credential.as_deref(), client).await }
            })
            .await
        },
    )
}
