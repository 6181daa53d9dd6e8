//! Typed configuration from flags and environment variables.
//!
//! Every option is both a flag and an environment variable; `capcom --help` lists them all.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `CAPCOM_LISTEN` | `127.0.0.1:8871` | HTTP listen address |
//! | `DATABASE_URL` | unset | use this PostgreSQL server; unset starts a private one |
//! | `CAPCOM_DATA_DIR` | `.capcom` | folder for the private PostgreSQL, generated keys |
//! | `CAPCOM_PG_BIN_DIR` | search | folder holding `initdb` and `postgres` |
//! | `CAPCOM_SKIP_MIGRATIONS` | false | do not apply migrations at start |
//! | `CAPCOM_POOL_SIZE` | 16 | database connections per process |
//! | `CAPCOM_RUNTIMES` | 0 | serving threads each with a runtime of its own (0: one runtime for all cores; docs/operations.md) |
//! | `CAPCOM_STATEMENT_TIMEOUT_MS` | 5000 | per-statement time limit |
//! | `CAPCOM_PUBLIC_SIGNUPS` | false | allow sign-up without an invite |
//! | `CAPCOM_ORG_SELF_SERVICE` | false | let any signed-in person create an organization |
//! | `CAPCOM_JWT_SECRET` | unset | HS256 secret (≥ 32 bytes) |
//! | `CAPCOM_JWT_PRIVATE_KEY_FILE` | unset | Ed25519 or RSA private key (PEM) |
//! | `CAPCOM_JWT_LIFETIME_SECS` | 86400 | user token lifetime |
//! | `CAPCOM_JWT_ISSUER` / `CAPCOM_JWT_AUDIENCE` | `capcom` | `iss` / `aud` claims |
//! | `CAPCOM_LOGIN_MAX_FAILURES` / `CAPCOM_LOGIN_WINDOW_SECS` | 5 / 900 | sign-in throttling per identity |
//! | `CAPCOM_LOGIN_MAX_FAILURES_PER_ADDRESS` | 50 | sign-in throttling per client address (IPv6: per /64) |
//! | `CAPCOM_PASSWORD_HASHING_CONCURRENCY` / `CAPCOM_PASSWORD_HASHING_WAIT_MS` | cores / 5000 | password hashes at once, on as many threads (1 to 256); longest wait for a turn |
//! | `CAPCOM_MAX_DEPTH`, `CAPCOM_MAX_COMPLEXITY`, `CAPCOM_MAX_ALIASES`, `CAPCOM_MAX_BATCH`, `CAPCOM_MAX_BODY_BYTES` | 15, 10000, 20, 10, 1048576 | request limits |
//! | `CAPCOM_MAX_TOKENS`, `CAPCOM_MAX_FRAGMENTS`, `CAPCOM_MAX_DIRECTIVES` | 10000, 100, 100 | document limits (`docs/limits.md`) |
//! | `CAPCOM_REQUEST_TIMEOUT_MS` | 30000 | deadline of one HTTP request (1 to 3600000); plus 3 s, the longest wait for connections at a stop |
//! | `CAPCOM_HEADER_TIMEOUT_MS` | 75000 | longest wait for a request's head, idle keep-alive included (1000 to 3600000) |
//! | `CAPCOM_GRAPHQL_CONCURRENCY` | pool size | GraphQL operations over HTTP executed at once (the rest wait their turn) |
//! | `CAPCOM_WS_INIT_TIMEOUT_MS` | 10000 | time a WebSocket has to send `connection_init` |
//! | `CAPCOM_WS_MAX_SOCKETS`, `CAPCOM_WS_MAX_SOCKETS_PER_PRINCIPAL`, `CAPCOM_WS_MAX_SUBSCRIPTIONS`, `CAPCOM_WS_MAX_SUBSCRIPTIONS_PER_PRINCIPAL` | 1000, 20, 100, 100 | WebSocket bounds |
//! | `CAPCOM_DOCUMENT_CACHE_ENTRIES` | 1000 | documents remembered parsed and checked, by their text |
//! | `CAPCOM_PERSISTED_QUERY_ENTRIES` | 1000 | documents remembered by their SHA-256 for Apollo's persisted queries (0: off) |
//! | `CAPCOM_MAX_INPUT_VALUES` | 10000 | JSON values in one request body or WebSocket message |
//! | `CAPCOM_LIST_CAP` | 1000 | cap on Houston-style plain lists |
//! | `CAPCOM_API_LEVEL` | `2.1.0` | API level reported by `appConfig.version` |
//! | `CAPCOM_BASE_DOMAIN` | `localhost` | base domain reported to clients |
//! | `CAPCOM_ROLES_FILE` | unset | per-role permission overrides (JSON) |
//! | `CAPCOM_INVITE_EXPIRY_DAYS` | 7 | invite lifetime |
//! | `CAPCOM_PUBLIC_URL` | `http://127.0.0.1:8871` | console address used in mails |
//! | `CAPCOM_SECRET_KEY` | generated | key sealing secret variables (base64, 32 bytes) |
//! | `CAPCOM_SA_MAX_DAYS` | unset | require and cap API key expiry |
//! | `CAPCOM_NAMESPACE_PREFIX` | `astronomer` | deployment namespace prefix |
//! | `CAPCOM_MANUAL_RELEASE_NAMES` | false | clients may choose release names |
//! | `CAPCOM_WORKER_MAX_CEILING` | 100 | highest `workerMax` |
//! | `CAPCOM_LOG_FORMAT` | `text` | `text` or `json` |
//! | `CAPCOM_TRUSTED_PROXIES` | empty | proxies (IP addresses or CIDRs, comma-separated) whose forwarding header names the client |
//! | `CAPCOM_TRUSTED_PROXY_HEADER` | `x-forwarded-for` | the header those proxies set: `x-forwarded-for` or `forwarded` (RFC 7239) |
//! | `CAPCOM_CORS_ORIGINS` | empty | browser origins (comma-separated) that may call capcom from another site |
//! | `CAPCOM_CONSOLE` | true | serve the web console at `/`, `/console/` and `/invite` (`false`: not at all) |
//! | `CAPCOM_CONSOLE_DIR` | unset | development: read the console's files from this folder instead of the binary |
//! | `CAPCOM_METRICS_LISTEN` | unset | serve `/metrics` on this address only (unset: on `CAPCOM_LISTEN`) |
//! | `DATABASE_READ_URL` | unset | hot standby for read-only requests |
//! | `CAPCOM_READ_YOUR_WRITES_MS` | 30000 | longest time a writer's reads stay on the primary |
//! | `CAPCOM_SMTP_URL` | unset | SMTP server the mail outbox is sent to |
//! | `CAPCOM_MAIL_FROM` | `capcom <capcom@localhost>` | sender of outgoing mail |
//! | `CAPCOM_SMTP_TIMEOUT_MS` | 30000 | time limit of one SMTP delivery |
//! | `CAPCOM_MAIL_POLL_MS` | 10000 | longest pause between looks at the outbox |
//! | `CAPCOM_MAIL_RETRY_MS` / `CAPCOM_MAIL_RETRY_MAX_MS` | 30000 / 3600000 | first and longest pause before a retry |
//! | `CAPCOM_MAIL_MAX_ATTEMPTS` | 20 | deliveries tried before a message is given up |

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, Parser, ValueEnum};

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Everything capcom can be configured with.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address the HTTP server listens on.
    #[arg(long, env = "CAPCOM_LISTEN", default_value = "127.0.0.1:8871", global = true)]
    pub listen: SocketAddr,

    /// PostgreSQL connection URL. When unset, capcom starts a private PostgreSQL under the data folder.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<String>,

    /// Folder for the private PostgreSQL cluster and generated keys.
    #[arg(long, env = "CAPCOM_DATA_DIR", default_value = ".capcom", global = true)]
    pub data_dir: PathBuf,

    /// Folder holding PostgreSQL's `initdb` and `postgres` (default: PATH, then `/usr/lib/postgresql/<newest>/bin`).
    #[arg(long, env = "CAPCOM_PG_BIN_DIR", global = true)]
    pub pg_bin_dir: Option<PathBuf>,

    /// Do not apply pending migrations at start (`capcom migrate` applies them).
    #[arg(long, env = "CAPCOM_SKIP_MIGRATIONS", global = true)]
    pub skip_migrations: bool,

    /// Maximum database connections held by this process.
    #[arg(long, env = "CAPCOM_POOL_SIZE", default_value_t = 16, global = true)]
    pub pool_size: usize,

    /// Serving threads, each with a single-threaded runtime, its own listening socket on the same address
    /// (SO_REUSEPORT) and its share of the pool (0: one multi-threaded runtime for all cores; at most 256 and
    /// at most CAPCOM_POOL_SIZE).
    #[arg(long, env = "CAPCOM_RUNTIMES", default_value_t = 0, global = true,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=256))]
    pub runtimes: usize,

    /// Time limit for one SQL statement, in milliseconds (set on every pooled connection).
    #[arg(long, env = "CAPCOM_STATEMENT_TIMEOUT_MS", default_value_t = 5000, global = true)]
    pub statement_timeout_ms: u64,

    /// Allow anyone to sign up without an invite (they join the default organization).
    #[arg(long, env = "CAPCOM_PUBLIC_SIGNUPS", global = true)]
    pub public_signups: bool,

    /// With public sign-ups, accept only addresses of a domain some organization has verified (see
    /// docs/sso.md); sign-ups with an invite token are unaffected.
    #[arg(long, env = "CAPCOM_PUBLIC_SIGNUPS_CLAIMED_DOMAINS_ONLY", global = true)]
    pub public_signups_claimed_domains_only: bool,

    /// Let any signed-in person create an organization (otherwise only system admins may).
    #[arg(long, env = "CAPCOM_ORG_SELF_SERVICE", global = true)]
    pub org_self_service: bool,

    /// Sign user tokens with HS256 and this secret (at least 32 bytes).
    #[arg(long, env = "CAPCOM_JWT_SECRET", hide_env_values = true, global = true)]
    pub jwt_secret: Option<String>,

    /// Sign user tokens with this Ed25519 (EdDSA) or RSA (RS256) private key in PEM form.
    #[arg(long, env = "CAPCOM_JWT_PRIVATE_KEY_FILE", global = true)]
    pub jwt_private_key_file: Option<PathBuf>,

    /// Lifetime of user tokens, in seconds.
    #[arg(long, env = "CAPCOM_JWT_LIFETIME_SECS", default_value_t = 86_400, global = true)]
    pub jwt_lifetime_secs: i64,

    /// `iss` claim of user tokens.
    #[arg(long, env = "CAPCOM_JWT_ISSUER", default_value = "capcom", global = true)]
    pub jwt_issuer: String,

    /// `aud` claim of user tokens.
    #[arg(long, env = "CAPCOM_JWT_AUDIENCE", default_value = "capcom", global = true)]
    pub jwt_audience: String,

    /// Failed sign-ins per identity before further attempts are refused for the rest of the window.
    #[arg(long, env = "CAPCOM_LOGIN_MAX_FAILURES", default_value_t = 5, global = true)]
    pub login_max_failures: i32,

    /// Length of the sign-in throttling window, in seconds.
    #[arg(long, env = "CAPCOM_LOGIN_WINDOW_SECS", default_value_t = 900, global = true)]
    pub login_window_secs: i64,

    /// Failed sign-ins from one client address (an IPv6 /64) before further attempts from it are refused for
    /// the rest of the window.
    #[arg(long, env = "CAPCOM_LOGIN_MAX_FAILURES_PER_ADDRESS", default_value_t = 50, global = true)]
    pub login_max_failures_per_address: i32,

    /// Password hashes computed at once, each on a thread of its own started with capcom and using a
    /// 19 MiB working area, kept for the next hash for a quarter of a second (1 to 256); default: the number of cores.
    #[arg(long, env = "CAPCOM_PASSWORD_HASHING_CONCURRENCY", global = true,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new()
              .range(1..=crate::auth::password::MAX_CONCURRENCY as u64))]
    pub password_hashing_concurrency: Option<usize>,

    /// Longest time a sign-in or sign-up waits for its turn to hash a password before it is answered
    /// UNAVAILABLE, in milliseconds.
    #[arg(long, env = "CAPCOM_PASSWORD_HASHING_WAIT_MS", default_value_t = 5000, global = true)]
    pub password_hashing_wait_ms: u64,

    /// Maximum query depth.
    #[arg(long, env = "CAPCOM_MAX_DEPTH", default_value_t = 15, global = true)]
    pub max_depth: usize,

    /// Maximum query complexity.
    #[arg(long, env = "CAPCOM_MAX_COMPLEXITY", default_value_t = 10_000, global = true)]
    pub max_complexity: usize,

    /// Maximum number of aliases of one field within one selection set.
    #[arg(long, env = "CAPCOM_MAX_ALIASES", default_value_t = 20, global = true)]
    pub max_aliases: usize,

    /// Maximum operations in one batched request.
    #[arg(long, env = "CAPCOM_MAX_BATCH", default_value_t = 10, global = true)]
    pub max_batch: usize,

    /// Documents remembered parsed and checked, by their text (docs/limits.md, "Known documents"); 0
    /// remembers none. Also bounded by 32 MiB.
    #[arg(long, env = "CAPCOM_DOCUMENT_CACHE_ENTRIES", default_value_t = 1_000, global = true)]
    pub document_cache_entries: usize,

    /// Documents remembered by their SHA-256 for Apollo's automatic persisted queries (docs/limits.md,
    /// "Persisted queries"); 0 turns persisted queries off (clients are told `PersistedQueryNotSupported`).
    /// Also bounded by 16 MiB.
    #[arg(long, env = "CAPCOM_PERSISTED_QUERY_ENTRIES", default_value_t = 1_000, global = true)]
    pub persisted_query_entries: usize,

    /// Verified user tokens remembered by their SHA-256 (docs/limits.md, "Tokens"); 0 remembers none.
    /// Also bounded by 16 MiB.
    #[arg(long, env = "CAPCOM_TOKEN_CACHE_ENTRIES", default_value_t = 10_000, global = true)]
    pub token_cache_entries: usize,

    /// Principals whose decoded role bindings are remembered, by the version the authentication statement
    /// reads with them (docs/limits.md, "Principals"); 0 remembers none. Also bounded by 64 MiB.
    #[arg(long, env = "CAPCOM_PRINCIPAL_CACHE_ENTRIES", default_value_t = 10_000, global = true)]
    pub principal_cache_entries: usize,

    /// Maximum significant tokens in one GraphQL document.
    #[arg(long, env = "CAPCOM_MAX_TOKENS", default_value_t = 10_000, global = true)]
    pub max_tokens: usize,

    /// Maximum fragment definitions in one GraphQL document.
    #[arg(long, env = "CAPCOM_MAX_FRAGMENTS", default_value_t = 100, global = true)]
    pub max_fragments: usize,

    /// Maximum directives written in one GraphQL document.
    #[arg(long, env = "CAPCOM_MAX_DIRECTIVES", default_value_t = 100, global = true)]
    pub max_directives: usize,

    /// Deadline of one HTTP request, in milliseconds (1 to 3600000): past it the request is abandoned, its SQL
    /// statement cancelled on the server, and the client answered UNAVAILABLE. When stopping, open
    /// connections are waited for this long and three seconds more.
    #[arg(long, env = "CAPCOM_REQUEST_TIMEOUT_MS", default_value_t = 30_000, global = true,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub request_timeout_ms: u64,

    /// Longest wait for a request's head (request line and headers) on an HTTP connection, idle
    /// keep-alive included, in milliseconds (1000 to 3600000); then the connection is closed. The default
    /// outlasts the 60 s idle timeout of common proxies (nginx, AWS load balancers), so that the proxy,
    /// not capcom, closes an idle upstream connection.
    #[arg(long, env = "CAPCOM_HEADER_TIMEOUT_MS", default_value_t = 75_000, global = true,
          value_parser = clap::value_parser!(u64).range(1_000..=3_600_000))]
    pub header_timeout_ms: u64,

    /// GraphQL operations over HTTP executed at once (1 to 100000); the others wait for a turn, first come
    /// first served, within their deadline. Bounds the memory large replies hold while they are built.
    /// Default: the database pool's size (`CAPCOM_POOL_SIZE`), so that no request waits for a turn that
    /// would not have waited for a connection anyway. With `CAPCOM_RUNTIMES`, split between the runtimes
    /// as the pool is (one turn each at least).
    #[arg(long, env = "CAPCOM_GRAPHQL_CONCURRENCY", global = true, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub graphql_concurrency: Option<u32>,

    /// Time a WebSocket has after opening to send `connection_init`, in milliseconds (then it is closed
    /// with 4408).
    #[arg(long, env = "CAPCOM_WS_INIT_TIMEOUT_MS", default_value_t = 10_000, global = true)]
    pub ws_init_timeout_ms: u64,

    /// Maximum open WebSockets in this process (further upgrades are answered 503).
    #[arg(long, env = "CAPCOM_WS_MAX_SOCKETS", default_value_t = 1000, global = true)]
    pub ws_max_sockets: usize,

    /// Maximum open WebSockets of one principal (further ones are closed with 1013, "try again later").
    #[arg(long, env = "CAPCOM_WS_MAX_SOCKETS_PER_PRINCIPAL", default_value_t = 20, global = true)]
    pub ws_max_sockets_per_principal: usize,

    /// Maximum subscriptions running at once on one WebSocket.
    #[arg(long, env = "CAPCOM_WS_MAX_SUBSCRIPTIONS", default_value_t = 100, global = true)]
    pub ws_max_subscriptions: usize,

    /// Maximum subscriptions one principal runs at once, over all its WebSockets in this process (each
    /// event is delivered once per subscription, so this, not sockets × subscriptions per socket, bounds
    /// the work one account's subscriptions cost per event).
    #[arg(long, env = "CAPCOM_WS_MAX_SUBSCRIPTIONS_PER_PRINCIPAL", default_value_t = 100, global = true)]
    pub ws_max_subscriptions_per_principal: usize,

    /// Maximum JSON values in one request body or WebSocket message (every null, boolean, number, string,
    /// array and object counts one; object keys do not), counted while the JSON is read and before any of
    /// it is kept: variables are otherwise the one input whose size in memory is not bounded by the
    /// document limits (a 1 MiB body of nested empty lists holds about 350 000 values, ~390 bytes each
    /// once read).
    #[arg(long, env = "CAPCOM_MAX_INPUT_VALUES", default_value_t = 10_000, global = true)]
    pub max_input_values: usize,

    /// Maximum request body size in bytes.
    #[arg(long, env = "CAPCOM_MAX_BODY_BYTES", default_value_t = 1_048_576, global = true)]
    pub max_body_bytes: usize,

    /// Maximum objects one operation's reply may hold (every object and list item at every depth), checked
    /// before execution (an estimate from the document), during it and after it (`docs/limits.md`).
    #[arg(long, env = "CAPCOM_MAX_REPLY_OBJECTS", default_value_t = 50_000, global = true)]
    pub max_reply_objects: usize,

    /// Maximum size of one reply, serialized, in bytes (a batch's whole body; each WebSocket message).
    #[arg(long, env = "CAPCOM_MAX_REPLY_BYTES", default_value_t = 32 * 1024 * 1024, global = true)]
    pub max_reply_bytes: usize,

    /// Maximum items returned by a plain (non-paginated) list field.
    #[arg(long, env = "CAPCOM_LIST_CAP", default_value_t = 1000, global = true)]
    pub list_cap: usize,

    /// API level reported by `appConfig.version` (the `astro` CLI picks its documents from it).
    #[arg(long, env = "CAPCOM_API_LEVEL", default_value = "2.1.0", global = true)]
    pub api_level: String,

    /// Base domain reported to clients (`appConfig.baseDomain`).
    #[arg(long, env = "CAPCOM_BASE_DOMAIN", default_value = "localhost", global = true)]
    pub base_domain: String,

    /// JSON file adding or removing permissions per role (`{"WORKSPACE_EDITOR": {"add": [...], "remove": [...]}}`).
    #[arg(long, env = "CAPCOM_ROLES_FILE", global = true)]
    pub roles_file: Option<PathBuf>,

    /// Days until an invite expires.
    #[arg(long, env = "CAPCOM_INVITE_EXPIRY_DAYS", default_value_t = 7, global = true)]
    pub invite_expiry_days: i64,

    /// Public address of this API (`https://capcom.example.com`), used in SCIM resource locations and as
    /// the base of the OpenID Connect redirect URI; when unset, `http://` and the request's `Host`.
    #[arg(long, env = "CAPCOM_API_URL", global = true)]
    pub api_url: Option<String>,

    /// Folder holding OpenID Connect client-secret files; a provider's `clientSecretFile` must be inside it.
    #[arg(long, env = "CAPCOM_OIDC_SECRETS_DIR", global = true)]
    pub oidc_secrets_dir: Option<PathBuf>,

    /// Accept `http://` OpenID Connect issuers (providers on loopback in tests and labs); https only
    /// otherwise.
    #[arg(long, env = "CAPCOM_OIDC_ALLOW_HTTP", global = true)]
    pub oidc_allow_http: bool,

    /// Address of the web console, used in invite mails.
    #[arg(long, env = "CAPCOM_PUBLIC_URL", default_value = "http://127.0.0.1:8871", global = true)]
    pub public_url: String,

    /// Key sealing secret values at rest (base64 of 32 bytes); generated into the data folder when unset.
    #[arg(long, env = "CAPCOM_SECRET_KEY", hide_env_values = true, global = true)]
    pub secret_key: Option<String>,

    /// When set, every API key must expire, within this many days (at most 3650).
    #[arg(long, env = "CAPCOM_SA_MAX_DAYS", global = true)]
    pub sa_max_days: Option<i64>,

    /// Prefix of deployment namespaces (`<prefix>-<releaseName>`).
    #[arg(long, env = "CAPCOM_NAMESPACE_PREFIX", default_value = "astronomer", global = true)]
    pub namespace_prefix: String,

    /// Let clients choose release names (validated as DNS labels) instead of generating them.
    #[arg(long, env = "CAPCOM_MANUAL_RELEASE_NAMES", global = true)]
    pub manual_release_names: bool,

    /// Highest `workerMax` a deployment may ask for.
    #[arg(long, env = "CAPCOM_WORKER_MAX_CEILING", default_value_t = 100, global = true)]
    pub worker_max_ceiling: i32,

    /// Log format.
    #[arg(long, env = "CAPCOM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// Browser origins allowed to call capcom from another site, comma-separated and exact
    /// (`https://console.example.com,http://localhost:3000`): they get CORS headers and may open the
    /// WebSocket. Empty: same-origin pages only. `*` is refused.
    #[arg(long, env = "CAPCOM_CORS_ORIGINS", default_value = "", hide_default_value = true, global = true)]
    pub cors_origins: OriginList,

    /// Proxies in front of capcom, as IP addresses or CIDRs, comma-separated (`10.0.0.0/8,192.0.2.7`): when
    /// the socket's peer is one of them, the client's address is read from the header they set
    /// (`CAPCOM_TRUSTED_PROXY_HEADER`), walking its hops from the right past every trusted one. Empty: the
    /// socket's peer is the client (docs/operations.md, "Running behind a proxy").
    #[arg(long, env = "CAPCOM_TRUSTED_PROXIES", default_value = "", hide_default_value = true, global = true)]
    pub trusted_proxies: TrustedProxies,

    /// The header the trusted proxies record the client's address in: `x-forwarded-for` or `forwarded`
    /// (RFC 7239's `for=`). The other one is ignored, so that a client cannot pass a forged one through a
    /// proxy that only maintains the first.
    #[arg(long, env = "CAPCOM_TRUSTED_PROXY_HEADER", value_enum, default_value_t = ProxyHeader::XForwardedFor, global = true)]
    pub trusted_proxy_header: ProxyHeader,

    /// Serve the web console (`console/`, built into the binary) at `/`, `/console/` and `/invite` (the
    /// address invite mails link to). `false` serves no console (GraphiQL stays at `/v1`).
    /// A bare `--console` still means on (as when it was a switch); `--console=false` turns it off.
    #[arg(long, env = "CAPCOM_CONSOLE", global = true, default_value_t = true, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub console: bool,

    /// Development: read the console's files from this folder (a checkout's `console/`) on every request
    /// instead of the copy built into the binary, so that edits show on reload without a rebuild.
    #[arg(long, env = "CAPCOM_CONSOLE_DIR", global = true)]
    pub console_dir: Option<PathBuf>,

    /// Serve the Prometheus metrics on this address (path `/metrics`) instead of on the API's address.
    #[arg(long, env = "CAPCOM_METRICS_LISTEN", global = true)]
    pub metrics_listen: Option<SocketAddr>,

    /// PostgreSQL hot standby (streaming replica) of DATABASE_URL: read-only requests are served from it,
    /// except a caller's reads right after its own writes (docs/operations.md).
    #[arg(long, env = "DATABASE_READ_URL", hide_env_values = true, global = true)]
    pub database_read_url: Option<String>,

    /// After a caller's write, its reads go to the primary until the standby has replayed the write, and
    /// for at most this many milliseconds.
    #[arg(long, env = "CAPCOM_READ_YOUR_WRITES_MS", default_value_t = 30_000, global = true)]
    pub read_your_writes_ms: u64,

    /// SMTP server the mail outbox is delivered to: `smtps://user:pass@host:465` (TLS),
    /// `smtp://user:pass@host:587` (STARTTLS, required), `smtp://host:25?tls=none` (plain text, for a
    /// relay on the same host). Unset: messages stay in the outbox (`mailOutbox`).
    #[arg(long, env = "CAPCOM_SMTP_URL", hide_env_values = true, global = true)]
    pub smtp_url: Option<String>,

    /// Sender (`From`) of outgoing mail.
    #[arg(long, env = "CAPCOM_MAIL_FROM", default_value = "capcom <capcom@localhost>", global = true)]
    pub mail_from: String,

    /// Time limit of one SMTP delivery (connect, send, quit), in milliseconds.
    #[arg(long, env = "CAPCOM_SMTP_TIMEOUT_MS", default_value_t = 30_000, global = true)]
    pub smtp_timeout_ms: u64,

    /// Pause between two sweeps for expired deployments and due hibernation transitions, in milliseconds
    /// (docs/operations.md); 0 runs no sweeper in this process (another replica must).
    #[arg(long, env = "CAPCOM_SWEEP_INTERVAL_MS", default_value_t = 30_000, global = true)]
    pub sweep_interval_ms: u64,

    /// Longest pause between two looks at the outbox, in milliseconds (new messages wake the mailer at once).
    #[arg(long, env = "CAPCOM_MAIL_POLL_MS", default_value_t = 10_000, global = true)]
    pub mail_poll_ms: u64,

    /// Pause before the first retry of a failed delivery, in milliseconds; it doubles with each failure.
    #[arg(long, env = "CAPCOM_MAIL_RETRY_MS", default_value_t = 30_000, global = true)]
    pub mail_retry_ms: u64,

    /// Longest pause between two deliveries of one message, in milliseconds.
    #[arg(long, env = "CAPCOM_MAIL_RETRY_MAX_MS", default_value_t = 3_600_000, global = true)]
    pub mail_retry_max_ms: u64,

    /// Deliveries tried before a message is given up (a permanent refusal gives up at once).
    #[arg(long, env = "CAPCOM_MAIL_MAX_ATTEMPTS", default_value_t = 20, global = true)]
    pub mail_max_attempts: i32,
}

