//! Prometheus metrics: one registry per process (per [`crate::state::AppState`], so that servers started
//! side by side in one test binary never mix their counts), rendered in the text exposition format by the
//! `prometheus` crate at `/metrics`.
//!
//! Every label has a fixed, small set of values (operation types, outcomes, error codes, database roles,
//! pool states, failure kinds): never a token, an email address, an id or an operation name, so the number of
//! series cannot grow with traffic.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::error::code;

/// The kind of a GraphQL HTTP request, as the `type` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestType {
    /// A query.
    Query,
    /// A mutation.
    Mutation,
    /// A subscription sent over HTTP (answered with an error: subscriptions run on `/ws`).
    Subscription,
    /// A batch of operations (a JSON array).
    Batch,
    /// A request whose operation could not be told (unreadable body, unparsable document).
    Invalid,
}

impl RequestType {
    fn index(self) -> usize {
        // Exhaustive, so a new kind of request cannot index past the series (`by_type`).
        match self {
            RequestType::Query => 0,
            RequestType::Mutation => 1,
            RequestType::Subscription => 2,
            RequestType::Batch => 3,
            RequestType::Invalid => 4,
        }
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestType::Query => "query",
            RequestType::Mutation => "mutation",
            RequestType::Subscription => "subscription",
            RequestType::Batch => "batch",
            RequestType::Invalid => "invalid",
        }
    }
}

/// Which database served something: the `database` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Database {
    /// `DATABASE_URL` (or the private server).
    Primary,
    /// `DATABASE_READ_URL`.
    Standby,
}

impl Database {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Database::Primary => "primary",
            Database::Standby => "standby",
        }
    }
}

/// Why a sign-in failed: the `reason` label of `capcom_sign_in_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInFailure {
    /// Unknown identity, wrong password or inactive account (one answer for all three).
    InvalidCredentials,
    /// Refused without checking the password: too many recent failures.
    Throttled,
}

/// What the error-code label may hold: the codes of SPEC §7, and `OTHER` for anything else.
const ERROR_CODES: [&str; 8] = [
    code::UNAUTHENTICATED,
    code::FORBIDDEN,
    code::NOT_FOUND,
    code::BAD_USER_INPUT,
    code::CONFLICT,
    code::NOT_SUPPORTED,
    code::UNAVAILABLE,
    code::INTERNAL,
];

/// The label value for an `extensions.code`: itself when it is one of SPEC §7's, else `OTHER`.
pub fn error_code_label(value: &str) -> &'static str {
    ERROR_CODES.iter().find(|known| **known == value).copied().unwrap_or("OTHER")
}

/// Latency buckets, in seconds.
const DURATION_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Buckets of SQL statements per request.
const STATEMENT_BUCKETS: &[f64] = &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 50.0, 100.0];

/// A pool's numbers at one moment, for the pool gauges.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolUse {
    /// Largest number of connections the pool may hold.
    pub max: usize,
    /// Connections open now.
    pub open: usize,
    /// Open connections idle in the pool.
    pub idle: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
}

/// The series one request type records into, looked up once (a label lookup hashes the values and takes the
/// vector's lock) and made on first use, so that a scrape shows only the types that were seen.
#[derive(Default)]
struct TypeSeries {
    ok: OnceLock<IntCounter>,
    error: OnceLock<IntCounter>,
    duration: OnceLock<prometheus::Histogram>,
    statements: OnceLock<prometheus::Histogram>,
}

