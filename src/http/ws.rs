//! GraphQL over WebSocket at `/ws`: `graphql-transport-ws` and the legacy `graphql-ws`
//! (subscriptions-transport-ws) protocol, which the `astro` CLI speaks.
//!
//! async-graphql ships a session loop for both, but it acknowledges any `connection_init` before the
//! principal is known to be valid, has no deadline for `connection_init`, silently replaces a subscription
//! whose id is reused, and closes the socket on a legacy `start` without an `id`. capcom needs all four
//! the other way, so the session loop is here; executing each subscription is still async-graphql's
//! (`Schema::execute_stream`), with the same extensions (limits, error policy) as HTTP requests.
//!
//! | event | graphql-transport-ws | graphql-ws (legacy) |
//! |---|---|---|
//! | no `connection_init` within `CAPCOM_WS_INIT_TIMEOUT_MS` | close 4408 | `connection_error`, close 4408 |
//! | missing, invalid, expired or revoked token | close 4403 | `connection_error` (the message), close |
//! | principal already holds `CAPCOM_WS_MAX_SOCKETS_PER_PRINCIPAL` sockets | close 1013 | `connection_error`, close 1013 |
//! | more than `CAPCOM_WS_MAX_SUBSCRIPTIONS` on the socket, or `CAPCOM_WS_MAX_SUBSCRIPTIONS_PER_PRINCIPAL` over all the principal's sockets | `error` for that id | `error` for that id |
//! | a message of more than `CAPCOM_MAX_INPUT_VALUES` JSON values | close 4400 | close 4400 |
//! | database unavailable during `connection_init` | close 1013 | `connection_error`, close 1013 |
//! | second `connection_init` | close 4429 | `connection_error`, close 4429 |
//! | `subscribe` before the acknowledgement | close 4401 | (`start` waits for the init in order) |
//! | `subscribe` with an id in use | close 4409 | the old subscription is replaced |
//! | `start` without `id` | — | accepted; replies carry no `id` |
//! | unreadable message | close 4400 | close 4400 |
//!
//! Every socket counts against `CAPCOM_WS_MAX_SOCKETS` from the upgrade on (beyond it the upgrade is
//! answered 503), and against its principal's allowance once signed in.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::Response;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinHandle;

use crate::auth::Principal;
use crate::error::{ApiError, MSG_INVALID_TOKEN, MSG_NOT_SIGNED_IN};
use crate::graphql::{GraphqlService, RequestMeta};
use crate::state::AppState;

/// The sub-protocol a socket speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `graphql-transport-ws` (the graphql-ws library's protocol).
    TransportWs,
    /// `graphql-ws`, subscriptions-transport-ws's legacy protocol.
    LegacyWs,
}

impl Protocol {
    /// The protocol named by a `Sec-WebSocket-Protocol` value.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.trim() {
            "graphql-transport-ws" => Some(Protocol::TransportWs),
            "graphql-ws" => Some(Protocol::LegacyWs),
            _ => None,
        }
    }

    /// The `Sec-WebSocket-Protocol` value.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::TransportWs => "graphql-transport-ws",
            Protocol::LegacyWs => "graphql-ws",
        }
    }
}

/// Open sockets of this process, in total and per principal, and the subscriptions each principal runs.
#[derive(Debug)]
pub struct SocketRegistry {
    total: Arc<Semaphore>,
    per_principal: Arc<Mutex<HashMap<String, Usage>>>,
    max_per_principal: usize,
    max_subscriptions_per_principal: usize,
}

/// What one principal holds in this process.
#[derive(Debug, Default)]
struct Usage {
    sockets: usize,
    subscriptions: usize,
}

/// Which count a [`Claim`] holds one of.
#[derive(Debug, Clone, Copy)]
enum Claimed {
    Socket,
    Subscription,
}

