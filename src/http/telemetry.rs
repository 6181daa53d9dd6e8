//! One log line and the metrics of every HTTP request.
//!
//! [`Tracked`] wraps every route (in the router's edge middleware): it gives the request a [`RequestReport`] (in the request's extensions),
//! which the GraphQL handlers fill in (operation type and names, principal, error codes, database), counts
//! the SQL statements the request runs, and when the response is ready writes one log line (target
//! `capcom::request`, JSON with `CAPCOM_LOG_FORMAT=json`) and records the request's metrics.
//!
//! The line carries the request id, the client's address (see [`crate::http::client`]), method, path, status, operation type and names, principal (`user:<id>`,
//! `service_account:<id>` or `anonymous`: never a token or an email address), duration, SQL statement
//! count, the database that served it and the error codes. GraphQL and WebSocket requests are logged at
//! INFO; probes (`/healthz`, `/readyz`, `/metrics`) and static files at DEBUG, so that a load balancer's
//! checks do not drown the log.
//!
//! Other lines written while a request is served name it too, with the id [`crate::request_id`]
//! carries with the request's task.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::Request;
use axum::response::Response;
use tower_http::request_id::RequestId;

use crate::auth::Principal;
use crate::http::client::ClientAddress;
use crate::metrics::{Database, Metrics, RequestType};

/// Longest operation-name text kept for the log line (names are client-chosen).
const MAX_OPERATION_TEXT: usize = 200;

#[derive(Debug, Default)]
struct Facts {
    graphql: Option<RequestType>,
    operations: Vec<String>,
    principal: Option<String>,
    codes: Vec<&'static str>,
    database: Option<Database>,
}

/// What the handlers learned about one request, for its log line and metrics.
#[derive(Debug, Default)]
pub struct RequestReport {
    statements: Arc<AtomicU64>,
    facts: Mutex<Facts>,
}

impl RequestReport {
    /// The counter of the request's SQL statements (handed to the request's pool handles).
    pub fn statements(&self) -> Arc<AtomicU64> {
        self.statements.clone()
    }

    fn with(&self, change: impl FnOnce(&mut Facts)) {
        if let Ok(mut facts) = self.facts.lock() {
            change(&mut facts);
        }
    }

    /// Marks the request as a GraphQL request of `request_type`, selecting the named operations.
    pub fn graphql(&self, request_type: RequestType, operations: Vec<String>) {
        self.with(|facts| {
            facts.graphql = Some(request_type);
            facts.operations = operations;
        });
    }

    /// The caller (as resolved from its credentials).
    pub fn principal(&self, principal: &Principal) {
        let text = match principal {
            Principal::User(user) => format!("user:{}", user.user.id),
            Principal::ServiceAccount(account) => format!("service_account:{}", account.account.id),
            Principal::Anonymous => "anonymous".to_owned(),
            Principal::Rejected => "rejected".to_owned(),
        };
        self.with(|facts| facts.principal = Some(text));
    }

    /// The `extensions.code` of every error in the response.
    pub fn errors(&self, codes: Vec<&'static str>) {
        self.with(|facts| facts.codes = codes);
    }

    /// The database that served the request.
    pub fn database(&self, database: Database) {
        self.with(|facts| facts.database = Some(database));
    }
}

fn is_probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics" | "/.well-known/jwks.json") || path.starts_with("/graphiql/")
}

/// One request being tracked: its metrics and log line, taken before and after the inner service by the
/// router's edge middleware (`crate::http::router`).
pub struct Tracked {
    started: Instant,
    report: Arc<RequestReport>,
    request_id: Arc<str>,
    client_address: String,
    method: axum::http::Method,
    path: String,
}

impl Tracked {
    /// Gives `request` its [`RequestReport`] and notes what its log line says of it.
    pub fn start(request: &mut Request) -> Tracked {
        let started = Instant::now();
        let report = Arc::new(RequestReport::default());
        request.extensions_mut().insert(report.clone());
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .and_then(|id| id.header_value().to_str().ok())
            .unwrap_or_default()
            .into();
        let client_address =
            request.extensions().get::<ClientAddress>().map(|address| address.text()).unwrap_or_default();
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        Tracked { started, report, request_id, client_address, method, path }
    }

    /// The request's id (for [`crate::request_id::serving`]).
    pub fn request_id(&self) -> Arc<str> {
        self.request_id.clone()
    }

    /// Records the request's metrics and writes its log line, for `response`.
    pub fn finish(self, metrics: &Metrics, response: &Response) {
        let Tracked { started, report, request_id, client_address, method, path } = self;
        let elapsed = started.elapsed();
        let statements = report.statements.load(Ordering::Relaxed);
        let facts = report.facts.lock().map(|mut facts| std::mem::take(&mut *facts)).unwrap_or_default();
        if let Some(request_type) = facts.graphql {
            metrics.record_request(request_type, &facts.codes, elapsed.as_secs_f64(), statements, facts.database);
        }
        let mut operation = facts.operations.join(",");
        if operation.len() > MAX_OPERATION_TEXT {
            let mut cut = MAX_OPERATION_TEXT;
            while !operation.is_char_boundary(cut) {
                cut -= 1;
            }
            operation.truncate(cut);
        }
        let codes = facts.codes.join(",");
        let operation_type = facts.graphql.map(RequestType::as_str).unwrap_or_default();
        let principal = facts.principal.unwrap_or_default();
        let database = facts.database.map(Database::as_str).unwrap_or_default();
        // Whole microseconds divided once, so that the line says `1.234`, not `1.2340000000000002`.
        let duration_ms = u32::try_from(elapsed.as_micros()).map_or(f64::from(u32::MAX), f64::from) / 1000.0;
        let status = response.status().as_u16();
        macro_rules! line {
            ($level:expr) => {
                tracing::event!(
                    target: "capcom::request",
                    $level,
                    request_id = %request_id,
                    client_address = %client_address,
                    method = %method,
                    path = %path,
                    status,
                    operation_type,
                    operation = %operation,
                    principal = %principal,
                    duration_ms,
                    sql_statements = statements,
                    database,
                    error_code = %codes,
                    "request"
                )
            };
        }
        if is_probe(&path) {
            line!(tracing::Level::DEBUG);
        } else {
            line!(tracing::Level::INFO);
        }
    }
}