/// A web origin (`scheme://host[:port]`) as a browser sends it in the `Origin` header: `http` or `https`,
/// host in lower case, no default port, no path. Parsed from `CAPCOM_CORS_ORIGINS`; a trailing `/` and
/// an explicit default port are accepted and dropped, so that the written form matches what browsers send.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    scheme: &'static str,
    host: String,
    port: Option<u16>,
}

/// Origins written comma-separated (`CAPCOM_CORS_ORIGINS`); blanks between commas are ignored, so an empty
/// text is an empty list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginList(pub Vec<Origin>);

impl FromStr for OriginList {
    type Err = OriginError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.split(',').filter(|item| !item.trim().is_empty()).map(str::parse).collect::<Result<_, _>>().map(OriginList)
    }
}

/// Why a configured origin is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a web origin ({reason}); write scheme://host[:port], e.g. https://console.example.com")]
pub struct OriginError {
    value: String,
    reason: &'static str,
}

impl Origin {
    /// The scheme, `http` or `https`.
    pub fn scheme(&self) -> &str {
        self.scheme
    }

    /// The host, lower case (an IPv6 address keeps its brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port when it is not the scheme's default.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    fn default_port(scheme: &str) -> u16 {
        if scheme == "https" { 443 } else { 80 }
    }

    /// `host[:port]` as the `Host` header of a request to this origin carries it.
    pub fn authority(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }
}