/// Every instrument capcom records, in one registry.
pub struct Metrics {
    /// Per [`RequestType::index`].
    by_type: [TypeSeries; 5],
    /// `errors` per entry of [`ERROR_CODES`], then `OTHER`.
    errors_by_code: [OnceLock<IntCounter>; ERROR_CODES.len() + 1],
    /// `routed` per database (primary, standby).
    routed_by: [OnceLock<IntCounter>; 2],
    registry: Registry,
    requests: IntCounterVec,
    request_duration: HistogramVec,
    errors: IntCounterVec,
    statements_per_request: HistogramVec,
    statements: IntCounterVec,
    /// Statement totals already added to `statements`, per database (the pools count in plain atomics).
    statements_seen: Mutex<[u64; 2]>,
    routed: IntCounterVec,
    pool_connections: IntGaugeVec,
    pool_max: IntGaugeVec,
    pool_waiting: IntGaugeVec,
    websockets_open: IntGauge,
    subscriptions_open: IntGauge,
    outbox_pending: IntGauge,
    pending_expiry: IntGauge,
    hibernating: IntGauge,
    lifecycle_events: IntCounterVec,
    mail_sent: IntCounter,
    mail_failures: IntCounterVec,
    sign_in_failures: IntCounterVec,
    password_hashes: IntCounter,
    password_hashing_memory: IntGauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// Registers `collector` and hands it back. Names and labels are constants of this module: registration
/// can fail only on a programming error (a name used twice), which the unit test below catches.
fn register<C: prometheus::core::Collector + Clone + 'static>(registry: &Registry, collector: C) -> C {
    if let Err(error) = registry.register(Box::new(collector.clone())) {
        tracing::error!(%error, "a metric could not be registered");
    }
    collector
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let vec = IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|_| unreachable!("metric names and labels are valid constants"));
    register(registry, vec)
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let vec = IntGaugeVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|_| unreachable!("metric names and labels are valid constants"));
    register(registry, vec)
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let gauge = IntGauge::new(name, help).unwrap_or_else(|_| unreachable!("metric names are valid constants"));
    register(registry, gauge)
}