/// A principal's claim on one socket or one subscription; released when dropped.
struct Claim {
    key: String,
    what: Claimed,
    per_principal: Arc<Mutex<HashMap<String, Usage>>>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Ok(mut usages) = self.per_principal.lock() {
            if let Some(usage) = usages.get_mut(&self.key) {
                match self.what {
                    Claimed::Socket => usage.sockets = usage.sockets.saturating_sub(1),
                    Claimed::Subscription => usage.subscriptions = usage.subscriptions.saturating_sub(1),
                }
                if usage.sockets == 0 && usage.subscriptions == 0 {
                    usages.remove(&self.key);
                }
            }
        }
    }
}

impl SocketRegistry {
    /// A registry allowing `max_total` sockets, `max_per_principal` of them per principal, and
    /// `max_subscriptions_per_principal` subscriptions per principal over all its sockets.
    pub fn new(max_total: usize, max_per_principal: usize, max_subscriptions_per_principal: usize) -> Self {
        SocketRegistry {
            total: Arc::new(Semaphore::new(max_total.min(Semaphore::MAX_PERMITS))),
            per_principal: Arc::new(Mutex::new(HashMap::new())),
            max_per_principal,
            max_subscriptions_per_principal,
        }
    }

    /// A place for one more socket, if the process has one left.
    pub fn try_open(&self) -> Option<OwnedSemaphorePermit> {
        self.total.clone().try_acquire_owned().ok()
    }

    /// One more of `what` for the principal `key`, if it holds fewer than its allowance.
    fn try_claim(&self, key: &str, what: Claimed) -> Option<Claim> {
        let mut usages = self.per_principal.lock().ok()?;
        let usage = usages.entry(key.to_owned()).or_default();
        let (count, max) = match what {
            Claimed::Socket => (&mut usage.sockets, self.max_per_principal),
            Claimed::Subscription => (&mut usage.subscriptions, self.max_subscriptions_per_principal),
        };
        if *count >= max {
            if usage.sockets == 0 && usage.subscriptions == 0 {
                usages.remove(key);
            }
            return None;
        }
        *count += 1;
        Some(Claim { key: key.to_owned(), what, per_principal: self.per_principal.clone() })
    }
}

/// What one session needs besides the socket.
pub struct Session {
    /// The protocol negotiated at the upgrade.
    pub protocol: Protocol,
    /// The schema subscriptions run on.
    pub schema: GraphqlService,
    /// Application state (configuration, pool for per-subscription loaders).
    pub app: AppState,
    /// The upgrade request's id and client address.
    pub meta: RequestMeta,
    /// The process's socket registry.
    pub registry: Arc<SocketRegistry>,
    /// This socket's place in the registry's total.
    pub permit: OwnedSemaphorePermit,
}

enum Outgoing {
    Response { id: String, generation: u64, response: Box<Response>, first: bool },
    Done { id: String, generation: u64 },
}

struct Running {
    generation: u64,
    /// The subscription's place in its principal's allowance, released with the entry.
    _claim: Claim,
    /// Whether the client gave this id (a legacy `start` may not): replies then carry no `id`.
    id_given: bool,
    task: JoinHandle<()>,
}

/// Why a session ends early: a close code and reason (and, for the legacy protocol, a `connection_error`
/// message to send first).
struct Close {
    code: u16,
    reason: String,
}

fn close(code: u16, reason: impl Into<String>) -> Close {
    Close { code, reason: reason.into() }
}

fn text(value: Value) -> Message {
    Message::Text(Utf8Bytes::from(value.to_string()))
}

/// A request error (parse, validation, limits, coercion) rather than an execution result: no data and no
/// error tied to a field.
pub fn is_request_error(response: &Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|error| error.path.is_empty())
}

/// How long a socket closed by capcom waits for the client's side of the closing handshake.
const CLOSING_HANDSHAKE: Duration = Duration::from_secs(1);

/// Why a session is closed (1001, "going away") when capcom stops.
pub const MSG_STOPPING: &str = "capcom is stopping";