impl FromStr for Origin {
    type Err = OriginError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |reason| OriginError { value: text.to_owned(), reason };
        let trimmed = text.trim();
        if trimmed == "*" {
            return Err(error("`*` would let every site in; list the origins"));
        }
        let (scheme, rest) = trimmed.split_once("://").ok_or_else(|| error("no scheme"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => "http",
            "https" => "https",
            _ => return Err(error("the scheme must be http or https")),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() {
            return Err(error("no host"));
        }
        if authority.contains(['/', '?', '#']) {
            return Err(error("an origin has no path, query or fragment"));
        }
        if authority.contains('@') {
            return Err(error("an origin has no user name or password"));
        }
        // Split off the port: after the closing bracket of an IPv6 address, else after the last colon.
        let (host, port) = match authority.rfind(':') {
            Some(colon) if !authority[colon..].contains(']') => (&authority[..colon], Some(&authority[colon + 1..])),
            _ => (authority, None),
        };
        let host = host.to_ascii_lowercase();
        let valid_host = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            inner.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            !host.is_empty()
                && host.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
        };
        if !valid_host {
            return Err(error("the host is not a DNS name or IP address"));
        }
        let port = match port {
            None => None,
            Some(digits) => {
                let number = Some(digits)
                    .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|digits| digits.parse::<u16>().ok())
                    .filter(|number| *number > 0)
                    .ok_or_else(|| error("the port must be a number from 1 to 65535"))?;
                (number != Self::default_port(scheme)).then_some(number)
            }
        };
        Ok(Origin { scheme, host, port })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.authority())
    }
}