fn histogram_vec(registry: &Registry, name: &str, help: &str, labels: &[&str], buckets: &[f64]) -> HistogramVec {
    let vec = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets.to_vec()), labels)
        .unwrap_or_else(|_| unreachable!("metric names, labels and buckets are valid constants"));
    register(registry, vec)
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh registry with every instrument at zero.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let r = &registry;
        let mail_sent =
            IntCounter::new("capcom_mail_sent_total", "Messages of the mail outbox accepted by the SMTP server.")
                .unwrap_or_else(|_| unreachable!("metric names are valid constants"));
        let password_hashes = IntCounter::new(
            "capcom_password_hashes_total",
            "Password hashes computed (sign-ups and sign-ins; at most one per request).",
        )
        .unwrap_or_else(|_| unreachable!("metric names are valid constants"));
        let metrics = Metrics {
            by_type: Default::default(),
            errors_by_code: Default::default(),
            routed_by: Default::default(),
            requests: counter_vec(
                r,
                "capcom_graphql_requests_total",
                "GraphQL requests over HTTP, by operation type and outcome (error: the response holds an error).",
                &["type", "outcome"],
            ),
            request_duration: histogram_vec(
                r,
                "capcom_graphql_request_duration_seconds",
                "Time from receiving a GraphQL HTTP request to having its response, in seconds.",
                &["type"],
                DURATION_BUCKETS,
            ),
            errors: counter_vec(
                r,
                "capcom_graphql_errors_total",
                "Errors returned to GraphQL clients, by extensions.code.",
                &["code"],
            ),
            statements_per_request: histogram_vec(
                r,
                "capcom_sql_statements_per_request",
                "SQL statements one GraphQL HTTP request ran, authentication included.",
                &["type"],
                STATEMENT_BUCKETS,
            ),
            statements: counter_vec(
                r,
                "capcom_sql_statements_total",
                "SQL statements run through the connection pools, by database.",
                &["database"],
            ),
            statements_seen: Mutex::new([0, 0]),
            routed: counter_vec(
                r,
                "capcom_graphql_requests_routed_total",
                "GraphQL HTTP requests by the database that served them (standby only with DATABASE_READ_URL).",
                &["database"],
            ),
            pool_connections: gauge_vec(
                r,
                "capcom_db_pool_connections",
                "Open pooled connections, by database and state (idle or in_use).",
                &["database", "state"],
            ),
            pool_max: gauge_vec(r, "capcom_db_pool_max_connections", "Largest size of each pool.", &["database"]),
            pool_waiting: gauge_vec(
                r,
                "capcom_db_pool_waiting",
                "Callers waiting for a pooled connection, by database.",
                &["database"],
            ),
            websockets_open: gauge(r, "capcom_websockets_open", "WebSockets open on this process."),
            password_hashing_memory: gauge(
                r,
                "capcom_password_hashing_memory_bytes",
                "Working memory of password hashes, in use or kept for the next ones (freed a quarter to half a second after the last).",
            ),
            subscriptions_open: gauge(r, "capcom_subscriptions_open", "GraphQL subscriptions running on this process."),
            outbox_pending: gauge(
                r,
                "capcom_mail_outbox_pending",
                "Messages in the mail outbox not sent yet and not given up (read at each scrape).",
            ),
            pending_expiry: gauge(
                r,
                "capcom_deployments_pending_expiry",
                "Live deployments with an expiry (ephemeral deployments not deleted yet; read at each scrape).",
            ),
            hibernating: gauge(
                r,
                "capcom_deployments_hibernating",
                "Live deployments hibernating now (read at each scrape).",
            ),
            lifecycle_events: counter_vec(
                r,
                "capcom_deployment_lifecycle_total",
                "Changes the sweeper of this process made: expired (deleted), hibernated, woke.",
                &["event"],
            ),
            mail_sent: register(r, mail_sent),
            mail_failures: counter_vec(
                r,
                "capcom_mail_failures_total",
                "Failed deliveries of outbox messages: retry (tried again later) or given_up.",
                &["kind"],
            ),
            sign_in_failures: counter_vec(
                r,
                "capcom_sign_in_failures_total",
                "Refused sign-ins, by reason (invalid_credentials or throttled).",
                &["reason"],
            ),
            password_hashes: register(r, password_hashes),
            registry,
        };
        // Known label values exist from the start, so that a scrape shows zeros rather than nothing.
        for code in ERROR_CODES {
            metrics.errors.with_label_values(&[code]);
        }
        for database in [Database::Primary, Database::Standby] {
            metrics.statements.with_label_values(&[database.as_str()]);
            metrics.routed.with_label_values(&[database.as_str()]);
        }
        for reason in [SignInFailure::InvalidCredentials, SignInFailure::Throttled] {
            metrics.sign_in_failures.with_label_values(&[sign_in_label(reason)]);
        }
        for kind in ["retry", "given_up"] {
            metrics.mail_failures.with_label_values(&[kind]);
        }
        for event in ["expired", "hibernated", "woke"] {
            metrics.lifecycle_events.with_label_values(&[event]);
        }
        metrics
    }

    /// Records one GraphQL HTTP request: its type, the `extensions.code` of each error it returned, how long
    /// it took and how many SQL statements it ran, and the database that served it (`None`: none was
    /// needed).
    pub fn record_request(
        &self,
        request_type: RequestType,
        error_codes: &[&'static str],
        seconds: f64,
        statements: u64,
        database: Option<Database>,
    ) {
        let series = &self.by_type[request_type.index()];
        let label = request_type.as_str();
        let (outcome, cell) = if error_codes.is_empty() { ("ok", &series.ok) } else { ("error", &series.error) };
        cell.get_or_init(|| self.requests.with_label_values(&[label, outcome])).inc();
        series.duration.get_or_init(|| self.request_duration.with_label_values(&[label])).observe(seconds);
        // Exact up to 2^53 statements, far beyond one request's.
        #[allow(clippy::cast_precision_loss)]
        series
            .statements
            .get_or_init(|| self.statements_per_request.with_label_values(&[label]))
            .observe(statements as f64);
        for code in error_codes {
            let index = ERROR_CODES.iter().position(|known| known == code).unwrap_or(ERROR_CODES.len());
            self.errors_by_code[index].get_or_init(|| self.errors.with_label_values(&[code])).inc();
        }
        if let Some(database) = database {
            let index = match database {
                Database::Primary => 0,
                Database::Standby => 1,
            };
            self.routed_by[index].get_or_init(|| self.routed.with_label_values(&[database.as_str()])).inc();
        }
    }

    /// Counts a refused sign-in.
    pub fn sign_in_failed(&self, reason: SignInFailure) {
        self.sign_in_failures.with_label_values(&[sign_in_label(reason)]).inc();
    }

    /// The counter of password hashes (`crate::auth::password::PasswordHasher::counting`).
    pub fn password_hashes(&self) -> IntCounter {
        self.password_hashes.clone()
    }

    /// Sets the gauges of ephemeral and hibernating deployments.
    pub fn set_lifecycle(&self, pending_expiry: i64, hibernating: i64) {
        self.pending_expiry.set(pending_expiry);
        self.hibernating.set(hibernating);
    }

    /// Counts what one sweep did: `expired` deletions and the transitions (`true`: hibernated).
    pub fn swept(&self, expired: usize, transitions: &[(uuid::Uuid, bool)]) {
        self.lifecycle_events.with_label_values(&["expired"]).inc_by(u64::try_from(expired).unwrap_or(u64::MAX));
        for (_, hibernated) in transitions {
            self.lifecycle_events.with_label_values(&[if *hibernated { "hibernated" } else { "woke" }]).inc();
        }
    }

    /// Counts a message the SMTP server accepted.
    pub fn mail_sent(&self) {
        self.mail_sent.inc();
    }

    /// Counts a failed delivery: retried later, or given up.
    pub fn mail_failed(&self, given_up: bool) {
        self.mail_failures.with_label_values(&[if given_up { "given_up" } else { "retry" }]).inc();
    }

    /// The gauge of open WebSockets (a [`GaugeGuard`] keeps it counted).
    pub fn websockets(&self) -> &IntGauge {
        &self.websockets_open
    }

    /// The gauge of running subscriptions (a [`GaugeGuard`] keeps it counted).
    pub fn subscriptions(&self) -> &IntGauge {
        &self.subscriptions_open
    }

    /// Sets the outbox gauge.
    pub fn set_outbox_pending(&self, pending: i64) {
        self.outbox_pending.set(pending);
    }

    /// Sets the gauge of the password hashes' working memory, in bytes
    /// (`crate::auth::password::PasswordHasher::memory_held`).
    pub fn set_password_hashing_memory(&self, bytes: usize) {
        self.password_hashing_memory.set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// Sets the pool gauges of `database`, and brings the statement counter up to `statements`, the
    /// pool's running total.
    pub fn observe_pool(&self, database: Database, pool: PoolUse, statements: &AtomicU64) {
        let label = database.as_str();
        let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.pool_max.with_label_values(&[label]).set(as_i64(pool.max));
        self.pool_connections.with_label_values(&[label, "idle"]).set(as_i64(pool.idle));
        self.pool_connections.with_label_values(&[label, "in_use"]).set(as_i64(pool.open.saturating_sub(pool.idle)));
        self.pool_waiting.with_label_values(&[label]).set(as_i64(pool.waiting));
        let total = statements.load(Ordering::Relaxed);
        let index = usize::from(database == Database::Standby);
        if let Ok(mut seen) = self.statements_seen.lock() {
            if total > seen[index] {
                self.statements.with_label_values(&[label]).inc_by(total - seen[index]);
                seen[index] = total;
            }
        }
    }

    /// Everything, in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(%error, "metrics could not be encoded");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

fn sign_in_label(reason: SignInFailure) -> &'static str {
    match reason {
        SignInFailure::InvalidCredentials => "invalid_credentials",
        SignInFailure::Throttled => "throttled",
    }
}

/// Holds a gauge one higher while it lives (an open socket, a running subscription).
#[derive(Debug)]
pub struct GaugeGuard(IntGauge);

impl GaugeGuard {
    /// Raises `gauge` until the guard is dropped.
    pub fn new(gauge: &IntGauge) -> GaugeGuard {
        gauge.inc();
        GaugeGuard(gauge.clone())
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_instrument_registers_and_renders() {
        let metrics = Metrics::new();
        metrics.record_request(RequestType::Query, &[code::FORBIDDEN], 0.002, 3, Some(Database::Standby));
        metrics.mail_sent();
        let text = metrics.render();
        for name in [
            "capcom_graphql_requests_total",
            "capcom_graphql_request_duration_seconds_bucket",
            "capcom_graphql_errors_total",
            "capcom_sql_statements_per_request_bucket",
            "capcom_sql_statements_total",
            "capcom_graphql_requests_routed_total",
            "capcom_websockets_open",
            "capcom_subscriptions_open",
            "capcom_mail_outbox_pending",
            "capcom_mail_sent_total",
            "capcom_mail_failures_total",
            "capcom_sign_in_failures_total",
            "capcom_password_hashes_total",
            "capcom_password_hashing_memory_bytes",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
        assert_eq!(error_code_label("SOMETHING_ELSE"), "OTHER");
        assert_eq!(error_code_label(code::CONFLICT), code::CONFLICT);
    }
}