/// Serves one socket until either side closes it, or capcom stops. `authenticate` turns the `connection_init` credential
/// into a principal; it runs again for every operation the socket starts, so that a credential revoked,
/// expired or stripped of roles since the socket opened stops working there too (SPEC §3).
pub async fn serve<A, F>(mut socket: WebSocket, session: Session, authenticate: A)
where
    A: Fn(Option<String>) -> F,
    F: Future<Output = Result<Principal, ApiError>>,
{
    let protocol = session.protocol;
    let _open = crate::metrics::GaugeGuard::new(session.app.metrics.websockets());
    // Held until the session ends: the stop tells it to close, then waits for it (`http::server`).
    let mut hold = session.app.upgraded.hold();
    let outcome = tokio::select! {
        outcome = run(&mut socket, &session, authenticate) => outcome,
        () = hold.closing() => Err(close(1001, MSG_STOPPING)),
    };
    // The session is over: its place in the process's total is free while the socket closes.
    drop(session.permit);
    if let Err(Close { code, reason }) = outcome {
        if protocol == Protocol::LegacyWs && code != 4400 {
            let _ = socket.send(text(json!({"type": "connection_error", "payload": {"message": reason}}))).await;
        }
        let _ = socket.send(Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from(reason) }))).await;
        // The closing handshake (RFC 6455 §7.1.1): read, and drop, what the client still sends until its own
        // Close or the end, for at most a second. Dropping the socket with the client's messages unread made
        // the kernel answer with a reset, which discards the Close frame not yet delivered.
        let _ = tokio::time::timeout(CLOSING_HANDSHAKE, async {
            while let Some(Ok(message)) = socket.recv().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}

/// Reads the next text message as JSON of at most `max_values` values (`CAPCOM_MAX_INPUT_VALUES`);
/// `Ok(None)` when the client closed the socket.
async fn next_message(socket: &mut WebSocket, max_values: usize) -> Result<Option<Value>, Close> {
    loop {
        return match socket.recv().await {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => Ok(None),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Text(body))) => match crate::http::input::json_bounded(body.as_bytes(), max_values) {
                Ok(value) => Ok(Some(value)),
                Err(crate::http::input::BoundedJsonError::TooManyValues(max)) => {
                    Err(close(4400, format!("The message holds more than {max} JSON values")))
                }
                Err(_) => Err(close(4400, "Invalid message received")),
            },
            Some(Ok(Message::Binary(_))) => Err(close(4400, "Binary messages are not part of the protocol")),
        };
    }
}

fn message_type(message: &Value) -> &str {
    message.get("type").and_then(Value::as_str).unwrap_or_default()
}