/// The header trusted proxies record the client's address in (`CAPCOM_TRUSTED_PROXY_HEADER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProxyHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2`.
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

/// The networks of trusted proxies (`CAPCOM_TRUSTED_PROXIES`), written comma-separated as CIDRs
/// (`10.0.0.0/8`, `fd00::/8`) or single addresses (`192.0.2.7`, meaning `/32`, or `/128` for IPv6).
/// Blanks between commas are ignored, so an empty text trusts no one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<ipnet::IpNet>);

impl TrustedProxies {
    /// Whether `address` is in one of the networks (an IPv4-mapped IPv6 address as its IPv4 address).
    pub fn contains(&self, address: std::net::IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|network| network.contains(&address))
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Why `CAPCOM_TRUSTED_PROXIES` cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "CAPCOM_TRUSTED_PROXIES: `{0}` is not an IP address or CIDR; write addresses or networks comma-separated, \
     e.g. 10.0.0.0/8,192.0.2.7"
)]
pub struct TrustedProxiesError(String);

impl FromStr for TrustedProxies {
    type Err = TrustedProxiesError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                let network = match item.parse::<ipnet::IpNet>() {
                    Ok(network) => network,
                    Err(_) => item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from).map_err(|_| item)?,
                };
                // `10.1.2.3/8` most likely means `10.0.0.0/8`; it is read as the network, not refused, but
                // the host bits are dropped so that what is trusted is what the mask says.
                Ok(network.trunc())
            })
            .collect::<Result<_, &str>>()
            .map(TrustedProxies)
            .map_err(|item| TrustedProxiesError(item.to_owned()))
    }
}

#[derive(Parser)]
struct ConfigOnly {
    #[command(flatten)]
    config: Config,
}

impl Config {
    /// Parses a configuration from command-line style arguments (the first is the program name);
    /// environment variables fill what the arguments leave out.
    pub fn try_from_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        ConfigOnly::try_parse_from(args).map(|parsed| parsed.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(text: &str) -> Result<String, OriginError> {
        text.parse::<Origin>().map(|origin| origin.to_string())
    }

    #[test]
    fn the_console_is_on_unless_turned_off() {
        let console = |args: &[&str]| Config::try_from_args(args.iter().copied()).map(|config| config.console);
        assert!(console(&["capcom"]).unwrap());
        // A bare `--console` is still the old switch and takes no following word as its value.
        assert!(console(&["capcom", "--console", "--public-signups"]).unwrap());
        assert!(!console(&["capcom", "--console=false"]).unwrap());
        assert!(!console(&["capcom", "--console=no"]).unwrap());
        assert!(console(&["capcom", "--console", "false"]).is_err(), "a value needs `=`");
    }

    #[test]
    fn origins_are_written_as_browsers_send_them() {
        assert_eq!(origin("https://console.example.com").unwrap(), "https://console.example.com");
        assert_eq!(origin(" HTTPS://Console.Example.COM/ ").unwrap(), "https://console.example.com");
        assert_eq!(origin("https://console.example.com:443").unwrap(), "https://console.example.com");
        assert_eq!(origin("http://localhost:80").unwrap(), "http://localhost");
        assert_eq!(origin("http://localhost:3000").unwrap(), "http://localhost:3000");
        assert_eq!(origin("https://example.com:80").unwrap(), "https://example.com:80");
        assert_eq!(origin("http://127.0.0.1:8080").unwrap(), "http://127.0.0.1:8080");
        assert_eq!(origin("http://[::1]:8080").unwrap(), "http://[::1]:8080");
        assert_eq!(origin("http://[::1]").unwrap(), "http://[::1]");
    }

    #[test]
    fn anything_but_an_exact_origin_is_refused() {
        for bad in [
            "*",
            "null",
            "",
            "console.example.com",
            "ftp://example.com",
            "https://",
            "https://example.com/console",
            "https://example.com/?x",
            "https://user@example.com",
            "https://example.com:0",
            "https://example.com:99999",
            "https://exa mple.com",
            "https://*.example.com",
            "http://[::1",
            "http://localhost:+80",
            "http://localhost:",
        ] {
            assert!(origin(bad).is_err(), "{bad:?} is refused");
        }
    }

    #[test]
    fn the_list_comes_from_the_environment_comma_separated() {
        let config =
            Config::try_from_args(["capcom", "--cors-origins", "https://console.example.com, http://localhost:3000"])
                .unwrap();
        let origins: Vec<String> = config.cors_origins.0.iter().map(Origin::to_string).collect();
        assert_eq!(origins, ["https://console.example.com", "http://localhost:3000"]);
        assert!(Config::try_from_args(["capcom", "--cors-origins", "*"]).is_err());
        assert!(Config::try_from_args(["capcom", "--cors-origins", "https://a.test,https://b.test/x"]).is_err());
        assert!(Config::try_from_args(["capcom"]).unwrap().cors_origins.0.is_empty());
        let blank = Config::try_from_args(["capcom", "--cors-origins", " , https://a.test,"]).unwrap();
        assert_eq!(blank.cors_origins.0.len(), 1);
        assert!(Config::try_from_args(["capcom", "--cors-origins", ""]).unwrap().cors_origins.0.is_empty());
    }

    #[test]
    fn trusted_proxies_are_addresses_and_networks() {
        let proxies: TrustedProxies = " 10.0.0.0/8, 192.0.2.7 ,fd00::/8,::1,".parse().unwrap();
        let written: Vec<String> = proxies.0.iter().map(ToString::to_string).collect();
        assert_eq!(written, ["10.0.0.0/8", "192.0.2.7/32", "fd00::/8", "::1/128"]);
        assert!(proxies.contains("10.200.3.4".parse().unwrap()));
        assert!(proxies.contains("192.0.2.7".parse().unwrap()));
        assert!(!proxies.contains("192.0.2.8".parse().unwrap()));
        assert!(proxies.contains("::ffff:10.1.1.1".parse().unwrap()), "an IPv4-mapped peer is its IPv4 address");
        assert!(proxies.contains("fd12::1".parse().unwrap()));
        assert!(!proxies.contains("::2".parse().unwrap()));
        let sloppy: TrustedProxies = "10.1.2.3/8".parse().unwrap();
        assert_eq!(sloppy.0[0].to_string(), "10.0.0.0/8");
        assert!("".parse::<TrustedProxies>().unwrap().is_empty());
        assert!(Config::try_from_args(["capcom"]).unwrap().trusted_proxies.is_empty(), "trust no one by default");
    }

    #[test]
    fn a_bad_trusted_proxy_is_refused_naming_the_variable() {
        for bad in ["10.0.0.0/33", "proxy.internal", "10.0.0", "*", "10.0.0.0/8;192.0.2.1", "::1/129"] {
            let error = Config::try_from_args(["capcom", "--trusted-proxies", bad]).unwrap_err().to_string();
            assert!(error.contains("CAPCOM_TRUSTED_PROXIES"), "{bad}: {error}");
        }
        let error = "10.0.0.0/8, nope".parse::<TrustedProxies>().unwrap_err().to_string();
        assert!(error.contains("`nope`"), "{error}");
    }
}