async fn run<A, F>(socket: &mut WebSocket, session: &Session, authenticate: A) -> Result<(), Close>
where
    A: Fn(Option<String>) -> F,
    F: Future<Output = Result<Principal, ApiError>>,
{
    let protocol = session.protocol;
    let init_deadline = tokio::time::Instant::now() + Duration::from_millis(session.app.config.ws_init_timeout_ms);
    // 1. Wait for connection_init (answering pings), within the deadline.
    let payload = loop {
        let message = tokio::select! {
            message = next_message(socket, session.app.config.max_input_values) => message?,
            () = tokio::time::sleep_until(init_deadline) => {
                return Err(close(4408, "Connection initialisation timeout"));
            }
        };
        let Some(message) = message else { return Ok(()) };
        match message_type(&message) {
            "connection_init" => break message.get("payload").cloned().unwrap_or(Value::Null),
            "ping" => {
                let _ = socket.send(text(json!({"type": "pong"}))).await;
            }
            "pong" => {}
            "connection_terminate" => return Ok(()),
            "subscribe" | "start" => return Err(close(4401, "Unauthorized")),
            _ => return Err(close(4400, "Invalid message received")),
        }
    };

    // 2. Authenticate: a missing, invalid or revoked credential is refused before anything is acknowledged.
    let credential = ["authorization", "Authorization"]
        .iter()
        .find_map(|key| payload.get(*key).and_then(Value::as_str).map(str::to_owned));
    let refused = |message: &str| match protocol {
        Protocol::TransportWs => close(4403, "Forbidden"),
        Protocol::LegacyWs => close(4403, message),
    };
    if credential.as_deref().is_none_or(|value| value.trim().is_empty()) {
        return Err(refused(MSG_NOT_SIGNED_IN));
    }
    let principal = match authenticate(credential.clone()).await {
        Ok(principal) => principal,
        Err(ApiError::Unavailable(detail)) => {
            tracing::warn!(request_id = %session.meta.request_id, reason = %detail, "WebSocket refused: database unavailable");
            return Err(close(1013, crate::error::MSG_UNAVAILABLE));
        }
        Err(ApiError::Internal(detail)) => {
            tracing::error!(request_id = %session.meta.request_id, error = %detail, "WebSocket connection_init failed");
            return Err(close(4500, format!("Internal error (request {})", session.meta.request_id)));
        }
        Err(error) => return Err(refused(&error.to_string())),
    };
    let key = match &principal {
        Principal::User(user) => format!("user {}", user.user.id),
        Principal::ServiceAccount(account) => format!("service account {}", account.account.id),
        Principal::Anonymous => return Err(refused(MSG_NOT_SIGNED_IN)),
        Principal::Rejected => return Err(refused(MSG_INVALID_TOKEN)),
    };
    let Some(_claim) = session.registry.try_claim(&key, Claimed::Socket) else {
        return Err(close(1013, "Too many open WebSockets for this account; close one and try again"));
    };
    if socket.send(text(json!({"type": "connection_ack"}))).await.is_err() {
        return Ok(());
    }

    // 3. Serve subscriptions until the client leaves.
    let (sender, mut receiver) = mpsc::channel::<Outgoing>(64);
    let mut running: HashMap<String, Running> = HashMap::new();
    let mut generation = 0u64;
    let result = loop {
        tokio::select! {
            message = next_message(socket, session.app.config.max_input_values) => {
                let message = match message {
                    Ok(Some(message)) => message,
                    Ok(None) => break Ok(()),
                    Err(close) => break Err(close),
                };
                match (protocol, message_type(&message)) {
                    (_, "connection_init") => break Err(close(4429, "Too many initialisation requests")),
                    (_, "ping") => {
                        let _ = socket.send(text(json!({"type": "pong"}))).await;
                    }
                    (_, "pong") => {}
                    (Protocol::LegacyWs, "connection_terminate") => break Ok(()),
                    (Protocol::TransportWs, "subscribe") | (Protocol::LegacyWs, "start") => {
                        let given = message.get("id").and_then(Value::as_str).map(str::to_owned);
                        let id = match (protocol, given) {
                            (_, Some(id)) => id,
                            (Protocol::LegacyWs, None) => String::new(),
                            (Protocol::TransportWs, None) => break Err(close(4400, "Invalid message received")),
                        };
                        if running.contains_key(&id) {
                            if protocol == Protocol::TransportWs {
                                break Err(close(4409, format!("Subscriber for {id} already exists")));
                            }
                            if let Some(old) = running.remove(&id) {
                                old.task.abort();
                            }
                        }
                        let claim = if running.len() >= session.app.config.ws_max_subscriptions {
                            Err(format!(
                                "At most {} subscriptions may run on one socket",
                                session.app.config.ws_max_subscriptions
                            ))
                        } else {
                            session.registry.try_claim(&key, Claimed::Subscription).ok_or_else(|| {
                                format!(
                                    "At most {} subscriptions may run at once for one account, over all its sockets",
                                    session.app.config.ws_max_subscriptions_per_principal
                                )
                            })
                        };
                        let claim = match claim {
                            Ok(claim) => claim,
                            Err(message) => {
                                let error = json!([{"message": message, "extensions": {"code": crate::error::code::BAD_USER_INPUT}}]);
                                let reply = match protocol {
                                    Protocol::TransportWs => json!({"type": "error", "id": id, "payload": error}),
                                    Protocol::LegacyWs => json!({"type": "error", "id": id, "payload": {"errors": error}}),
                                };
                                let _ = socket.send(text(reply)).await;
                                continue;
                            }
                        };
                        let Ok(request) = serde_json::from_value::<async_graphql::Request>(
                            message.get("payload").cloned().unwrap_or(Value::Null),
                        ) else {
                            break Err(close(4400, "Invalid message received"));
                        };
                        // The credential and the roles are read again for every operation: the socket may
                        // have outlived a logout, a key's rotation or a removal from a workspace.
                        let principal = match authenticate(credential.clone()).await {
                            Ok(fresh @ (Principal::User(_) | Principal::ServiceAccount(_))) => fresh,
                            Ok(_) => break Err(refused(MSG_INVALID_TOKEN)),
                            Err(ApiError::Unavailable(_)) => break Err(close(1013, crate::error::MSG_UNAVAILABLE)),
                            Err(error) => {
                                tracing::error!(request_id = %session.meta.request_id, %error, "WebSocket re-authentication failed");
                                break Err(close(4500, format!("Internal error (request {})", session.meta.request_id)));
                            }
                        };
                        generation += 1;
                        let access = crate::http::graphql::subscription_access(
                            &session.app,
                            principal,
                            crate::http::graphql::client_of(&session.meta),
                        );
                        let request = request.data(access).data(session.meta.clone());
                        let counted = crate::metrics::GaugeGuard::new(session.app.metrics.subscriptions());
                        let task =
                            spawn_subscription(&session.schema, request, id.clone(), generation, sender.clone(), counted);
                        let id_given = message.get("id").is_some();
                        running.insert(id, Running { generation, _claim: claim, id_given, task });
                    }
                    (Protocol::TransportWs, "complete") | (Protocol::LegacyWs, "stop") => {
                        let id = message.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
                        if let Some(old) = running.remove(&id) {
                            old.task.abort();
                            if protocol == Protocol::LegacyWs {
                                let _ = socket.send(text(with_id(json!({"type": "complete"}), &id, old.id_given))).await;
                            }
                        }
                    }
                    _ => break Err(close(4400, "Invalid message received")),
                }
            }
            Some(outgoing) = receiver.recv() => {
                match outgoing {
                    Outgoing::Response { id, generation, response, first } => {
                        let Some(entry) = running.get(&id).filter(|entry| entry.generation == generation) else { continue };
                        let id_given = entry.id_given;
                        let request_error = first && is_request_error(&response);
                        // Shaped as over HTTP: errors first, then the data in query order.
                        let payload = serde_json::to_value(crate::http::graphql::Body::new(*response, true)).unwrap_or(Value::Null);
                        let reply = match (protocol, request_error) {
                            (Protocol::TransportWs, true) => {
                                if let Some(entry) = running.remove(&id) {
                                    entry.task.abort();
                                }
                                json!({"type": "error", "id": id, "payload": payload.get("errors").cloned().unwrap_or(Value::Null)})
                            }
                            (Protocol::TransportWs, false) => json!({"type": "next", "id": id, "payload": payload}),
                            (Protocol::LegacyWs, _) => with_id(json!({"type": "data", "payload": payload}), &id, id_given),
                        };
                        if socket.send(text(reply)).await.is_err() {
                            break Ok(());
                        }
                    }
                    Outgoing::Done { id, generation } => {
                        if running.get(&id).is_some_and(|entry| entry.generation == generation) {
                            if let Some(entry) = running.remove(&id) {
                                let reply = with_id(json!({"type": "complete"}), &id, entry.id_given);
                                if socket.send(text(reply)).await.is_err() {
                                    break Ok(());
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    for (_, entry) in running.drain() {
        entry.task.abort();
    }
    result
}

fn with_id(mut message: Value, id: &str, id_given: bool) -> Value {
    if id_given {
        message["id"] = Value::String(id.to_owned());
    }
    message
}

fn spawn_subscription(
    schema: &GraphqlService,
    request: async_graphql::Request,
    id: String,
    generation: u64,
    sender: mpsc::Sender<Outgoing>,
    counted: crate::metrics::GaugeGuard,
) -> JoinHandle<()> {
    let mut stream = schema.execute_stream(request);
    tokio::spawn(async move {
        // Counted while the task lives: it ends, or is aborted when the client stops it or leaves.
        let _counted = counted;
        let mut first = true;
        while let Some(response) = stream.next().await {
            let outgoing = Outgoing::Response { id: id.clone(), generation, response: Box::new(response), first };
            first = false;
            if sender.send(outgoing).await.is_err() {
                return;
            }
        }
        let _ = sender.send(Outgoing::Done { id, generation }).await;
    })
}
